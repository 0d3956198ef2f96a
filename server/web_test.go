package server_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/authd/authd/config"
	"github.com/authd/authd/server"
	"github.com/authd/authd/storage"
)

// checkPageHeaders checks the security headers every page carries.
func checkPageHeaders(t *testing.T, h http.Header) {
	t.Helper()
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "frame-ancestors 'none'", "style-src 'self'", "form-action 'self'", "base-uri 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "script-src") {
		t.Errorf("CSP %q allows script", csp)
	}
	for k, want := range map[string]string{
		"X-Frame-Options":        "DENY",
		"X-Content-Type-Options": "nosniff",
		"Referrer-Policy":        "no-referrer",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
}

var (
	inputID  = regexp.MustCompile(`<input id="([^"]+)"`)
	labelFor = regexp.MustCompile(`<label for="([^"]+)"`)
)

// checkAccessibleHTML checks what can be checked without a browser: a
// language, a title, no script or inline style (the CSP would block them
// anyway), a label for every visible input, and the one stylesheet.
func checkAccessibleHTML(t *testing.T, body []byte) {
	t.Helper()
	s := string(body)
	for _, want := range []string{`<html lang="en">`, `<meta name="viewport"`, "<title>", `<main id="main"`, `<link rel="stylesheet" href="/static/style.css?v=`} {
		if !strings.Contains(s, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	for _, bad := range []string{"<script", " style=", " on" + "click=", "http://", "https://"} {
		if strings.Contains(s, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
	var labels []string
	for _, m := range labelFor.FindAllStringSubmatch(s, -1) {
		labels = append(labels, m[1])
	}
	for _, m := range inputID.FindAllStringSubmatch(s, -1) {
		if !slices.Contains(labels, m[1]) {
			t.Errorf("input %q has no label", m[1])
		}
	}
}

func TestPagesHeadersAndMarkup(t *testing.T) {
	e := newEnv(t, withCodeClients)
	e.addUser("alice", alicePW)
	signedIn := e.browser()
	signedIn.signIn("alice", alicePW)
	tests := []struct {
		name   string
		b      *browser
		path   string
		status int
	}{
		{"sign in", e.browser(), "/signin", 200},
		{"register", e.browser(), "/register", 200},
		{"forgot", e.browser(), "/password/forgot", 200},
		{"forgot, sent", e.browser(), "/password/forgot?sent=1", 200},
		{"reset", e.browser(), "/password/reset?uid=x&token=" + strings.Repeat("t", 43), 200},
		{"verify", e.browser(), "/email/verify?token=" + strings.Repeat("t", 43), 200},
		{"verify, done", e.browser(), "/email/verify?done=1", 200},
		{"account", signedIn, "/account", 200},
		{"logout question", signedIn, "/oauth2/logout", 200},
		{"error page", e.browser(), "/oauth2/authorize?client_id=nobody", 400},
		{"reset without token", e.browser(), "/password/reset", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.b.get(tt.path)
			if r.status != tt.status {
				t.Fatalf("status = %d, want %d", r.status, tt.status)
			}
			if ct := r.header.Get("Content-Type"); ct != "text/html; charset=UTF-8" {
				t.Errorf("Content-Type = %q", ct)
			}
			if cc := r.header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", cc)
			}
			if r.header.Get("Strict-Transport-Security") != "" {
				t.Errorf("HSTS sent for an http issuer")
			}
			checkPageHeaders(t, r.header)
			checkAccessibleHTML(t, r.body)
		})
	}

	t.Run("stylesheet", func(t *testing.T) {
		page := e.browser().get("/signin")
		href := regexp.MustCompile(`href="(/static/style\.css\?v=[0-9a-f]+)"`).FindSubmatch(page.body)
		if href == nil {
			t.Fatalf("no versioned stylesheet link")
		}
		r := e.browser().get(string(href[1]))
		if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/css") || len(r.body) < 100 {
			t.Fatalf("stylesheet: status %d type %q size %d", r.status, r.header.Get("Content-Type"), len(r.body))
		}
		if !strings.Contains(r.header.Get("Cache-Control"), "immutable") || r.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("stylesheet headers = %v", r.header)
		}
		if r := e.browser().get("/static/nope.css"); r.status != http.StatusNotFound {
			t.Errorf("unknown asset: status %d, want 404", r.status)
		}
	})

	t.Run("form-action allows the redirect targets", func(t *testing.T) {
		csp := e.browser().get("/signin").header.Get("Content-Security-Policy")
		for _, want := range []string{"https://app.example.com", "https://conf.example.com", "http://127.0.0.1"} {
			if !strings.Contains(csp, want) {
				t.Errorf("CSP %q does not let the sign-in form's redirect reach %s", csp, want)
			}
		}
	})
}

