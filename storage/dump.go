package storage

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// Dumper and Loader copy a whole database from one backend to another
// (authd db copy), below the Storage interface: rows are copied as they
// are stored, so password hashes, sealed private keys, refresh tokens
// mid-chain, pending codes and one-time tokens arrive unchanged, and
// nothing is checked or rewritten on the way.
//
// Both backends keep one logical schema: the same tables with the same
// columns, so a row read from one is a row of the other. Values travel as
// nil (NULL), int64, bool, string or []byte; times are int64 unix
// nanoseconds, as both backends store them. A backend that stores a flag
// as an integer (SQLite) gives int64 0 or 1 where another gives a bool;
// Sink.Insert takes either.

// ErrNotEmpty means a Loader's database already holds rows: a copy goes
// only into an empty database.
var ErrNotEmpty = errors.New("storage: database is not empty")

// Table is a table of authd's data: its name and its columns, in the
// order of the values of its rows.
type Table struct {
	Name    string
	Columns []string
}

// Dumper is a backend whose whole content can be read out.
type Dumper interface {
	// Dump calls fn with a read-only snapshot of the whole database: every
	// table as of one moment, whatever commits meanwhile. The snapshot
	// lives until fn returns.
	Dump(ctx context.Context, fn func(Snapshot) error) error
}

// Snapshot is one consistent read of a whole database.
type Snapshot interface {
	// Tables lists the tables of authd's data (not the schema's own
	// bookkeeping, such as the applied migrations), each after the tables
	// it references, so that loading them in this order satisfies every
	// foreign key.
	Tables() []Table
	// Count returns how many rows the table holds.
	Count(ctx context.Context, table string) (int64, error)
	// Rows calls fn with each row of the table, its values in the order
	// of the table's Columns, in a new slice that fn may keep. An error
	// from fn stops the read and is returned.
	Rows(ctx context.Context, table string, fn func(row []any) error) error
}

// Loader is a backend that can be filled in bulk.
type Loader interface {
	// Load runs fn in one write transaction on a database that must hold
	// no row in any table of authd's data (ErrNotEmpty otherwise, nothing
	// written), and commits when fn returns nil: the database ends up
	// with all of the rows or none. Other writers wait until it is done.
	Load(ctx context.Context, fn func(Sink) error) error
}

// Sink writes rows inside a Loader's transaction.
type Sink interface {
	// Tables lists the tables as Snapshot.Tables does, for this backend.
	Tables() []Table
	// Insert writes rows into the table, each holding the values of
	// columns in order (as Snapshot.Rows gives them).
	Insert(ctx context.Context, table string, columns []string, rows [][]any) error
	// Count returns how many rows the table holds, those inserted so far
	// included.
	Count(ctx context.Context, table string) (int64, error)
}

// TableCount is how many rows of a table a Copy copied.
type TableCount struct {
	Table string
	Rows  int64
}

// copyBatch is how many rows Copy hands to Sink.Insert at a time.
const copyBatch = 1000

// Copy copies every row of src into dst, which must be empty, in one
// snapshot of src and one transaction of dst, so dst receives the whole
// of one moment of src or nothing. Both databases must have the same
// tables with the same columns (both migrated by the same authd). Before
// it commits, Copy checks that dst holds, table by table, exactly as many
// rows as src did. progress, if not nil, is called after every batch of
// rows with the table, the rows copied so far and its total. It returns
// the rows copied per table, in the order copied.
func Copy(ctx context.Context, src Dumper, dst Loader, progress func(table string, done, total int64)) ([]TableCount, error) {
	var counts []TableCount
	err := src.Dump(ctx, func(snap Snapshot) error {
		return dst.Load(ctx, func(sink Sink) error {
			counts = nil // Load may run this again after a retried transaction
			from, to := snap.Tables(), sink.Tables()
			if err := sameTables(from, to); err != nil {
				return err
			}
			for _, t := range from {
				total, err := snap.Count(ctx, t.Name)
				if err != nil {
					return err
				}
				var done int64
				batch := make([][]any, 0, copyBatch)
				flush := func() error {
					if len(batch) == 0 {
						return nil
					}
					if err := sink.Insert(ctx, t.Name, t.Columns, batch); err != nil {
						return err
					}
					done += int64(len(batch))
					batch = batch[:0]
					if progress != nil {
						progress(t.Name, done, total)
					}
					return nil
				}
				err = snap.Rows(ctx, t.Name, func(row []any) error {
					batch = append(batch, row)
					if len(batch) == copyBatch {
						return flush()
					}
					return nil
				})
				if err == nil {
					err = flush()
				}
				if err != nil {
					return err
				}
				if progress != nil && total == 0 {
					progress(t.Name, 0, 0)
				}
				n, err := sink.Count(ctx, t.Name)
				if err != nil {
					return err
				}
				if done != total || n != total {
					return fmt.Errorf("table %s: the source holds %d rows, %d were read and the destination holds %d", t.Name, total, done, n)
				}
				counts = append(counts, TableCount{Table: t.Name, Rows: n})
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("copy: %w", err)
	}
	return counts, nil
}

// sameTables fails unless from and to list the same tables, in the same
// order, with the same columns (in any order).
func sameTables(from, to []Table) error {
	names := func(ts []Table) []string {
		var s []string
		for _, t := range ts {
			s = append(s, t.Name)
		}
		return s
	}
	if !slices.Equal(names(from), names(to)) {
		return fmt.Errorf("%w: the source has tables %v, the destination %v", errSchemas, names(from), names(to))
	}
	for i := range from {
		f, t := slices.Sorted(slices.Values(from[i].Columns)), slices.Sorted(slices.Values(to[i].Columns))
		if !slices.Equal(f, t) {
			return fmt.Errorf("%w: table %s has columns %v in the source, %v in the destination", errSchemas, from[i].Name, f, t)
		}
	}
	return nil
}

// errSchemas means the two databases of a Copy have different schemas.
var errSchemas = errors.New("the schemas differ (migrate both databases with this authd first)")
