package server

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/authd/authd/password"
	"github.com/authd/authd/refresh"
	"github.com/authd/authd/storage"
)

// handleToken is the token endpoint (RFC 6749 §3.2).
func (s *Server) handleToken(c echo.Context) error {
	form, err := readForm(c)
	if err != nil {
		return err
	}
	cl, err := s.clients.authenticate(c.Request(), form)
	if err != nil {
		return err
	}
	grant := form.Get("grant_type")
	if grant == "" {
		return oauthErr("invalid_request", "grant_type is required")
	}
	if !knownGrant(grant) {
		return oauthErr("unsupported_grant_type", "grant_type %q is not supported", grant)
	}
	if !cl.allows(grant) {
		return oauthErr("unauthorized_client", "this client may not use the %s grant", grant)
	}
	var resp tokenResponse
	switch grant {
	case "password":
		resp, err = s.grantPassword(c, cl, form)
	case "refresh_token":
		resp, err = s.grantRefresh(c.Request().Context(), cl, form)
	case "client_credentials":
		resp, err = s.grantClientCredentials(cl, form)
	case "authorization_code":
		resp, err = s.grantAuthorizationCode(c, cl, form)
	}
	if err != nil {
		return err
	}
	return writeToken(c, resp)
}

func knownGrant(g string) bool {
	switch g {
	case "password", "refresh_token", "client_credentials", "authorization_code":
		return true
	}
	return false
}

// writeToken sends a token response (RFC 6749 §5.1: no-store, no-cache).
func writeToken(c echo.Context, resp tokenResponse) error {
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	return c.JSON(http.StatusOK, resp)
}

