package pages

import (
	"net/http"
	"net/url"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/authd/authd/account"
	"github.com/authd/authd/session"
	"github.com/authd/authd/storage"
)

// The browser's sign-in on the hosted pages (see session.SignIn): its
// cookie, and its cache in the request.

const (
	browserClientID = session.BrowserClientID
	// webSessionKey caches the request's session in the echo context.
	webSessionKey = "authd.web_session"
)

// webSession is a live sign-in and its user.
type webSession struct {
	sess storage.Session
	user storage.User
}

func (s *Handlers) sessionCookieName() string {
	if s.web.https {
		return "__Host-authd_session"
	}
	return "authd_session"
}

// cachedSession is the request's session as currentSession last found it,
// without touching the database.
func (s *Handlers) cachedSession(c echo.Context) (webSession, bool) {
	ws, ok := c.Get(webSessionKey).(*webSession)
	if !ok || ws == nil {
		return webSession{}, false
	}
	return *ws, true
}

// currentSession returns the live sign-in of the request. A cookie of an
// ended or expired session, or of a user since disabled, is no sign-in; an
// error is a storage failure.
func (s *Handlers) currentSession(c echo.Context) (webSession, bool, error) {
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

func (s *Handlers) lookupSession(c echo.Context) (webSession, bool, error) {
	ck, err := c.Cookie(s.sessionCookieName())
	if err != nil {
		return webSession{}, false, nil
	}
	sess, u, ok, err := s.sessions.Lookup(c.Request().Context(), ck.Value)
	return webSession{sess: sess, user: u}, ok, err
}

// signIn starts a sign-in session for u, who just proved who they are.
// The session id is new at every sign-in (the one the request had, if any,
// ends: no session fixation), and so is the CSRF token.
func (s *Handlers) signIn(c echo.Context, u storage.User) (webSession, error) {
	if err := s.endCurrentSession(c, "signed_in_again"); err != nil {
		return webSession{}, err
	}
	secret, sess, err := s.sessions.SignIn(c.Request().Context(), u, c.Request().UserAgent(), c.RealIP())
	if err == session.ErrCredentialsChanged {
		return webSession{}, account.BadCredentials()
	}
	if err != nil {
		return webSession{}, err
	}
	c.SetCookie(s.cookie(s.sessionCookieName(), secret))
	s.renewCSRF(c)
	ws := webSession{sess: sess, user: u}
	c.Set(webSessionKey, &ws)
	return ws, nil
}

// signOut ends the request's sign-in session, if it has one, and clears
// the cookie.
func (s *Handlers) signOut(c echo.Context, reason string) error {
	if err := s.endCurrentSession(c, reason); err != nil {
		return err
	}
	s.clearSessionCookie(c)
	return nil
}

// endCurrentSession ends the request's sign-in session in storage, if it
// has one.
func (s *Handlers) endCurrentSession(c echo.Context, reason string) error {
	ws, ok, err := s.currentSession(c)
	if err != nil {
		return err
	}
	if !ok {
		return nil
	}
	if err := s.sessions.End(c.Request().Context(), ws.sess.ID, ws.user.ID, browserClientID, reason); err != nil {
		return err
	}
	c.Set(webSessionKey, (*webSession)(nil))
	return nil
}

// clearSessionCookie deletes the session cookie, forgets the cached session
// and renews the CSRF token.
func (s *Handlers) clearSessionCookie(c echo.Context) {
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
func (s *Handlers) requireSignIn(c echo.Context, back string) (webSession, bool, error) {
	ws, ok, err := s.currentSession(c)
	if err != nil {
		return webSession{}, false, err
	}
	if !ok {
		return webSession{}, false, c.Redirect(http.StatusSeeOther, "/signin?"+url.Values{"next": {back}}.Encode())
	}
	return ws, true, nil
}
