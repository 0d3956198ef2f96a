package postgres

import (
	"context"
	"embed"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/authd/authd/storage"
)

// migrationFS holds the schema migrations, NNNN_name.sql, applied in order of
// NNNN. A migration is never edited once released; a change is a new file.
// Their numbers are this backend's own: they need not match SQLite's.
//
//go:embed migrations/*.sql
var migrationFS embed.FS

// loadMigrations reads the embedded migrations.
func loadMigrations() ([]storage.Migration, error) {
	return storage.LoadMigrations(migrationFS, "migrations/*.sql")
}

// latest is the newest schema version this binary knows.
func (db *DB) latest() int { return db.migrations[len(db.migrations)-1].Version }

// checkVersion fails with storage.ErrSchemaTooNew when v is newer than this
// binary.
func (db *DB) checkVersion(v int) error { return storage.CheckVersion(v, db.latest()) }

// querier is what the pool and a transaction share, so a read can run in
// either.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// SchemaVersion returns the newest migration applied to the database, 0 for
// a new database.
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	v, err := schemaVersion(ctx, db.pool)
	if err != nil {
		return 0, fmt.Errorf("postgres: schema version: %w", err)
	}
	return v, nil
}

// schemaVersion reads the version from the schema_migrations table of the
// connection's current schema (its search_path).
func schemaVersion(ctx context.Context, q querier) (int, error) {
	var exists bool
	if err := q.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists); err != nil || !exists {
		return 0, err
	}
	var v int
	err := q.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&v)
	return v, err
}

// Migrate applies the embedded migrations the database lacks, all in one
// transaction together with their schema_migrations rows, and returns how
// many it applied. Running it again applies nothing. The transaction first
// takes an advisory lock, so that of several processes migrating at once
// (instances starting together) one applies the migrations and the others
// wait for it, then find nothing left to do. It refuses, with
// storage.ErrSchemaTooNew and writing nothing, a database that a newer
// authd migrated.
func (db *DB) Migrate(ctx context.Context) (applied int, err error) {
	err = db.locked(ctx, lockMigr, func(tx pgx.Tx) error {
		applied = 0
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    integer NOT NULL PRIMARY KEY,
			applied_at bigint  NOT NULL
		)`); err != nil {
			return err
		}
		// Read under the lock: another process may have migrated while
		// this one waited for it.
		cur, err := schemaVersion(ctx, tx)
		if err != nil {
			return err
		}
		if err := db.checkVersion(cur); err != nil {
			return err
		}
		for _, m := range db.migrations {
			if m.Version <= cur {
				continue
			}
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("%s: %w", m.Name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`,
				m.Version, time.Now().UnixNano()); err != nil {
				return fmt.Errorf("%s: %w", m.Name, err)
			}
			applied++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("postgres: migrate: %w", err)
	}
	return applied, nil
}
