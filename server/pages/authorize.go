package pages

import (
	"net/http"
	"net/url"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/authd/authd/errs"
	"github.com/authd/authd/oauth"
)

// The authorization endpoint's browser side. The authorization request
// travels through the sign-in pages as its own query string (the "authz"
// field): after the person signs in (or registers), the request is
// validated again, exactly as at the authorization endpoint, and answered
// at once. Nothing is stored until a code is issued, and a forged authz is
// no more than a forged authorization URL, which anyone can make anyway.

// handleAuthorize is the authorization endpoint (RFC 6749 §3.1, OIDC Core
// §3.1.2). A POST (OIDC Core §3.1.2.1 requires it) is turned into the same
// GET, so the browser sends its SameSite=Lax cookies with it even when
// another site posted the form.
func (s *Handlers) handleAuthorize(c echo.Context) error {
	if c.Request().Method == http.MethodPost {
		form, err := readPageForm(c)
		if err != nil {
			return err
		}
		return c.Redirect(http.StatusSeeOther, "/oauth2/authorize?"+form.Encode())
	}
	raw := c.Request().URL.RawQuery
	req, err := s.oauth.ParseAuthz(raw)
	if err != nil {
		return s.authzFail(c, &req, err)
	}
	ws, ok, err := s.currentSession(c)
	if err != nil {
		return err
	}
	// OIDC Core §3.1.2.1: max_age — "If the elapsed time is greater than
	// this value, the OP MUST attempt to actively re-authenticate the
	// End-User."
	tooOld := ok && req.MaxAge >= 0 && s.now().Sub(ws.sess.AuthTime) > time.Duration(req.MaxAge)*time.Second
	if !ok || req.PromptLogin || tooOld {
		if req.PromptNone {
			// OIDC Core §3.1.2.6: prompt=none and no usable sign-in.
			return s.authzFail(c, &req, errs.OAuth("login_required", "the user is not signed in"))
		}
		return c.Redirect(http.StatusFound, "/signin?"+url.Values{"authz": {raw}}.Encode())
	}
	return s.issueCode(c, &req, ws)
}

// continueAuthz answers the authorization request carried through the
// sign-in pages, for the person who just signed in there.
func (s *Handlers) continueAuthz(c echo.Context, raw string, ws webSession) error {
	req, err := s.oauth.ParseAuthz(raw)
	if err != nil {
		return s.authzFail(c, &req, err)
	}
	return s.issueCode(c, &req, ws)
}

func (s *Handlers) issueCode(c echo.Context, req *oauth.AuthzRequest, ws webSession) error {
	to, err := s.oauth.IssueCode(c.Request().Context(), req, ws.sess)
	if err != nil {
		return err
	}
	return c.Redirect(authzStatus(c), to)
}

// authzFail answers an invalid authorization request: an error page before
// the redirect URI is trusted (RFC 6749 §4.1.2.1: the server "MUST NOT
// automatically redirect the user-agent to the invalid redirection URI"),
// a redirect to it after.
func (s *Handlers) authzFail(c echo.Context, req *oauth.AuthzRequest, err error) error {
	e, ok := errs.As(err)
	if !ok || e.Kind == errs.Unavailable {
		return err
	}
	if !req.Redirectable() {
		return badRequestPage("%s", e.Description)
	}
	return c.Redirect(authzStatus(c), s.oauth.ErrorURL(c.Request().Context(), req, err))
}

// authzStatus is the status of an authorization response: 302 answers the
// GET of the authorization endpoint (RFC 6749 §4.1.2), 303 a form POST.
func authzStatus(c echo.Context) int {
	if c.Request().Method == http.MethodPost {
		return http.StatusSeeOther
	}
	return http.StatusFound
}
