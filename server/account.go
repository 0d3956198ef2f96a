package server

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/authd/authd/mail"
	"github.com/authd/authd/password"
	"github.com/authd/authd/users"
	"github.com/authd/authd/storage"
)

// The account service: every rule about registering, changing and
// recovering accounts lives here, and the JSON API, the Django-era paths
// and the web pages all call it. Its errors are *AccountError (with field
// problems for validation), or the *OAuthError of a throttled or busy
// login.

// One-time token lifetimes (SPEC.md Mail).
const (
	resetTTL  = time.Hour
	verifyTTL = 48 * time.Hour
)

// registration is what a new account is made of.
type registration struct {
	Username  string
	Password  string
	Email     string
	FirstName string
	LastName  string
}

// profilePatch changes a user's profile; nil fields stay as they are. It
// is the only way a client changes a user: disabled, id and
// email_verified are not in it.
type profilePatch struct {
	Username  *string
	Email     *string
	FirstName *string
	LastName  *string
	// CurrentPassword is required when Email changes: whoever holds a
	// stolen access token or cookie must not be able to move the account
	// to an address they read, then reset its password from there.
	CurrentPassword string
}

func invalidFields(fields map[string]string) *AccountError {
	return &AccountError{Status: http.StatusBadRequest, Code: "invalid_request", Description: "some fields are invalid", Fields: fields}
}

func accountErr(status int, code, desc string) *AccountError {
	return &AccountError{Status: status, Code: code, Description: desc}
}

func errTooMany(wait time.Duration, what string) *AccountError {
	return &AccountError{Status: http.StatusTooManyRequests, Code: "too_many_requests", Description: "too many " + what + "; try again later", RetryAfter: retrySeconds(wait)}
}

// fieldMessage is what a client is told about a rejected value (never the
// value itself).
func fieldMessage(err error) string {
	var fe *users.FieldError
	if errors.As(err, &fe) {
		return fe.Message()
	}
	return "is invalid"
}

// checkNewPassword applies the rules for a new password: length in
// characters, no control characters, not the username or email, not on
// the common-password list (NIST SP 800-63B §5.1.1.2: no composition
// rules).
func (s *Server) checkNewPassword(pw string, attrs ...string) string {
	if strings.ContainsFunc(pw, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "must not contain control characters"
	}
	switch err := s.hasher.Validate(pw, attrs...); {
	case err == nil:
		return ""
	case errors.Is(err, password.ErrTooShort):
		return fmt.Sprintf("must be at least %d characters", s.hasher.MinLength())
	case errors.Is(err, password.ErrTooLong):
		return fmt.Sprintf("must be at most %d characters", s.hasher.MaxLength())
	case errors.Is(err, password.ErrSimilar):
		return "is too similar to the username or email"
	case errors.Is(err, password.ErrCommon):
		return "is too common"
	default:
		return "is not a valid password"
	}
}

// register creates an account and, when it has an email, mails a
// verification link.
func (s *Server) register(ctx context.Context, in registration, addr string) (storage.User, error) {
	if ok, wait := s.registerLimit.allow(addr, s.now()); !ok {
		return storage.User{}, errTooMany(wait, "registrations from this address")
	}
	fields := map[string]string{}
	name, err := users.NormalizeUsername(in.Username)
	if err != nil {
		fields["username"] = fieldMessage(err)
	}
	email, err := users.NormalizeEmail(in.Email)
	if err != nil {
		fields["email"] = fieldMessage(err)
	}
	first, err := users.NormalizeName("first_name", in.FirstName)
	if err != nil {
		fields["first_name"] = fieldMessage(err)
	}
	last, err := users.NormalizeName("last_name", in.LastName)
	if err != nil {
		fields["last_name"] = fieldMessage(err)
	}
	if msg := s.checkNewPassword(in.Password, in.Username, in.Email); msg != "" {
		fields["password"] = msg
	}
	if len(fields) > 0 {
		return storage.User{}, invalidFields(fields)
	}
	hash, err := s.hasher.Hash(ctx, in.Password)
	if err != nil {
		if errors.Is(err, password.ErrBusy) {
			return storage.User{}, errBusy(err)
		}
		return storage.User{}, err
	}
	now := s.now()
	u := storage.User{
		ID: users.NewID(), Username: name, Email: email, PasswordHash: hash,
		FirstName: first, LastName: last, CreatedAt: now, UpdatedAt: now,
	}
	if err := s.store.CreateUser(ctx, u); err != nil {
		if errors.Is(err, storage.ErrAlreadyExists) {
			return storage.User{}, s.takenError(ctx, name, email)
		}
		return storage.User{}, errStore(err)
	}
	s.audit(ctx, "user.registered", "user_id", u.ID, "address", addr)
	if email != "" {
		s.sendVerification(ctx, u)
	}
	return u, nil
}

