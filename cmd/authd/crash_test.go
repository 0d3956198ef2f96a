package main

// The crash test: authd serve runs as a separate process under a small
// concurrent load of registrations and refresh-token chains and is killed
// with SIGKILL at random moments, again and again. After each kill the
// database is checked as the dead process left it, and after each restart
// the server is checked over HTTP. It runs shortened in the normal test
// pass (10 kills; 3 with -short); the full run, with 25 kills:
//
//	AUTHD_CRASH_KILLS=25 go test -race -count=1 -run '^TestCrashSafety$' -v ./cmd/authd

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" driver, to read the dead server's file

	"github.com/authd/authd/refresh"
)

// crashPassword is the password of every user of the crash test.
const crashPassword = "crash-Test passphrase 42"

// crashChain is one user chaining refresh tokens: each refresh presents the
// newest token handed out.
type crashChain struct {
	user string
	// newest is the newest refresh token handed out in an answered
	// response, "" when the chain must log in again.
	newest string
	// inFlight says newest was presented in a request that got no answer:
	// the server may or may not have rotated it before it died.
	inFlight bool
	// issued are the refresh tokens handed out in this round (login and
	// rotations), spent those of them presented in an answered rotation.
	issued, spent []string
}

// crashStats are the test's numbers, logged at the end.
type crashStats struct {
	kills, registrations, logins, rotations int
	workedOnce, ambiguous                   int
	rowsChecked                             int
}

// TestCrashSafety kills authd with SIGKILL at random points of a
// registration and refresh load, and checks after each kill and restart:
//
//   - PRAGMA integrity_check of the file the dead process left is "ok";
//   - every user whose registration was answered 201 exists;
//   - the family (session) of every chain holds, as its current token, the
//     newest token handed out in an answered response (or, if that token
//     was presented in a request that got no answer, possibly its
//     successor); so every token presented in an answered rotation is of an
//     earlier generation (spent), and every token handed out is genuine
//     under the family key the database holds;
//   - every refresh token handed out in an answered response and not
//     presented since works exactly once: refreshing with it answers 200,
//     and presenting it again fails with invalid_grant and revokes its
//     family (the token just issued then fails too).
//
// Requests in flight at the kill may have been applied or not; only
// answered ones count. A token presented in a request that got no answer
// may work or fail after the restart, but not work twice.
//
// The server runs with synchronous=FULL (the default) and
// tokens.refresh_reuse_grace=0. With the default grace of 5s, presenting
// a spent token again within 5s is an idempotent retry that answers 200
// with the same new tokens, so "exactly once" could not be told from a
// retry, and the outcome would depend on how long the restart took. With
// grace 0 a second presentation must fail, always, which is what makes
// "works exactly once" checkable.
//
// A SIGKILL loses nothing in the operating system's page cache, so this
// test cannot tell FULL from NORMAL; what it checks is that authd answers
// only after its commit, that a crash leaves a consistent database, and
// that rotation stays exactly-once across restarts.
func TestCrashSafety(t *testing.T) {
	// 10 kills take about 5s under -race on a 2-core machine; 25 about 12s.
	kills := 10
	if testing.Short() {
		kills = 3
	}
	if s := os.Getenv("AUTHD_CRASH_KILLS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			t.Fatalf("AUTHD_CRASH_KILLS=%q: want a number from 1 to 1000", s)
		}
		kills = n
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("AUTHD_CRASH_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("%d kills, AUTHD_CRASH_SEED=%d", kills, seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	start := time.Now()

	env := testEnv(t)
	env["AUTHD_DATABASE_SYNCHRONOUS"] = "FULL"
	env["AUTHD_TOKENS_REFRESH_REUSE_GRACE"] = "0s"
	env["AUTHD_THROTTLE_REGISTRATIONS_PER_HOUR"] = "1000000"

	var (
		mu         sync.Mutex
		registered []string // usernames answered 201
		stats      crashStats
	)
	chains := make([]*crashChain, 4)
	for i := range chains {
		chains[i] = &crashChain{user: fmt.Sprintf("chain-%d", i)}
	}

	p := startProcess(t, env)
	for _, c := range chains {
		if code, body, err := crashRegister(&http.Client{Timeout: 10 * time.Second}, p.url, c.user); err != nil || code != http.StatusCreated {
			t.Fatalf("registering %s: %d %s %v", c.user, code, body, err)
		}
		registered = append(registered, c.user)
	}
	for round := range kills {
		if round > 0 {
			p = startProcess(t, env)
			crashCheckChains(t, p.url, chains, &stats)
		}

		// The load, until the kill.
		tr := &http.Transport{MaxIdleConnsPerHost: 16}
		client := &http.Client{Timeout: 10 * time.Second, Transport: tr}
		ctx, stop := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for _, c := range chains {
			c.issued, c.spent = nil, nil
			wg.Go(func() { crashChainLoad(ctx, t, client, p.url, c) })
		}
		for w := range 2 {
			wg.Go(func() {
				for i := 0; i < 100_000 && ctx.Err() == nil; i++ {
					name := fmt.Sprintf("r%d-w%d-%d", round, w, i)
					code, body, err := crashRegister(client, p.url, name)
					if err != nil {
						return // the server died: the request may or may not have been applied
					}
					if code != http.StatusCreated {
						t.Errorf("registering %s answered %d %s", name, code, body)
						return
					}
					mu.Lock()
					registered = append(registered, name)
					mu.Unlock()
				}
			})
		}
		time.Sleep(time.Duration(5+rng.IntN(495)) * time.Millisecond)
		p.kill()
		stop()
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatal("the load did not stop within 30s of the kill")
		}
		tr.CloseIdleConnections()
		stats.kills++

		// The file as the dead process left it.
		mu.Lock()
		crashCheckDB(t, env["AUTHD_DATABASE"], registered, chains, &stats)
		stats.registrations = len(registered)
		mu.Unlock()
		if t.Failed() {
			t.Fatalf("after kill %d: giving up", round+1)
		}
	}
	p = startProcess(t, env)
	crashCheckChains(t, p.url, chains, &stats)
	p.kill()

	t.Logf("%d kills; %d registrations answered and found; %d logins and %d rotations answered, %d family rows checked; "+
		"%d newest tokens worked exactly once after a restart, %d were in flight at the kill; wall time %s",
		stats.kills, stats.registrations, stats.logins, stats.rotations, stats.rowsChecked,
		stats.workedOnce, stats.ambiguous, time.Since(start).Round(time.Millisecond))
	// With a few kills, every one may have come before any answer.
	if kills >= 5 && (stats.rotations == 0 || stats.workedOnce == 0) {
		t.Errorf("the load did nothing worth checking: %+v", stats)
	}
}

