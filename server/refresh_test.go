package server_test

import (
	"bytes"
	"context"
	"database/sql"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/config"
)

func graceZero(c *config.Config) { c.Tokens.RefreshReuseGrace = 0 }

func TestRefreshRotation(t *testing.T) {
	e := newEnv(t)
	e.addUser("gina", "ginas password 1")
	tr := e.login(spaID, "gina", "ginas password 1")
	rt1 := str(tr, "refresh_token")

	r := e.refresh(spaID, rt1)
	if r.status != 200 {
		t.Fatalf("refresh: %d %s", r.status, r.body)
	}
	got := r.json(t)
	rt2 := str(got, "refresh_token")
	if rt2 == "" || rt2 == rt1 {
		t.Fatalf("refresh token not rotated")
	}
	if jwtClaims(t, str(got, "access_token"))["sid"] != jwtClaims(t, str(tr, "access_token"))["sid"] {
		t.Error("the rotated tokens belong to another session")
	}
	if _, ok := got["id_token"]; ok {
		t.Error("an ID token on refresh: OIDC Core §12.2 lets it be left out, and authd does")
	}

	t.Run("narrowing scope", func(t *testing.T) {
		r := e.token(url.Values{"grant_type": {"refresh_token"}, "client_id": {spaID}, "refresh_token": {rt2}, "scope": {"openid"}})
		if r.status != 200 {
			t.Fatalf("narrowing: %d %s", r.status, r.body)
		}
		m := r.json(t)
		if m["scope"] != "openid" {
			t.Errorf("scope = %v, want openid", m["scope"])
		}
		rt3 := str(m, "refresh_token")
		// The family keeps its original scope: a later refresh may ask for
		// all of it again, but never for more.
		r = e.token(url.Values{"grant_type": {"refresh_token"}, "client_id": {spaID}, "refresh_token": {rt3}, "scope": {"openid admin"}})
		wantOAuthError(t, r, 400, "invalid_scope")
		r = e.token(url.Values{"grant_type": {"refresh_token"}, "client_id": {spaID}, "refresh_token": {rt3}, "scope": {"openid profile email offline_access"}})
		if r.status != 200 {
			t.Errorf("asking for the original scope again: %d %s", r.status, r.body)
		}
	})
}

func TestRefreshBoundToClient(t *testing.T) {
	e := newEnv(t)
	e.addUser("hank", "hanks password 1")
	rt := str(e.login(spaID, "hank", "hanks password 1"), "refresh_token")
	wantOAuthError(t, e.refresh(spa2ID, rt), 400, "invalid_grant")
	// The owner can still use it: a cross-client attempt revokes nothing.
	if r := e.refresh(spaID, rt); r.status != 200 {
		t.Errorf("owner refresh after a cross-client attempt: %d %s", r.status, r.body)
	}
}

func TestRefreshReuse(t *testing.T) {
	t.Run("grace 0 revokes the family", func(t *testing.T) {
		e := newEnv(t, graceZero)
		e.addUser("ivy", "ivys password 12")
		tr := e.login(spaID, "ivy", "ivys password 12")
		rt1 := str(tr, "refresh_token")
		r := e.refresh(spaID, rt1)
		rt2 := str(r.json(t), "refresh_token")
		wantOAuthError(t, e.refresh(spaID, rt1), 400, "invalid_grant") // reuse
		// The whole family is gone: the newest token too, and the access
		// token of the session (after the view catches up, which for this
		// process's own writes is at once).
		wantOAuthError(t, e.refresh(spaID, rt2), 400, "invalid_grant")
		r = e.do(http.MethodGet, "/userinfo", nil, "Authorization", "Bearer "+str(tr, "access_token"))
		if r.status != 401 {
			t.Errorf("userinfo with a token of a revoked family: %d, want 401", r.status)
		}
	})
	t.Run("within grace the same tokens come back", func(t *testing.T) {
		e := newEnv(t)
		e.addUser("jack", "jacks password 1")
		rt1 := str(e.login(spaID, "jack", "jacks password 1"), "refresh_token")
		first := e.refresh(spaID, rt1)
		e.clock.Advance(4 * time.Second) // grace is 5s
		again := e.refresh(spaID, rt1)
		if again.status != 200 || !bytes.Equal(first.body, again.body) {
			t.Fatalf("retry within grace: %d\nfirst %s\nagain %s", again.status, first.body, again.body)
		}
		// The family survived: the new token works.
		if r := e.refresh(spaID, str(first.json(t), "refresh_token")); r.status != 200 {
			t.Errorf("family did not survive a retry within grace: %d %s", r.status, r.body)
		}
	})
	t.Run("another client within grace gets nothing", func(t *testing.T) {
		e := newEnv(t)
		e.addUser("kim", "kims password 12")
		rt1 := str(e.login(spaID, "kim", "kims password 12"), "refresh_token")
		e.refresh(spaID, rt1)
		wantOAuthError(t, e.refresh(spa2ID, rt1), 400, "invalid_grant")
	})
	t.Run("after grace is reuse", func(t *testing.T) {
		e := newEnv(t)
		e.addUser("lee", "lees password 12")
		rt1 := str(e.login(spaID, "lee", "lees password 12"), "refresh_token")
		rt2 := str(e.refresh(spaID, rt1).json(t), "refresh_token")
		e.clock.Advance(6 * time.Second)
		wantOAuthError(t, e.refresh(spaID, rt1), 400, "invalid_grant")
		wantOAuthError(t, e.refresh(spaID, rt2), 400, "invalid_grant")
	})
}

