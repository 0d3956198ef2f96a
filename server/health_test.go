package server_test

import (
	"os"
	"strings"
	"testing"
)

// A database file removed underneath the running server makes readiness
// fail, naming the cause, instead of answering 200 while every write goes
// to a file no one else will see.
func TestReadyzNoticesRemovedDatabase(t *testing.T) {
	e := newEnv(t)
	if r := e.do("GET", "/readyz", nil); r.status != 200 {
		t.Fatalf("readyz before: %d %s", r.status, r.body)
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(e.dbPath + suffix); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	r := e.do("GET", "/readyz", nil)
	if r.status != 503 || !strings.Contains(string(r.body), `"database_file"`) {
		t.Errorf("readyz after the file was removed: %d %s, want 503 naming database_file", r.status, r.body)
	}
}
