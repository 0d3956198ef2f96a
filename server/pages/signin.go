package pages

import (
	"cmp"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/authd/authd/errs"
	"github.com/authd/authd/web"
)

// notices are the messages a page shows after a redirect, by the key in
// its notice query parameter. Only these texts can appear: the parameter
// cannot put words of its own on the page.
var notices = map[string]string{
	"signed_out":            "You are signed out.",
	"signed_out_everywhere": "You are signed out everywhere.",
	"password_reset":        "Your password is changed and every session is signed out. Sign in with the new password.",
	"welcome":               "Your account is ready.",
	"profile_saved":         "Your profile is saved.",
	"password_changed":      "Your password is changed. Every other session is signed out.",
	"session_ended":         "That session is signed out.",
	"verification_sent":     "A new confirmation link is on its way to your email address.",
}

// handleSigninPage shows the sign-in form, for a pending authorization
// request (authz) or a page of ours to return to (next).
func (s *Handlers) handleSigninPage(c echo.Context) error {
	authz, next := c.QueryParam("authz"), web.SafeNext(c.QueryParam("next"))
	d := pageData{Notice: notices[c.QueryParam("notice")], Form: map[string]string{}}
	ws, signedIn, err := s.currentSession(c)
	if err != nil {
		return err
	}
	if authz != "" {
		req, err := s.oauth.ParseAuthz(authz)
		if err != nil {
			// A well-formed request never reaches this page with a problem:
			// the authorization endpoint answered it already.
			return badRequestPage("The sign-in request is invalid. Go back to the application and try again.")
		}
		d.ClientName = req.Client.DisplayName()
		d.Form["username"] = req.LoginHint
	} else if signedIn {
		return c.Redirect(http.StatusSeeOther, cmp.Or(next, "/account"))
	}
	if d.Form["username"] == "" && signedIn {
		d.Form["username"] = ws.user.Username // prompt=login: the same person, most likely
	}
	d.carry(authz, next)
	return s.render(c, http.StatusOK, "signin", d)
}

// handleSignin checks the sign-in form with the same service as the
// password grant (same throttling, same answer for an unknown user and a
// wrong password), starts a sign-in session, renews the device cookie and
// continues where the person was going.
func (s *Handlers) handleSignin(c echo.Context) error {
	form, err := s.postedForm(c)
	if err != nil {
		return err
	}
	authz, next := form.Get("authz"), web.SafeNext(form.Get("next"))
	username, pw := form.Get("username"), form.Get("password")
	d := pageData{Form: map[string]string{"username": username}}
	d.carry(authz, next)
	if authz != "" {
		if req, err := s.oauth.ParseAuthz(authz); err == nil {
			d.ClientName = req.Client.DisplayName()
		}
	}
	if username == "" || pw == "" {
		d.Error = "Enter your username and password."
		return s.render(c, http.StatusBadRequest, "signin", d)
	}
	// The browser's device cookie makes it a known source once it has
	// signed in to the account (see device.go).
	device := s.deviceSecret(c)
	u, err := s.accounts.AuthenticateDevice(c.Request().Context(), username, pw, c.RealIP(), device)
	if err != nil {
		status, msg, ok := s.signinProblem(c, err)
		if !ok {
			return err
		}
		d.Error = msg
		return s.render(c, status, "signin", d)
	}
	ws, err := s.signIn(c, u)
	if err != nil {
		return err
	}
	s.setDeviceCookie(c, device)
	return s.afterSignIn(c, ws, authz, next, "")
}

// afterSignIn sends a person who just signed in (or registered) where they
// were going: back to the client with a code, to a page of ours, or to the
// account page.
func (s *Handlers) afterSignIn(c echo.Context, ws webSession, authz, next, notice string) error {
	if authz != "" {
		return s.continueAuthz(c, authz, ws)
	}
	if next == "" {
		next = "/account"
		if notice != "" {
			next += "?notice=" + notice
		}
	}
	return c.Redirect(http.StatusSeeOther, next)
}

// signinProblem is what the sign-in page says about a failed login; ok is
// false for an error that is not about the login (a storage failure).
func (s *Handlers) signinProblem(c echo.Context, err error) (status int, msg string, ok bool) {
	e, isErr := errs.As(err)
	if !isErr {
		return 0, "", false
	}
	switch {
	case e.Reason == errs.ReasonLoginThrottled:
		s.setRetryAfter(c, e.RetrySeconds())
		return http.StatusTooManyRequests, fmt.Sprintf("Too many failed sign-ins. Try again in %s.", humanWait(e.RetrySeconds())), true
	case e.Reason == errs.ReasonBusy:
		s.setRetryAfter(c, e.RetrySeconds())
		return http.StatusServiceUnavailable, "The server is busy. Try again in a moment.", true
	case e.Reason == errs.ReasonBadCredentials:
		return http.StatusBadRequest, "The username or password is wrong.", true
	}
	return 0, "", false
}

// handleSignout signs the browser out.
func (s *Handlers) handleSignout(c echo.Context) error {
	if _, err := s.postedForm(c); err != nil {
		return err
	}
	if err := s.signOut(c, "signed_out"); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/signin?notice=signed_out")
}

// humanWait says a Retry-After in words.
func humanWait(secs int) string {
	switch {
	case secs <= 1:
		return "a second"
	case secs < 60:
		return fmt.Sprintf("%d seconds", secs)
	case secs < 120:
		return "a minute"
	default:
		return fmt.Sprintf("%d minutes", (secs+59)/60)
	}
}