// crashChainLoad logs c in if it has no token, then refreshes with the
// newest token until ctx ends or the server stops answering.
func crashChainLoad(ctx context.Context, t *testing.T, client *http.Client, base string, c *crashChain) {
	for i := 0; i < 100_000 && ctx.Err() == nil; i++ {
		form := url.Values{"grant_type": {"password"}, "client_id": {"cli-test"}, "username": {c.user}, "password": {crashPassword}}
		if c.newest != "" {
			form = refreshForm(c.newest)
			c.inFlight = true
		}
		code, m, err := crashPostForm(client, base+"/oauth2/token", form)
		if err != nil {
			return // no answer: inFlight stays set
		}
		rt, _ := m["refresh_token"].(string)
		if code != http.StatusOK || rt == "" {
			t.Errorf("%s: %s answered %d %v", c.user, form.Get("grant_type"), code, m["error"])
			return
		}
		if c.newest != "" {
			c.spent = append(c.spent, c.newest)
		}
		c.issued = append(c.issued, rt)
		c.newest, c.inFlight = rt, false
	}
}

// crashCheckDB opens the database file of the killed server read-only and
// checks it.
func crashCheckDB(t *testing.T, path string, registered []string, chains []*crashChain, stats *crashStats) {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`PRAGMA integrity_check`)
	if err != nil {
		t.Fatalf("integrity_check: %v", err)
	}
	var problems []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		problems = append(problems, s)
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	if len(problems) != 1 || problems[0] != "ok" {
		t.Errorf("integrity_check = %q, want ok", problems)
	}

	users := map[string]bool{}
	rows, err = db.Query(`SELECT username FROM users`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			t.Fatal(err)
		}
		users[u] = true
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	for _, u := range registered {
		if !users[u] {
			t.Errorf("user %s was answered 201 but is not in the database", u)
		}
	}

	type family struct {
		gen  int64
		hash string
		key  []byte
	}
	// familyOf reads the family a token names, as the database holds it.
	familyOf := func(p refresh.Parsed) (family, bool) {
		var f family
		var gen sql.NullInt64
		var hash sql.NullString
		err := db.QueryRow(`SELECT refresh_gen, refresh_hash, refresh_key FROM sessions WHERE id = ?`, p.FamilyID).Scan(&gen, &hash, &f.key)
		if err == sql.ErrNoRows {
			return f, false
		}
		if err != nil {
			t.Fatal(err)
		}
		stats.rowsChecked++
		f.gen, f.hash = gen.Int64, hash.String
		return f, gen.Valid
	}
	for _, c := range chains {
		if len(c.issued) == 0 {
			continue
		}
		// Every token of this round belongs to the one session its login
		// started.
		newest, err := refresh.Parse(c.issued[len(c.issued)-1])
		if err != nil {
			t.Fatalf("%s: a token handed out does not parse: %v", c.user, err)
		}
		f, ok := familyOf(newest)
		if !ok {
			t.Errorf("%s: the family of a token handed out in an answered response is not in the database", c.user)
			continue
		}
		gen := uint64(f.gen)
		switch {
		case gen == newest.Generation && f.hash == newest.Hash():
		case c.inFlight && gen == newest.Generation+1:
			// The request lost at the kill had rotated it.
		default:
			t.Errorf("%s: family at generation %d, want the newest token handed out (generation %d) as current%s",
				c.user, gen, newest.Generation, map[bool]string{true: " or its successor", false: ""}[c.inFlight])
		}
		for _, tok := range c.issued {
			p, err := refresh.Parse(tok)
			if err != nil || p.FamilyID != newest.FamilyID || !p.Genuine(f.key) || p.Generation > gen {
				t.Errorf("%s: a token handed out is not a genuine generation of the family (%v)", c.user, err)
			}
		}
		for _, tok := range c.spent {
			if p, err := refresh.Parse(tok); err != nil || p.Generation >= gen {
				t.Errorf("%s: a token presented in an answered rotation is still current (%v)", c.user, err)
			}
		}
		stats.rotations += len(c.spent)
		stats.logins += len(c.issued) - len(c.spent)
	}
}

