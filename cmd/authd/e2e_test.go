package main

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// proc is authd serve running as a separate OS process.
type proc struct {
	cmd *exec.Cmd
	url string
}

func startProcess(t *testing.T, env map[string]string) *proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "serve")
	cmd.Env = append(os.Environ(), "AUTHD_TEST_AS_MAIN=1")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd}
	t.Cleanup(func() { p.kill() })
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var rec struct {
				Msg     string `json:"msg"`
				Address string `json:"address"`
			}
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "listening" {
				addr <- rec.Address
			}
		}
	}()
	select {
	case a := <-addr:
		p.url = "http://" + a
	case <-time.After(30 * time.Second):
		t.Fatal("authd serve did not start")
	}
	return p
}

// kill ends the process with SIGKILL: no shutdown, no flush.
func (p *proc) kill() {
	if p.cmd.ProcessState == nil {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		_ = p.cmd.Wait()
	}
}

func postForm(t *testing.T, u string, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := http.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	body, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(body, &m)
	return resp.StatusCode, m
}

func refreshForm(rt string) url.Values {
	return url.Values{"grant_type": {"refresh_token"}, "client_id": {"cli-test"}, "refresh_token": {rt}}
}

// A refresh answered just before a SIGKILL is durable: after a restart the
// new token works and the spent one does not. With synchronous=FULL (the
// default) SQLite syncs the WAL at every commit, and authd answers only
// after the commit, so an answered rotation survives the process (and the
// machine) dying. (NORMAL also survives a process kill, since the WAL is in
// the OS page cache; it is power loss that it does not survive.)
func TestRefreshSurvivesSIGKILL(t *testing.T) {
	env := testEnv(t)
	env["AUTHD_DATABASE_SYNCHRONOUS"] = "FULL"
	env["AUTHD_TOKENS_REFRESH_REUSE_GRACE"] = "0s"
	if _, errOut, err := authdProcess(t, env, "", "migrate"); err != nil { // only migrate and serve create the database
		t.Fatalf("migrate: %v %s", err, errOut)
	}
	if _, errOut, err := authdProcess(t, env, "kill me softly 1\n", "users", "add", "--username", "kim", "--password-stdin"); err != nil {
		t.Fatalf("users add: %v %s", err, errOut)
	}
	p := startProcess(t, env)
	code, tr := postForm(t, p.url+"/oauth2/token", url.Values{"grant_type": {"password"}, "client_id": {"cli-test"}, "username": {"kim"}, "password": {"kill me softly 1"}})
	if code != 200 {
		t.Fatalf("login: %d %v", code, tr)
	}
	spent := tr["refresh_token"].(string)
	code, next := postForm(t, p.url+"/oauth2/token", refreshForm(spent))
	if code != 200 {
		t.Fatalf("refresh: %d %v", code, next)
	}
	p.kill() // right after the answer

	p2 := startProcess(t, env)
	if code, m := postForm(t, p2.url+"/oauth2/token", refreshForm(next["refresh_token"].(string))); code != 200 {
		t.Errorf("the new refresh token after a crash: %d %v", code, m)
	}
	if code, m := postForm(t, p2.url+"/oauth2/token", refreshForm(spent)); code != 400 || m["error"] != "invalid_grant" {
		t.Errorf("the spent refresh token after a crash: %d %v", code, m)
	}
}

