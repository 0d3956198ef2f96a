package oauth_test

import (
	"context"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/account"
	"github.com/authd/authd/audit"
	"github.com/authd/authd/config"
	"github.com/authd/authd/errs"
	"github.com/authd/authd/keys"
	"github.com/authd/authd/oauth"
	"github.com/authd/authd/password"
	"github.com/authd/authd/session"
	"github.com/authd/authd/storage/sqlite"
	"github.com/authd/authd/throttle"
	"github.com/authd/authd/token"
)

// Clients of the tests.
var testClients = []config.Client{
	{ID: "spa", Public: true, Grants: []string{"password", "refresh_token"}, Scopes: []string{"openid", "profile", "offline_access"}},
	{ID: "spa2", Public: true, Grants: []string{"password", "refresh_token"}, Scopes: []string{"openid", "profile", "offline_access"}},
	{ID: "svc", Secret: "svc-secret-0123456789", Grants: []string{"client_credentials"}, Scopes: []string{"api"}},
	// A public client configured with client_credentials still may not
	// use it: it has no secret to prove who it is.
	{ID: "pubcc", Public: true, Grants: []string{"client_credentials"}, Scopes: []string{"api"}},
}

type env struct {
	t       *testing.T
	svc     *oauth.Service
	db      *sqlite.DB
	clients *oauth.Clients
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "o.db"), sqlite.Options{Synchronous: "OFF"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	discard := slog.New(slog.DiscardHandler)
	km, err := keys.NewManager(ctx, db, keys.Options{Algorithm: keys.EdDSA, MaxTokenTTL: time.Hour, Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	hasher, err := password.New(password.Options{Params: password.Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}})
	if err != nil {
		t.Fatal(err)
	}
	const issuer = "https://id.example.com"
	view := token.NewView(15*time.Minute, keys.DefaultSkew)
	tokens := token.NewService(token.Config{Issuer: issuer, Audience: []string{"api"}, AccessTTL: 15 * time.Minute, IDTTL: time.Hour}, km, view, nil, nil)
	log := audit.New(nil)
	sessions := session.New(db, view, log, nil)
	accounts := account.New(account.Options{Store: db, Hasher: hasher, Sessions: sessions, Limits: throttle.NewLimits(config.Default().Throttle), Audit: log})
	clients := oauth.NewClients(testClients)
	svc := oauth.New(oauth.Options{
		Config: oauth.Config{Issuer: issuer, RefreshIdleTTL: time.Hour, RefreshAbsoluteTTL: 24 * time.Hour, LegacyClientID: "rest-auth", LegacyRefreshExpiration: time.Hour},
		Store:  db, Clients: clients, Tokens: tokens, Sessions: sessions, Accounts: accounts, Audit: log,
	})
	if _, err := accounts.Create(ctx, account.Registration{Username: "olga", Password: "correct horse battery 9"}, "test"); err != nil {
		t.Fatal(err)
	}
	return &env{t: t, svc: svc, db: db, clients: clients}
}

func (e *env) client(id string) *oauth.Client {
	e.t.Helper()
	c, ok := e.clients.Get(id)
	if !ok {
		e.t.Fatalf("no client %s", id)
	}
	return c
}

// login runs the password grant for client id.
func (e *env) login(id string) token.Response {
	e.t.Helper()
	resp, err := e.svc.Token(context.Background(), oauth.TokenRequest{Client: e.client(id), Form: url.Values{
		"grant_type": {"password"}, "username": {"olga"}, "password": {"correct horse battery 9"},
	}, Address: "192.0.2.1"})
	if err != nil {
		e.t.Fatalf("password grant: %v", err)
	}
	return resp
}

// wantCode checks an *errs.Error's kind and OAuth code.
func wantCode(t *testing.T, err error, kind errs.Kind, code string) {
	t.Helper()
	e, ok := errs.As(err)
	if !ok {
		t.Fatalf("error %v, want %s", err, code)
	}
	if e.Kind != kind || e.Code != code {
		t.Errorf("error kind %d code %q (%s), want kind %d code %q", e.Kind, e.Code, e.Description, kind, code)
	}
}

func TestTokenGrantDispatch(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tests := []struct {
		name   string
		client string
		form   url.Values
		code   string
	}{
		{"no grant_type", "spa", url.Values{"username": {"olga"}, "password": {"x"}}, "invalid_request"},
		{"empty grant_type", "spa", url.Values{"grant_type": {""}}, "invalid_request"},
		{"unknown grant_type", "spa", url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}}, "unsupported_grant_type"},
		{"grant_type in another case", "spa", url.Values{"grant_type": {"Password"}}, "unsupported_grant_type"},
		{"grant the client may not use", "svc", url.Values{"grant_type": {"password"}, "username": {"olga"}, "password": {"correct horse battery 9"}}, "unauthorized_client"},
		{"known grant no client here may use", "spa", url.Values{"grant_type": {"authorization_code"}, "code": {"x"}}, "unauthorized_client"},
		{"client_credentials for a public client", "pubcc", url.Values{"grant_type": {"client_credentials"}}, "unauthorized_client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.svc.Token(ctx, oauth.TokenRequest{Client: e.client(tt.client), Form: tt.form, Address: "192.0.2.1"})
			wantCode(t, err, errs.Invalid, tt.code)
		})
	}
	// The refusals above started no session.
	u, err := e.db.GetUserByUsername(ctx, "olga")
	if err != nil {
		t.Fatal(err)
	}
	if list, err := e.db.ListSessions(ctx, u.ID, time.Now()); err != nil || len(list) != 0 {
		t.Errorf("sessions after refused grants: %d, %v", len(list), err)
	}
	// And the grants the clients may use work.
	if resp, err := e.svc.Token(ctx, oauth.TokenRequest{Client: e.client("svc"), Form: url.Values{"grant_type": {"client_credentials"}}}); err != nil || resp.AccessToken == "" {
		t.Errorf("client_credentials: %v", err)
	}
	if resp := e.login("spa"); resp.RefreshToken == "" {
		t.Error("password grant with offline_access gave no refresh token")
	}
}

