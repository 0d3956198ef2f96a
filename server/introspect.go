package server

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/authd/authd/keys"
	"github.com/authd/authd/storage"
)

// introspection is an RFC 7662 §2.2 response. An inactive token gets
// {"active": false} and nothing else.
type introspection struct {
	Active    bool          `json:"active"`
	Scope     string        `json:"scope,omitempty"`
	ClientID  string        `json:"client_id,omitempty"`
	Username  string        `json:"username,omitempty"`
	TokenType string        `json:"token_type,omitempty"`
	Exp       int64         `json:"exp,omitempty"`
	Iat       int64         `json:"iat,omitempty"`
	Subject   string        `json:"sub,omitempty"`
	Audience  keys.Audience `json:"aud,omitempty"`
	Issuer    string        `json:"iss,omitempty"`
	JTI       string        `json:"jti,omitempty"`
	SessionID string        `json:"sid,omitempty"`
}

// handleIntrospect is token introspection (RFC 7662) for confidential
// clients. Access tokens of any client are described (resource servers
// introspect tokens issued to others); a refresh token only to its own
// client, since it is that client's secret.
func (s *Server) handleIntrospect(c echo.Context) error {
	form, err := readForm(c)
	if err != nil {
		return err
	}
	cl, err := s.clients.authenticate(c.Request(), form)
	if err != nil {
		return err
	}
	if cl.public {
		return invalidClient("introspection needs a confidential client")
	}
	tok := form.Get("token")
	if tok == "" {
		return oauthErr("invalid_request", "token is required")
	}
	ctx := c.Request().Context()
	var res introspection
	if strings.Count(tok, ".") == 2 {
		res, err = s.introspectAccess(ctx, tok)
	} else {
		res, err = s.introspectRefresh(ctx, cl, tok)
	}
	if err != nil {
		return errStore(err)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, res)
}

func (s *Server) introspectAccess(ctx context.Context, tok string) (introspection, error) {
	ac, err := s.verifyAccess(tok)
	if err != nil {
		return introspection{}, nil
	}
	res := introspection{
		Active: true, Scope: ac.Scope, ClientID: ac.ClientID, TokenType: "Bearer",
		Exp: int64(ac.Expiry), Iat: int64(ac.IssuedAt), Subject: ac.Subject,
		Audience: ac.Audience, Issuer: ac.Issuer, JTI: ac.ID, SessionID: ac.SessionID,
	}
	if ac.SessionID == "" {
		return res, nil // a client_credentials token: no user
	}
	u, err := s.store.GetUser(ctx, ac.Subject)
	if errors.Is(err, storage.ErrNotFound) {
		return introspection{}, nil
	}
	if err != nil {
		return introspection{}, err
	}
	if u.Disabled {
		return introspection{}, nil
	}
	res.Username = u.Username
	return res, nil
}

func (s *Server) introspectRefresh(ctx context.Context, cl *client, tok string) (introspection, error) {
	if len(tok) > 512 {
		return introspection{}, nil
	}
	now := s.now()
	_, sess, u, standing, err := s.lookupRefresh(ctx, tok)
	if err != nil {
		return introspection{}, err
	}
	// Only the current token of a live family is active.
	if standing != refreshCurrent || sess.ClientID != cl.id || !now.Before(sess.Refresh.ExpiresAt) ||
		!sess.EndedAt.IsZero() || !now.Before(sess.ExpiresAt) || u.Disabled {
		return introspection{}, nil
	}
	// The current token was issued at the family's last use: its creation
	// or its last rotation.
	return introspection{
		Active: true, Scope: sess.Scope, ClientID: sess.ClientID, Username: u.Username,
		TokenType: "refresh_token", Exp: sess.Refresh.ExpiresAt.Unix(), Iat: sess.LastUsedAt.Unix(),
		Subject: sess.UserID, Issuer: s.cfg.Issuer, SessionID: sess.ID,
	}, nil
}
