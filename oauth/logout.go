package oauth

import (
	"net/url"
	"slices"

	"github.com/authd/authd/errs"
	"github.com/authd/authd/keys"
	"github.com/authd/authd/token"
)

// LogoutRequest is a validated RP-initiated logout request (OpenID Connect
// RP-Initiated Logout 1.0).
type LogoutRequest struct {
	// Hint is the verified id_token_hint, nil when none was sent.
	Hint *token.ID
	// HintFresh: the hint has not expired. Only a fresh hint may end the
	// hinted session without the browser being signed in as its user.
	HintFresh bool
	Client    *Client // nil when neither client_id nor the hint names one
	// RedirectURI is a registered post_logout_redirect_uri of Client, or "".
	RedirectURI string
	State       string
	Params      url.Values // as received, for a confirmation form
}

// ParseLogout validates a logout request. Every problem is for the person
// to read (errs.Invalid, never redirected): the browser goes to
// post_logout_redirect_uri only when it is registered for the client,
// exactly (§3), so the endpoint redirects nowhere else.
func (s *Service) ParseLogout(q url.Values) (LogoutRequest, error) {
	lr := LogoutRequest{Params: q}
	for k, v := range q {
		if len(v) > 1 {
			return lr, pageProblem("The sign-out request repeats the parameter " + k + ".")
		}
		if len(v[0]) > keys.MaxTokenSize {
			return lr, pageProblem("The sign-out request is too large.")
		}
	}
	clientID := q.Get("client_id")
	if raw := q.Get("id_token_hint"); raw != "" {
		// §2: the hint may have expired, so exp is not checked; signature
		// (with any key of the JWKS, retired ones included), typ and iss
		// are.
		ic, fresh, err := s.tokens.VerifyIDHint(raw)
		if err != nil {
			return lr, &errs.Error{Kind: errs.Invalid, Code: "invalid_request",
				Description: "The application sent an ID token that this server did not issue, or can no longer check.", Cause: err}
		}
		switch {
		case clientID != "" && !ic.Audience.Contains(clientID):
			return lr, pageProblem("The application's client_id does not match its ID token.")
		case clientID == "" && ic.AuthorizedParty != "":
			clientID = ic.AuthorizedParty
		case clientID == "" && len(ic.Audience) == 1:
			clientID = ic.Audience[0]
		}
		lr.Hint, lr.HintFresh = &ic, fresh
	}
	if clientID != "" {
		cl, ok := s.clients.Get(clientID)
		if !ok {
			return lr, pageProblem("The application that sent you here is not known to this server.")
		}
		lr.Client = cl
	}
	if uri := q.Get("post_logout_redirect_uri"); uri != "" {
		if lr.Client == nil {
			return lr, pageProblem("The application asked to return to an address without saying who it is (client_id or id_token_hint is missing).")
		}
		if !slices.Contains(lr.Client.PostLogoutRedirectURIs, uri) {
			return lr, pageProblem("The application asked to return to an address it has not registered, so this server will not send you there.")
		}
		lr.RedirectURI = uri
	}
	lr.State = q.Get("state")
	return lr, nil
}
