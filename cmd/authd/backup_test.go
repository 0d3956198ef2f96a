package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// runCLI runs one authd command in-process and returns its stdout.
func runCLI(t *testing.T, env map[string]string, stdin string, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(t.Context(), append([]string{"authd"}, args...), func(k string) string { return env[k] }, strings.NewReader(stdin), &out, &errb)
	if err != nil {
		return out.String(), fmt.Errorf("%w (stderr: %s)", err, errb.String())
	}
	return out.String(), nil
}

// chainStep is one refresh token of a chain, with when it came and went.
type chainStep struct {
	token string
	// sent is when the request that issued the token (login or the
	// rotation of the previous token) was sent, received when its answer
	// came back.
	sent, received time.Time
	// presented is when the token was sent for rotation; zero if never.
	presented time.Time
}

// tokenRequest posts form to the token endpoint and returns the status and
// the refresh token of the answer. It is safe in any goroutine.
func tokenRequest(base string, form url.Values) (int, string, error) {
	resp, err := http.PostForm(base+"/oauth2/token", form)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var body struct {
		RefreshToken string `json:"refresh_token"`
		Error        string `json:"error"`
	}
	data, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(data, &body)
	if resp.StatusCode == 200 && body.RefreshToken == "" {
		return resp.StatusCode, "", fmt.Errorf("no refresh token in %s", data)
	}
	if resp.StatusCode != 200 && body.Error != "invalid_grant" {
		return resp.StatusCode, "", fmt.Errorf("status %d: %s", resp.StatusCode, data)
	}
	return resp.StatusCode, body.RefreshToken, nil
}

func passwordForm(user, pw string) url.Values {
	return url.Values{"grant_type": {"password"}, "client_id": {"cli-test"}, "username": {user}, "password": {pw}}
}

// chain logs user in and rotates its refresh token until stop is closed,
// n rotations are done or the deadline passes, recording every step.
func chain(base, user, pw string, n int, stop <-chan struct{}, deadline time.Time, progress func()) ([]chainStep, error) {
	sent := time.Now()
	code, rt, err := tokenRequest(base, passwordForm(user, pw))
	if err != nil || code != 200 {
		return nil, fmt.Errorf("login %s: %d %v", user, code, err)
	}
	steps := []chainStep{{token: rt, sent: sent, received: time.Now()}}
	for range n {
		select {
		case <-stop:
			return steps, nil
		default:
		}
		if time.Now().After(deadline) {
			return steps, nil
		}
		last := &steps[len(steps)-1]
		last.presented = time.Now()
		code, next, err := tokenRequest(base, refreshForm(last.token))
		if err != nil || code != 200 {
			return steps, fmt.Errorf("refresh %s: %d %v", user, code, err)
		}
		steps = append(steps, chainStep{token: next, sent: last.presented, received: time.Now()})
		if progress != nil {
			progress()
		}
	}
	return steps, nil
}

func jwksKids(t *testing.T, base string) []string {
	t.Helper()
	code, body := get(t, base+"/.well-known/jwks.json")
	if code != 200 {
		t.Fatalf("GET jwks: %d %s", code, body)
	}
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.Unmarshal([]byte(body), &set); err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.Kid)
	}
	return kids
}

