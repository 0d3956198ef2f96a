package server_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/config"
	"github.com/authd/authd/keys"
	"github.com/authd/authd/mail"
	"github.com/authd/authd/mail/mailtest"
	"github.com/authd/authd/metrics"
	"github.com/authd/authd/password"
	"github.com/authd/authd/server"
	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/sqlite"
	"github.com/authd/authd/storage/storagetest"
	"github.com/authd/authd/users"
)

// clock is a settable clock shared by the server and its key manager.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Test clients.
const (
	spaID     = "spa"  // public: password, refresh_token
	spa2ID    = "spa2" // another public client
	svcID     = "svc"  // confidential: client_credentials
	svcSecret = "svc-secret-0123456789"
	rsID      = "rs" // confidential resource server: introspection
	rsSecret  = "rs-secret-0123456789ab"
	confID    = "webapp" // confidential: password, refresh_token
	confSec   = "webapp-secret-0123456789"
	adminID   = "ops" // confidential: client_credentials with the admin scope
	adminSec  = "ops-secret-0123456789abc"
)

func testConfig() config.Config {
	cfg := config.Default()
	cfg.Metrics.Listen = "" // /metrics on the handler under test
	cfg.DatabaseSynchronous = "OFF"
	cfg.Keys.Algorithm = "EdDSA"
	cfg.Passwords.Argon2 = config.Argon2{MemoryKiB: 64, Iterations: 1, Parallelism: 1}
	userScopes := []string{"openid", "profile", "email", "offline_access", "account"}
	cfg.Clients = []config.Client{
		{ID: spaID, Public: true, Grants: []string{"password", "refresh_token"}, Scopes: userScopes},
		{ID: spa2ID, Public: true, Grants: []string{"password", "refresh_token"}, Scopes: userScopes},
		{ID: svcID, Secret: svcSecret, Grants: []string{"client_credentials"}, Scopes: []string{"api", "api.read"}},
		{ID: rsID, Secret: rsSecret, Grants: []string{"client_credentials"}, Scopes: []string{"api"}},
		{ID: confID, Secret: confSec, Grants: []string{"password", "refresh_token"}, Scopes: userScopes},
		{ID: adminID, Secret: adminSec, Grants: []string{"client_credentials"}, Scopes: []string{"admin", "api"}},
	}
	cfg.CORS.AllowedOrigins = []string{"https://app.example.com"}
	return cfg
}

// testEnv is a real authd on loopback: real SQLite file, real keys, real
// HTTP, with a settable clock.
type testEnv struct {
	t     testing.TB
	url   string
	cfg   config.Config
	store *sqlite.DB
	// faults, in an env from newFaultyEnv, sits between the server and
	// store: with no fault set it passes every call through. Nil otherwise.
	faults *storagetest.Faulty
	dbPath string
	keys   *keys.Manager
	hasher *password.Hasher
	clock  *clock
	srv    *server.Server
	smtp   *mailtest.Server
	http   *http.Client
	logs   *logBuffer // the server's log, audit lines included
}

func newEnv(t testing.TB, mutate ...func(*config.Config)) *testEnv {
	t.Helper()
	return newEnvWith(t, false, mutate...)
}

// newFaultyEnv is newEnv with the server's store behind a Faulty (e.faults),
// for tests that make storage fail. The Faulty has only the methods of
// storage.Storage, so the server sees none of the backend's optional ones
// (the readiness probes).
func newFaultyEnv(t testing.TB, mutate ...func(*config.Config)) *testEnv {
	t.Helper()
	return newEnvWith(t, true, mutate...)
}

