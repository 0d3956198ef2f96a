package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/authd/authd/refresh"
	"github.com/authd/authd/storage"
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
type authzRequest struct {
	client      *client
	redirectURI string
	state       string
	scope       []string
	nonce       string
	// challenge is the PKCE code_challenge, "" when none was sent (allowed
	// for confidential clients only); its method is always S256.
	challenge string
	// promptNone: do not show any page, answer login_required instead.
	// promptLogin: make the person sign in again even with a live session
	// (prompt=login, and select_account, whose account choice is the
	// sign-in form).
	promptNone, promptLogin bool
	// maxAge in seconds; -1 when not requested.
	maxAge    int64
	loginHint string
	// raw is the request as received, carried through the sign-in pages.
	raw string
}

// authzError is an error found after the client and its redirect URI were
// validated: it goes back to the client (RFC 6749 §4.1.2.1).
type authzError struct {
	req         *authzRequest
	code        string
	description string
}

func (e *authzError) Error() string { return "authorization " + e.code + ": " + e.description }

// handleAuthorize is the authorization endpoint (RFC 6749 §3.1, OIDC Core
// §3.1.2). A POST (OIDC Core §3.1.2.1 requires it) is turned into the same
// GET, so the browser sends its SameSite=Lax cookies with it even when
// another site posted the form.
func (s *Server) handleAuthorize(c echo.Context) error {
	if c.Request().Method == http.MethodPost {
		form, err := readPageForm(c)
		if err != nil {
			return err
		}
		return c.Redirect(http.StatusSeeOther, "/oauth2/authorize?"+form.Encode())
	}
	raw := c.Request().URL.RawQuery
	req, err := s.parseAuthz(raw)
	if err != nil {
		return s.authzFail(c, err)
	}
	ws, ok, err := s.currentSession(c)
	if err != nil {
		return errStore(err)
	}
	now := s.now()
	// OIDC Core §3.1.2.1: max_age — "If the elapsed time is greater than
	// this value, the OP MUST attempt to actively re-authenticate the
	// End-User."
	tooOld := ok && req.maxAge >= 0 && now.Sub(ws.sess.AuthTime) > time.Duration(req.maxAge)*time.Second
	if !ok || req.promptLogin || tooOld {
		if req.promptNone {
			// OIDC Core §3.1.2.6: prompt=none and no usable sign-in.
			return s.authzFail(c, &authzError{req: &req, code: "login_required", description: "the user is not signed in"})
		}
		return c.Redirect(http.StatusFound, "/signin?"+url.Values{"authz": {raw}}.Encode())
	}
	return s.issueCode(c, &req, ws)
}

// continueAuthz answers the authorization request carried through the
// sign-in pages, for the person who just signed in there.
func (s *Server) continueAuthz(c echo.Context, raw string, ws webSession) error {
	req, err := s.parseAuthz(raw)
	if err != nil {
		return s.authzFail(c, err)
	}
	return s.issueCode(c, &req, ws)
}

