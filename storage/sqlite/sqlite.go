// Package sqlite is the SQLite backend of authd's storage, on the pure-Go
// driver modernc.org/sqlite.
//
// A DB holds two connection pools on one database file in WAL mode:
//
//   - a write pool of exactly one connection whose transactions all start
//     with BEGIN IMMEDIATE, so a transaction takes the write lock before it
//     reads anything. Writers in this process queue for that connection;
//     writers in another process (the CLI, another server) wait on the file
//     lock for up to the busy timeout. Neither sees SQLITE_BUSY: a deferred
//     transaction that reads first and then writes fails with
//     SQLITE_BUSY_SNAPSHOT when another connection committed in between, and
//     the busy handler cannot help it; an immediate one never reaches that
//     state.
//   - a read pool of several query_only connections. WAL readers do not
//     block the writer nor each other, and each read sees the last commit.
//
// Times are stored as INTEGER unix nanoseconds, NULL for the zero time, and
// read back in UTC. The schema is versioned by the embedded migrations in
// migrations/, applied by Migrate.
//
// The database uses incremental auto-vacuum: DeleteExpired returns the pages
// it frees to the file system a few at a time, so the file shrinks back
// after a burst of sign-ins instead of keeping its largest size. A new
// database gets it at creation; one created by an earlier release is
// converted by a one-time VACUUM when Migrate next applies a migration (see
// Migrate).
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	modsqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/internal/sqlcol"
)

var _ storage.Storage = (*DB)(nil)

// Options tunes Open. The zero value is the recommended setting.
type Options struct {
	// Synchronous is PRAGMA synchronous on every connection: "FULL" (the
	// default when empty; a commit survives power loss), "NORMAL" (in WAL
	// mode a commit survives a crash of the process but the last commits may
	// be lost on power loss; about three times the commit rate) or "OFF"
	// (tests only). Anything else is an error.
	Synchronous string
	// BusyTimeout is how long a connection waits for a lock held by another
	// process before it gives up with SQLITE_BUSY. Default 10s.
	BusyTimeout time.Duration
	// ReadConns is the size of the read pool. Default 4.
	ReadConns int
	// ObserveCommit, when set, is called with the duration of every
	// successful COMMIT of a write transaction (the fsync cost), for
	// metrics. It must be cheap and safe for concurrent use.
	ObserveCommit func(time.Duration)
	// MustExist refuses a missing database file (an error wrapping
	// fs.ErrNotExist) instead of creating it and its folder: for every
	// command but those that set a database up.
	MustExist bool
	// QuickCheckTimeout bounds the PRAGMA quick_check that Open runs to
	// refuse a damaged database. A check that takes longer (a very large
	// file on a slow disk) is abandoned and the database opened
	// unchecked. Default 10s; negative skips the check.
	QuickCheckTimeout time.Duration
}

// Defaults of Options.
const (
	defaultBusyTimeout       = 10 * time.Second
	defaultReadConns         = 4
	defaultQuickCheckTimeout = 10 * time.Second
)

// autoVacuumIncremental is PRAGMA auto_vacuum's value for INCREMENTAL.
const autoVacuumIncremental = 2

// DB is an authd database. It implements storage.Storage and is safe for
// concurrent use, by many goroutines and alongside other processes that open
// the same file.
type DB struct {
	w          *sql.DB // one connection, BEGIN IMMEDIATE transactions
	r          *sql.DB // query_only connections
	migrations []storage.Migration
	wStmts     stmtCache
	rStmts     stmtCache

	observeCommit func(time.Duration) // Options.ObserveCommit
	batch         *batcher            // group commit of rotations

	path   string        // absolute path of the database file
	fileID fileID        // of the file at path when Open opened it
	probe  *sqlcol.Probe // ProbeWrite's last result

	closeOnce sync.Once
	closeErr  error
}

