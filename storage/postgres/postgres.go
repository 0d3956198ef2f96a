// Package postgres is the PostgreSQL backend of authd's storage, on
// github.com/jackc/pgx/v5 and its connection pool.
//
// It keeps the same logical schema as the SQLite backend (the same
// tables, columns and constraints; PostgreSQL's types) and the same
// queries, so both answer every call of storage.Storage alike; the
// conformance suite in storage/storagetest runs against both.
//
// Transactions. SQLite runs one write transaction at a time, so each
// method's reads and writes see no concurrent change. Here writers run
// in parallel, at READ COMMITTED, and every method keeps the same
// guarantees with one of three tools, as its comment says:
//
//   - A conditional UPDATE picks the one winner of a race (a token
//     spent, a code redeemed, a one-time token used): PostgreSQL makes a
//     racer wait for the row, then evaluates the condition again on what
//     the winner committed, and the racer changes nothing.
//   - A row lock (SELECT … FOR NO KEY UPDATE, or the UPDATE itself) on
//     the session or the user orders the writes that must not interleave:
//     a rotation against the end of its session, two one-time tokens of
//     one user.
//   - A transaction-scoped advisory lock queues the writes that read a
//     whole set before writing it: user inserts (the next pk is the
//     highest plus one), UpdateKeys (a read-modify-write of the key set)
//     and Migrate. Each statement after the lock reads what the previous
//     holder committed, from any process on the same database.
//
// SERIALIZABLE would give the same guarantees without the locks, but at
// the cost of false conflicts between unrelated transactions: parallel
// rotations of different sessions failed with serialization failures
// faster than retries could absorb them. A deadlock (SQLSTATE 40P01),
// which locks taken in different orders can still cause, or a
// serialization failure (40001) is retried by the backend itself, from
// the start of the transaction, with a short randomised backoff (at most
// maxAttempts attempts); callers never see them.
//
// Times are bigint unix nanoseconds, NULL for the zero time, and read back
// in UTC, as in SQLite (timestamptz holds only microseconds). The schema is
// versioned by the embedded migrations in migrations/, applied by Migrate.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/internal/sqlcol"
)

var _ storage.Storage = (*DB)(nil)

// Options tunes Open. Zero fields keep pgx's defaults, or what the URL's
// pool_* parameters say.
type Options struct {
	// MaxConns bounds the connections open at once (database_pool.
	// max_open_conns).
	MaxConns int32
	// MaxConnLifetime closes a connection this long after it opened
	// (database_pool.conn_max_lifetime); negative keeps connections for
	// ever. pgx has no bound on idle connections: it closes one that has
	// been idle for 30 minutes, so database_pool.max_idle_conns has no
	// counterpart here.
	MaxConnLifetime time.Duration
	// ObserveCommit, when set, is called with the duration of every
	// successful COMMIT of a write transaction, for metrics. It must be
	// cheap and safe for concurrent use.
	ObserveCommit func(time.Duration)
}

// DB is an authd database on a PostgreSQL server. It implements
// storage.Storage and is safe for concurrent use, by many goroutines and
// by any number of authd processes on the same database.
type DB struct {
	pool          *pgxpool.Pool
	migrations    []storage.Migration
	observeCommit func(time.Duration)
	probe         *sqlcol.Probe
	where         string       // the URL without its password, for errors
	retries       atomic.Int64 // transactions run again after a serialization failure or deadlock

	closeOnce sync.Once
}

// IsURL reports whether s names a PostgreSQL database (a postgres:// or
// postgresql:// URL) rather than a SQLite file.
func IsURL(s string) bool {
	i := strings.Index(s, "://")
	if i < 0 {
		return false
	}
	switch strings.ToLower(s[:i]) {
	case "postgres", "postgresql":
		return true
	}
	return false
}

// Redact returns the URL with its password, if any, replaced by "xxxxx",
// for logs and error messages.
func Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparsable database URL)"
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// Open connects to the database at url (a postgres:// or postgresql://
// URL, or a key=value connection string that libpq would take), checks
// that it answers and that it was not migrated by a newer authd (an error
// wrapping storage.ErrSchemaTooNew). It does not migrate: call Migrate
// before using a new or older database.
func Open(ctx context.Context, rawURL string, opts Options) (*DB, error) {
	where := Redact(rawURL)
	cfg, err := pgxpool.ParseConfig(rawURL)
	if err != nil {
		// pgx's error may quote the URL, password included.
		return nil, fmt.Errorf("postgres: open %s: the URL does not parse", where)
	}
	if opts.MaxConns < 0 {
		return nil, fmt.Errorf("postgres: open %s: max conns %d is negative", where, opts.MaxConns)
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	switch {
	case opts.MaxConnLifetime < 0:
		cfg.MaxConnLifetime = 0 // for ever
	case opts.MaxConnLifetime > 0:
		cfg.MaxConnLifetime = opts.MaxConnLifetime
		cfg.MaxConnLifetimeJitter = opts.MaxConnLifetime / 10
	}
	migrations, err := loadMigrations()
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open %s: %w", where, err)
	}
	db := &DB{pool: pool, migrations: migrations, observeCommit: opts.ObserveCommit, where: where}
	db.probe = sqlcol.NewProbe()
	err = pool.Ping(ctx)
	var v int
	if err == nil {
		v, err = db.SchemaVersion(ctx)
	}
	if err == nil {
		err = db.checkVersion(v)
	}
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: open %s: %w", where, err)
	}
	return db, nil
}

