package pages

import (
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/authd/authd/account"
	"github.com/authd/authd/errs"
	"github.com/authd/authd/users"
	"github.com/authd/authd/web"
)

// The account pages: register, forgot and reset password, verify email,
// and the account page. Every rule lives in the account service
// (account.go) that the JSON API and the Django-era paths call too; these
// handlers only turn forms into calls and answers into pages.

// formProblem turns an account-service error into what the form shows:
// field problems and a message, with the status to send. ok is false for
// an error that is not the person's to fix (a storage failure), which the
// caller returns as is.
func (s *Handlers) formProblem(c echo.Context, err error, d *pageData) (status int, ok bool) {
	e, isErr := errs.As(err)
	if !isErr || e.Reason == errs.ReasonStorage {
		return 0, false
	}
	s.setRetryAfter(c, e.RetrySeconds())
	d.Fields = e.Fields
	if len(e.Fields) == 0 || e.Kind == errs.TooMany {
		d.Error = sentence(e.Description)
	}
	return e.Kind.Status(), true
}

// handleRegisterPage shows the registration form.
func (s *Handlers) handleRegisterPage(c echo.Context) error {
	authz, next := c.QueryParam("authz"), web.SafeNext(c.QueryParam("next"))
	d := pageData{}
	if authz != "" {
		req, err := s.oauth.ParseAuthz(authz)
		if err != nil {
			return badRequestPage("The sign-in request is invalid. Go back to the application and try again.")
		}
		d.ClientName = req.Client.DisplayName()
	}
	d.carry(authz, next)
	return s.render(c, http.StatusOK, "register", d)
}

// handleRegisterForm creates the account (the service mails the
// verification link), signs the new user in and continues where they were
// going.
func (s *Handlers) handleRegisterForm(c echo.Context) error {
	form, err := s.postedForm(c)
	if err != nil {
		return err
	}
	authz, next := form.Get("authz"), web.SafeNext(form.Get("next"))
	d := pageData{Form: map[string]string{"username": form.Get("username"), "email": form.Get("email")}}
	d.carry(authz, next)
	if authz != "" {
		if req, err := s.oauth.ParseAuthz(authz); err == nil {
			d.ClientName = req.Client.DisplayName()
		}
	}
	if form.Get("password") != form.Get("password2") {
		d.Fields = map[string]string{"password2": "does not match the password"}
		return s.render(c, http.StatusBadRequest, "register", d)
	}
	u, err := s.accounts.Register(c.Request().Context(), account.Registration{
		Username: form.Get("username"),
		Password: form.Get("password"),
		Email:    form.Get("email"),
	}, c.RealIP())
	if err != nil {
		status, ok := s.formProblem(c, err, &d)
		if !ok {
			return err
		}
		return s.render(c, status, "register", d)
	}
	ws, err := s.signIn(c, u)
	if err != nil {
		return err
	}
	return s.afterSignIn(c, ws, authz, next, "welcome")
}

// handleForgotPage shows the form that asks for a reset link, or that one
// was sent.
func (s *Handlers) handleForgotPage(c echo.Context) error {
	return s.render(c, http.StatusOK, "forgot", pageData{Done: c.QueryParam("sent") == "1"})
}

// handleForgotForm asks for a reset link. The answer is the same whether
// or not the address belongs to an account.
func (s *Handlers) handleForgotForm(c echo.Context) error {
	form, err := s.postedForm(c)
	if err != nil {
		return err
	}
	d := pageData{Form: map[string]string{"email": form.Get("email")}}
	if err := s.accounts.RequestReset(c.Request().Context(), form.Get("email"), c.RealIP()); err != nil {
		status, ok := s.formProblem(c, err, &d)
		if !ok {
			return err
		}
		return s.render(c, status, "forgot", d)
	}
	return c.Redirect(http.StatusSeeOther, "/password/forgot?sent=1")
}