// Open opens the database at path, creating the file and its folder if they
// are missing (unless Options.MustExist), checks that the file is not
// damaged (PRAGMA quick_check; an error wrapping storage.ErrCorrupt and
// naming the file) and that the database was not migrated by a newer authd
// (an error wrapping storage.ErrSchemaTooNew). It does not migrate: call
// Migrate before using a new or older database.
func Open(ctx context.Context, path string, opts Options) (*DB, error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		// Two pools cannot share an in-memory database, and a URI would be
		// escaped twice.
		return nil, fmt.Errorf("sqlite: open: %q is not a file path", path)
	}
	syncMode, err := synchronousMode(opts.Synchronous)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	busy := opts.BusyTimeout
	if busy == 0 {
		busy = defaultBusyTimeout
	}
	if busy < time.Millisecond {
		return nil, fmt.Errorf("sqlite: open: busy timeout %v is below 1ms", busy)
	}
	readConns := opts.ReadConns
	if readConns == 0 {
		readConns = defaultReadConns
	}
	if readConns < 1 {
		return nil, fmt.Errorf("sqlite: open: read conns %d is below 1", readConns)
	}
	migrations, err := loadMigrations()
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}

	quickCheck := opts.QuickCheckTimeout
	if quickCheck == 0 {
		quickCheck = defaultQuickCheckTimeout
	}

	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	flags := os.O_RDWR
	if !opts.MustExist {
		if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
			return nil, fmt.Errorf("sqlite: open: %w", err)
		}
		flags |= os.O_CREATE
	}
	// The file holds password hashes and signing keys: create it readable by
	// its owner only. SQLite gives the -wal and -shm files the same mode.
	f, err := os.OpenFile(abs, flags, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	// mode=rw: SQLite itself never creates the file either, should it
	// vanish in between.
	var openMode []string
	if opts.MustExist {
		openMode = []string{"rw"}
	}

	busyMS := strconv.FormatInt(busy.Milliseconds(), 10)
	// busy_timeout comes first (the driver runs it before the other
	// pragmas), so setting journal_mode waits for other processes too.
	w, err := openPool(dsn(abs, url.Values{
		"_pragma": {
			"busy_timeout(" + busyMS + ")",
			// Before the first table exists it takes effect at once; on an
			// older database it waits for the VACUUM of Migrate.
			"auto_vacuum(" + strconv.Itoa(autoVacuumIncremental) + ")",
			"foreign_keys(1)",
			"journal_mode(WAL)",
			"synchronous(" + syncMode + ")",
		},
		"_txlock": {"immediate"},
		"mode":    openMode,
	}))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	var mode string
	if err := w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", abs, err)
	}
	if !strings.EqualFold(mode, "wal") {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: journal mode is %q, not wal (is the folder on a network file system?)", abs, mode)
	}

	// The write pool is open first, so the file is already in WAL mode (a
	// persistent setting) and the readers need not set it.
	r, err := openPool(dsn(abs, url.Values{
		"_pragma": {
			"busy_timeout(" + busyMS + ")",
			"foreign_keys(1)",
			"query_only(1)",
			// A checkpoint on the last close may run on a reader.
			"synchronous(" + syncMode + ")",
		},
		"mode": openMode,
	}))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	r.SetMaxOpenConns(readConns)
	r.SetMaxIdleConns(readConns)
	r.SetConnMaxLifetime(0)
	r.SetConnMaxIdleTime(0)

	db := &DB{w: w, r: r, migrations: migrations, wStmts: stmtCache{db: w}, rStmts: stmtCache{db: r}, observeCommit: opts.ObserveCommit, path: abs}
	db.probe = sqlcol.NewProbe()
	// SQLite has the file open now: this is the file CheckFile compares
	// the path with from now on.
	fi, err := os.Stat(abs)
	if err == nil {
		db.fileID = idOf(fi)
		err = db.quickCheck(ctx, quickCheck)
	}
	var v int
	if err == nil {
		v, err = db.SchemaVersion(ctx)
	}
	if err == nil {
		err = db.checkVersion(v)
	}
	if err != nil {
		db.closeOnce.Do(func() { db.closeErr = errors.Join(r.Close(), w.Close()) })
		return nil, fmt.Errorf("sqlite: open %s: %w", abs, err)
	}
	db.startBatcher()
	return db, nil
}

// openPool opens a pool whose connections mark corruption errors (see
// corruptErr).
func openPool(dsn string) (*sql.DB, error) {
	c, err := newConnector(dsn)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(c), nil
}

