package pages

import (
	"crypto/subtle"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/authd/authd/token"
)

// CSRF protection of the forms: the double-submit pattern. A random token
// lives in a cookie of its own and in a hidden field of every form; a POST
// is accepted only when the two match. Another site can make a browser
// post a form to authd, but it can neither read the cookie nor set it: the
// __Host- prefix (with an https issuer) forbids a sibling subdomain from
// planting one. SameSite=Lax (current browsers send no cookie with a
// cross-site POST) and the Origin check below are defence in depth; the
// token does not rely on them.
//
// The token is renewed at every sign-in and sign-out, so a token seen
// before signing in is worthless after.

const (
	csrfField      = "csrf_token"
	csrfContextKey = "authd.csrf"
)

func (s *Handlers) csrfCookieName() string {
	if s.web.https {
		return "__Host-authd_csrf"
	}
	return "authd_csrf"
}

// csrfToken returns the request's CSRF token, from its cookie or, when it
// has none (or a malformed one), a new one set in the response.
func (s *Handlers) csrfToken(c echo.Context) string {
	if tok, ok := c.Get(csrfContextKey).(string); ok {
		return tok
	}
	if ck, err := c.Cookie(s.csrfCookieName()); err == nil && token.WellFormedSecret(ck.Value) {
		c.Set(csrfContextKey, ck.Value)
		return ck.Value
	}
	return s.renewCSRF(c)
}

// renewCSRF sets a new CSRF token.
func (s *Handlers) renewCSRF(c echo.Context) string {
	tok := token.Random(32)
	c.SetCookie(s.cookie(s.csrfCookieName(), tok))
	c.Set(csrfContextKey, tok)
	return tok
}

// checkCSRF refuses a form POST, with 403, unless its csrf_token field
// equals the CSRF cookie, and unless the browser says it comes from authd's
// own origin when it says anything (Origin "null" is what a same-origin POST
// sends under Referrer-Policy: no-referrer, so it is let through to the
// token check).
//
// The Origin and Sec-Fetch-Site checks are written here rather than taken
// from net/http's CrossOriginProtection: that one compares Origin with the
// request's Host (authd compares with the issuer, which a proxy may not
// pass as Host), and refuses Origin "null" without Sec-Fetch-Site, which
// same-origin posts under no-referrer send in browsers without Fetch
// Metadata. echo's CSRF middleware is not used either: the token is tied
// to the pages' own cookie and renewed at sign-in and sign-out.
func (s *Handlers) checkCSRF(c echo.Context, form url.Values) error {
	forbidden := &pageError{Status: http.StatusForbidden, Heading: "This form has expired",
		Message: "The form was not sent from this site, or it is too old. Go back, reload the page and try again."}
	r := c.Request()
	if o := r.Header.Get("Origin"); o != "" && o != "null" && o != s.web.origin {
		return forbidden
	}
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return forbidden
	}
	ck, err := c.Cookie(s.csrfCookieName())
	if err != nil || !token.WellFormedSecret(ck.Value) {
		return forbidden
	}
	sent := form.Get(csrfField)
	if subtle.ConstantTimeCompare([]byte(sent), []byte(ck.Value)) != 1 {
		return forbidden
	}
	return nil
}

// cookie is a cookie of the pages: host-only, whole site, HttpOnly,
// SameSite=Lax, and Secure with an https issuer (required by the __Host-
// prefix). It lasts as long as the browser session; the server-side record
// decides how long a sign-in really lasts.
func (s *Handlers) cookie(name, value string) *http.Cookie {
	return &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     "/",
		HttpOnly: true,
		Secure:   s.web.https,
		SameSite: http.SameSiteLaxMode,
	}
}