// takenError says which unique value of a user is taken: 409 with the
// field. (Registration necessarily reveals that a username or email is in
// use; the per-address limit bounds how fast anyone can ask.)
func (s *Server) takenError(ctx context.Context, username, email string) error {
	fields := map[string]string{}
	if _, err := s.store.GetUserByUsername(ctx, username); err == nil {
		fields["username"] = "is already taken"
	}
	if email != "" {
		if _, err := s.store.GetUserByEmail(ctx, email); err == nil {
			fields["email"] = "is already registered"
		}
	}
	if len(fields) == 0 {
		fields["username"] = "is already taken"
	}
	return &AccountError{Status: http.StatusConflict, Code: "conflict", Description: "an account with these details exists", Fields: fields}
}

// sendVerification mails a link that verifies the user's current email.
// Failures are logged; the request that triggered it succeeds anyway.
func (s *Server) sendVerification(ctx context.Context, u storage.User) {
	tok := randomToken(32)
	now := s.now()
	err := s.store.CreateOneTimeToken(ctx, storage.OneTimeToken{
		Hash: hashToken(tok), Purpose: storage.PurposeVerifyEmail, UserID: u.ID, Email: u.Email,
		CreatedAt: now, ExpiresAt: now.Add(verifyTTL),
	})
	if err != nil {
		s.log.Error("verification token not stored", "user_id", u.ID, "error", err)
		return
	}
	link := s.cfg.Issuer + "/email/verify?" + url.Values{"token": {tok}}.Encode()
	if err := s.mailer.Send(ctx, mail.EmailVerification, u.Email, mail.Data{Link: link, ValidFor: verifyTTL, Name: u.FirstName}); err != nil {
		s.log.Error("verification mail not queued", "user_id", u.ID, "error", err)
	}
}

// uidOf is the uid of reset links and of the Django-era confirm endpoint
// (django-rest-auth sends urlsafe_base64(pk)); authd's token alone decides,
// the uid must only match it.
func uidOf(userID string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(userID))
}

// requestPasswordReset mails a reset link to the account with this email,
// if there is one. The caller answers the same whatever happens (no
// enumeration): the lookup and the mail run in the background, so not
// even the timing depends on the email being known.
func (s *Server) requestPasswordReset(ctx context.Context, email, addr string) error {
	if ok, wait := s.resetLimit.allow(addr, s.now()); !ok {
		return errTooMany(wait, "password reset requests from this address")
	}
	norm, err := users.NormalizeEmail(email)
	if err != nil || norm == "" {
		return invalidFields(map[string]string{"email": "must be a valid email address"})
	}
	select {
	case s.resets <- resetRequest{ctx: context.WithoutCancel(ctx), email: norm, addr: addr}:
	default:
		s.log.Warn("password reset dropped: queue full", "address", addr)
	}
	return nil
}

// resetRequest is a reset request waiting for the background worker.
type resetRequest struct {
	ctx   context.Context
	email string
	addr  string
}

// processReset looks the account up and mails the link.
func (s *Server) processReset(r resetRequest) {
	ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
	defer cancel()
	u, err := s.store.GetUserByEmail(ctx, r.email)
	if errors.Is(err, storage.ErrNotFound) {
		s.audit(ctx, "password.reset_requested", "known", false, "address", r.addr)
		return
	}
	if err != nil {
		s.log.Error("password reset lookup failed", "error", err)
		return
	}
	if u.Disabled {
		s.audit(ctx, "password.reset_requested", "user_id", u.ID, "sent", false, "reason", "disabled", "address", r.addr)
		return
	}
	now := s.now()
	n, err := s.store.CountOneTimeTokens(ctx, u.ID, storage.PurposeReset, now.Add(-time.Hour))
	if err != nil {
		s.log.Error("password reset count failed", "user_id", u.ID, "error", err)
		return
	}
	if n >= s.cfg.Throttle.ResetMailsPerHour {
		s.audit(ctx, "password.reset_requested", "user_id", u.ID, "sent", false, "reason", "rate_limited", "address", r.addr)
		return
	}
	tok := randomToken(32)
	err = s.store.CreateOneTimeToken(ctx, storage.OneTimeToken{
		Hash: hashToken(tok), Purpose: storage.PurposeReset, UserID: u.ID, Email: u.Email,
		CreatedAt: now, ExpiresAt: now.Add(resetTTL),
	})
	if err != nil {
		s.log.Error("reset token not stored", "user_id", u.ID, "error", err)
		return
	}
	// The link is built from the configured issuer, never from the
	// request's Host header, which an attacker controls (password-reset
	// poisoning).
	link := s.cfg.Issuer + "/password/reset?" + url.Values{"uid": {uidOf(u.ID)}, "token": {tok}}.Encode()
	if err := s.mailer.Send(ctx, mail.PasswordReset, u.Email, mail.Data{Link: link, ValidFor: resetTTL, Name: u.FirstName}); err != nil {
		s.log.Error("reset mail not queued", "user_id", u.ID, "error", err)
		return
	}
	s.audit(ctx, "password.reset_requested", "user_id", u.ID, "sent", true, "address", r.addr)
}

