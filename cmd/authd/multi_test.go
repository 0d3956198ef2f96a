package main

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd/authd/storage/postgres/pgtest"
)

// The multi-instance tests run three `authd serve` processes on one
// PostgreSQL database behind a round-robin reverse proxy, as stateless
// instances behind a plain load balancer: every request through the proxy
// goes to the next instance.

// instanceHeader names, in the proxy's answers, the instance that served
// the request (0, 1, 2).
const instanceHeader = "X-Test-Instance"

// Timings of the instances: short, so that the bounded waits below stay
// short. The revocation view is polled every second (not configurable).
// multiPW is the password of every user of the tests.
const multiPW = "quartz lantern meadow 7"

const (
	multiReloadInterval = 500 * time.Millisecond
	revocationPoll      = time.Second
)

// rrProxy is a round-robin reverse proxy on 127.0.0.1: each request goes
// to the next backend, with X-Forwarded-For as a proxy passes it on (the
// client's address appended to what the client sent).
type rrProxy struct {
	url      string
	backends []*url.URL
	next     atomic.Uint64
}

func startProxy(t *testing.T) *rrProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &rrProxy{url: "http://" + ln.Addr().String()}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			i := int(p.next.Add(1)-1) % len(p.backends)
			r.SetURL(p.backends[i])
			r.Out.Host = r.In.Host
			xff, _, _ := net.SplitHostPort(r.In.RemoteAddr)
			if prior := r.In.Header.Get("X-Forwarded-For"); prior != "" {
				xff = prior + ", " + xff
			}
			r.Out.Header.Set("X-Forwarded-For", xff)
			r.Out.Header.Set(instanceHeader, strconv.Itoa(i))
		},
		ModifyResponse: func(resp *http.Response) error {
			resp.Header.Set(instanceHeader, resp.Request.Header.Get(instanceHeader))
			return nil
		},
	}
	srv := &http.Server{Handler: rp, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return p
}

// fleet is three authd instances behind a proxy.
type fleet struct {
	proxy *rrProxy
	procs []*proc
	env   map[string]string
}

// multiEnv is the environment of instances on the database at dbURL whose
// issuer is the proxy at issuer: cheap hashing, EdDSA keys reloaded every
// multiReloadInterval, low throttle thresholds, the proxy trusted, a
// public client for the password grant and one for the code flow.
func multiEnv(t *testing.T, dbURL, issuer string) map[string]string {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "authd.yaml")
	err := os.WriteFile(cfg, []byte(`
passwords:
  argon2: {memory_kib: 64, iterations: 1, parallelism: 1}
keys:
  algorithm: EdDSA
  reload_interval: `+multiReloadInterval.String()+`
tokens:
  refresh_reuse_grace: 0s
throttle:
  account_failures: 5
  registrations_per_hour: 2
http:
  trusted_proxies: ["127.0.0.1/32"]
metrics:
  listen: ""
clients:
  - id: cli-test
    public: true
    grants: [password, refresh_token]
    scopes: [openid, profile, offline_access]
  - id: web
    public: true
    grants: [authorization_code, refresh_token]
    redirect_uris: ["https://app.example.com/callback"]
    scopes: [openid, profile, offline_access]
`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"AUTHD_CONFIG":   cfg,
		"AUTHD_DATABASE": dbURL,
		"AUTHD_LISTEN":   "127.0.0.1:0",
		"AUTHD_ISSUER":   issuer,
	}
}

// startFleet starts a proxy and three instances on dbURL (migrated
// already), one after the other; extra overrides the environment.
func startFleet(t *testing.T, dbURL string, extra map[string]string) *fleet {
	t.Helper()
	p := startProxy(t)
	env := multiEnv(t, dbURL, p.url)
	maps.Copy(env, extra)
	f := &fleet{proxy: p, env: env}
	for range 3 {
		pr := startProcess(t, env)
		f.procs = append(f.procs, pr)
		u, err := url.Parse(pr.url)
		if err != nil {
			t.Fatal(err)
		}
		p.backends = append(p.backends, u)
	}
	return f
}

// answer is an HTTP answer with the instance that gave it.
type answer struct {
	status   int
	header   http.Header
	body     []byte
	instance string
}

func (a answer) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(a.body, &m); err != nil {
		t.Fatalf("answer %d is not JSON: %.300s", a.status, a.body)
	}
	return m
}