// Revoking a token the server does not know, cannot read or did not issue
// to the caller is no error (RFC 7009 §2.2) and changes nothing.
func TestRevokeUnknownTokens(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	other := e.login("spa2") // another client's tokens
	spa := e.client("spa")
	for _, tok := range []struct{ name, value string }{
		{"random opaque", token.Random(32)},
		{"JWS-shaped garbage", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.c2ln"},
		{"three dots", "a.b.c"},
		{"too long", strings.Repeat("r", 10_000)},
		{"another client's refresh token", other.RefreshToken},
		{"another client's access token", other.AccessToken},
	} {
		for _, hint := range []string{"", "access_token", "refresh_token", "no_such_hint"} {
			t.Run(tok.name+"/"+hint, func(t *testing.T) {
				if err := e.svc.Revoke(ctx, spa, tok.value, hint); err != nil {
					t.Errorf("Revoke = %v, want nil", err)
				}
			})
		}
	}
	wantCode(t, e.svc.Revoke(ctx, spa, "", ""), errs.Invalid, "invalid_request")
	// The other client's session was left alone.
	if in, err := e.svc.Introspect(ctx, e.client("svc"), other.AccessToken); err != nil || !in.Active {
		t.Errorf("another client's access token after the revocations: active %v, %v", in.Active, err)
	}
	if _, err := e.svc.Token(ctx, oauth.TokenRequest{Client: e.client("spa2"), Form: url.Values{"grant_type": {"refresh_token"}, "refresh_token": {other.RefreshToken}}}); err != nil {
		t.Errorf("another client's refresh token after the revocations: %v", err)
	}
}

func TestIntrospectNeedsConfidentialClient(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	resp := e.login("spa")
	for _, tok := range []string{resp.AccessToken, resp.RefreshToken, "unknown"} {
		_, err := e.svc.Introspect(ctx, e.client("spa"), tok)
		wantCode(t, err, errs.Unauthenticated, "invalid_client")
	}
	if in, err := e.svc.Introspect(ctx, e.client("svc"), resp.AccessToken); err != nil || !in.Active || in.Username != "olga" {
		t.Errorf("a confidential client's introspection: %+v, %v", in, err)
	}
	// A refresh token is described only to the client it was issued to.
	if in, err := e.svc.Introspect(ctx, e.client("svc"), resp.RefreshToken); err != nil || in.Active || in.Username != "" {
		t.Errorf("another client's refresh token: %+v, %v; want inactive", in, err)
	}
}
