package oauth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/authd/authd/errs"
	"github.com/authd/authd/storage"
	"github.com/authd/authd/token"
	"github.com/authd/authd/users"
)

// The authorization code grant (RFC 6749 §4.1) with PKCE (RFC 7636), as
// profiled by OpenID Connect Core §3.1 and RFC 9700.
//
// The authorization request travels through the sign-in pages as its own
// query string (the "authz" field): after the person signs in (or
// registers), the request is validated again, exactly as at the
// authorization endpoint, and answered at once. Nothing is stored until a
// code is issued, and a forged authz is no more than a forged authorization
// URL, which anyone can make anyway.

const (
	// codeTTL is the lifetime of an authorization code (RFC 6749 §4.1.2:
	// "A maximum authorization code lifetime of 10 minutes is
	// RECOMMENDED"; a browser redirect and a token request need seconds).
	codeTTL = 60 * time.Second
	// maxAuthzParam caps each authorization request parameter, so a
	// request cannot make the server echo or store megabytes.
	maxAuthzParam = 2048
)

// authzRequest is a validated authorization request (RFC 6749 §4.1.1,
// OIDC Core §3.1.2.1).
type AuthzRequest struct {
	Client      *Client
	RedirectURI string
	State       string
	Scope       []string
	Nonce       string
	// challenge is the PKCE code_challenge, "" when none was sent (allowed
	// for confidential clients only); its method is always S256.
	Challenge string
	// promptNone: do not show any page, answer login_required instead.
	// promptLogin: make the person sign in again even with a live session
	// (prompt=login, and select_account, whose account choice is the
	// sign-in form).
	PromptNone, PromptLogin bool
	// maxAge in seconds; -1 when not requested.
	MaxAge    int64
	LoginHint string
	// raw is the request as received, carried through the sign-in pages.
	Raw string
}

