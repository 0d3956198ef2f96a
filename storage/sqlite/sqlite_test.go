package sqlite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/storagetest"
)

// openTest opens and migrates a database at path, closed when t ends.
func openTest(t *testing.T, path string) *DB {
	t.Helper()
	db, err := Open(t.Context(), path, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return db
}

func TestStorage(t *testing.T) {
	storagetest.RunTests(t, func(t *testing.T) storage.Storage {
		db, err := Open(t.Context(), filepath.Join(t.TempDir(), "authd.db"), Options{})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if _, err := db.Migrate(t.Context()); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		return db // RunTests closes it
	})
}

func TestOpen(t *testing.T) {
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "new folder", "with ? and #")
	path := filepath.Join(dir, "authd.db")
	db := openTest(t, path)

	if fi, err := os.Stat(path); err != nil {
		t.Fatalf("database file: %v", err)
	} else if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("database file mode = %v, want 0600", mode)
	}
	if fi, err := os.Stat(dir); err != nil {
		t.Fatalf("database folder: %v", err)
	} else if mode := fi.Mode().Perm(); mode != 0o700 {
		t.Errorf("database folder mode = %v, want 0700", mode)
	}

	pool := map[string]querier{"write": db.w, "read": db.r}
	for _, p := range []struct{ pool, pragma, want string }{
		{"write", "journal_mode", "wal"},
		{"write", "foreign_keys", "1"},
		{"write", "busy_timeout", "10000"},
		{"write", "synchronous", "2"}, // FULL
		{"write", "query_only", "0"},
		{"read", "journal_mode", "wal"},
		{"read", "foreign_keys", "1"},
		{"read", "busy_timeout", "10000"},
		{"read", "query_only", "1"},
	} {
		var got string
		if err := pool[p.pool].QueryRowContext(ctx, "PRAGMA "+p.pragma).Scan(&got); err != nil {
			t.Errorf("%s pool: PRAGMA %s: %v", p.pool, p.pragma, err)
		} else if got != p.want {
			t.Errorf("%s pool: PRAGMA %s = %q, want %q", p.pool, p.pragma, got, p.want)
		}
	}
	if _, err := db.r.ExecContext(ctx, `DELETE FROM users`); err == nil {
		t.Errorf("the read pool wrote")
	}
	if err := db.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

func TestOpenOptions(t *testing.T) {
	tests := []struct {
		opts     Options
		wantSync string // "" when Open must fail
	}{
		{Options{}, "2"},
		{Options{Synchronous: "FULL"}, "2"},
		{Options{Synchronous: "normal"}, "1"},
		{Options{Synchronous: "OFF"}, "0"},
		{Options{Synchronous: "EXTRA"}, ""},
		{Options{Synchronous: "FULL; DROP TABLE users"}, ""},
		{Options{BusyTimeout: -time.Second}, ""},
		{Options{ReadConns: -1}, ""},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%+v", tt.opts), func(t *testing.T) {
			db, err := Open(t.Context(), filepath.Join(t.TempDir(), "authd.db"), tt.opts)
			if tt.wantSync == "" {
				if err == nil {
					db.Close()
					t.Fatalf("Open: no error")
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer db.Close()
			for name, q := range map[string]querier{"write": db.w, "read": db.r} {
				var got string
				if err := q.QueryRowContext(t.Context(), "PRAGMA synchronous").Scan(&got); err != nil || got != tt.wantSync {
					t.Errorf("%s pool: PRAGMA synchronous = %q, %v; want %q", name, got, err, tt.wantSync)
				}
			}
		})
	}
	for _, path := range []string{"", ":memory:", "file:x.db"} {
		if db, err := Open(t.Context(), path, Options{}); err == nil {
			db.Close()
			t.Errorf("Open(%q): no error", path)
		}
	}
}