// handleResetPage is where the reset mail's link lands
// ({issuer}/password/reset?uid=U&token=T): a form for the new password
// that carries the token on. The token is not spent by viewing the page
// (mail scanners follow links).
func (s *Handlers) handleResetPage(c echo.Context) error {
	tok := c.QueryParam("token")
	if tok == "" {
		return badRequestPage("This link is incomplete. Copy the whole link from the mail, or ask for a new one.")
	}
	d := pageData{Hidden: []hiddenField{{"token", tok}, {"uid", c.QueryParam("uid")}}}
	return s.render(c, http.StatusOK, "reset", d)
}

// handleResetForm sets the new password. It ends every session of the
// account, this browser's too, and sends the person to sign in again.
func (s *Handlers) handleResetForm(c echo.Context) error {
	form, err := s.postedForm(c)
	if err != nil {
		return err
	}
	tok := form.Get("token")
	d := pageData{Hidden: []hiddenField{{"token", tok}, {"uid", form.Get("uid")}}}
	if form.Get("new_password") != form.Get("new_password2") {
		d.Fields = map[string]string{"new_password2": "does not match the new password"}
		return s.render(c, http.StatusBadRequest, "reset", d)
	}
	if err := s.accounts.ConfirmReset(c.Request().Context(), tok, form.Get("new_password"), c.RealIP()); err != nil {
		status, ok := s.formProblem(c, err, &d)
		if !ok {
			return err
		}
		if _, bad := d.Fields["token"]; bad {
			return &pageError{Status: status, Heading: "This link no longer works",
				Message: "The reset link is invalid, already used or expired. Ask for a new one from the sign-in page."}
		}
		return s.render(c, status, "reset", d)
	}
	s.clearSessionCookie(c) // the reset ended this browser's session too
	return c.Redirect(http.StatusSeeOther, "/signin?notice=password_reset")
}

// handleVerifyPage is where the verification mail's link lands
// ({issuer}/email/verify?token=T): one button that posts the token. A GET
// changes nothing, so a mail scanner that follows the link verifies
// nothing.
func (s *Handlers) handleVerifyPage(c echo.Context) error {
	if c.QueryParam("done") == "1" {
		return s.render(c, http.StatusOK, "verify", pageData{Done: true})
	}
	tok := c.QueryParam("token")
	if tok == "" {
		return badRequestPage("This link is incomplete. Copy the whole link from the mail.")
	}
	return s.render(c, http.StatusOK, "verify", pageData{Hidden: []hiddenField{{"token", tok}}})
}