// With an https issuer the cookies take the __Host- prefix and Secure, and
// pages send HSTS.
func TestPagesHTTPSIssuer(t *testing.T) {
	const iss = "https://auth.example.com"
	e := newEnv(t, func(c *config.Config) { c.Issuer = iss })
	e.addUser("alice", alicePW)
	do := func(method, path string, form url.Values, cookies []*http.Cookie) *httptest.ResponseRecorder {
		var req *http.Request
		if form != nil {
			req = httptest.NewRequest(method, iss+path, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", iss)
		} else {
			req = httptest.NewRequest(method, iss+path, nil)
		}
		for _, c := range cookies {
			req.AddCookie(c)
		}
		w := httptest.NewRecorder()
		e.srv.ServeHTTP(w, req)
		return w
	}
	page := do("GET", "/signin", nil, nil)
	if got := page.Header().Get("Strict-Transport-Security"); !strings.HasPrefix(got, "max-age=") {
		t.Errorf("HSTS = %q, want max-age", got)
	}
	cookies := page.Result().Cookies()
	if len(cookies) != 1 || cookies[0].Name != "__Host-authd_csrf" || !cookies[0].Secure || !cookies[0].HttpOnly || cookies[0].Path != "/" || cookies[0].Domain != "" {
		t.Fatalf("cookies = %+v, want one __Host-authd_csrf, Secure, HttpOnly, Path=/, no Domain", cookies)
	}
	form := hidden(page.Body.Bytes())
	form.Set("username", "alice")
	form.Set("password", alicePW)
	r := do("POST", "/signin", form, cookies)
	if r.Code != http.StatusSeeOther {
		t.Fatalf("sign-in: status %d", r.Code)
	}
	var session *http.Cookie
	for _, c := range r.Result().Cookies() {
		if c.Name == "__Host-authd_session" {
			session = c
		}
	}
	if session == nil || !session.Secure || !session.HttpOnly || session.SameSite != http.SameSiteLaxMode || session.Path != "/" || session.Domain != "" {
		t.Fatalf("session cookie = %+v, want __Host-authd_session, Secure, HttpOnly, SameSite=Lax", session)
	}
}

// The sign-in session: a fresh id at every sign-in (the old one ends), and
// ended by a password change elsewhere or by the user disabled.
func TestSignInSession(t *testing.T) {
	e := newEnv(t)
	u := e.addUser("alice", alicePW)
	b := e.browser()
	page := b.get("/signin")
	form := hidden(page.body)
	form.Set("username", "alice")
	form.Set("password", alicePW)
	r := b.post("/signin", form)
	var first string
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == "authd_session" {
			first = c.Value
			if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Secure || c.Domain != "" {
				t.Errorf("session cookie = %+v, want HttpOnly, SameSite=Lax, Path=/", c)
			}
		}
	}
	if first == "" {
		t.Fatalf("no session cookie set at sign-in")
	}
	// The old CSRF token does not work after the sign-in renewed it.
	if r := b.post("/signout", url.Values{"csrf_token": {form.Get("csrf_token")}}); r.status != http.StatusForbidden {
		t.Errorf("pre-sign-in CSRF token after sign-in: status %d, want 403", r.status)
	}

	// Signing in again (from a second tab's form) starts a new session.
	var csrf string
	for _, c := range b.c.Jar.Cookies(mustURL(t, e.url)) {
		if c.Name == "authd_csrf" {
			csrf = c.Value
		}
	}
	if r := b.post("/signin", url.Values{"csrf_token": {csrf}, "username": {"alice"}, "password": {alicePW}}); r.status != http.StatusSeeOther {
		t.Fatalf("second sign-in: status %d", r.status)
	}
	old := e.browser()
	old.c.Jar.SetCookies(mustURL(t, e.url), []*http.Cookie{{Name: "authd_session", Value: first}})
	if r := old.get("/account"); r.status != http.StatusSeeOther {
		t.Errorf("the first session's cookie after a second sign-in: status %d, want 303 to sign in", r.status)
	}
	if r := b.get("/account"); r.status != http.StatusOK {
		t.Fatalf("account page: status %d", r.status)
	}
	list, err := e.store.ListSessions(context.Background(), u.ID, e.clock.Now())
	if err != nil || len(list) != 1 || list[0].ClientID != "authd" {
		t.Fatalf("sessions = %+v, %v; want the one sign-in session of client authd", list, err)
	}
	if strings.Contains(list[0].ID, first) {
		t.Errorf("the session id holds the cookie value")
	}

	// A password set elsewhere (the CLI, the API) ends the sign-in.
	if _, err := e.store.SetPassword(context.Background(), u.ID, u.PasswordHash, "", e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if r := b.get("/account"); r.status != http.StatusSeeOther || location(t, r).Path != "/signin" {
		t.Errorf("account page after the password was set: status %d, want 303 to /signin", r.status)
	}
}

// The client id of sign-in sessions is reserved: a configured client of
// that name is refused at start-up.
func TestReservedClientID(t *testing.T) {
	e := newEnv(t)
	cfg := e.cfg
	cfg.Clients = append(slices.Clone(cfg.Clients), config.Client{ID: "authd", Public: true, Grants: []string{"password"}, Scopes: []string{"openid"}})
	_, err := server.New(context.Background(), server.Options{Config: cfg, Store: e.store, Keys: e.keys, Hasher: e.hasher})
	if err == nil || !strings.Contains(err.Error(), `"authd" is reserved`) {
		t.Errorf("New with a client named authd: err = %v, want it refused", err)
	}
}

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// A person registers on the page, confirms the address from the mail, and
// lands signed in on the account page.
func TestRegisterPage(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	fields := url.Values{"username": {"grace"}, "email": {"grace@example.com"}, "password": {"cobol compiler 1959"}, "password2": {"cobol compiler 1959"}}

	bad := url.Values{}
	for k, v := range fields {
		bad[k] = v
	}
	bad.Set("password2", "something else entirely")
	r := b.submit("/register", "/register", bad)
	if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "does not match") {
		t.Errorf("mismatched passwords: status %d, body %.300s", r.status, r.body)
	}
	if !strings.Contains(string(r.body), `value="grace@example.com"`) {
		t.Errorf("the form lost the email typed")
	}
	bad.Set("password2", bad.Get("password"))
	bad.Set("password", "short")
	bad.Set("password2", "short")
	if r := b.submit("/register", "/register", bad); r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "Password must be at least") {
		t.Errorf("short password: status %d, body %.500s", r.status, r.body)
	}

	r = b.submit("/register", "/register", fields)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/account?notice=welcome" {
		t.Fatalf("register: status %d Location %q body %.300s", r.status, r.header.Get("Location"), r.body)
	}
	acc := b.get("/account")
	if acc.status != http.StatusOK || !strings.Contains(string(acc.body), "grace") || !strings.Contains(string(acc.body), "not confirmed") {
		t.Fatalf("account page: status %d body %.500s", acc.status, acc.body)
	}

	tok, _ := e.mailToken("/email/verify")
	link := "/email/verify?" + url.Values{"token": {tok}}.Encode()
	// Opening the link changes nothing (mail scanners open links too).
	u, err := e.store.GetUserByUsername(context.Background(), "grace")
	if err != nil || u.EmailVerified {
		t.Fatalf("user = %+v, %v; want unverified before the button", u, err)
	}
	r = b.submit(link, "/email/verify", nil)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/email/verify?done=1" {
		t.Fatalf("verify: status %d Location %q", r.status, r.header.Get("Location"))
	}
	if u, _ := e.store.GetUserByUsername(context.Background(), "grace"); !u.EmailVerified {
		t.Errorf("email not verified after the button")
	}
	// The link is single-use.
	if r := b.submit(link, "/email/verify", nil); r.status != http.StatusBadRequest {
		t.Errorf("second verification: status %d, want 400", r.status)
	}

	// The same name again: the field says so.
	r = e.browser().submit("/register", "/register", fields)
	if r.status != http.StatusConflict || !strings.Contains(string(r.body), "Username is already taken") {
		t.Errorf("taken username: status %d, body %.500s", r.status, r.body)
	}
}

