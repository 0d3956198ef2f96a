package oauth

import (
	"context"
	"time"

	"github.com/authd/authd/errs"
	"github.com/authd/authd/token"
)

// grantPassword is the resource owner password credentials grant (RFC 6749
// §4.3). Unknown user, wrong password and disabled user get the same answer
// after the same work (account.Service.Authenticate).
func (s *Service) grantPassword(ctx context.Context, r TokenRequest) (token.Response, error) {
	username, pw := r.Form.Get("username"), r.Form.Get("password")
	if username == "" || pw == "" {
		return token.Response{}, errs.OAuth("invalid_request", "username and password are required")
	}
	scope, err := token.GrantScope(r.Form.Get("scope"), r.Client.Scopes)
	if err != nil {
		return token.Response{}, err
	}
	u, err := s.accounts.Authenticate(ctx, username, pw, r.Address)
	if err != nil {
		return token.Response{}, err
	}
	resp, _, err := s.startSession(ctx, GrantPassword, r.Client, u, scope, time.Time{}, "", r.UserAgent, r.Address, false)
	return resp, err
}

// grantClientCredentials is the client credentials grant (RFC 6749 §4.4):
// for confidential clients only, no refresh token.
func (s *Service) grantClientCredentials(ctx context.Context, r TokenRequest) (token.Response, error) {
	if r.Client.Public {
		return token.Response{}, errs.OAuth("unauthorized_client", "a public client cannot use client_credentials")
	}
	scope, err := token.GrantScope(r.Form.Get("scope"), r.Client.Scopes)
	if err != nil {
		return token.Response{}, err
	}
	return s.tokens.Issue(token.Request{Grant: GrantClientCredentials, ClientID: r.Client.ID, Scope: scope, Now: s.now()})
}
