package server_test

import (
	"context"
	"errors"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/authd/authd/config"
)

// Clients of the authorization code tests, added by withCodeClients.
const (
	codeID         = "web" // public: authorization_code, refresh_token
	codeRedirect   = "https://app.example.com/callback"
	codeLogoutURI  = "https://app.example.com/signed-out"
	codeConfID     = "webconf" // confidential: authorization_code, PKCE optional
	codeConfSecret = "webconf-secret-0123456789"
	codeConfRedir  = "https://conf.example.com/cb?tenant=7"
	noCodeID       = "nocode" // has a redirect URI, not the grant
	alicePW        = "correct horse battery staple"
)

func withCodeClients(cfg *config.Config) {
	userScopes := []string{"openid", "profile", "email", "offline_access"}
	cfg.Clients = append(cfg.Clients,
		config.Client{ID: codeID, Public: true, Grants: []string{"authorization_code", "refresh_token"},
			RedirectURIs: []string{codeRedirect, "http://127.0.0.1/other"}, PostLogoutRedirectURIs: []string{codeLogoutURI}, Scopes: userScopes},
		config.Client{ID: codeConfID, Secret: codeConfSecret, Grants: []string{"authorization_code", "refresh_token"},
			RedirectURIs: []string{codeConfRedir}, Scopes: userScopes},
		config.Client{ID: noCodeID, Public: true, Grants: []string{"password"},
			RedirectURIs: []string{"https://nocode.example.com/cb"}, Scopes: userScopes},
	)
}

// browser is a person's browser: a cookie jar, no automatic redirects (the
// tests follow them, so they can look at each hop).
type browser struct {
	t testing.TB
	e *testEnv
	c *http.Client
}

func (e *testEnv) browser() *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return &browser{t: e.t, e: e, c: &http.Client{
		Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

func (b *browser) abs(u string) string {
	if strings.HasPrefix(u, "/") {
		return b.e.url + u
	}
	return u
}

func (b *browser) send(req *http.Request) response {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: body}
}

// get fetches a URL, absolute or a path of the server.
func (b *browser) get(u string) response {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.abs(u), nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.send(req)
}

// post submits a form; headers are name, value pairs.
func (b *browser) post(u string, form url.Values, headers ...string) response {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.abs(u), strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.e.url)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return b.send(req)
}

var hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// hidden returns the hidden inputs of a page (the first of each name).
func hidden(body []byte) url.Values {
	v := url.Values{}
	for _, m := range hiddenInput.FindAllStringSubmatch(string(body), -1) {
		if !v.Has(m[1]) {
			v.Set(m[1], html.UnescapeString(m[2]))
		}
	}
	return v
}

// submit fetches the page at u and posts its form (hidden fields plus
// fields) to action.
func (b *browser) submit(u, action string, fields url.Values) response {
	b.t.Helper()
	page := b.get(u)
	if page.status != http.StatusOK {
		b.t.Fatalf("GET %s: status %d, body %s", u, page.status, page.body)
	}
	form := hidden(page.body)
	for k, v := range fields {
		form[k] = v
	}
	return b.post(action, form)
}