// ParseAuthz validates an authorization request. The client and the
// redirect URI come first: until both are known good, a problem is shown
// to the person and never redirected (the request's Redirectable is false) (RFC 6749 §4.1.2.1:
// "the authorization server SHOULD inform the resource owner of the error
// and MUST NOT automatically redirect the user-agent to the invalid
// redirection URI" — that would make authd an open redirector). Any later
// problem is sent back to the client (Redirectable is true).
func (s *Service) ParseAuthz(raw string) (AuthzRequest, error) {
	q, err := url.ParseQuery(raw)
	if err != nil {
		return AuthzRequest{}, pageProblem("The sign-in request is malformed.")
	}
	// RFC 6749 §3.1: "Request and response parameters MUST NOT be included
	// more than once."
	var repeated, tooLong string
	get := func(k string) string {
		v := q[k]
		if len(v) > 1 && repeated == "" {
			repeated = k
		}
		if len(v) == 0 {
			return ""
		}
		if len(v[0]) > maxAuthzParam || users.HasControl(v[0]) {
			if tooLong == "" {
				tooLong = k
			}
			return ""
		}
		return v[0]
	}
	clientID := get("client_id")
	redirectURI := get("redirect_uri")
	if repeated != "" || tooLong != "" {
		return AuthzRequest{}, pageProblem("The sign-in request is malformed.")
	}
	if clientID == "" {
		return AuthzRequest{}, pageProblem("The application that sent you here did not say who it is (client_id is missing).")
	}
	cl, ok := s.clients.Get(clientID)
	if !ok {
		return AuthzRequest{}, pageProblem("The application that sent you here is not known to this server.")
	}
	// Exact string comparison: no wildcards, no case folding, no
	// normalisation (RFC 9700 §4.1.3). A redirect URI is required, as OIDC
	// Core §3.1.2.1 and OAuth 2.1 do, so the code is bound to the one the
	// token request repeats.
	if redirectURI == "" {
		return AuthzRequest{}, pageProblem("The application that sent you here did not say where to return (redirect_uri is missing).")
	}
	if !slices.Contains(cl.RedirectURIs, redirectURI) {
		return AuthzRequest{}, pageProblem("The application that sent you here asked to return to an address it has not registered, so this server will not send you there.")
	}

	req := AuthzRequest{Client: cl, RedirectURI: redirectURI, MaxAge: -1, Raw: raw}
	fail := func(code, desc string) (AuthzRequest, error) {
		return req, errs.OAuth(code, "%s", desc)
	}
	req.State = get("state") // "" when too long: not echoed
	rest := map[string]string{}
	for _, k := range []string{"response_type", "response_mode", "scope", "nonce", "code_challenge", "code_challenge_method",
		"prompt", "max_age", "login_hint", "request", "request_uri", "registration"} {
		rest[k] = get(k)
	}
	switch {
	case repeated != "":
		return fail("invalid_request", "parameter "+repeated+" is repeated")
	case tooLong != "":
		return fail("invalid_request", "parameter "+tooLong+" is too long or holds a control character")
	case !cl.Allows(GrantAuthorizationCode):
		return fail("unauthorized_client", "this client may not use the authorization code grant")
	case rest["response_type"] == "":
		return fail("invalid_request", "response_type is required")
	case rest["response_type"] != "code":
		// Only the code flow: the implicit and hybrid flows put tokens in
		// URLs (RFC 9700 §2.1.2).
		return fail("unsupported_response_type", "only response_type=code is supported")
	case rest["response_mode"] != "" && rest["response_mode"] != "query":
		return fail("invalid_request", "only response_mode=query is supported")
	case q.Has("request"):
		return fail("request_not_supported", "request objects are not supported") // OIDC Core §6
	case q.Has("request_uri"):
		return fail("request_uri_not_supported", "request_uri is not supported")
	case q.Has("registration"):
		return fail("registration_not_supported", "the registration parameter is not supported")
	}
	scope, err := token.GrantScope(rest["scope"], cl.Scopes)
	if err != nil {
		return req, err
	}
	req.Scope = scope
	req.Nonce = rest["nonce"]

	// PKCE, RFC 7636 §4.3 and §4.4.1. "plain" would send the verifier
	// itself through the browser; it is refused, and so is a challenge
	// without a method (which §4.3 says means plain).
	challenge, method := rest["code_challenge"], rest["code_challenge_method"]
	switch {
	case challenge == "" && method != "":
		return fail("invalid_request", "code_challenge_method without code_challenge")
	case challenge == "" && cl.Public:
		// RFC 9700 §2.1.1: public clients MUST use PKCE.
		return fail("invalid_request", "PKCE is required: send code_challenge with code_challenge_method=S256")
	case challenge != "" && method != "S256":
		return fail("invalid_request", "code_challenge_method must be S256 (plain is not supported)")
	case challenge != "" && !token.WellFormedSecret(challenge):
		// BASE64URL(SHA256(verifier)) is always 43 characters (§4.2).
		return fail("invalid_request", "code_challenge is not a base64url SHA-256 value")
	}
	req.Challenge = challenge

	prompts := 0
	for p := range strings.FieldsSeq(rest["prompt"]) {
		prompts++
		switch p {
		case "none":
			req.PromptNone = true
		case "login", "select_account":
			req.PromptLogin = true
		case "consent":
			// Clients are registered by the operator: their access is
			// consented to at registration, so there is no consent page to
			// show.
		default:
			return fail("invalid_request", "prompt value "+p+" is not supported")
		}
	}
	if req.PromptNone && prompts > 1 {
		return fail("invalid_request", "prompt=none cannot be combined with other values") // OIDC Core §3.1.2.1
	}
	if v := rest["max_age"]; v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 || n > 10*365*24*3600 {
			return fail("invalid_request", "max_age must be a number of seconds")
		}
		req.MaxAge = n
	}
	req.LoginHint = rest["login_hint"]
	return req, nil
}

// Redirectable reports whether problems with the request may be sent back
// to its client: its client and redirect URI are known good.
func (r *AuthzRequest) Redirectable() bool { return r.Client != nil && r.RedirectURI != "" }