func do(t *testing.T, c *http.Client, req *http.Request) answer {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: body, instance: resp.Header.Get(instanceHeader)}
}

// post sends a form (headers: name, value pairs).
func post(t *testing.T, c *http.Client, u string, form url.Values, headers ...string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return do(t, c, req)
}

func getWith(t *testing.T, c *http.Client, u string, headers ...string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return do(t, c, req)
}

// noRedirects is a client that follows no redirect, with a cookie jar when
// jar is true.
func noRedirects(t *testing.T, jar bool) *http.Client {
	c := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if jar {
		j, err := cookiejar.New(nil)
		if err != nil {
			t.Fatal(err)
		}
		c.Jar = j
	}
	return c
}

// bounded retries check until it returns "" (success) or within passes,
// failing the test with check's last word; it returns how long it took.
func bounded(t *testing.T, within time.Duration, check func() string) time.Duration {
	t.Helper()
	start := time.Now()
	for i := 0; ; i++ {
		msg := check()
		if msg == "" {
			return time.Since(start)
		}
		if time.Since(start) > within || i >= 1000 {
			t.Fatalf("after %s (%d tries): %s", time.Since(start).Round(time.Millisecond), i+1, msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestMultiInstance(t *testing.T) {
	cluster := pgtest.StartForTest(t)
	dbURL := mustCreateDatabase(t, cluster)
	setup := map[string]string{"AUTHD_DATABASE": dbURL, "AUTHD_CONFIG": multiEnv(t, dbURL, "http://unused")["AUTHD_CONFIG"]}
	if out, err := runCLI(t, setup, "", "migrate"); err != nil {
		t.Fatalf("migrate: %v %s", err, out)
	}
	for _, u := range []string{"ann", "dan", "tim", "rae"} {
		if out, err := runCLI(t, setup, multiPW+"\n", "users", "add", "--username", u, "--password-stdin"); err != nil {
			t.Fatalf("users add %s: %v %s", u, err, out)
		}
	}
	f := startFleet(t, dbURL, nil)

	t.Run("code flow across instances", func(t *testing.T) { multiCodeFlow(t, f) })
	t.Run("refresh race without grace", func(t *testing.T) { multiRefreshRace(t, f, "ann", false) })
	t.Run("keys rotate", func(t *testing.T) { multiKeysRotate(t, f) })
	t.Run("revocation", func(t *testing.T) { multiRevocation(t, f) })
	t.Run("users disable", func(t *testing.T) { multiDisable(t, f) })
	t.Run("login throttle", func(t *testing.T) { multiThrottle(t, f) })
	t.Run("registration limit", func(t *testing.T) { multiRegistrations(t, f) })

	// Three more instances with a reuse grace, on the same database.
	g := startFleet(t, dbURL, map[string]string{"AUTHD_TOKENS_REFRESH_REUSE_GRACE": "10s"})
	t.Run("refresh race within grace", func(t *testing.T) { multiRefreshRace(t, g, "rae", true) })
}

// passwordLogin logs user in through the proxy and returns the token
// answer.
func passwordLogin(t *testing.T, base, user string) map[string]any {
	t.Helper()
	a := post(t, http.DefaultClient, base+"/oauth2/token", passwordForm(user, multiPW))
	if a.status != 200 {
		t.Fatalf("login %s at %s: %d %s", user, base, a.status, a.body)
	}
	return a.json(t)
}

var hiddenField = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// multiCodeFlow: authorize, the sign-in page, the sign-in, the code
// exchange, userinfo and a refresh, each on another instance than the step
// before; then a second authorization rides on the browser's sign-in
// session, again on another instance.
func multiCodeFlow(t *testing.T, f *fleet) {
	b := noRedirects(t, true)
	base := f.proxy.url
	var served []string
	step := func(what string, a answer, want int) answer {
		t.Helper()
		if a.status != want {
			t.Fatalf("%s: status %d, want %d (instance %s, body %.400s)", what, a.status, want, a.instance, a.body)
		}
		if n := len(served); n > 0 && served[n-1] == a.instance {
			t.Errorf("%s ran on instance %s, like the step before", what, a.instance)
		}
		served = append(served, a.instance)
		return a
	}
	authorize := func() (string, string) {
		verifier := strings.Repeat("v", 20) + strconv.FormatInt(time.Now().UnixNano(), 36) + "-pkce-verifier"
		sum := sha256.Sum256([]byte(verifier))
		q := url.Values{
			"response_type": {"code"}, "client_id": {"web"}, "redirect_uri": {"https://app.example.com/callback"},
			"scope": {"openid profile offline_access"}, "state": {"st-" + verifier[20:28]}, "nonce": {"n-" + verifier[20:28]},
			"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
		}
		return base + "/oauth2/authorize?" + q.Encode(), verifier
	}
	code := func(a answer) string {
		t.Helper()
		loc, err := url.Parse(a.header.Get("Location"))
		if err != nil || loc.Host != "app.example.com" || loc.Query().Get("code") == "" {
			t.Fatalf("sent to %q, want the client's redirect URI with a code", a.header.Get("Location"))
		}
		if iss := loc.Query().Get("iss"); iss != base {
			t.Errorf("iss = %q, want the proxy's %q: the instances share one issuer", iss, base)
		}
		return loc.Query().Get("code")
	}
	exchange := func(c, verifier string) map[string]any {
		t.Helper()
		a := step("code exchange", post(t, b, base+"/oauth2/token", url.Values{
			"grant_type": {"authorization_code"}, "client_id": {"web"}, "code": {c},
			"redirect_uri": {"https://app.example.com/callback"}, "code_verifier": {verifier},
		}), 200)
		return a.json(t)
	}

	authURL, verifier := authorize()
	a := step("authorize", getWith(t, b, authURL), http.StatusFound)
	signin, err := url.Parse(a.header.Get("Location"))
	if err != nil || signin.Path != "/signin" {
		t.Fatalf("authorize sent the browser to %q, want /signin", a.header.Get("Location"))
	}
	page := step("sign-in page", getWith(t, b, base+signin.RequestURI()), 200)
	form := url.Values{}
	for _, m := range hiddenField.FindAllStringSubmatch(string(page.body), -1) {
		if !form.Has(m[1]) {
			form.Set(m[1], html.UnescapeString(m[2]))
		}
	}
	if form.Get("csrf_token") == "" {
		t.Fatalf("the sign-in page has no CSRF token: %.500s", page.body)
	}
	form.Set("username", "ann")
	form.Set("password", multiPW)
	a = step("sign-in", post(t, b, base+"/signin", form, "Origin", base), http.StatusSeeOther)
	tok := exchange(code(a), verifier)
	access, _ := tok["access_token"].(string)
	refresh, _ := tok["refresh_token"].(string)
	if access == "" || refresh == "" || tok["id_token"] == nil {
		t.Fatalf("code exchange gave %v", tok)
	}
	info := step("userinfo", getWith(t, b, base+"/userinfo", "Authorization", "Bearer "+access), 200).json(t)
	if info["sub"] == nil || info["sub"] == "" {
		t.Errorf("userinfo = %v", info)
	}
	step("refresh", post(t, b, base+"/oauth2/token", url.Values{
		"grant_type": {"refresh_token"}, "client_id": {"web"}, "refresh_token": {refresh},
	}), 200)

	// Signed in already: the next authorization answers at once.
	authURL, verifier = authorize()
	a = step("second authorize", getWith(t, b, authURL), http.StatusFound)
	tok = exchange(code(a), verifier)
	if tok["access_token"] == nil {
		t.Errorf("second code exchange gave %v", tok)
	}
	if got := slices.Compact(slices.Sorted(slices.Values(served))); len(got) != 3 {
		t.Errorf("the flow ran on instances %v, want all three", got)
	}
}

// multiRefreshRace: 30 requests through the proxy race to refresh one
// token, spread over the three instances. Without a grace exactly one
// wins, the others get invalid_grant, and the reuse ends the family (the
// winner's new token is refused too). Within the grace every racer gets
// the same answer, and the family lives on.
func multiRefreshRace(t *testing.T, f *fleet, user string, grace bool) {
	rt := passwordLogin(t, f.proxy.url, user)["refresh_token"].(string)
	const n = 30
	answers := make([]answer, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	client := &http.Client{Timeout: 30 * time.Second}
	for i := range n {
		wg.Go(func() {
			<-start
			resp, err := client.PostForm(f.proxy.url+"/oauth2/token", refreshForm(rt))
			if err != nil {
				answers[i] = answer{status: -1, body: []byte(err.Error())}
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			answers[i] = answer{status: resp.StatusCode, body: body, instance: resp.Header.Get(instanceHeader)}
		})
	}
	close(start)
	wg.Wait()
	ok := 0
	instances := map[string]bool{}
	tokens := map[string]bool{}
	var won string
	for _, a := range answers {
		instances[a.instance] = true
		switch a.status {
		case 200:
			ok++
			won = a.json(t)["refresh_token"].(string)
			tokens[string(a.body)] = true
		case 400:
			if e := a.json(t)["error"]; e != "invalid_grant" {
				t.Errorf("a racer got 400 %v, want invalid_grant", e)
			}
		default:
			t.Fatalf("a racer got %d: %s", a.status, a.body)
		}
	}
	if len(instances) != 3 {
		t.Errorf("the racers reached instances %v, want all three", slices.Collect(maps.Keys(instances)))
	}
	next := post(t, http.DefaultClient, f.proxy.url+"/oauth2/token", refreshForm(won))
	if !grace {
		if ok != 1 {
			t.Errorf("%d of %d racers succeeded, want exactly 1", ok, n)
		}
		if next.status != 400 || next.json(t)["error"] != "invalid_grant" {
			t.Errorf("the winner's new token after the reuse: %d %s, want invalid_grant (the family ended)", next.status, next.body)
		}
		return
	}
	if ok != n || len(tokens) != 1 {
		t.Errorf("%d of %d racers succeeded with %d distinct answers, want all with one", ok, n, len(tokens))
	}
	if next.status != 200 {
		t.Errorf("the new token after racers within the grace: %d %s, want 200 (the family lives)", next.status, next.body)
	}
}

// kidOf is the kid of a JWS.
func kidOf(t *testing.T, jws string) string {
	t.Helper()
	h, err := base64.RawURLEncoding.DecodeString(strings.Split(jws, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var hdr struct{ Kid string }
	if err := json.Unmarshal(h, &hdr); err != nil {
		t.Fatal(err)
	}
	return hdr.Kid
}

// multiKeysRotate: `authd keys rotate` in another process; every instance
// publishes the new next key and signs with the promoted one within the
// key reload interval (bounded, with room for a loaded machine).
func multiKeysRotate(t *testing.T, f *fleet) {
	out, errOut, err := authdProcess(t, f.env, "", "keys", "rotate", "--alg", "EdDSA")
	if err != nil {
		t.Fatalf("keys rotate: %v %s", err, errOut)
	}
	var promoted, retired, next string
	if _, err := fmt.Sscanf(out, "rotated: %s now signs (retired %s new next key %s", &promoted, &retired, &next); err != nil {
		t.Fatalf("keys rotate said %q: %v", out, err)
	}
	retired = strings.TrimSuffix(retired, ");")
	for i, p := range f.procs {
		took := bounded(t, 10*multiReloadInterval, func() string {
			kids := jwksKids(t, p.url)
			if !slices.Contains(kids, next) || !slices.Contains(kids, promoted) {
				return fmt.Sprintf("instance %d publishes %v, want %s and %s", i, kids, promoted, next)
			}
			if kid := kidOf(t, passwordLogin(t, p.url, "ann")["access_token"].(string)); kid != promoted {
				return fmt.Sprintf("instance %d signs with %s, want %s", i, kid, promoted)
			}
			return ""
		})
		t.Logf("instance %d: the rotation seen after %s (reload interval %s)", i, took.Round(time.Millisecond), multiReloadInterval)
	}
	if !slices.Contains(jwksKids(t, f.proxy.url), retired) {
		t.Errorf("the retired key %s left the JWKS at once", retired)
	}
}

// multiRevocation: an access token revoked on one instance, and a session
// ended on one instance (by revoking its refresh token), are refused by
// the others within the revocation poll: they learn of both from the
// database, not from the instance that wrote them.
func multiRevocation(t *testing.T, f *fleet) {
	for _, kind := range []string{"access token", "session"} {
		tok := passwordLogin(t, f.procs[0].url, "ann")
		access := tok["access_token"].(string)
		revoked := access
		if kind == "session" {
			revoked = tok["refresh_token"].(string)
		}
		if a := post(t, http.DefaultClient, f.procs[0].url+"/oauth2/revoke", url.Values{"client_id": {"cli-test"}, "token": {revoked}}); a.status != 200 {
			t.Fatalf("revoke the %s on instance 0: %d %s", kind, a.status, a.body)
		}
		for i, p := range f.procs {
			took := bounded(t, 5*revocationPoll, func() string {
				if a := getWith(t, http.DefaultClient, p.url+"/userinfo", "Authorization", "Bearer "+access); a.status != 401 {
					return fmt.Sprintf("instance %d: userinfo after the %s was revoked on instance 0: %d", i, kind, a.status)
				}
				return ""
			})
			t.Logf("instance %d: the access token refused %s after the %s was revoked on instance 0 (revocation poll %s)", i, took.Round(time.Millisecond), kind, revocationPoll)
		}
	}
}

// multiDisable: `authd users disable` in another process; every instance
// refuses the user's refresh token at once (the family is gone from the
// database) and its access token within the revocation poll.
func multiDisable(t *testing.T, f *fleet) {
	tok := passwordLogin(t, f.proxy.url, "dan")
	access, refresh := tok["access_token"].(string), tok["refresh_token"].(string)
	for i, p := range f.procs {
		if a := getWith(t, http.DefaultClient, p.url+"/userinfo", "Authorization", "Bearer "+access); a.status != 200 {
			t.Fatalf("instance %d: userinfo before the disable: %d %s", i, a.status, a.body)
		}
	}
	if _, errOut, err := authdProcess(t, f.env, "", "users", "disable", "--username", "dan"); err != nil {
		t.Fatalf("users disable: %v %s", err, errOut)
	}
	for i, p := range f.procs {
		a := post(t, http.DefaultClient, p.url+"/oauth2/token", refreshForm(refresh))
		if a.status != 400 || a.json(t)["error"] != "invalid_grant" {
			t.Errorf("instance %d: refresh after the disable: %d %s, want invalid_grant", i, a.status, a.body)
		}
		took := bounded(t, 5*revocationPoll, func() string {
			if a := getWith(t, http.DefaultClient, p.url+"/userinfo", "Authorization", "Bearer "+access); a.status != 401 {
				return fmt.Sprintf("instance %d: userinfo with the access token of a disabled user: %d", i, a.status)
			}
			return ""
		})
		t.Logf("instance %d: the access token refused %s after the disable's end (revocation poll %s)", i, took.Round(time.Millisecond), revocationPoll)
	}
}

// multiThrottle: five failed logins for one account spread over the three
// instances make every instance refuse the account, the right password
// too: the counts are shared (with per-process counts, each instance would
// have seen at most two).
func multiThrottle(t *testing.T, f *fleet) {
	seen := map[string]bool{}
	for i := range 5 {
		a := post(t, http.DefaultClient, f.proxy.url+"/oauth2/token", passwordForm("tim", fmt.Sprintf("wrong password %d", i)))
		if a.status != 400 {
			t.Fatalf("failed login %d: %d %s, want 400", i+1, a.status, a.body)
		}
		seen[a.instance] = true
	}
	if len(seen) != 3 {
		t.Errorf("the failures reached instances %v, want all three", slices.Collect(maps.Keys(seen)))
	}
	for i, p := range f.procs {
		a := post(t, http.DefaultClient, p.url+"/oauth2/token", passwordForm("tim", multiPW))
		if a.status != http.StatusTooManyRequests || a.header.Get("Retry-After") == "" {
			t.Errorf("instance %d: the right password after 5 failures on all instances: %d %s, want 429 with Retry-After", i, a.status, a.body[:min(len(a.body), 120)])
		}
	}
}

// multiRegistrations: two registrations from one address (through the
// proxy, on two instances) fill the address's hourly window on every
// instance.
func multiRegistrations(t *testing.T, f *fleet) {
	register := func(base, name string) answer {
		req, err := http.NewRequest(http.MethodPost, base+"/account/register",
			strings.NewReader(`{"username":"`+name+`","password":"`+multiPW+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-For", "198.51.100.7")
		return do(t, http.DefaultClient, req)
	}
	for i := range 2 {
		if a := register(f.proxy.url, fmt.Sprintf("newcomer%d", i)); a.status != 201 {
			t.Fatalf("registration %d: %d %s", i+1, a.status, a.body)
		}
	}
	for i, p := range f.procs {
		a := register(p.url, fmt.Sprintf("latecomer%d", i))
		if a.status != http.StatusTooManyRequests || a.header.Get("Retry-After") == "" {
			t.Errorf("instance %d: a third registration from the address: %d %s, want 429", i, a.status, a.body[:min(len(a.body), 120)])
		}
	}
}
