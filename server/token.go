package server

import (
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/authd/authd/errs"
	"github.com/authd/authd/oauth"
	"github.com/authd/authd/server/httpx"
)

// The OAuth 2.0 / OIDC endpoints: each reads the request, calls the oauth
// service and writes its answer.

// clientCredentials collects what a request presented to authenticate its
// client.
func clientCredentials(r *http.Request, form url.Values) oauth.Credentials {
	user, pass, hasBasic := r.BasicAuth()
	return oauth.Credentials{
		BasicID: user, BasicSecret: pass, HasBasic: hasBasic,
		OtherAuthorization: r.Header.Get("Authorization") != "" && !hasBasic,
		Form:               form,
	}
}

// authClient reads the form of a token, revocation or introspection request
// and authenticates its client.
func (s *Server) authClient(c echo.Context) (*oauth.Client, url.Values, error) {
	form, err := readForm(c)
	if err != nil {
		return nil, nil, err
	}
	cl, err := s.oauth.Clients().Authenticate(clientCredentials(c.Request(), form))
	return cl, form, err
}

// handleToken is the token endpoint (RFC 6749 §3.2).
func (s *Server) handleToken(c echo.Context) error {
	cl, form, err := s.authClient(c)
	if err != nil {
		return err
	}
	resp, err := s.oauth.Token(c.Request().Context(), oauth.TokenRequest{
		Client: cl, Form: form, UserAgent: c.Request().UserAgent(), Address: c.RealIP(),
	})
	if err != nil {
		return err
	}
	// RFC 6749 §5.1: no-store, no-cache.
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	return c.JSON(http.StatusOK, resp)
}

// handleRevoke is token revocation (RFC 7009): 200 for any token, 503 when
// storage failed.
func (s *Server) handleRevoke(c echo.Context) error {
	cl, form, err := s.authClient(c)
	if err != nil {
		return err
	}
	if err := s.oauth.Revoke(c.Request().Context(), cl, form.Get("token"), form.Get("token_type_hint")); err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.NoContent(http.StatusOK)
}

// handleIntrospect is token introspection (RFC 7662).
func (s *Server) handleIntrospect(c echo.Context) error {
	cl, form, err := s.authClient(c)
	if err != nil {
		return err
	}
	res, err := s.oauth.Introspect(c.Request().Context(), cl, form.Get("token"))
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, res)
}

// handleUserinfo serves OIDC UserInfo for a bearer access token.
func (s *Server) handleUserinfo(c echo.Context) error {
	r := c.Request()
	var formGet func(string) string
	if r.Method == http.MethodPost && r.Header.Get("Authorization") == "" {
		// RFC 6750 §2.2: the token may come in a form body.
		form, err := readForm(c)
		if err != nil {
			return &errs.Error{Kind: errs.Invalid, Code: "invalid_request", Reason: errs.ReasonTokenInvalid,
				Description: "send the access token in the Authorization header or a form body"}
		}
		formGet = form.Get
	}
	tok, ok := httpx.BearerToken(r, formGet, "Bearer")
	if !ok {
		return httpx.ErrNoToken
	}
	ac, err := s.tokens.VerifyAccess(tok)
	if err != nil {
		return err
	}
	info, err := s.oauth.Userinfo(r.Context(), ac)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, info)
}
