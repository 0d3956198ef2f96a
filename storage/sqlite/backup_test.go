package sqlite

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/storage"
)

func rowCount(t *testing.T, q querier, table string) int64 {
	t.Helper()
	var n int64
	if err := q.QueryRowContext(t.Context(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatalf("counting %s: %v", table, err)
	}
	return n
}

func tableRows(rep BackupReport, table string) int64 {
	for _, tr := range rep.Tables {
		if tr.Name == table {
			return tr.Rows
		}
	}
	return -1
}

// A backup is a complete, owner-only, verified copy that opens as an authd
// database; a second backup to the same name is refused and leaves the
// first untouched.
func TestBackup(t *testing.T) {
	ctx := t.Context()
	db := openTest(t, filepath.Join(t.TempDir(), "authd.db"))
	now := time.Unix(1e9, 0).UTC()
	for i := range 5 {
		u := storage.User{ID: fmt.Sprintf("u-%d", i), Username: fmt.Sprintf("user-%d", i), CreatedAt: now}
		if err := db.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(t.TempDir(), "backups")
	path := filepath.Join(dir, "b.db")
	rep, err := db.Backup(ctx, path)
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Path != path || rep.Size != fi.Size() || rep.Size == 0 {
		t.Errorf("report path %q size %d, file %q size %d", rep.Path, rep.Size, path, fi.Size())
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("backup mode %v, want 0600", mode)
	}
	if got := tableRows(rep, "users"); got != 5 {
		t.Errorf("report: %d users, want 5 (%+v)", got, rep.Tables)
	}
	if tableRows(rep, "schema_migrations") != int64(db.latest()) || rep.SchemaVersion != db.latest() {
		t.Errorf("report: schema version %d, tables %+v; want version %d", rep.SchemaVersion, rep.Tables, db.latest())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("backup folder holds %d entries, want only the backup", len(entries))
	}

	copyDB := openTest(t, path)
	if u, err := copyDB.GetUserByUsername(ctx, "user-3"); err != nil || u.ID != "u-3" {
		t.Errorf("user-3 in the copy: %+v, %v", u, err)
	}
	if err := copyDB.Close(); err != nil {
		t.Fatal(err)
	}

	before, _ := os.ReadFile(path)
	if _, err := db.Backup(ctx, path); !errors.Is(err, fs.ErrExist) {
		t.Errorf("second Backup to the same file: %v, want fs.ErrExist", err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Error("the refused backup changed the existing file")
	}
}

// A failed backup leaves nothing behind.
func TestBackupFailureLeavesNothing(t *testing.T) {
	db := openTest(t, filepath.Join(t.TempDir(), "authd.db"))
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := db.Backup(ctx, filepath.Join(dir, "b.db")); err == nil {
		t.Fatal("Backup with a cancelled context succeeded")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a failed backup left %v", entries)
	}
}

// A backup taken while another handle writes is one snapshot: each write
// transaction (an import of two users) is wholly in the copy or wholly out,
// and the copy holds between the counts before and after the backup.
func TestBackupUnderWrites(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "authd.db")
	db := openTest(t, path)
	writer := openTest(t, path) // another handle: to SQLite, another process
	now := time.Unix(1e9, 0).UTC()
	if err := db.CreateUser(ctx, storage.User{ID: "owner", Username: "owner", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var werr error
	wg.Go(func() {
		for i := 0; i < 20000; i++ { // a bound; stop ends it long before
			select {
			case <-stop:
				return
			default:
			}
			pair := []storage.User{
				{ID: fmt.Sprintf("a-%d", i), Username: fmt.Sprintf("a-%d", i), CreatedAt: now},
				{ID: fmt.Sprintf("b-%d", i), Username: fmt.Sprintf("b-%d", i), CreatedAt: now},
			}
			if _, err := writer.ImportUsers(ctx, pair); err != nil {
				werr = err
				return
			}
		}
	})
	// Let some writes land, then back up in the middle of the stream.
	deadline := time.Now().Add(10 * time.Second)
	for rowCount(t, db.r, "users") < 50 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	low := rowCount(t, db.r, "users")
	rep, err := db.Backup(ctx, filepath.Join(t.TempDir(), "b.db"))
	high := rowCount(t, db.r, "users")
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	if werr != nil {
		t.Fatalf("writer: %v", werr)
	}
	users := tableRows(rep, "users")
	if (users-1)%2 != 0 {
		t.Errorf("copy has %d users besides the owner, an odd number: an import of two is torn", users-1)
	}
	if users < low || users > high {
		t.Errorf("copy has %d users, want between %d and %d", users, low, high)
	}
	t.Logf("copy: %d users (source %d before, %d after)", users, low, high)
}
