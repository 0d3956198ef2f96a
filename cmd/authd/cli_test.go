package main

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// lastLine is the last line of out.
func lastLine(out string) string {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	return lines[len(lines)-1]
}

// exitFailed fails the test unless err is a non-zero exit.
func exitFailed(t *testing.T, err error) {
	t.Helper()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() == 0 {
		t.Fatalf("exit: %v, want non-zero", err)
	}
}

// Only migrate and serve create a database: every other command refuses a
// missing one in one line, and leaves nothing behind.
func TestMissingDatabase(t *testing.T) {
	env := testEnv(t)
	db := env["AUTHD_DATABASE"]
	for _, args := range [][]string{
		{"users", "disable", "--username", "amy"},
		{"keys", "list"},
		{"users", "add", "--username", "amy", "--password-stdin"},
	} {
		_, errOut, err := authdProcess(t, env, "pw long enough\n", args...)
		exitFailed(t, err)
		want := `authd: database ` + db + ` does not exist; run "authd migrate" or "authd serve" to create it`
		if got := strings.TrimRight(errOut, "\n"); got != want {
			t.Errorf("%v: stderr %q, want %q", args, got, want)
		}
		if _, err := os.Stat(filepath.Dir(db)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%v left the database folder behind: %v", args, err)
		}
	}
	if _, errOut, err := authdProcess(t, env, "", "migrate"); err != nil {
		t.Fatalf("migrate: %v %s", err, errOut)
	}
	if _, errOut, err := authdProcess(t, env, "", "keys", "list"); err != nil {
		t.Errorf("keys list after migrate: %v %s", err, errOut)
	}
}

// serve creates a missing database, and says so in its log.
func TestServeWarnsOfNewDatabase(t *testing.T) {
	env := testEnv(t)
	s := startServe(t, env)
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	log := s.stderr.String()
	if !strings.Contains(log, `"level":"WARN","msg":"database did not exist: created a new, empty one"`) ||
		!strings.Contains(log, `"database":"`+env["AUTHD_DATABASE"]+`"`) {
		t.Errorf("no warning naming the new database in the log:\n%s", log)
	}
	s = startServe(t, env) // now it exists
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(s.stderr.String(), "did not exist") {
		t.Errorf("warning for a database that exists:\n%s", s.stderr.String())
	}
}

// An AUTHD_ variable that names no key stops the command with one line
// naming it, so a typo is not a silent run on the default.
func TestUnknownVariable(t *testing.T) {
	for _, tt := range []struct{ name, want string }{
		{"AUTHD_TOKENS_ACCES_TTL", "AUTHD_TOKENS_ACCES_TTL: names no configuration key (did you mean AUTHD_TOKENS_ACCESS_TTL?)"},
		{"AUTHD_CLIENTS_5_SECRET", "AUTHD_CLIENTS_5_SECRET: there is no clients[5] to set: the configuration has 1"},
	} {
		env := testEnv(t)
		env[tt.name] = "5m-or-a-secret-value"
		_, errOut, err := authdProcess(t, env, "", "migrate")
		exitFailed(t, err)
		if lines := strings.Split(strings.TrimRight(errOut, "\n"), "\n"); len(lines) != 1 || !strings.Contains(lines[0], tt.want) {
			t.Errorf("stderr %q, want one line containing %q", errOut, tt.want)
		}
		if strings.Contains(errOut, "5m-or-a-secret-value") {
			t.Errorf("stderr %q repeats the value", errOut)
		}
	}
	// authd's variables that are not keys pass.
	env := testEnv(t)
	env["AUTHD_KEYS_OLD_ENCRYPTION_KEY"] = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
	env["AUTHD_CPUPROFILE"] = filepath.Join(t.TempDir(), "cpu.prof") // read by serve only
	if _, errOut, err := authdProcess(t, env, "", "migrate"); err != nil {
		t.Errorf("migrate with authd's other variables: %v %s", err, errOut)
	}
}

// Without --config or AUTHD_CONFIG, a command says it runs on defaults.
func TestNoConfigNote(t *testing.T) {
	db := filepath.Join(t.TempDir(), "authd.db")
	var stderr bytes.Buffer
	getenv := func(k string) string { return map[string]string{"AUTHD_DATABASE": db}[k] }
	if err := run(context.Background(), []string{"authd", "migrate"}, getenv, nil, &bytes.Buffer{}, &stderr); err != nil {
		t.Fatal(err)
	}
	want := "authd: no --config or AUTHD_CONFIG: using built-in defaults"
	if got := stderr.String(); !strings.HasPrefix(got, want) || !strings.Contains(got, "(database "+db+")") || strings.Count(got, "\n") != 1 {
		t.Errorf("stderr %q, want one line %q… naming the database", got, want)
	}
	// With a file, nothing.
	env := testEnv(t)
	stderr.Reset()
	if err := run(context.Background(), []string{"authd", "migrate"}, func(k string) string { return env[k] }, nil, &bytes.Buffer{}, &stderr); err != nil {
		t.Fatal(err)
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr %q with a config file, want nothing", stderr.String())
	}
}

// A bare authd prints the usage to stderr, then the one-line error, and
// exits non-zero.
func TestNoCommand(t *testing.T) {
	_, errOut, err := authdProcess(t, nil, "")
	exitFailed(t, err)
	if got, want := lastLine(errOut), `authd: no command given (run "authd help" for the commands)`; got != want {
		t.Errorf("last line of stderr %q, want %q", got, want)
	}
	if !strings.Contains(errOut, "Usage:") {
		t.Errorf("stderr %q, want the usage first", errOut)
	}
}
