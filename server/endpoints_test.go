package server_test

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authd/authd/storage"
)

func rsAuth() string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(rsID+":"+rsSecret))
}

func (e *testEnv) introspect(tok string) map[string]any {
	e.t.Helper()
	r := e.do(http.MethodPost, "/oauth2/introspect", url.Values{"token": {tok}}, "Authorization", rsAuth())
	if r.status != 200 {
		e.t.Fatalf("introspect: %d %s", r.status, r.body)
	}
	return r.json(e.t)
}

func (e *testEnv) revoke(clientID, tok string) response {
	e.t.Helper()
	return e.do(http.MethodPost, "/oauth2/revoke", url.Values{"client_id": {clientID}, "token": {tok}})
}

func wantInactive(t *testing.T, m map[string]any) {
	t.Helper()
	if len(m) != 1 || m["active"] != false {
		t.Errorf("introspection = %v, want exactly {\"active\": false}", m)
	}
}

func TestIntrospection(t *testing.T) {
	e := newEnv(t)
	u := e.addUser("quinn", "quinns password")
	tr := e.login(spaID, "quinn", "quinns password")
	at, rt := str(tr, "access_token"), str(tr, "refresh_token")

	m := e.introspect(at)
	if m["active"] != true || m["username"] != "quinn" || m["sub"] != u.ID || m["client_id"] != spaID ||
		m["token_type"] != "Bearer" || m["iss"] != e.url || m["sid"] == nil || m["jti"] == nil || m["exp"] == nil || m["aud"] != "api" {
		t.Errorf("active access token introspection = %v", m)
	}

	t.Run("needs a confidential client", func(t *testing.T) {
		r := e.do(http.MethodPost, "/oauth2/introspect", url.Values{"token": {at}, "client_id": {spaID}})
		wantOAuthError(t, r, 401, "invalid_client")
		r = e.do(http.MethodPost, "/oauth2/introspect", url.Values{"token": {at}})
		wantOAuthError(t, r, 401, "invalid_client")
	})
	t.Run("refresh token only to its client", func(t *testing.T) {
		wantInactive(t, e.introspect(rt)) // rs does not own it
	})
	t.Run("inactive kinds", func(t *testing.T) {
		tampered := at[:len(at)-4] + "AAAA"
		wantInactive(t, e.introspect(tampered))
		wantInactive(t, e.introspect("garbage"))
		wantInactive(t, e.introspect("a.b.c"))
		// disabled user
		v := e.addUser("rita", "ritas password1")
		at2 := str(e.login(spaID, "rita", "ritas password1"), "access_token")
		if _, err := e.store.SetDisabled(t.Context(), v.ID, true, e.clock.Now()); err != nil {
			t.Fatal(err)
		}
		wantInactive(t, e.introspect(at2))
		// revoked session
		at3 := str(e.login(spaID, "quinn", "quinns password"), "access_token")
		if r := e.revoke(spaID, at3); r.status != 200 {
			t.Fatalf("revoke: %d", r.status)
		}
		wantInactive(t, e.introspect(at3))
		// expired
		e.clock.Advance(16 * 60e9)
		wantInactive(t, e.introspect(at))
	})
}

func TestIntrospectRefreshToken(t *testing.T) {
	e := newEnv(t)
	e.addUser("sam", "sams password 12")
	form := url.Values{"grant_type": {"password"}, "username": {"sam"}, "password": {"sams password 12"}}
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(confID+":"+confSec))
	r := e.token(form, "Authorization", basic)
	rt := str(r.json(t), "refresh_token")
	intro := func(tok string) map[string]any {
		r := e.do(http.MethodPost, "/oauth2/introspect", url.Values{"token": {tok}}, "Authorization", basic)
		return r.json(t)
	}
	m := intro(rt)
	if m["active"] != true || m["token_type"] != "refresh_token" || m["username"] != "sam" {
		t.Errorf("refresh introspection = %v", m)
	}
	r = e.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, "Authorization", basic)
	if r.status != 200 {
		t.Fatal(r.status)
	}
	wantInactive(t, intro(rt)) // spent
}

