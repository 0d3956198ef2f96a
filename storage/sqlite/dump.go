package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/authd/authd/storage"
)

var (
	_ storage.Dumper = (*DB)(nil)
	_ storage.Loader = (*DB)(nil)
)

// dataTables are the tables of authd's data, each after the tables it
// references. The schema's bookkeeping (schema_migrations), the
// readiness probe's row (health) and the counters of the abuse limits
// (limit_failures, limit_windows: short-lived, not worth carrying over)
// are not data. TestDataTables checks that this list names every other
// table of the schema.
var dataTables = []string{"users", "sessions", "legacy_refresh_tokens", "keys", "revoked_jtis", "one_time_tokens", "auth_codes", "clients"}

// column is a column of a table as PRAGMA table_info describes it.
type column struct{ name, typ string }

// readTables reads the columns of dataTables, in the order of the table
// definitions.
func readTables(ctx context.Context, q querier) (map[string][]column, []storage.Table, error) {
	cols := make(map[string][]column)
	var tables []storage.Table
	for _, t := range dataTables {
		rows, err := q.QueryContext(ctx, `SELECT name, upper(type) FROM pragma_table_info(?) ORDER BY cid`, t)
		if err != nil {
			return nil, nil, err
		}
		tt := storage.Table{Name: t}
		for rows.Next() {
			var c column
			if err := rows.Scan(&c.name, &c.typ); err != nil {
				rows.Close()
				return nil, nil, err
			}
			cols[t] = append(cols[t], c)
			tt.Columns = append(tt.Columns, c.name)
		}
		if err := rows.Err(); err != nil {
			rows.Close()
			return nil, nil, err
		}
		rows.Close()
		if len(tt.Columns) == 0 {
			return nil, nil, fmt.Errorf("table %s is missing: is the database migrated?", t)
		}
		tables = append(tables, tt)
	}
	return cols, tables, nil
}

// ident quotes a table or column name.
func ident(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// identList quotes and joins names.
func identList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = ident(n)
	}
	return strings.Join(q, ", ")
}

// findTable finds a table by name.
func findTable(tables []storage.Table, name string) (storage.Table, error) {
	i := slices.IndexFunc(tables, func(t storage.Table) bool { return t.Name == name })
	if i < 0 {
		return storage.Table{}, fmt.Errorf("no table %q among authd's data", name)
	}
	return tables[i], nil
}

// count counts the rows of one of tables.
func count(ctx context.Context, q querier, tables []storage.Table, table string) (int64, error) {
	t, err := findTable(tables, table)
	if err != nil {
		return 0, err
	}
	var n int64
	if err := q.QueryRowContext(ctx, `SELECT count(*) FROM `+ident(t.Name)).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: count %s: %w", t.Name, err)
	}
	return n, nil
}

// Dump implements storage.Dumper: fn reads one read transaction on a
// reader connection, whose snapshot (WAL mode) no later commit changes.
// Writers go on meanwhile; the WAL cannot be checkpointed past the
// snapshot until fn returns.
func (db *DB) Dump(ctx context.Context, fn func(storage.Snapshot) error) error {
	tx, err := db.r.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: dump: %w", err)
	}
	defer tx.Rollback()
	// The first read starts the snapshot; every later one reads it.
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master`).Scan(&n); err != nil {
		return fmt.Errorf("sqlite: dump: %w", err)
	}
	_, tables, err := readTables(ctx, tx)
	if err != nil {
		return fmt.Errorf("sqlite: dump: %w", err)
	}
	return fn(&snapshot{tx: tx, tables: tables})
}

// snapshot is the storage.Snapshot of Dump.
type snapshot struct {
	tx     *sql.Tx
	tables []storage.Table
}

func (s *snapshot) Tables() []storage.Table { return s.tables }

func (s *snapshot) Count(ctx context.Context, table string) (int64, error) {
	return count(ctx, s.tx, s.tables, table)
}

func (s *snapshot) Rows(ctx context.Context, table string, fn func(row []any) error) error {
	t, err := findTable(s.tables, table)
	if err != nil {
		return err
	}
	rows, err := s.tx.QueryContext(ctx, `SELECT `+identList(t.Columns)+` FROM `+ident(t.Name))
	if err != nil {
		return fmt.Errorf("sqlite: read %s: %w", t.Name, err)
	}
	defer rows.Close()
	for rows.Next() {
		vals := make([]any, len(t.Columns))
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return fmt.Errorf("sqlite: read %s: %w", t.Name, err)
		}
		for i, v := range vals {
			// database/sql may hand out a driver's buffer: copy it.
			if b, ok := v.([]byte); ok {
				vals[i] = append([]byte{}, b...)
			}
		}
		if err := fn(vals); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: read %s: %w", t.Name, err)
	}
	return nil
}

// Load implements storage.Loader, in one write transaction: it holds the
// database's write lock from the check that the tables are empty to the
// commit.
func (db *DB) Load(ctx context.Context, fn func(storage.Sink) error) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		cols, tables, err := readTables(ctx, tx)
		if err != nil {
			return err
		}
		for _, t := range tables {
			var any bool
			if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM `+ident(t.Name)+`)`).Scan(&any); err != nil {
				return err
			}
			if any {
				return fmt.Errorf("%w: table %s has rows", storage.ErrNotEmpty, t.Name)
			}
		}
		return fn(&sink{tx: tx, tables: tables, cols: cols})
	})
	if err != nil {
		return fmt.Errorf("sqlite: load: %w", err)
	}
	return nil
}

// sink is the storage.Sink of Load.
type sink struct {
	tx     *sql.Tx
	tables []storage.Table
	cols   map[string][]column
}

func (s *sink) Tables() []storage.Table { return s.tables }

func (s *sink) Count(ctx context.Context, table string) (int64, error) {
	return count(ctx, s.tx, s.tables, table)
}

func (s *sink) Insert(ctx context.Context, table string, columns []string, rows [][]any) error {
	if _, err := findTable(s.tables, table); err != nil {
		return err
	}
	types := make([]string, len(columns))
	marks := make([]string, len(columns))
	for i, name := range columns {
		j := slices.IndexFunc(s.cols[table], func(c column) bool { return c.name == name })
		if j < 0 {
			return fmt.Errorf("sqlite: insert into %s: no column %q", table, name)
		}
		types[i], marks[i] = s.cols[table][j].typ, "?"
	}
	st, err := s.tx.PrepareContext(ctx, `INSERT INTO `+ident(table)+` (`+identList(columns)+`) VALUES (`+strings.Join(marks, ", ")+`)`)
	if err != nil {
		return fmt.Errorf("sqlite: insert into %s: %w", table, err)
	}
	defer st.Close()
	for _, row := range rows {
		if len(row) != len(columns) {
			return fmt.Errorf("sqlite: insert into %s: a row of %d values for %d columns", table, len(row), len(columns))
		}
		args := make([]any, len(row))
		for i, v := range row {
			args[i] = convert(v, types[i])
		}
		if _, err := st.ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("sqlite: insert into %s: %w", table, mapErr(err))
		}
	}
	return nil
}

// convert makes v, a value as storage.Snapshot gives it, fit a column of
// the STRICT type typ: a flag is an INTEGER 0 or 1.
func convert(v any, typ string) any {
	switch x := v.(type) {
	case bool:
		if x {
			return int64(1)
		}
		return int64(0)
	case []byte:
		if typ == "TEXT" {
			return string(x)
		}
	case string:
		if typ == "BLOB" {
			return []byte(x)
		}
	}
	return v
}