// errStore is what a storage failure looks like to a client: a retryable
// 503, never a success and never a detail.
func errStore(err error) error {
	return &OAuthError{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable", Description: "the server could not complete the request; try again", RetryAfter: 1, Cause: err}
}

// errBusy answers a login that found no free password-hashing slot.
func errBusy(err error) error {
	return &OAuthError{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable", Description: "too many logins at once; try again shortly", RetryAfter: 1, Cause: err}
}

var errBadCredentials = oauthErr("invalid_grant", "invalid username or password")

// grantPassword is the resource owner password credentials grant (RFC 6749
// §4.3). Unknown user, wrong password and disabled user get the same
// answer after the same work.
func (s *Server) grantPassword(c echo.Context, cl *client, form url.Values) (tokenResponse, error) {
	username, pw := form.Get("username"), form.Get("password")
	if username == "" || pw == "" {
		return tokenResponse{}, oauthErr("invalid_request", "username and password are required")
	}
	scope, err := grantScope(form.Get("scope"), cl.scopes)
	if err != nil {
		return tokenResponse{}, err
	}
	u, err := s.authenticateUser(c.Request().Context(), username, pw, c.RealIP())
	if err != nil {
		return tokenResponse{}, err
	}
	return s.startSession(c.Request().Context(), "password", cl, u, scope, "", c.Request().UserAgent(), c.RealIP())
}

// authenticateUser checks a username and password. It returns
// errBadCredentials for an unknown user, a wrong password and a disabled
// user alike, after the same hashing work; the error of a full hashing
// queue (503) or of the store otherwise.
func (s *Server) authenticateUser(ctx context.Context, username, pw, addr string) (_ storage.User, err error) {
	// Throttling comes first: a waiting account or address is refused
	// before any lookup or hashing, with the right password too, so a lock
	// says nothing about the password or whether the account exists
	// (unknown usernames are counted and locked alike).
	acct, from := accountKey(username), addressKey(addr)
	now := s.now()
	if wait := s.loginThrottle.attempt(acct, now); wait > 0 {
		s.audit(ctx, "login.throttled", "address", addr)
		return storage.User{}, throttled(wait)
	}
	if wait := s.addrThrottle.attempt(from, now); wait > 0 {
		s.loginThrottle.undo(acct, now) // this attempt never ran
		s.audit(ctx, "login.throttled", "address", addr)
		return storage.User{}, throttled(wait)
	}
	// Both attempts are counted as failures already (see throttle.attempt);
	// a failure below only needs the audit line, a success takes them back.
	failed := func(reason, userID string) error {
		s.audit(ctx, "login.failed", "reason", reason, "user_id", userID, "address", addr)
		return errBadCredentials
	}
	defer func() {
		if err != nil && !errors.Is(err, errBadCredentials) {
			// Busy or a storage failure: the password was never judged.
			s.loginThrottle.undo(acct, now)
			s.addrThrottle.undo(from, now)
		}
	}()
	u, err := s.store.GetUserByUsername(ctx, username)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		err := s.hasher.VerifyDummy(ctx, pw)
		if errors.Is(err, password.ErrBusy) {
			return storage.User{}, errBusy(err)
		}
		return storage.User{}, failed("unknown_user", "")
	case err != nil:
		return storage.User{}, errStore(err)
	}
	ok, rehash, err := s.hasher.Verify(ctx, pw, u.PasswordHash)
	switch {
	case errors.Is(err, password.ErrBusy):
		return storage.User{}, errBusy(err)
	case errors.Is(err, password.ErrUnknownFormat):
		// An unreadable stored hash: log it for the operator, and spend
		// the usual work so the account does not stand out by timing.
		s.log.Error("stored password hash unreadable", "user_id", u.ID, "error", err)
		_ = s.hasher.VerifyDummy(ctx, pw)
	case err != nil && !errors.Is(err, password.ErrNoPassword) && !errors.Is(err, password.ErrTooLong):
		return storage.User{}, errStore(err)
	}
	if !ok || u.Disabled {
		reason := "wrong_password"
		if ok {
			reason = "disabled"
		}
		return storage.User{}, failed(reason, u.ID)
	}
	s.loginThrottle.succeed(acct)
	s.addrThrottle.undo(from, now)
	if rehash {
		u.PasswordHash = s.upgradeHash(ctx, u, pw)
	}
	return u, nil
}

// throttled is the answer to a login that must wait.
func throttled(wait time.Duration) error {
	return &OAuthError{Status: http.StatusTooManyRequests, Code: "too_many_requests",
		Description: "too many failed logins; try again later", RetryAfter: retrySeconds(wait)}
}

// upgradeHash re-hashes a password that verified against an old format or
// old parameters. Failure only delays the upgrade to the next login.
// It returns the hash the user has now as far as this login knows.
func (s *Server) upgradeHash(ctx context.Context, u storage.User, pw string) string {
	h, err := s.hasher.Hash(ctx, pw)
	if err != nil {
		s.log.Warn("password hash upgrade skipped", "user_id", u.ID, "error", err)
		return u.PasswordHash
	}
	replaced, err := s.store.UpgradePasswordHash(ctx, u.ID, u.PasswordHash, h, s.now())
	if err != nil {
		s.log.Warn("password hash upgrade failed", "user_id", u.ID, "error", err)
	}
	if replaced {
		return h
	}
	return u.PasswordHash
}

// confirmSession checks, once a new session is stored, that the user's
// password and status are still those this login checked. A reset,
// password change or disable that committed while the login was hashing
// ended every session of the user, but not this one, which did not exist
// yet: it is ended now, and the login fails as with a wrong password.
func (s *Server) confirmSession(ctx context.Context, u storage.User, sid string) error {
	cur, err := s.store.GetUser(ctx, u.ID)
	if err == nil && cur.PasswordHash == u.PasswordHash && !cur.Disabled {
		return nil
	}
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		err = errStore(err)
	} else {
		err = errBadCredentials
	}
	if eerr := s.endSession(ctx, sid, u.ID, "", "credentials_changed"); eerr != nil {
		return errStore(eerr)
	}
	return err
}

// startSession creates a session for a user who just authenticated, with a
// refresh-token family when offline_access is granted, and issues its
// tokens.
func (s *Server) startSession(ctx context.Context, grant string, cl *client, u storage.User, scope []string, nonce, userAgent, addr string) (tokenResponse, error) {
	now := s.now()
	sess, refreshToken := s.newUserSession(cl, u, scope, now, userAgent, addr, now)
	resp, err := s.issueTokens(tokenRequest{grant: grant, client: cl, user: &u, session: &sess, scope: scope, nonce: nonce, refresh: refreshToken, now: now, notAfter: sess.ExpiresAt})
	if err != nil {
		return tokenResponse{}, err
	}
	if err := s.store.CreateSession(ctx, sess); err != nil {
		return tokenResponse{}, errStore(err)
	}
	if err := s.confirmSession(ctx, u, sess.ID); err != nil {
		return tokenResponse{}, err
	}
	s.audit(ctx, "login.succeeded", "user_id", u.ID, "client_id", cl.id, "session_id", sess.ID, "address", addr)
	return resp, nil
}

