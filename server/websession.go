package server

import (
	"errors"
	"github.com/authd/authd/config"
	"net/http"
	"net/url"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/authd/authd/storage"
)

// The sign-in session of the hosted pages: who is signed in in this
// browser. It is a storage.Session of the reserved client browserClientID,
// so everything that ends a user's sessions ends it too (password change
// and reset, users set-password and disable, "sign out everywhere", the
// account API's DELETE /account/sessions/{id}), and it is listed with the
// user's other sessions. It has no refresh tokens and issues no tokens of
// its own; the code exchange starts a separate session for the client.
//
// The cookie holds a random 256-bit secret; the session id is its SHA-256,
// so the database, the logs and the session list never hold the secret,
// and a session id seen in the list cannot be turned into a cookie.

const (
	// browserClientID is the client id of sign-in sessions; config
	// validation refuses a configured client with this id.
	browserClientID = config.ReservedClientID
	// webSessionTTL is how long a sign-in lasts at most. Signing in again
	// starts a new one.
	webSessionTTL = 12 * time.Hour
	// webSessionKey caches the request's session in the echo context.
	webSessionKey = "authd.web_session"
)

// webSession is a live sign-in and its user.
type webSession struct {
	sess storage.Session
	user storage.User
}

func (s *Server) sessionCookieName() string {
	if s.web.https {
		return "__Host-authd_session"
	}
	return "authd_session"
}

// cachedSession is the request's session as currentSession last found it,
// without touching the database.
func (s *Server) cachedSession(c echo.Context) (webSession, bool) {
	ws, ok := c.Get(webSessionKey).(*webSession)
	if !ok || ws == nil {
		return webSession{}, false
	}
	return *ws, true
}

// currentSession returns the live sign-in of the request. A cookie of an
// ended or expired session, or of a user since disabled, is no sign-in; an
// error is a storage failure.
func (s *Server) currentSession(c echo.Context) (webSession, bool, error) {
	if v := c.Get(webSessionKey); v != nil {
		ws, ok := v.(*webSession)
		if ok && ws != nil {
			return *ws, true, nil
		}
		return webSession{}, false, nil
	}
	ws, ok, err := s.lookupSession(c)
	if err != nil {
		return webSession{}, false, err
	}
	if ok {
		c.Set(webSessionKey, &ws)
	} else {
		c.Set(webSessionKey, (*webSession)(nil))
	}
	return ws, ok, nil
}

func (s *Server) lookupSession(c echo.Context) (webSession, bool, error) {
	ck, err := c.Cookie(s.sessionCookieName())
	if err != nil || !wellFormedSecret(ck.Value) {
		return webSession{}, false, nil
	}
	ctx := c.Request().Context()
	sess, err := s.store.GetSession(ctx, hashToken(ck.Value))
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return webSession{}, false, nil
	case err != nil:
		return webSession{}, false, err
	}
	now := s.now()
	if sess.ClientID != browserClientID || !sess.EndedAt.IsZero() || !now.Before(sess.ExpiresAt) {
		return webSession{}, false, nil
	}
	u, err := s.store.GetUser(ctx, sess.UserID)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return webSession{}, false, nil
	case err != nil:
		return webSession{}, false, err
	}
	if u.Disabled {
		return webSession{}, false, nil
	}
	return webSession{sess: sess, user: u}, true, nil
}

// signIn starts a sign-in session for u, who just proved who they are.
// The session id is new at every sign-in (the one the request had, if any,
// ends: no session fixation), and so is the CSRF token.
func (s *Server) signIn(c echo.Context, u storage.User) (webSession, error) {
	ctx := c.Request().Context()
	if err := s.endCurrentSession(c, "signed_in_again"); err != nil {
		return webSession{}, err
	}
	now := s.now()
	secret := randomToken(32)
	sess := storage.Session{
		ID:         hashToken(secret),
		UserID:     u.ID,
		ClientID:   browserClientID,
		AuthTime:   now,
		CreatedAt:  now,
		LastUsedAt: now,
		ExpiresAt:  now.Add(webSessionTTL),
		UserAgent:  truncate(c.Request().UserAgent(), 256),
		Address:    c.RealIP(),
	}
	if err := s.store.CreateSession(ctx, sess); err != nil {
		return webSession{}, errStore(err)
	}
	if err := s.confirmSession(ctx, u, sess.ID); err != nil {
		return webSession{}, err
	}
	c.SetCookie(s.cookie(s.sessionCookieName(), secret))
	s.renewCSRF(c)
	ws := webSession{sess: sess, user: u}
	c.Set(webSessionKey, &ws)
	s.audit(ctx, "login.succeeded", "user_id", u.ID, "client_id", browserClientID, "session_id", sess.ID, "address", c.RealIP())
	return ws, nil
}

// signOut ends the request's sign-in session, if it has one, and clears
// the cookie.
func (s *Server) signOut(c echo.Context, reason string) error {
	if err := s.endCurrentSession(c, reason); err != nil {
		return err
	}
	s.clearSessionCookie(c)
	return nil
}

// endCurrentSession ends the request's sign-in session in storage, if it
// has one.
func (s *Server) endCurrentSession(c echo.Context, reason string) error {
	ws, ok, err := s.currentSession(c)
	if err != nil {
		return errStore(err)
	}
	if !ok {
		return nil
	}
	if err := s.endSession(c.Request().Context(), ws.sess.ID, ws.user.ID, browserClientID, reason); err != nil {
		return errStore(err)
	}
	c.Set(webSessionKey, (*webSession)(nil))
	return nil
}

// clearSessionCookie deletes the session cookie, forgets the cached session
// and renews the CSRF token.
func (s *Server) clearSessionCookie(c echo.Context) {
	if _, err := c.Cookie(s.sessionCookieName()); err == nil {
		ck := s.cookie(s.sessionCookieName(), "")
		ck.MaxAge = -1
		ck.Expires = time.Unix(0, 0)
		c.SetCookie(ck)
	}
	c.Set(webSessionKey, (*webSession)(nil))
	s.renewCSRF(c)
}

// requireSignIn sends a person who is not signed in to the sign-in page,
// which brings them back to this page.
func (s *Server) requireSignIn(c echo.Context, back string) (webSession, bool, error) {
	ws, ok, err := s.currentSession(c)
	if err != nil {
		return webSession{}, false, errStore(err)
	}
	if !ok {
		return webSession{}, false, c.Redirect(http.StatusSeeOther, "/signin?"+url.Values{"next": {back}}.Encode())
	}
	return ws, true, nil
}
