package server

import (
	"net/http"

	"github.com/labstack/echo/v4"
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
	route(e, "/.well-known/openid-configuration", s.handleDiscovery, get, corsPublic)
	route(e, "/.well-known/oauth-authorization-server", s.handleDiscovery, get, corsPublic)
	route(e, "/.well-known/jwks.json", s.handleJWKS, get, corsPublic)

	// OAuth 2.0 / OIDC.
	route(e, "/oauth2/token", s.handleToken, post, api)
	route(e, "/oauth2/revoke", s.handleRevoke, post, api)
	route(e, "/oauth2/introspect", s.handleIntrospect, post, api)
	route(e, "/userinfo", s.handleUserinfo, getPost, api)

	s.accountRoutes(api)
	s.adminRoutes()

	// The Django-era paths, answering in DRF's shapes.
	if s.cfg.Compat.RestAuth {
		auth := s.requireJWT
		drf := func(p string, h echo.HandlerFunc, methods []string, renames map[string]string, mw ...echo.MiddlewareFunc) {
			// requireJWT's errors too are DRF's: it runs inside drf.
			inner := h
			for i := len(mw) - 1; i >= 0; i-- {
				inner = mw[i](inner)
			}
			route(e, p, s.drf(inner, renames), methods, api)
		}
		drf("/rest-auth/registration/", s.handleCompatRegister, post, map[string]string{"password": "password1"})
		drf("/rest-auth/login/", s.handleCompatLogin, post, nil)
		drf("/rest-auth/logout/", s.handleCompatLogout, post, nil)
		drf("/rest-auth/user/", s.handleCompatUser, []string{http.MethodGet, http.MethodPut, http.MethodPatch}, map[string]string{"current_password": "password"}, auth)
		drf("/rest-auth/password/change/", s.handleCompatPasswordChange, post, map[string]string{"new_password": "new_password2"}, auth)
		drf("/rest-auth/password/reset/", s.handleCompatResetRequest, post, nil)
		drf("/rest-auth/password/reset/confirm/", s.handleCompatResetConfirm, post, map[string]string{"new_password": "new_password2"})
		drf("/refresh-token/", s.handleCompatRefresh, post, nil)
		drf("/verify-token/", s.handleCompatVerify, post, nil)
	}

	s.webRoutes()

}
