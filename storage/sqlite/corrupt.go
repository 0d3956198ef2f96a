package sqlite

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"reflect"

	modsqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/authd/authd/storage"
)

// Errors that mean a damaged file, whichever statement meets them, are
// marked as storage.ErrCorrupt at the driver: every connection of a DB is
// wrapped so that every error it returns (opening, preparing, executing,
// reading a row, committing) goes through corruptErr. The wrappers forward
// every optional interface of modernc.org/sqlite's connections, so
// database/sql uses the driver exactly as it would unwrapped.

// isCorrupt reports whether err is SQLite's SQLITE_CORRUPT (any extended
// code) or SQLITE_NOTADB.
func isCorrupt(err error) bool {
	var se *modsqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB:
		return true
	}
	return false
}

// corruptErr wraps err in storage.ErrCorrupt when it means a damaged file,
// keeping the driver's error in the chain.
func corruptErr(err error) error {
	if err == nil || errors.Is(err, storage.ErrCorrupt) || !isCorrupt(err) {
		return err
	}
	return fmt.Errorf("%w: %w", storage.ErrCorrupt, err)
}

// connector opens modernc.org/sqlite connections wrapped in conn.
type connector struct{ base driver.Connector }

func newConnector(dsn string) (driver.Connector, error) {
	base, err := modsqlite.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	return connector{base}, nil
}

func (c connector) Connect(ctx context.Context) (driver.Conn, error) {
	dc, err := c.base.Connect(ctx)
	if err != nil {
		return nil, corruptErr(err)
	}
	full, ok := dc.(driverConn)
	if !ok {
		// modernc.org/sqlite documents these interfaces on every
		// connection; a wrapper hiding one would change how database/sql
		// drives it, so a version without one goes unwrapped.
		return dc, nil
	}
	return &conn{full}, nil
}

func (c connector) Driver() driver.Driver { return c.base.Driver() }

// driverConn is what every modernc.org/sqlite connection implements.
type driverConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

// conn wraps one connection.
type conn struct{ c driverConn }

// Unwrap returns the driver's connection, for modernc.org/sqlite's helpers
// that take one.
func (c *conn) Unwrap() driver.Conn { return c.c }

func (c *conn) Prepare(query string) (driver.Stmt, error) {
	s, err := c.c.Prepare(query)
	if err != nil {
		return nil, corruptErr(err)
	}
	return wrapStmt(s), nil
}

func (c *conn) Close() error { return corruptErr(c.c.Close()) }

func (c *conn) Begin() (driver.Tx, error) {
	tx, err := c.c.Begin()
	if err != nil {
		return nil, corruptErr(err)
	}
	return txn{tx}, nil
}

func (c *conn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	tx, err := c.c.BeginTx(ctx, opts)
	if err != nil {
		return nil, corruptErr(err)
	}
	return txn{tx}, nil
}

func (c *conn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	s, err := c.c.PrepareContext(ctx, query)
	if err != nil {
		return nil, corruptErr(err)
	}
	return wrapStmt(s), nil
}

func (c *conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	r, err := c.c.ExecContext(ctx, query, args)
	return r, corruptErr(err) // driver.ErrSkip is not corruption: it passes as is
}

func (c *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	r, err := c.c.QueryContext(ctx, query, args)
	if err != nil {
		return nil, corruptErr(err)
	}
	return wrapRows(r), nil
}

func (c *conn) Ping(ctx context.Context) error { return corruptErr(c.c.Ping(ctx)) }

func (c *conn) ResetSession(ctx context.Context) error { return c.c.ResetSession(ctx) }

func (c *conn) IsValid() bool { return c.c.IsValid() }

// txn wraps a transaction.
type txn struct{ tx driver.Tx }

func (t txn) Commit() error   { return corruptErr(t.tx.Commit()) }
func (t txn) Rollback() error { return corruptErr(t.tx.Rollback()) }

// driverStmt is what every modernc.org/sqlite statement implements.
type driverStmt interface {
	driver.Stmt
	driver.StmtExecContext
	driver.StmtQueryContext
}

// stmt wraps a prepared statement.
type stmt struct{ s driverStmt }

func wrapStmt(s driver.Stmt) driver.Stmt {
	ds, ok := s.(driverStmt)
	if !ok {
		return s // as for connections: never hide an interface
	}
	return stmt{ds}
}

func (s stmt) Close() error  { return corruptErr(s.s.Close()) }
func (s stmt) NumInput() int { return s.s.NumInput() }

func (s stmt) Exec(args []driver.Value) (driver.Result, error) {
	r, err := s.s.Exec(args)
	return r, corruptErr(err)
}

func (s stmt) Query(args []driver.Value) (driver.Rows, error) {
	r, err := s.s.Query(args)
	if err != nil {
		return nil, corruptErr(err)
	}
	return wrapRows(r), nil
}

func (s stmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	r, err := s.s.ExecContext(ctx, args)
	return r, corruptErr(err)
}

func (s stmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	r, err := s.s.QueryContext(ctx, args)
	if err != nil {
		return nil, corruptErr(err)
	}
	return wrapRows(r), nil
}

// rows wraps a result set. The column-type methods are forwarded when the
// driver's rows have them, which modernc.org/sqlite's do.
type rows struct{ r driver.Rows }

func wrapRows(r driver.Rows) driver.Rows { return &rows{r} }

func (r *rows) Columns() []string { return r.r.Columns() }
func (r *rows) Close() error      { return corruptErr(r.r.Close()) }

// Next passes io.EOF through as it is: database/sql compares it.
func (r *rows) Next(dest []driver.Value) error { return corruptErr(r.r.Next(dest)) }

func (r *rows) ColumnTypeDatabaseTypeName(i int) string {
	if t, ok := r.r.(driver.RowsColumnTypeDatabaseTypeName); ok {
		return t.ColumnTypeDatabaseTypeName(i)
	}
	return ""
}

func (r *rows) ColumnTypeScanType(i int) reflect.Type {
	if t, ok := r.r.(driver.RowsColumnTypeScanType); ok {
		return t.ColumnTypeScanType(i)
	}
	return reflect.TypeFor[any]()
}

func (r *rows) ColumnTypeNullable(i int) (nullable, ok bool) {
	if t, ok := r.r.(driver.RowsColumnTypeNullable); ok {
		return t.ColumnTypeNullable(i)
	}
	return false, false
}

func (r *rows) ColumnTypeLength(i int) (int64, bool) {
	if t, ok := r.r.(driver.RowsColumnTypeLength); ok {
		return t.ColumnTypeLength(i)
	}
	return 0, false
}

func (r *rows) ColumnTypePrecisionScale(i int) (int64, int64, bool) {
	if t, ok := r.r.(driver.RowsColumnTypePrecisionScale); ok {
		return t.ColumnTypePrecisionScale(i)
	}
	return 0, 0, false
}
