// Package oauth is the one home of authd's OAuth 2.0 and OpenID Connect
// rules: client authentication, the grants of the token endpoint behind one
// interface and a registry (which also feeds discovery), the authorization
// code flow with PKCE, revocation, introspection, userinfo, and the token
// endpoints of the Django-era paths. It knows nothing of HTTP: failures are
// *errs.Error carrying RFC 6749 §5.2 codes.
package oauth

import (
	"context"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/authd/authd/account"
	"github.com/authd/authd/audit"
	"github.com/authd/authd/errs"
	"github.com/authd/authd/session"
	"github.com/authd/authd/storage"
	"github.com/authd/authd/token"
	"github.com/authd/authd/users"
)

// Config is what the OAuth rules need of the configuration.
type Config struct {
	Issuer             string
	RefreshIdleTTL     time.Duration
	RefreshAbsoluteTTL time.Duration
	RefreshReuseGrace  time.Duration
	// LegacyClientID is the client of tokens issued at the Django-era
	// paths, and LegacyRefreshExpiration how long after a login such a
	// token may be refreshed.
	LegacyClientID          string
	LegacyRefreshExpiration time.Duration
}

// Options are the Service's dependencies; all are required but Log and Now.
type Options struct {
	Config   Config
	Store    storage.Storage
	Clients  *Clients
	Tokens   *token.Service
	Sessions *session.Service
	Accounts *account.Service
	Audit    *audit.Log
	Log      *slog.Logger
	Now      func() time.Time
}

// Service applies the OAuth rules.
type Service struct {
	cfg      Config
	store    storage.Storage
	clients  *Clients
	tokens   *token.Service
	sessions *session.Service
	accounts *account.Service
	audit    *audit.Log
	log      *slog.Logger
	now      func() time.Time
	grants   map[string]Grant
	legacy   *Client
}

// New returns the OAuth service with every grant registered.
func New(o Options) *Service {
	s := &Service{
		cfg: o.Config, store: o.Store, clients: o.Clients, tokens: o.Tokens, sessions: o.Sessions,
		accounts: o.Accounts, audit: o.Audit, log: o.Log, now: o.Now,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.grants = map[string]Grant{}
	for _, g := range []Grant{
		grantFunc{GrantAuthorizationCode, s.grantAuthorizationCode},
		grantFunc{GrantPassword, s.grantPassword},
		grantFunc{GrantRefreshToken, s.grantRefresh},
		grantFunc{GrantClientCredentials, s.grantClientCredentials},
	} {
		s.grants[g.Type()] = g
	}
	s.legacy = &Client{ID: o.Config.LegacyClientID, Public: true, Grants: []string{GrantPassword}, Scopes: []string{"openid", "profile", "email"}}
	return s
}

// Clients is the client registry.
func (s *Service) Clients() *Clients { return s.clients }

// Tokens is the token service.
func (s *Service) Tokens() *token.Service { return s.tokens }

// Grant types (RFC 6749 §4).
const (
	GrantAuthorizationCode = "authorization_code"
	GrantPassword          = "password"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
)

// GrantTypes lists the grant types authd implements, in the order
// discovery advertises them. Configuration validation checks clients
// against it.
func GrantTypes() []string {
	return []string{GrantAuthorizationCode, GrantPassword, GrantRefreshToken, GrantClientCredentials}
}

// TokenRequest is a token endpoint request from an authenticated client.
type TokenRequest struct {
	Client    *Client
	Form      url.Values
	UserAgent string
	Address   string
}

// Grant is one grant type of the token endpoint.
type Grant interface {
	Type() string
	Token(ctx context.Context, r TokenRequest) (token.Response, error)
}

type grantFunc struct {
	name string
	fn   func(ctx context.Context, r TokenRequest) (token.Response, error)
}

func (g grantFunc) Type() string { return g.name }
func (g grantFunc) Token(ctx context.Context, r TokenRequest) (token.Response, error) {
	return g.fn(ctx, r)
}

// Token answers a token request (RFC 6749 §3.2): it picks the grant and
// checks that the client may use it.
func (s *Service) Token(ctx context.Context, r TokenRequest) (token.Response, error) {
	name := r.Form.Get("grant_type")
	if name == "" {
		return token.Response{}, errs.OAuth("invalid_request", "grant_type is required")
	}
	g, ok := s.grants[name]
	if !ok {
		return token.Response{}, errs.OAuth("unsupported_grant_type", "grant_type %q is not supported", name)
	}
	if !r.Client.Allows(name) {
		return token.Response{}, errs.OAuth("unauthorized_client", "this client may not use the %s grant", name)
	}
	return g.Token(ctx, r)
}

// newSession builds the session a client gets when a user signs in to it,
// with its refresh family when offline_access is granted to a client that
// may refresh, and returns the family's first token ("" without one). It
// stores nothing.
func (s *Service) newSession(cl *Client, u storage.User, scope []string, authTime time.Time, userAgent, addr string, now time.Time) (storage.Session, string) {
	sess := storage.Session{
		ID:         token.Random(16),
		UserID:     u.ID,
		ClientID:   cl.ID,
		Scope:      strings.Join(scope, " "),
		AuthTime:   authTime,
		CreatedAt:  now,
		LastUsedAt: now,
		ExpiresAt:  now.Add(s.cfg.RefreshAbsoluteTTL),
		UserAgent:  users.Truncate(userAgent, 256),
		Address:    addr,
	}
	if !hasScope(scope, "offline_access") || !cl.Allows(GrantRefreshToken) {
		return sess, ""
	}
	return sess, s.newFamily(&sess, now)
}

// startSession creates a session for a user who just authenticated, with a
// refresh-token family when offline_access is granted, and issues its
// tokens.
func (s *Service) startSession(ctx context.Context, grant string, cl *Client, u storage.User, scope []string, authTime time.Time, nonce, userAgent, addr string, legacy bool) (token.Response, storage.Session, error) {
	now := s.now()
	if authTime.IsZero() {
		authTime = now
	}
	sess, refresh := s.newSession(cl, u, scope, authTime, userAgent, addr, now)
	resp, err := s.tokens.Issue(token.Request{Grant: grant, ClientID: cl.ID, User: &u, Session: &sess, Scope: scope, Nonce: nonce,
		Refresh: refresh, Now: now, NotAfter: sess.ExpiresAt, Legacy: legacy})
	if err != nil {
		return token.Response{}, storage.Session{}, err
	}
	if err := s.sessions.Start(ctx, sess, u); err != nil {
		if err == session.ErrCredentialsChanged {
			return token.Response{}, storage.Session{}, account.BadCredentials()
		}
		return token.Response{}, storage.Session{}, err
	}
	s.audit.Event(ctx, "login.succeeded", "user_id", u.ID, "client_id", cl.ID, "session_id", sess.ID, "address", addr)
	return resp, sess, nil
}

func hasScope(scope []string, s string) bool { return slices.Contains(scope, s) }

// earliest is the earlier of two times.
func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
