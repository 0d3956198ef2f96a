package server

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/authd/authd/errs"
	"github.com/authd/authd/token"
)

// bearerToken extracts the access token of a request (RFC 6750 §2.1, and
// §2.2 for a form body on POST). schemes are the accepted authorization
// schemes, "Bearer" first; the Django-era paths also accept "JWT".
func bearerToken(r *http.Request, form func(string) string, schemes ...string) (string, bool) {
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

// errNoToken is the RFC 6750 §3.1 answer to a request with no token at
// all: a bare challenge without an error code.
var errNoToken = errs.InvalidToken(errs.ReasonTokenMissing, "an access token is required")

// requireBearer verifies the request's bearer token and that allowed
// accepts it; handlers behind it read the claims with claimsOf.
func (s *Server) requireBearer(allowed func(token.Access) bool, schemes ...string) echo.MiddlewareFunc {
	return s.requireScope(scopeAccount, allowed, schemes...)
}

// requireScope is requireBearer for a surface whose tokens need scope: a
// token allowed refuses is answered insufficient_scope naming it.
func (s *Server) requireScope(scope string, allowed func(token.Access) bool, schemes ...string) echo.MiddlewareFunc {
	if len(schemes) == 0 {
		schemes = []string{"Bearer"}
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			tok, ok := bearerToken(c.Request(), nil, schemes...)
			if !ok {
				return errNoToken
			}
			ac, err := s.tokens.VerifyAccess(tok)
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

// scopeAccount is the scope the account API requires: a token issued to a
// client for other purposes (say, openid alone) cannot read or change the
// account.
const scopeAccount = "account"

const claimsKey = "authd.access_claims"

func claimsOf(c echo.Context) token.Access {
	ac, _ := c.Get(claimsKey).(token.Access)
	return ac
}