// TestBackupUnderRefreshLoad backs up a serving database while refresh
// chains rotate tokens as fast as they can, then serves the restored copy
// and checks what a point-in-time copy must hold:
//
//   - every user created before the backup logs in, and a user created
//     after it does not exist;
//   - the JWKS publishes every key the original published;
//   - a chain that stopped rotating before the backup: its last refresh
//     token works;
//   - a chain rotating through the backup: exactly the token that was live
//     at the copy's snapshot works. The snapshot is taken at some moment
//     between the start (T0) and the end (T1) of the backup, so that token
//     is the last one answered before T0 or a later one whose issuing
//     request was sent before T1; tokens issued by requests sent after T1
//     are unknown to the copy. When the last token answered before T0 was
//     not presented until T1, the snapshot cannot have rotated it and it is
//     that token which must work.
//
// Refresh reuse grace is 0, so a spent token is never answered as a retry;
// tokens are tried newest first and the scan stops at the first that works,
// because presenting a spent token would (rightly) revoke the family.
// Presenting a token the copy does not know has no effect.
func TestBackupUnderRefreshLoad(t *testing.T) {
	env := testEnv(t)
	env["AUTHD_TOKENS_REFRESH_REUSE_GRACE"] = "0s"
	const pw = "backup test pw 1"
	users := []string{"busy-0", "busy-1", "busy-2", "idle", "quiet"}
	if _, err := runCLI(t, env, "", "migrate"); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	for _, u := range users {
		if _, err := runCLI(t, env, pw+"\n", "users", "add", "--username", u, "--password-stdin"); err != nil {
			t.Fatalf("users add %s: %v", u, err)
		}
	}
	s := startServe(t, env)
	kids := jwksKids(t, s.url)
	if len(kids) == 0 {
		t.Fatal("the JWKS is empty")
	}

	// The idle chain rotates twice, then rests through the backup.
	idle, err := chain(s.url, "idle", pw, 2, nil, time.Now().Add(time.Minute), nil)
	if err != nil {
		t.Fatal(err)
	}

	const busy = 3
	deadline := time.Now().Add(20 * time.Second)
	stop := make(chan struct{})
	var mu sync.Mutex
	rotations := make([]int, busy)
	steps := make([][]chainStep, busy)
	errs := make([]error, busy)
	var wg sync.WaitGroup
	for i := range busy {
		wg.Go(func() {
			steps[i], errs[i] = chain(s.url, users[i], pw, 3000, stop, deadline, func() {
				mu.Lock()
				rotations[i]++
				mu.Unlock()
			})
		})
	}
	waitRotations := func(atLeast int) {
		for time.Now().Before(deadline) {
			mu.Lock()
			low := min(rotations[0], rotations[1], rotations[2])
			mu.Unlock()
			if low >= atLeast {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitRotations(10)

	backup := filepath.Join(t.TempDir(), "backups", "authd-backup.db")
	t0 := time.Now()
	out, err := runCLI(t, env, "", "backup", backup)
	t1 := time.Now()
	if err != nil {
		close(stop)
		wg.Wait()
		t.Fatalf("backup: %v", err)
	}
	mu.Lock()
	atBackup := min(rotations[0], rotations[1], rotations[2])
	mu.Unlock()
	waitRotations(atBackup + 10) // the load goes on after the backup
	close(stop)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("chain %d: %v", i, err)
		}
	}
	t.Logf("%s (%v)", strings.TrimSpace(out), t1.Sub(t0).Round(time.Millisecond))
	if !strings.HasPrefix(out, "backup "+backup+": ") || !slices.Contains(strings.Fields(out), "users=5") {
		t.Errorf("backup printed %q, want its path and users=5", out)
	}
	if _, err := runCLI(t, env, pw+"\n", "users", "add", "--username", "late", "--password-stdin"); err != nil {
		t.Fatal(err)
	}
	if err := s.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}

	// Restore: the copy alone, as the database file of a new server.
	env2 := maps.Clone(env)
	env2["AUTHD_DATABASE"] = filepath.Join(t.TempDir(), "restored", "authd.db")
	if err := os.MkdirAll(filepath.Dir(env2["AUTHD_DATABASE"]), 0o700); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(backup)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(env2["AUTHD_DATABASE"], data, 0o600); err != nil {
		t.Fatal(err)
	}
	r := startServe(t, env2)

	restoredKids := jwksKids(t, r.url)
	for _, k := range kids {
		if !strings.Contains(strings.Join(restoredKids, " "), k) {
			t.Errorf("the restored JWKS %v lacks key %s", restoredKids, k)
		}
	}
	for _, u := range users {
		if code := login(t, r, u, pw); code != 200 {
			t.Errorf("login %s on the restored copy: %d", u, code)
		}
	}
	if code := login(t, r, "late", pw); code != 400 {
		t.Errorf("user created after the backup logs in on the restored copy: %d", code)
	}

	if code, _, err := tokenRequest(r.url, refreshForm(idle[len(idle)-1].token)); err != nil || code != 200 {
		t.Errorf("the idle chain's last refresh token on the restored copy: %d %v", code, err)
	}

	for i, st := range steps {
		// a: the last token answered before the backup began.
		a := -1
		for k, s := range st {
			if s.received.Before(t0) {
				a = k
			}
		}
		if a < 0 {
			t.Fatalf("chain %d had no token before the backup", i)
		}
		live := -1
		for k := len(st) - 1; k >= 0; k-- {
			code, _, err := tokenRequest(r.url, refreshForm(st[k].token))
			if err != nil {
				t.Fatalf("chain %d token %d: %v", i, k, err)
			}
			if code == 200 {
				live = k
				break
			}
		}
		switch {
		case live < 0:
			t.Errorf("chain %d: no token of %d works on the restored copy", i, len(st))
		case live < a:
			t.Errorf("chain %d: token %d works, but token %d was answered before the backup began", i, live, a)
		case !st[live].sent.Before(t1):
			t.Errorf("chain %d: token %d works, but it was requested after the backup ended", i, live)
		case (st[a].presented.IsZero() || !st[a].presented.Before(t1)) && live != a:
			t.Errorf("chain %d: token %d works, want %d, which was not presented before the backup ended", i, live, a)
		}
		t.Logf("chain %d: %d tokens; last before the backup %d (presented %v after its start); live in the copy %d",
			i, len(st), a, st[a].presented.Sub(t0).Round(time.Microsecond), live)
	}
}

func TestBackupErrors(t *testing.T) {
	env := testEnv(t)
	dir := t.TempDir()
	if _, err := runCLI(t, env, "", "backup", filepath.Join(dir, "b.db")); err == nil || !strings.Contains(err.Error(), "database") {
		t.Errorf("backup of a database that does not exist: %v", err)
	}
	if _, err := os.Stat(env["AUTHD_DATABASE"]); err == nil {
		t.Error("backup created the missing database")
	}
	if _, err := runCLI(t, env, "", "migrate"); err != nil {
		t.Fatal(err)
	}
	existing := filepath.Join(dir, "exists.db")
	os.WriteFile(existing, []byte("keep me"), 0o600)
	if _, err := runCLI(t, env, "", "backup", existing); err == nil || !strings.Contains(err.Error(), "refusing to overwrite") {
		t.Errorf("backup over an existing file: %v", err)
	}
	if b, _ := os.ReadFile(existing); string(b) != "keep me" {
		t.Errorf("the existing file was changed")
	}
	if _, err := runCLI(t, env, "", "backup"); err == nil || !strings.Contains(err.Error(), "want exactly one FILE") {
		t.Errorf("backup without FILE: %v", err)
	}
	if out, err := runCLI(t, env, "", "backup", "--help"); err != nil || !strings.Contains(out, "Usage: authd backup") {
		t.Errorf("backup --help: %v %q", err, out)
	}
}