func location(t testing.TB, r response) *url.URL {
	t.Helper()
	loc := r.header.Get("Location")
	if loc == "" {
		t.Fatalf("no Location (status %d, body %.300s)", r.status, r.body)
	}
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// authorize goes through an authorization URL as a person would: to the
// sign-in page, signing in there, and back towards the client. It returns
// where the browser is sent back to.
func (b *browser) authorize(authURL, username, pw string) *url.URL {
	b.t.Helper()
	r := b.get(authURL)
	if r.status != http.StatusFound {
		b.t.Fatalf("authorize: status %d, want 302 to the sign-in page (body %.300s)", r.status, r.body)
	}
	signin := location(b.t, r)
	if signin.Path != "/signin" {
		b.t.Fatalf("authorize sent the browser to %s, want /signin", signin)
	}
	r = b.submit(signin.String(), "/signin", url.Values{"username": {username}, "password": {pw}})
	if r.status != http.StatusSeeOther {
		b.t.Fatalf("sign-in: status %d, want 303 (body %.500s)", r.status, r.body)
	}
	return location(b.t, r)
}

// signIn signs the browser in on the sign-in page itself.
func (b *browser) signIn(username, pw string) {
	b.t.Helper()
	r := b.submit("/signin", "/signin", url.Values{"username": {username}, "password": {pw}})
	if r.status != http.StatusSeeOther {
		b.t.Fatalf("sign-in: status %d, want 303 (body %.500s)", r.status, r.body)
	}
}

// codeClient is a client of the code flow through golang.org/x/oauth2 and
// go-oidc.
type codeClient struct {
	conf     *oauth2.Config
	provider *oidc.Provider
	verifier string
	state    string
	nonce    string
}

func (e *testEnv) codeClient(id, secret, redirect string) *codeClient {
	e.t.Helper()
	p, err := oidc.NewProvider(context.Background(), e.url)
	if err != nil {
		e.t.Fatalf("discovery: %v", err)
	}
	conf := &oauth2.Config{
		ClientID: id, ClientSecret: secret, Endpoint: p.Endpoint(), RedirectURL: redirect,
		Scopes: []string{oidc.ScopeOpenID, "profile", "email", oidc.ScopeOfflineAccess},
	}
	conf.Endpoint.AuthStyle = oauth2.AuthStyleInParams
	return &codeClient{conf: conf, provider: p, verifier: oauth2.GenerateVerifier(), state: oauth2.GenerateVerifier()[:20], nonce: oauth2.GenerateVerifier()[:24]}
}

// authURL is the authorization URL with S256 PKCE, state and nonce, and
// extra parameters as name, value pairs.
func (cc *codeClient) authURL(extra ...string) string {
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(cc.verifier), oidc.Nonce(cc.nonce)}
	for i := 0; i+1 < len(extra); i += 2 {
		opts = append(opts, oauth2.SetAuthURLParam(extra[i], extra[i+1]))
	}
	return cc.conf.AuthCodeURL(cc.state, opts...)
}

// code checks an authorization response and returns its code.
func (cc *codeClient) code(t testing.TB, e *testEnv, back *url.URL) string {
	t.Helper()
	q := back.Query()
	if got := back.Scheme + "://" + back.Host + back.Path; got != strings.Split(cc.conf.RedirectURL, "?")[0] {
		t.Fatalf("sent back to %s, want the redirect URI %s", back, cc.conf.RedirectURL)
	}
	if q.Get("error") != "" {
		t.Fatalf("authorization error %s: %s", q.Get("error"), q.Get("error_description"))
	}
	if q.Get("state") != cc.state {
		t.Errorf("state = %q, want %q", q.Get("state"), cc.state)
	}
	if q.Get("iss") != e.url {
		t.Errorf("iss = %q, want %q (RFC 9207)", q.Get("iss"), e.url)
	}
	if q.Get("code") == "" {
		t.Fatalf("no code in %s", back)
	}
	return q.Get("code")
}

func (cc *codeClient) exchange(code string, opts ...oauth2.AuthCodeOption) (*oauth2.Token, error) {
	return cc.conf.Exchange(context.Background(), code, opts...)
}

// wantGrantError checks that err is an RFC 6749 §5.2 error with this code.
func wantGrantError(t testing.TB, err error, code string) {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Fatalf("err = %v, want an oauth2.RetrieveError %s", err, code)
	}
	if re.ErrorCode != code {
		t.Errorf("error = %q (%s), want %q", re.ErrorCode, re.ErrorDescription, code)
	}
}