// crashCheckChains checks, against the restarted server, that the newest
// refresh token of every chain works exactly once, and leaves every chain
// to log in again.
func crashCheckChains(t *testing.T, base string, chains []*crashChain, stats *crashStats) {
	client := &http.Client{Timeout: 10 * time.Second}
	for _, c := range chains {
		if c.newest == "" {
			continue
		}
		code, m, err := crashPostForm(client, base+"/oauth2/token", refreshForm(c.newest))
		if err != nil {
			t.Fatalf("%s: refresh after the restart: %v", c.user, err)
		}
		switch {
		case code == http.StatusOK:
			stats.workedOnce++
			next, _ := m["refresh_token"].(string)
			if code, m, err := crashPostForm(client, base+"/oauth2/token", refreshForm(c.newest)); err != nil || code != http.StatusBadRequest || m["error"] != "invalid_grant" {
				t.Errorf("%s: the newest token worked twice: second use answered %d %v %v, want 400 invalid_grant", c.user, code, m["error"], err)
			}
			if code, m, err := crashPostForm(client, base+"/oauth2/token", refreshForm(next)); err != nil || code != http.StatusBadRequest || m["error"] != "invalid_grant" {
				t.Errorf("%s: after reuse, the family's new token answered %d %v %v, want 400 invalid_grant (family revoked)", c.user, code, m["error"], err)
			}
		case c.inFlight && code == http.StatusBadRequest && m["error"] == "invalid_grant":
			// The request lost at the kill had rotated it.
			stats.ambiguous++
		default:
			t.Errorf("%s: a refresh token handed out in an answered response, never presented since, answered %d %v after the restart; want 200",
				c.user, code, m["error"])
		}
		c.newest, c.inFlight = "", false
	}
}

func crashRegister(client *http.Client, base, username string) (int, string, error) {
	body, _ := json.Marshal(map[string]string{"username": username, "password": crashPassword})
	resp, err := client.Post(base+"/account/register", "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, "", err // the answer was cut off: it does not count
	}
	return resp.StatusCode, string(b), nil
}

func crashPostForm(client *http.Client, u string, form url.Values) (int, map[string]any, error) {
	resp, err := client.PostForm(u, form)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, err
	}
	var m map[string]any
	_ = json.Unmarshal(b, &m) // an answer that is not JSON fails its caller's checks
	return resp.StatusCode, m, nil
}
