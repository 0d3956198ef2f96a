package server

import (
	"net/url"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"
)

// pageHeaders sets the security headers of every page and of the
// endpoints browsers visit (authorize, logout, static files).
func (s *Server) pageHeaders(next echo.HandlerFunc) echo.HandlerFunc {
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

// contentSecurityPolicy is the CSP of the pages: nothing but the embedded
// stylesheet loads, no script at all runs (inline or not), forms post only
// to authd and the redirect targets of the authorization and logout
// responses, and no one frames the pages.
//
// form-action lists the origins of every registered redirect URI because
// browsers apply it to the redirects that follow a form submission: the
// sign-in form's 303 to the client's redirect URI would otherwise be
// blocked.
func (s *Server) contentSecurityPolicy() string {
	formAction := []string{"'self'"}
	for _, id := range s.oauth.Clients().IDs() {
		cl, _ := s.oauth.Clients().Get(id)
		for _, raw := range slices.Concat(cl.RedirectURIs, cl.PostLogoutRedirectURIs) {
			if src := cspSource(raw); src != "" && !slices.Contains(formAction, src) {
				formAction = append(formAction, src)
			}
		}
	}
	return strings.Join([]string{
		"default-src 'none'",
		"style-src 'self'",
		"img-src 'self'",
		"form-action " + strings.Join(formAction, " "),
		"frame-ancestors 'none'",
		"base-uri 'none'",
	}, "; ")
}

// cspSource is the CSP source expression that allows a redirect URI: its
// origin for http(s), its scheme for an app's private-use scheme (RFC 8252
// §7.1). "" for anything that cannot be written as one.
func cspSource(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return ""
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme == "http" || scheme == "https" {
		if u.Host == "" || strings.ContainsAny(u.Host, " ;,'") {
			return ""
		}
		return scheme + "://" + u.Host
	}
	return scheme + ":"
}
