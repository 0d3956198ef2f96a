package httpx

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/authd/authd/errs"
	"github.com/authd/authd/token"
)

// BearerToken extracts the access token of a request (RFC 6750 §2.1, and
// §2.2 for a form body on POST). schemes are the accepted authorization
// schemes, "Bearer" first; the Django-era paths also accept "JWT".
func BearerToken(r *http.Request, form func(string) string, schemes ...string) (string, bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if !ok {
			return "", false
		}
		for _, s := range schemes {
			if strings.EqualFold(scheme, s) {
				tok = strings.TrimSpace(tok)
				return tok, tok != ""
			}
		}
		return "", false
	}
	if form != nil {
		if tok := form("access_token"); tok != "" {
			return tok, true
		}
	}
	return "", false
}

// ErrNoToken is the RFC 6750 §3.1 answer to a request with no token at
// all: a bare challenge without an error code.
var ErrNoToken = errs.InvalidToken(errs.ReasonTokenMissing, "an access token is required")

// RequireScope verifies the request's bearer token with verify and that
// allowed accepts it (nil: any token); a token allowed refuses is answered
// insufficient_scope naming scope. Handlers behind it read the claims with
// Claims.
func RequireScope(verify func(string) (token.Access, error), scope string, allowed func(token.Access) bool, schemes ...string) echo.MiddlewareFunc {
	if len(schemes) == 0 {
		schemes = []string{"Bearer"}
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			tok, ok := BearerToken(c.Request(), nil, schemes...)
			if !ok {
				return ErrNoToken
			}
			ac, err := verify(tok)
			if err != nil {
				return err
			}
			if allowed != nil && !allowed(ac) {
				return errs.InsufficientScope(scope, "this endpoint needs an access token with the "+scope+" scope")
			}
			c.Set(claimsKey, ac)
			return next(c)
		}
	}
}

const claimsKey = "authd.access_claims"

// Claims are the claims of the request's verified access token.
func Claims(c echo.Context) token.Access {
	ac, _ := c.Get(claimsKey).(token.Access)
	return ac
}

// NoStoreJSON writes v as JSON that no cache may keep.
func NoStoreJSON(c echo.Context, status int, v any) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(status, v)
}

// Route registers path for methods and for OPTIONS (the CORS preflight),
// all behind mw.
func Route(e *echo.Echo, path string, h echo.HandlerFunc, methods []string, mw ...echo.MiddlewareFunc) {
	for _, m := range methods {
		e.Add(m, path, h, mw...)
	}
	e.OPTIONS(path, func(c echo.Context) error { return c.NoContent(http.StatusNoContent) }, mw...)
}
