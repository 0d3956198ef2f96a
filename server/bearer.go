package server

import (
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/authd/authd/keys"
)

// splitComma splits a comma-separated header value, trimming spaces.
func splitComma(s string) []string {
	var out []string
	for p := range strings.SplitSeq(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

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

// invalidToken is the RFC 6750 §3.1 answer to a missing, malformed,
// expired or revoked access token.
func invalidToken(desc string) *OAuthError {
	return &OAuthError{
		Status:      http.StatusUnauthorized,
		Code:        "invalid_token",
		Description: desc,
		Challenge:   `Bearer realm="authd", error="invalid_token", error_description="` + desc + `"`,
	}
}

// noToken is the RFC 6750 §3.1 answer to a request with no token at all:
// a bare challenge without an error code.
func noToken() *OAuthError {
	return &OAuthError{
		Status:      http.StatusUnauthorized,
		Code:        "invalid_token",
		Description: "an access token is required",
		Challenge:   `Bearer realm="authd"`,
	}
}

// verifyAccess checks an access token as a resource server of authd's own
// would: signature with a published key, typ at+jwt, iss, exp; then that
// its session has not ended and its jti is not revoked (from the in-memory
// view, not the database).
func (s *Server) verifyAccess(tok string) (accessClaims, error) {
	var ac accessClaims
	err := s.keys.Verify(tok, keys.Expected{Type: typAccess, Issuer: s.cfg.Issuer, Now: s.now()}, &ac)
	if err != nil {
		if errors.Is(err, keys.ErrExpired) {
			return ac, invalidToken("the access token expired")
		}
		return ac, invalidToken("the access token is invalid")
	}
	if s.revoked.dead(ac.SessionID, ac.ID) {
		return ac, invalidToken("the access token was revoked")
	}
	return ac, nil
}

// requireBearer verifies the request's bearer token; handlers behind it
// read the claims with claimsOf.
func (s *Server) requireBearer(schemes ...string) echo.MiddlewareFunc {
	if len(schemes) == 0 {
		schemes = []string{"Bearer"}
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			tok, ok := bearerToken(c.Request(), nil, schemes...)
			if !ok {
				return noToken()
			}
			ac, err := s.verifyAccess(tok)
			if err != nil {
				return err
			}
			c.Set(claimsKey, ac)
			return next(c)
		}
	}
}

const claimsKey = "authd.access_claims"

func claimsOf(c echo.Context) accessClaims {
	ac, _ := c.Get(claimsKey).(accessClaims)
	return ac
}
