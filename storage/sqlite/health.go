package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/authd/authd/storage"
)

// ErrFileChanged means the database file was removed or replaced while
// the DB had it open (CheckFile).
var ErrFileChanged = errors.New("database file removed or replaced while open")

// CheckFile reports whether the file at the database's path is still the
// one this DB has open. When it was removed (rm, a clean-up job) or
// replaced (a backup copied over it, mv), SQLite goes on with the file it
// has open: commits succeed, and vanish when authd exits, or are made
// beside a database another process now uses. The error wraps
// ErrFileChanged and names the file; only a restart (on a database put back
// in place) recovers. It costs one stat.
func (db *DB) CheckFile() error {
	fi, err := os.Stat(db.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("sqlite: %s: %w: it is gone from its folder, and what is written goes to a file nobody will open again", db.path, ErrFileChanged)
	case err != nil:
		return fmt.Errorf("sqlite: check %s: %w", db.path, err)
	}
	if id := idOf(fi); db.fileID.ok && id != db.fileID {
		return fmt.Errorf("sqlite: %s: %w: another file now has its name (device %d, inode %d; open was %d, %d)",
			db.path, ErrFileChanged, id.dev, id.ino, db.fileID.dev, db.fileID.ino)
	}
	return nil
}

// ProbeWrite proves that the database still takes writes: it rewrites the
// one row of the health table in a write transaction, so the write lock,
// the WAL and its fsync are all exercised, as any write would. A full
// disk, a file system remounted read-only, a lost write permission or a
// lock held for longer than the busy timeout make it fail. It probes at
// most once a second: a call within a second of the last probe returns
// that probe's result. A probe cut short by ctx returns ctx's error and is
// not remembered.
func (db *DB) ProbeWrite(ctx context.Context) error {
	return db.probe.Run(ctx, func(now time.Time) error {
		err := db.write(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO health (id, probed_at) VALUES (1, ?)
				ON CONFLICT (id) DO UPDATE SET probed_at = excluded.probed_at`, now.UnixNano())
			return err
		})
		if err != nil {
			return fmt.Errorf("sqlite: %s takes no writes: %w", db.path, err)
		}
		return nil
	})
}

// quickCheck runs PRAGMA quick_check, which reads every page and checks
// the structure of every table and index (not that indexes match their
// tables), and fails with storage.ErrCorrupt on any damage. A check that
// outlasts timeout is abandoned without error: the file is not known to
// be damaged, only large. A negative timeout skips the check.
func (db *DB) quickCheck(ctx context.Context, timeout time.Duration) error {
	if timeout < 0 {
		return nil
	}
	qctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var result string
	err := db.r.QueryRowContext(qctx, `PRAGMA quick_check(1)`).Scan(&result)
	switch {
	case err != nil && ctx.Err() == nil && qctx.Err() != nil:
		return nil
	case errors.Is(err, storage.ErrCorrupt):
		return fmt.Errorf("%w (PRAGMA quick_check)", err)
	case err != nil:
		return fmt.Errorf("PRAGMA quick_check: %w", err)
	case result != "ok":
		// "*** in database main ***\nTree 6 page 92: …": one line.
		result = strings.ReplaceAll(strings.TrimPrefix(result, "*** in database main ***\n"), "\n", "; ")
		return fmt.Errorf("%w: PRAGMA quick_check: %s", storage.ErrCorrupt, result)
	}
	return nil
}