// The whole flow through the real client libraries: sign in on the hosted
// page, exchange the code with the PKCE verifier, verify the ID token and
// its nonce with go-oidc, use the access and refresh tokens; then a second
// authorization rides on the sign-in session without a form.
func TestAuthorizationCodeFlow(t *testing.T) {
	e := newEnv(t, withCodeClients)
	u := e.addUser("alice", alicePW)
	ctx := context.Background()
	cc := e.codeClient(codeID, "", codeRedirect)
	b := e.browser()

	code := cc.code(t, e, b.authorize(cc.authURL(), "alice", alicePW))
	tok, err := cc.exchange(code, oauth2.VerifierOption(cc.verifier))
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	if tok.AccessToken == "" || tok.RefreshToken == "" || tok.TokenType != "Bearer" {
		t.Fatalf("token = %+v, want access and refresh tokens", tok)
	}
	rawID, _ := tok.Extra("id_token").(string)
	idt, err := cc.provider.Verifier(&oidc.Config{ClientID: codeID, Now: e.clock.Now}).Verify(ctx, rawID)
	if err != nil {
		t.Fatalf("ID token through go-oidc: %v", err)
	}
	if idt.Subject != u.ID || idt.Nonce != cc.nonce {
		t.Errorf("ID token sub %q nonce %q, want %q and %q", idt.Subject, idt.Nonce, u.ID, cc.nonce)
	}
	var claims struct {
		AuthTime int64  `json:"auth_time"`
		SID      string `json:"sid"`
	}
	if err := idt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if claims.AuthTime != e.clock.Now().Unix() || claims.SID == "" {
		t.Errorf("ID token auth_time %d sid %q, want %d and a sid", claims.AuthTime, claims.SID, e.clock.Now().Unix())
	}
	at := jwtClaims(t, tok.AccessToken)
	if at["client_id"] != codeID || at["sub"] != u.ID || at["sid"] != claims.SID {
		t.Errorf("access token claims = %v", at)
	}
	info, err := cc.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil || info.Subject != u.ID {
		t.Errorf("userinfo = %+v, %v", info, err)
	}
	next, err := cc.conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil || next.RefreshToken == tok.RefreshToken {
		t.Errorf("refresh: %v (rotated: %v)", err, next != nil && next.RefreshToken != tok.RefreshToken)
	}

	// Signed in already: the next authorization answers at once, with the
	// sign-in's auth_time, no form.
	e.clock.Advance(time.Minute)
	cc2 := e.codeClient(codeID, "", codeRedirect)
	r := b.get(cc2.authURL())
	if r.status != http.StatusFound {
		t.Fatalf("second authorize: status %d, want 302 to the client", r.status)
	}
	tok2, err := cc2.exchange(cc2.code(t, e, location(t, r)), oauth2.VerifierOption(cc2.verifier))
	if err != nil {
		t.Fatalf("second Exchange: %v", err)
	}
	if got := int64(jwtClaims(t, tok2.AccessToken)["auth_time"].(float64)); got != claims.AuthTime {
		t.Errorf("second token auth_time = %d, want the sign-in's %d", got, claims.AuthTime)
	}
}

// A confidential client authenticates at the token endpoint and may leave
// PKCE out; its redirect URI keeps its own query.
func TestAuthorizationCodeConfidential(t *testing.T) {
	e := newEnv(t, withCodeClients)
	e.addUser("alice", alicePW)
	cc := e.codeClient(codeConfID, codeConfSecret, codeConfRedir)
	back := e.browser().authorize(cc.conf.AuthCodeURL(cc.state), "alice", alicePW)
	if back.Query().Get("tenant") != "7" {
		t.Errorf("redirect %s lost the redirect URI's own query", back)
	}
	code := cc.code(t, e, back)
	// A verifier for a code issued without a challenge: the PKCE downgrade
	// of RFC 9700 §4.8.2.
	_, err := cc.exchange(code, oauth2.VerifierOption(cc.verifier))
	wantGrantError(t, err, "invalid_grant")
	wrong := *cc.conf
	wrong.ClientSecret = "not-the-secret-0123456789"
	_, err = wrong.Exchange(context.Background(), code)
	wantGrantError(t, err, "invalid_client")
	if _, err := cc.exchange(code); err != nil {
		t.Fatalf("Exchange without PKCE: %v", err)
	}
}