var errBadResetToken = &AccountError{Status: http.StatusBadRequest, Code: "invalid_token", Description: "the reset link is invalid, used or expired",
	Fields: map[string]string{"token": "is invalid, used or expired"}}

// confirmPasswordReset sets a new password with a reset token and ends
// every session of the user. It does not log the user in.
func (s *Server) confirmPasswordReset(ctx context.Context, token, newPw string) error {
	if token == "" || len(token) > 512 {
		return errBadResetToken
	}
	// The rules that need the user (similarity) cannot run before the token
	// is spent; the rest run first so a weak password does not burn a link.
	if msg := s.checkNewPassword(newPw); msg != "" {
		return invalidFields(map[string]string{"new_password": msg})
	}
	hash, err := s.hasher.Hash(ctx, newPw)
	if err != nil {
		if errors.Is(err, password.ErrBusy) {
			return errBusy(err)
		}
		return err
	}
	u, ended, err := s.store.ResetPassword(ctx, hashToken(token), hash, s.now())
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return errBadResetToken
	case err != nil:
		return errStore(err)
	}
	s.endedSessions(ctx, u.ID, "password_reset", ended, s.now())
	s.loginThrottle.succeed(accountKey(u.Username)) // a reset lifts a lock
	s.audit(ctx, "password.reset", "user_id", u.ID)
	return nil
}

// verifyEmail marks the address a verification token was sent to as
// verified.
func (s *Server) verifyEmail(ctx context.Context, token string) error {
	bad := &AccountError{Status: http.StatusBadRequest, Code: "invalid_token", Description: "the verification link is invalid, used or expired",
		Fields: map[string]string{"token": "is invalid, used or expired"}}
	if token == "" || len(token) > 512 {
		return bad
	}
	u, err := s.store.VerifyEmail(ctx, hashToken(token), s.now())
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return bad
	case err != nil:
		return errStore(err)
	}
	s.audit(ctx, "email.verified", "user_id", u.ID)
	return nil
}

// changePassword sets a new password for a signed-in user who knows the
// current one, and ends every other session (keepSession stays).
func (s *Server) changePassword(ctx context.Context, u storage.User, keepSession, oldPw, newPw string) error {
	if err := s.checkCurrentPassword(ctx, u, oldPw); err != nil {
		var ae *AccountError
		if errors.As(err, &ae) && ae.Fields["current_password"] != "" {
			return invalidFields(map[string]string{"old_password": "is incorrect"})
		}
		return err
	}
	if msg := s.checkNewPassword(newPw, u.Username, u.Email); msg != "" {
		return invalidFields(map[string]string{"new_password": msg})
	}
	hash, err := s.hasher.Hash(ctx, newPw)
	if err != nil {
		if errors.Is(err, password.ErrBusy) {
			return errBusy(err)
		}
		return err
	}
	now := s.now()
	// Conditional on the hash just verified and on the caller's session:
	// a change racing a reset (which ends that session) loses.
	ended, err := s.store.ChangePassword(ctx, u.ID, u.PasswordHash, hash, keepSession, now)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return invalidFields(map[string]string{"old_password": "is no longer current: the password or the session changed meanwhile"})
	case err != nil:
		return errStore(err)
	}
	s.endedSessions(ctx, u.ID, "password_changed", ended, now)
	s.audit(ctx, "password.changed", "user_id", u.ID, "session_id", keepSession)
	return nil
}

