package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Scenario names, in the order they run.
const (
	scPassword          = "password"
	scRefresh           = "refresh"
	scClientCredentials = "client_credentials"
	scIntrospect        = "introspect"
	scUserinfo          = "userinfo"
	scJWKS              = "jwks"
	scMixed             = "mixed"
	scFlood             = "flood"
	scSoak              = "soak"
)

// allScenarios is the default --scenarios.
var allScenarios = []string{scPassword, scRefresh, scClientCredentials, scIntrospect, scUserinfo, scJWKS, scMixed, scFlood}

// knownScenarios are those --scenarios accepts: the default ones, and the
// soak, which runs only when asked for (it lasts the whole --duration and
// watches the database file).
var knownScenarios = append(slices.Clone(allScenarios), scSoak)

// userScope is what the public client asks for at login: an ID token, the
// user claims, and a refresh token.
const userScope = "openid profile email offline_access"

// cred is a user's login.
type cred struct {
	username string
	password string
}

// target is the server under load, as the scenarios see it: where it is,
// which clients and users to use, and tokens prepared before the clock
// starts.
type target struct {
	base         string // http://host:port, no trailing slash
	publicClient string
	confClient   string
	confSecret   string
	users        []cred

	// userAccessToken is an access token of users[0] (scope userScope), for
	// userinfo and introspect.
	userAccessToken string
	// fakeLogin, when set, is what login returns without asking the
	// server: the bare bound servers have no users.
	fakeLogin *tokenSet
}

// tokenSet is what a login or refresh returns.
type tokenSet struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
}

// basicAuth is the client_secret_basic header of the confidential client
// (RFC 6749 §2.3.1: id and secret form-urlencoded first).
func (t *target) basicAuth() string {
	raw := url.QueryEscape(t.confClient) + ":" + url.QueryEscape(t.confSecret)
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(raw))
}

