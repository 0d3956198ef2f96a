package server_test

// Fuzz targets for the parsers of untrusted input at the HTTP edge: the
// token endpoint's form parser and client authentication, the client
// authentication header, bearer tokens at /userinfo and /oauth2/introspect,
// and the account API's JSON decoders. Each drives the whole handler stack
// (routing, middleware, error handler) of a real server on a real SQLite
// file through ServeHTTP, and checks what a client can rely on, not only
// that nothing panics. The seeds run in the normal test pass; to fuzz one:
//
//	go test -run '^$' -fuzz '^FuzzTokenEndpoint$' -fuzztime 5m -parallel 1 ./server

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"github.com/authd/authd/token"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/config"
	"github.com/authd/authd/keys"
	"github.com/authd/authd/storage"
)

// fzPassword is the password of the fuzz targets' users.
const fzPassword = "correct horse battery 9"

// fzNoThrottle lifts the login and registration limits, which a fuzzer
// would otherwise hit within its first second and then explore only the
// 429 path.
func fzNoThrottle(c *config.Config) {
	c.Throttle.AccountFailures, c.Throttle.AddressFailures = 1<<30, 1<<30
	c.Throttle.RegistrationsPerHour, c.Throttle.ResetRequestsPerHour = 1<<30, 1<<30
}

// fzTB is the testing.TB the fuzz targets give newEnv: the server's and
// the SMTP server's log lines are dropped, since *testing.F must not log
// once the fuzz function runs (it panics), and under -v newEnv logs through
// it.
type fzTB struct{ *testing.F }

func (fzTB) Log(...any)          {}
func (fzTB) Logf(string, ...any) {}

// fzEnv is newEnv for a fuzz target.
func fzEnv(f *testing.F, mutate ...func(*config.Config)) *testEnv {
	f.Helper()
	return newEnv(fzTB{f}, append([]func(*config.Config){fzNoThrottle}, mutate...)...)
}

// fzHeader is a header value as authd's http.Server hands it to a handler:
// a value with a control character other than tab never gets there (the
// server answers 400 itself), and surrounding blanks are trimmed.
func fzHeader(v string) (string, bool) {
	for i := 0; i < len(v); i++ {
		if b := v[i]; (b < 0x20 && b != '\t') || b == 0x7f {
			return "", false
		}
	}
	return strings.Trim(v, " \t"), true
}

// fzServe sends one request through the server's handler, without the
// network.
func fzServe(e *testEnv, method, path, ctype, authz string, body []byte) response {
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	req.RemoteAddr = "192.0.2.1:1234"
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, req)
	return response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