// authd keys rotate in another process switches a running server's signing
// key within keys.reload_interval.
func TestKeysRotateAgainstRunningServer(t *testing.T) {
	env := testEnv(t)
	s := startServe(t, env)
	if _, errOut, err := authdProcess(t, env, "turn the key over 123\n", "users", "add", "--username", "rot", "--password-stdin"); err != nil {
		t.Fatalf("users add: %v %s", err, errOut)
	}
	kidOf := func() string {
		code, tr := postForm(t, s.url+"/oauth2/token", url.Values{"grant_type": {"password"}, "client_id": {"cli-test"}, "username": {"rot"}, "password": {"turn the key over 123"}})
		if code != 200 {
			t.Fatalf("login: %d %v", code, tr)
		}
		h, err := base64.RawURLEncoding.DecodeString(strings.Split(tr["access_token"].(string), ".")[0])
		if err != nil {
			t.Fatal(err)
		}
		var hdr struct{ Kid, Alg string }
		json.Unmarshal(h, &hdr)
		return hdr.Kid
	}
	before := kidOf()
	out, errOut, err := authdProcess(t, env, "", "keys", "rotate", "--alg", "EdDSA")
	if err != nil {
		t.Fatalf("keys rotate: %v %s", err, errOut)
	}
	if !strings.Contains(out, "rotated:") || !strings.Contains(errOut, "warning: the promoted key was published for only") {
		t.Errorf("keys rotate said %q / %q", out, errOut)
	}
	promoted := strings.Fields(strings.TrimPrefix(out, "rotated: "))[0]
	if promoted == before {
		t.Fatalf("promoted %s is the old active key", promoted)
	}
	deadline := time.Now().Add(10 * time.Second) // reload_interval is 200ms
	for kidOf() != promoted {
		if time.Now().After(deadline) {
			t.Fatalf("the server still signs with %s, want %s", before, promoted)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The retired key stays published; keys list shows all three.
	out, _, err = authdProcess(t, env, "", "keys", "list")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{before, promoted, "retired", "active", "next"} {
		if !strings.Contains(out, want) {
			t.Errorf("keys list lacks %q:\n%s", want, out)
		}
	}
}

// Users from a real Django dumpdata file log in with their Django
// passwords; a second import skips them; a bad file imports nothing.
func TestUsersImportDjango(t *testing.T) {
	env := testEnv(t)
	fixture := filepath.Join("..", "..", "users", "testdata", "django_users.json")
	// Only migrate and serve create the database.
	if _, errOut, err := authdProcess(t, env, "", "migrate"); err != nil {
		t.Fatalf("migrate: %v %s", err, errOut)
	}
	out, errOut, err := authdProcess(t, env, "", "users", "import", "--format", "django", fixture)
	if err != nil {
		t.Fatalf("import: %v %s", err, errOut)
	}
	if !strings.Contains(out, "imported 4 user(s)") {
		t.Errorf("import said %q", out)
	}
	out, _, err = authdProcess(t, env, "", "users", "import", "--format", "django", fixture)
	if err != nil || !strings.Contains(out, "imported 0 user(s); skipped 4 existing") {
		t.Errorf("second import: %v %q", err, out)
	}

	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`[{"model":"auth.user","pk":9,"fields":{"username":"newbie","password":"!unusable","email":"","is_active":true,"first_name":"","last_name":"","date_joined":"2020-01-01T00:00:00Z"}},{"model":"auth.user","pk":10,"fields":{"username":"","password":"x"}}]`), 0o600)
	_, errOut, err = authdProcess(t, env, "", "users", "import", "--format", "django", bad)
	if err == nil || !strings.Contains(errOut, "record 1") {
		t.Errorf("bad import: %v %q, want an error naming record 1", err, errOut)
	}

	s := startServe(t, env)
	// The fixture's known passwords (users/testdata/README.md).
	for _, c := range []struct {
		user, pw string
		want     int
	}{
		{"alice", "alice-Wonderland-1", 200},
		{"ALICE", "alice-Wonderland-1", 200}, // pbkdf2 upgraded to argon2id by the first login
		{"jörg_müller", "Jörg-Passwört-3 ✓", 200},
		{"bob.builder", "can-we-fix-it-2", 400}, // inactive in Django: disabled
		{"carol+admin", "anything at all", 400}, // unusable password in Django
		{"newbie", "anything1", 400},            // in the aborted import
	} {
		if got := login(t, s, c.user, c.pw); got != c.want {
			t.Errorf("login %s: %d, want %d", c.user, got, c.want)
		}
	}
}
