package session

import (
	"context"
	"errors"
	"time"

	"github.com/authd/authd/config"
	"github.com/authd/authd/errs"
	"github.com/authd/authd/storage"
	"github.com/authd/authd/token"
	"github.com/authd/authd/users"
)

// Browser sign-ins: who is signed in in a browser on the hosted pages. A
// sign-in is a session of the reserved client BrowserClientID, so
// everything that ends a user's sessions ends it too (password change and
// reset, users set-password and disable, "sign out everywhere", ending it
// from the session list), and it is listed with the user's other sessions.
// It has no refresh tokens and issues no tokens of its own; the code
// exchange starts a separate session for the client.
//
// The cookie holds a random 256-bit secret; the session id is its SHA-256,
// so the database, the logs and the session list never hold the secret,
// and a session id seen in the list cannot be turned into a cookie.

const (
	// BrowserClientID is the client id of browser sign-ins; configuration
	// validation refuses a configured client with this id.
	BrowserClientID = config.ReservedClientID
	// BrowserTTL is how long a sign-in lasts at most. Signing in again
	// starts a new one.
	BrowserTTL = 12 * time.Hour
)

// SignIn starts a browser sign-in for u, who just proved who they are, and
// returns the cookie secret with the session.
func (s *Service) SignIn(ctx context.Context, u storage.User, userAgent, addr string) (string, storage.Session, error) {
	now := s.now()
	secret := token.Random(32)
	sess := storage.Session{
		ID:         token.Hash(secret),
		UserID:     u.ID,
		ClientID:   BrowserClientID,
		AuthTime:   now,
		CreatedAt:  now,
		LastUsedAt: now,
		ExpiresAt:  now.Add(BrowserTTL),
		UserAgent:  users.Truncate(userAgent, 256),
		Address:    addr,
	}
	if err := s.Start(ctx, sess, u); err != nil {
		return "", storage.Session{}, err
	}
	s.audit.Event(ctx, "login.succeeded", "user_id", u.ID, "client_id", BrowserClientID, "session_id", sess.ID, "address", addr)
	return secret, sess, nil
}

// Lookup returns the live sign-in of a cookie secret and its user. A
// malformed secret, or one of an ended or expired sign-in or of a user
// since disabled, is no sign-in (ok false); an error is a storage failure.
func (s *Service) Lookup(ctx context.Context, secret string) (storage.Session, storage.User, bool, error) {
	if !token.WellFormedSecret(secret) {
		return storage.Session{}, storage.User{}, false, nil
	}
	sess, err := s.store.GetSession(ctx, token.Hash(secret))
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return storage.Session{}, storage.User{}, false, nil
	case err != nil:
		return storage.Session{}, storage.User{}, false, errs.Storage(err)
	}
	if sess.ClientID != BrowserClientID || !Live(sess, s.now()) {
		return storage.Session{}, storage.User{}, false, nil
	}
	u, err := s.store.GetUser(ctx, sess.UserID)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return storage.Session{}, storage.User{}, false, nil
	case err != nil:
		return storage.Session{}, storage.User{}, false, errs.Storage(err)
	}
	if u.Disabled {
		return storage.Session{}, storage.User{}, false, nil
	}
	return sess, u, true, nil
}
