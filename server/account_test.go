package server_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/config"
	"github.com/authd/authd/storage"
)

// postJSON sends a JSON body; auth is an access token or "".
func (e *testEnv) postJSON(method, path, body, auth string, headers ...string) response {
	e.t.Helper()
	h := append([]string{"Content-Type", "application/json"}, headers...)
	if auth != "" {
		h = append(h, "Authorization", "Bearer "+auth)
	}
	return e.do(method, path, body, h...)
}

// wantFields checks an account error with field problems.
func wantFields(t *testing.T, r response, status int, fields ...string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d (body %s)", r.status, status, r.body)
	}
	var body struct {
		Error  string            `json:"error"`
		Fields map[string]string `json:"fields"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
	for _, f := range fields {
		if body.Fields[f] == "" {
			t.Errorf("no problem reported for %q in %s", f, r.body)
		}
	}
	if len(body.Fields) != len(fields) {
		t.Errorf("fields = %v, want exactly %v", body.Fields, fields)
	}
}

// mailToken waits for the next mail and returns the token of its link to path.
func (e *testEnv) mailToken(path string) (string, string) {
	e.t.Helper()
	m, err := e.smtp.WaitMessage(10 * time.Second)
	if err != nil {
		e.t.Fatal(err)
	}
	tok, err := m.LinkToken(path)
	if err != nil {
		e.t.Fatalf("%v in %q", err, m.Text)
	}
	return tok, m.Text
}

func TestRegisterAndVerifyEmail(t *testing.T) {
	e := newEnv(t)
	r := e.postJSON("POST", "/account/register", `{"username":"Ada","password":"analytical engine 1843","email":"ada@example.com"}`, "")
	if r.status != 201 {
		t.Fatalf("register: %d %s", r.status, r.body)
	}
	u := r.json(t)
	if u["username"] != "Ada" || u["email"] != "ada@example.com" || u["email_verified"] != false || !strings.HasPrefix(str(u, "id"), "u_") {
		t.Errorf("registered user = %v", u)
	}
	if strings.Contains(string(r.body), "argon2") || strings.Contains(string(r.body), "password") {
		t.Errorf("register answer shows password material: %s", r.body)
	}
	tok, text := e.mailToken("/email/verify")
	if !strings.Contains(text, e.url+"/email/verify?token=") {
		t.Errorf("verification link not under the issuer: %q", text)
	}
	at := str(e.login(spaID, "ada", "analytical engine 1843", "scope", "openid email"), "access_token")
	info := e.do("GET", "/userinfo", nil, "Authorization", "Bearer "+at).json(t)
	if info["email_verified"] != false {
		t.Errorf("email_verified before verification: %v", info)
	}
	if r := e.postJSON("POST", "/account/email/verify", `{"token":"`+tok+`"}`, ""); r.status != 204 {
		t.Fatalf("verify: %d %s", r.status, r.body)
	}
	info = e.do("GET", "/userinfo", nil, "Authorization", "Bearer "+at).json(t)
	if info["email_verified"] != true {
		t.Errorf("email_verified after verification: %v", info)
	}
	tr := e.login(spaID, "ada", "analytical engine 1843", "scope", "openid email")
	if jwtClaims(t, str(tr, "id_token"))["email_verified"] != true {
		t.Error("ID token does not say email_verified")
	}
	if r := e.postJSON("POST", "/account/email/verify", `{"token":"`+tok+`"}`, ""); r.status != 400 {
		t.Errorf("second use of a verification token: %d, want 400", r.status)
	}
}

func TestRegisterValidation(t *testing.T) {
	e := newEnv(t)
	e.addUser("taken", "some password 1", func(u *storage.User) { u.Email = "taken@example.com" })
	tests := []struct {
		name   string
		body   string
		status int
		fields []string
	}{
		{"short password", `{"username":"a1","password":"short"}`, 400, []string{"password"}},
		{"common password", `{"username":"a2","password":"password123"}`, 400, []string{"password"}},
		{"password is the username", `{"username":"longusername","password":"longusername1"}`, 400, []string{"password"}},
		{"control character", `{"username":"a\u0007b","password":"fine password 1"}`, 400, []string{"username"}},
		{"NUL byte", `{"username":"a\u0000b","password":"fine password 1"}`, 400, []string{"username"}},
		{"RTL override", `{"username":"a\u202eb","password":"fine password 1"}`, 400, []string{"username"}},
		{"NUL in password", `{"username":"a3","password":"fine\u0000password"}`, 400, []string{"password"}},
		{"too long", `{"username":"` + strings.Repeat("x", 151) + `","password":"fine password 1"}`, 400, []string{"username"}},
		{"bad email", `{"username":"a4","password":"fine password 1","email":"not an email"}`, 400, []string{"email"}},
		{"display name email", `{"username":"a5","password":"fine password 1","email":"Ann <a@example.com>"}`, 400, []string{"email"}},
		{"several at once", `{"username":"","password":"x","email":"@"}`, 400, []string{"username", "password", "email"}},
		{"username taken", `{"username":"TAKEN","password":"fine password 1"}`, 409, []string{"username"}},
		{"email taken", `{"username":"a6","password":"fine password 1","email":"Taken@Example.com"}`, 409, []string{"email"}},
		{"unknown field", `{"username":"a7","password":"fine password 1","disabled":false}`, 400, []string{"disabled"}},
		{"wrong type", `{"username":7,"password":"fine password 1"}`, 400, []string{"username"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantFields(t, e.postJSON("POST", "/account/register", tt.body, ""), tt.status, tt.fields...)
		})
	}
	for name, c := range map[string]struct {
		body, ctype string
		status      int
	}{
		"malformed":     {`{"username":`, "application/json", 400},
		"trailing data": {`{"username":"x","password":"y"} {}`, "application/json", 400},
		"not an object": {`[1,2]`, "application/json", 400},
		"empty":         {``, "application/json", 400},
		"form body":     {`username=x`, "application/x-www-form-urlencoded", 415},
		"huge":          {`{"username":"` + strings.Repeat("x", 70<<10) + `"}`, "application/json", 413},
	} {
		t.Run(name, func(t *testing.T) {
			r := e.do("POST", "/account/register", c.body, "Content-Type", c.ctype)
			if r.status != c.status {
				t.Errorf("status = %d, want %d (%s)", r.status, c.status, r.body)
			}
			if m := r.json(t); m["error"] == "" {
				t.Errorf("no error code in %s", r.body)
			}
		})
	}
	// Nothing half-written: only the pre-existing user exists.
	if _, err := e.store.GetUserByUsername(t.Context(), "a1"); err == nil {
		t.Error("a rejected registration left a user behind")
	}
}

func TestMe(t *testing.T) {
	e := newEnv(t)
	e.addUser("bea", "beas password 1", func(u *storage.User) { u.Email, u.EmailVerified = "bea@example.com", true })
	at := str(e.login(spaID, "bea", "beas password 1"), "access_token")
	if r := e.do("GET", "/account/me", nil); r.status != 401 {
		t.Errorf("no token: %d", r.status)
	}
	m := e.do("GET", "/account/me", nil, "Authorization", "Bearer "+at).json(t)
	if m["username"] != "bea" || m["email_verified"] != true {
		t.Errorf("me = %v", m)
	}
	t.Run("fields a client cannot set", func(t *testing.T) {
		for _, f := range []string{`"disabled":true`, `"id":"u_x"`, `"email_verified":true`, `"username":"other"`} {
			wantFields(t, e.postJSON("PATCH", "/account/me", "{"+f+"}", at), 400, strings.Split(strings.Trim(f, `"`), `"`)[0])
		}
	})
	t.Run("names", func(t *testing.T) {
		r := e.postJSON("PATCH", "/account/me", `{"first_name":"Beatrice","last_name":"Shilling"}`, at)
		if m := r.json(t); r.status != 200 || m["first_name"] != "Beatrice" || m["email_verified"] != true {
			t.Errorf("patch names: %d %v", r.status, m)
		}
	})
	t.Run("email change needs verification again", func(t *testing.T) {
		wantFields(t, e.postJSON("PATCH", "/account/me", `{"email":"bea@new.example"}`, at), 400, "password")
		wantFields(t, e.postJSON("PATCH", "/account/me", `{"email":"bea@new.example","password":"not it"}`, at), 400, "password")
		r := e.postJSON("PATCH", "/account/me", `{"email":"bea@new.example","password":"beas password 1"}`, at)
		if m := r.json(t); r.status != 200 || m["email"] != "bea@new.example" || m["email_verified"] != false {
			t.Fatalf("patch email: %d %v", r.status, m)
		}
		tok, text := e.mailToken("/email/verify")
		if !strings.Contains(text, "/email/verify") {
			t.Fatal(text)
		}
		if r := e.postJSON("POST", "/account/email/verify", `{"token":"`+tok+`"}`, ""); r.status != 204 {
			t.Fatalf("verify: %d %s", r.status, r.body)
		}
		if m := e.do("GET", "/account/me", nil, "Authorization", "Bearer "+at).json(t); m["email_verified"] != true {
			t.Errorf("after verifying the new address: %v", m)
		}
	})
}

func TestPasswordChange(t *testing.T) {
	e := newEnv(t)
	e.addUser("cyd", "cyds password 1")
	mine := e.login(spaID, "cyd", "cyds password 1")
	other := e.login(spa2ID, "cyd", "cyds password 1")
	at := str(mine, "access_token")
	wantFields(t, e.postJSON("POST", "/account/password", `{"old_password":"wrong","new_password":"brand new secret 2"}`, at), 400, "old_password")
	wantFields(t, e.postJSON("POST", "/account/password", `{"old_password":"cyds password 1","new_password":"qwerty123"}`, at), 400, "new_password")
	if r := e.postJSON("POST", "/account/password", `{"old_password":"cyds password 1","new_password":"brand new secret 2"}`, at); r.status != 204 {
		t.Fatalf("change: %d %s", r.status, r.body)
	}
	wantOAuthError(t, e.refresh(spa2ID, str(other, "refresh_token")), 400, "invalid_grant")
	if r := e.do("GET", "/account/me", nil, "Authorization", "Bearer "+str(other, "access_token")); r.status != 401 {
		t.Errorf("other session's access token after a password change: %d", r.status)
	}
	if r := e.refresh(spaID, str(mine, "refresh_token")); r.status != 200 {
		t.Errorf("the caller's own session ended: %d %s", r.status, r.body)
	}
	e.login(spaID, "cyd", "brand new secret 2")
}

func TestPasswordReset(t *testing.T) {
	e := newEnv(t)
	e.addUser("dot", "dots password 1", func(u *storage.User) { u.Email = "dot@example.com" })
	s1 := e.login(spaID, "dot", "dots password 1")

	// Unknown address: the same answer, and no mail.
	r := e.postJSON("POST", "/account/password/reset", `{"email":"nobody@example.com"}`, "")
	if r.status != 202 {
		t.Fatalf("reset for an unknown email: %d", r.status)
	}
	unknownBody := string(r.body)
	// A spoofed Host header must not reach the link.
	r = e.postJSON("POST", "/account/password/reset", `{"email":"DOT@example.com"}`, "", "Host", "evil.example", "X-Forwarded-Host", "evil.example")
	if r.status != 202 || string(r.body) != unknownBody {
		t.Fatalf("reset for a known email: %d %s, want the unknown address's answer %s", r.status, r.body, unknownBody)
	}
	tok, text := e.mailToken("/password/reset")
	if strings.Contains(text, "evil.example") || !strings.Contains(text, e.url+"/password/reset?") {
		t.Errorf("reset link not built from the issuer: %q", text)
	}
	if msgs := e.smtp.Messages(); len(msgs) != 1 {
		t.Errorf("%d mails sent, want 1 (none for the unknown address)", len(msgs))
	}

	wantFields(t, e.postJSON("POST", "/account/password/reset/confirm", `{"token":"`+tok+`","new_password":"123456789"}`, ""), 400, "new_password")
	// Two confirms race: exactly one wins.
	var wg sync.WaitGroup
	codes := make([]int, 2)
	for i := range codes {
		wg.Go(func() {
			codes[i] = e.postJSON("POST", "/account/password/reset/confirm", `{"token":"`+tok+`","new_password":"reset password `+string(rune('A'+i))+`9"}`, "").status
		})
	}
	wg.Wait()
	if !(codes[0] == 204 && codes[1] == 400 || codes[0] == 400 && codes[1] == 204) {
		t.Fatalf("concurrent confirms = %v, want one 204 and one 400", codes)
	}
	winner := "reset password A9"
	if codes[1] == 204 {
		winner = "reset password B9"
	}
	wantOAuthError(t, e.refresh(spaID, str(s1, "refresh_token")), 400, "invalid_grant")
	e.login(spaID, "dot", winner)
	wantOAuthError(t, e.token(url.Values{"grant_type": {"password"}, "client_id": {spaID}, "username": {"dot"}, "password": {"dots password 1"}}), 400, "invalid_grant")

	t.Run("a later request invalidates the earlier link", func(t *testing.T) {
		e.postJSON("POST", "/account/password/reset", `{"email":"dot@example.com"}`, "")
		first, _ := e.mailToken("/password/reset")
		e.postJSON("POST", "/account/password/reset", `{"email":"dot@example.com"}`, "")
		second, _ := e.mailToken("/password/reset")
		wantFields(t, e.postJSON("POST", "/account/password/reset/confirm", `{"token":"`+first+`","new_password":"another fine pw 3"}`, ""), 400, "token")
		if r := e.postJSON("POST", "/account/password/reset/confirm", `{"token":"`+second+`","new_password":"another fine pw 3"}`, ""); r.status != 204 {
			t.Errorf("newest link: %d %s", r.status, r.body)
		}
	})
	t.Run("expired", func(t *testing.T) {
		e.clock.Advance(2 * time.Hour) // a fresh hour for the per-account mail limit
		e.postJSON("POST", "/account/password/reset", `{"email":"dot@example.com"}`, "")
		tok, _ := e.mailToken("/password/reset")
		e.clock.Advance(time.Hour)
		wantFields(t, e.postJSON("POST", "/account/password/reset/confirm", `{"token":"`+tok+`","new_password":"another fine pw 4"}`, ""), 400, "token")
	})
}

func TestSessions(t *testing.T) {
	e := newEnv(t)
	e.addUser("eve", "eves password 1")
	e.addUser("fay", "fays password 1")
	a := e.login(spaID, "eve", "eves password 1")
	b := e.login(spa2ID, "eve", "eves password 1")
	f := e.login(spaID, "fay", "fays password 1")
	at := str(a, "access_token")
	var list []map[string]any
	r := e.do("GET", "/account/sessions", nil, "Authorization", "Bearer "+at)
	if err := json.Unmarshal(r.body, &list); err != nil || len(list) != 2 {
		t.Fatalf("sessions: %d %s", r.status, r.body)
	}
	for _, s := range list {
		for _, k := range []string{"id", "client_id", "created_at", "last_used_at", "user_agent", "address"} {
			if _, ok := s[k]; !ok {
				t.Errorf("session lacks %s: %v", k, s)
			}
		}
		if strings.Contains(string(r.body), str(a, "refresh_token")) {
			t.Error("session list shows token material")
		}
	}
	fsid := jwtClaims(t, str(f, "access_token"))["sid"].(string)
	if r := e.do("DELETE", "/account/sessions/"+fsid, nil, "Authorization", "Bearer "+at); r.status != 404 {
		t.Errorf("deleting another user's session: %d, want 404", r.status)
	}
	if r := e.refresh(spaID, str(f, "refresh_token")); r.status != 200 {
		t.Errorf("the other user's session was touched: %d", r.status)
	}
	bsid := jwtClaims(t, str(b, "access_token"))["sid"].(string)
	if r := e.do("DELETE", "/account/sessions/"+bsid, nil, "Authorization", "Bearer "+at); r.status != 204 {
		t.Fatalf("deleting own session: %d %s", r.status, r.body)
	}
	wantOAuthError(t, e.refresh(spa2ID, str(b, "refresh_token")), 400, "invalid_grant")
	if r := e.do("DELETE", "/account/sessions/"+bsid, nil, "Authorization", "Bearer "+at); r.status != 404 {
		t.Errorf("deleting an ended session: %d, want 404", r.status)
	}
	// Logout ends the current session.
	if r := e.do("POST", "/account/logout", nil, "Authorization", "Bearer "+at); r.status != 204 {
		t.Fatalf("logout: %d %s", r.status, r.body)
	}
	wantOAuthError(t, e.refresh(spaID, str(a, "refresh_token")), 400, "invalid_grant")
	if r := e.do("GET", "/account/me", nil, "Authorization", "Bearer "+at); r.status != 401 {
		t.Errorf("access token after logout: %d", r.status)
	}
}

func TestLoginThrottling(t *testing.T) {
	e := newEnv(t, func(c *config.Config) {
		c.Throttle.AccountFailures = 3
		c.Throttle.AddressFailures = 6
	})
	e.addUser("gus", "gus password 12", func(u *storage.User) { u.Email = "gus@example.com" })
	e.addUser("hal", "hal password 12")
	try := func(user, pw string, headers ...string) response {
		return e.token(url.Values{"grant_type": {"password"}, "client_id": {spaID}, "username": {user}, "password": {pw}}, headers...)
	}
	for range 3 {
		wantOAuthError(t, try("gus", "wrong password"), 400, "invalid_grant")
	}
	r := try("gus", "gus password 12") // the right password, while locked
	wantOAuthError(t, r, 429, "too_many_requests")
	if r.header.Get("Retry-After") != "60" {
		t.Errorf("Retry-After = %q, want 60", r.header.Get("Retry-After"))
	}
	// An unknown user locks the same way.
	for range 3 {
		try("ghost", "whatever pw")
	}
	wantOAuthError(t, try("ghost", "whatever pw"), 429, "too_many_requests")
	// The address has 6 failures now: even another account waits, and a
	// spoofed X-Forwarded-For changes nothing.
	wantOAuthError(t, try("hal", "hal password 12", "X-Forwarded-For", "203.0.113.9"), 429, "too_many_requests")
	// Password reset keeps working.
	if r := e.postJSON("POST", "/account/password/reset", `{"email":"gus@example.com"}`, ""); r.status != 202 {
		t.Errorf("reset while locked: %d", r.status)
	}
	e.clock.Advance(61 * time.Second)
	if r := try("gus", "gus password 12"); r.status != 200 {
		t.Errorf("after the wait: %d %s", r.status, r.body)
	}
	// The Django-era login is throttled by the same counters.
	for range 3 {
		e.postJSON("POST", "/rest-auth/login/", `{"username":"hal","password":"nope nope"}`, "")
	}
	r = e.postJSON("POST", "/rest-auth/login/", `{"username":"hal","password":"hal password 12"}`, "")
	if r.status != 429 || r.header.Get("Retry-After") == "" {
		t.Errorf("Django-era login while locked: %d %s", r.status, r.body)
	}
}

func TestRegistrationRateLimit(t *testing.T) {
	e := newEnv(t, func(c *config.Config) { c.Throttle.RegistrationsPerHour = 2 })
	for i := range 2 {
		r := e.postJSON("POST", "/account/register", `{"username":"r`+string(rune('a'+i))+`","password":"fine password 1"}`, "")
		if r.status != 201 {
			t.Fatalf("registration %d: %d %s", i, r.status, r.body)
		}
	}
	r := e.postJSON("POST", "/account/register", `{"username":"rz","password":"fine password 1"}`, "")
	if r.status != 429 || r.header.Get("Retry-After") == "" {
		t.Errorf("third registration: %d %v", r.status, r.header)
	}
}

func TestAccountCORS(t *testing.T) {
	e := newEnv(t)
	r := e.do(http.MethodOptions, "/account/me", nil, "Origin", "https://app.example.com", "Access-Control-Request-Method", "PATCH")
	if r.status != 204 || r.header.Get("Access-Control-Allow-Origin") != "https://app.example.com" {
		t.Errorf("preflight: %d %v", r.status, r.header)
	}
}