// grantClientCredentials is the client credentials grant (RFC 6749 §4.4):
// for confidential clients only, no refresh token.
func (s *Server) grantClientCredentials(cl *client, form url.Values) (tokenResponse, error) {
	if cl.public {
		return tokenResponse{}, oauthErr("unauthorized_client", "a public client cannot use client_credentials")
	}
	scope, err := grantScope(form.Get("scope"), cl.scopes)
	if err != nil {
		return tokenResponse{}, err
	}
	return s.issueTokens(tokenRequest{grant: "client_credentials", client: cl, scope: scope, now: s.now()})
}

// presentedRefresh is a refresh token as a request presented it.
type presentedRefresh struct {
	raw string
	// legacy is a token of the format before refresh families had keys:
	// found by its hash, current or nothing.
	legacy bool
	parsed refresh.Parsed // when not legacy
	// hash is what the family stores for the token if it is current: the
	// hex SHA-256 of its random part (of the whole token, for legacy ones).
	hash string
}

// refreshStanding is where a presented refresh token stands in its family.
type refreshStanding int

const (
	// refreshInvalid: not a token of a live family of this server (malformed,
	// unknown, forged, a generation not yet reached, or its family ended).
	// It ends nothing.
	refreshInvalid refreshStanding = iota
	// refreshCurrent: the family's current token, which may rotate.
	refreshCurrent
	// refreshOlder: a genuine token of an earlier generation of a live
	// family, which only the server could have made: a retry within the
	// grace, or reuse.
	refreshOlder
)

// lookupRefresh finds the family (session) of a presented refresh token
// and where the token stands in it. A v2 token names its family; the tag
// proves it genuine, and the generation and hash place it (package
// refresh). Only a storage failure is an error.
func (s *Server) lookupRefresh(ctx context.Context, presented string) (presentedRefresh, storage.Session, storage.User, refreshStanding, error) {
	p := presentedRefresh{raw: presented}
	var sid string
	if parsed, err := refresh.Parse(presented); err == nil {
		p.parsed, p.hash, sid = parsed, parsed.Hash(), parsed.FamilyID
	} else if refresh.Legacy(presented) {
		p.legacy, p.hash = true, hashToken(presented)
		sid, err = s.store.LegacyRefreshSession(ctx, p.hash)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			return p, storage.Session{}, storage.User{}, refreshInvalid, nil
		case err != nil:
			return p, storage.Session{}, storage.User{}, refreshInvalid, err
		}
	} else {
		return p, storage.Session{}, storage.User{}, refreshInvalid, nil
	}
	sess, u, err := s.store.GetSessionAndUser(ctx, sid)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return p, storage.Session{}, storage.User{}, refreshInvalid, nil
	case err != nil:
		return p, storage.Session{}, storage.User{}, refreshInvalid, err
	}
	f := sess.Refresh
	sameHash := f != nil && subtle.ConstantTimeCompare([]byte(p.hash), []byte(f.Hash)) == 1
	switch {
	case f == nil:
		// No refresh tokens, or the family ended.
	case p.legacy:
		if f.Key == nil && f.Generation == 0 && sameHash {
			return p, sess, u, refreshCurrent, nil
		}
	case f.Key == nil || !p.parsed.Genuine(f.Key):
		// Forged, or of another family: whoever knows a session id (access
		// tokens carry it) must not be able to end its family.
	case p.parsed.Generation == f.Generation:
		// A genuine tag with another random part can only be the work of
		// someone holding the family key: invalid, like any forgery.
		if sameHash {
			return p, sess, u, refreshCurrent, nil
		}
	case p.parsed.Generation < f.Generation:
		return p, sess, u, refreshOlder, nil
	}
	return p, sess, u, refreshInvalid, nil
}

