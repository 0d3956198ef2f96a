package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/authd/authd/config"
	"github.com/authd/authd/storage"
)

// The password, refresh and client-credentials grants through the real
// client libraries, and the ID token through go-oidc and the JWKS.
func TestClientLibraries(t *testing.T) {
	e := newEnv(t)
	u := e.addUser("alice", "correct horse battery", func(u *storage.User) {
		u.Email, u.EmailVerified, u.FirstName, u.LastName = "alice@example.com", true, "Alice", "Liddell"
	})
	ctx := context.Background()

	provider, err := oidc.NewProvider(ctx, e.url)
	if err != nil {
		t.Fatalf("discovery through go-oidc: %v", err)
	}
	conf := &oauth2.Config{
		ClientID: spaID,
		Endpoint: provider.Endpoint(),
		Scopes:   []string{oidc.ScopeOpenID, "profile", "email", oidc.ScopeOfflineAccess},
	}
	conf.Endpoint.AuthStyle = oauth2.AuthStyleInParams
	tok, err := conf.PasswordCredentialsToken(ctx, "alice", "correct horse battery")
	if err != nil {
		t.Fatalf("password grant: %v", err)
	}
	if tok.AccessToken == "" || tok.RefreshToken == "" || tok.TokenType != "Bearer" || tok.Expiry.IsZero() {
		t.Fatalf("token = %+v, want access, refresh, Bearer, expiry", tok)
	}
	rawID, _ := tok.Extra("id_token").(string)
	idt, err := provider.Verifier(&oidc.Config{ClientID: spaID, Now: e.clock.Now}).Verify(ctx, rawID)
	if err != nil {
		t.Fatalf("verifying the ID token through go-oidc: %v", err)
	}
	if idt.Subject != u.ID {
		t.Errorf("ID token sub = %q, want the user id %q", idt.Subject, u.ID)
	}
	var idc struct {
		Email         string `json:"email"`
		EmailVerified bool   `json:"email_verified"`
		Username      string `json:"preferred_username"`
		SID           string `json:"sid"`
		AuthTime      int64  `json:"auth_time"`
	}
	if err := idt.Claims(&idc); err != nil {
		t.Fatal(err)
	}
	if idc.Email != "alice@example.com" || !idc.EmailVerified || idc.Username != "alice" || idc.SID == "" || idc.AuthTime == 0 {
		t.Errorf("ID token claims = %+v", idc)
	}

	info, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatalf("userinfo through go-oidc: %v", err)
	}
	if info.Subject != u.ID || info.Email != "alice@example.com" || !info.EmailVerified {
		t.Errorf("userinfo = %+v", info)
	}

	// Refresh through the library: a token source with only a refresh token.
	next, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil {
		t.Fatalf("refresh grant: %v", err)
	}
	if next.RefreshToken == "" || next.RefreshToken == tok.RefreshToken || next.AccessToken == tok.AccessToken {
		t.Errorf("refresh did not rotate: old %q new %q", tok.RefreshToken, next.RefreshToken)
	}

	// Client credentials.
	cc := clientcredentials.Config{ClientID: svcID, ClientSecret: svcSecret, TokenURL: provider.Endpoint().TokenURL, Scopes: []string{"api"}}
	ctok, err := cc.Token(ctx)
	if err != nil {
		t.Fatalf("client credentials: %v", err)
	}
	if ctok.RefreshToken != "" {
		t.Errorf("client_credentials returned a refresh token")
	}
	claims := jwtClaims(t, ctok.AccessToken)
	if claims["sub"] != svcID || claims["client_id"] != svcID || claims["scope"] != "api" {
		t.Errorf("client_credentials claims = %v", claims)
	}
	// client_secret_post works too.
	cc.AuthStyle = oauth2.AuthStyleInParams
	if _, err := cc.Token(ctx); err != nil {
		t.Errorf("client_secret_post: %v", err)
	}
}

// jwtClaims decodes a JWT's payload without verifying it (tests only).
func jwtClaims(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %q", tok)
	}
	return decodeSegment(t, parts[1])
}

func jwtHeader(t *testing.T, tok string) map[string]any {
	t.Helper()
	return decodeSegment(t, strings.Split(tok, ".")[0])
}

