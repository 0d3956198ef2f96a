package server

import (
	"github.com/labstack/echo/v4"

	"github.com/authd/authd/server/httpx"
	"github.com/authd/authd/token"
)

// requireBearer verifies the request's bearer token and that allowed
// accepts it; handlers behind it read the claims with claimsOf.
func (s *Server) requireBearer(allowed func(token.Access) bool, schemes ...string) echo.MiddlewareFunc {
	return httpx.RequireScope(s.tokens.VerifyAccess, scopeAccount, allowed, schemes...)
}

// scopeAccount is the scope the account API requires: a token issued to a
// client for other purposes (say, openid alone) cannot read or change the
// account.
const scopeAccount = "account"
