package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd/authd/config"
	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/storagetest"
	"github.com/authd/authd/token"
)

// What a storage failure or a busy hasher looks like on each surface: 503
// with Retry-After, a body in the surface's own shape that says nothing of
// the cause, nothing half written, and no failed login counted.

// surface is how a request's errors are answered.
type surface int

const (
	surfOAuth   surface = iota // RFC 6749 §5.2 JSON
	surfAccount                // the account API: the same JSON
	surfDRF                    // the Django-era paths: DRF's {"detail": ...}
	surfPage                   // HTML pages
)

// faultConfig makes one uncounted failed login show: an account waits after
// two failures, the one address of the tests after three. Registrations and
// profile changes are not what these tests count.
func faultConfig(c *config.Config) {
	c.Throttle.AccountFailures = 2
	c.Throttle.AddressFailures = 3
	c.Throttle.RegistrationsPerHour = 10_000
}

// faultAttempts is how many times a request that checks a password is sent
// while failing: enough to lock both the account and the address, were the
// attempts counted.
const faultAttempts = 3

// background are the methods the server's own workers call on a timer;
// they say nothing about the request under test.
var background = []string{"EndedSessions", "RevokedJTIs", "DeleteExpired"}

// limitMethods keep the abuse limits' counts. When they fail the limits
// fall back to the process's own counts and the request goes on, so they
// are tried apart from the others (see TestStorageFaults).
var limitMethods = []string{"LimitAttempt", "LimitCount", "LimitClear", "LimitAllow"}

// fixture is what a request needs, made fresh for every run.
type fixture struct {
	user    storage.User
	pw      string
	name    string // a username nobody has, for registrations
	access  string // an access token of fx.user with the account scope
	refresh string // its refresh token
	legacy  string // a token of the Django-era paths
	otp     string // a reset or verification token
	b       *browser
	form    url.Values // the form a page request posts, CSRF token included
}

type faultCase struct {
	name    string
	surface surface
	// prepare makes the fixture, with no fault set.
	prepare func(e *testEnv) *fixture
	// send makes the request.
	send func(e *testEnv, fx *fixture) response
	// ok is the status of the request when nothing fails.
	ok int
	// intact checks, with no fault set, that the failed request left
	// nothing half done; fault is the method that failed, "all", or
	// "busy" for the hasher.
	intact func(e *testEnv, fx *fixture, fault string)
	// judges: the request checks fx.pw, so failed attempts must not count
	// against the login throttle.
	judges bool
	// hashes: the request hashes or verifies a password (the busy test).
	hashes bool
	// tolerated are methods whose failure the request rides out: work
	// done on a best-effort basis after its answer is settled.
	tolerated []string
}

var faultSeq atomic.Int64

// forTest is the env as seen from a subtest: its helpers fail that test.
func (e *testEnv) forTest(t *testing.T) *testEnv {
	c := *e
	c.t = t
	return &c
}

const faultPW = "fault tolerant pw 1"

// newFaultUser adds a user with an email and a password.
func newFaultUser(e *testEnv) *fixture {
	n := fmt.Sprintf("fault%d", faultSeq.Add(1))
	u := e.addUser(n, faultPW, func(u *storage.User) { u.Email = n + "@example.com" })
	return &fixture{user: u, pw: faultPW, name: fmt.Sprintf("fresh%d", faultSeq.Add(1))}
}

// withLogin adds a signed-in session of the public client.
func withLogin(e *testEnv) *fixture {
	fx := newFaultUser(e)
	m := e.login(spaID, fx.user.Username, fx.pw)
	fx.access, fx.refresh = str(m, "access_token"), str(m, "refresh_token")
	return fx
}

// withLegacy adds a session of the Django-era paths.
func withLegacy(e *testEnv) *fixture {
	fx := newFaultUser(e)
	r := e.postJSON("POST", "/rest-auth/login/", jsonBody("username", fx.user.Username, "password", fx.pw), "")
	if r.status != 200 {
		e.t.Fatalf("Django-era login: %d %s", r.status, r.body)
	}
	fx.legacy = str(r.json(e.t), "token")
	return fx
}