// fzCheck holds every API response to authd's rules: never a 5xx for a
// client's input; JSON with Cache-Control: no-store; a 4xx names its error
// (RFC 6749 §5.2 characters) and a 401 carries WWW-Authenticate, a 429
// Retry-After. It returns the error code ("" for a success).
func fzCheck(t *testing.T, what string, r response) string {
	t.Helper()
	if r.status >= 500 {
		t.Fatalf("%s: status %d, want < 500 (body %s)", what, r.status, r.body)
	}
	if r.status == http.StatusNoContent {
		if len(r.body) != 0 {
			t.Fatalf("%s: 204 with a body %q", what, r.body)
		}
		return ""
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s: status %d, Content-Type %q, want application/json (body %q)", what, r.status, ct, r.body)
	}
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("%s: status %d, Cache-Control %q, want no-store", what, r.status, cc)
	}
	if r.status < 400 {
		if !json.Valid(r.body) {
			t.Fatalf("%s: status %d, body %q is not JSON", what, r.status, r.body)
		}
		return ""
	}
	var body struct {
		Error       *string           `json:"error"`
		Description *string           `json:"error_description"`
		Fields      map[string]string `json:"fields"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatalf("%s: status %d, body %q is not an error object: %v", what, r.status, r.body, err)
	}
	if body.Error == nil || *body.Error == "" {
		t.Fatalf("%s: status %d, body %q has no error member", what, r.status, r.body)
	}
	// RFC 6749 §5.2: error is %x20-21 / %x23-5B / %x5D-7E.
	if strings.ContainsFunc(*body.Error, func(c rune) bool { return c < 0x20 || c > 0x7e || c == '"' || c == '\\' }) {
		t.Fatalf("%s: error code %q has characters RFC 6749 §5.2 excludes", what, *body.Error)
	}
	if r.status == http.StatusUnauthorized && r.header.Get("WWW-Authenticate") == "" {
		t.Fatalf("%s: 401 %s without WWW-Authenticate", what, *body.Error)
	}
	if r.status == http.StatusTooManyRequests && r.header.Get("Retry-After") == "" {
		t.Fatalf("%s: 429 without Retry-After", what)
	}
	return *body.Error
}

// fzUnescape is RFC 6749 §2.3.1's decoding of the Basic credentials:
// form-urlencoded, taken as they are when they do not decode.
func fzUnescape(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

// fzTokenResponse is a successful token response.
type fzTokenResponse = token.Response

// fzLogin runs a password grant and returns its tokens. authz, when set,
// authenticates a confidential client.
func fzLogin(tb testing.TB, e *testEnv, clientID, authz, username string) fzTokenResponse {
	tb.Helper()
	form := url.Values{"grant_type": {"password"}, "username": {username}, "password": {fzPassword}}
	if authz == "" {
		form.Set("client_id", clientID)
	}
	r := fzServe(e, http.MethodPost, "/oauth2/token", "application/x-www-form-urlencoded", authz, []byte(form.Encode()))
	var tr fzTokenResponse
	if r.status != http.StatusOK || json.Unmarshal(r.body, &tr) != nil || tr.AccessToken == "" {
		tb.Fatalf("login %s at %s: status %d, body %s", username, clientID, r.status, r.body)
	}
	return tr
}

func fzBasic(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// fzAccess are the claims of an access token the fuzz targets look at.
type fzAccess struct {
	Subject   string `json:"sub"`
	ClientID  string `json:"client_id"`
	SessionID string `json:"sid"`
	ID        string `json:"jti"`
	Scope     string `json:"scope"`
}

func fzVerify(e *testEnv, tok string) (fzAccess, error) {
	var ac fzAccess
	err := e.keys.Verify(tok, keys.Expected{Type: keys.TypeAccessToken, Issuer: e.cfg.Issuer, Now: e.clock.Now()}, &ac)
	return ac, err
}

// FuzzTokenEndpoint sends arbitrary bodies, content types and Authorization
// headers to POST /oauth2/token. In a body, $RT stands for a fresh refresh
// token of the public client spa and $CRT for one of the confidential
// client webapp, so the fuzzer reaches the rotation path too.
//
// Properties: fzCheck's; invalid_client exactly when the status is 401; a
// 200 carries a Bearer access token that verifies, and is never given to a
// confidential client whose secret the request did not hold, nor for the
// password grant without the user's password.
func FuzzTokenEndpoint(f *testing.F) {
	e := fzEnv(f)
	alice := e.addUser("alice", fzPassword)
	const form = "application/x-www-form-urlencoded"
	pw := url.QueryEscape(fzPassword)
	seeds := []struct{ body, ctype, authz string }{
		{"grant_type=password&client_id=spa&username=alice&password=" + pw, form, ""},
		{"grant_type=password&client_id=spa&username=ALICE&password=" + pw + "&scope=openid+offline_access", form + "; charset=utf-8", ""},
		{"grant_type=password&client_id=spa&username=alice&password=wrong+password", form, ""},
		{"grant_type=password&username=alice&password=" + pw, form, fzBasic(confID, confSec)},
		{"grant_type=password&client_id=webapp&client_secret=" + url.QueryEscape(confSec) + "&username=alice&password=" + pw, form, ""},
		{"grant_type=refresh_token&client_id=spa&refresh_token=$RT", form, ""},
		{"grant_type=refresh_token&client_id=spa2&refresh_token=$RT", form, ""},
		{"grant_type=refresh_token&refresh_token=$CRT&scope=openid", form, fzBasic(confID, confSec)},
		{"grant_type=refresh_token&client_id=spa&refresh_token=$RT&scope=admin", form, ""},
		{"grant_type=client_credentials&scope=api", form, fzBasic(svcID, svcSecret)},
		{"grant_type=client_credentials&client_id=svc&client_secret=" + svcSecret, form, ""},
		{"grant_type=client_credentials&client_id=svc&client_secret=nope", form, ""},
		{"grant_type=client_credentials&client_id=svc", form, ""},
		{"grant_type=client_credentials&client_secret=" + svcSecret, form, fzBasic(svcID, svcSecret)},
		{"grant_type=client_credentials&client_id=rs", form, fzBasic(svcID, svcSecret)},
		{"grant_type=client_credentials", form, "Basic " + base64.StdEncoding.EncodeToString([]byte("%73vc:svc-secret-0123456789"))},
		{"grant_type=client_credentials", form, "Bearer abc"},
		{"grant_type=client_credentials", form, "Basic !!!"},
		{"grant_type=client_credentials&scope=admin", form, fzBasic(svcID, svcSecret)},
		{"grant_type=client_credentials&client_id=spa", form, ""},
		{"grant_type=password&client_id=spa&client_secret=x&username=alice&password=" + pw, form, ""},
		{"grant_type=authorization_code&client_id=spa&code=abc&redirect_uri=http%3A%2F%2Fx", form, ""},
		{"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&client_id=spa", form, ""},
		{"grant_type=password&grant_type=refresh_token&client_id=spa", form, ""},
		{"grant_type=password&client_id=spa&username=alice%00&password=x", form, ""},
		{"grant_type=%zz", form, ""},
		{"", form, ""},
		{"client_id=spa", form, ""},
		{`{"grant_type":"client_credentials"}`, "application/json", fzBasic(svcID, svcSecret)},
		{"grant_type=client_credentials", "", fzBasic(svcID, svcSecret)},
		{"grant_type=client_credentials", "multipart/form-data; boundary=x", fzBasic(svcID, svcSecret)},
		{"grant_type=password&client_id=spa&username=alice&password=" + strings.Repeat("a", 70<<10), form, ""},
		{"grant_type=password&client_id=spa&username=" + strings.Repeat("%C3%A9", 300) + "&password=" + strings.Repeat("x", 3000), form, ""},
	}
	for _, s := range seeds {
		f.Add([]byte(s.body), s.ctype, s.authz)
	}
	secrets := map[string]string{svcID: svcSecret, rsID: rsSecret, confID: confSec}
	f.Fuzz(func(t *testing.T, body []byte, ctype, authz string) {
		ctype, ok1 := fzHeader(ctype)
		authz, ok2 := fzHeader(authz)
		if !ok1 || !ok2 {
			return
		}
		if bytes.Contains(body, []byte("$CRT")) {
			rt := fzLogin(t, e, confID, fzBasic(confID, confSec), "alice").RefreshToken
			body = bytes.ReplaceAll(body, []byte("$CRT"), []byte(rt))
		}
		if bytes.Contains(body, []byte("$RT")) {
			rt := fzLogin(t, e, spaID, "", "alice").RefreshToken
			body = bytes.ReplaceAll(body, []byte("$RT"), []byte(rt))
		}
		r := fzServe(e, http.MethodPost, "/oauth2/token", ctype, authz, body)
		code := fzCheck(t, "token endpoint", r)
		if (code == "invalid_client") != (r.status == http.StatusUnauthorized) {
			t.Fatalf("status %d with error %q: invalid_client must come with 401 and only with it", r.status, code)
		}
		if r.status != http.StatusOK {
			return
		}
		var tr fzTokenResponse
		if err := json.Unmarshal(r.body, &tr); err != nil || tr.TokenType != "Bearer" || tr.ExpiresIn <= 0 {
			t.Fatalf("200 with body %s", r.body)
		}
		ac, err := fzVerify(e, tr.AccessToken)
		if err != nil {
			t.Fatalf("200 with an access token that does not verify: %v", err)
		}
		// The server parsed this same body; a 200 means it parses.
		got, err := url.ParseQuery(string(body))
		if err != nil {
			t.Fatalf("200 for a body that is not form encoding: %q", body)
		}
		if secret, confidential := secrets[ac.ClientID]; confidential {
			req := http.Request{Header: http.Header{"Authorization": {authz}}}
			user, pass, isBasic := req.BasicAuth()
			held := (isBasic && fzUnescape(user) == ac.ClientID && fzUnescape(pass) == secret) ||
				(got.Get("client_id") == ac.ClientID && got.Get("client_secret") == secret)
			if !held {
				t.Fatalf("tokens for confidential client %s without its secret: body %q, Authorization %q", ac.ClientID, body, authz)
			}
		}
		if got.Get("grant_type") == "password" && (got.Get("password") != fzPassword || ac.Subject != alice.ID) {
			t.Fatalf("password grant answered 200 for password %q, subject %q", got.Get("password"), ac.Subject)
		}
	})
}

// FuzzClientAuthHeader builds Authorization headers for a client
// credentials request from an arbitrary scheme, client id and secret, put
// together in one of several ways (mode): Basic with the RFC 6749 §2.3.1
// form-urlencoding, Basic without it, a raw value, no space after the
// scheme; bit 4 blows the secret up past 4 KiB, bit 8 repeats the id as
// client_id in the body.
//
// Property: the answer is exactly the one RFC 6749 §2.3 prescribes for the
// credentials that the header (parsed by net/http) and the body carry: 200
// only for svc or rs with the right secret; 400 invalid_request for a body
// id contradicting the header; 400 unauthorized_client for a client that
// authenticated but may not use the grant; 401 invalid_client with
// authd's Basic challenge otherwise.
func FuzzClientAuthHeader(f *testing.F) {
	e := fzEnv(f)
	seeds := []struct {
		scheme, id, secret string
		mode               uint8
	}{
		{"Basic", svcID, svcSecret, 0},
		{"basic", svcID, svcSecret, 1},
		{"BASIC", rsID, rsSecret, 0},
		{"Basic", svcID, svcSecret, 8},
		{"Basic", svcID, svcSecret, 4},
		{"Basic", svcID, "wrong secret", 0},
		{"Basic", svcID, "", 0},
		{"Basic", "", svcSecret, 0},
		{"Basic", spaID, "", 0},
		{"Basic", spaID, "x", 0},
		{"Basic", confID, confSec, 0},
		{"Basic", "sv%63", svcSecret, 1},
		{"Basic", "a:b%zz+ é", "p:q%", 0},
		{"Basic", "a:b%zz+ é", "p:q%", 1},
		{"Basic", "svc:svc-secret-0123456789", "", 2},
		{"Basic", "c3ZjOnN2Yy1zZWNyZXQtMDEyMzQ1Njc4OQ==", "", 2},
		{"Basic", "c3ZjOnN2Yy1zZWNyZXQtMDEyMzQ1Njc4OQ", "", 2},
		{"Basic", "", "", 2},
		{"Basic", svcID, svcSecret, 3},
		{"Bearer", svcID, svcSecret, 0},
		{"Digest", `username="svc"`, "", 2},
		{"", svcID, svcSecret, 8},
		{"", spaID, "", 10},
		{"", "", "", 8},
		{"Basic", "svc\x00", svcSecret, 8},
		{"Basic", svcID, svcSecret + "\t", 1},
		{"Basic", strings.Repeat("x", 5000), strings.Repeat("y", 5000), 4},
	}
	for _, s := range seeds {
		f.Add(s.scheme, s.id, s.secret, s.mode)
	}
	type cl struct {
		secret string
		public bool
		grant  bool // may use client_credentials
	}
	registry := map[string]cl{
		spaID: {public: true}, spa2ID: {public: true},
		svcID: {secret: svcSecret, grant: true}, rsID: {secret: rsSecret, grant: true}, confID: {secret: confSec},
	}
	f.Fuzz(func(t *testing.T, scheme, id, secret string, mode uint8) {
		if mode&4 != 0 {
			secret = strings.Repeat(secret+"x", 4096/(len(secret)+1)+1)
		}
		var h string
		switch mode % 4 {
		case 0:
			h = scheme + " " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
		case 1:
			h = scheme + " " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret))
		case 2:
			h = scheme + " " + id + secret
		case 3:
			h = scheme + id + secret
		}
		h, ok := fzHeader(h)
		if !ok {
			return
		}
		body := "grant_type=client_credentials"
		if mode&8 != 0 {
			body += "&client_id=" + url.QueryEscape(id)
		}

		// What RFC 6749 §2.3 makes of these credentials.
		wantStatus, wantCode := http.StatusUnauthorized, "invalid_client"
		form, _ := url.ParseQuery(body)
		user, pass, isBasic := (&http.Request{Header: http.Header{"Authorization": {h}}}).BasicAuth()
		bodyID := form.Get("client_id")
		hasCtl := strings.ContainsFunc(bodyID, func(r rune) bool { return r < 0x20 || r == 0x7f })
		// authenticated: the client identified, and whether it proved it.
		authenticate := func(id, secret string, hasSecret bool) {
			c, known := registry[id]
			switch {
			case !known:
			case c.public && (!hasSecret || secret == ""):
				wantStatus, wantCode = http.StatusBadRequest, "unauthorized_client"
			case !c.public && hasSecret && secret == c.secret && c.grant:
				wantStatus, wantCode = http.StatusOK, ""
			case !c.public && hasSecret && secret == c.secret:
				wantStatus, wantCode = http.StatusBadRequest, "unauthorized_client"
			}
		}
		switch {
		case hasCtl:
			wantStatus, wantCode = http.StatusBadRequest, "invalid_request"
		case h != "" && !isBasic:
		case isBasic && bodyID != "" && bodyID != fzUnescape(user):
			wantStatus, wantCode = http.StatusBadRequest, "invalid_request"
		case isBasic:
			authenticate(fzUnescape(user), fzUnescape(pass), true)
		default:
			authenticate(bodyID, "", false)
		}

		r := fzServe(e, http.MethodPost, "/oauth2/token", "application/x-www-form-urlencoded", h, []byte(body))
		code := fzCheck(t, "client authentication", r)
		if r.status != wantStatus || code != wantCode {
			t.Fatalf("Authorization %.200q, body %.200q: got %d %q, want %d %q (body %s)", h, body, r.status, code, wantStatus, wantCode, r.body)
		}
		if r.status == http.StatusUnauthorized {
			if got, want := r.header.Get("WWW-Authenticate"), `Basic realm="authd", charset="UTF-8"`; got != want {
				t.Fatalf("WWW-Authenticate = %q, want %q", got, want)
			}
		}
	})
}

// FuzzBearerTokens presents arbitrary bearer tokens to /userinfo (in the
// header with the Bearer scheme, in a form body, or as the whole header)
// and to /oauth2/introspect (as the resource server rs and as the
// confidential client webapp). The seeds are real tokens of every kind
// issued before fuzzing — live access tokens, an ID token, refresh tokens,
// an access token of an ended session and of a disabled user — and
// near-misses of them.
//
// Properties: fzCheck's; /userinfo answers 200 exactly for a live access
// token with the openid scope, with that token's subject; introspection
// says active exactly for a live access token, or a refresh token of the
// introspecting client itself, with that token's claims; inactive is
// exactly {"active":false}.
func FuzzBearerTokens(f *testing.F) {
	e := fzEnv(f)
	alice := e.addUser("alice", fzPassword)
	e.addUser("dora", fzPassword)

	spa := fzLogin(f, e, spaID, "", "alice")
	web := fzLogin(f, e, confID, fzBasic(confID, confSec), "alice")
	ended := fzLogin(f, e, spaID, "", "alice")
	if r := fzServe(e, http.MethodPost, "/account/logout", "", "Bearer "+ended.AccessToken, nil); r.status != http.StatusNoContent {
		f.Fatalf("logout: %d %s", r.status, r.body)
	}
	disabled := fzLogin(f, e, spaID, "", "dora")
	dora, err := e.store.GetUserByUsername(context.Background(), "dora")
	if err != nil {
		f.Fatal(err)
	}
	if _, err := e.store.SetDisabled(context.Background(), dora.ID, true, e.clock.Now()); err != nil {
		f.Fatal(err)
	}
	r := fzServe(e, http.MethodPost, "/oauth2/token", "application/x-www-form-urlencoded", fzBasic(svcID, svcSecret), []byte("grant_type=client_credentials"))
	var svc fzTokenResponse
	if r.status != http.StatusOK || json.Unmarshal(r.body, &svc) != nil {
		f.Fatalf("client credentials: %d %s", r.status, r.body)
	}

	// live are the access tokens that must be active, with their claims.
	live := map[string]fzAccess{}
	for _, tok := range []string{spa.AccessToken, web.AccessToken, svc.AccessToken} {
		ac, err := fzVerify(e, tok)
		if err != nil {
			f.Fatal(err)
		}
		live[tok] = ac
	}
	refreshOf := map[string]string{web.RefreshToken: confID}
	// The view of ended sessions (disabled dora's) is refreshed every
	// second; wait for it so the properties hold from the first input.
	deadline := time.Now().Add(5 * time.Second)
	for fzServe(e, http.MethodGet, "/userinfo", "", "Bearer "+disabled.AccessToken, nil).status == http.StatusOK {
		if time.Now().After(deadline) {
			f.Fatal("a disabled user's token still works after 5s")
		}
		time.Sleep(50 * time.Millisecond)
	}

	flip := func(s string) string { // change the last character
		b := []byte(s)
		b[len(b)-1] ^= 1
		return string(b)
	}
	parts := strings.Split(spa.AccessToken, ".")
	noneHdr := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"at+jwt"}`))
	tokens := []string{
		spa.AccessToken, web.AccessToken, svc.AccessToken, spa.IDToken, spa.RefreshToken, web.RefreshToken,
		ended.AccessToken, ended.RefreshToken, disabled.AccessToken,
		flip(spa.AccessToken), " " + spa.AccessToken + " ", spa.AccessToken + "\u00a0", spa.AccessToken + "=",
		parts[0] + "." + parts[1] + ".", noneHdr + "." + parts[1] + ".", parts[0] + "." + parts[1] + "." + parts[2] + "." + parts[2],
		parts[0] + ".\n" + parts[1] + "." + parts[2], strings.ToUpper(web.RefreshToken), "", "null", "..", strings.Repeat("a.", 5000),
	}
	for _, tok := range tokens {
		for mode := range uint8(5) {
			f.Add(tok, mode)
		}
	}

	f.Fuzz(func(t *testing.T, tok string, mode uint8) {
		const form = "application/x-www-form-urlencoded"
		switch mode % 5 {
		case 0, 1, 4: // /userinfo
			var r response
			var presented string // the token as the server takes it
			switch mode % 5 {
			case 0:
				h, ok := fzHeader("Bearer " + tok)
				if !ok {
					return
				}
				r = fzServe(e, http.MethodGet, "/userinfo", "", h, nil)
				_, presented, _ = strings.Cut(h, " ")
				presented = strings.TrimSpace(presented)
			case 1:
				r = fzServe(e, http.MethodPost, "/userinfo", form, "", []byte(url.Values{"access_token": {tok}}.Encode()))
				presented = tok
			case 4:
				h, ok := fzHeader(tok)
				if !ok {
					return
				}
				r = fzServe(e, http.MethodGet, "/userinfo", "", h, nil)
				if scheme, rest, ok := strings.Cut(h, " "); ok && strings.EqualFold(scheme, "Bearer") {
					presented = strings.TrimSpace(rest)
				}
			}
			fzCheck(t, "userinfo", r)
			ac, isLive := live[presented]
			wantOK := isLive && ac.SessionID != "" && strings.Contains(" "+ac.Scope+" ", " openid ")
			if (r.status == http.StatusOK) != wantOK {
				t.Fatalf("userinfo with token %.80q (mode %d): status %d, want 200: %v (body %s)", tok, mode%5, r.status, wantOK, r.body)
			}
			if wantOK {
				var got struct{ Sub string }
				if json.Unmarshal(r.body, &got) != nil || got.Sub != ac.Subject || got.Sub != alice.ID {
					t.Fatalf("userinfo for %s's token answered %s", ac.Subject, r.body)
				}
			}
		case 2, 3: // /oauth2/introspect
			client, authz := rsID, fzBasic(rsID, rsSecret)
			if mode%5 == 3 {
				client, authz = confID, fzBasic(confID, confSec)
			}
			r := fzServe(e, http.MethodPost, "/oauth2/introspect", form, authz, []byte(url.Values{"token": {tok}}.Encode()))
			code := fzCheck(t, "introspect", r)
			if tok == "" || strings.ContainsFunc(tok, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
				if r.status != http.StatusBadRequest || code != "invalid_request" {
					t.Fatalf("introspect %q: %d %q, want 400 invalid_request", tok, r.status, code)
				}
				return
			}
			if r.status != http.StatusOK {
				t.Fatalf("introspect %.80q as %s: status %d, want 200 (body %s)", tok, client, r.status, r.body)
			}
			var got map[string]any
			if err := json.Unmarshal(r.body, &got); err != nil {
				t.Fatal(err)
			}
			ac, isAccess := live[tok]
			wantActive := isAccess || refreshOf[tok] == client
			if got["active"] != wantActive {
				t.Fatalf("introspect %.80q as %s: %s, want active %v", tok, client, r.body, wantActive)
			}
			switch {
			case !wantActive:
				if len(got) != 1 {
					t.Fatalf("inactive introspection %s, want exactly {\"active\":false}", r.body)
				}
			case isAccess:
				if got["jti"] != ac.ID || got["client_id"] != ac.ClientID || got["sub"] != ac.Subject || got["token_type"] != "Bearer" {
					t.Fatalf("introspect: %s, want the claims of %+v", r.body, ac)
				}
			default:
				if got["token_type"] != "refresh_token" || got["client_id"] != client || got["sub"] != alice.ID {
					t.Fatalf("introspect of %s's refresh token: %s", client, r.body)
				}
			}
		}
	})
}