// synchronousMode validates Options.Synchronous.
func synchronousMode(s string) (string, error) {
	switch m := strings.ToUpper(s); m {
	case "":
		return "FULL", nil
	case "FULL", "NORMAL", "OFF":
		return m, nil
	default:
		return "", fmt.Errorf("synchronous %q is not FULL, NORMAL or OFF", s)
	}
}

// dsn makes a modernc.org/sqlite data source name for the absolute path.
// As a file: URI the path is percent-escaped, so a '?' or '#' in it cannot be
// mistaken for the start of the parameters.
func dsn(abs string, params url.Values) string {
	p := filepath.ToSlash(abs)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // Windows: C:/x is file:///C:/x
	}
	u := url.URL{Scheme: "file", Path: p, RawQuery: params.Encode()}
	return u.String()
}

// Close closes both pools after in-flight calls finish. The last connection
// to close checkpoints the WAL into the database file. Close is idempotent.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		db.stopBatcher()
		db.closeErr = errors.Join(
			db.rStmts.close(),
			db.wStmts.close(),
			db.r.Close(),
			db.w.Close(), // last: it checkpoints with the writer's settings
		)
		if db.closeErr != nil {
			db.closeErr = fmt.Errorf("sqlite: close: %w", db.closeErr)
		}
	})
	return db.closeErr
}

// Ping checks that both pools reach the database.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.r.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	if err := db.w.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	return nil
}

// write runs fn in a write transaction (BEGIN IMMEDIATE on the one write
// connection) and commits when fn returns nil. fn must use only tx: the
// write pool has no second connection to give it.
func (db *DB) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		if rerr := tx.Rollback(); rerr != nil && !errors.Is(rerr, sql.ErrTxDone) {
			return errors.Join(err, fmt.Errorf("rollback: %w", rerr))
		}
		return err
	}
	if db.observeCommit == nil {
		return tx.Commit()
	}
	start := time.Now()
	if err := tx.Commit(); err != nil {
		return err
	}
	db.observeCommit(time.Since(start))
	return nil
}

// RowCounts returns the number of rows of every table, by name: what tests
// and load runs check to see that the database does not grow with use.
func (db *DB) RowCounts(ctx context.Context) (map[string]int64, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT name FROM sqlite_schema
		WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: row counts: %w", err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return nil, fmt.Errorf("sqlite: row counts: %w", err)
		}
		names = append(names, n)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("sqlite: row counts: %w", err)
	}
	counts := make(map[string]int64, len(names))
	for _, n := range names {
		var c int64
		// The names come from sqlite_schema; quoting keeps any of them whole.
		q := `SELECT count(*) FROM "` + strings.ReplaceAll(n, `"`, `""`) + `"`
		if err := db.r.QueryRowContext(ctx, q).Scan(&c); err != nil {
			return nil, fmt.Errorf("sqlite: row counts: %s: %w", n, err)
		}
		counts[n] = c
	}
	return counts, nil
}

// querier is what *sql.DB and *sql.Tx share, so a read can run in either.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// stmtCache prepares a query once per pool and keeps it until Close. The
// statements are prepared on first use, not in Open, because Open runs
// before Migrate has created the tables.
type stmtCache struct {
	db *sql.DB
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

// get returns the prepared statement for query.
func (c *stmtCache) get(ctx context.Context, query string) (*sql.Stmt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.m[query]; ok {
		return st, nil
	}
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if c.m == nil {
		c.m = make(map[string]*sql.Stmt)
	}
	c.m[query] = st
	return st, nil
}

// close closes every statement.
func (c *stmtCache) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for _, st := range c.m {
		errs = append(errs, st.Close())
	}
	c.m = nil
	return errors.Join(errs...)
}

// mapErr turns a unique-key violation into storage.ErrAlreadyExists, keeping
// the driver's error (which names the column) in the chain.
func mapErr(err error) error {
	var se *modsqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: %w", storage.ErrAlreadyExists, err)
		}
	}
	return err
}

// notFound maps sql.ErrNoRows to storage.ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return storage.ErrNotFound
	}
	return err
}

// requireTime rejects a zero time where the method records it as a marker
// (ended_at, redeemed_at, used_at): stored as NULL it would mark nothing.
func requireTime(name string, t time.Time) error {
	if t.IsZero() {
		return fmt.Errorf("%s is the zero time", name)
	}
	return nil
}