// ResponseURL is the redirect URI with the response parameters, state and
// iss (RFC 9207, so a client talking to several servers can tell which one
// answered) added to its query, which is kept (RFC 6749 §3.1.2).
func (s *Service) ResponseURL(req *AuthzRequest, params url.Values) string {
	u, err := url.Parse(req.RedirectURI)
	if err != nil {
		// Registered URIs are validated at start-up.
		return req.RedirectURI
	}
	q := u.Query()
	for k, v := range params {
		q[k] = v
	}
	if req.State != "" {
		q.Set("state", req.State)
	}
	q.Set("iss", s.cfg.Issuer)
	u.RawQuery = q.Encode()
	return u.String()
}

// ErrorURL is the redirect that sends an error back to the client (RFC
// 6749 §4.1.2.1), recording it in the audit log.
func (s *Service) ErrorURL(ctx context.Context, req *AuthzRequest, err error) string {
	e, ok := errs.As(err)
	if !ok {
		e = errs.OAuth("server_error", "the request could not be completed")
	}
	s.audit.Event(ctx, "authorization.refused", "client_id", req.Client.ID, "error_code", e.Code)
	return s.ResponseURL(req, url.Values{"error": {e.Code}, "error_description": {e.Description}})
}

// IssueCode stores a new authorization code for the person signed in with
// signIn and returns the redirect that hands it to the client (RFC 6749
// §4.1.2). The code remembers the sign-in: it redeems only while that
// sign-in lives.
func (s *Service) IssueCode(ctx context.Context, req *AuthzRequest, signIn storage.Session) (string, error) {
	now := s.now()
	code := token.Random(32)
	method := ""
	if req.Challenge != "" {
		method = "S256"
	}
	err := s.store.CreateAuthCode(ctx, storage.AuthCode{
		Hash:                token.Hash(code),
		ClientID:            req.Client.ID,
		UserID:              signIn.UserID,
		RedirectURI:         req.RedirectURI,
		Scope:               strings.Join(req.Scope, " "),
		Nonce:               req.Nonce,
		CodeChallenge:       req.Challenge,
		CodeChallengeMethod: method,
		AuthTime:            signIn.AuthTime,
		CreatedAt:           now,
		ExpiresAt:           now.Add(codeTTL),
		SignInSessionID:     signIn.ID,
	})
	if err != nil {
		return "", errs.Storage(err)
	}
	s.audit.Event(ctx, "authorization.code_issued", "user_id", signIn.UserID, "client_id", req.Client.ID, "session_id", signIn.ID)
	return s.ResponseURL(req, url.Values{"code": {code}}), nil
}

var errBadCode = errs.OAuth("invalid_grant", "the authorization code is invalid or expired, or was issued to another client or redirect URI")