// Forgotten password, by mail, through the pages.
func TestPasswordResetPages(t *testing.T) {
	e := newEnv(t)
	u := e.addUser("alice", alicePW, func(u *storage.User) { u.Email, u.EmailVerified = "alice@example.com", true })
	signedIn := e.browser()
	signedIn.signIn("alice", alicePW)

	b := e.browser()
	r := b.submit("/password/forgot", "/password/forgot", url.Values{"email": {"alice@example.com"}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/password/forgot?sent=1" {
		t.Fatalf("forgot: status %d Location %q", r.status, r.header.Get("Location"))
	}
	// An unknown address gets the very same answer.
	if r := b.submit("/password/forgot", "/password/forgot", url.Values{"email": {"nobody@example.com"}}); r.header.Get("Location") != "/password/forgot?sent=1" {
		t.Errorf("unknown address: status %d Location %q", r.status, r.header.Get("Location"))
	}
	tok, _ := e.mailToken("/password/reset")
	link := "/password/reset?" + url.Values{"uid": {"x"}, "token": {tok}}.Encode()
	page := b.get(link)
	if page.header.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("reset page Referrer-Policy = %q", page.header.Get("Referrer-Policy"))
	}
	r = b.submit(link, "/password/reset", url.Values{"new_password": {"a brand new passphrase"}, "new_password2": {"a different one"}})
	if r.status != http.StatusBadRequest {
		t.Errorf("mismatched new passwords: status %d, want 400", r.status)
	}
	r = b.submit(link, "/password/reset", url.Values{"new_password": {"a brand new passphrase"}, "new_password2": {"a brand new passphrase"}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/signin?notice=password_reset" {
		t.Fatalf("reset: status %d Location %q body %.300s", r.status, r.header.Get("Location"), r.body)
	}
	if r := signedIn.get("/account"); r.status != http.StatusSeeOther {
		t.Errorf("the other browser after the reset: status %d, want 303 (signed out)", r.status)
	}
	if r := b.submit(link, "/password/reset", url.Values{"new_password": {"yet another passphrase"}, "new_password2": {"yet another passphrase"}}); r.status != http.StatusBadRequest {
		t.Errorf("reusing the link: status %d, want 400", r.status)
	}
	b.signIn("alice", "a brand new passphrase")
	_ = u
}

// The account page: profile, password change (other sessions end, this one
// stays), the sessions list, sign out one, sign out everywhere.
func TestAccountPage(t *testing.T) {
	e := newEnv(t)
	u := e.addUser("alice", alicePW)
	b := e.browser()
	if r := b.get("/account"); r.status != http.StatusSeeOther || r.header.Get("Location") != "/signin?next=%2Faccount" {
		t.Fatalf("account page signed out: status %d Location %q", r.status, r.header.Get("Location"))
	}
	b.signIn("alice", alicePW)
	other := e.browser()
	other.signIn("alice", alicePW)
	api := e.login(spaID, "alice", alicePW, "scope", "openid offline_access")

	post := func(fields url.Values) response {
		t.Helper()
		return b.submit("/account", "/account", fields)
	}
	r := post(url.Values{"action": {"profile"}, "username": {"alice"}, "email": {"alice@example.com"}, "first_name": {"Alice"}, "last_name": {"Liddell"}})
	if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "Current password is required") {
		t.Fatalf("email change without the current password: status %d body %.300s", r.status, r.body)
	}
	r = post(url.Values{"action": {"profile"}, "username": {"alice"}, "email": {"alice@example.com"}, "first_name": {"Alice"}, "last_name": {"Liddell"}, "current_password": {alicePW}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/account?notice=profile_saved" {
		t.Fatalf("profile: status %d Location %q body %.300s", r.status, r.header.Get("Location"), r.body)
	}
	if got, _ := e.store.GetUser(context.Background(), u.ID); got.FirstName != "Alice" || got.Email != "alice@example.com" {
		t.Errorf("user after the profile form = %+v", got)
	}
	e.mailToken("/email/verify") // a new address is confirmed by mail
	// The page offers to mail the link again while the address is not
	// confirmed.
	if page := b.get("/account"); !strings.Contains(string(page.body), `value="resend_verification"`) {
		t.Errorf("no resend button for an unconfirmed address")
	}
	r = post(url.Values{"action": {"resend_verification"}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/account?notice=verification_sent" {
		t.Fatalf("resend: status %d Location %q body %.300s", r.status, r.header.Get("Location"), r.body)
	}
	e.mailToken("/email/verify")

	page := b.get("/account")
	if n := strings.Count(string(page.body), `name="action" value="end_session"`); n != 3 {
		t.Errorf("sessions listed = %d, want 3 (two browsers, one API login)", n)
	}
	if !strings.Contains(string(page.body), "this browser") || !strings.Contains(string(page.body), spaID) {
		t.Errorf("the list does not mark this browser or name the client: %.2000s", page.body)
	}

	r = post(url.Values{"action": {"password"}, "old_password": {"wrong password here"}, "new_password": {"a new passphrase"}, "new_password2": {"a new passphrase"}})
	if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "Current password is incorrect") {
		t.Errorf("wrong current password: status %d body %.300s", r.status, r.body)
	}
	r = post(url.Values{"action": {"password"}, "old_password": {alicePW}, "new_password": {"a new passphrase"}, "new_password2": {"a new passphrase"}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/account?notice=password_changed" {
		t.Fatalf("password: status %d Location %q body %.300s", r.status, r.header.Get("Location"), r.body)
	}
	if r := b.get("/account"); r.status != http.StatusOK {
		t.Errorf("this browser after its password change: status %d, want 200", r.status)
	}
	if r := other.get("/account"); r.status != http.StatusSeeOther {
		t.Errorf("the other browser after the password change: status %d, want 303", r.status)
	}
	wantOAuthError(t, e.refresh(spaID, str(api, "refresh_token")), http.StatusBadRequest, "invalid_grant")

	// Sign one session out from the list.
	api = e.login(spaID, "alice", "a new passphrase", "scope", "openid offline_access")
	sid := jwtClaims(t, str(api, "access_token"))["sid"].(string)
	if r := post(url.Values{"action": {"end_session"}, "sid": {sid}}); r.header.Get("Location") != "/account?notice=session_ended" {
		t.Errorf("end session: status %d Location %q", r.status, r.header.Get("Location"))
	}
	wantOAuthError(t, e.refresh(spaID, str(api, "refresh_token")), http.StatusBadRequest, "invalid_grant")
	// Another user's session is not ours to end.
	e.addUser("bob", alicePW)
	bob := e.login(spaID, "bob", alicePW, "scope", "openid offline_access")
	post(url.Values{"action": {"end_session"}, "sid": {jwtClaims(t, str(bob, "access_token"))["sid"].(string)}})
	if r := e.refresh(spaID, str(bob, "refresh_token")); r.status != http.StatusOK {
		t.Errorf("bob's session after alice tried to end it: status %d", r.status)
	}

	// Everywhere.
	api = e.login(spaID, "alice", "a new passphrase", "scope", "openid offline_access")
	r = post(url.Values{"action": {"end_all"}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/signin?notice=signed_out_everywhere" {
		t.Fatalf("end all: status %d Location %q", r.status, r.header.Get("Location"))
	}
	if r := b.get("/account"); r.status != http.StatusSeeOther {
		t.Errorf("this browser after signing out everywhere: status %d, want 303", r.status)
	}
	wantOAuthError(t, e.refresh(spaID, str(api, "refresh_token")), http.StatusBadRequest, "invalid_grant")
	if list, _ := e.store.ListSessions(context.Background(), u.ID, e.clock.Now()); len(list) != 0 {
		t.Errorf("sessions left: %+v", list)
	}
}

// The sign-in form answers like the token endpoint: the same message for
// an unknown user and a wrong password, and the same throttling.
func TestSigninFailures(t *testing.T) {
	e := newEnv(t, func(c *config.Config) { c.Throttle.AccountFailures = 2 })
	e.addUser("alice", alicePW)
	b := e.browser()
	try := func(username, pw string) response {
		return b.submit("/signin", "/signin", url.Values{"username": {username}, "password": {pw}})
	}
	wrong, unknown := try("alice", "not the password"), try("nobody", "not the password")
	for _, r := range []response{wrong, unknown} {
		if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "The username or password is wrong.") {
			t.Errorf("failed sign-in: status %d body %.300s", r.status, r.body)
		}
	}
	try("alice", "not the password")
	r := try("alice", alicePW)
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" || !strings.Contains(string(r.body), "Too many failed sign-ins") {
		t.Errorf("throttled sign-in: status %d Retry-After %q body %.300s", r.status, r.header.Get("Retry-After"), r.body)
	}
	if !strings.Contains(string(r.body), `value="alice"`) {
		t.Errorf("the form lost the username")
	}
}

// RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0).
func TestRPInitiatedLogout(t *testing.T) {
	e := newEnv(t, withCodeClients)
	e.addUser("alice", alicePW)
	e.addUser("bob", alicePW)
	ctx := context.Background()

	// signedIn runs the code flow and returns the browser and the tokens.
	signedIn := func(t *testing.T, who string) (*browser, *oauth2.Token, string) {
		t.Helper()
		b := e.browser()
		cc := e.codeClient(codeID, "", codeRedirect)
		tok, err := cc.exchange(cc.code(t, e, b.authorize(cc.authURL(), who, alicePW)), oauth2.VerifierOption(cc.verifier))
		if err != nil {
			t.Fatal(err)
		}
		return b, tok, tok.Extra("id_token").(string)
	}
	logoutURL := func(params ...string) string {
		q := url.Values{}
		for i := 0; i+1 < len(params); i += 2 {
			q.Set(params[i], params[i+1])
		}
		return "/oauth2/logout?" + q.Encode()
	}
	wantEnded := func(t *testing.T, b *browser, tok *oauth2.Token) {
		t.Helper()
		if r := b.get("/account"); r.status != http.StatusSeeOther {
			t.Errorf("browser still signed in (status %d)", r.status)
		}
		wantOAuthError(t, e.refresh(codeID, tok.RefreshToken), http.StatusBadRequest, "invalid_grant")
	}

	t.Run("with id_token_hint and a registered URI", func(t *testing.T) {
		b, tok, idt := signedIn(t, "alice")
		r := b.get(logoutURL("id_token_hint", idt, "post_logout_redirect_uri", codeLogoutURI, "state", "bye-1"))
		if r.status != http.StatusFound {
			t.Fatalf("status %d, want 302 (body %.300s)", r.status, r.body)
		}
		if got := r.header.Get("Location"); got != codeLogoutURI+"?state=bye-1" {
			t.Errorf("Location = %q, want %s?state=bye-1", got, codeLogoutURI)
		}
		wantEnded(t, b, tok)
	})

	t.Run("an expired hint, signed by a key since retired", func(t *testing.T) {
		b, tok, idt := signedIn(t, "alice")
		if _, err := e.keys.Rotate(ctx, ""); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(e.cfg.Tokens.IDTTL + time.Minute)
		if _, err := e.codeClient(codeID, "", codeRedirect).provider.Verifier(&oidc.Config{ClientID: codeID, Now: e.clock.Now}).Verify(ctx, idt); err == nil {
			t.Fatalf("the hint has not expired; the test proves nothing")
		}
		r := b.get(logoutURL("id_token_hint", idt, "client_id", codeID, "post_logout_redirect_uri", codeLogoutURI))
		if r.status != http.StatusFound || r.header.Get("Location") != codeLogoutURI {
			t.Fatalf("status %d Location %q, want 302 to %s (body %.300s)", r.status, r.header.Get("Location"), codeLogoutURI, r.body)
		}
		wantEnded(t, b, tok)
	})

	t.Run("an expired hint from a browser signed in as no one is confirmed first", func(t *testing.T) {
		_, tok, idt := signedIn(t, "alice")
		e.clock.Advance(e.cfg.Tokens.IDTTL + time.Minute)
		other := e.browser()
		r := other.get(logoutURL("id_token_hint", idt, "client_id", codeID, "post_logout_redirect_uri", codeLogoutURI))
		if r.status != http.StatusOK || r.header.Get("Location") != "" || !strings.Contains(string(r.body), `name="csrf_token"`) {
			t.Fatalf("status %d Location %q, want the confirmation form (body %.300s)", r.status, r.header.Get("Location"), r.body)
		}
		// Whoever confirms it (anyone holding an old logout URL) ends only
		// their own sign-in, never the session the expired hint names.
		if c := other.post("/oauth2/logout", hidden(r.body)); c.status != http.StatusSeeOther {
			t.Fatalf("confirmation: status %d", c.status)
		}
		if r := e.refresh(codeID, tok.RefreshToken); r.status != http.StatusOK {
			t.Errorf("another browser's confirmation of an expired hint ended the hinted session: refresh %d %s", r.status, r.body)
		}
	})

	t.Run("an RP's POST becomes a GET", func(t *testing.T) {
		b, _, idt := signedIn(t, "alice")
		r := b.post("/oauth2/logout", url.Values{"id_token_hint": {idt}, "state": {"s"}}, "Origin", "https://app.example.com", "Sec-Fetch-Site", "cross-site")
		if r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/oauth2/logout?") {
			t.Fatalf("status %d Location %q, want 303 to the GET", r.status, r.header.Get("Location"))
		}
		if r := b.get(r.header.Get("Location")); r.status != http.StatusOK || !strings.Contains(string(r.body), "You are signed out") {
			t.Errorf("GET after the POST: status %d body %.300s", r.status, r.body)
		}
	})

	t.Run("refused without redirecting", func(t *testing.T) {
		b, tok, idt := signedIn(t, "alice")
		forged := idt[:len(idt)-4] + "AAAA"
		if strings.HasSuffix(idt, "AAAA") {
			forged = idt[:len(idt)-4] + "BBBB"
		}
		for name, u := range map[string]string{
			"unregistered URI":          logoutURL("id_token_hint", idt, "post_logout_redirect_uri", "https://evil.example/"),
			"URI of another client":     logoutURL("id_token_hint", idt, "post_logout_redirect_uri", codeRedirect),
			"URI without client":        logoutURL("post_logout_redirect_uri", codeLogoutURI),
			"forged hint":               logoutURL("id_token_hint", forged, "post_logout_redirect_uri", codeLogoutURI),
			"access token as hint":      logoutURL("id_token_hint", tok.AccessToken, "post_logout_redirect_uri", codeLogoutURI),
			"client_id not of the hint": logoutURL("id_token_hint", idt, "client_id", codeConfID),
			"unknown client":            logoutURL("client_id", "nobody", "post_logout_redirect_uri", codeLogoutURI),
		} {
			t.Run(name, func(t *testing.T) {
				r := b.get(u)
				if r.status != http.StatusBadRequest || r.header.Get("Location") != "" {
					t.Errorf("status %d Location %q, want a 400 page", r.status, r.header.Get("Location"))
				}
				checkPageHeaders(t, r.header)
			})
		}
		if r := e.refresh(codeID, tok.RefreshToken); r.status != http.StatusOK {
			t.Errorf("the session ended after refused logouts: status %d", r.status)
		}
	})

	t.Run("without a hint the person is asked", func(t *testing.T) {
		b, tok, _ := signedIn(t, "alice")
		u := logoutURL("client_id", codeID, "post_logout_redirect_uri", codeLogoutURI, "state", "q")
		page := b.get(u)
		if page.status != http.StatusOK || !strings.Contains(string(page.body), "Sign out?") {
			t.Fatalf("status %d body %.300s, want the question", page.status, page.body)
		}
		if r := b.get("/account"); r.status != http.StatusOK {
			t.Errorf("signed out before answering: status %d", r.status)
		}
		f := hidden(page.body)
		f.Del("csrf_token")
		f.Set("csrf_token", "forged-forged-forged-forged-forged-forged-xx")
		if r := b.post("/oauth2/logout", f); r.status != http.StatusForbidden {
			t.Errorf("forged confirmation: status %d, want 403", r.status)
		}
		r := b.post("/oauth2/logout", hidden(page.body))
		if r.status != http.StatusSeeOther || r.header.Get("Location") != codeLogoutURI+"?state=q" {
			t.Fatalf("confirmation: status %d Location %q", r.status, r.header.Get("Location"))
		}
		if r := b.get("/account"); r.status != http.StatusSeeOther {
			t.Errorf("browser still signed in after the confirmation")
		}
		// Without a hint the client's session is not known: it lives on.
		if r := e.refresh(codeID, tok.RefreshToken); r.status != http.StatusOK {
			t.Errorf("client session after a logout without hint: status %d", r.status)
		}
	})

	t.Run("a hint of another user is asked about", func(t *testing.T) {
		_, bobTok, bobIDT := signedIn(t, "bob")
		b, _, _ := signedIn(t, "alice")
		page := b.get(logoutURL("id_token_hint", bobIDT))
		if page.status != http.StatusOK || !strings.Contains(string(page.body), "Sign out?") {
			t.Fatalf("status %d, want the question", page.status)
		}
		if r := e.refresh(codeID, bobTok.RefreshToken); r.status != http.StatusOK {
			t.Errorf("bob's session ended before anyone answered: status %d", r.status)
		}
	})
}
