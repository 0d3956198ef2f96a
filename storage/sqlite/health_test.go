package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/storage"
)

func TestOpenMustExist(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	path := filepath.Join(dir, "authd.db")
	_, err := Open(t.Context(), path, Options{MustExist: true})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open of a missing file with MustExist: %v, want fs.ErrNotExist", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open with MustExist created the folder: %v", err)
	}
	openTest(t, path).Close() // created without MustExist
	db, err := Open(t.Context(), path, Options{MustExist: true})
	if err != nil {
		t.Fatalf("Open of an existing file with MustExist: %v", err)
	}
	db.Close()
}

func TestCheckFile(t *testing.T) {
	t.Run("in place", func(t *testing.T) {
		db := openTest(t, filepath.Join(t.TempDir(), "authd.db"))
		if err := db.CheckFile(); err != nil {
			t.Errorf("CheckFile: %v", err)
		}
	})
	t.Run("removed", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "authd.db")
		db := openTest(t, path)
		for _, suffix := range []string{"", "-wal", "-shm"} {
			if err := os.Remove(path + suffix); err != nil {
				t.Fatal(err)
			}
		}
		err := db.CheckFile()
		if !errors.Is(err, ErrFileChanged) || !strings.Contains(err.Error(), path) {
			t.Errorf("CheckFile after rm = %v, want ErrFileChanged naming %s", err, path)
		}
	})
	t.Run("replaced", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "authd.db")
		db := openTest(t, path)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		// What a restore does: a copy written beside, then renamed over.
		if err := os.WriteFile(path+".new", data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".new", path); err != nil {
			t.Fatal(err)
		}
		err = db.CheckFile()
		if !errors.Is(err, ErrFileChanged) || !strings.Contains(err.Error(), path) {
			t.Errorf("CheckFile after a replace = %v, want ErrFileChanged naming %s", err, path)
		}
	})
}

