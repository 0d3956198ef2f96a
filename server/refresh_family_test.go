package server_test

import (
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"testing"

	"github.com/authd/authd/refresh"
)

// rotateN logs in and refreshes n times, returning every refresh token of
// the family by generation (tokens[1] is the login's) and the session id.
func (e *testEnv) rotateN(username, pw string, n int) ([]string, string) {
	e.t.Helper()
	tokens := make([]string, 1, n+2)
	tokens = append(tokens, str(e.login(spaID, username, pw), "refresh_token"))
	for i := 1; i <= n; i++ {
		r := e.refresh(spaID, tokens[i])
		if r.status != http.StatusOK {
			e.t.Fatalf("rotation %d: %d %s", i, r.status, r.body)
		}
		tokens = append(tokens, str(r.json(e.t), "refresh_token"))
	}
	p, err := refresh.Parse(tokens[n+1])
	if err != nil || p.Generation != uint64(n+1) {
		e.t.Fatalf("after %d rotations the newest token is %+v, %v; want generation %d", n, p, err, n+1)
	}
	return tokens, p.FamilyID
}

// After 1,000 rotations, presenting generation 1, 500 or 999 is reuse and
// ends the family, although none of those tokens is stored anywhere: the
// family key recognises them. (Generation 1,000 is the one the grace
// period covers; TestRefreshReuse checks it.)
func TestRefreshReuseOfAnyGeneration(t *testing.T) {
	if testing.Short() {
		t.Skip("3,000 rotations")
	}
	for _, gen := range []int{1, 500, 999} {
		t.Run(fmt.Sprint("generation ", gen), func(t *testing.T) {
			e := newEnv(t)
			e.addUser("rita", "ritas password 1")
			tokens, sid := e.rotateN("rita", "ritas password 1", 1000)
			if live := e.liveTokens(sid); live != 1 {
				t.Fatalf("%d live tokens before the reuse, want 1", live)
			}
			wantOAuthError(t, e.refresh(spaID, tokens[gen]), http.StatusBadRequest, "invalid_grant")
			if live := e.liveTokens(sid); live != 0 {
				t.Errorf("%d live tokens after generation %d was reused, want 0: the family should have ended", live, gen)
			}
			wantOAuthError(t, e.refresh(spaID, tokens[1001]), http.StatusBadRequest, "invalid_grant")
		})
	}
}

// A token that names a real family but was not minted by the server (its
// tag does not verify under the family key) is invalid and ends nothing,
// at the token, revocation and introspection endpoints: knowing a session
// id, which every access token carries, must not let anyone end a family.
func TestRefreshForgedTokenEndsNothing(t *testing.T) {
	e := newEnv(t)
	e.addUser("fred", "freds password 1")
	tokens, sid := e.rotateN("fred", "freds password 1", 2) // generations 1 to 3
	alter := func(tok string, f func(b []byte)) string {
		b, err := base64.RawURLEncoding.DecodeString(tok[len(refresh.Prefix):])
		if err != nil {
			t.Fatal(err)
		}
		f(b)
		return refresh.Prefix + base64.RawURLEncoding.EncodeToString(b)
	}
	older, _ := refresh.Mint(sid, 1, refresh.NewFamilyKey())
	current, _ := refresh.Mint(sid, 3, refresh.NewFamilyKey())
	forged := map[string]string{
		"older generation, other key":   older,
		"current generation, other key": current,
		"tag altered":                   alter(tokens[1], func(b []byte) { b[len(b)-1] ^= 1 }),
		// The current token relabelled as generation 2: its tag no longer
		// matches.
		"generation altered": alter(tokens[3], func(b []byte) { b[2+len(sid)+7] = 2 }),
	}
	for name, tok := range forged {
		if p, err := refresh.Parse(tok); err != nil || p.FamilyID != sid {
			t.Fatalf("%s: %+v, %v; want a well-formed token of family %s", name, p, err, sid)
		}
		wantOAuthError(t, e.refresh(spaID, tok), http.StatusBadRequest, "invalid_grant")
		if r := e.revoke(spaID, tok); r.status != http.StatusOK {
			t.Errorf("%s: revoke answered %d", name, r.status)
		}
		wantInactive(t, e.introspect(tok))
		if live := e.liveTokens(sid); live != 1 {
			t.Fatalf("%s ended the family", name)
		}
	}
	if r := e.refresh(spaID, tokens[3]); r.status != http.StatusOK {
		t.Errorf("the current token after the forgeries: %d %s", r.status, r.body)
	}
}

// A family migrated from the previous token format (generation 0, no key,
// its token found by hash) rotates into v2 tokens under a new key; its
// legacy token then is merely invalid.
func TestRefreshLegacyToken(t *testing.T) {
	e := newEnv(t)
	e.addUser("lena", "lenas password 1")
	tokens, sid := e.rotateN("lena", "lenas password 1", 1)

	// Make the family what the upgrade makes of a live family of the
	// previous release.
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	legacy := base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(legacy))
	hash := hex.EncodeToString(sum[:])
	db, err := sql.Open("sqlite", "file:"+e.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`UPDATE sessions SET refresh_gen = 0, refresh_key = NULL, refresh_hash = ?, replay = NULL, replay_gen = NULL, replay_until = NULL WHERE id = ?`, []any{hash, sid}},
		{`INSERT INTO legacy_refresh_tokens (hash, session_id) VALUES (?, ?)`, []any{hash, sid}},
	} {
		if _, err := db.Exec(q.sql, q.args...); err != nil {
			t.Fatal(err)
		}
	}

	r := e.refresh(spa2ID, legacy)
	wantOAuthError(t, r, http.StatusBadRequest, "invalid_grant") // another client's
	r = e.refresh(spaID, legacy)
	if r.status != http.StatusOK {
		t.Fatalf("refresh with a legacy token: %d %s", r.status, r.body)
	}
	next := str(r.json(t), "refresh_token")
	if p, err := refresh.Parse(next); err != nil || p.FamilyID != sid || p.Generation != 1 {
		t.Fatalf("the legacy token's successor = %+v, %v; want generation 1 of family %s", p, err, sid)
	}
	// The legacy token is gone (no retry, no reuse detection for it), and
	// the v2 token from before the migration is of another key: both are
	// just invalid, and the family lives.
	wantOAuthError(t, e.refresh(spaID, legacy), http.StatusBadRequest, "invalid_grant")
	wantOAuthError(t, e.refresh(spaID, tokens[2]), http.StatusBadRequest, "invalid_grant")
	if r := e.refresh(spaID, next); r.status != http.StatusOK {
		t.Errorf("refresh with the successor: %d %s", r.status, r.body)
	}
}

// Revoking a genuine token of an earlier generation ends its family, as
// presenting it at the token endpoint would; another client's attempt ends
// nothing.
func TestRevokeOlderGeneration(t *testing.T) {
	e := newEnv(t)
	e.addUser("olaf", "olafs password 1")
	tokens, sid := e.rotateN("olaf", "olafs password 1", 3)
	if r := e.revoke(spa2ID, tokens[2]); r.status != http.StatusOK || e.liveTokens(sid) != 1 {
		t.Fatalf("another client's revocation: %d, live tokens %d; want 200 and the family alive", r.status, e.liveTokens(sid))
	}
	if r := e.revoke(spaID, tokens[2]); r.status != http.StatusOK {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	if live := e.liveTokens(sid); live != 0 {
		t.Errorf("%d live tokens after revoking generation 2 of 4, want 0", live)
	}
	wantOAuthError(t, e.refresh(spaID, tokens[4]), http.StatusBadRequest, "invalid_grant")
}