func decodeSegment(t *testing.T, seg string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// Access tokens follow RFC 9068 and the claims the README lists.
func TestAccessTokenShape(t *testing.T) {
	e := newEnv(t)
	u := e.addUser("bob", "a long enough password")
	tr := e.login(spaID, "bob", "a long enough password", "scope", "openid offline_access")
	at := str(tr, "access_token")
	h := jwtHeader(t, at)
	kid, alg, _ := e.keys.Active()
	if h["typ"] != "at+jwt" || h["alg"] != alg || h["kid"] != kid {
		t.Errorf("header = %v, want typ at+jwt, alg %s, kid %s", h, alg, kid)
	}
	c := jwtClaims(t, at)
	for _, k := range []string{"iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope", "sid", "auth_time"} {
		if _, ok := c[k]; !ok {
			t.Errorf("access token lacks %s: %v", k, c)
		}
	}
	if c["sub"] != u.ID || c["sub"] == "bob" {
		t.Errorf("sub = %v, want the opaque id %s", c["sub"], u.ID)
	}
	if c["iss"] != e.url || c["aud"] != "api" || c["client_id"] != spaID || c["scope"] != "openid offline_access" {
		t.Errorf("claims = %v", c)
	}
	if got, want := tr["expires_in"], float64(900); got != want {
		t.Errorf("expires_in = %v, want %v", got, want)
	}
	if tr["scope"] != "openid offline_access" {
		t.Errorf("scope = %v", tr["scope"])
	}
	// Without offline_access: no refresh token; without openid: no ID token.
	tr = e.login(spaID, "bob", "a long enough password", "scope", "profile")
	if _, ok := tr["refresh_token"]; ok {
		t.Error("refresh token issued without offline_access")
	}
	if _, ok := tr["id_token"]; ok {
		t.Error("ID token issued without openid")
	}
}

func TestTokenEndpointErrors(t *testing.T) {
	e := newEnv(t)
	e.addUser("carol", "carols password 1")
	e.addUser("dave", "daves password 12", func(u *storage.User) { u.Disabled = true })
	basic := func(id, secret string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
	}
	pw := func(user, pass string) url.Values {
		return url.Values{"grant_type": {"password"}, "client_id": {spaID}, "username": {user}, "password": {pass}}
	}
	tests := []struct {
		name    string
		form    url.Values
		headers []string
		raw     string // a raw body instead of form
		ctype   string
		status  int
		code    string
	}{
		{"no grant_type", url.Values{"client_id": {spaID}}, nil, "", "", 400, "invalid_request"},
		{"unknown grant", url.Values{"grant_type": {"magic"}, "client_id": {spaID}}, nil, "", "", 400, "unsupported_grant_type"},
		{"grant not allowed", url.Values{"grant_type": {"client_credentials"}, "client_id": {spaID}}, nil, "", "", 400, "unauthorized_client"},
		{"no client", url.Values{"grant_type": {"password"}}, nil, "", "", 401, "invalid_client"},
		{"unknown client", url.Values{"grant_type": {"password"}, "client_id": {"nobody"}}, nil, "", "", 401, "invalid_client"},
		{"wrong secret basic", url.Values{"grant_type": {"client_credentials"}}, []string{"Authorization", basic(svcID, "wrong")}, "", "", 401, "invalid_client"},
		{"wrong secret post", url.Values{"grant_type": {"client_credentials"}, "client_id": {svcID}, "client_secret": {"wrong"}}, nil, "", "", 401, "invalid_client"},
		{"confidential without secret", url.Values{"grant_type": {"client_credentials"}, "client_id": {svcID}}, nil, "", "", 401, "invalid_client"},
		{"credentials twice", url.Values{"grant_type": {"client_credentials"}, "client_secret": {svcSecret}}, []string{"Authorization", basic(svcID, svcSecret)}, "", "", 400, "invalid_request"},
		{"bearer as client auth", url.Values{"grant_type": {"client_credentials"}}, []string{"Authorization", "Bearer abc"}, "", "", 401, "invalid_client"},
		{"missing password", url.Values{"grant_type": {"password"}, "client_id": {spaID}, "username": {"carol"}}, nil, "", "", 400, "invalid_request"},
		{"wrong password", pw("carol", "not the password"), nil, "", "", 400, "invalid_grant"},
		{"unknown user", pw("nobody", "carols password 1"), nil, "", "", 400, "invalid_grant"},
		{"disabled user", pw("dave", "daves password 12"), nil, "", "", 400, "invalid_grant"},
		{"scope widening", url.Values{"grant_type": {"password"}, "client_id": {spaID}, "username": {"carol"}, "password": {"carols password 1"}, "scope": {"openid admin"}}, nil, "", "", 400, "invalid_scope"},
		{"client_credentials scope", url.Values{"grant_type": {"client_credentials"}, "scope": {"admin"}}, []string{"Authorization", basic(svcID, svcSecret)}, "", "", 400, "invalid_scope"},
		{"missing refresh_token", url.Values{"grant_type": {"refresh_token"}, "client_id": {spaID}}, nil, "", "", 400, "invalid_request"},
		{"unknown refresh_token", url.Values{"grant_type": {"refresh_token"}, "client_id": {spaID}, "refresh_token": {"nope"}}, nil, "", "", 400, "invalid_grant"},
		{"repeated parameter", nil, nil, "grant_type=password&grant_type=password&client_id=spa", "application/x-www-form-urlencoded", 400, "invalid_request"},
		{"JSON body", nil, nil, `{"grant_type":"password"}`, "application/json", 400, "invalid_request"},
		{"NUL in a value", nil, nil, "grant_type=password&client_id=spa&username=a%00b&password=x", "application/x-www-form-urlencoded", 400, "invalid_request"},
		{"bad encoding", nil, nil, "grant_type=%zz", "application/x-www-form-urlencoded", 400, "invalid_request"},
		{"password over max_length", pw("carol", strings.Repeat("p", 60<<10)), nil, "", "", 400, "invalid_grant"},
		{"huge body", nil, nil, "grant_type=password&password=" + strings.Repeat("a", 70<<10), "application/x-www-form-urlencoded", 413, "request_too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r response
			if tt.form != nil {
				r = e.token(tt.form, tt.headers...)
			} else {
				r = e.do(http.MethodPost, "/oauth2/token", tt.raw, "Content-Type", tt.ctype)
			}
			wantOAuthError(t, r, tt.status, tt.code)
			if tt.status == 401 && r.header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
	t.Run("GET not allowed", func(t *testing.T) {
		r := e.do(http.MethodGet, "/oauth2/token", nil)
		if r.status != http.StatusMethodNotAllowed {
			t.Errorf("status = %d, want 405", r.status)
		}
	})
}

// Unknown user, wrong password and disabled user are indistinguishable.
func TestLoginFailuresLookAlike(t *testing.T) {
	e := newEnv(t)
	e.addUser("erin", "erins password 1")
	e.addUser("frank", "franks password 1", func(u *storage.User) { u.Disabled = true })
	var bodies []string
	for _, c := range [][2]string{{"erin", "wrong password!"}, {"nobody", "erins password 1"}, {"frank", "franks password 1"}} {
		r := e.token(url.Values{"grant_type": {"password"}, "client_id": {spaID}, "username": {c[0]}, "password": {c[1]}})
		bodies = append(bodies, string(r.body))
	}
	if bodies[0] != bodies[1] || bodies[1] != bodies[2] {
		t.Errorf("failure bodies differ:\n%s", strings.Join(bodies, "\n"))
	}
}

// tokens.access_token_claims puts identity claims in access tokens (RFC
// 9068 §2.2.3.1), each only when the token's scope releases it at userinfo.
func TestAccessTokenIdentityClaims(t *testing.T) {
	e := newEnv(t, func(c *config.Config) {
		c.Tokens.AccessTokenClaims = []string{"preferred_username", "email", "email_verified", "name"}
	})
	e.addUser("tia", "tias password 12", func(u *storage.User) { u.Email = "tia@example.com"; u.FirstName = "Tia" })
	payload := func(tok string) map[string]any {
		raw, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	full := payload(str(e.login(spaID, "tia", "tias password 12"), "access_token"))
	if full["preferred_username"] != "tia" || full["email"] != "tia@example.com" || full["email_verified"] != false || full["name"] != "Tia" {
		t.Errorf("access token with profile and email: %v", full)
	}
	narrow := payload(str(e.login(spaID, "tia", "tias password 12", "scope", "openid"), "access_token"))
	for _, c := range []string{"preferred_username", "email", "email_verified", "name"} {
		if _, ok := narrow[c]; ok {
			t.Errorf("access token with openid alone carries %s", c)
		}
	}
}
