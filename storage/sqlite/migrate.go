package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"time"

	"github.com/authd/authd/storage"
)

// migrationFS holds the schema migrations, NNNN_name.sql, applied in order of
// NNNN. A migration is never edited once released; a change is a new file.
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

const createSchemaMigrations = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER NOT NULL PRIMARY KEY,
	applied_at INTEGER NOT NULL
) STRICT`

// SchemaVersion returns the newest migration applied to the database, 0 for
// a new database.
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	v, err := schemaVersion(ctx, db.r)
	if err != nil {
		return 0, fmt.Errorf("sqlite: schema version: %w", err)
	}
	return v, nil
}

func schemaVersion(ctx context.Context, q querier) (int, error) {
	var n int
	err := q.QueryRowContext(ctx,
		`SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&n)
	if err != nil || n == 0 {
		return 0, err
	}
	var v int
	err = q.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&v)
	return v, err
}

// Migrate applies the embedded migrations the database lacks, each in its
// own write transaction together with its schema_migrations row, and
// returns how many it applied. Running it again applies nothing; two
// processes running it at once serialise on the write lock and apply each
// migration once. It refuses, with storage.ErrSchemaTooNew, a database that a
// newer authd migrated.
//
// When it applied a migration to a database created without incremental
// auto-vacuum (by a release before it), it then converts the database with
// a VACUUM, which rewrites the whole file: once, at the upgrade, taking
// about as long as copying the file and holding the write lock meanwhile.
// If that VACUUM fails, the migrations stay applied and the error says so;
// the conversion can be done later, with authd stopped, by
// `sqlite3 FILE 'PRAGMA auto_vacuum = INCREMENTAL; VACUUM;'`. Until then the
// database works as before, only without returning free pages.
func (db *DB) Migrate(ctx context.Context) (applied int, err error) {
	err = db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, createSchemaMigrations)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: migrate: %w", err)
	}
	for _, m := range db.migrations {
		var did bool
		err := db.write(ctx, func(tx *sql.Tx) error {
			// Read under the write lock: another process may have applied
			// this migration since the previous one.
			cur, err := schemaVersion(ctx, tx)
			if err != nil {
				return err
			}
			if err := db.checkVersion(cur); err != nil {
				return err
			}
			if m.Version <= cur {
				return nil
			}
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx,
				`INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`,
				m.Version, time.Now().UnixNano())
			did = err == nil
			return err
		})
		if err != nil {
			return applied, fmt.Errorf("sqlite: migrate: %s: %w", m.Name, err)
		}
		if did {
			applied++
		}
	}
	if applied > 0 {
		if err := db.convertToIncrementalVacuum(ctx); err != nil {
			return applied, fmt.Errorf("sqlite: migrate: %d migration(s) applied, but the one-time conversion to incremental auto-vacuum failed: %w", applied, err)
		}
	}
	return applied, nil
}

// convertToIncrementalVacuum runs VACUUM on a database whose auto_vacuum is
// not yet INCREMENTAL. The write connection asks for INCREMENTAL when it
// opens (see Open), and VACUUM applies what was asked.
func (db *DB) convertToIncrementalVacuum(ctx context.Context) error {
	var mode int
	if err := db.w.QueryRowContext(ctx, `PRAGMA auto_vacuum`).Scan(&mode); err != nil {
		return err
	}
	if mode == autoVacuumIncremental {
		return nil
	}
	if _, err := db.w.ExecContext(ctx, fmt.Sprintf(`PRAGMA auto_vacuum = %d`, autoVacuumIncremental)); err != nil {
		return err
	}
	if _, err := db.w.ExecContext(ctx, `VACUUM`); err != nil {
		return fmt.Errorf("vacuum: %w", err)
	}
	return nil
}