// withOneTime adds a live one-time token of fx.user for purpose, as the
// mail would carry it.
func withOneTime(e *testEnv, fx *fixture, purpose string) {
	fx.otp = token.Random(32)
	now := e.clock.Now()
	err := e.store.CreateOneTimeToken(context.Background(), storage.OneTimeToken{
		Hash: token.Hash(fx.otp), Purpose: purpose, UserID: fx.user.ID, Email: fx.user.Email,
		CreatedAt: now, ExpiresAt: now.Add(time.Hour),
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

// withPage opens a page in a new browser (signed in as fx.user when
// signIn) and keeps its CSRF token for the form to post.
func withPage(e *testEnv, fx *fixture, path string, signIn bool) {
	fx.b = e.browser()
	if signIn {
		fx.b.signIn(fx.user.Username, fx.pw)
	}
	r := fx.b.get(path)
	if r.status != 200 {
		e.t.Fatalf("GET %s: %d", path, r.status)
	}
	fx.form = url.Values{"csrf_token": {hidden(r.body).Get("csrf_token")}}
	if fx.form.Get("csrf_token") == "" {
		e.t.Fatalf("no CSRF token on %s", path)
	}
}

// postForm posts fx.form plus kv pairs from fx.b.
func postForm(fx *fixture, path string, kv ...string) response {
	form := url.Values{}
	for k, v := range fx.form {
		form[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		form.Set(kv[i], kv[i+1])
	}
	return fx.b.post(path, form)
}

func jsonBody(kv ...string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func (e *testEnv) liveSessions(userID string) int {
	e.t.Helper()
	list, err := e.store.ListSessions(context.Background(), userID, e.clock.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	return len(list)
}

func (e *testEnv) storedUser(id string) storage.User {
	e.t.Helper()
	u, err := e.store.GetUser(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

// wantSessions checks how many live sessions the user has.
func wantSessions(e *testEnv, fx *fixture, n int) {
	e.t.Helper()
	if got := e.liveSessions(fx.user.ID); got != n {
		e.t.Errorf("%d live sessions, want %d", got, n)
	}
}

// wantPasswordKept checks that the password did not change and the
// caller's session lives on.
func wantPasswordKept(e *testEnv, fx *fixture, _ string) {
	e.t.Helper()
	if e.storedUser(fx.user.ID).PasswordHash != fx.user.PasswordHash {
		e.t.Error("the password changed")
	}
	wantSessions(e, fx, 1)
}

// wantNoAccount checks that a failed registration stored nothing, and that
// registering again works.
func wantNoAccount(e *testEnv, fx *fixture) {
	e.t.Helper()
	if _, err := e.store.GetUserByUsername(context.Background(), fx.name); !errors.Is(err, storage.ErrNotFound) {
		e.t.Fatalf("a failed registration left the account %q behind (lookup: %v)", fx.name, err)
	}
	if r := e.postJSON("POST", "/account/register", jsonBody("username", fx.name, "password", faultPW), ""); r.status != 201 {
		e.t.Errorf("registering again: %d %s", r.status, r.body)
	}
}

// signInAfterRegistration is what a registration that also signs the new
// user in calls after the account is stored: a fault there fails the
// sign-in, while the account stays complete (it exists and its password
// works) and no session is left behind.
var signInAfterRegistration = []string{"CreateSession", "GetUser"}

func wantRegistrationUndone(e *testEnv, fx *fixture, fault string) {
	e.t.Helper()
	if !slices.Contains(signInAfterRegistration, fault) {
		wantNoAccount(e, fx)
		return
	}
	u, err := e.store.GetUserByUsername(context.Background(), fx.name)
	if err != nil {
		e.t.Fatalf("the account is gone: %v", err)
	}
	if n := e.liveSessions(u.ID); n != 0 {
		e.t.Errorf("the failed sign-in left %d live sessions", n)
	}
	if r := e.token(url.Values{"grant_type": {"password"}, "client_id": {spaID}, "username": {fx.name}, "password": {faultPW}}); r.status != 200 {
		e.t.Errorf("signing in to the account: %d %s", r.status, r.body)
	}
}

func faultCases() []faultCase {
	readOnly := func(*testEnv, *fixture, string) {}
	noSession := func(e *testEnv, fx *fixture, _ string) { wantSessions(e, fx, 0) }
	bearer := func(fx *fixture) []string { return []string{"Authorization", "Bearer " + fx.access} }
	legacyAuth := func(fx *fixture) []string { return []string{"Authorization", "JWT " + fx.legacy} }
	const newPW = "a brand new pass 2"
	revoked := func(e *testEnv, fx *fixture, tok string) {
		// Whatever the failure left, a retry revokes the whole session.
		if r := e.revoke(spaID, tok); r.status != 200 {
			e.t.Fatalf("revoking again: %d %s", r.status, r.body)
		}
		wantSessions(e, fx, 0)
		wantOAuthError(e.t.(*testing.T), e.refresh(spaID, fx.refresh), 400, "invalid_grant")
	}
	return []faultCase{
		// OAuth (client_credentials reads no storage).
		{
			name: "oauth/password grant", surface: surfOAuth, ok: 200, judges: true, hashes: true,
			prepare: newFaultUser,
			send: func(e *testEnv, fx *fixture) response {
				return e.token(url.Values{"grant_type": {"password"}, "client_id": {spaID}, "username": {fx.user.Username}, "password": {fx.pw}})
			},
			intact: noSession,
		},
		{
			name: "oauth/refresh grant", surface: surfOAuth, ok: 200,
			prepare: withLogin,
			send:    func(e *testEnv, fx *fixture) response { return e.refresh(spaID, fx.refresh) },
			intact: func(e *testEnv, fx *fixture, _ string) {
				// Not rotated: the token still works.
				if r := e.refresh(spaID, fx.refresh); r.status != 200 {
					e.t.Errorf("refreshing after the failure: %d %s", r.status, r.body)
				}
			},
		},
		{
			name: "oauth/revoke refresh token", surface: surfOAuth, ok: 200,
			prepare: withLogin,
			send:    func(e *testEnv, fx *fixture) response { return e.revoke(spaID, fx.refresh) },
			intact:  func(e *testEnv, fx *fixture, _ string) { revoked(e, fx, fx.refresh) },
		},
		{
			name: "oauth/revoke access token", surface: surfOAuth, ok: 200,
			prepare: withLogin,
			send:    func(e *testEnv, fx *fixture) response { return e.revoke(spaID, fx.access) },
			intact: func(e *testEnv, fx *fixture, _ string) {
				revoked(e, fx, fx.access)
				wantInactive(e.t.(*testing.T), e.introspect(fx.access))
			},
		},
		{
			name: "oauth/introspect", surface: surfOAuth, ok: 200,
			prepare: withLogin,
			send: func(e *testEnv, fx *fixture) response {
				return e.do("POST", "/oauth2/introspect", url.Values{"token": {fx.access}}, "Authorization", rsAuth())
			},
			intact: readOnly,
		},
		{
			name: "oauth/userinfo", surface: surfOAuth, ok: 200,
			prepare: withLogin,
			send:    func(e *testEnv, fx *fixture) response { return e.do("GET", "/userinfo", nil, bearer(fx)...) },
			intact:  readOnly,
		},

		// The account API.
		{
			name: "account/register", surface: surfAccount, ok: 201, hashes: true,
			prepare: newFaultUser,
			send: func(e *testEnv, fx *fixture) response {
				return e.postJSON("POST", "/account/register", jsonBody("username", fx.name, "password", faultPW, "email", fx.name+"@example.com"), "")
			},
			intact: func(e *testEnv, fx *fixture, _ string) { wantNoAccount(e, fx) },
			// Reading back the stored pk, and the verification mail.
			tolerated: []string{"GetUser", "CreateOneTimeToken"},
		},
		{
			name: "account/me", surface: surfAccount, ok: 200,
			prepare: withLogin,
			send:    func(e *testEnv, fx *fixture) response { return e.do("GET", "/account/me", nil, bearer(fx)...) },
			intact:  readOnly,
		},
		{
			name: "account/me patch", surface: surfAccount, ok: 200,
			prepare: withLogin,
			send: func(e *testEnv, fx *fixture) response {
				return e.postJSON("PATCH", "/account/me", jsonBody("first_name", "Changed"), fx.access)
			},
			intact: func(e *testEnv, fx *fixture, _ string) {
				if u := e.storedUser(fx.user.ID); u.FirstName != "" {
					e.t.Errorf("first name %q stored by a failed request", u.FirstName)
				}
			},
		},
		{
			name: "account/password change", surface: surfAccount, ok: 204, judges: true, hashes: true,
			prepare: withLogin,
			send: func(e *testEnv, fx *fixture) response {
				return e.postJSON("POST", "/account/password", jsonBody("old_password", fx.pw, "new_password", newPW), fx.access)
			},
			intact: wantPasswordKept,
		},
		{
			name: "account/reset confirm", surface: surfAccount, ok: 204,
			prepare: func(e *testEnv) *fixture {
				fx := withLogin(e)
				withOneTime(e, fx, storage.PurposeReset)
				return fx
			},
			send: func(e *testEnv, fx *fixture) response {
				return e.postJSON("POST", "/account/password/reset/confirm", jsonBody("token", fx.otp, "new_password", newPW), "")
			},
			intact: func(e *testEnv, fx *fixture, f string) {
				wantPasswordKept(e, fx, f)
				if _, err := e.store.GetOneTimeToken(context.Background(), token.Hash(fx.otp), storage.PurposeReset, e.clock.Now()); err != nil {
					e.t.Errorf("the reset link no longer works: %v", err)
				}
			},
		},
		{
			name: "account/verify email", surface: surfAccount, ok: 204,
			prepare: func(e *testEnv) *fixture {
				fx := newFaultUser(e)
				withOneTime(e, fx, storage.PurposeVerifyEmail)
				return fx
			},
			send: func(e *testEnv, fx *fixture) response {
				return e.postJSON("POST", "/account/email/verify", jsonBody("token", fx.otp), "")
			},
			intact: func(e *testEnv, fx *fixture, _ string) {
				if e.storedUser(fx.user.ID).EmailVerified {
					e.t.Error("the email is verified")
				}
				if _, err := e.store.GetOneTimeToken(context.Background(), token.Hash(fx.otp), storage.PurposeVerifyEmail, e.clock.Now()); err != nil {
					e.t.Errorf("the verification link no longer works: %v", err)
				}
			},
		},
		{
			name: "account/sessions", surface: surfAccount, ok: 200,
			prepare: withLogin,
			send:    func(e *testEnv, fx *fixture) response { return e.do("GET", "/account/sessions", nil, bearer(fx)...) },
			intact:  readOnly,
		},
		{
			name: "account/logout", surface: surfAccount, ok: 204,
			prepare: withLogin,
			send:    func(e *testEnv, fx *fixture) response { return e.do("POST", "/account/logout", nil, bearer(fx)...) },
			intact: func(e *testEnv, fx *fixture, _ string) {
				wantSessions(e, fx, 1)
				if r := e.do("POST", "/account/logout", nil, bearer(fx)...); r.status != 204 {
					e.t.Fatalf("logging out again: %d %s", r.status, r.body)
				}
				wantSessions(e, fx, 0)
			},
		},

		// The Django-era paths.
		{
			name: "drf/login", surface: surfDRF, ok: 200, judges: true, hashes: true,
			prepare: newFaultUser,
			send: func(e *testEnv, fx *fixture) response {
				return e.postJSON("POST", "/rest-auth/login/", jsonBody("username", fx.user.Username, "password", fx.pw), "")
			},
			intact: noSession,
		},
		{
			name: "drf/login by email", surface: surfDRF, ok: 200, judges: true,
			prepare: newFaultUser,
			send: func(e *testEnv, fx *fixture) response {
				return e.postJSON("POST", "/rest-auth/login/", jsonBody("email", fx.user.Email, "password", fx.pw), "")
			},
			intact: noSession,
		},
		{
			name: "drf/registration", surface: surfDRF, ok: 201, hashes: true,
			prepare: newFaultUser,
			send: func(e *testEnv, fx *fixture) response {
				return e.postJSON("POST", "/rest-auth/registration/", jsonBody("username", fx.name, "password1", faultPW, "password2", faultPW), "")
			},
			intact: wantRegistrationUndone,
		},
		{
			name: "drf/user", surface: surfDRF, ok: 200,
			prepare: withLegacy,
			send:    func(e *testEnv, fx *fixture) response { return e.do("GET", "/rest-auth/user/", nil, legacyAuth(fx)...) },
			intact:  readOnly,
		},
		{
			name: "drf/password change", surface: surfDRF, ok: 200, judges: true, hashes: true,
			prepare: withLegacy,
			send: func(e *testEnv, fx *fixture) response {
				return e.postJSON("POST", "/rest-auth/password/change/", jsonBody("old_password", fx.pw, "new_password1", newPW, "new_password2", newPW), "", legacyAuth(fx)...)
			},
			intact: wantPasswordKept,
		},
		{
			name: "drf/refresh-token", surface: surfDRF, ok: 200,
			prepare: withLegacy,
			send: func(e *testEnv, fx *fixture) response {
				return e.postJSON("POST", "/refresh-token/", jsonBody("token", fx.legacy), "")
			},
			intact: readOnly,
		},

		// The pages.
		{
			name: "page/sign-in", surface: surfPage, ok: 303, judges: true, hashes: true,
			prepare: func(e *testEnv) *fixture {
				fx := newFaultUser(e)
				withPage(e, fx, "/signin", false)
				return fx
			},
			send: func(e *testEnv, fx *fixture) response {
				return postForm(fx, "/signin", "username", fx.user.Username, "password", fx.pw)
			},
			intact: noSession,
		},
		{
			name: "page/register", surface: surfPage, ok: 303, hashes: true,
			prepare: func(e *testEnv) *fixture {
				fx := newFaultUser(e)
				withPage(e, fx, "/register", false)
				return fx
			},
			send: func(e *testEnv, fx *fixture) response {
				return postForm(fx, "/register", "username", fx.name, "password", faultPW, "password2", faultPW)
			},
			intact: wantRegistrationUndone,
		},
		{
			name: "page/account", surface: surfPage, ok: 200,
			prepare: func(e *testEnv) *fixture {
				fx := newFaultUser(e)
				withPage(e, fx, "/account", true)
				return fx
			},
			send:   func(e *testEnv, fx *fixture) response { return fx.b.get("/account") },
			intact: readOnly,
		},
		{
			name: "page/password change", surface: surfPage, ok: 303, judges: true, hashes: true,
			prepare: func(e *testEnv) *fixture {
				fx := newFaultUser(e)
				withPage(e, fx, "/account", true)
				return fx
			},
			send: func(e *testEnv, fx *fixture) response {
				return postForm(fx, "/account", "action", "password", "old_password", fx.pw, "new_password", newPW, "new_password2", newPW)
			},
			intact: wantPasswordKept,
		},
	}
}

// wantUnavailable checks a 503 in the shape of the surface.
func wantUnavailable(t *testing.T, s surface, r response) {
	t.Helper()
	if r.status != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503 (body %.300s)", r.status, r.body)
	}
	if secs, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || secs < 1 {
		t.Errorf("Retry-After = %q, want a number of seconds", r.header.Get("Retry-After"))
	}
	low := strings.ToLower(string(r.body))
	for _, leak := range []string{"injected", "storagetest", "password: too many", "no slot free"} {
		if strings.Contains(low, leak) {
			t.Errorf("the body tells the cause (%q): %s", leak, r.body)
		}
	}
	ct := r.header.Get("Content-Type")
	switch s {
	case surfOAuth, surfAccount:
		var body struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if !strings.HasPrefix(ct, "application/json") || json.Unmarshal(r.body, &body) != nil || body.Error != "temporarily_unavailable" || body.Description == "" {
			t.Errorf("body %s (%s), want {\"error\": \"temporarily_unavailable\", \"error_description\": ...}", r.body, ct)
		}
		if cc := r.header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control = %q, want no-store", cc)
		}
	case surfDRF:
		var body map[string]any
		if !strings.HasPrefix(ct, "application/json") || json.Unmarshal(r.body, &body) != nil || len(body) != 1 || str(body, "detail") == "" {
			t.Errorf("body %s (%s), want DRF's {\"detail\": ...}", r.body, ct)
		}
	case surfPage:
		if !strings.HasPrefix(ct, "text/html") || !strings.HasPrefix(string(r.body), "<!DOCTYPE html>") {
			t.Errorf("body %.200s (%s), want an HTML page", r.body, ct)
		}
	}
}

// wantNotThrottled checks that the user's right password logs in at once:
// the failed attempts were not counted against the account or the address.
func wantNotThrottled(e *testEnv, fx *fixture) {
	e.t.Helper()
	r := e.token(url.Values{"grant_type": {"password"}, "client_id": {spaID}, "username": {fx.user.Username}, "password": {fx.pw}})
	if r.status != 200 {
		e.t.Errorf("the right password after %d failed attempts: %d %s; the failures were counted", faultAttempts, r.status, r.body)
	}
}

// Every storage failure a request can meet answers 503 with Retry-After on
// every surface, writes nothing half way and counts no failed login. The
// methods each request uses are found by running it once with no fault;
// then it is run with every method failing, and with each of its methods
// failing alone. The methods of the abuse limits are tried apart: with
// them all failing, the request succeeds.
func TestStorageFaults(t *testing.T) {
	env := newFaultyEnv(t, faultConfig)
	for _, tc := range faultCases() {
		t.Run(tc.name, func(t *testing.T) {
			e := env.forTest(t)
			fx := tc.prepare(e)
			e.faults.Reset()
			r := tc.send(e, fx)
			var used []string
			limits := false
			for _, m := range e.faults.Calls() {
				switch {
				case slices.Contains(limitMethods, m):
					limits = true
				case !slices.Contains(background, m):
					used = append(used, m)
				}
			}
			if r.status != tc.ok {
				t.Fatalf("with no fault: status %d, want %d (body %.300s)", r.status, tc.ok, r.body)
			}
			if len(used) == 0 {
				t.Fatal("the request used no storage method")
			}
			for _, m := range tc.tolerated {
				if !slices.Contains(used, m) {
					t.Errorf("%s is tolerated but not used (used %v)", m, used)
				}
			}
			t.Logf("uses %v", used)
			faults := []string{"all"}
			for _, m := range used {
				if !slices.Contains(tc.tolerated, m) {
					faults = append(faults, m)
				}
			}
			for _, fault := range faults {
				t.Run(fault, func(t *testing.T) {
					e := env.forTest(t)
					fx := tc.prepare(e)
					attempts := 1
					if tc.judges {
						attempts = faultAttempts
					}
					for range attempts {
						if fault == "all" {
							e.faults.FailAll(storagetest.ErrInjected)
						} else {
							e.faults.Fail(fault, storagetest.ErrInjected)
						}
						r := tc.send(e, fx)
						e.faults.Reset()
						wantUnavailable(t, tc.surface, r)
					}
					tc.intact(e, fx, fault)
					if tc.judges {
						wantNotThrottled(e, fx)
					}
				})
			}
			if limits {
				t.Run("limits tolerated", func(t *testing.T) {
					e := env.forTest(t)
					fx := tc.prepare(e)
					for _, m := range limitMethods {
						e.faults.Fail(m, storagetest.ErrInjected)
					}
					r := tc.send(e, fx)
					e.faults.Reset()
					if r.status != tc.ok {
						t.Errorf("with the limits' storage failing: status %d, want %d (body %.300s)", r.status, tc.ok, r.body)
					}
				})
			}
			for _, m := range tc.tolerated {
				t.Run(m+" tolerated", func(t *testing.T) {
					e := env.forTest(t)
					fx := tc.prepare(e)
					e.faults.Fail(m, storagetest.ErrInjected)
					r := tc.send(e, fx)
					e.faults.Reset()
					if r.status != tc.ok {
						t.Errorf("status %d, want %d (body %.300s)", r.status, tc.ok, r.body)
					}
				})
			}
		})
	}
}

// A login, a registration and a password change that find no free
// password-hashing slot answer 503 with Retry-After on every surface, store
// nothing and count no failed login.
func TestHasherBusy(t *testing.T) {
	env := newFaultyEnv(t, faultConfig, func(c *config.Config) {
		c.Passwords.MaxConcurrent = 1
		c.Passwords.QueueWait = time.Millisecond
	})
	n := 0
	for _, tc := range faultCases() {
		if !tc.hashes {
			continue
		}
		n++
		t.Run(tc.name, func(t *testing.T) {
			e := env.forTest(t)
			fx := tc.prepare(e)
			release, err := e.hasher.HoldSlotForTest(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer release() // when the test fails before the release below
			attempts := 1
			if tc.judges {
				attempts = faultAttempts
			}
			for range attempts {
				wantUnavailable(t, tc.surface, tc.send(e, fx))
			}
			release()
			tc.intact(e, fx, "busy")
			if tc.judges {
				wantNotThrottled(e, fx)
			}
		})
	}
	if n != 9 {
		t.Errorf("%d requests that hash, want a login, a registration and a password change on each of three surfaces", n)
	}
}
