// Package session is the one home of starting and ending sessions. A
// session is one sign-in of a user at a client (a browser sign-in on the
// hosted pages is a session of the reserved client too); its refresh tokens
// form one family. Ending one here updates the store, this process's view of
// revoked sessions and the audit log together; ending every session of a
// user also voids their unredeemed authorization codes (the store does it in
// the same transaction) and so every browser sign-in that could mint one.
package session

import (
	"context"
	"errors"
	"time"

	"github.com/authd/authd/audit"
	"github.com/authd/authd/errs"
	"github.com/authd/authd/storage"
	"github.com/authd/authd/token"
)

// Service starts and ends sessions.
type Service struct {
	store storage.Storage
	view  *token.View
	audit *audit.Log
	now   func() time.Time
}

// New returns the session service.
func New(store storage.Storage, view *token.View, log *audit.Log, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{store: store, view: view, audit: log, now: now}
}

// ErrCredentialsChanged means a login's user changed (password, status)
// while the login was being checked; the login must fail as with a wrong
// password.
var ErrCredentialsChanged = errors.New("session: the user's credentials changed during the login")

// Start stores a new session (with its refresh family, if any) for u
// and confirms that u's password and status are still those the login
// checked. A reset, password change or disable that committed while the
// login was hashing ended every session of the user, but not this one,
// which did not exist yet: it is ended now, and Start fails with
// ErrCredentialsChanged. Storage failures are errs.Storage.
func (s *Service) Start(ctx context.Context, sess storage.Session, u storage.User) error {
	if err := s.store.CreateSession(ctx, sess); err != nil {
		return errs.Storage(err)
	}
	cur, err := s.store.GetUser(ctx, u.ID)
	if err == nil && cur.PasswordHash == u.PasswordHash && !cur.Disabled {
		return nil
	}
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		err = errs.Storage(err)
	} else {
		err = ErrCredentialsChanged
	}
	if eerr := s.End(ctx, sess.ID, u.ID, "", "credentials_changed"); eerr != nil {
		return eerr
	}
	return err
}

// End ends a session and its refresh family, in the database and at once in
// this process's view. Ending an unknown or ended session is not an error.
func (s *Service) End(ctx context.Context, sid, userID, clientID, reason string) error {
	now := s.now()
	if err := s.store.EndSession(ctx, sid, now); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return errs.Storage(err)
	}
	s.view.EndSessions(now, sid)
	s.audit.Event(ctx, "session.revoked", "user_id", userID, "client_id", clientID, "session_id", sid, "reason", reason)
	return nil
}

// EndAll ends every live session of the user except keep ("" for none).
func (s *Service) EndAll(ctx context.Context, userID, keep, reason string) error {
	now := s.now()
	ids, err := s.store.EndUserSessions(ctx, userID, keep, now)
	if err != nil {
		return errs.Storage(err)
	}
	s.Ended(ctx, userID, reason, ids, now)
	return nil
}

// Ended records sessions that a store operation ended in its own
// transaction (a password change, a reset, a disable) in the view and the
// audit log.
func (s *Service) Ended(ctx context.Context, userID, reason string, ids []string, at time.Time) {
	s.view.EndSessions(at, ids...)
	for _, id := range ids {
		s.audit.Event(ctx, "session.revoked", "user_id", userID, "session_id", id, "reason", reason)
	}
}

// Live returns the session if it has neither ended nor expired at now.
func Live(sess storage.Session, now time.Time) bool {
	return sess.EndedAt.IsZero() && now.Before(sess.ExpiresAt)
}
