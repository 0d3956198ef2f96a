// Package server is authd's HTTP surface: the OAuth 2.0 / OpenID Connect
// endpoints, the account API, the Django-era compatibility paths and the
// pages people see, all on one echo instance built by New.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/authd/authd/account"
	"github.com/authd/authd/audit"
	"github.com/authd/authd/config"
	"github.com/authd/authd/core"
	"github.com/authd/authd/errs"
	"github.com/authd/authd/keys"
	"github.com/authd/authd/mail"
	"github.com/authd/authd/metrics"
	"github.com/authd/authd/oauth"
	"github.com/authd/authd/password"
	"github.com/authd/authd/server/pages"
	"github.com/authd/authd/session"
	"github.com/authd/authd/storage"
	"github.com/authd/authd/token"
)

// Options are the dependencies of a Server. Store, Keys and Hasher are
// required.
type Options struct {
	Config config.Config
	Store  storage.Storage
	Keys   *keys.Manager
	Hasher *password.Hasher
	// Mailer sends reset and verification mails; default: mails are
	// logged with their links redacted. The caller runs it (Mailer.Run).
	Mailer *mail.Mailer
	// Metrics collects Prometheus metrics; default: a new registry.
	Metrics *metrics.Metrics
	Logger  *slog.Logger     // default: discard
	Now     func() time.Time // default: time.Now
}

// Server is authd's HTTP handler: thin surfaces over the domain services.
type Server struct {
	cfg     config.Config
	store   storage.Storage
	keys    *keys.Manager
	log     *slog.Logger
	now     func() time.Time
	echo    *echo.Echo
	metrics *metrics.Metrics
	audit   *audit.Log

	tokens   *token.Service
	sessions *session.Service
	accounts *account.Service
	oauth    *oauth.Service

	pages *pages.Handlers // the HTML surface

	fileGone atomic.Bool // the database file was last seen removed or replaced

	discovery        []byte // computed once
	jwksCacheControl string
	// sweepBatch is sweepBatch but in tests of Sweep, which shrink it.
	sweepBatch int
}

// New builds the domain services, the server and its routes, and loads the
// view of revoked sessions and tokens.
func New(ctx context.Context, opts Options) (*Server, error) {
	if opts.Store == nil || opts.Keys == nil || opts.Hasher == nil {
		return nil, errors.New("server: Store, Keys and Hasher are required")
	}
	if problems := opts.Config.Validate(); len(problems) > 0 {
		return nil, &config.Error{Problems: problems}
	}
	cfg := opts.Config
	s := &Server{
		cfg:              cfg,
		store:            opts.Store,
		keys:             opts.Keys,
		log:              opts.Logger,
		now:              opts.Now,
		metrics:          opts.Metrics,
		sweepBatch:       sweepBatch,
		jwksCacheControl: fmt.Sprintf("public, max-age=%d", int(cfg.Keys.JWKSMaxAge/time.Second)),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	mailer := opts.Mailer
	if mailer == nil {
		m, err := mail.NewMailer(mail.NewLogSender(s.log, false), mail.Options{Logger: s.log})
		if err != nil {
			return nil, err
		}
		mailer = m
	}
	if s.metrics == nil {
		s.metrics = metrics.New()
	}
	s.audit = audit.New(s.log, s.metrics.Event)
	s.metrics.RegisterGauges(metrics.Gauges{
		Hashes: opts.Hasher.Stats,
		KeyAge: func() time.Duration { return s.now().Sub(s.activeKeySince()) },
		NextRotation: func() time.Duration {
			if cfg.Keys.RotateEvery == 0 {
				return 0
			}
			return s.activeKeySince().Add(cfg.Keys.RotateEvery).Sub(s.now())
		},
	})

	svc := core.New(core.Options{
		Config: cfg, Store: s.store, Keys: s.keys, Hasher: opts.Hasher, Mailer: mailer,
		Audit: s.audit, Log: s.log, Now: s.now, OnIssue: s.metrics.TokenIssued,
	})
	s.tokens, s.sessions, s.accounts, s.oauth = svc.Tokens, svc.Sessions, svc.Accounts, svc.OAuth
	view := svc.View

	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = s.handleError
	ipx, err := ipExtractor(cfg.HTTP.TrustedProxies)
	if err != nil {
		return nil, err
	}
	e.IPExtractor = ipx
	s.echo = e
	if s.discovery, err = s.oauth.Discovery(); err != nil {
		return nil, err
	}
	s.pages, err = pages.New(pages.Options{
		Issuer: cfg.Issuer, SiteName: cfg.Web.SiteName, Accounts: s.accounts, Sessions: s.sessions, OAuth: s.oauth,
		Tokens: s.tokens, Log: s.log, Now: s.now, Internal: func(e *errs.Error) bool { return escalate(e).Kind == kindInternal },
	})
	if err != nil {
		return nil, err
	}
	if err := view.Poll(ctx, s.store, s.now()); err != nil {
		return nil, fmt.Errorf("server: loading revoked sessions: %w", err)
	}
	s.routes()
	return s, nil
}

// ServeHTTP makes Server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.echo.ServeHTTP(w, r)
}

// Accounts is the account service, for callers that share this server's
// view and limits.
func (s *Server) Accounts() *account.Service { return s.accounts }

// ipExtractor returns how the client address is found: from the connection,
// or from X-Forwarded-For when the request came through a trusted proxy. A
// spoofed X-Forwarded-For from anyone else changes nothing.
func ipExtractor(trusted []string) (echo.IPExtractor, error) {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect(), nil
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, cidr := range trusted {
		_, n, err := net.ParseCIDR(cidr)
		if err != nil {
			return nil, err
		}
		opts = append(opts, echo.TrustIPRange(n))
	}
	return echo.ExtractIPFromXFFHeader(opts...), nil
}

// activeKeySince is when the active key started signing.
func (s *Server) activeKeySince() time.Time {
	kid, _, ok := s.keys.Active()
	if !ok {
		return s.now()
	}
	for _, k := range s.keys.Keys() {
		if k.ID == kid {
			return k.ActivatedAt
		}
	}
	return s.now()
}