// newRequest makes a request template that a worker reuses.
func (t *target) newRequest(method, path string, form bool) *http.Request {
	req, err := http.NewRequest(method, t.base+path, nil)
	if err != nil {
		panic("authbench: bad request template: " + err.Error()) // base was checked when parsed
	}
	if form {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return req
}

// loginBody is the form of a password grant for u.
func (t *target) loginBody(u cred) []byte {
	return []byte(url.Values{
		"grant_type": {"password"},
		"client_id":  {t.publicClient},
		"username":   {u.username},
		"password":   {u.password},
		"scope":      {userScope},
	}.Encode())
}

// login runs the password grant for u, retrying a busy server (503, or 429
// with its Retry-After) for up to 30 seconds: setup logins of many workers
// at once can fill the hashing queue.
func (t *target) login(ctx context.Context, w *worker, u cred) (tokenSet, error) {
	if t.fakeLogin != nil {
		return *t.fakeLogin, nil
	}
	req := t.newRequest(http.MethodPost, "/oauth2/token", true)
	req.Header.Set("X-Forwarded-For", clientAddress(w.id))
	body := t.loginBody(u)
	deadline := time.Now().Add(30 * time.Second)
	for {
		status, resp, err := w.do(req.WithContext(ctx), body)
		if err != nil {
			return tokenSet{}, fmt.Errorf("login as %s: %w", u.username, err)
		}
		if status == http.StatusOK {
			var ts tokenSet
			if err := json.Unmarshal(resp, &ts); err != nil {
				return tokenSet{}, fmt.Errorf("login as %s: %w", u.username, err)
			}
			return ts, nil
		}
		if (status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests) && time.Now().Before(deadline) {
			sleepUntil(ctx, time.Now().Add(200*time.Millisecond))
			if ctx.Err() != nil {
				return tokenSet{}, ctx.Err()
			}
			continue
		}
		return tokenSet{}, fmt.Errorf("login as %s: HTTP %d: %s", u.username, status, outcomeOf(status, resp, nil))
	}
}

// scenarioKinds are the request kinds each scenario reports.
func scenarioKinds(name string) []string {
	if name == scMixed {
		return []string{"login", "refresh", "userinfo"}
	}
	return []string{name}
}

// setupFor returns the worker setup of a scenario against t.
func (t *target) setupFor(name string) (func(context.Context, *worker) (step, error), error) {
	switch name {
	case scPassword:
		return t.setupPassword, nil
	case scRefresh:
		return t.setupRefresh, nil
	case scClientCredentials:
		return t.setupClientCredentials, nil
	case scIntrospect:
		return t.setupIntrospect, nil
	case scUserinfo:
		return t.setupUserinfo, nil
	case scJWKS:
		return t.setupJWKS, nil
	case scMixed:
		return t.setupMixed, nil
	}
	return nil, fmt.Errorf("unknown scenario %q", name)
}

func (t *target) user(i int) cred { return t.users[i%len(t.users)] }

// clientAddress is the address worker id logs in from, sent as
// X-Forwarded-For (the servers authbench starts trust it from loopback):
// each worker is a person at a machine of its own, not one address that
// the per-address limits of the hashing queue would cap.
func clientAddress(id int) string {
	return fmt.Sprintf("10.%d.%d.%d", 100+id>>16&0xff, id>>8&0xff, id&0xff)
}

// setupPassword: each worker logs in as its own user, again and again.
func (t *target) setupPassword(_ context.Context, w *worker) (step, error) {
	w.req = t.newRequest(http.MethodPost, "/oauth2/token", true)
	w.req.Header.Set("X-Forwarded-For", clientAddress(w.id))
	w.body = t.loginBody(t.user(w.id))
	return func(w *worker) (int, string) {
		status, body, err := w.do(w.req, w.body)
		return 0, outcomeOf(status, body, err)
	}, nil
}

// refreshPrefix is the fixed part of a refresh_token grant body; the token
// goes at its end.
func (t *target) refreshPrefix() string {
	return "grant_type=refresh_token&client_id=" + url.QueryEscape(t.publicClient) + "&refresh_token="
}

// setupRefresh: each worker logs in once, then chains its own newest
// refresh token (a real client's loop). A refused refresh breaks the chain:
// the worker logs in again (not timed in the latencies of refreshes).
func (t *target) setupRefresh(ctx context.Context, w *worker) (step, error) {
	u := t.user(w.id)
	ts, err := t.login(ctx, w, u)
	if err != nil {
		return nil, err
	}
	if ts.RefreshToken == "" {
		return nil, errors.New("login gave no refresh token (offline_access refused?)")
	}
	w.req = t.newRequest(http.MethodPost, "/oauth2/token", true)
	prefix := t.refreshPrefix()
	w.refreshStart = len(prefix)
	w.body = append(make([]byte, 0, len(prefix)+128), prefix...)
	w.refresh = ts.RefreshToken
	return func(w *worker) (int, string) {
		w.body = append(w.body[:w.refreshStart], w.refresh...)
		status, body, err := w.do(w.req, w.body)
		outcome := outcomeOf(status, body, err)
		switch {
		case status == http.StatusOK:
			if rt := jsonString(body, "refresh_token"); len(rt) > 0 {
				w.refresh = string(rt)
				return 0, outcome
			}
			outcome = "200 without refresh_token"
		case status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests || err != nil:
			return 0, outcome // the token may still be good: try it again
		}
		if ts, lerr := t.login(ctx, w, u); lerr == nil && ts.RefreshToken != "" {
			w.refresh = ts.RefreshToken
		}
		return 0, outcome
	}, nil
}

// setupClientCredentials: the confidential client asks for tokens with
// client_secret_basic.
func (t *target) setupClientCredentials(_ context.Context, w *worker) (step, error) {
	w.req = t.newRequest(http.MethodPost, "/oauth2/token", true)
	w.req.Header.Set("Authorization", t.basicAuth())
	w.body = []byte("grant_type=client_credentials&scope=api")
	return func(w *worker) (int, string) {
		status, body, err := w.do(w.req, w.body)
		return 0, outcomeOf(status, body, err)
	}, nil
}

// setupIntrospect: the confidential client introspects a user's access
// token (a resource server's check).
func (t *target) setupIntrospect(_ context.Context, w *worker) (step, error) {
	w.req = t.newRequest(http.MethodPost, "/oauth2/introspect", true)
	w.req.Header.Set("Authorization", t.basicAuth())
	w.body = []byte("token=" + url.QueryEscape(t.userAccessToken) + "&token_type_hint=access_token")
	return func(w *worker) (int, string) {
		status, body, err := w.do(w.req, w.body)
		outcome := outcomeOf(status, body, err)
		if status == http.StatusOK && !strings.Contains(string(body[:min(len(body), 16)]), `"active":true`) {
			outcome = "200 inactive"
		}
		return 0, outcome
	}, nil
}

// setupUserinfo: GET /userinfo with a user's bearer token.
func (t *target) setupUserinfo(_ context.Context, w *worker) (step, error) {
	w.req = t.newRequest(http.MethodGet, "/userinfo", false)
	w.req.Header.Set("Authorization", "Bearer "+t.userAccessToken)
	return func(w *worker) (int, string) {
		status, body, err := w.do(w.req, nil)
		return 0, outcomeOf(status, body, err)
	}, nil
}

// setupJWKS: GET the JWKS, as a resource server without a cache would.
func (t *target) setupJWKS(_ context.Context, w *worker) (step, error) {
	w.req = t.newRequest(http.MethodGet, "/.well-known/jwks.json", false)
	return func(w *worker) (int, string) {
		status, body, err := w.do(w.req, nil)
		return 0, outcomeOf(status, body, err)
	}, nil
}

// mixedCycle is the mixed profile: 1 login, 20 refreshes and 50 userinfo
// calls, the refreshes spread evenly among the userinfo calls.
func mixedCycle() []int {
	const logins, refreshes, userinfos = 1, 20, 50
	c := make([]int, 0, logins+refreshes+userinfos)
	c = append(c, 0)
	n := refreshes + userinfos
	for k := range n {
		if (k*refreshes)/n != ((k+1)*refreshes)/n {
			c = append(c, 1)
		} else {
			c = append(c, 2)
		}
	}
	return c
}

// setupMixed: each worker plays a user who logs in, then refreshes and
// calls userinfo with its newest tokens; workers start at different points
// of the cycle so that logins are spread out.
func (t *target) setupMixed(ctx context.Context, w *worker) (step, error) {
	u := t.user(w.id)
	ts, err := t.login(ctx, w, u)
	if err != nil {
		return nil, err
	}
	cycle := mixedCycle()
	w.pos = (w.id * 7) % len(cycle)
	w.loginReq = t.newRequest(http.MethodPost, "/oauth2/token", true)
	w.loginReq.Header.Set("X-Forwarded-For", clientAddress(w.id))
	w.loginBody = t.loginBody(u)
	w.refreshReq = t.newRequest(http.MethodPost, "/oauth2/token", true)
	prefix := t.refreshPrefix()
	w.refreshStart = len(prefix)
	w.body = append(make([]byte, 0, len(prefix)+128), prefix...)
	w.userinfoReq = t.newRequest(http.MethodGet, "/userinfo", false)
	setTokens := func(w *worker, at, rt []byte) {
		if len(rt) > 0 {
			w.refresh = string(rt)
		}
		if len(at) > 0 {
			w.authz = []string{"Bearer " + string(at)}
			w.userinfoReq.Header["Authorization"] = w.authz
		}
	}
	setTokens(w, []byte(ts.AccessToken), []byte(ts.RefreshToken))
	return func(w *worker) (int, string) {
		kind := cycle[w.pos]
		w.pos = (w.pos + 1) % len(cycle)
		var status int
		var body []byte
		var err error
		switch kind {
		case 0:
			status, body, err = w.do(w.loginReq, w.loginBody)
		case 1:
			w.body = append(w.body[:w.refreshStart], w.refresh...)
			status, body, err = w.do(w.refreshReq, w.body)
		case 2:
			status, body, err = w.do(w.userinfoReq, nil)
		}
		if status == http.StatusOK && kind != 2 {
			setTokens(w, jsonString(body, "access_token"), jsonString(body, "refresh_token"))
		}
		return kind, outcomeOf(status, body, err)
	}, nil
}