// fzUsers counts the users in the database, from a connection of its own.
func fzUsers(t testing.TB, db *sql.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM users`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func fzOpenDB(tb testing.TB, e *testEnv) *sql.DB {
	tb.Helper()
	db, err := sql.Open("sqlite", "file:"+e.dbPath+"?mode=ro")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// fzCheckFields checks the field problems of an account error: each names
// a field of the request, or a key of the body exactly as the client sent
// it (an unknown field), never an escaped or mangled spelling of it.
func fzCheckFields(t *testing.T, r response, body []byte, known ...string) {
	t.Helper()
	if r.status < 400 {
		return
	}
	var e struct{ Fields map[string]string }
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("error body %q: %v", r.body, err)
	}
	if len(e.Fields) == 0 {
		return
	}
	var sent map[string]json.RawMessage
	_ = json.NewDecoder(bytes.NewReader(body)).Decode(&sent)
	for name, reason := range e.Fields {
		if _, ok := sent[name]; !ok && !slices.Contains(known, name) {
			t.Fatalf("field problem %q: %q names neither a field nor a key of the body %q", name, reason, body)
		}
		if reason == "" {
			t.Fatalf("field problem %q without a reason", name)
		}
	}
}

// fzContentTypes are the Content-Type headers the account targets pick
// from.
var fzContentTypes = []string{"application/json", "application/json; charset=utf-8", "APPLICATION/JSON", "text/plain", "", "application/x-www-form-urlencoded", "application/json; charset"}

// FuzzAccountRegister posts arbitrary bodies to /account/register.
//
// Properties: fzCheck's; a 201 adds exactly one user, the one it
// describes, whose password is the one sent; any other answer adds none.
func FuzzAccountRegister(f *testing.F) {
	e := fzEnv(f)
	e.addUser("taken", fzPassword, func(u *storage.User) { u.Email = "taken@example.com" })
	db := fzOpenDB(f, e)
	for _, s := range []string{
		`{"username":"newbie","password":"` + fzPassword + `"}`,
		`{"username":"Émile","password":"` + fzPassword + `","email":"emile@example.com","first_name":"Émile","last_name":"Zola"}`,
		`{"username":"taken","password":"` + fzPassword + `"}`,
		`{"username":"TAKEN","password":"` + fzPassword + `"}`,
		`{"username":"other","password":"` + fzPassword + `","email":"Taken@Example.com"}`,
		`{"username":"x","password":"password"}`,
		`{"username":"shorty","password":"short"}`,
		`{"username":"same-as-pw","password":"same-as-pw"}`,
		`{"username":" spaced ","password":"` + fzPassword + `"}`,
		`{"username":"ctl\u0007","password":"` + fzPassword + `"}`,
		`{"username":"a\u202eb","password":"` + fzPassword + `"}`,
		`{"username":"pwctl","password":"correct horse\u0000battery"}`,
		`{"username":"bademail","password":"` + fzPassword + `","email":"Alice <a@example.com>"}`,
		`{"username":"dup","username":"dup2","password":"` + fzPassword + `"}`,
		`{"username":"extra","password":"` + fzPassword + `","is_staff":true}`,
		`{"username":"extra","password":"` + fzPassword + `","disabled":false}`,
		`{"username":"odd","password":"` + fzPassword + `","a\u0007\"b\\":1}`,
		`{"USERNAME":"upper","Password":"` + fzPassword + `"}`,
		`{"username":42,"password":"` + fzPassword + `"}`,
		`{"username":"trail","password":"` + fzPassword + `"} {}`,
		`{"username":"trail2","password":"` + fzPassword + `"}x`,
		`{"username":"bom","password":"` + fzPassword + `"}` + "\n",
		"\ufeff{}", `[]`, `null`, `"str"`, `{}`, `{`, `{"username":`, ``, `   `, "{\"username\":\"\xff\",\"password\":\"" + fzPassword + "\"}",
		`{"username":"nest","password":{"a":[1,2,{"b":null}]}}`,
		`{"username":"` + strings.Repeat("u", 300) + `","password":"` + fzPassword + `"}`,
		`{"username":"longpw","password":"` + strings.Repeat("p", 300) + `"}`,
		`{"username":"huge","password":"` + strings.Repeat("p", 70<<10) + `"}`,
		strings.Repeat("[", 20000),
	} {
		for _, ct := range []uint8{0, 2, 5} { // application/json, APPLICATION/JSON, a form
			f.Add([]byte(s), ct)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte, ct uint8) {
		ctype := fzContentTypes[int(ct)%len(fzContentTypes)]
		before := fzUsers(t, db)
		r := fzServe(e, http.MethodPost, "/account/register", ctype, "", body)
		fzCheck(t, "register", r)
		fzCheckFields(t, r, body, "username", "password", "email", "first_name", "last_name")
		after := fzUsers(t, db)
		if r.status != http.StatusCreated {
			if after != before {
				t.Fatalf("register answered %d %s, and the users went from %d to %d", r.status, r.body, before, after)
			}
			return
		}
		if after != before+1 {
			t.Fatalf("register answered 201, and the users went from %d to %d", before, after)
		}
		var got struct{ ID, Username string }
		if err := json.Unmarshal(r.body, &got); err != nil {
			t.Fatal(err)
		}
		u, err := e.store.GetUser(context.Background(), got.ID)
		if err != nil || u.Username != got.Username {
			t.Fatalf("201 %s, but the stored user is %+v (%v)", r.body, u, err)
		}
		var sent struct{ Password string }
		_ = json.Unmarshal(body, &sent)
		if ok, _, err := e.hasher.Verify(context.Background(), sent.Password, u.PasswordHash); !ok || err != nil {
			t.Fatalf("the registered user's password is not the one sent (%v)", err)
		}
	})
}

// FuzzAccountMe patches /account/me with arbitrary bodies and a valid
// access token.
//
// Properties: fzCheck's; a rejected body changes nothing at all (the user
// row is identical); an accepted one changes only email and names, the
// response shows the stored user, and a changed email is no longer
// verified; the number of users never changes.
func FuzzAccountMe(f *testing.F) {
	e := fzEnv(f)
	pat := e.addUser("pat", fzPassword, func(u *storage.User) { u.Email, u.EmailVerified = "pat@example.com", true })
	e.addUser("other", fzPassword, func(u *storage.User) { u.Email = "other@example.com" })
	db := fzOpenDB(f, e)
	authz := "Bearer " + fzLogin(f, e, spaID, "", "pat").AccessToken
	for _, s := range []string{
		`{"first_name":"Pat","last_name":"Doe"}`,
		`{"email":"pat@example.com"}`,
		`{"email":"PAT@example.com"}`,
		`{"email":"new@example.com","first_name":""}`,
		`{"email":"new@example.com","password":"` + fzPassword + `"}`,
		`{"email":"new2@example.com","password":"wrong password"}`,
		`{"email":""}`,
		`{"email":null,"first_name":null}`,
		`{"email":"other@example.com"}`,
		`{"email":"OTHER@EXAMPLE.COM","first_name":"Changed"}`,
		`{"email":"not an email","first_name":"Changed"}`,
		`{"first_name":"Changed","last_name":"` + strings.Repeat("x", 1000) + `"}`,
		`{"first_name":"a\u0000b"}`,
		`{"username":"root"}`,
		`{"first_name":"Changed","disabled":true}`,
		`{"email_verified":true}`,
		`{"id":"someone-else"}`,
		`{"first_name":"x","la\tst\u00e9":"y"}`,
		`{"first_name":7}`,
		`{"first_name":"x"} {"last_name":"y"}`,
		`{"first_name":"x",}`,
		`{}`, `[]`, `null`, ``, `{"first_name":"` + strings.Repeat("é", 40<<10) + `"}`,
	} {
		for _, ct := range []uint8{0, 3} { // application/json, text/plain
			f.Add([]byte(s), ct)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte, ct uint8) {
		ctype := fzContentTypes[int(ct)%len(fzContentTypes)]
		ctx := context.Background()
		before, err := e.store.GetUser(ctx, pat.ID)
		if err != nil {
			t.Fatal(err)
		}
		n := fzUsers(t, db)
		r := fzServe(e, http.MethodPatch, "/account/me", ctype, authz, body)
		fzCheck(t, "PATCH /account/me", r)
		fzCheckFields(t, r, body, "email", "first_name", "last_name", "password")
		after, err := e.store.GetUser(ctx, pat.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got := fzUsers(t, db); got != n {
			t.Fatalf("PATCH /account/me changed the number of users from %d to %d", n, got)
		}
		if r.status != http.StatusOK {
			if !reflect.DeepEqual(before, after) {
				t.Fatalf("PATCH /account/me answered %d %s, and the user changed:\nbefore %+v\n after %+v", r.status, r.body, before, after)
			}
			return
		}
		if after.ID != before.ID || after.Username != before.Username || after.PasswordHash != before.PasswordHash || after.Disabled != before.Disabled {
			t.Fatalf("PATCH /account/me changed more than email and names:\nbefore %+v\n after %+v", before, after)
		}
		if storage.EmailKey(after.Email) != storage.EmailKey(before.Email) && after.EmailVerified {
			t.Fatalf("email changed from %q to %q and is still verified", before.Email, after.Email)
		}
		if storage.EmailKey(after.Email) == storage.EmailKey(before.Email) && after.EmailVerified != before.EmailVerified {
			t.Fatalf("email unchanged but email_verified went from %v to %v", before.EmailVerified, after.EmailVerified)
		}
		var got struct {
			ID, Username, Email string
			FirstName           string `json:"first_name"`
			LastName            string `json:"last_name"`
			EmailVerified       bool   `json:"email_verified"`
		}
		if err := json.Unmarshal(r.body, &got); err != nil {
			t.Fatal(err)
		}
		if got.ID != after.ID || got.Username != after.Username || got.Email != after.Email || got.FirstName != after.FirstName ||
			got.LastName != after.LastName || got.EmailVerified != after.EmailVerified {
			t.Fatalf("PATCH /account/me answered %s, but stored %+v", r.body, after)
		}
	})
}
