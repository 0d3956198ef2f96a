// Package core builds authd's domain services from the configuration, in
// one place, for every process that applies the rules: the HTTP server and
// the CLI get the same token, session, account and oauth services, wired
// the same way.
package core

import (
	"context"
	"log/slog"
	"time"

	"github.com/authd/authd/account"
	"github.com/authd/authd/audit"
	"github.com/authd/authd/config"
	"github.com/authd/authd/keys"
	"github.com/authd/authd/mail"
	"github.com/authd/authd/oauth"
	"github.com/authd/authd/password"
	"github.com/authd/authd/session"
	"github.com/authd/authd/storage"
	"github.com/authd/authd/throttle"
	"github.com/authd/authd/token"
)

// Options are the services' dependencies. Config, Store and Hasher are
// required; Keys is required for the token and oauth services.
type Options struct {
	Config config.Config
	Store  storage.Storage
	Keys   *keys.Manager
	Hasher *password.Hasher
	// Mailer sends reset and verification mails; nil: none are sent.
	Mailer *mail.Mailer
	// Audit records the services' events; nil: a log of Log.
	Audit *audit.Log
	Log   *slog.Logger     // default: discard
	Now   func() time.Time // default: time.Now
	// OnIssue is called for every access token signed (metrics).
	OnIssue func(grant, alg string)
}

// Services are the domain services of one process.
type Services struct {
	View     *token.View
	Tokens   *token.Service
	Sessions *session.Service
	Accounts *account.Service
	OAuth    *oauth.Service
	Audit    *audit.Log
}

// New builds the services.
func New(o Options) *Services {
	cfg := o.Config
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Audit == nil {
		o.Audit = audit.New(o.Log)
	}
	s := &Services{Audit: o.Audit, View: token.NewView(cfg.Tokens.AccessTTL, storage.RevocationSkew)}
	s.Tokens = token.NewService(token.Config{
		Issuer: cfg.Issuer, Audience: cfg.Tokens.Audience, AccessTTL: cfg.Tokens.AccessTTL, IDTTL: cfg.Tokens.IDTTL,
		AccessClaims: cfg.Tokens.AccessTokenClaims,
	}, o.Keys, s.View, o.Now, o.OnIssue)
	s.Sessions = session.New(o.Store, s.View, o.Audit, o.Now)
	s.Accounts = account.New(account.Options{
		Store: o.Store, Hasher: o.Hasher, Sessions: s.Sessions, Mailer: o.Mailer, Audit: o.Audit, Log: o.Log, Now: o.Now,
		Issuer: cfg.Issuer, ResetMailsPerHour: cfg.Throttle.ResetMailsPerHour, Limits: throttle.NewSharedLimits(cfg.Throttle, o.Store, o.Log),
	})
	// Clients registered at run time live in the store beside the
	// configured ones. A failed first reading is not fatal: the registry
	// serves the configured clients and reads the store again on first use.
	clients := oauth.NewClients(cfg.Clients)
	if err := clients.UseStore(context.Background(), oauth.StoreOptions{
		Store: o.Store, Reserved: []string{session.BrowserClientID, cfg.Compat.ClientID}, Audit: o.Audit, Log: o.Log, Now: o.Now,
	}); err != nil {
		o.Log.Warn("reading the stored clients failed; retrying on first use", "error", err)
	}
	s.OAuth = oauth.New(oauth.Options{
		Config: oauth.Config{
			Issuer: cfg.Issuer, RefreshIdleTTL: cfg.Tokens.RefreshIdleTTL, RefreshAbsoluteTTL: cfg.Tokens.RefreshAbsoluteTTL,
			RefreshReuseGrace: cfg.Tokens.RefreshReuseGrace, LegacyClientID: cfg.Compat.ClientID,
			LegacyRefreshExpiration: cfg.Compat.RefreshExpiration,
		},
		Store: o.Store, Clients: clients, Tokens: s.Tokens, Sessions: s.Sessions,
		Accounts: s.Accounts, Audit: o.Audit, Log: o.Log, Now: o.Now,
	})
	return s
}