// handleVerifyForm verifies the address.
func (s *Handlers) handleVerifyForm(c echo.Context) error {
	form, err := s.postedForm(c)
	if err != nil {
		return err
	}
	if err := s.accounts.VerifyEmail(c.Request().Context(), form.Get("token")); err != nil {
		if e, ok := errs.As(err); ok && e.Reason == errs.ReasonBadLink {
			return &pageError{Status: e.Kind.Status(), Heading: "This link no longer works",
				Message: "The confirmation link is invalid, already used or expired. Changing your email on the account page sends a new one."}
		}
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/email/verify?done=1")
}

// sessionView is one session on the account page.
type sessionView struct {
	ID        string
	Label     string
	Started   string
	Address   string
	UserAgent string
	// Current marks this browser's own sign-in.
	Current bool
}

// handleAccountPage shows the profile, the password form and the
// sessions.
func (s *Handlers) handleAccountPage(c echo.Context) error {
	ws, ok, err := s.requireSignIn(c, "/account")
	if !ok {
		return err
	}
	u := ws.user
	d := pageData{Notice: notices[c.QueryParam("notice")], Form: map[string]string{
		"username": u.Username, "email": u.Email, "first_name": u.FirstName, "last_name": u.LastName,
	}}
	return s.renderAccount(c, http.StatusOK, ws, d)
}

func (s *Handlers) renderAccount(c echo.Context, status int, ws webSession, d pageData) error {
	list, err := s.accounts.ListSessions(c.Request().Context(), ws.user.ID)
	if err != nil {
		return err
	}
	for _, sess := range list {
		v := sessionView{
			ID:        sess.ID,
			Label:     sess.ClientID,
			Started:   formatTime(sess.AuthTime),
			Address:   sess.Address,
			UserAgent: users.Truncate(sess.UserAgent, 120),
			Current:   sess.ID == ws.sess.ID,
		}
		if sess.ClientID == browserClientID {
			v.Label = "Sign-in on this site"
		} else if cl, ok := s.oauth.Clients().Get(sess.ClientID); ok {
			v.Label = cl.DisplayName()
		}
		d.Sessions = append(d.Sessions, v)
	}
	d.User = &ws.user
	d.Wide = true
	return s.render(c, status, "account", d)
}

// handleAccountForm takes the forms of the account page; the action field
// says which.
func (s *Handlers) handleAccountForm(c echo.Context) error {
	ws, ok, err := s.requireSignIn(c, "/account")
	if !ok {
		return err
	}
	form, err := s.postedForm(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	u := ws.user
	d := pageData{Form: map[string]string{
		"username": u.Username, "email": u.Email, "first_name": u.FirstName, "last_name": u.LastName,
	}}
	switch form.Get("action") {
	case "profile":
		p := account.ProfilePatch{}
		for _, f := range []struct {
			name string
			dst  **string
		}{{"username", &p.Username}, {"email", &p.Email}, {"first_name", &p.FirstName}, {"last_name", &p.LastName}} {
			if form.Has(f.name) {
				v := form.Get(f.name)
				*f.dst = &v
				d.Form[f.name] = v
			}
		}
		p.CurrentPassword = form.Get("current_password")
		if _, err := s.accounts.UpdateProfile(ctx, u.ID, p); err != nil {
			status, ok := s.formProblem(c, err, &d)
			if !ok {
				return err
			}
			return s.renderAccount(c, status, ws, d)
		}
		return c.Redirect(http.StatusSeeOther, "/account?notice=profile_saved")

	case "password":
		if form.Get("new_password") != form.Get("new_password2") {
			d.Fields = map[string]string{"new_password2": "does not match the new password"}
			return s.renderAccount(c, http.StatusBadRequest, ws, d)
		}
		if err := s.accounts.ChangePassword(ctx, u, ws.sess.ID, form.Get("old_password"), form.Get("new_password")); err != nil {
			status, ok := s.formProblem(c, err, &d)
			if !ok {
				return err
			}
			return s.renderAccount(c, status, ws, d)
		}
		return c.Redirect(http.StatusSeeOther, "/account?notice=password_changed")

	case "end_session":
		sid := form.Get("sid")
		if sid == ws.sess.ID {
			if err := s.signOut(c, "signed_out"); err != nil {
				return err
			}
			return c.Redirect(http.StatusSeeOther, "/signin?notice=signed_out")
		}
		if err := s.accounts.EndSession(ctx, u.ID, sid, "signed_out"); err != nil {
			if err != account.ErrNoSession {
				return err
			}
			// Already ended (in another tab, say): the list shows the truth.
		}
		return c.Redirect(http.StatusSeeOther, "/account?notice=session_ended")

	case "resend_verification":
		if err := s.accounts.ResendVerification(ctx, u); err != nil {
			status, ok := s.formProblem(c, err, &d)
			if !ok {
				return err
			}
			return s.renderAccount(c, status, ws, d)
		}
		return c.Redirect(http.StatusSeeOther, "/account?notice=verification_sent")

	case "end_all":
		if err := s.accounts.SignOutEverywhere(ctx, u.ID); err != nil {
			return err
		}
		s.clearSessionCookie(c)
		return c.Redirect(http.StatusSeeOther, "/signin?"+url.Values{"notice": {"signed_out_everywhere"}}.Encode())
	}
	return badRequestPage("The form was not understood.")
}
