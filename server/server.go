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
	"time"

	"github.com/labstack/echo/v4"

	"github.com/authd/authd/keys"
	"github.com/authd/authd/config"
	"github.com/authd/authd/mail"
	"github.com/authd/authd/password"
	"github.com/authd/authd/storage"
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
	Metrics *Metrics
	Logger  *slog.Logger     // default: discard
	Now     func() time.Time // default: time.Now
}

// Server is authd's HTTP handler and the background work it owns.
type Server struct {
	cfg     config.Config
	store   storage.Storage
	keys    *keys.Manager
	hasher  *password.Hasher
	log     *slog.Logger
	now     func() time.Time
	echo    *echo.Echo
	mailer  *mail.Mailer
	metrics *Metrics
	clients clients
	revoked *revocations
	compat  *client // the client of tokens issued at the Django-era paths

	loginThrottle *throttle  // failed logins per account
	addrThrottle  *throttle  // failed logins per client address
	registerLimit *rateLimit // registrations per address
	resetLimit    *rateLimit // reset requests per address
	resets        chan resetRequest

	web *webUI // the pages and their templates (web.go)

	discovery        []byte // computed once
	jwksCacheControl string
}

// New builds the server and its routes, and loads the view of revoked
// sessions and tokens.
func New(ctx context.Context, opts Options) (*Server, error) {
	if opts.Store == nil || opts.Keys == nil || opts.Hasher == nil {
		return nil, errors.New("server: Store, Keys and Hasher are required")
	}
	if problems := opts.Config.Validate(); len(problems) > 0 {
		return nil, &config.Error{Problems: problems}
	}
	s := &Server{
		cfg:              opts.Config,
		store:            opts.Store,
		keys:             opts.Keys,
		hasher:           opts.Hasher,
		log:              opts.Logger,
		now:              opts.Now,
		mailer:           opts.Mailer,
		metrics:          opts.Metrics,
		clients:          newClients(opts.Config.Clients),
		revoked:          newRevocations(),
		resets:           make(chan resetRequest, 256),
		jwksCacheControl: fmt.Sprintf("public, max-age=%d", int(opts.Config.Keys.JWKSMaxAge/time.Second)),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.mailer == nil {
		m, err := mail.NewMailer(mail.NewLogSender(s.log, false), mail.Options{Logger: s.log})
		if err != nil {
			return nil, err
		}
		s.mailer = m
	}
	if s.metrics == nil {
		s.metrics = NewMetrics()
	}
	s.metrics.registerServer(s)
	th := s.cfg.Throttle
	s.loginThrottle = newThrottle(th.AccountFailures, th.WaitIncrement, th.MaxWait, th.FailureReset)
	s.addrThrottle = newThrottle(th.AddressFailures, th.WaitIncrement, th.MaxWait, th.FailureReset)
	s.registerLimit = newRateLimit(th.RegistrationsPerHour, time.Hour)
	s.resetLimit = newRateLimit(th.ResetRequestsPerHour, time.Hour)
	s.compat = &client{id: s.cfg.Compat.ClientID, public: true, grants: []string{"password"}, scopes: []string{"openid", "profile", "email"}}
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = s.handleError
	ipx, err := ipExtractor(s.cfg.HTTP.TrustedProxies)
	if err != nil {
		return nil, err
	}
	e.IPExtractor = ipx
	s.echo = e
	if s.discovery, err = s.buildDiscovery(); err != nil {
		return nil, err
	}
	if s.web, err = s.newWebUI(); err != nil {
		return nil, err
	}
	if err := s.revoked.poll(ctx, s.store, s.now(), s.revocationWindow()); err != nil {
		return nil, fmt.Errorf("server: loading revoked sessions: %w", err)
	}
	s.routes()
	return s, nil
}

// revocationWindow is how long an ended session matters to access-token
// checks: the longest access-token lifetime plus clock skew.
func (s *Server) revocationWindow() time.Duration {
	return s.cfg.Tokens.AccessTTL + time.Minute
}

// ServeHTTP makes Server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.echo.ServeHTTP(w, r)
}

// Run does the server's background work until ctx is done: it refreshes
// the view of revoked sessions every second and deletes expired rows every
// minute.
func (s *Server) Run(ctx context.Context) {
	poll := time.NewTicker(revocationPoll)
	defer poll.Stop()
	sweep := time.NewTicker(housekeepingEvery)
	defer sweep.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-poll.C:
			if err := s.revoked.poll(ctx, s.store, s.now(), s.revocationWindow()); err != nil && ctx.Err() == nil {
				s.log.Warn("refreshing revoked sessions failed", "error", err)
			}
		case <-sweep.C:
			s.sweep(ctx)
		case r := <-s.resets:
			s.processReset(r)
		}
	}
}

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
