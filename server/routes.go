package server

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/authd/authd/errs"
	"github.com/authd/authd/server/admin"
	"github.com/authd/authd/server/httpx"
	"github.com/authd/authd/server/restauth"
)

var (
	get     = []string{http.MethodGet}
	post    = []string{http.MethodPost}
	getPost = []string{http.MethodGet, http.MethodPost}
)

// routes lists every path authd serves.
func (s *Server) routes() {
	e := s.echo
	e.Use(requestIDs, s.accessLog, s.countRequests, recoverPanics, limitBodies(s.cfg.HTTP.MaxBodyBytes))
	api := corsAllowed(s.cfg.CORS.AllowedOrigins)

	e.GET("/healthz", s.handleHealthz)
	e.GET("/readyz", s.handleReadyz)
	if s.cfg.Metrics.Listen == "" {
		e.GET("/metrics", echo.WrapHandler(s.metrics.Handler()))
	}

	// Public metadata, readable from any origin.
	httpx.Route(e, "/.well-known/openid-configuration", s.handleDiscovery, get, corsPublic)
	httpx.Route(e, "/.well-known/oauth-authorization-server", s.handleDiscovery, get, corsPublic)
	httpx.Route(e, "/.well-known/jwks.json", s.handleJWKS, get, corsPublic)

	// OAuth 2.0 / OIDC.
	httpx.Route(e, "/oauth2/token", s.handleToken, post, api)
	httpx.Route(e, "/oauth2/revoke", s.handleRevoke, post, api)
	httpx.Route(e, "/oauth2/introspect", s.handleIntrospect, post, api)
	httpx.Route(e, "/userinfo", s.handleUserinfo, getPost, api)

	s.accountRoutes(api)
	admin.New(admin.Options{Accounts: s.accounts, OAuth: s.oauth, Tokens: s.tokens, Keys: s.keys, Audit: s.audit}).Routes(e)

	// The Django-era paths, answering in DRF's shapes (compat.go).
	if s.cfg.Compat.RestAuth {
		restauth.New(restauth.Options{
			Accounts: s.accounts, OAuth: s.oauth, Tokens: s.tokens, Users: s.store, Log: s.log,
			OldPasswordRequired: s.cfg.Compat.OldPasswordRequired, AccountScope: scopeAccount,
			Internal: func(e *errs.Error) bool { return escalate(e).Kind == kindInternal },
		}).Routes(e, func(p string, h echo.HandlerFunc, methods []string, mw ...echo.MiddlewareFunc) {
			httpx.Route(e, p, h, methods, mw...)
		}, api)
	}

	s.pages.Routes(e)

}