func TestMigrate(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "authd.db")
	db, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer db.Close()
	if v, err := db.SchemaVersion(ctx); err != nil || v != 0 {
		t.Errorf("SchemaVersion of a new database = %d, %v; want 0", v, err)
	}
	latest := db.latest()
	if applied, err := db.Migrate(ctx); err != nil || applied != latest {
		t.Fatalf("Migrate = %d, %v; want %d", applied, err, latest)
	}
	if v, err := db.SchemaVersion(ctx); err != nil || v != latest {
		t.Errorf("SchemaVersion = %d, %v; want %d", v, err, latest)
	}
	if applied, err := db.Migrate(ctx); err != nil || applied != 0 {
		t.Errorf("second Migrate = %d, %v; want 0", applied, err)
	}
	var rows int
	if err := db.r.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&rows); err != nil || rows != latest {
		t.Errorf("schema_migrations has %d rows, %v; want %d", rows, err, latest)
	}

	t.Run("schema too new", func(t *testing.T) {
		_, err := db.w.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, 0)`, latest+1)
		if err != nil {
			t.Fatalf("insert future version: %v", err)
		}
		_, err = db.Migrate(ctx)
		checkErr(t, "Migrate", err, storage.ErrSchemaTooNew)
		if other, err := Open(ctx, path, Options{}); !errors.Is(err, storage.ErrSchemaTooNew) {
			if err == nil {
				other.Close()
			}
			t.Errorf("Open: err = %v, want ErrSchemaTooNew", err)
		}
	})
}

func TestLoadMigrations(t *testing.T) {
	ms, err := loadMigrations()
	if err != nil {
		t.Fatalf("loadMigrations: %v", err)
	}
	for i, m := range ms {
		if m.Version != i+1 {
			t.Errorf("migration %d (%s): version %d", i, m.Name, m.Version)
		}
	}
}

// TestMigrateConcurrently runs Migrate from two handles (two processes, as
// far as SQLite can tell) on a new file at once.
func TestMigrateConcurrently(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "authd.db")
	var dbs [2]*DB
	for i := range dbs {
		db, err := Open(ctx, path, Options{})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer db.Close()
		dbs[i] = db
	}
	var (
		wg      sync.WaitGroup
		applied [2]int
		errs    [2]error
	)
	for i, db := range dbs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			applied[i], errs[i] = db.Migrate(ctx)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Migrate %d: %v", i, err)
		}
	}
	if got, want := applied[0]+applied[1], dbs[0].latest(); got != want {
		t.Errorf("migrations applied = %d + %d, want %d in all", applied[0], applied[1], want)
	}
}

// writeLoad is what each writer (handle or process) does to a shared
// database: for i < n, create user prefix-i, add key prefix-i with
// UpdateKeys, and try to rotate the shared token tok-i (sessions s-i, made
// by setupShared) from generation 1 to prefix-next-i. It returns the first
// unexpected error.
func writeLoad(ctx context.Context, db *DB, prefix string, n int) error {
	for i := range n {
		now := time.Unix(1e9, int64(i)).UTC()
		u := storage.User{ID: fmt.Sprintf("%s-%d", prefix, i), Username: fmt.Sprintf("%s-%d", prefix, i), CreatedAt: now}
		if err := db.CreateUser(ctx, u); err != nil {
			return err
		}
		err := db.UpdateKeys(ctx, func(cur []storage.Key) ([]storage.Key, error) {
			return append(cur, storage.Key{ID: fmt.Sprintf("%s-%d", prefix, i), Algorithm: "EdDSA",
				State: storage.KeyNext, Private: []byte("p"), Public: []byte("{}"), CreatedAt: now}), nil
		})
		if err != nil {
			return err
		}
		next := storage.RefreshRotation{Hash: fmt.Sprintf("%s-next-%d", prefix, i), ExpiresAt: now.Add(time.Hour),
			Replay: []byte(prefix), ReplayUntil: now.Add(time.Second)}
		err = db.RotateRefresh(ctx, fmt.Sprintf("s-%d", i), 1, next, now)
		if err != nil && !errors.Is(err, storage.ErrSpent) {
			return err
		}
		if _, err := db.GetUser(ctx, u.ID); err != nil {
			return err
		}
	}
	return nil
}

// setupShared makes the rows writeLoad races on.
func setupShared(t *testing.T, db *DB, n int) {
	t.Helper()
	ctx := t.Context()
	now := time.Unix(1e9, 0).UTC()
	if err := db.CreateUser(ctx, storage.User{ID: "owner", Username: "owner", CreatedAt: now}); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	for i := range n {
		s := storage.Session{ID: fmt.Sprintf("s-%d", i), UserID: "owner", ClientID: "c", CreatedAt: now,
			Refresh: &storage.RefreshFamily{Generation: 1, Hash: fmt.Sprintf("tok-%d", i), Key: make([]byte, 32), ExpiresAt: now.Add(time.Hour)}}
		if err := db.CreateSession(ctx, s); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
	}
}

// checkShared checks the result of writeLoad by every prefix: every user
// and key is there (no lost update), the users have distinct pks, and
// every shared family was rotated by exactly one writer.
func checkShared(t *testing.T, db *DB, prefixes []string, n int) {
	t.Helper()
	ctx := t.Context()
	keys, err := db.ListKeys(ctx)
	if err != nil {
		t.Fatalf("ListKeys: %v", err)
	}
	if len(keys) != len(prefixes)*n {
		t.Errorf("%d keys, want %d: an UpdateKeys was lost", len(keys), len(prefixes)*n)
	}
	// Users numbered by concurrent writers get the pks 2… (1 is the
	// owner's), each once.
	pks := map[int64]bool{}
	for _, p := range prefixes {
		for i := range n {
			u, err := db.GetUser(ctx, fmt.Sprintf("%s-%d", p, i))
			if err != nil {
				t.Errorf("GetUser(%s-%d): %v", p, i, err)
			}
			pks[u.PK] = true
		}
	}
	for pk := int64(2); pk < int64(2+len(prefixes)*n); pk++ {
		if !pks[pk] {
			t.Errorf("no user got pk %d; got %d distinct pks for %d users", pk, len(pks), len(prefixes)*n)
			break
		}
	}
	for i := range n {
		s, err := db.GetSession(ctx, fmt.Sprintf("s-%d", i))
		if err != nil {
			t.Fatalf("GetSession: %v", err)
		}
		var winners []string
		for _, p := range prefixes {
			if s.Refresh.Hash == fmt.Sprintf("%s-next-%d", p, i) {
				winners = append(winners, p)
			}
		}
		if len(winners) != 1 || s.Refresh.Generation != 2 || string(s.Refresh.Replay) != winners[0] {
			t.Errorf("s-%d rotated by %q to %+v, want exactly one writer, once", i, winners, s.Refresh)
		}
	}
}

// TestTwoHandles writes through two DBs on one file at once: to SQLite they
// are two processes, each with its own write connection, so they serialise
// on the file lock (busy_timeout) rather than on a pool.
func TestTwoHandles(t *testing.T) {
	const n = 25
	path := filepath.Join(t.TempDir(), "authd.db")
	first := openTest(t, path)
	setupShared(t, first, n)
	second := openTest(t, path)

	prefixes := []string{"a1", "a2", "b1", "b2"}
	errs := make([]error, len(prefixes))
	var wg sync.WaitGroup
	for i, p := range prefixes {
		db := first
		if p[0] == 'b' {
			db = second
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = writeLoad(t.Context(), db, p, n)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("writer %s: %v", prefixes[i], err)
		}
	}
	checkShared(t, first, prefixes, n)
}

// Environment of the child processes of TestTwoProcesses.
const (
	envHelperDB     = "AUTHD_SQLITE_TEST_HELPER_DB"
	envHelperPrefix = "AUTHD_SQLITE_TEST_HELPER_PREFIX"
	envHelperN      = "AUTHD_SQLITE_TEST_HELPER_N"
)

// TestHelperProcess is a child of TestTwoProcesses; run alone it does
// nothing.
func TestHelperProcess(t *testing.T) {
	path := os.Getenv(envHelperDB)
	if path == "" {
		t.Skip("helper process of TestTwoProcesses")
	}
	n, err := strconv.Atoi(os.Getenv(envHelperN))
	if err != nil {
		t.Fatalf("%s: %v", envHelperN, err)
	}
	db, err := Open(t.Context(), path, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer db.Close()
	if err := writeLoad(t.Context(), db, os.Getenv(envHelperPrefix), n); err != nil {
		t.Fatalf("writeLoad: %v", err)
	}
}

// TestTwoProcesses writes from two other OS processes (this test binary run
// again) and this one at once: what happens when the CLI rotates keys or
// sets a password while a server runs.
func TestTwoProcesses(t *testing.T) {
	if os.Getenv(envHelperDB) != "" {
		t.Skip("in a helper process")
	}
	if testing.Short() {
		t.Skip("starts processes")
	}
	const n = 25
	path := filepath.Join(t.TempDir(), "authd.db")
	db := openTest(t, path)
	setupShared(t, db, n)

	prefixes := []string{"p0", "p1", "p2"}
	var cmds []*exec.Cmd
	outs := make([]*bytes.Buffer, len(prefixes))
	for i, p := range prefixes[1:] {
		cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), envHelperDB+"="+path, envHelperPrefix+"="+p, envHelperN+"="+strconv.Itoa(n))
		// One writer for both: exec then calls it from one goroutine.
		outs[i+1] = &bytes.Buffer{}
		cmd.Stdout, cmd.Stderr = outs[i+1], outs[i+1]
		if err := cmd.Start(); err != nil {
			t.Fatalf("start helper: %v", err)
		}
		cmds = append(cmds, cmd)
	}
	if err := writeLoad(t.Context(), db, prefixes[0], n); err != nil {
		t.Errorf("writer %s (this process): %v", prefixes[0], err)
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("helper %s: %v\n%s", prefixes[i+1], err, outs[i+1].String())
		}
	}
	checkShared(t, db, prefixes, n)
}

func checkErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: err = %v, want %v", what, err, want)
	}
}

func TestObserveCommit(t *testing.T) {
	var mu sync.Mutex
	var commits []time.Duration
	db, err := Open(t.Context(), filepath.Join(t.TempDir(), "a.db"), Options{ObserveCommit: func(d time.Duration) {
		mu.Lock()
		commits = append(commits, d)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	n, err := db.Migrate(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	got := len(commits)
	mu.Unlock()
	if n == 0 || got < n {
		t.Errorf("observed %d commits for %d migrations, want at least one each", got, n)
	}
	// A failing write commits nothing and observes nothing.
	if _, err := db.GetUser(t.Context(), "nobody"); err == nil {
		t.Fatal("GetUser of nobody succeeded")
	}
	if _, err := db.SetDisabled(t.Context(), "nobody", true, time.Now()); err == nil {
		t.Fatal("SetDisabled of nobody succeeded")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(commits) != got {
		t.Errorf("a failed write was observed as a commit")
	}
}

// TestMigrateUserPK: migration 0004 numbers the users a database already
// holds in the order they joined, and from then on every user has a pk
// that never changes.
func TestMigrateUserPK(t *testing.T) {
	ctx := t.Context()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "authd.db"), Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer db.Close()
	all := db.migrations
	var before []storage.Migration
	for _, m := range all {
		if m.Name < "0004_user_pk.sql" {
			before = append(before, m)
		}
	}
	db.migrations = before
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatalf("Migrate to %d: %v", len(before), err)
	}
	// Inserted out of joining order; two joined at the same time, and one
	// has no created_at.
	for _, u := range []struct {
		id      string
		created any
	}{
		{"u-c", int64(300)}, {"u-none", nil}, {"u-a", int64(100)}, {"u-b2", int64(200)}, {"u-b1", int64(200)},
	} {
		_, err := db.w.ExecContext(ctx, `INSERT INTO users (id, username, username_key, created_at) VALUES (?, ?, ?, ?)`,
			u.id, u.id, u.id, u.created)
		if err != nil {
			t.Fatalf("insert %s: %v", u.id, err)
		}
	}
	db.migrations = all
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	for id, want := range map[string]int64{"u-a": 1, "u-b2": 2, "u-b1": 3, "u-c": 4, "u-none": 5} {
		u, err := db.GetUser(ctx, id)
		if err != nil || u.PK != want {
			t.Errorf("GetUser(%s) = pk %d, %v; want pk %d", id, u.PK, err, want)
		}
	}
	if err := db.CreateUser(ctx, storage.User{ID: "u-new", Username: "new"}); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	if u, err := db.GetUserByPK(ctx, 6); err != nil || u.ID != "u-new" {
		t.Errorf("GetUserByPK(6) = %q, %v; want u-new", u.ID, err)
	}

	for _, q := range []string{
		`INSERT INTO users (id, username, username_key) VALUES ('u-nopk', 'nopk', 'nopk')`,
		`INSERT INTO users (id, pk, username, username_key) VALUES ('u-zero', 0, 'zero', 'zero')`,
		`UPDATE users SET pk = 99 WHERE id = 'u-a'`,
		`UPDATE users SET pk = NULL WHERE id = 'u-a'`,
	} {
		if _, err := db.w.ExecContext(ctx, q); err == nil {
			t.Errorf("%s: no error", q)
		}
	}
	if _, err := db.w.ExecContext(ctx, `UPDATE users SET pk = 1, first_name = 'A' WHERE id = 'u-a'`); err != nil {
		t.Errorf("an update that keeps the pk: %v", err)
	}
}