// grantAuthorizationCode is the token request of the code flow (RFC 6749
// §4.1.3) with the PKCE check (RFC 7636 §4.6). A code works once, for the
// client it was issued to, with the redirect URI and the verifier of its
// authorization request, for codeTTL, while the sign-in that issued it
// lives. A second use ends the session the first one started (RFC 6749
// §4.1.2).
func (s *Service) grantAuthorizationCode(ctx context.Context, r TokenRequest) (token.Response, error) {
	cl := r.Client
	code, redirectURI, verifier := r.Form.Get("code"), r.Form.Get("redirect_uri"), r.Form.Get("code_verifier")
	if code == "" {
		return token.Response{}, errs.OAuth("invalid_request", "code is required")
	}
	if len(code) > token.MaxOpaqueLen {
		return token.Response{}, errBadCode
	}
	hash := token.Hash(code)
	now := s.now()
	ac, err := s.store.GetAuthCode(ctx, hash)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return token.Response{}, errBadCode
	case err != nil:
		return token.Response{}, errs.Storage(err)
	}
	// The code is checked against its client, redirect URI and verifier
	// before anything else, a replay included: someone who merely saw a
	// used code (history, logs) must not be able to end its session.
	if ac.ClientID != cl.ID {
		return token.Response{}, errBadCode
	}
	// RFC 6749 §4.1.3: the redirect_uri of the authorization request,
	// identical.
	if redirectURI != ac.RedirectURI {
		return token.Response{}, errBadCode
	}
	if err := checkVerifier(ac, verifier); err != nil {
		return token.Response{}, err
	}
	if !ac.RedeemedAt.IsZero() {
		return token.Response{}, s.codeReplayed(ctx, ac)
	}
	if !now.Before(ac.ExpiresAt) {
		return token.Response{}, errBadCode
	}
	u, err := s.store.GetUser(ctx, ac.UserID)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return token.Response{}, errBadCode
	case err != nil:
		return token.Response{}, errs.Storage(err)
	}
	if u.Disabled {
		return token.Response{}, errBadCode
	}

	scope := token.ParseScope(ac.Scope)
	sess, refresh := s.newSession(cl, u, scope, ac.AuthTime, r.UserAgent, r.Address, now)
	resp, err := s.tokens.Issue(token.Request{Grant: GrantAuthorizationCode, ClientID: cl.ID, User: &u, Session: &sess, Scope: scope,
		Nonce: ac.Nonce, Refresh: refresh, Now: now, NotAfter: sess.ExpiresAt})
	if err != nil {
		return token.Response{}, err
	}
	// The store redeems the code only while the sign-in that issued it is
	// live: a password change, reset, disable or "sign out everywhere"
	// since voids it.
	redeemed, err := s.store.RedeemAuthCode(ctx, hash, sess, now)
	switch {
	case errors.Is(err, storage.ErrSpent):
		// Another request redeemed it first; the store ended that session.
		return token.Response{}, s.codeReplayed(ctx, redeemed)
	case errors.Is(err, storage.ErrNotFound):
		return token.Response{}, errBadCode // expired or voided meanwhile
	case err != nil:
		return token.Response{}, errs.Storage(err)
	}
	s.audit.Event(ctx, "authorization.code_redeemed", "user_id", u.ID, "client_id", cl.ID, "session_id", sess.ID, "address", r.Address)
	return resp, nil
}

// checkVerifier is the PKCE check of RFC 7636 §4.6.
func checkVerifier(ac storage.AuthCode, verifier string) error {
	bad := errs.OAuth("invalid_grant", "code_verifier is missing or does not match the code_challenge")
	if ac.CodeChallenge == "" {
		// RFC 9700 §4.8.2: a verifier for a code issued without a challenge
		// is a PKCE downgrade attempt.
		if verifier != "" {
			return errs.OAuth("invalid_grant", "code_verifier sent for a code issued without code_challenge")
		}
		return nil
	}
	// §4.1: 43 to 128 characters of [A-Z] / [a-z] / [0-9] / "-" / "." /
	// "_" / "~".
	if len(verifier) < 43 || len(verifier) > 128 || strings.ContainsFunc(verifier, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_' || r == '~')
	}) {
		return bad
	}
	if ac.CodeChallengeMethod != "S256" {
		return bad // nothing else is ever stored
	}
	sum := sha256.Sum256([]byte(verifier))
	got := base64.RawURLEncoding.EncodeToString(sum[:])
	if subtle.ConstantTimeCompare([]byte(got), []byte(ac.CodeChallenge)) != 1 {
		return bad
	}
	return nil
}

// codeReplayed answers a code presented again: the tokens of its first
// redemption are revoked by ending their session (the store already did
// when it noticed the replay itself; ending it again is harmless), and the
// request fails.
func (s *Service) codeReplayed(ctx context.Context, ac storage.AuthCode) error {
	if ac.SessionID != "" {
		if err := s.sessions.End(ctx, ac.SessionID, ac.UserID, ac.ClientID, "code_reuse"); err != nil {
			return err
		}
	}
	s.audit.Event(ctx, "authorization.code_reuse_detected", "user_id", ac.UserID, "client_id", ac.ClientID)
	return errs.OAuth("invalid_grant", "the authorization code was already used; the tokens issued for it are revoked")
}

// pageProblem is a problem with an authorization request that is shown to
// the person, never sent to a redirect URI that is not known good.
func pageProblem(msg string) error {
	return &errs.Error{Kind: errs.Invalid, Code: "invalid_request", Description: msg}
}