// updateProfile applies a patch. A new email is unverified and gets a
// verification mail.
func (s *Server) updateProfile(ctx context.Context, userID string, p profilePatch) (storage.User, error) {
	fields := map[string]string{}
	norm := func(field string, v *string, f func(string) (string, error)) {
		if v == nil {
			return
		}
		n, err := f(*v)
		if err != nil {
			fields[field] = fieldMessage(err)
			return
		}
		*v = n
	}
	norm("username", p.Username, users.NormalizeUsername)
	norm("email", p.Email, users.NormalizeEmail)
	norm("first_name", p.FirstName, func(v string) (string, error) { return users.NormalizeName("first_name", v) })
	norm("last_name", p.LastName, func(v string) (string, error) { return users.NormalizeName("last_name", v) })
	if len(fields) > 0 {
		return storage.User{}, invalidFields(fields)
	}
	cur, err := s.store.GetUser(ctx, userID)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return storage.User{}, accountErr(http.StatusNotFound, "not_found", "no such user")
	case err != nil:
		return storage.User{}, errStore(err)
	}
	newEmail := p.Email != nil && storage.EmailKey(*p.Email) != storage.EmailKey(cur.Email)
	newName := p.Username != nil && storage.UsernameKey(*p.Username) != storage.UsernameKey(cur.Username)
	if newEmail || newName {
		// Changing a unique value answers whether it is taken: bounded per
		// user like registration is per address.
		if ok, wait := s.registerLimit.allow("profile:"+userID, s.now()); !ok {
			return storage.User{}, errTooMany(wait, "changes of username or email")
		}
	}
	if newEmail {
		if err := s.checkCurrentPassword(ctx, cur, p.CurrentPassword); err != nil {
			return storage.User{}, err
		}
	}
	emailChanged := false
	u, err := s.store.UpdateUser(ctx, userID, s.now(), func(u *storage.User) error {
		if p.Username != nil {
			u.Username = *p.Username
		}
		if p.Email != nil && storage.EmailKey(*p.Email) != storage.EmailKey(u.Email) {
			u.Email, u.EmailVerified, emailChanged = *p.Email, false, true
		}
		if p.FirstName != nil {
			u.FirstName = *p.FirstName
		}
		if p.LastName != nil {
			u.LastName = *p.LastName
		}
		return nil
	})
	switch {
	case errors.Is(err, storage.ErrAlreadyExists):
		var name, email string
		if p.Username != nil {
			name = *p.Username
		}
		if p.Email != nil {
			email = *p.Email
		}
		return storage.User{}, s.takenError(ctx, name, email)
	case errors.Is(err, storage.ErrNotFound):
		return storage.User{}, accountErr(http.StatusNotFound, "not_found", "no such user")
	case err != nil:
		return storage.User{}, errStore(err)
	}
	if emailChanged {
		s.audit(ctx, "email.changed", "user_id", u.ID)
		if u.Email != "" {
			s.sendVerification(ctx, u)
		}
	}
	return u, nil
}

// checkCurrentPassword re-authenticates a signed-in user before a
// sensitive change; wrong guesses count against the account's login
// throttle.
func (s *Server) checkCurrentPassword(ctx context.Context, u storage.User, pw string) error {
	if pw == "" {
		return invalidFields(map[string]string{"current_password": "is required to change the email address"})
	}
	key := accountKey(u.Username)
	if wait := s.loginThrottle.attempt(key, s.now()); wait > 0 {
		return errTooMany(wait, "failed attempts")
	}
	ok, _, err := s.hasher.Verify(ctx, pw, u.PasswordHash)
	if errors.Is(err, password.ErrBusy) {
		s.loginThrottle.undo(key, s.now())
		return errBusy(err)
	}
	if !ok {
		return invalidFields(map[string]string{"current_password": "is incorrect"})
	}
	s.loginThrottle.succeed(key)
	return nil
}

// listSessions lists a user's live sessions.
func (s *Server) listSessions(ctx context.Context, userID string) ([]storage.Session, error) {
	list, err := s.store.ListSessions(ctx, userID, s.now())
	if err != nil {
		return nil, errStore(err)
	}
	return list, nil
}

// endOwnSession ends one of the user's sessions; another user's session is
// "not found", exactly like one that does not exist.
func (s *Server) endOwnSession(ctx context.Context, userID, sid string) error {
	sess, err := s.store.GetSession(ctx, sid)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && (sess.UserID != userID || !sess.EndedAt.IsZero())) {
		return accountErr(http.StatusNotFound, "not_found", "no such session")
	}
	if err != nil {
		return errStore(err)
	}
	if err := s.endSession(ctx, sid, userID, sess.ClientID, "signed_out"); err != nil {
		return errStore(err)
	}
	return nil
}

// currentUser loads the user of a verified access token; a user deleted or
// disabled since is an invalid token.
func (s *Server) currentUser(ctx context.Context, ac accessClaims) (storage.User, error) {
	if ac.SessionID == "" {
		return storage.User{}, invalidToken("the access token does not belong to a user")
	}
	u, err := s.store.GetUser(ctx, ac.Subject)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return storage.User{}, invalidToken("the access token was revoked")
	case err != nil:
		return storage.User{}, errStore(err)
	}
	if u.Disabled {
		return storage.User{}, invalidToken("the access token was revoked")
	}
	return u, nil
}

// accountKey is the throttling key of a username (unknown names too).
func accountKey(username string) string { return "u:" + storage.UsernameKey(username) }
