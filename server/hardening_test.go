package server_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/config"
)

// The account API accepts only tokens that carry the account scope, and the
// Django-era paths only tokens issued there or carrying it: a token a
// client obtained for openid alone reads nothing of the account.
func TestAccountNeedsAccountScope(t *testing.T) {
	e := newEnv(t)
	e.addUser("sam", "sams password 12")
	narrow := str(e.login(spaID, "sam", "sams password 12", "scope", "openid"), "access_token")
	full := str(e.login(spaID, "sam", "sams password 12"), "access_token")
	for _, p := range []string{"/account/me", "/account/sessions"} {
		r := e.do("GET", p, nil, "Authorization", "Bearer "+narrow)
		if r.status != http.StatusForbidden || !strings.Contains(r.header.Get("WWW-Authenticate"), `error="insufficient_scope", scope="account"`) {
			t.Errorf("GET %s with an openid-only token: %d %q, want 403 insufficient_scope for account", p, r.status, r.header.Get("WWW-Authenticate"))
		}
		if r := e.do("GET", p, nil, "Authorization", "Bearer "+full); r.status != http.StatusOK {
			t.Errorf("GET %s with the account scope: %d %s", p, r.status, r.body)
		}
	}
	if r := e.postJSON("POST", "/account/logout", `{}`, narrow); r.status != http.StatusForbidden {
		t.Errorf("logout with an openid-only token: %d, want 403", r.status)
	}
	if r := e.do("GET", "/rest-auth/user/", nil, "Authorization", "JWT "+narrow); r.status != http.StatusUnauthorized {
		t.Errorf("/rest-auth/user/ with an openid-only token of another client: %d, want 401", r.status)
	}
	if r := e.do("GET", "/rest-auth/user/", nil, "Authorization", "JWT "+full); r.status != http.StatusOK {
		t.Errorf("/rest-auth/user/ with the account scope: %d %s", r.status, r.body)
	}
	// Userinfo still answers the openid-only token, with sub alone.
	if r := e.do("GET", "/userinfo", nil, "Authorization", "Bearer "+narrow); r.status != http.StatusOK || strings.Contains(string(r.body), "sam") {
		t.Errorf("userinfo with openid only: %d %s", r.status, r.body)
	}
}

// A username change needs the current password, at the Django-era paths
// as on the account page: a stolen token cannot rename the account.
func TestUsernameChangeNeedsPassword(t *testing.T) {
	e := newEnv(t)
	e.addUser("ivy", "ivys password 12")
	login := e.postJSON("POST", "/rest-auth/login/", `{"username":"ivy","password":"ivys password 12"}`, "")
	tok := str(login.json(t), "token")
	patch := func(body string) response {
		return e.do("PATCH", "/rest-auth/user/", body, "Content-Type", "application/json", "Authorization", "JWT "+tok)
	}
	if r := patch(`{"username":"ivy2"}`); r.status != http.StatusBadRequest || !strings.Contains(string(r.body), `"password"`) {
		t.Errorf("rename without the password: %d %s, want 400 on password", r.status, r.body)
	}
	if r := patch(`{"username":"ivy2","password":"wrong one 12"}`); r.status != http.StatusBadRequest {
		t.Errorf("rename with a wrong password: %d %s, want 400", r.status, r.body)
	}
	if r := patch(`{"username":"ivy2","password":"ivys password 12"}`); r.status != http.StatusOK || !strings.Contains(string(r.body), `"ivy2"`) {
		t.Errorf("rename with the password: %d %s", r.status, r.body)
	}
	if r := patch(`{"first_name":"Ivy"}`); r.status != http.StatusOK {
		t.Errorf("a name change without the password: %d %s", r.status, r.body)
	}
}

