package sqlite

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
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
		db.probe.at = db.probe.at.Add(-probeEvery)
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
		db.probe.at = db.probe.at.Add(-probeEvery)
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
		db.probe.at = db.probe.at.Add(-probeEvery)
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
