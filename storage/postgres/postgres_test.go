package postgres

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

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

func TestIsURL(t *testing.T) {
	for s, want := range map[string]bool{
		"postgres://u@h/db":             true,
		"postgresql://u:p@h:5432/db":    true,
		"POSTGRES://h/db":               true,
		"./data/authd.db":               false,
		"/var/lib/authd/authd.db":       false,
		"file:authd.db":                 false,
		"mysql://h/db":                  false,
		"data/postgres://looks-like.db": false,
	} {
		if got := IsURL(s); got != want {
			t.Errorf("IsURL(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://authd:s3cret@db.example:5432/authd?sslmode=require": "postgres://authd:xxxxx@db.example:5432/authd?sslmode=require",
		"postgres://authd@db/authd?password=s3cret&sslmode=disable":     "postgres://authd@db/authd?password=xxxxx&sslmode=disable",
		"postgres://db/authd": "postgres://db/authd",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestOpenErrorsHideThePassword(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	// A port nothing listens on.
	_, err := Open(ctx, "postgres://authd:s3cret@127.0.0.1:1/authd?sslmode=disable&connect_timeout=2", Options{})
	if err == nil {
		t.Fatal("Open of a closed port: no error")
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("the error shows the password: %v", err)
	}
	_, err = Open(ctx, "postgres://authd:s3cret@127.0.0.1:1/authd?sslmode=bogus", Options{})
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("Open of a bad URL = %v, want an error without the password", err)
	}
}

func TestMigrate(t *testing.T) {
	ctx := t.Context()
	url := pgtest.NewDatabase(t)
	db := openNew(t, url)
	if v, err := db.SchemaVersion(ctx); err != nil || v != 0 {
		t.Fatalf("SchemaVersion of a new database = %d, %v; want 0", v, err)
	}
	n, err := db.Migrate(ctx)
	if err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if n != len(db.migrations) {
		t.Errorf("Migrate applied %d, want %d", n, len(db.migrations))
	}
	if n, err := db.Migrate(ctx); err != nil || n != 0 {
		t.Errorf("second Migrate = %d, %v; want 0, nil", n, err)
	}
	if v, err := db.SchemaVersion(ctx); err != nil || v != db.latest() {
		t.Errorf("SchemaVersion = %d, %v; want %d", v, err, db.latest())
	}

	// A newer authd migrated the database: this one refuses it.
	if _, err := db.pool.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, 0)`, db.latest()+1); err != nil {
		t.Fatal(err)
	}
	_, err = db.Migrate(ctx)
	checkErr(t, "Migrate of a newer database", err, storage.ErrSchemaTooNew)
	_, err = Open(ctx, url, Options{})
	checkErr(t, "Open of a newer database", err, storage.ErrSchemaTooNew)
}

// TestMigrateConcurrently: instances starting at once on a new database
// apply each migration once between them.
func TestMigrateConcurrently(t *testing.T) {
	url := pgtest.NewDatabase(t)
	const n = 4
	dbs := make([]*DB, n)
	for i := range dbs {
		dbs[i] = openNew(t, url)
	}
	var wg sync.WaitGroup
	applied := make([]int, n)
	errs := make([]error, n)
	for i, db := range dbs {
		wg.Go(func() { applied[i], errs[i] = db.Migrate(t.Context()) })
	}
	wg.Wait()
	total := 0
	for i := range n {
		if errs[i] != nil {
			t.Errorf("Migrate %d: %v", i, errs[i])
		}
		total += applied[i]
	}
	if want := len(dbs[0].migrations); total != want {
		t.Errorf("migrations applied in all = %d, want %d", total, want)
	}
}

// TestTwoInstances runs the races the contract settles across two DB
// handles on one database, as two authd instances would: every user
// created gets its own pk, every key update sees the last one, and of
// racing rotations of one token exactly one wins.
func TestTwoInstances(t *testing.T) {
	ctx := t.Context()
	url := pgtest.NewDatabase(t)
	a := openNew(t, url)
	if _, err := a.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	b := openNew(t, url)
	dbs := []*DB{a, b}

	const n = 30
	var wg sync.WaitGroup
	errs := make([]error, 3*n)
	now := time.Now()
	for i := range n {
		db := dbs[i%2]
		wg.Go(func() {
			errs[i] = db.CreateUser(ctx, storage.User{ID: fmt.Sprintf("u%d", i), Username: fmt.Sprintf("user%d", i), CreatedAt: now})
		})
		wg.Go(func() {
			errs[n+i] = db.UpdateKeys(ctx, func(cur []storage.Key) ([]storage.Key, error) {
				return append(cur, storage.Key{ID: fmt.Sprintf("k%02d", i), Algorithm: "EdDSA", State: storage.KeyNext,
					Private: []byte("p"), Public: []byte("{}"), CreatedAt: now}), nil
			})
		})
	}
	wg.Wait()
	for i, err := range errs[:2*n] {
		if err != nil {
			t.Errorf("call %d: %v", i, err)
		}
	}
	pks := map[int64]bool{}
	for i := range n {
		u, err := b.GetUser(ctx, fmt.Sprintf("u%d", i))
		if err != nil {
			t.Fatal(err)
		}
		pks[u.PK] = true
	}
	for pk := int64(1); pk <= n; pk++ {
		if !pks[pk] {
			t.Errorf("pks = %v, want 1…%d each once", pks, n)
			break
		}
	}
	if ks, err := a.ListKeys(ctx); err != nil || len(ks) != n {
		t.Errorf("ListKeys = %d keys, %v; want %d", len(ks), err, n)
	}

	// Racing rotations of one family from both instances.
	sess := storage.Session{ID: "s1", UserID: "u0", ClientID: "c", CreatedAt: now, ExpiresAt: now.Add(time.Hour),
		Refresh: &storage.RefreshFamily{Hash: "h0", Key: []byte("k"), ExpiresAt: now.Add(time.Hour)}}
	if err := a.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		db := dbs[i%2]
		wg.Go(func() {
			errs[2*n+i] = db.RotateRefresh(ctx, "s1", 0, storage.RefreshRotation{Hash: fmt.Sprintf("h1-%d", i), ExpiresAt: now.Add(time.Hour)}, now)
		})
	}
	wg.Wait()
	won := 0
	for i, err := range errs[2*n:] {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, storage.ErrSpent):
			t.Errorf("rotation %d: %v, want nil or ErrSpent", i, err)
		}
	}
	if won != 1 {
		t.Errorf("%d rotations won, want 1", won)
	}
}

// TestRetriesNeverSurface runs writes that conflict with each other (they
// lock the same rows in different orders) and checks that no deadlock or
// serialization failure reaches the caller: the backend runs the losers
// again.
func TestRetriesNeverSurface(t *testing.T) {
	ctx := t.Context()
	db := openTest(t)
	now := time.Now()
	if err := db.CreateUser(ctx, storage.User{ID: "u", Username: "u", Email: "u@example.com", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	const workers, rounds = 8, 15
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds*3)
	for w := range workers {
		wg.Go(func() {
			for r := range rounds {
				at := now.Add(time.Duration(w*rounds+r) * time.Millisecond)
				// Each new token marks the user's others used: every call
				// reads and writes the same rows.
				errs <- db.CreateOneTimeToken(ctx, storage.OneTimeToken{Hash: fmt.Sprintf("t%d-%d", w, r), Purpose: storage.PurposeReset,
					UserID: "u", Email: "u@example.com", CreatedAt: at, ExpiresAt: at.Add(time.Hour)})
				errs <- db.RevokeJTI(ctx, "jti", at.Add(time.Hour))
				_, err := db.EndUserSessions(ctx, "u", "", at)
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("call failed: %v", err)
		}
	}
	t.Logf("%d transactions run again", db.retries.Load())
}

func TestProbeWrite(t *testing.T) {
	db := openTest(t)
	if err := db.ProbeWrite(t.Context()); err != nil {
		t.Fatalf("ProbeWrite: %v", err)
	}
	var n int
	if err := db.pool.QueryRow(t.Context(), `SELECT count(*) FROM health`).Scan(&n); err != nil || n != 1 {
		t.Errorf("health rows = %d, %v; want 1", n, err)
	}
}

func TestRetryable(t *testing.T) {
	for code, want := range map[string]bool{"40001": true, "40P01": true, "23505": false, "57014": false} {
		if got := retryable(fmt.Errorf("wrapped: %w", &pgconn.PgError{Code: code})); got != want {
			t.Errorf("retryable(%s) = %v, want %v", code, got, want)
		}
	}
	if retryable(errors.New("other")) {
		t.Error("retryable(plain error) = true")
	}
	for n := 1; n < 40; n++ {
		if d := backoff(n); d <= 0 || d > 100*time.Millisecond {
			t.Errorf("backoff(%d) = %v, want within (0, 100ms]", n, d)
		}
	}
}

func checkErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: err = %v, want %v", what, err, want)
	}
}

// pgtestDatabase is pgtest.NewDatabase for a benchmark.
func pgtestDatabase(b *testing.B) string { return pgtest.NewDatabase(b) }

// TestDeadlockRetried makes two transactions lock two rows in opposite
// orders: PostgreSQL fails one of them with a deadlock, and write runs it
// again, so both calls succeed.
func TestDeadlockRetried(t *testing.T) {
	ctx := t.Context()
	db := openTest(t)
	now := time.Now()
	for _, id := range []string{"a", "b"} {
		if err := db.CreateUser(ctx, storage.User{ID: id, Username: id, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	var both sync.WaitGroup
	both.Add(2)
	lockBoth := func(first, second string) error {
		attempt := 0
		return db.write(ctx, func(tx pgx.Tx) error {
			attempt++
			if _, err := tx.Exec(ctx, `UPDATE users SET first_name = 'x' WHERE id = $1`, first); err != nil {
				return err
			}
			if attempt == 1 {
				both.Done()
				both.Wait() // each holds its first row
			}
			_, err := tx.Exec(ctx, `UPDATE users SET first_name = 'y' WHERE id = $1`, second)
			return err
		})
	}
	errs := make(chan error, 2)
	go func() { errs <- lockBoth("a", "b") }()
	go func() { errs <- lockBoth("b", "a") }()
	for range 2 {
		if err := <-errs; err != nil {
			t.Errorf("write: %v", err)
		}
	}
	if n := db.retries.Load(); n < 1 {
		t.Errorf("%d transactions run again, want at least 1 (the deadlock's loser)", n)
	}
}