// grantRefresh is the refresh token grant (RFC 6749 §6) with rotation and
// reuse detection (RFC 9700 §4.14.2).
func (s *Server) grantRefresh(ctx context.Context, cl *client, form url.Values) (tokenResponse, error) {
	presented, requested := form.Get("refresh_token"), form.Get("scope")
	if presented == "" {
		return tokenResponse{}, oauthErr("invalid_request", "refresh_token is required")
	}
	invalid := oauthErr("invalid_grant", "the refresh token is invalid, expired or revoked")
	if len(presented) > 512 {
		return tokenResponse{}, invalid
	}
	now := s.now()
	// One read brings the family, its session and its user.
	p, sess, u, standing, err := s.lookupRefresh(ctx, presented)
	switch {
	case err != nil:
		return tokenResponse{}, errStore(err)
	case standing == refreshInvalid:
		return tokenResponse{}, invalid
	case sess.ClientID != cl.id:
		// The token is bound to the client it was issued to (RFC 6749
		// §6); another client's attempt ends nothing.
		return tokenResponse{}, invalid
	case standing == refreshOlder:
		return s.refreshOlder(ctx, p, sess, now)
	}
	f := sess.Refresh
	if !now.Before(f.ExpiresAt) || !sess.EndedAt.IsZero() || !now.Before(sess.ExpiresAt) || u.Disabled {
		return tokenResponse{}, invalid
	}
	// The scope may narrow, never widen (RFC 6749 §6). The family keeps
	// the scope first granted, so a later refresh can ask for all of it
	// again.
	scope, err := grantScope(requested, scopeList(sess.Scope))
	if err != nil {
		return tokenResponse{}, err
	}

	key, newKey := f.Key, []byte(nil)
	if p.legacy {
		// The family leaves the legacy format with its first rotation.
		key = refresh.NewFamilyKey()
		newKey = key
	}
	next, nextHash := refresh.Mint(sess.ID, f.Generation+1, key)
	resp, err := s.issueTokens(tokenRequest{grant: "refresh_token", client: cl, user: &u, session: &sess, scope: scope, refresh: next, now: now, notAfter: sess.ExpiresAt, noIDToken: true})
	if err != nil {
		return tokenResponse{}, err
	}
	var replay []byte
	grace := s.cfg.Tokens.RefreshReuseGrace
	if grace > 0 {
		body, err := json.Marshal(resp)
		if err != nil {
			return tokenResponse{}, err
		}
		if replay, err = seal(replayKey(presented), body, []byte(p.hash)); err != nil {
			return tokenResponse{}, err
		}
	}
	err = s.store.RotateRefresh(ctx, sess.ID, f.Generation, storage.RefreshRotation{
		Hash:        nextHash,
		Key:         newKey,
		ExpiresAt:   minTime(now.Add(s.cfg.Tokens.RefreshIdleTTL), sess.ExpiresAt),
		Replay:      replay,
		ReplayUntil: now.Add(grace),
	}, now)
	switch {
	case errors.Is(err, storage.ErrSpent):
		// Another request rotated this generation first: this one is a
		// retry or a replay. Decide from what the winner stored.
		p, sess, _, standing, err := s.lookupRefresh(ctx, presented)
		switch {
		case err != nil:
			return tokenResponse{}, errStore(err)
		case standing != refreshOlder:
			return tokenResponse{}, invalid
		}
		return s.refreshOlder(ctx, p, sess, now)
	case errors.Is(err, storage.ErrNotFound):
		return tokenResponse{}, invalid // the session ended meanwhile
	case err != nil:
		return tokenResponse{}, errStore(err)
	}
	return resp, nil
}

// refreshOlder answers a genuine token of an earlier generation presented
// by its own client. If it is the generation the family's last rotation
// spent, within the grace period after it, it is an idempotent retry (a
// response lost on the network): the very same tokens are sent again and
// the family lives on. Otherwise it is reuse, the mark of a stolen token
// (RFC 9700 §4.14.2): the whole family (the session) ends, and that commits
// although the request fails.
func (s *Server) refreshOlder(ctx context.Context, p presentedRefresh, sess storage.Session, now time.Time) (tokenResponse, error) {
	f := sess.Refresh
	grace := s.cfg.Tokens.RefreshReuseGrace
	if grace > 0 && f.Replay != nil && f.ReplayGeneration == p.parsed.Generation && now.Before(f.ReplayUntil) {
		// The replay opens only with a key derived from the very token the
		// rotation spent, which the database does not hold.
		if body, err := open(replayKey(p.raw), f.Replay, []byte(p.hash)); err == nil {
			var resp tokenResponse
			if err := json.Unmarshal(body, &resp); err == nil {
				return resp, nil
			}
		}
		// A replay that does not open cannot come from the holder of the
		// token; treat it as reuse.
	}
	if err := s.store.EndSession(ctx, sess.ID, now); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return tokenResponse{}, errStore(fmt.Errorf("revoking reused family: %w", err))
	}
	s.revoked.endSessions(now, sess.ID)
	s.audit(ctx, "refresh.reuse_detected", "user_id", sess.UserID, "client_id", sess.ClientID, "session_id", sess.ID,
		"generation", p.parsed.Generation, "current_generation", f.Generation)
	s.audit(ctx, "session.revoked", "user_id", sess.UserID, "client_id", sess.ClientID, "session_id", sess.ID, "reason", "refresh_reuse")
	return tokenResponse{}, oauthErr("invalid_grant", "the refresh token was already used; its session has been revoked")
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
