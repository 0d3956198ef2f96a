package pages

import (
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/authd/authd/oauth"
)

// RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): a client
// sends the browser to the end_session_endpoint to sign the person out of
// authd and end the session the client holds, then get the browser back.

// logoutParams are the parameters of a logout request that are carried
// from the RP's request to the confirmation form.
var logoutParams = []string{"id_token_hint", "client_id", "post_logout_redirect_uri", "state", "logout_hint", "ui_locales"}

// handleLogoutRP is the end_session_endpoint, GET and POST (§2). A valid
// id_token_hint of the person signed in here (or with no one signed in)
// signs out at once; otherwise the person is asked first (§2: the OP "MUST
// ask the End-User this question if an id_token_hint was not provided or
// if the supplied ID Token does not belong to the current OP session"), so
// another site cannot sign people out by sending them here.
func (s *Handlers) handleLogoutRP(c echo.Context) error {
	if c.Request().Method == http.MethodPost {
		form, err := readPageForm(c)
		if err != nil {
			return err
		}
		if form.Has(csrfField) {
			return s.confirmLogout(c, form)
		}
		// An RP's form POST: answered as the same GET, which the browser
		// sends with its SameSite=Lax cookies even from another site.
		q := url.Values{}
		for _, k := range logoutParams {
			if v, ok := form[k]; ok {
				q[k] = v
			}
		}
		return c.Redirect(http.StatusSeeOther, "/oauth2/logout?"+q.Encode())
	}
	lr, err := s.oauth.ParseLogout(c.Request().URL.Query())
	if err != nil {
		return err
	}
	ws, signedIn, err := s.currentSession(c)
	if err != nil {
		return err
	}
	// A hint for the person signed in here, or a current hint with no one
	// signed in, ends its session at once. An expired hint with no one
	// signed in could come from anywhere (old logout URLs, history): the
	// person is asked first. With no one signed in and no hint there is
	// nothing to end, and nothing to ask.
	if (lr.Hint != nil && signedIn && ws.user.ID == lr.Hint.Subject) || (lr.HintFresh && !signedIn) || (lr.Hint == nil && !signedIn) {
		return s.finishLogout(c, lr)
	}
	d := pageData{}
	if lr.Client != nil {
		d.ClientName = lr.Client.DisplayName()
	}
	for _, k := range logoutParams {
		if v := lr.Params.Get(k); v != "" {
			d.Hidden = append(d.Hidden, hiddenField{k, v})
		}
	}
	return s.render(c, http.StatusOK, "logout", d)
}

// confirmLogout is the confirmation form's POST.
func (s *Handlers) confirmLogout(c echo.Context, form url.Values) error {
	if err := s.checkCSRF(c, form); err != nil {
		return err
	}
	q := url.Values{}
	for _, k := range logoutParams {
		if v, ok := form[k]; ok {
			q[k] = v
		}
	}
	lr, err := s.oauth.ParseLogout(q)
	if err != nil {
		return err
	}
	return s.finishLogout(c, lr)
}

// finishLogout ends the session the hint names (and so its refresh
// family) and this browser's sign-in, then returns the browser to the
// client or shows that it is done. An expired hint ends the hinted session
// only when this browser is signed in as its user: otherwise whoever
// confirms could be anyone holding an old logout URL, and may end only
// their own sign-in.
func (s *Handlers) finishLogout(c echo.Context, lr oauth.LogoutRequest) error {
	ctx := c.Request().Context()
	if lr.Hint != nil && lr.Hint.SessionID != "" {
		ws, signedIn, err := s.currentSession(c)
		if err != nil {
			return err
		}
		if lr.HintFresh || (signedIn && ws.user.ID == lr.Hint.Subject) {
			clientID := ""
			if lr.Client != nil {
				clientID = lr.Client.ID
			}
			if err := s.sessions.End(ctx, lr.Hint.SessionID, lr.Hint.Subject, clientID, "rp_logout"); err != nil {
				return err
			}
		}
	}
	if err := s.signOut(c, "rp_logout"); err != nil {
		return err
	}
	if lr.RedirectURI == "" {
		return s.render(c, http.StatusOK, "logout", pageData{Done: true})
	}
	u, err := url.Parse(lr.RedirectURI)
	if err != nil {
		return err // registered URIs are validated at start-up
	}
	if lr.State != "" {
		q := u.Query()
		q.Set("state", lr.State) // §3
		u.RawQuery = q.Encode()
	}
	status := http.StatusFound
	if c.Request().Method == http.MethodPost {
		status = http.StatusSeeOther
	}
	return c.Redirect(status, u.String())
}