func TestRevocation(t *testing.T) {
	e := newEnv(t)
	e.addUser("tess", "tess password 12")

	t.Run("refresh token ends the family", func(t *testing.T) {
		tr := e.login(spaID, "tess", "tess password 12")
		if r := e.revoke(spaID, str(tr, "refresh_token")); r.status != 200 {
			t.Fatalf("revoke: %d %s", r.status, r.body)
		}
		wantOAuthError(t, e.refresh(spaID, str(tr, "refresh_token")), 400, "invalid_grant")
		wantInactive(t, e.introspect(str(tr, "access_token")))
	})
	t.Run("access token ends its session", func(t *testing.T) {
		tr := e.login(spaID, "tess", "tess password 12")
		r := e.do(http.MethodPost, "/oauth2/revoke", url.Values{"client_id": {spaID}, "token": {str(tr, "access_token")}, "token_type_hint": {"refresh_token"}})
		if r.status != 200 {
			t.Fatalf("revoke: %d", r.status)
		}
		wantOAuthError(t, e.refresh(spaID, str(tr, "refresh_token")), 400, "invalid_grant")
		r = e.do(http.MethodGet, "/userinfo", nil, "Authorization", "Bearer "+str(tr, "access_token"))
		if r.status != 401 || !strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Errorf("userinfo after revocation: %d %q", r.status, r.header.Get("WWW-Authenticate"))
		}
	})
	t.Run("another client's token is left alone", func(t *testing.T) {
		tr := e.login(spaID, "tess", "tess password 12")
		if r := e.revoke(spa2ID, str(tr, "refresh_token")); r.status != 200 {
			t.Fatalf("revoke: %d", r.status)
		}
		if r := e.revoke(spa2ID, str(tr, "access_token")); r.status != 200 {
			t.Fatalf("revoke: %d", r.status)
		}
		if r := e.refresh(spaID, str(tr, "refresh_token")); r.status != 200 {
			t.Errorf("refresh after another client's revocation: %d %s", r.status, r.body)
		}
	})
	t.Run("garbage is 200", func(t *testing.T) {
		for _, tok := range []string{"garbage", "a.b.c", strings.Repeat("x", 2000)} {
			if r := e.revoke(spaID, tok); r.status != 200 {
				t.Errorf("revoke %.10q: %d", tok, r.status)
			}
		}
	})
	t.Run("errors", func(t *testing.T) {
		wantOAuthError(t, e.do(http.MethodPost, "/oauth2/revoke", url.Values{"client_id": {spaID}}), 400, "invalid_request")
		wantOAuthError(t, e.do(http.MethodPost, "/oauth2/revoke", url.Values{"token": {"x"}}), 401, "invalid_client")
	})
}

func TestUserinfo(t *testing.T) {
	e := newEnv(t)
	u := e.addUser("uma", "umas password 12", func(u *storage.User) { u.Email = "uma@example.com" })
	tr := e.login(spaID, "uma", "umas password 12", "scope", "openid profile")
	at := str(tr, "access_token")
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		r := e.do(method, "/userinfo", nil, "Authorization", "Bearer "+at)
		if r.status != 200 {
			t.Fatalf("%s userinfo: %d %s", method, r.status, r.body)
		}
		m := r.json(t)
		if m["sub"] != u.ID || m["preferred_username"] != "uma" {
			t.Errorf("userinfo = %v", m)
		}
		if _, ok := m["email"]; ok {
			t.Error("email released without the email scope")
		}
	}
	// Form-encoded body (RFC 6750 §2.2).
	r := e.do(http.MethodPost, "/userinfo", url.Values{"access_token": {at}})
	if r.status != 200 {
		t.Errorf("userinfo with the token in the body: %d %s", r.status, r.body)
	}
	t.Run("no token", func(t *testing.T) {
		r := e.do(http.MethodGet, "/userinfo", nil)
		if r.status != 401 || r.header.Get("WWW-Authenticate") != `Bearer realm="authd"` {
			t.Errorf("no token: %d %q", r.status, r.header.Get("WWW-Authenticate"))
		}
	})
	t.Run("bad tokens", func(t *testing.T) {
		cc := e.token(url.Values{"grant_type": {"client_credentials"}, "client_id": {svcID}, "client_secret": {svcSecret}})
		idTok := str(e.login(spaID, "uma", "umas password 12"), "id_token")
		for name, tok := range map[string]string{
			"tampered": at[:len(at)-2] + "xx",
			"garbage":  "garbage",
			"id token": idTok, // typ JWT, not at+jwt
		} {
			r := e.do(http.MethodGet, "/userinfo", nil, "Authorization", "Bearer "+tok)
			if r.status != 401 || !strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
				t.Errorf("%s: %d %q", name, r.status, r.header.Get("WWW-Authenticate"))
			}
		}
		r := e.do(http.MethodGet, "/userinfo", nil, "Authorization", "Bearer "+str(cc.json(t), "access_token"))
		if r.status != 403 {
			t.Errorf("client_credentials token at userinfo: %d, want 403 insufficient_scope", r.status)
		}
	})
	t.Run("expired", func(t *testing.T) {
		e.clock.Advance(16 * 60e9)
		r := e.do(http.MethodGet, "/userinfo", nil, "Authorization", "Bearer "+at)
		if r.status != 401 {
			t.Errorf("expired token: %d", r.status)
		}
	})
}

