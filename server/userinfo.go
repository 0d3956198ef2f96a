package server

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/authd/authd/storage"
)

// userinfoResponse is the UserInfo response (OIDC Core §5.3.2).
type userinfoResponse struct {
	Subject string `json:"sub"`
	userClaims
}

// handleUserinfo serves OIDC UserInfo for a bearer access token, with the
// claims its scope releases.
func (s *Server) handleUserinfo(c echo.Context) error {
	r := c.Request()
	var formGet func(string) string
	if r.Method == http.MethodPost && r.Header.Get("Authorization") == "" {
		// RFC 6750 §2.2: the token may come in a form body.
		form, err := readForm(c)
		if err != nil {
			return invalidRequestBearer("send the access token in the Authorization header or a form body")
		}
		formGet = url.Values(form).Get
	}
	tok, ok := bearerToken(r, formGet, "Bearer")
	if !ok {
		return noToken()
	}
	ac, err := s.verifyAccess(tok)
	if err != nil {
		return err
	}
	scope := scopeList(ac.Scope)
	if ac.SessionID == "" || !hasScope(scope, "openid") {
		// OIDC Core §5.3: UserInfo needs a token issued for a user with the
		// openid scope (RFC 6750 §3.1 insufficient_scope).
		return &OAuthError{Status: http.StatusForbidden, Code: "insufficient_scope", Description: "the access token lacks the openid scope",
			Challenge: `Bearer realm="authd", error="insufficient_scope", scope="openid"`}
	}
	u, err := s.store.GetUser(r.Context(), ac.Subject)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return invalidToken("the access token was revoked")
	case err != nil:
		return errStore(err)
	}
	if u.Disabled {
		return invalidToken("the access token was revoked")
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, userinfoResponse{Subject: u.ID, userClaims: claimsForScope(u, scope)})
}

func invalidRequestBearer(desc string) *OAuthError {
	return &OAuthError{Status: http.StatusBadRequest, Code: "invalid_request", Description: desc,
		Challenge: `Bearer realm="authd", error="invalid_request"`}
}