func newEnvWith(t testing.TB, faulty bool, mutate ...func(*config.Config)) *testEnv {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.Issuer = "http://" + ln.Addr().String()
	cfg.Listen = ln.Addr().String()
	for _, m := range mutate {
		m(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	dbPath := filepath.Join(t.TempDir(), "authd.db")
	metrics := metrics.New()
	db, err := sqlite.Open(ctx, dbPath, sqlite.Options{Synchronous: cfg.DatabaseSynchronous, ObserveCommit: metrics.ObserveCommit})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	clk := &clock{now: time.Now().UTC().Truncate(time.Second)}
	logs := &logBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(io.MultiWriter(logs, tlog{t}), nil))
	}
	km, err := keys.NewManager(ctx, db, keys.Options{
		Algorithm: cfg.Keys.Algorithm, RotateEvery: cfg.Keys.RotateEvery, ReloadInterval: cfg.Keys.ReloadInterval,
		JWKSMaxAge: cfg.Keys.JWKSMaxAge, MaxTokenTTL: cfg.MaxTokenTTL(), Now: clk.Now, Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Passwords
	hasher, err := password.New(password.Options{
		Params:    password.Params{MemoryKiB: p.Argon2.MemoryKiB, Iterations: p.Argon2.Iterations, Parallelism: p.Argon2.Parallelism},
		MinLength: p.MinLength, MaxLength: p.MaxLength, MaxConcurrent: p.MaxConcurrent, QueueWait: p.QueueWait,
	})
	if err != nil {
		t.Fatal(err)
	}
	smtpd := mailtest.NewServer(t)
	sender, err := mail.NewSMTPSender(mail.Config{SMTPAddr: smtpd.Addr(), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	mailer, err := mail.NewMailer(sender, mail.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	var store storage.Storage = db
	var faults *storagetest.Faulty
	if faulty {
		faults = storagetest.NewFaulty(db)
		store = faults
	}
	srv, err := server.New(ctx, server.Options{Config: cfg, Store: store, Keys: km, Hasher: hasher, Mailer: mailer, Metrics: metrics, Logger: log, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(ln)
	var bg sync.WaitGroup
	bg.Go(func() { srv.Run(ctx) })
	bg.Go(func() { _ = mailer.Run(ctx) })
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		_ = hs.Shutdown(sctx)
		cancel()
		bg.Wait()
		if err := db.Close(); err != nil {
			t.Errorf("closing database: %v", err)
		}
	})
	return &testEnv{
		t: t, url: cfg.Issuer, cfg: cfg, store: db, faults: faults, dbPath: dbPath, keys: km, hasher: hasher, clock: clk, srv: srv, smtp: smtpd, logs: logs,
		http: &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			Transport: openAPICheck{t: t, next: http.DefaultTransport}}, // openapi_test.go
	}
}

// logBuffer keeps what the server logs, for tests that look for a line.
type logBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() > 16<<20 { // a benchmark's worth of access lines: keep the start
		return len(p), nil
	}
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type tlog struct{ t testing.TB }

func (l tlog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// addUser creates a user with a password.
func (e *testEnv) addUser(username, pw string, mutate ...func(*storage.User)) storage.User {
	e.t.Helper()
	h, err := e.hasher.Hash(context.Background(), pw)
	if err != nil {
		e.t.Fatal(err)
	}
	now := e.clock.Now()
	u := storage.User{ID: users.NewID(), Username: username, PasswordHash: h, CreatedAt: now, UpdatedAt: now}
	for _, m := range mutate {
		m(&u)
	}
	if err := e.store.CreateUser(context.Background(), u); err != nil {
		e.t.Fatal(err)
	}
	return u
}

// response is a finished HTTP exchange.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", r.body, err)
	}
	return m
}

// do sends a request; body may be nil, a url.Values (form) or a string
// (sent as is with the given content type in headers).
func (e *testEnv) do(method, path string, body any, headers ...string) response {
	e.t.Helper()
	var rd io.Reader
	var ctype string
	switch b := body.(type) {
	case nil:
	case url.Values:
		rd, ctype = strings.NewReader(b.Encode()), "application/x-www-form-urlencoded"
	case string:
		rd = strings.NewReader(b)
	default:
		e.t.Fatalf("unsupported body %T", body)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := e.http.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: data}
}

// token posts to the token endpoint.
func (e *testEnv) token(form url.Values, headers ...string) response {
	e.t.Helper()
	return e.do(http.MethodPost, "/oauth2/token", form, headers...)
}

// login runs the password grant for a public client and returns the
// token response.
func (e *testEnv) login(clientID, username, pw string, extra ...string) map[string]any {
	e.t.Helper()
	form := url.Values{"grant_type": {"password"}, "client_id": {clientID}, "username": {username}, "password": {pw}}
	for i := 0; i+1 < len(extra); i += 2 {
		form.Set(extra[i], extra[i+1])
	}
	r := e.token(form)
	if r.status != http.StatusOK {
		e.t.Fatalf("login %s: status %d, body %s", username, r.status, r.body)
	}
	return r.json(e.t)
}

// refresh runs the refresh grant for a public client.
func (e *testEnv) refresh(clientID, rt string) response {
	e.t.Helper()
	return e.token(url.Values{"grant_type": {"refresh_token"}, "client_id": {clientID}, "refresh_token": {rt}})
}

// wantOAuthError checks an RFC 6749 §5.2 error response.
func wantOAuthError(t *testing.T, r response, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d (body %s)", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var body struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatalf("error body %q: %v", r.body, err)
	}
	if body.Error != code {
		t.Errorf("error = %q, want %q (%s)", body.Error, code, body.Description)
	}
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
}

func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}