func TestCORS(t *testing.T) {
	e := newEnv(t)
	t.Run("discovery and JWKS answer any origin", func(t *testing.T) {
		for _, p := range []string{"/.well-known/openid-configuration", "/.well-known/jwks.json"} {
			r := e.do(http.MethodGet, p, nil, "Origin", "https://anywhere.example")
			if r.header.Get("Access-Control-Allow-Origin") != "*" {
				t.Errorf("%s: ACAO %q", p, r.header.Get("Access-Control-Allow-Origin"))
			}
		}
	})
	t.Run("allowed origin preflight", func(t *testing.T) {
		r := e.do(http.MethodOptions, "/oauth2/token", nil, "Origin", "https://app.example.com", "Access-Control-Request-Method", "POST")
		if r.status != 204 || r.header.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
			!strings.Contains(r.header.Get("Access-Control-Allow-Methods"), "POST") || r.header.Get("Access-Control-Allow-Credentials") != "" {
			t.Errorf("preflight: %d %v", r.status, r.header)
		}
		if !strings.Contains(strings.Join(r.header.Values("Vary"), ","), "Origin") {
			t.Error("no Vary: Origin")
		}
	})
	t.Run("other origin", func(t *testing.T) {
		for _, o := range []string{"https://evil.example", "https://app.example.com.evil.example", "http://app.example.com"} {
			r := e.do(http.MethodOptions, "/userinfo", nil, "Origin", o, "Access-Control-Request-Method", "GET")
			if r.header.Get("Access-Control-Allow-Origin") != "" {
				t.Errorf("%s allowed", o)
			}
		}
	})
}

func TestDiscoveryGolden(t *testing.T) {
	e := newEnv(t)
	r := e.do(http.MethodGet, "/.well-known/openid-configuration", nil)
	if r.status != 200 {
		t.Fatal(r.status)
	}
	got := strings.ReplaceAll(string(r.body), e.url, "{{ISSUER}}") + "\n"
	golden(t, "discovery.golden.json", got)
	r2 := e.do(http.MethodGet, "/.well-known/oauth-authorization-server", nil)
	if string(r2.body) != string(r.body) {
		t.Error("RFC 8414 metadata differs from the OIDC discovery document")
	}
}

func TestJWKSEndpoint(t *testing.T) {
	e := newEnv(t)
	r := e.do(http.MethodGet, "/.well-known/jwks.json", nil)
	if r.status != 200 || r.header.Get("Cache-Control") != "public, max-age=300" || r.header.Get("ETag") == "" {
		t.Fatalf("jwks: %d %v", r.status, r.header)
	}
	m := r.json(t)
	ks, _ := m["keys"].([]any)
	if len(ks) != 2 {
		t.Errorf("JWKS has %d keys, want active and next", len(ks))
	}
	r = e.do(http.MethodGet, "/.well-known/jwks.json", nil, "If-None-Match", r.header.Get("ETag"))
	if r.status != http.StatusNotModified || len(r.body) != 0 {
		t.Errorf("conditional GET: %d, %d bytes, want 304 and none", r.status, len(r.body))
	}
}

func TestNotFoundIsJSON(t *testing.T) {
	e := newEnv(t)
	r := e.do(http.MethodGet, "/nope", nil)
	wantOAuthError(t, r, 404, "not_found")
}

// golden compares got with testdata/name; go test -update rewrites it.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (go test -update to accept):\n got %s\nwant %s", name, got, want)
	}
}
