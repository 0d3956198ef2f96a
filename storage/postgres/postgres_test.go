package postgres

import (
	"os"
	"testing"

	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/postgres/pgtest"
	"github.com/authd/authd/storage/storagetest"
)

// TestMain runs the package's tests against one throwaway PostgreSQL
// cluster, each test on a database of its own.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// openTest opens and migrates a new, empty database, closed when t ends.
func openTest(t *testing.T) *DB {
	t.Helper()
	db := openNew(t, pgtest.NewDatabase(t))
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return db
}

// openNew opens the database at url without migrating it, closed when t
// ends.
func openNew(t *testing.T, url string) *DB {
	t.Helper()
	db, err := Open(t.Context(), url, Options{MaxConns: 8})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestStorage(t *testing.T) {
	storagetest.RunTests(t, func(t *testing.T) storage.Storage {
		db, err := Open(t.Context(), pgtest.NewDatabase(t), Options{MaxConns: 8})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if _, err := db.Migrate(t.Context()); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		return db // RunTests closes it
	})
}
