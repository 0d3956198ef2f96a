package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// BackupReport describes a backup that Backup wrote and verified.
type BackupReport struct {
	// Path is the absolute path of the backup file.
	Path string
	// Size is the file's size in bytes.
	Size int64
	// SchemaVersion is the schema version recorded in the copy.
	SchemaVersion int
	// Tables is the row count of every table in the copy, by table name.
	Tables []TableRows
}

// TableRows is one table's row count.
type TableRows struct {
	Name string
	Rows int64
}

// Backup writes a consistent copy of the database to path while other
// connections and processes keep reading and writing it, and verifies the
// copy. It refuses to overwrite an existing file (an error wrapping
// fs.ErrExist) and creates path's folder if it is missing.
//
// The copy is made with VACUUM INTO, which reads the whole database in one
// read transaction. In WAL mode that transaction sees one snapshot: every
// transaction committed before it began is in the copy, none committed
// after is, and none is half in. Writers are not blocked while it runs;
// checkpoints cannot move past its snapshot until it ends, so the WAL grows
// for the length of the copy. SQLite refuses VACUUM inside an explicit
// transaction, so the source's row counts cannot be read in the copy's own
// snapshot; the counts reported are the copy's, which are by construction
// those of that snapshot.
//
// The copy is written under a temporary name in path's folder (with the
// owner-only mode of the database), synced to disk, then checked: opened
// read-only, PRAGMA integrity_check must say ok, PRAGMA foreign_key_check
// must find nothing (a torn copy would break references), and its schema
// version must be one this binary knows. Only then does it get its final
// name, so a file at path is always a complete, verified backup; a failed or
// interrupted backup leaves at most the temporary file, named
// ".NAME.partial-*", which Backup removes when it can.
func (db *DB) Backup(ctx context.Context, path string) (BackupReport, error) {
	rep, err := db.backup(ctx, path)
	if err != nil {
		return BackupReport{}, fmt.Errorf("sqlite: backup: %w", err)
	}
	return rep, nil
}

func (db *DB) backup(ctx context.Context, path string) (rep BackupReport, err error) {
	if path == "" {
		return rep, errors.New("no file name given")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return rep, err
	}
	if _, err := os.Lstat(abs); err == nil {
		return rep, fmt.Errorf("%s: %w; refusing to overwrite it", abs, fs.ErrExist)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return rep, err
	}
	dir := filepath.Dir(abs)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return rep, err
	}

	// VACUUM INTO accepts an existing empty file; creating it here gives it
	// mode 0600 whatever the umask, as the copy holds password hashes and
	// signing keys.
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(abs)+".partial-*")
	if err != nil {
		return rep, err
	}
	tmpPath := tmp.Name()
	if err := tmp.Close(); err != nil {
		os.Remove(tmpPath)
		return rep, err
	}
	defer func() {
		if err != nil {
			os.Remove(tmpPath)
		}
	}()

	if err := db.vacuumInto(ctx, tmpPath); err != nil {
		return rep, fmt.Errorf("copying: %w", err)
	}
	if err := syncFile(tmpPath); err != nil {
		return rep, err
	}
	if rep, err = db.verifyCopy(ctx, tmpPath); err != nil {
		return rep, fmt.Errorf("verifying the copy: %w", err)
	}
	if err := publish(tmpPath, abs); err != nil {
		return rep, err
	}
	if err := syncFile(dir); err != nil {
		return rep, fmt.Errorf("syncing %s: %w", dir, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return rep, err
	}
	rep.Path, rep.Size = abs, fi.Size()
	return rep, nil
}

// vacuumInto runs VACUUM INTO target on a connection of its own: the read
// pool's connections are query_only, under which SQLite refuses VACUUM
// INTO, and the write pool's one connection would hold up this process's
// writers for the length of the copy.
func (db *DB) vacuumInto(ctx context.Context, target string) (err error) {
	var file string
	var busyMS int64
	if err := db.r.QueryRowContext(ctx, "SELECT file FROM pragma_database_list WHERE name = 'main'").Scan(&file); err != nil {
		return err
	}
	if err := db.r.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&busyMS); err != nil {
		return err
	}
	c, err := sql.Open("sqlite", dsn(file, url.Values{"_pragma": {fmt.Sprintf("busy_timeout(%d)", busyMS)}}))
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, c.Close()) }()
	c.SetMaxOpenConns(1)
	_, err = c.ExecContext(ctx, "VACUUM INTO ?", target)
	return err
}

// publish gives the verified copy its final name without overwriting a
// file that appeared there meanwhile: a hard link fails if the name is
// taken, where a rename would replace it. On a file system without hard
// links it checks the name and renames.
func publish(tmpPath, abs string) error {
	err := os.Link(tmpPath, abs)
	if err == nil {
		return os.Remove(tmpPath)
	}
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s: %w; refusing to overwrite it", abs, fs.ErrExist)
	}
	if _, serr := os.Lstat(abs); serr == nil {
		return fmt.Errorf("%s: %w; refusing to overwrite it", abs, fs.ErrExist)
	}
	return os.Rename(tmpPath, abs)
}

// syncFile flushes a file, or a folder's entries, to disk.
func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// verifyCopy checks the copy at path, opened read-only on a connection of
// its own, and returns its schema version and row counts.
func (db *DB) verifyCopy(ctx context.Context, path string) (rep BackupReport, err error) {
	// immutable: nothing else has the file open, so SQLite need not lock it
	// nor create -wal and -shm files next to it.
	c, err := sql.Open("sqlite", dsn(path, url.Values{"mode": {"ro"}, "immutable": {"1"}}))
	if err != nil {
		return rep, err
	}
	defer func() { err = errors.Join(err, c.Close()) }()
	c.SetMaxOpenConns(1)

	var problems []string
	rows, err := c.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		return rep, err
	}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return rep, err
		}
		problems = append(problems, s)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return rep, err
	}
	if len(problems) != 1 || problems[0] != "ok" {
		return rep, fmt.Errorf("integrity_check: %s", strings.Join(problems, "; "))
	}

	var fkRows int
	if err := c.QueryRowContext(ctx, "SELECT count(*) FROM pragma_foreign_key_check").Scan(&fkRows); err != nil {
		return rep, err
	}
	if fkRows != 0 {
		return rep, fmt.Errorf("foreign_key_check: %d row(s) reference missing parents", fkRows)
	}

	if rep.SchemaVersion, err = schemaVersion(ctx, c); err != nil {
		return rep, err
	}
	if err := db.checkVersion(rep.SchemaVersion); err != nil {
		return rep, err
	}

	var names []string
	rows, err = c.QueryContext(ctx, `SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY name`)
	if err != nil {
		return rep, err
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return rep, err
		}
		names = append(names, n)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return rep, err
	}
	for _, n := range names {
		var rowsN int64
		q := `SELECT count(*) FROM "` + strings.ReplaceAll(n, `"`, `""`) + `"`
		if err := c.QueryRowContext(ctx, q).Scan(&rowsN); err != nil {
			return rep, fmt.Errorf("counting %s: %w", n, err)
		}
		rep.Tables = append(rep.Tables, TableRows{Name: n, Rows: rowsN})
	}
	return rep, nil
}
