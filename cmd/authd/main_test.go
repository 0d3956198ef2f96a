package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestMain lets a test start this binary as a separate authd process: with
// AUTHD_TEST_AS_MAIN=1 the test binary runs main() with its arguments.
func TestMain(m *testing.M) {
	if os.Getenv("AUTHD_TEST_AS_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// authdProcess runs authd with args in a separate process and returns its
// stdout, stderr and error.
func authdProcess(t *testing.T, env map[string]string, stdin string, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "AUTHD_TEST_AS_MAIN=1")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

// syncBuffer is a goroutine-safe log sink that signals each line.
type syncBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	lines chan string
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{lines: make(chan string, 1000)} }

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	for line := range strings.SplitSeq(strings.TrimRight(string(p), "\n"), "\n") {
		select {
		case b.lines <- line:
		default:
		}
	}
	return len(p), nil
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// serveProc is authd serve running in-process.
type serveProc struct {
	url    string
	env    map[string]string
	stderr *syncBuffer
	stop   func() error
}

// testEnv is the environment of a test's authd: its own database file, a
// free port, cheap password hashing and a config file with test clients.
func testEnv(t *testing.T) map[string]string {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "authd.yaml")
	err := os.WriteFile(cfg, []byte(`
database_synchronous: NORMAL
passwords:
  argon2: {memory_kib: 64, iterations: 1, parallelism: 1}
keys:
  algorithm: EdDSA
  reload_interval: 200ms
metrics:
  listen: ""
clients:
  - id: cli-test
    public: true
    grants: [password, refresh_token]
    scopes: [openid, profile, offline_access]
`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"AUTHD_CONFIG":   cfg,
		"AUTHD_DATABASE": filepath.Join(dir, "data", "authd.db"),
		"AUTHD_LISTEN":   "127.0.0.1:0",
	}
}

func startServe(t *testing.T, env map[string]string) *serveProc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stderr := newSyncBuffer()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"authd", "serve"}, func(k string) string { return env[k] }, strings.NewReader(""), io.Discard, stderr)
	}()
	timeout := time.After(30 * time.Second)
	var addr string
	for addr == "" {
		select {
		case line := <-stderr.lines:
			var rec struct {
				Msg     string `json:"msg"`
				Address string `json:"address"`
			}
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "listening" {
				addr = rec.Address
			}
		case err := <-done:
			cancel()
			t.Fatalf("serve stopped early: %v\n%s", err, stderr.String())
		case <-timeout:
			cancel()
			t.Fatalf("serve did not start:\n%s", stderr.String())
		}
	}
	var once sync.Once
	var stopErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case stopErr = <-done:
			case <-time.After(30 * time.Second):
				stopErr = errors.New("serve did not stop")
			}
		})
		return stopErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return &serveProc{url: "http://" + addr, env: env, stderr: stderr, stop: stop}
}

func get(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestServeWithDefaults(t *testing.T) {
	dir := t.TempDir()
	// No config file at all: built-in defaults, but a free port and a
	// database of the test's own.
	env := map[string]string{"AUTHD_DATABASE": filepath.Join(dir, "authd.db"), "AUTHD_LISTEN": "127.0.0.1:0", "AUTHD_METRICS_LISTEN": "127.0.0.1:0"}
	s := startServe(t, env)
	for _, p := range []string{"/healthz", "/readyz"} {
		if code, body := get(t, s.url+p); code != 200 {
			t.Errorf("GET %s = %d %s, want 200", p, code, body)
		}
	}
	// metrics.listen set: /metrics is served there, not on the main listener.
	if code, _ := get(t, s.url+"/metrics"); code != 404 {
		t.Errorf("GET /metrics on the main listener = %d, want 404", code)
	}
	var maddr string
	for line := range strings.SplitSeq(s.stderr.String(), "\n") {
		var rec struct{ Msg, Address string }
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "metrics listening" {
			maddr = rec.Address
		}
	}
	if code, body := get(t, "http://"+maddr+"/metrics"); code != 200 || !strings.Contains(body, "authd_http_requests_total") {
		t.Errorf("GET /metrics on metrics.listen = %d", code)
	}
	if err := s.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if !strings.Contains(s.stderr.String(), `"msg":"stopped"`) {
		t.Errorf("no clean stop in the log:\n%s", s.stderr.String())
	}
}

// An in-flight request finishes after the shutdown signal: the handler is
// already reading its body when shutdown begins, and its answer still
// comes.
func TestGracefulShutdown(t *testing.T) {
	s := startServe(t, testEnv(t))
	addr := strings.TrimPrefix(s.url, "http://")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	body := "grant_type=password&client_id=cli-test&username=nobody&password=whatever1"
	// With Expect: 100-continue the server answers "100 Continue" when the
	// handler first reads the body (RFC 9110 §10.1.1): then the request is
	// in flight, its handler waiting for the body.
	fmt.Fprintf(conn, "POST /oauth2/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n", len(body))
	br := bufio.NewReader(conn)
	cont, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("waiting for 100 Continue: %v", err)
	}
	if cont.StatusCode != http.StatusContinue {
		t.Fatalf("status %d before the body was sent, want 100", cont.StatusCode)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- s.stop() }()
	waitRefused(t, addr) // shutdown has begun
	if _, err := io.WriteString(conn, body); err != nil {
		t.Fatalf("finishing the request: %v", err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("in-flight request got no response: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("in-flight request: status %d, want 400 (invalid_grant)", resp.StatusCode)
	}
	if err := <-stopped; err != nil {
		t.Errorf("serve returned %v", err)
	}
}

// waitRefused waits until addr refuses connections: the server has closed
// its listener, which is the first thing a graceful shutdown does. It fails
// the test after 30 seconds.
func waitRefused(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return
		}
		c.Close()
		time.Sleep(time.Duration(min(i+1, 20)) * time.Millisecond)
	}
	t.Fatalf("%s still accepts connections 30s after the shutdown signal", addr)
}