// Close closes the pool after in-flight calls finish. It is idempotent.
func (db *DB) Close() error {
	db.closeOnce.Do(db.pool.Close)
	return nil
}

// Ping checks that the server answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// maxAttempts bounds how often a transaction is tried when PostgreSQL
// fails it with a serialization failure or a deadlock.
const maxAttempts = 20

// retryable reports whether err is PostgreSQL's serialization failure or
// deadlock: the transaction was rolled back and may be run again.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// backoff is the wait before attempt n+1: random, up to 1ms·2ⁿ, at most
// 100ms, so racing transactions do not collide again in step.
func backoff(n int) time.Duration {
	limit := time.Millisecond << min(n, 7)
	return min(time.Duration(rand.Int64N(int64(limit)))+50*time.Microsecond, 100*time.Millisecond)
}

// write runs fn in a READ COMMITTED transaction and commits it when fn
// returns nil, trying again while PostgreSQL fails it with a deadlock or a
// serialization failure. fn may thus run more than once, each time in a
// new transaction: it must not keep state from one run to the next other
// than what it assigns afresh.
func (db *DB) write(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return db.retry(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, 0, fn)
}

// Advisory lock ids (pg_advisory_xact_lock's bigint key space is shared by
// every application on the database; these are "authd" in ASCII followed
// by a number).
const (
	lockUsers int64 = 0x6175746864_000001 // user inserts: the next pk
	lockKeys  int64 = 0x6175746864_000002 // UpdateKeys
	lockMigr  int64 = 0x6175746864_000003 // Migrate
)

// locked runs fn in a READ COMMITTED transaction that first takes the
// advisory lock id: transactions taking the same lock run one after
// another, and each statement of fn reads what the previous holder
// committed.
func (db *DB) locked(ctx context.Context, id int64, fn func(tx pgx.Tx) error) error {
	return db.retry(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, id, fn)
}

// retry runs fn in a transaction with opts (after taking the advisory lock
// lock, if not 0) until it commits, fails with an error other than a
// serialization failure or a deadlock, or has been tried maxAttempts times.
func (db *DB) retry(ctx context.Context, opts pgx.TxOptions, lock int64, fn func(tx pgx.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := db.once(ctx, opts, lock, fn)
		if err == nil || !retryable(err) {
			return err
		}
		if attempt == maxAttempts {
			return fmt.Errorf("gave up after %d attempts: %w", attempt, err)
		}
		db.retries.Add(1)
		t := time.NewTimer(backoff(attempt))
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(ctx.Err(), err)
		case <-t.C:
		}
	}
}

// once is one attempt of retry.
func (db *DB) once(ctx context.Context, opts pgx.TxOptions, lock int64, fn func(tx pgx.Tx) error) (err error) {
	tx, err := db.pool.BeginTx(ctx, opts)
	if err != nil {
		return mapErr(err)
	}
	defer func() {
		if err != nil {
			// The rollback's own failure (a lost connection) changes
			// nothing: the transaction did not commit, and the server
			// rolls it back when the connection closes.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			_ = tx.Rollback(rctx)
			cancel()
		}
	}()
	if lock != 0 {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lock); err != nil {
			return mapErr(err)
		}
	}
	if err := fn(tx); err != nil {
		return err
	}
	start := time.Now()
	if err := tx.Commit(ctx); err != nil {
		return mapErr(err)
	}
	if db.observeCommit != nil {
		db.observeCommit(time.Since(start))
	}
	return nil
}

// mapErr turns a unique-key violation into storage.ErrAlreadyExists and
// data corruption into storage.ErrCorrupt, keeping the driver's error
// (which names the constraint) in the chain.
func mapErr(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "23505":
			return fmt.Errorf("%w: %w", storage.ErrAlreadyExists, err)
		case pe.Code == "XX001" || pe.Code == "XX002":
			return fmt.Errorf("%w: %w", storage.ErrCorrupt, err)
		}
	}
	return err
}

// constraint is the name of the constraint err violated, "" if none.
func constraint(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.ConstraintName
	}
	return ""
}

// notFound maps pgx.ErrNoRows to storage.ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.ErrNotFound
	}
	return err
}

// oneRow fails with storage.ErrNotFound unless tag counts a changed row.
func oneRow(tag pgconn.CommandTag) error {
	if tag.RowsAffected() == 0 {
		return storage.ErrNotFound
	}
	return nil
}

// requireTime rejects a zero time where the method records it as a marker
// (ended_at, spent_at, used_at): stored as NULL it would mark nothing.
func requireTime(name string, t time.Time) error {
	if t.IsZero() {
		return fmt.Errorf("%s is the zero time", name)
	}
	return nil
}

// rowScanner is what pgx.Row and pgx.Rows share.
type rowScanner interface{ Scan(...any) error }

// RowCounts returns the number of rows of every table of the schema, by
// name: what tests and load runs check to see that the database does not
// grow with use.
func (db *DB) RowCounts(ctx context.Context) (map[string]int64, error) {
	rows, err := db.pool.Query(ctx, `SELECT table_name::text FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1`)
	if err != nil {
		return nil, fmt.Errorf("postgres: row counts: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("postgres: row counts: %w", err)
	}
	counts := make(map[string]int64, len(names))
	for _, n := range names {
		var c int64
		if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{n}.Sanitize()).Scan(&c); err != nil {
			return nil, fmt.Errorf("postgres: row counts: %s: %w", n, err)
		}
		counts[n] = c
	}
	return counts, nil
}
