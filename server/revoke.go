package server

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/authd/authd/keys"
	"github.com/authd/authd/storage"
)

// handleRevoke is token revocation (RFC 7009). A refresh token ends its
// whole family (the session); an access token ends its session and has its
// jti listed as revoked until it expires. Unknown, invalid and other
// clients' tokens get 200 and change nothing (§2.2); a storage failure gets
// 503, never a 200 that did not revoke (§2.2.1).
func (s *Server) handleRevoke(c echo.Context) error {
	form, err := readForm(c)
	if err != nil {
		return err
	}
	cl, err := s.clients.authenticate(c.Request(), form)
	if err != nil {
		return err
	}
	tok := form.Get("token")
	if tok == "" {
		return oauthErr("invalid_request", "token is required")
	}
	ctx := c.Request().Context()
	// token_type_hint is only a hint (§2.1): both kinds are tried, the
	// hinted one first. An access token is a JWS (it has dots); a refresh
	// token never does, so the shape decides as well as the hint.
	tryRefresh := func() (bool, error) { return s.revokeRefresh(ctx, cl, tok) }
	tryAccess := func() (bool, error) { return s.revokeAccess(ctx, cl, tok) }
	order := []func() (bool, error){tryRefresh, tryAccess}
	if form.Get("token_type_hint") == "access_token" || strings.Count(tok, ".") == 2 {
		order[0], order[1] = order[1], order[0]
	}
	for _, try := range order {
		done, err := try()
		if err != nil {
			return errStore(err)
		}
		if done {
			break
		}
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.NoContent(http.StatusOK)
}

// revokeRefresh ends the family of a refresh token of client cl. It
// reports whether tok was a genuine refresh token of a live family (of any
// client). A genuine token of an earlier generation ends its family too,
// as it would at the token endpoint; a forged one ends nothing.
func (s *Server) revokeRefresh(ctx context.Context, cl *client, tok string) (bool, error) {
	if len(tok) > 512 {
		return false, nil
	}
	_, sess, _, standing, err := s.lookupRefresh(ctx, tok)
	if err != nil || standing == refreshInvalid {
		return false, err
	}
	if sess.ClientID != cl.id {
		return true, nil // another client's token: nothing revoked (§2.1)
	}
	if err := s.endSession(ctx, sess.ID, sess.UserID, cl.id, "revoked"); err != nil {
		return false, err
	}
	return true, nil
}

// revokeAccess revokes an access token of client cl. It reports whether tok
// was an access token signed by authd.
func (s *Server) revokeAccess(ctx context.Context, cl *client, tok string) (bool, error) {
	var ac accessClaims
	now := s.now()
	if err := s.keys.Verify(tok, keys.Expected{Type: typAccess, Issuer: s.cfg.Issuer, Now: now}, &ac); err != nil {
		return false, nil // expired or not ours: nothing left to revoke
	}
	if ac.ClientID != cl.id {
		return true, nil
	}
	exp := ac.Expiry.Time()
	if err := s.store.RevokeJTI(ctx, ac.ID, exp); err != nil {
		return false, err
	}
	s.revoked.revokeJTI(ac.ID, exp)
	if ac.SessionID != "" {
		if err := s.endSession(ctx, ac.SessionID, ac.Subject, cl.id, "revoked"); err != nil {
			return false, err
		}
	}
	return true, nil
}

// endSession ends a session and its refresh family, in the database and at
// once in this process's view of dead sessions.
func (s *Server) endSession(ctx context.Context, sid, userID, clientID, reason string) error {
	now := s.now()
	if err := s.store.EndSession(ctx, sid, now); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	s.revoked.endSessions(now, sid)
	s.audit(ctx, "session.revoked", "user_id", userID, "client_id", clientID, "session_id", sid, "reason", reason)
	return nil
}

// endUserSessions records sessions ended by a bulk operation (password
// change, disable) in the view and the audit log.
func (s *Server) endedSessions(ctx context.Context, userID, reason string, ids []string, at time.Time) {
	s.revoked.endSessions(at, ids...)
	for _, id := range ids {
		s.audit(ctx, "session.revoked", "user_id", userID, "session_id", id, "reason", reason)
	}
}