// parseAuthz validates an authorization request. The client and the
// redirect URI come first: until both are known good, a problem is a
// *pageError, shown to the person and never redirected (RFC 6749 §4.1.2.1:
// "the authorization server SHOULD inform the resource owner of the error
// and MUST NOT automatically redirect the user-agent to the invalid
// redirection URI" — that would make authd an open redirector). Any later
// problem is an *authzError, sent back to the client.
func (s *Server) parseAuthz(raw string) (authzRequest, error) {
	q, err := url.ParseQuery(raw)
	if err != nil {
		return authzRequest{}, badRequestPage("The sign-in request is malformed.")
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
		if len(v[0]) > maxAuthzParam || strings.ContainsFunc(v[0], func(r rune) bool { return r < 0x20 || r == 0x7f }) {
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
		return authzRequest{}, badRequestPage("The sign-in request is malformed.")
	}
	if clientID == "" {
		return authzRequest{}, badRequestPage("The application that sent you here did not say who it is (client_id is missing).")
	}
	cl, ok := s.clients[clientID]
	if !ok {
		return authzRequest{}, badRequestPage("The application that sent you here is not known to this server.")
	}
	// Exact string comparison: no wildcards, no case folding, no
	// normalisation (RFC 9700 §4.1.3). A redirect URI is required, as OIDC
	// Core §3.1.2.1 and OAuth 2.1 do, so the code is bound to the one the
	// token request repeats.
	if redirectURI == "" {
		return authzRequest{}, badRequestPage("The application that sent you here did not say where to return (redirect_uri is missing).")
	}
	if !slices.Contains(cl.redirectURIs, redirectURI) {
		return authzRequest{}, badRequestPage("The application that sent you here asked to return to an address it has not registered, so this server will not send you there.")
	}

	req := authzRequest{client: cl, redirectURI: redirectURI, maxAge: -1, raw: raw}
	fail := func(code, desc string) (authzRequest, error) {
		return req, &authzError{req: &req, code: code, description: desc}
	}
	req.state = get("state") // "" when too long: not echoed
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
	case !cl.allows("authorization_code"):
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
	scope, err := grantScope(rest["scope"], cl.scopes)
	if err != nil {
		var oe *OAuthError
		if errors.As(err, &oe) {
			return fail(oe.Code, oe.Description)
		}
		return fail("invalid_scope", "the scope is invalid")
	}
	req.scope = scope
	req.nonce = rest["nonce"]

	// PKCE, RFC 7636 §4.3 and §4.4.1. "plain" would send the verifier
	// itself through the browser; it is refused, and so is a challenge
	// without a method (which §4.3 says means plain).
	challenge, method := rest["code_challenge"], rest["code_challenge_method"]
	switch {
	case challenge == "" && method != "":
		return fail("invalid_request", "code_challenge_method without code_challenge")
	case challenge == "" && cl.public:
		// RFC 9700 §2.1.1: public clients MUST use PKCE.
		return fail("invalid_request", "PKCE is required: send code_challenge with code_challenge_method=S256")
	case challenge != "" && method != "S256":
		return fail("invalid_request", "code_challenge_method must be S256 (plain is not supported)")
	case challenge != "" && !wellFormedSecret(challenge):
		// BASE64URL(SHA256(verifier)) is always 43 characters (§4.2).
		return fail("invalid_request", "code_challenge is not a base64url SHA-256 value")
	}
	req.challenge = challenge

	prompts := 0
	for p := range strings.FieldsSeq(rest["prompt"]) {
		prompts++
		switch p {
		case "none":
			req.promptNone = true
		case "login", "select_account":
			req.promptLogin = true
		case "consent":
			// Clients are registered by the operator: their access is
			// consented to at registration, so there is no consent page to
			// show.
		default:
			return fail("invalid_request", "prompt value "+p+" is not supported")
		}
	}
	if req.promptNone && prompts > 1 {
		return fail("invalid_request", "prompt=none cannot be combined with other values") // OIDC Core §3.1.2.1
	}
	if v := rest["max_age"]; v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 || n > 10*365*24*3600 {
			return fail("invalid_request", "max_age must be a number of seconds")
		}
		req.maxAge = n
	}
	req.loginHint = rest["login_hint"]
	return req, nil
}

// authzFail answers an invalid authorization request: an error page before
// the redirect URI is trusted, a redirect to it after.
func (s *Server) authzFail(c echo.Context, err error) error {
	var ae *authzError
	if !errors.As(err, &ae) {
		return err
	}
	s.audit(c.Request().Context(), "authorization.refused", "client_id", ae.req.client.id, "error_code", ae.code)
	return c.Redirect(s.authzStatus(c), s.authzResponseURL(ae.req, url.Values{
		"error":             {ae.code},
		"error_description": {ae.description},
	}))
}

// authzStatus is the status of an authorization response: 302 answers the
// GET of the authorization endpoint (RFC 6749 §4.1.2), 303 a form POST.
func (s *Server) authzStatus(c echo.Context) int {
	if c.Request().Method == http.MethodPost {
		return http.StatusSeeOther
	}
	return http.StatusFound
}

