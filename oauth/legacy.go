package oauth

import (
	"context"
	"errors"
	"time"

	"github.com/authd/authd/errs"
	"github.com/authd/authd/storage"
	"github.com/authd/authd/token"
)

// The tokens of the Django-era paths (django-rest-auth with
// djangorestframework-jwt): the access token of a session of the legacy
// client is the "token" of those paths, and carries that library's payload
// (user_id, username, email, orig_iat) beside the standard claims.

// LegacyClientID is the client of the Django-era tokens.
func (s *Service) LegacyClientID() string { return s.legacy.ID }

// LegacyLogin signs a user in at the Django-era paths and returns the
// token.
func (s *Service) LegacyLogin(ctx context.Context, u storage.User, userAgent, addr string) (string, error) {
	resp, _, err := s.startSession(ctx, "rest_auth_login", s.legacy, u, []string{"profile", "email"}, time.Time{}, "", userAgent, addr, true)
	if err != nil {
		return "", err
	}
	return resp.AccessToken, nil
}

// ErrLegacyRefreshExpired answers a token past the refresh limit after its
// login.
var ErrLegacyRefreshExpired = &errs.Error{Kind: errs.Invalid, Code: "invalid_grant", Description: "refresh has expired", Reason: errs.ReasonTokenExpired}

// LegacyCheck verifies a token of the Django-era paths for refresh and
// verify: signed by us, unexpired, issued at these paths, its session alive
// and its user enabled. Failures are errs.InvalidToken with the reason.
func (s *Service) LegacyCheck(ctx context.Context, raw string) (token.Access, storage.Session, storage.User, error) {
	ac, err := s.tokens.VerifyAccess(raw)
	if err != nil {
		return ac, storage.Session{}, storage.User{}, err
	}
	if ac.ClientID != s.legacy.ID || !ac.ForUser() {
		return ac, storage.Session{}, storage.User{}, errs.InvalidToken(errs.ReasonTokenInvalid, "the token was not issued at these paths")
	}
	sess, err := s.store.GetSession(ctx, ac.SessionID)
	switch {
	case errors.Is(err, storage.ErrNotFound) || (err == nil && !sess.EndedAt.IsZero()):
		return ac, storage.Session{}, storage.User{}, errs.InvalidToken(errs.ReasonTokenRevoked, "the token was revoked")
	case err != nil:
		return ac, storage.Session{}, storage.User{}, errs.Storage(err)
	}
	u, err := s.accounts.CurrentUser(ctx, ac)
	if err != nil {
		return ac, storage.Session{}, storage.User{}, err
	}
	return ac, sess, u, nil
}

// LegacyRefresh is djangorestframework-jwt's refresh_jwt_token: a valid
// token in, a new one out, while the session lives and until the refresh
// limit after the original login.
func (s *Service) LegacyRefresh(ctx context.Context, raw string) (string, error) {
	ac, sess, u, err := s.LegacyCheck(ctx, raw)
	if err != nil {
		return "", err
	}
	now := s.now()
	end := earliest(sess.AuthTime.Add(s.cfg.LegacyRefreshExpiration), sess.ExpiresAt)
	if !now.Before(end) {
		return "", ErrLegacyRefreshExpired
	}
	resp, err := s.tokens.Issue(token.Request{Grant: "rest_auth_refresh", ClientID: s.legacy.ID, User: &u, Session: &sess,
		Scope: token.ParseScope(ac.Scope), Now: now, NotAfter: end, Legacy: true})
	if err != nil {
		return "", err
	}
	return resp.AccessToken, nil
}
