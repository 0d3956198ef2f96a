package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/authd/authd/config"
	"github.com/authd/authd/storage/sqlite"
)

func cmdBackup(ctx context.Context, e env, args []string) error {
	fs, cfgPath := newFlags(e, "backup", "backup [--config FILE] FILE", `
Copy the database to FILE while servers keep serving. The copy is one
consistent snapshot: every transaction committed before the copy began is
in it, none after, none in part. It is written under a temporary name in
FILE's folder, synced to disk, checked (PRAGMA integrity_check and
foreign_key_check on the copy) and only then renamed to FILE, so a file at
FILE is always a complete backup. An existing FILE is never overwritten.
The copy holds password hashes and signing keys: it is created readable
by its owner only. It does not migrate the database.

To restore: stop the server, copy the backup to the database path, delete
the database's -wal and -shm files if any, and start the server.

backup is for a SQLite database. Back up a PostgreSQL database with the
server's own tools: pg_dump --format=custom for a consistent snapshot,
or continuous archiving for point-in-time recovery.`)
	if done, err := parseOrHelp(e, fs, args); done {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("backup: want exactly one FILE (flags go before it)")
	}
	cfg, err := loadConfig(e, *cfgPath)
	if err != nil {
		return err
	}
	if config.IsPostgresURL(cfg.Database) {
		return errors.New(`backup: backup copies a SQLite database; for PostgreSQL use pg_dump (pg_dump --format=custom --file FILE "$DATABASE_URL"), or "authd db copy --to FILE.db" for a SQLite copy`)
	}
	// Opening a missing database would create an empty one.
	if _, err := os.Stat(cfg.Database); err != nil {
		return fmt.Errorf("backup: database: %w", err)
	}
	db, err := sqlite.Open(ctx, cfg.Database, sqlite.Options{Synchronous: cfg.DatabaseSynchronous})
	if err != nil {
		return err
	}
	defer db.Close()
	rep, err := db.Backup(ctx, fs.Arg(0))
	if err != nil {
		return err
	}
	counts := make([]string, len(rep.Tables))
	for i, t := range rep.Tables {
		counts[i] = fmt.Sprintf("%s=%d", t.Name, t.Rows)
	}
	fmt.Fprintf(e.stdout, "backup %s: %d bytes, schema version %d, rows: %s\n", rep.Path, rep.Size, rep.SchemaVersion, strings.Join(counts, " "))
	return nil
}
