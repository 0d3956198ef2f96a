package account

import (
	"context"
	"errors"

	"github.com/authd/authd/errs"
	"github.com/authd/authd/storage"
)

// ListSessions lists a user's live sessions, newest first.
func (s *Service) ListSessions(ctx context.Context, userID string) ([]storage.Session, error) {
	list, err := s.store.ListSessions(ctx, userID, s.now())
	if err != nil {
		return nil, errs.Storage(err)
	}
	return list, nil
}

// ErrNoSession answers the end of a session that is not the user's, does
// not exist or has ended: all alike.
var ErrNoSession = errs.New(errs.NotFound, "not_found", "no such session")

// EndSession ends one of the user's sessions; another user's session is
// "not found", exactly like one that does not exist.
func (s *Service) EndSession(ctx context.Context, userID, sid, reason string) error {
	sess, err := s.store.GetSession(ctx, sid)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && (sess.UserID != userID || !sess.EndedAt.IsZero())) {
		return ErrNoSession
	}
	if err != nil {
		return errs.Storage(err)
	}
	return s.sessions.End(ctx, sid, userID, sess.ClientID, reason)
}

// Logout ends the session of the caller's own token.
func (s *Service) Logout(ctx context.Context, userID, sid, clientID string) error {
	return s.sessions.End(ctx, sid, userID, clientID, "logout")
}

// SignOutEverywhere ends every session of the user, this one included.
func (s *Service) SignOutEverywhere(ctx context.Context, userID string) error {
	return s.sessions.EndAll(ctx, userID, "", "signed_out_everywhere")
}