// corruptCopy makes a database of a few hundred pages, closes it and
// returns the path of a copy with n bytes of garbage written at offset
// (negative: from the middle).
func corruptCopy(t *testing.T, offset int64, n int) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "good.db")
	db := openTest(t, src)
	now := time.Unix(1e9, 0).UTC()
	err := db.write(t.Context(), func(tx *sql.Tx) error {
		for i := range 3000 {
			u := storage.User{ID: fmt.Sprintf("u-%04d", i), Username: fmt.Sprintf("user-%04d", i),
				Email: fmt.Sprintf("user-%04d@example.com", i), FirstName: strings.Repeat("x", 40), CreatedAt: now}
			if _, err := tx.ExecContext(t.Context(), insertUser, userArgs(u)...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil { // checkpoints: all pages in the file
		t.Fatal(err)
	}
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if offset < 0 {
		offset = int64(len(data)/2) &^ 4095 // the start of a page in the middle
	}
	for i := range n {
		data[offset+int64(i)] = byte(0xA5 ^ i)
	}
	dst := filepath.Join(dir, "copy.db")
	if err := os.WriteFile(dst, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestOpenRefusesCorruptDatabase(t *testing.T) {
	for _, tt := range []struct {
		name   string
		offset int64
		n      int
	}{
		{"garbage page in the middle", -1, 4096},
		{"garbage header", 0, 100},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := corruptCopy(t, tt.offset, tt.n)
			db, err := Open(t.Context(), path, Options{})
			if err == nil {
				db.Close()
				t.Fatal("Open of a damaged database succeeded")
			}
			if !errors.Is(err, storage.ErrCorrupt) || !strings.Contains(err.Error(), path) || strings.Contains(err.Error(), "\n") {
				t.Errorf("Open = %q, want one line, storage.ErrCorrupt naming %s", err, path)
			}
		})
	}
}

// Errors that mean a damaged file wrap storage.ErrCorrupt wherever they
// come from, so that the server tells them from passing failures.
func TestCorruptionErrorsAreMarked(t *testing.T) {
	path := corruptCopy(t, -1, 4096)
	db, err := Open(t.Context(), path, Options{QuickCheckTimeout: -1})
	if err != nil {
		t.Fatalf("Open without the check: %v", err)
	}
	defer db.Close()
	var errs []error
	scan := func(q querier, query string) error {
		rows, err := q.QueryContext(t.Context(), query)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
		}
		return rows.Err()
	}
	// A scan of the table and of each of its indexes: the damaged page is
	// one of them, whichever the layout of the file.
	for _, q := range []string{`SELECT * FROM users`, `SELECT * FROM users ORDER BY id`, `SELECT * FROM users ORDER BY pk`,
		`SELECT * FROM users ORDER BY username_key`, `SELECT * FROM users ORDER BY email_key`} {
		errs = append(errs, scan(db.r, q))
	}
	errs = append(errs, db.write(t.Context(), func(tx *sql.Tx) error {
		_, err := tx.ExecContext(t.Context(), `UPDATE users SET first_name = 'y'`)
		return err
	}))
	found := false
	for _, err := range errs {
		if err == nil {
			continue
		}
		if !errors.Is(err, storage.ErrCorrupt) {
			t.Errorf("error %v does not wrap storage.ErrCorrupt", err)
		}
		found = true
	}
	if !found {
		t.Fatal("no statement met the damaged page")
	}
	// Ordinary errors are left alone.
	if _, err := db.GetUser(t.Context(), "nobody"); errors.Is(err, storage.ErrCorrupt) || !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("GetUser(nobody) = %v, want ErrNotFound only", err)
	}
	if err := scan(db.r, `SELECT * FROM no_such_table`); err == nil || errors.Is(err, storage.ErrCorrupt) {
		t.Errorf("a query of a missing table = %v, want an error that is not ErrCorrupt", err)
	}
}

func TestQuickCheckTimeout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "authd.db")
	openTest(t, path).Close()
	db, err := Open(t.Context(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// A check that runs out of time leaves the database open; one whose
	// caller gave up fails.
	if err := db.quickCheck(t.Context(), time.Nanosecond); err != nil {
		t.Errorf("quickCheck out of time = %v, want nil", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := db.quickCheck(ctx, time.Minute); err == nil {
		t.Error("quickCheck with a cancelled ctx = nil, want an error")
	}
}

func TestProbeWrite(t *testing.T) {
	probed := func(t *testing.T, db *DB) int64 {
		t.Helper()
		var at int64
		if err := db.r.QueryRowContext(t.Context(), `SELECT coalesce(max(probed_at), 0) FROM health`).Scan(&at); err != nil {
			t.Fatal(err)
		}
		return at
	}
	t.Run("writes, at most once a second", func(t *testing.T) {
		db := openTest(t, filepath.Join(t.TempDir(), "authd.db"))
		if err := db.ProbeWrite(t.Context()); err != nil {
			t.Fatalf("ProbeWrite: %v", err)
		}
		first := probed(t, db)
		if first == 0 {
			t.Fatal("ProbeWrite wrote nothing")
		}
		if err := db.ProbeWrite(t.Context()); err != nil || probed(t, db) != first {
			t.Errorf("second ProbeWrite within a second: %v, wrote %v; want the first result, no write", err, probed(t, db) != first)
		}
		db.probe.Forget()
		if err := db.ProbeWrite(t.Context()); err != nil || probed(t, db) == first {
			t.Errorf("ProbeWrite a second later: %v, wrote %v; want a new write", err, probed(t, db) != first)
		}
	})
	t.Run("database that takes no writes", func(t *testing.T) {
		db := openTest(t, filepath.Join(t.TempDir(), "authd.db"))
		// The one write connection refuses writes, as on a read-only
		// file system.
		if _, err := db.w.ExecContext(t.Context(), `PRAGMA query_only = 1`); err != nil {
			t.Fatal(err)
		}
		err := db.ProbeWrite(t.Context())
		if err == nil || !strings.Contains(err.Error(), db.path) {
			t.Fatalf("ProbeWrite = %v, want an error naming %s", err, db.path)
		}
		if again := db.ProbeWrite(t.Context()); again == nil || again.Error() != err.Error() {
			t.Errorf("ProbeWrite within a second = %v, want the same error", again)
		}
		if _, err := db.w.ExecContext(t.Context(), `PRAGMA query_only = 0`); err != nil {
			t.Fatal(err)
		}
		db.probe.Forget()
		if err := db.ProbeWrite(t.Context()); err != nil {
			t.Errorf("ProbeWrite once writable again = %v", err)
		}
	})
	t.Run("immutable files", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "authd.db")
		db := openTest(t, path)
		if err := db.ProbeWrite(t.Context()); err != nil { // the WAL now exists
			t.Fatal(err)
		}
		files := []string{path, path + "-wal"}
		// chattr +i makes a file unwritable even for root, as a
		// read-only file system does; it needs CAP_LINUX_IMMUTABLE and a
		// file system that supports it.
		if out, err := exec.Command("chattr", append([]string{"+i"}, files...)...).CombinedOutput(); err != nil {
			t.Skipf("chattr +i: %v %s", err, out)
		}
		t.Cleanup(func() {
			if out, err := exec.Command("chattr", append([]string{"-i"}, files...)...).CombinedOutput(); err != nil {
				t.Errorf("chattr -i: %v %s", err, out)
			}
		})
		db.probe.Forget()
		if err := db.ProbeWrite(t.Context()); err == nil {
			t.Error("ProbeWrite on immutable files succeeded")
		}
		// Cleanup runs in reverse: chattr -i first, then Close.
	})
	t.Run("read-only folder and file", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root writes whatever the modes say")
		}
		dir := t.TempDir()
		path := filepath.Join(dir, "authd.db")
		db := openTest(t, path)
		if err := db.ProbeWrite(t.Context()); err != nil {
			t.Fatal(err)
		}
		db.Close()
		for _, f := range []string{path, path + "-wal", path + "-shm"} {
			os.Chmod(f, 0o400)
		}
		os.Chmod(dir, 0o500)
		t.Cleanup(func() { os.Chmod(dir, 0o700) })
		db, err := Open(t.Context(), path, Options{MustExist: true})
		if err != nil {
			return // refused at open: the server never starts on it
		}
		defer db.Close()
		if err := db.ProbeWrite(t.Context()); err == nil {
			t.Error("ProbeWrite on a read-only database succeeded")
		}
	})
}