// Errors before the client and redirect URI are known good are shown as a
// page and never redirected (RFC 6749 §4.1.2.1).
func TestAuthorizeErrorPage(t *testing.T) {
	e := newEnv(t, withCodeClients)
	base := url.Values{
		"client_id": {codeID}, "redirect_uri": {codeRedirect}, "response_type": {"code"}, "state": {"s"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"},
	}
	tests := []struct {
		name   string
		mutate func(q url.Values)
	}{
		{"no client_id", func(q url.Values) { q.Del("client_id") }},
		{"unknown client", func(q url.Values) { q.Set("client_id", "nobody") }},
		{"no redirect_uri", func(q url.Values) { q.Del("redirect_uri") }},
		{"unregistered redirect_uri", func(q url.Values) { q.Set("redirect_uri", "https://evil.example/callback") }},
		{"trailing slash", func(q url.Values) { q.Set("redirect_uri", codeRedirect+"/") }},
		{"other case", func(q url.Values) { q.Set("redirect_uri", strings.ToUpper(codeRedirect)) }},
		{"extra query", func(q url.Values) { q.Set("redirect_uri", codeRedirect+"?next=https://evil.example") }},
		{"another client's URI", func(q url.Values) { q.Set("redirect_uri", codeConfRedir) }},
		{"redirect_uri twice", func(q url.Values) { q.Add("redirect_uri", "https://evil.example/") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := url.Values{}
			for k, v := range base {
				q[k] = append([]string(nil), v...)
			}
			tt.mutate(q)
			r := e.browser().get("/oauth2/authorize?" + q.Encode())
			if r.status != http.StatusBadRequest {
				t.Errorf("status = %d, want 400", r.status)
			}
			if loc := r.header.Get("Location"); loc != "" {
				t.Errorf("Location = %q, want no redirect", loc)
			}
			if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
				t.Errorf("Content-Type = %q, want an HTML page", ct)
			}
			if strings.Contains(string(r.body), "evil.example") {
				t.Errorf("the page shows the attacker's URI: %s", r.body)
			}
		})
	}
}

