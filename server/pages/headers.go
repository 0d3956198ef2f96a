package pages

import (
	"github.com/labstack/echo/v4"

	"github.com/authd/authd/web"
)

// pageHeaders sets the security headers of every page and of the
// endpoints browsers visit (authorize, logout, static files). echo's Secure
// middleware is not used: it decides HSTS from the connection (or
// X-Forwarded-Proto), where authd decides it from its issuer, and it has no
// Cross-Origin-Opener-Policy or Cache-Control.
func (s *Handlers) pageHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Content-Security-Policy", s.pageCSP())
		// Clickjacking: the pages cannot be framed (frame-ancestors 'none'
		// above; X-Frame-Options for browsers without CSP level 2). A framed
		// sign-in form would let another site trick a person into signing in
		// or out.
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		// The reset and verification pages carry their token in the URL; no
		// page may leak its URL to another site through Referer.
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		// Pages hold CSRF tokens and personal data: never stored by a cache
		// (handleStatic overrides this for the assets).
		h.Set("Cache-Control", "no-store")
		if s.web.https {
			// RFC 6797. No includeSubDomains: the issuer's parent domain may
			// serve other things over http, which is not authd's to decide.
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		return next(c)
	}
}

// contentSecurityPolicy is the CSP of the pages (web.ContentSecurityPolicy),
// allowing forms to lead to every registered redirect URI.
func (s *Handlers) contentSecurityPolicy() string {
	var targets []string
	for _, id := range s.oauth.Clients().IDs() {
		cl, _ := s.oauth.Clients().Get(id)
		targets = append(targets, cl.RedirectURIs...)
		targets = append(targets, cl.PostLogoutRedirectURIs...)
	}
	return web.ContentSecurityPolicy(targets)
}
