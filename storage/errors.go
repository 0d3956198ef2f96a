package storage

import "errors"

// ErrCorrupt means the database file is damaged (a malformed page, a file
// that is not a database): retrying will not help, and an operator must
// restore it from a backup. Backends wrap it around the driver's error;
// test with errors.Is.
var ErrCorrupt = errors.New("storage: database file is corrupt")
