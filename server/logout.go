package server

import (
	"net/http"
	"net/url"
	"slices"

	"github.com/labstack/echo/v4"

	"github.com/authd/authd/errs"
	"github.com/authd/authd/keys"
	"github.com/authd/authd/oauth"
	"github.com/authd/authd/token"
)

// RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): a client
// sends the browser to the end_session_endpoint to sign the person out of
// authd and end the session the client holds, then get the browser back.

// logoutParams are the parameters of a logout request that are carried
// from the RP's request to the confirmation form.
var logoutParams = []string{"id_token_hint", "client_id", "post_logout_redirect_uri", "state", "logout_hint", "ui_locales"}

// logoutRequest is a validated logout request.
type logoutRequest struct {
	// hint is the verified id_token_hint, nil when none was sent.
	hint *token.ID
	// hintFresh: the hint has not expired. Only a fresh hint may end the
	// hinted session without this browser being signed in as its user.
	hintFresh bool
	client    *oauth.Client // nil when neither client_id nor the hint names one
	// redirectURI is a registered post_logout_redirect_uri of client, or "".
	redirectURI string
	state       string
	params      url.Values // as received, for the confirmation form
}

// handleLogoutRP is the end_session_endpoint, GET and POST (§2). A valid
// id_token_hint of the person signed in here (or with no one signed in)
// signs out at once; otherwise the person is asked first (§2: the OP "MUST
// ask the End-User this question if an id_token_hint was not provided or
// if the supplied ID Token does not belong to the current OP session"), so
// another site cannot sign people out by sending them here.
func (s *Server) handleLogoutRP(c echo.Context) error {
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
	lr, err := s.parseLogout(c.Request().URL.Query())
	if err != nil {
		return err
	}
	ws, signedIn, err := s.currentSession(c)
	if err != nil {
		return errs.Storage(err)
	}
	// A hint for the person signed in here, or a current hint with no one
	// signed in, ends its session at once. An expired hint with no one
	// signed in could come from anywhere (old logout URLs, history): the
	// person is asked first. With no one signed in and no hint there is
	// nothing to end, and nothing to ask.
	if (lr.hint != nil && signedIn && ws.user.ID == lr.hint.Subject) || (lr.hintFresh && !signedIn) || (lr.hint == nil && !signedIn) {
		return s.finishLogout(c, lr)
	}
	d := pageData{}
	if lr.client != nil {
		d.ClientID = lr.client.DisplayName()
	}
	for _, k := range logoutParams {
		if v := lr.params.Get(k); v != "" {
			d.Hidden = append(d.Hidden, hiddenField{k, v})
		}
	}
	return s.render(c, http.StatusOK, "logout", d)
}

// confirmLogout is the confirmation form's POST.
func (s *Server) confirmLogout(c echo.Context, form url.Values) error {
	if err := s.checkCSRF(c, form); err != nil {
		return err
	}
	q := url.Values{}
	for _, k := range logoutParams {
		if v, ok := form[k]; ok {
			q[k] = v
		}
	}
	lr, err := s.parseLogout(q)
	if err != nil {
		return err
	}
	return s.finishLogout(c, lr)
}

// parseLogout validates a logout request. Every problem is shown as a
// page: the browser goes to post_logout_redirect_uri only when it is
// registered for the client, exactly (§3), so the endpoint redirects
// nowhere else.
func (s *Server) parseLogout(q url.Values) (logoutRequest, error) {
	lr := logoutRequest{params: q}
	for k, v := range q {
		if len(v) > 1 {
			return lr, badRequestPage("The sign-out request repeats the parameter %s.", k)
		}
		if len(v[0]) > keys.MaxTokenSize {
			return lr, badRequestPage("The sign-out request is too large.")
		}
	}
	clientID := q.Get("client_id")
	if raw := q.Get("id_token_hint"); raw != "" {
		// §2: the hint may have expired, so exp is not checked; signature
		// (with any key of the JWKS, retired ones included), typ and iss
		// are.
		ic, fresh, err := s.tokens.VerifyIDHint(raw)
		if err != nil {
			return lr, &pageError{Status: http.StatusBadRequest, Heading: "This sign-out request cannot be completed",
				Message: "The application sent an ID token that this server did not issue, or can no longer check.", Cause: err}
		}
		switch {
		case clientID != "" && !ic.Audience.Contains(clientID):
			return lr, badRequestPage("The application's client_id does not match its ID token.")
		case clientID == "" && ic.AuthorizedParty != "":
			clientID = ic.AuthorizedParty
		case clientID == "" && len(ic.Audience) == 1:
			clientID = ic.Audience[0]
		}
		lr.hint, lr.hintFresh = &ic, fresh
	}
	if clientID != "" {
		cl, ok := s.oauth.Clients().Get(clientID)
		if !ok {
			return lr, badRequestPage("The application that sent you here is not known to this server.")
		}
		lr.client = cl
	}
	if uri := q.Get("post_logout_redirect_uri"); uri != "" {
		if lr.client == nil {
			return lr, badRequestPage("The application asked to return to an address without saying who it is (client_id or id_token_hint is missing).")
		}
		if !slices.Contains(lr.client.PostLogoutRedirectURIs, uri) {
			return lr, badRequestPage("The application asked to return to an address it has not registered, so this server will not send you there.")
		}
		lr.redirectURI = uri
	}
	lr.state = q.Get("state")
	return lr, nil
}

// finishLogout ends the session the hint names (and so its refresh
// family) and this browser's sign-in, then returns the browser to the
// client or shows that it is done. An expired hint ends the hinted session
// only when this browser is signed in as its user: otherwise whoever
// confirms could be anyone holding an old logout URL, and may end only
// their own sign-in.
func (s *Server) finishLogout(c echo.Context, lr logoutRequest) error {
	ctx := c.Request().Context()
	if lr.hint != nil && lr.hint.SessionID != "" {
		ws, signedIn, err := s.currentSession(c)
		if err != nil {
			return errs.Storage(err)
		}
		if lr.hintFresh || (signedIn && ws.user.ID == lr.hint.Subject) {
			clientID := ""
			if lr.client != nil {
				clientID = lr.client.ID
			}
			if err := s.sessions.End(ctx, lr.hint.SessionID, lr.hint.Subject, clientID, "rp_logout"); err != nil {
				return err
			}
		}
	}
	if err := s.signOut(c, "rp_logout"); err != nil {
		return err
	}
	if lr.redirectURI == "" {
		return s.render(c, http.StatusOK, "logout", pageData{Done: true})
	}
	u, err := url.Parse(lr.redirectURI)
	if err != nil {
		return err // registered URIs are validated at start-up
	}
	if lr.state != "" {
		q := u.Query()
		q.Set("state", lr.state) // §3
		u.RawQuery = q.Encode()
	}
	status := http.StatusFound
	if c.Request().Method == http.MethodPost {
		status = http.StatusSeeOther
	}
	return c.Redirect(status, u.String())
}