// login tries the password grant and returns the status.
func login(t *testing.T, s *serveProc, user, pw string) int {
	t.Helper()
	resp, err := http.PostForm(s.url+"/oauth2/token", url.Values{"grant_type": {"password"}, "client_id": {"cli-test"}, "username": {user}, "password": {pw}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// The users commands run in other processes against a running server's
// database.
func TestUsersCommandsAgainstRunningServer(t *testing.T) {
	env := testEnv(t)
	s := startServe(t, env)
	out, errOut, err := authdProcess(t, env, "first password 1\n", "users", "add", "--username", "Zoe", "--email", "zoe@example.com", "--password-stdin")
	if err != nil {
		t.Fatalf("users add: %v %s", err, errOut)
	}
	if !strings.Contains(out, "created user Zoe") {
		t.Errorf("users add said %q", out)
	}
	if got := login(t, s, "zoe", "first password 1"); got != 200 {
		t.Fatalf("login after users add (case-insensitive name): %d", got)
	}
	steps := []struct {
		args  []string
		stdin string
		user  string
		pw    string
		want  int
	}{
		{[]string{"users", "disable", "--username", "zoe"}, "", "zoe", "first password 1", 400},
		{[]string{"users", "enable", "--username", "ZOE"}, "", "zoe", "first password 1", 200},
		{[]string{"users", "set-password", "--username", "zoe", "--password-stdin"}, "second password 2\r\n", "zoe", "first password 1", 400},
		{nil, "", "zoe", "second password 2", 200},
	}
	for _, st := range steps {
		if st.args != nil {
			_, errOut, err := authdProcess(t, env, st.stdin, st.args...)
			if err != nil {
				t.Fatalf("%v: %v %s", st.args, err, errOut)
			}
			if st.args[1] == "disable" && !strings.Contains(errOut, `"event":"user.disabled"`) {
				t.Errorf("users disable wrote no audit event: %q", errOut)
			}
		}
		if got := login(t, s, st.user, st.pw); got != st.want {
			t.Errorf("after %v: login %s/%s = %d, want %d", st.args, st.user, st.pw, got, st.want)
		}
	}
	if strings.Contains(s.stderr.String(), "SQLITE_BUSY") || strings.Contains(s.stderr.String(), "database is locked") {
		t.Errorf("server log shows lock errors:\n%s", s.stderr.String())
	}
}

func TestUsersErrors(t *testing.T) {
	env := testEnv(t)
	getenv := func(k string) string { return env[k] }
	runCmd := func(stdin string, args ...string) (string, error) {
		var out, errb bytes.Buffer
		err := run(context.Background(), append([]string{"authd"}, args...), getenv, strings.NewReader(stdin), &out, &errb)
		return out.String(), err
	}
	if _, err := runCmd("", "migrate"); err != nil { // only migrate and serve create the database
		t.Fatal(err)
	}
	if _, err := runCmd("pw long enough\n", "users", "add", "--username", "amy", "--password-stdin"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		stdin string
		args  []string
		want  string
	}{
		{"duplicate", "pw long enough\n", []string{"users", "add", "--username", "AMY", "--password-stdin"}, "already taken"},
		{"no password flag", "", []string{"users", "add", "--username", "bo"}, "--password-stdin are required"},
		{"empty stdin", "", []string{"users", "add", "--username", "bo", "--password-stdin"}, "no password on stdin"},
		{"short password", "short\n", []string{"users", "add", "--username", "bo", "--password-stdin"}, "password: must be at least 8 characters"},
		// The account API's whole policy, not the length alone.
		{"common password", "password123\n", []string{"users", "add", "--username", "bo", "--password-stdin"}, "password: is too common"},
		{"similar password", "alice alice alice\n", []string{"users", "add", "--username", "alice", "--password-stdin"}, "password: is too similar to the username or email"},
		{"set-password common", "password123\n", []string{"users", "set-password", "--username", "amy", "--password-stdin"}, "users set-password: password: is too common"},
		{"bad username", "pw long enough\n", []string{"users", "add", "--username", "a\u202eb", "--password-stdin"}, "--username"},
		{"bad email", "pw long enough\n", []string{"users", "add", "--username", "bo", "--email", "not an email", "--password-stdin"}, "--email"},
		{"unknown user", "", []string{"users", "disable", "--username", "ghost"}, "no user named"},
		{"unknown flag", "", []string{"users", "add", "--nope"}, "flag provided but not defined"},
		{"unknown subcommand", "", []string{"users", "frobnicate"}, "unknown subcommand"},
		{"unknown command", "", []string{"frobnicate"}, "unknown command"},
		{"import format", "", []string{"users", "import", "--format", "csv", "x"}, "--format must be django"},
		{"import flags after the file", "", []string{"users", "import", "x", "--format", "csv"}, "--format must be django"},
		{"import after --", "", []string{"users", "import", "--format", "django", "--", "--no-such-file"}, "--no-such-file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := runCmd(tt.stdin, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

// Errors leave the process as one line on stderr with a non-zero status.
func TestErrorIsOneLine(t *testing.T) {
	env := testEnv(t)
	cfg := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(cfg, []byte("tokens:\n  access_ttl: soon\nbogus: 1\n"), 0o600)
	env["AUTHD_CONFIG"] = cfg
	_, errOut, err := authdProcess(t, env, "", "migrate")
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() == 0 {
		t.Fatalf("exit: %v, want non-zero", err)
	}
	lines := strings.Split(strings.TrimRight(errOut, "\n"), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "tokens.access_ttl") || !strings.Contains(lines[0], "bogus") {
		t.Errorf("stderr = %q, want one line naming both keys", errOut)
	}
}

func TestHelp(t *testing.T) {
	cmds := [][]string{
		{"help"}, {"serve", "--help"}, {"migrate", "--help"}, {"version", "--help"},
		{"keys", "--help"}, {"keys", "rotate", "--help"}, {"keys", "list", "--help"}, {"keys", "reseal", "--help"},
		{"users", "--help"}, {"users", "add", "--help"}, {"users", "set-password", "--help"},
		{"users", "disable", "--help"}, {"users", "enable", "--help"}, {"users", "import", "--help"},
	}
	for _, c := range cmds {
		var out bytes.Buffer
		err := run(context.Background(), append([]string{"authd"}, c...), func(string) string { return "" }, strings.NewReader(""), &out, io.Discard)
		if err != nil {
			t.Errorf("%v: %v", c, err)
		}
		if !strings.Contains(out.String(), "Usage") {
			t.Errorf("%v printed no usage: %q", c, out.String())
		}
	}
}

func TestMigrateTwice(t *testing.T) {
	env := testEnv(t)
	getenv := func(k string) string { return env[k] }
	var out bytes.Buffer
	if err := run(context.Background(), []string{"authd", "migrate"}, getenv, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "applied 0") {
		t.Errorf("first migrate applied nothing: %q", out.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"authd", "migrate"}, getenv, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "applied 0") {
		t.Errorf("second migrate: %q, want applied 0", out.String())
	}
}

func TestVersion(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"authd", "version"}, func(string) string { return "" }, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "authd ") {
		t.Errorf("version printed %q", out.String())
	}
}

// A client that never finishes its request headers is cut off after
// http.read_header_timeout (slowloris).
func TestSlowHeadersAreCutOff(t *testing.T) {
	env := testEnv(t)
	env["AUTHD_HTTP_READ_HEADER_TIMEOUT"] = "300ms"
	s := startServe(t, env)
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second)) // far beyond the timeout: a bound, not a measurement
	data, err := io.ReadAll(conn)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("the server kept a connection with unfinished headers open")
	}
	if len(data) > 0 && !strings.HasPrefix(string(data), "HTTP/1.1 408") {
		t.Errorf("the server answered %q, want nothing or 408", data)
	}
}