// authzResponseURL is the redirect URI with the response parameters, state
// and iss (RFC 9207, so a client talking to several servers can tell which
// one answered) added to its query, which is kept (RFC 6749 §3.1.2).
func (s *Server) authzResponseURL(req *authzRequest, params url.Values) string {
	u, err := url.Parse(req.redirectURI)
	if err != nil {
		// Registered URIs are validated at start-up.
		return req.redirectURI
	}
	q := u.Query()
	for k, v := range params {
		q[k] = v
	}
	if req.state != "" {
		q.Set("state", req.state)
	}
	q.Set("iss", s.cfg.Issuer)
	u.RawQuery = q.Encode()
	return u.String()
}

// issueCode stores a new authorization code for the signed-in person and
// sends the browser back to the client with it (RFC 6749 §4.1.2).
func (s *Server) issueCode(c echo.Context, req *authzRequest, ws webSession) error {
	ctx := c.Request().Context()
	now := s.now()
	code := randomToken(32)
	method := ""
	if req.challenge != "" {
		method = "S256"
	}
	err := s.store.CreateAuthCode(ctx, storage.AuthCode{
		Hash:                hashToken(code),
		ClientID:            req.client.id,
		UserID:              ws.user.ID,
		RedirectURI:         req.redirectURI,
		Scope:               strings.Join(req.scope, " "),
		Nonce:               req.nonce,
		CodeChallenge:       req.challenge,
		CodeChallengeMethod: method,
		AuthTime:            ws.sess.AuthTime,
		CreatedAt:           now,
		ExpiresAt:           now.Add(codeTTL),
		SignInSessionID:     ws.sess.ID,
	})
	if err != nil {
		return errStore(err)
	}
	s.audit(ctx, "authorization.code_issued", "user_id", ws.user.ID, "client_id", req.client.id, "session_id", ws.sess.ID)
	return c.Redirect(s.authzStatus(c), s.authzResponseURL(req, url.Values{"code": {code}}))
}

// grantAuthorizationCode is the token request of the code flow (RFC 6749
// §4.1.3) with the PKCE check (RFC 7636 §4.6). A code works once, for the
// client it was issued to, with the redirect URI and the verifier of its
// authorization request, for codeTTL. A second use ends the session the
// first one started (RFC 6749 §4.1.2).
func (s *Server) grantAuthorizationCode(c echo.Context, cl *client, form url.Values) (tokenResponse, error) {
	ctx := c.Request().Context()
	code, redirectURI, verifier := form.Get("code"), form.Get("redirect_uri"), form.Get("code_verifier")
	if code == "" {
		return tokenResponse{}, oauthErr("invalid_request", "code is required")
	}
	invalid := oauthErr("invalid_grant", "the authorization code is invalid or expired, or was issued to another client or redirect URI")
	if len(code) > 512 {
		return tokenResponse{}, invalid
	}
	hash := hashToken(code)
	now := s.now()
	ac, err := s.store.GetAuthCode(ctx, hash)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return tokenResponse{}, invalid
	case err != nil:
		return tokenResponse{}, errStore(err)
	}
	// The code is checked against its client, redirect URI and verifier
	// before anything else, a replay included: someone who merely saw a
	// used code (history, logs) must not be able to end its session.
	if ac.ClientID != cl.id {
		return tokenResponse{}, invalid
	}
	// RFC 6749 §4.1.3: the redirect_uri of the authorization request,
	// identical.
	if redirectURI != ac.RedirectURI {
		return tokenResponse{}, invalid
	}
	if err := checkVerifier(ac, verifier); err != nil {
		return tokenResponse{}, err
	}
	if !ac.RedeemedAt.IsZero() {
		return tokenResponse{}, s.codeReplayed(ctx, ac, now)
	}
	if !now.Before(ac.ExpiresAt) {
		return tokenResponse{}, invalid
	}
	u, err := s.store.GetUser(ctx, ac.UserID)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return tokenResponse{}, invalid
	case err != nil:
		return tokenResponse{}, errStore(err)
	}
	if u.Disabled {
		return tokenResponse{}, invalid
	}

	scope := scopeList(ac.Scope)
	sess, refreshToken := s.newUserSession(cl, u, scope, ac.AuthTime, c.Request().UserAgent(), c.RealIP(), now)
	resp, err := s.issueTokens(tokenRequest{grant: "authorization_code", client: cl, user: &u, session: &sess, scope: scope, nonce: ac.Nonce, refresh: refreshToken, now: now, notAfter: sess.ExpiresAt})
	if err != nil {
		return tokenResponse{}, err
	}
	redeemed, err := s.store.RedeemAuthCode(ctx, hash, sess, now)
	switch {
	case errors.Is(err, storage.ErrSpent):
		// Another request redeemed it first; the store ended that session.
		return tokenResponse{}, s.codeReplayed(ctx, redeemed, now)
	case errors.Is(err, storage.ErrNotFound):
		return tokenResponse{}, invalid // expired meanwhile, or its sign-in ended
	case err != nil:
		return tokenResponse{}, errStore(err)
	}
	s.audit(ctx, "authorization.code_redeemed", "user_id", u.ID, "client_id", cl.id, "session_id", sess.ID, "address", c.RealIP())
	return resp, nil
}