func TestRefreshLifetimes(t *testing.T) {
	e := newEnv(t, func(c *config.Config) {
		c.Tokens.RefreshIdleTTL = time.Hour
		c.Tokens.RefreshAbsoluteTTL = 3 * time.Hour
	})
	e.addUser("mia", "mias password 12")
	t.Run("idle", func(t *testing.T) {
		rt := str(e.login(spaID, "mia", "mias password 12"), "refresh_token")
		e.clock.Advance(time.Hour)
		wantOAuthError(t, e.refresh(spaID, rt), 400, "invalid_grant")
	})
	t.Run("absolute", func(t *testing.T) {
		rt := str(e.login(spaID, "mia", "mias password 12"), "refresh_token")
		for range 3 {
			e.clock.Advance(59 * time.Minute)
			r := e.refresh(spaID, rt)
			if r.status != 200 {
				t.Fatalf("refresh within idle and absolute lifetime: %d %s", r.status, r.body)
			}
			rt = str(r.json(t), "refresh_token")
		}
		e.clock.Advance(4 * time.Minute) // 3h01m after login
		wantOAuthError(t, e.refresh(spaID, rt), 400, "invalid_grant")
	})
}

func TestRefreshDisabledUser(t *testing.T) {
	e := newEnv(t)
	u := e.addUser("ned", "neds password 12")
	rt := str(e.login(spaID, "ned", "neds password 12"), "refresh_token")
	if _, err := e.store.SetDisabled(context.Background(), u.ID, true, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	wantOAuthError(t, e.refresh(spaID, rt), 400, "invalid_grant")
}

// 50 requests race to refresh one token.
func TestRefreshRace(t *testing.T) {
	for _, grace := range []time.Duration{0, 5 * time.Second} {
		t.Run("grace "+grace.String(), func(t *testing.T) {
			e := newEnv(t, func(c *config.Config) { c.Tokens.RefreshReuseGrace = grace })
			e.addUser("olga", "olgas password 1")
			tr := e.login(spaID, "olga", "olgas password 1")
			rt := str(tr, "refresh_token")
			const n = 50
			results := make([]response, n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range n {
				wg.Go(func() {
					<-start
					results[i] = e.refresh(spaID, rt)
				})
			}
			close(start)
			wg.Wait()
			ok := 0
			newTokens := map[string]bool{}
			for _, r := range results {
				if r.status >= 500 {
					t.Fatalf("a racer got %d: %s", r.status, r.body)
				}
				if r.status == 200 {
					ok++
					newTokens[str(r.json(t), "refresh_token")] = true
				} else {
					wantOAuthError(t, r, 400, "invalid_grant")
				}
			}
			sid := jwtClaims(t, str(tr, "access_token"))["sid"].(string)
			live := e.liveTokens(sid)
			if grace == 0 {
				if ok != 1 {
					t.Errorf("%d racers succeeded, want exactly 1", ok)
				}
				// The 49 others presented a spent token: reuse ends the family.
				if live != 0 {
					t.Errorf("%d live tokens in a family revoked for reuse, want 0", live)
				}
				return
			}
			if ok != n || len(newTokens) != 1 {
				t.Errorf("%d of %d succeeded with %d distinct new tokens, want all with 1", ok, n, len(newTokens))
			}
			if live != 1 {
				t.Errorf("%d live tokens in the family, want exactly 1", live)
			}
		})
	}
}

// liveTokens counts the refresh tokens of a session that can still
// rotate: 1 while its family lives, 0 once it has ended.
func (e *testEnv) liveTokens(sid string) int {
	e.t.Helper()
	db, err := sql.Open("sqlite", "file:"+e.dbPath+"?mode=ro")
	if err != nil {
		e.t.Fatal(err)
	}
	defer db.Close()
	var n int
	err = db.QueryRow(`SELECT count(*) FROM sessions WHERE id = ? AND ended_at IS NULL AND refresh_hash IS NOT NULL`, sid).Scan(&n)
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// No raw refresh token reaches the database or its WAL.
func TestNoRawRefreshTokensAtRest(t *testing.T) {
	e := newEnv(t)
	e.addUser("pat", "pats password 12")
	var raw []string
	tr := e.login(spaID, "pat", "pats password 12")
	raw = append(raw, str(tr, "refresh_token"))
	for range 3 {
		r := e.refresh(spaID, raw[len(raw)-1])
		raw = append(raw, str(r.json(t), "refresh_token"))
	}
	files, _ := filepath.Glob(e.dbPath + "*")
	if len(files) < 2 {
		t.Fatalf("want the database and its WAL, found %v", files)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, tok := range raw {
			if bytes.Contains(data, []byte(tok)) {
				t.Errorf("%s holds a raw refresh token", filepath.Base(f))
			}
		}
	}
}
