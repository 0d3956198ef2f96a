package server

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/authd/authd/errs"
	"github.com/authd/authd/server/admin"
	"github.com/authd/authd/server/httpx"
	"github.com/authd/authd/server/restauth"
	"github.com/authd/authd/token"
)

var (
	get     = []string{http.MethodGet}
	post    = []string{http.MethodPost}
	getPost = []string{http.MethodGet, http.MethodPost}
)

// routes mounts every path authd serves: the endpoints of this package
// here, and each other surface's (admin, restauth, pages), whose own Routes
// list their paths.
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

	// The account API (/account/*), for tokens with the account scope.
	auth := s.requireBearer(func(ac token.Access) bool { return ac.HasScope(scopeAccount) })
	httpx.Route(e, "/account/register", s.handleRegister, post, api)
	httpx.Route(e, "/account/me", s.handleMe, []string{http.MethodGet, http.MethodPatch}, api, auth)
	httpx.Route(e, "/account/password", s.handlePasswordChange, post, api, auth)
	httpx.Route(e, "/account/password/reset", s.handleResetRequest, post, api)
	httpx.Route(e, "/account/password/reset/confirm", s.handleResetConfirm, post, api)
	httpx.Route(e, "/account/email/verify", s.handleVerifyEmail, post, api)
	httpx.Route(e, "/account/email/verify/resend", s.handleResendVerification, post, api, auth)
	httpx.Route(e, "/account/sessions", s.handleSessions, get, api, auth)
	httpx.Route(e, "/account/sessions/:id", s.handleEndSession, []string{http.MethodDelete}, api, auth)
	httpx.Route(e, "/account/logout", s.handleLogout, post, api, auth)

	// The admin API (/admin/v1/*: users, sessions, clients, keys, and
	// openapi.json), for client tokens with the admin scope.
	admin.New(admin.Options{Accounts: s.accounts, OAuth: s.oauth, Tokens: s.tokens, Keys: s.keys, Audit: s.audit}).Routes(e)

	// The Django-era paths (/rest-auth/…, /refresh-token/, /verify-token/),
	// answering in DRF's shapes.
	if s.cfg.Compat.RestAuth {
		restauth.New(restauth.Options{
			Accounts: s.accounts, OAuth: s.oauth, Tokens: s.tokens, Users: s.store, Log: s.log,
			OldPasswordRequired: s.cfg.Compat.OldPasswordRequired, AccountScope: scopeAccount,
			Internal: func(e *errs.Error) bool { return escalate(e).Kind == kindInternal },
		}).Routes(e, func(p string, h echo.HandlerFunc, methods []string, mw ...echo.MiddlewareFunc) {
			httpx.Route(e, p, h, methods, mw...)
		}, api)
	}

	// The pages people see (/signin, /register, /password/…, /email/verify,
	// /account, /static/…), and /oauth2/authorize and /oauth2/logout, which
	// browsers visit.
	s.pages.Routes(e)
}