// Errors after the redirect URI is known good go back to the client, with
// state and iss (RFC 6749 §4.1.2.1, RFC 9207).
func TestAuthorizeErrorRedirect(t *testing.T) {
	e := newEnv(t, withCodeClients)
	challenge := oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())
	tests := []struct {
		name   string
		client string
		redir  string
		params url.Values
		want   string
	}{
		{"missing PKCE", codeID, codeRedirect, url.Values{"response_type": {"code"}}, "invalid_request"},
		{"plain PKCE", codeID, codeRedirect, url.Values{"response_type": {"code"}, "code_challenge": {oauth2.GenerateVerifier()}, "code_challenge_method": {"plain"}}, "invalid_request"},
		{"challenge without method (plain)", codeID, codeRedirect, url.Values{"response_type": {"code"}, "code_challenge": {challenge}}, "invalid_request"},
		{"malformed challenge", codeID, codeRedirect, url.Values{"response_type": {"code"}, "code_challenge": {"short"}, "code_challenge_method": {"S256"}}, "invalid_request"},
		{"method without challenge", codeConfID, codeConfRedir, url.Values{"response_type": {"code"}, "code_challenge_method": {"S256"}}, "invalid_request"},
		{"implicit", codeID, codeRedirect, url.Values{"response_type": {"token"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}, "unsupported_response_type"},
		{"no response_type", codeID, codeRedirect, url.Values{"code_challenge": {challenge}, "code_challenge_method": {"S256"}}, "invalid_request"},
		{"unknown scope", codeID, codeRedirect, url.Values{"response_type": {"code"}, "scope": {"openid admin"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}, "invalid_scope"},
		{"client without the grant", noCodeID, "https://nocode.example.com/cb", url.Values{"response_type": {"code"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}, "unauthorized_client"},
		{"request object", codeID, codeRedirect, url.Values{"response_type": {"code"}, "request": {"eyJ"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}, "request_not_supported"},
		{"bad max_age", codeID, codeRedirect, url.Values{"response_type": {"code"}, "max_age": {"soon"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}, "invalid_request"},
		{"prompt none and login", codeID, codeRedirect, url.Values{"response_type": {"code"}, "prompt": {"none login"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}, "invalid_request"},
		{"prompt none without sign-in", codeID, codeRedirect, url.Values{"response_type": {"code"}, "prompt": {"none"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}, "login_required"},
		{"fragment response mode", codeID, codeRedirect, url.Values{"response_type": {"code"}, "response_mode": {"fragment"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}, "invalid_request"},
		{"repeated scope", codeID, codeRedirect, url.Values{"response_type": {"code"}, "scope": {"openid", "email"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := url.Values{"client_id": {tt.client}, "redirect_uri": {tt.redir}, "state": {"st-123"}}
			for k, v := range tt.params {
				q[k] = v
			}
			r := e.browser().get("/oauth2/authorize?" + q.Encode())
			if r.status != http.StatusFound {
				t.Fatalf("status = %d, want 302 (body %.300s)", r.status, r.body)
			}
			back := location(t, r)
			if got := back.Scheme + "://" + back.Host + back.Path; got != strings.Split(tt.redir, "?")[0] {
				t.Fatalf("redirected to %s, want %s", back, tt.redir)
			}
			bq := back.Query()
			if bq.Get("error") != tt.want || bq.Get("error_description") == "" {
				t.Errorf("error = %q (%q), want %q", bq.Get("error"), bq.Get("error_description"), tt.want)
			}
			if bq.Get("state") != "st-123" || bq.Get("iss") != e.url {
				t.Errorf("state %q iss %q, want st-123 and %s", bq.Get("state"), bq.Get("iss"), e.url)
			}
			if bq.Has("code") {
				t.Errorf("a code came with an error")
			}
		})
	}
}

// The token request must repeat what the code is bound to.
func TestCodeExchangeBinding(t *testing.T) {
	e := newEnv(t, withCodeClients, func(c *config.Config) {
		c.Clients = append(c.Clients, config.Client{ID: "web2", Public: true, Grants: []string{"authorization_code"},
			RedirectURIs: []string{codeRedirect}, Scopes: []string{"openid"}})
	})
	e.addUser("alice", alicePW)
	cc := e.codeClient(codeID, "", codeRedirect)
	b := e.browser()
	code := cc.code(t, e, b.authorize(cc.authURL(), "alice", alicePW))

	other := *cc.conf
	other.ClientID = "web2"
	otherURI := *cc.conf
	otherURI.RedirectURL = "http://127.0.0.1/other" // registered too, but not the one of this code
	tests := []struct {
		name string
		try  func() error
	}{
		{"wrong verifier", func() error {
			_, err := cc.exchange(code, oauth2.VerifierOption(oauth2.GenerateVerifier()))
			return err
		}},
		{"no verifier", func() error { _, err := cc.exchange(code); return err }},
		{"verifier too short", func() error { _, err := cc.exchange(code, oauth2.VerifierOption("abc")); return err }},
		{"challenge as verifier", func() error {
			_, err := cc.exchange(code, oauth2.VerifierOption(oauth2.S256ChallengeFromVerifier(cc.verifier)))
			return err
		}},
		{"other client", func() error {
			_, err := other.Exchange(context.Background(), code, oauth2.VerifierOption(cc.verifier))
			return err
		}},
		{"other redirect URI", func() error {
			_, err := otherURI.Exchange(context.Background(), code, oauth2.VerifierOption(cc.verifier))
			return err
		}},
		{"unknown code", func() error { _, err := cc.exchange(code+"x", oauth2.VerifierOption(cc.verifier)); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantGrantError(t, tt.try(), "invalid_grant")
		})
	}
	// None of that used the code up.
	if _, err := cc.exchange(code, oauth2.VerifierOption(cc.verifier)); err != nil {
		t.Fatalf("Exchange with the right binding after the failures: %v", err)
	}
}

// A code works once; using it again fails and revokes what the first use
// issued (RFC 6749 §4.1.2).
func TestCodeReuseRevokes(t *testing.T) {
	e := newEnv(t, withCodeClients)
	e.addUser("alice", alicePW)
	cc := e.codeClient(codeID, "", codeRedirect)
	code := cc.code(t, e, e.browser().authorize(cc.authURL(), "alice", alicePW))
	tok, err := cc.exchange(code, oauth2.VerifierOption(cc.verifier))
	if err != nil {
		t.Fatalf("first Exchange: %v", err)
	}
	_, err = cc.exchange(code, oauth2.VerifierOption(cc.verifier))
	wantGrantError(t, err, "invalid_grant")

	r := e.refresh(codeID, tok.RefreshToken)
	wantOAuthError(t, r, http.StatusBadRequest, "invalid_grant")
	r = e.do(http.MethodGet, "/userinfo", nil, "Authorization", "Bearer "+tok.AccessToken)
	if r.status != http.StatusUnauthorized {
		t.Errorf("userinfo with the first use's access token: status %d, want 401", r.status)
	}
}

func TestCodeExpires(t *testing.T) {
	e := newEnv(t, withCodeClients)
	e.addUser("alice", alicePW)
	cc := e.codeClient(codeID, "", codeRedirect)
	code := cc.code(t, e, e.browser().authorize(cc.authURL(), "alice", alicePW))
	e.clock.Advance(60 * time.Second)
	_, err := cc.exchange(code, oauth2.VerifierOption(cc.verifier))
	wantGrantError(t, err, "invalid_grant")
}

// prompt, max_age and login_hint (OIDC Core §3.1.2.1).
func TestAuthorizePromptMaxAge(t *testing.T) {
	e := newEnv(t, withCodeClients)
	e.addUser("alice", alicePW)
	b := e.browser()
	b.signIn("alice", alicePW)
	e.clock.Advance(10 * time.Minute)

	tests := []struct {
		name     string
		params   []string
		wantCode bool // else: to the sign-in page
	}{
		{"signed in", nil, true},
		{"prompt=none", []string{"prompt", "none"}, true},
		{"prompt=consent", []string{"prompt", "consent"}, true},
		{"prompt=login", []string{"prompt", "login"}, false},
		{"prompt=select_account", []string{"prompt", "select_account"}, false},
		{"max_age long enough", []string{"max_age", "3600"}, true},
		{"max_age exceeded", []string{"max_age", "60"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.clock.Advance(2 * time.Minute) // past max_age=60 since any sign-in before
			cc := e.codeClient(codeID, "", codeRedirect)
			r := b.get(cc.authURL(tt.params...))
			if r.status != http.StatusFound {
				t.Fatalf("status %d, want 302", r.status)
			}
			loc := location(t, r)
			if tt.wantCode {
				cc.code(t, e, loc)
				return
			}
			if loc.Path != "/signin" {
				t.Fatalf("sent to %s, want the sign-in page", loc)
			}
			// Signing in answers the request, although it asked for
			// prompt=login or a short max_age: the sign-in just happened.
			r = b.submit(loc.String(), "/signin", url.Values{"username": {"alice"}, "password": {alicePW}})
			cc.code(t, e, location(t, r))
		})
	}

	t.Run("prompt=none, max_age exceeded", func(t *testing.T) {
		cc := e.codeClient(codeID, "", codeRedirect)
		e.clock.Advance(2 * time.Minute)
		back := location(t, b.get(cc.authURL("prompt", "none", "max_age", "60")))
		if got := back.Query().Get("error"); got != "login_required" {
			t.Errorf("error = %q, want login_required", got)
		}
	})

	t.Run("login_hint fills the username", func(t *testing.T) {
		cc := e.codeClient(codeID, "", codeRedirect)
		r := e.browser().get(cc.authURL("login_hint", "bob@example.com"))
		page := e.browser().get(location(t, r).String())
		if !strings.Contains(string(page.body), `value="bob@example.com"`) {
			t.Errorf("sign-in page does not offer the login_hint: %s", page.body)
		}
		if !strings.Contains(string(page.body), codeID) {
			t.Errorf("sign-in page does not name the client %q", codeID)
		}
	})
}

// Every form needs its CSRF token: the sign-in form of a forged page gets
// 403 and signs no one in.
func TestSigninCSRF(t *testing.T) {
	e := newEnv(t, withCodeClients)
	e.addUser("alice", alicePW)
	creds := url.Values{"username": {"alice"}, "password": {alicePW}}
	withToken := func(b *browser) url.Values {
		f := hidden(b.get("/signin").body)
		for k, v := range creds {
			f[k] = v
		}
		return f
	}
	tests := []struct {
		name string
		send func(b *browser) response
	}{
		{"no token, no cookie", func(b *browser) response { return b.post("/signin", creds) }},
		{"no token", func(b *browser) response {
			b.get("/signin") // sets the cookie
			return b.post("/signin", creds)
		}},
		{"wrong token", func(b *browser) response {
			f := withToken(b)
			f.Set("csrf_token", strings.Repeat("A", 43))
			return b.post("/signin", f)
		}},
		{"another browser's token", func(b *browser) response {
			f := withToken(e.browser())
			b.get("/signin")
			return b.post("/signin", f)
		}},
		{"cross-site origin", func(b *browser) response {
			return b.post("/signin", withToken(b), "Origin", "https://evil.example")
		}},
		{"cross-site fetch", func(b *browser) response {
			return b.post("/signin", withToken(b), "Sec-Fetch-Site", "cross-site")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := e.browser()
			r := tt.send(b)
			if r.status != http.StatusForbidden {
				t.Errorf("status = %d, want 403", r.status)
			}
			if acc := b.get("/account"); acc.status != http.StatusSeeOther {
				t.Errorf("GET /account after the refused sign-in: status %d, want 303 (not signed in)", acc.status)
			}
		})
	}
	t.Run("the real form works", func(t *testing.T) {
		b := e.browser()
		if r := b.post("/signin", withToken(b), "Origin", "null"); r.status != http.StatusSeeOther {
			t.Errorf("status = %d, want 303", r.status)
		}
	})
}

// next only ever leads to a path of authd.
func TestSigninNoOpenRedirect(t *testing.T) {
	e := newEnv(t)
	e.addUser("alice", alicePW)
	tests := []struct{ next, want string }{
		{"//evil.example", "/account"},
		{"https://evil.example", "/account"},
		{`/\evil.example`, "/account"},
		{`\\evil.example`, "/account"},
		{"/\t/evil.example", "/account"},
		{"///evil.example", "/account"},
		{"javascript:alert(1)", "/account"},
		{"http:/evil.example", "/account"},
		{"/account?tab=sessions", "/account?tab=sessions"},
		{"/account/../account", "/account"},
	}
	for _, tt := range tests {
		t.Run(tt.next, func(t *testing.T) {
			b := e.browser()
			page := b.get("/signin?" + url.Values{"next": {tt.next}}.Encode())
			f := hidden(page.body)
			f.Set("next", tt.next) // as an attacker would post it, whatever the page carried
			f.Set("username", "alice")
			f.Set("password", alicePW)
			r := b.post("/signin", f)
			if r.status != http.StatusSeeOther {
				t.Fatalf("status %d, want 303", r.status)
			}
			if got := r.header.Get("Location"); got != tt.want {
				t.Errorf("Location = %q, want %q", got, tt.want)
			}
			// Signed in already, the sign-in page itself redirects too.
			if got := b.get("/signin?" + url.Values{"next": {tt.next}}.Encode()).header.Get("Location"); got != tt.want {
				t.Errorf("GET /signin when signed in: Location = %q, want %q", got, tt.want)
			}
		})
	}
}

// OIDC Core §3.1.2.1: the authorization endpoint takes POST too; it is
// answered as the same GET, so the browser's SameSite=Lax cookies come
// along even when another site posted the form.
func TestAuthorizePost(t *testing.T) {
	e := newEnv(t, withCodeClients)
	e.addUser("alice", alicePW)
	b := e.browser()
	b.signIn("alice", alicePW)
	cc := e.codeClient(codeID, "", codeRedirect)
	u := mustURL(t, cc.authURL())
	r := b.post("/oauth2/authorize", u.Query(), "Origin", "https://app.example.com", "Sec-Fetch-Site", "cross-site")
	if r.status != http.StatusSeeOther {
		t.Fatalf("status %d, want 303", r.status)
	}
	next := location(t, r)
	if next.Path != "/oauth2/authorize" || next.Query().Get("code_challenge") != u.Query().Get("code_challenge") {
		t.Fatalf("POST led to %s, want the same request as a GET", next)
	}
	r = b.get(next.String())
	if _, err := cc.exchange(cc.code(t, e, location(t, r)), oauth2.VerifierOption(cc.verifier)); err != nil {
		t.Fatalf("Exchange: %v", err)
	}
}