// Registration limits count an IPv6 client by its /64, as the login
// throttle does: rotating through one subscriber's addresses buys nothing.
func TestRegistrationLimitPerIPv6Prefix(t *testing.T) {
	e := newEnv(t, func(c *config.Config) {
		c.Throttle.RegistrationsPerHour = 2
		c.HTTP.TrustedProxies = []string{"127.0.0.1/32"}
	})
	for i, addr := range []string{"2001:db8::2", "2001:db8::3", "2001:db8::4"} {
		body := `{"username":"v6user` + string(rune('a'+i)) + `","password":"a fine password 1"}`
		r := e.postJSON("POST", "/account/register", body, "", "X-Forwarded-For", addr)
		want := http.StatusCreated
		if i == 2 {
			want = http.StatusTooManyRequests
		}
		if r.status != want {
			t.Errorf("registration %d from %s: %d, want %d (%s)", i+1, addr, r.status, want, r.body)
		}
	}
	// Another /64 is another client.
	if r := e.postJSON("POST", "/account/register", `{"username":"v6other","password":"a fine password 1"}`, "", "X-Forwarded-For", "2001:db8:0:1::2"); r.status != http.StatusCreated {
		t.Errorf("registration from another /64: %d %s", r.status, r.body)
	}
}

// Reset confirmations look the token up before hashing the new password,
// and are limited per address: a flood of made-up tokens costs no hashing
// and soon stops.
func TestResetConfirmChecksTokenFirstAndIsLimited(t *testing.T) {
	e := newEnv(t, func(c *config.Config) { c.Throttle.ResetRequestsPerHour = 1 })
	var last response
	for i := range 12 {
		last = e.postJSON("POST", "/account/password/reset/confirm", `{"token":"made-up-token-`+string(rune('a'+i))+`","new_password":"a new password 12"}`, "")
		if i < 10 && last.status != http.StatusBadRequest {
			t.Fatalf("confirmation %d with a made-up token: %d %s, want 400", i+1, last.status, last.body)
		}
	}
	if last.status != http.StatusTooManyRequests || last.header.Get("Retry-After") == "" {
		t.Errorf("past the per-address limit: %d %q, want 429 with Retry-After", last.status, last.header.Get("Retry-After"))
	}
	if n, _ := e.hasher.Stats(); n != 0 {
		t.Errorf("hashes in flight after the flood: %d", n)
	}
}

// A revoked access token stays revoked for the clock skew past its exp
// (verification accepts it until exp + skew), and introspection answers
// for this server's clock alone: an expired token is inactive at once.
func TestRevokedTokenStaysRevokedThroughSkew(t *testing.T) {
	e := newEnv(t, func(c *config.Config) { c.Tokens.AccessTTL = 30 * time.Second })
	e.addUser("rex", "rexs password 12")
	tr := e.login(confID, "rex", "rexs password 12", "client_secret", confSec)
	at := str(tr, "access_token")
	if r := e.do(http.MethodPost, "/oauth2/revoke", url.Values{"client_id": {confID}, "client_secret": {confSec}, "token": {at}}); r.status != 200 {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	e.clock.Advance(40 * time.Second) // past exp, within the skew
	wantInactive(t, e.introspect(at))
	// Let the revocation poll run at the new time (it reads the clock every
	// second); the token must still be refused.
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		r := e.do("GET", "/userinfo", nil, "Authorization", "Bearer "+at)
		if r.status != http.StatusUnauthorized {
			t.Fatalf("userinfo with a revoked token %s after exp: %d %s", time.Since(deadline.Add(-3*time.Second)).Round(time.Millisecond), r.status, r.body)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Introspection applies no skew: a token just past its exp is inactive,
// although verification would still accept it for the skew.
func TestIntrospectionNoSkew(t *testing.T) {
	e := newEnv(t, func(c *config.Config) { c.Tokens.AccessTTL = 30 * time.Second })
	e.addUser("sky", "skys password 12")
	at := str(e.login(spaID, "sky", "skys password 12"), "access_token")
	if m := e.introspect(at); m["active"] != true {
		t.Fatalf("fresh token inactive: %v", m)
	}
	e.clock.Advance(31 * time.Second)
	wantInactive(t, e.introspect(at))
}