// checkVerifier is the PKCE check of RFC 7636 §4.6.
func checkVerifier(ac storage.AuthCode, verifier string) error {
	bad := oauthErr("invalid_grant", "code_verifier is missing or does not match the code_challenge")
	if ac.CodeChallenge == "" {
		// RFC 9700 §4.8.2: a verifier for a code issued without a challenge
		// is a PKCE downgrade attempt.
		if verifier != "" {
			return oauthErr("invalid_grant", "code_verifier sent for a code issued without code_challenge")
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
func (s *Server) codeReplayed(ctx context.Context, ac storage.AuthCode, now time.Time) error {
	if ac.SessionID != "" {
		if err := s.store.EndSession(ctx, ac.SessionID, now); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return errStore(err)
		}
		s.revoked.endSessions(now, ac.SessionID)
		s.audit(ctx, "session.revoked", "user_id", ac.UserID, "client_id", ac.ClientID, "session_id", ac.SessionID, "reason", "code_reuse")
	}
	s.audit(ctx, "authorization.code_reuse_detected", "user_id", ac.UserID, "client_id", ac.ClientID)
	return oauthErr("invalid_grant", "the authorization code was already used; the tokens issued for it are revoked")
}

// newUserSession builds the session a client gets when a user signs in to
// it and, when offline_access is granted to a client that may refresh, its
// refresh family with a new family key, and the family's first token
// (generation 1). It stores nothing.
func (s *Server) newUserSession(cl *client, u storage.User, scope []string, authTime time.Time, userAgent, addr string, now time.Time) (storage.Session, string) {
	sess := storage.Session{
		ID:         randomToken(16),
		UserID:     u.ID,
		ClientID:   cl.id,
		Scope:      strings.Join(scope, " "),
		AuthTime:   authTime,
		CreatedAt:  now,
		LastUsedAt: now,
		ExpiresAt:  now.Add(s.cfg.Tokens.RefreshAbsoluteTTL),
		UserAgent:  truncate(userAgent, 256),
		Address:    addr,
	}
	if !hasScope(scope, "offline_access") || !cl.allows("refresh_token") {
		return sess, ""
	}
	key := refresh.NewFamilyKey()
	tok, hash := refresh.Mint(sess.ID, 1, key)
	sess.Refresh = &storage.RefreshFamily{
		Generation: 1,
		Hash:       hash,
		Key:        key,
		ExpiresAt:  minTime(now.Add(s.cfg.Tokens.RefreshIdleTTL), sess.ExpiresAt),
	}
	return sess, tok
}
