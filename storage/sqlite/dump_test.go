package sqlite

import (
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/authd/authd/storage"
)

// TestDataTables: dataTables names every table of the schema but the
// bookkeeping ones, so Dump misses none.
func TestDataTables(t *testing.T) {
	db := openTest(t, filepath.Join(t.TempDir(), "authd.db"))
	rows, err := db.r.QueryContext(t.Context(), `SELECT name FROM sqlite_master WHERE type = 'table'
		AND name NOT IN ('schema_migrations', 'health') AND name NOT LIKE 'sqlite_%' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		got = append(got, s)
	}
	if want := slices.Sorted(slices.Values(dataTables)); !slices.Equal(got, want) {
		t.Errorf("tables of the schema = %v, dataTables = %v", got, want)
	}
}

// TestCopySQLite copies one SQLite database into another: the flags,
// blobs and times arrive as they were, and a second copy into the now
// full database is refused.
func TestCopySQLite(t *testing.T) {
	ctx := t.Context()
	src := openTest(t, filepath.Join(t.TempDir(), "src.db"))
	now := time.Now().UTC()
	u := storage.User{ID: "u1", PK: 5, Username: "ann", Email: "ann@example.com", EmailVerified: true, Disabled: true, CreatedAt: now}
	if err := src.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	err := src.UpdateKeys(ctx, func([]storage.Key) ([]storage.Key, error) {
		return []storage.Key{{ID: "k", Algorithm: "EdDSA", State: storage.KeyActive, Private: []byte{0, 1, 2}, Public: []byte("{}"), CreatedAt: now}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	dst := openTest(t, filepath.Join(t.TempDir(), "dst.db"))
	counts, err := storage.Copy(ctx, src, dst, nil)
	if err != nil {
		t.Fatalf("Copy: %v", err)
	}
	if len(counts) != len(dataTables) || counts[0] != (storage.TableCount{Table: "users", Rows: 1}) {
		t.Errorf("counts = %v", counts)
	}
	got, err := dst.GetUser(ctx, "u1")
	if err != nil || got.PK != 5 || !got.EmailVerified || !got.Disabled || !got.CreatedAt.Equal(now) {
		t.Errorf("copied user = %+v, %v; want %+v", got, err, u)
	}
	ks, err := dst.ListKeys(ctx)
	if err != nil || len(ks) != 1 || string(ks[0].Private) != "\x00\x01\x02" {
		t.Errorf("copied keys = %+v, %v", ks, err)
	}
	_, err = storage.Copy(ctx, src, dst, nil)
	checkErr(t, "second Copy", err, storage.ErrNotEmpty)
}
