package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

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

// column is a column of a table as the catalog describes it.
type column struct{ name, typ string }

// readTables reads the columns of dataTables from the catalog, in the
// order of the table definitions.
func readTables(ctx context.Context, tx pgx.Tx) (map[string][]column, []storage.Table, error) {
	rows, err := tx.Query(ctx, `SELECT table_name, column_name, data_type FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = ANY($1)
		ORDER BY table_name, ordinal_position`, dataTables)
	if err != nil {
		return nil, nil, err
	}
	cols := make(map[string][]column)
	var table, name, typ string
	_, err = pgx.ForEachRow(rows, []any{&table, &name, &typ}, func() error {
		cols[table] = append(cols[table], column{name, typ})
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	var tables []storage.Table
	for _, t := range dataTables {
		if len(cols[t]) == 0 {
			return nil, nil, fmt.Errorf("table %s is missing: is the database migrated?", t)
		}
		tt := storage.Table{Name: t}
		for _, c := range cols[t] {
			tt.Columns = append(tt.Columns, c.name)
		}
		tables = append(tables, tt)
	}
	return cols, tables, nil
}

// ident quotes a table or column name.
func ident(s string) string { return pgx.Identifier{s}.Sanitize() }

// identList quotes and joins names.
func identList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = ident(n)
	}
	return strings.Join(q, ", ")
}

// Dump implements storage.Dumper: fn reads one REPEATABLE READ, READ ONLY
// transaction, whose snapshot no later commit changes.
func (db *DB) Dump(ctx context.Context, fn func(storage.Snapshot) error) error {
	tx, err := db.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("postgres: dump: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	_, tables, err := readTables(ctx, tx)
	if err != nil {
		return fmt.Errorf("postgres: dump: %w", err)
	}
	return fn(&snapshot{tx: tx, tables: tables})
}

// snapshot is the storage.Snapshot of Dump.
type snapshot struct {
	tx     pgx.Tx
	tables []storage.Table
}

func (s *snapshot) Tables() []storage.Table { return s.tables }

// table finds a table by name.
func findTable(tables []storage.Table, name string) (storage.Table, error) {
	i := slices.IndexFunc(tables, func(t storage.Table) bool { return t.Name == name })
	if i < 0 {
		return storage.Table{}, fmt.Errorf("no table %q among authd's data", name)
	}
	return tables[i], nil
}

func (s *snapshot) Count(ctx context.Context, table string) (int64, error) {
	return count(ctx, s.tx, s.tables, table)
}

// count counts the rows of one of tables.
func count(ctx context.Context, tx pgx.Tx, tables []storage.Table, table string) (int64, error) {
	t, err := findTable(tables, table)
	if err != nil {
		return 0, err
	}
	var n int64
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM `+ident(t.Name)).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: count %s: %w", t.Name, err)
	}
	return n, nil
}

func (s *snapshot) Rows(ctx context.Context, table string, fn func(row []any) error) error {
	t, err := findTable(s.tables, table)
	if err != nil {
		return err
	}
	rows, err := s.tx.Query(ctx, `SELECT `+identList(t.Columns)+` FROM `+ident(t.Name))
	if err != nil {
		return fmt.Errorf("postgres: read %s: %w", t.Name, err)
	}
	defer rows.Close()
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return fmt.Errorf("postgres: read %s: %w", t.Name, err)
		}
		if err := fn(vals); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("postgres: read %s: %w", t.Name, err)
	}
	return nil
}

// Load implements storage.Loader. The transaction locks every data table
// against writes by others (SHARE ROW EXCLUSIVE) before it checks that
// they are empty; rows go in with COPY.
func (db *DB) Load(ctx context.Context, fn func(storage.Sink) error) error {
	err := db.retry(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, 0, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `LOCK TABLE `+identList(dataTables)+` IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			return err
		}
		cols, tables, err := readTables(ctx, tx)
		if err != nil {
			return err
		}
		for _, t := range tables {
			var any bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+ident(t.Name)+`)`).Scan(&any); err != nil {
				return err
			}
			if any {
				return fmt.Errorf("%w: table %s has rows", storage.ErrNotEmpty, t.Name)
			}
		}
		return fn(&sink{tx: tx, tables: tables, cols: cols})
	})
	if err != nil {
		return fmt.Errorf("postgres: load: %w", err)
	}
	return nil
}

// sink is the storage.Sink of Load.
type sink struct {
	tx     pgx.Tx
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
	for i, name := range columns {
		j := slices.IndexFunc(s.cols[table], func(c column) bool { return c.name == name })
		if j < 0 {
			return fmt.Errorf("postgres: insert into %s: no column %q", table, name)
		}
		types[i] = s.cols[table][j].typ
	}
	for _, row := range rows {
		if len(row) != len(columns) {
			return fmt.Errorf("postgres: insert into %s: a row of %d values for %d columns", table, len(row), len(columns))
		}
		for i, v := range row {
			cv, err := convert(v, types[i])
			if err != nil {
				return fmt.Errorf("postgres: insert into %s: column %s: %w", table, columns[i], err)
			}
			row[i] = cv
		}
	}
	_, err := s.tx.CopyFrom(ctx, pgx.Identifier{table}, columns, pgx.CopyFromRows(rows))
	if err != nil {
		return fmt.Errorf("postgres: insert into %s: %w", table, mapErr(err))
	}
	return nil
}

// convert makes v, a value as storage.Snapshot gives it, fit a column of
// PostgreSQL type typ: an integer 0 or 1 for a boolean, and the reverse.
func convert(v any, typ string) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case int64:
		if typ == "boolean" {
			switch x {
			case 0:
				return false, nil
			case 1:
				return true, nil
			}
			return nil, fmt.Errorf("%d is not a boolean", x)
		}
	case bool:
		if typ != "boolean" {
			if x {
				return int64(1), nil
			}
			return int64(0), nil
		}
	case []byte:
		if typ == "text" {
			return string(x), nil
		}
	case string:
		if typ == "bytea" {
			return []byte(x), nil
		}
	}
	return v, nil
}
