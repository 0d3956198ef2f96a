package account

import (
	"context"
	"encoding/base64"
	"errors"
	"net/url"
	"time"

	"github.com/authd/authd/errs"
	"github.com/authd/authd/mail"
	"github.com/authd/authd/storage"
	"github.com/authd/authd/throttle"
	"github.com/authd/authd/token"
)

// ChangePassword sets a new password for a signed-in user who knows the
// current one, and ends every other session (keepSession stays).
func (s *Service) ChangePassword(ctx context.Context, u storage.User, keepSession, oldPw, newPw string) error {
	if err := s.checkCurrentPassword(ctx, u, oldPw, "change the password"); err != nil {
		if e, ok := errs.As(err); ok && e.Fields["current_password"] != "" {
			out := errs.Field("old_password", e.Fields["current_password"])
			out.FieldCodes = map[string]string{"old_password": e.FieldCodes["current_password"]}
			return out
		}
		return err
	}
	err := s.setOwnPassword(ctx, u, keepSession, newPw)
	if errors.Is(err, storage.ErrNotFound) {
		return errs.Field("old_password", "is no longer current: the password or the session changed meanwhile")
	}
	if err == nil {
		s.audit.Event(ctx, "password.changed", "user_id", u.ID, "session_id", keepSession)
	}
	return err
}

// ChangePasswordWithoutOld sets a new password for a signed-in user
// without the current one, as django-rest-auth does by default
// (OLD_PASSWORD_FIELD_ENABLED = False): whoever holds the session's token
// can set it, so a stolen token can take the account over for good. Only
// the Django-era paths call it, and only when configured to. The policy,
// the end of every other session and the audit event (which says the old
// password was not asked for) are ChangePassword's.
func (s *Service) ChangePasswordWithoutOld(ctx context.Context, u storage.User, keepSession, newPw string) error {
	err := s.setOwnPassword(ctx, u, keepSession, newPw)
	if errors.Is(err, storage.ErrNotFound) {
		// The password changed or the session ended since the token was
		// checked; either way the session is over.
		return errs.InvalidToken(errs.ReasonTokenRevoked, "the session ended meanwhile")
	}
	if err == nil {
		s.audit.Event(ctx, "password.changed", "user_id", u.ID, "session_id", keepSession, "old_password_asked", false)
	}
	return err
}

// setOwnPassword applies the policy to a user's new password and stores
// it, on condition that the user's hash and the session keepSession are
// still current (storage.ErrNotFound when not), ending every other
// session.
func (s *Service) setOwnPassword(ctx context.Context, u storage.User, keepSession, newPw string) error {
	if msg := s.CheckNewPassword(newPw, u.Username, u.Email); msg != "" {
		e := errs.Field("new_password", msg)
		e.FieldCodes = map[string]string{"new_password": s.PasswordCode(newPw, u.Username, u.Email)}
		return e
	}
	hash, err := s.hash(ctx, newPw)
	if err != nil {
		return err
	}
	now := s.now()
	// Conditional on the hash the caller saw and on the caller's session:
	// a change racing a reset (which ends that session) loses.
	ended, err := s.store.ChangePassword(ctx, u.ID, u.PasswordHash, hash, keepSession, now)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return err
	case err != nil:
		return errs.Storage(err)
	}
	s.sessions.Ended(ctx, u.ID, "password_changed", ended, now)
	return nil
}

// SetPassword sets a user's password for an operator (by names who), with
// the whole password policy, and ends every session of the user.
func (s *Service) SetPassword(ctx context.Context, u storage.User, newPw, by string) error {
	if msg := s.CheckNewPassword(newPw, u.Username, u.Email); msg != "" {
		return errs.Field("password", msg)
	}
	hash, err := s.hash(ctx, newPw)
	if err != nil {
		return err
	}
	now := s.now()
	ended, err := s.store.SetPassword(ctx, u.ID, hash, "", now)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return errs.New(errs.NotFound, "not_found", "no such user")
	case err != nil:
		return errs.Storage(err)
	}
	s.sessions.Ended(ctx, u.ID, "password_set", ended, now)
	s.limits.Accounts.Succeed(ctx, throttle.AccountKey(u.Username))
	s.audit.Event(ctx, "password.changed", "user_id", u.ID, "by", by)
	return nil
}

// SetDisabled disables or enables a user for an operator (by names who).
// Disabling ends every session of the user.
func (s *Service) SetDisabled(ctx context.Context, u storage.User, disabled bool, by string) error {
	now := s.now()
	ended, err := s.store.SetDisabled(ctx, u.ID, disabled, now)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return errs.New(errs.NotFound, "not_found", "no such user")
	case err != nil:
		return errs.Storage(err)
	}
	event := "user.enabled"
	if disabled {
		event = "user.disabled"
		s.sessions.Ended(ctx, u.ID, "user_disabled", ended, now)
	}
	s.audit.Event(ctx, event, "user_id", u.ID, "by", by)
	return nil
}

// UID is the uid of reset links and of the Django-era confirm endpoint
// (django-rest-auth sends urlsafe_base64(pk)); authd's token alone decides,
// the uid must only match it.
func UID(userID string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(userID))
}

// RequestReset mails a reset link to the account with this email, if there
// is one. The caller answers the same whatever happens (no enumeration): the
// lookup and the mail run in the background (RunMail), so not even the
// timing depends on the email being known.
func (s *Service) RequestReset(ctx context.Context, email, addr string) error {
	if ok, wait := s.limits.ResetRequests.Allow(ctx, throttle.AddressKey(addr), s.now()); !ok {
		return errs.TooManyRequests(wait, "password reset requests from this address")
	}
	norm, err := normalizeResetEmail(email)
	if err != nil {
		return err
	}
	select {
	case s.resets <- resetRequest{ctx: context.WithoutCancel(ctx), email: norm, addr: addr}:
	default:
		s.log.Warn("password reset dropped: queue full", "address", addr)
	}
	return nil
}

// resetRequest is a reset request, or a request for a new verification
// mail (verify), waiting for the mail worker.
type resetRequest struct {
	ctx    context.Context
	email  string
	addr   string
	verify bool
}

// RunMail sends the reset mails that RequestReset queued, until ctx is
// done. It runs apart from every other background task, so a slow mail
// server delays nothing else.
func (s *Service) RunMail(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case r := <-s.resets:
			if r.verify {
				s.processResend(r)
			} else {
				s.processReset(r)
			}
		}
	}
}

// processReset looks the account up and mails the link.
func (s *Service) processReset(r resetRequest) {
	ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
	defer cancel()
	u, err := s.store.GetUserByEmail(ctx, r.email)
	if errors.Is(err, storage.ErrNotFound) {
		s.audit.Event(ctx, "password.reset_requested", "known", false, "address", r.addr)
		return
	}
	if err != nil {
		s.log.Error("password reset lookup failed", "error", err)
		return
	}
	if u.Disabled {
		s.audit.Event(ctx, "password.reset_requested", "user_id", u.ID, "sent", false, "reason", "disabled", "address", r.addr)
		return
	}
	now := s.now()
	n, err := s.store.CountOneTimeTokens(ctx, u.ID, storage.PurposeReset, now.Add(-time.Hour))
	if err != nil {
		s.log.Error("password reset count failed", "user_id", u.ID, "error", err)
		return
	}
	if n >= s.mailCap {
		s.audit.Event(ctx, "password.reset_requested", "user_id", u.ID, "sent", false, "reason", "rate_limited", "address", r.addr)
		return
	}
	tok := token.Random(32)
	err = s.store.CreateOneTimeToken(ctx, storage.OneTimeToken{
		Hash: token.Hash(tok), Purpose: storage.PurposeReset, UserID: u.ID, Email: u.Email,
		CreatedAt: now, ExpiresAt: now.Add(ResetTTL),
	})
	if err != nil {
		s.log.Error("reset token not stored", "user_id", u.ID, "error", err)
		return
	}
	// The link is built from the configured issuer, never from the
	// request's Host header, which an attacker controls (password-reset
	// poisoning).
	link := s.issuer + "/password/reset?" + url.Values{"uid": {UID(u.ID)}, "token": {tok}}.Encode()
	// The name greets only the owner of a proven address (mail.Data).
	data := mail.Data{Link: link, ValidFor: ResetTTL, Name: u.FirstName, Verified: u.EmailVerified}
	if s.mailer == nil {
		return
	}
	if err := s.mailer.Send(ctx, mail.PasswordReset, u.Email, data); err != nil {
		s.log.Error("reset mail not queued", "user_id", u.ID, "error", err)
		return
	}
	s.audit.Event(ctx, "password.reset_requested", "user_id", u.ID, "sent", true, "address", r.addr)
}

// ErrBadResetLink answers a reset token that is invalid, used or expired.
var ErrBadResetLink = &errs.Error{Kind: errs.Invalid, Code: "invalid_token", Description: "the reset link is invalid, used or expired",
	Fields: map[string]string{"token": "is invalid, used or expired"}, Reason: errs.ReasonBadLink}

// ConfirmReset sets a new password with a reset token from addr and ends
// every session of the user. It does not log the user in.
func (s *Service) ConfirmReset(ctx context.Context, tok, newPw, addr string) error {
	if tok == "" || len(tok) > token.MaxOpaqueLen {
		return ErrBadResetLink
	}
	// Each confirmation costs a password hash: bounded per address, so one
	// address cannot keep every hashing slot busy.
	if ok, wait := s.limits.ResetConfirms.Allow(ctx, throttle.AddressKey(addr), s.now()); !ok {
		return errs.TooManyRequests(wait, "password reset attempts from this address")
	}
	// The rules that need the user (similarity) cannot run before the token
	// is spent; the rest run first so a weak password does not burn a link.
	if msg := s.CheckNewPassword(newPw); msg != "" {
		e := errs.Field("new_password", msg)
		e.FieldCodes = map[string]string{"new_password": s.PasswordCode(newPw)}
		return e
	}
	// The token is looked at before the password is hashed, so a flood of
	// made-up tokens costs no hashing.
	ott, err := s.store.GetOneTimeToken(ctx, token.Hash(tok), storage.PurposeReset, s.now())
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return ErrBadResetLink
		}
		return errs.Storage(err)
	}
	// A disabled account is sent no reset link, and the links it was sent
	// before stop working: a reset must not hand the account to whoever
	// holds an old mail for when it is enabled again. (A disable that
	// commits after this check is ordered after the reset, like any other.)
	owner, err := s.store.GetUser(ctx, ott.UserID)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return ErrBadResetLink
	case err != nil:
		return errs.Storage(err)
	}
	if owner.Disabled {
		return ErrBadResetLink
	}
	hash, err := s.hash(ctx, newPw)
	if err != nil {
		return err
	}
	u, ended, err := s.store.ResetPassword(ctx, token.Hash(tok), hash, s.now())
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return ErrBadResetLink
	case err != nil:
		return errs.Storage(err)
	}
	s.sessions.Ended(ctx, u.ID, "password_reset", ended, s.now())
	s.limits.Accounts.Succeed(ctx, throttle.AccountKey(u.Username)) // a reset lifts a lock
	s.audit.Event(ctx, "password.reset", "user_id", u.ID)
	return nil
}

// ErrBadVerifyLink answers a verification token that is invalid, used or
// expired.
var ErrBadVerifyLink = &errs.Error{Kind: errs.Invalid, Code: "invalid_token", Description: "the verification link is invalid, used or expired",
	Fields: map[string]string{"token": "is invalid, used or expired"}, Reason: errs.ReasonBadLink}

// VerifyEmail marks the address a verification token was sent to as
// verified.
func (s *Service) VerifyEmail(ctx context.Context, tok string) error {
	if tok == "" || len(tok) > token.MaxOpaqueLen {
		return ErrBadVerifyLink
	}
	u, err := s.store.VerifyEmail(ctx, token.Hash(tok), s.now())
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return ErrBadVerifyLink
	case err != nil:
		return errs.Storage(err)
	}
	s.audit.Event(ctx, "email.verified", "user_id", u.ID)
	return nil
}

// ResendVerification mails a new verification link for the user's current
// email, unless it is verified already or there is none. It is limited like
// reset mails.
func (s *Service) ResendVerification(ctx context.Context, u storage.User) error {
	if u.Email == "" || u.EmailVerified {
		return nil
	}
	now := s.now()
	n, err := s.store.CountOneTimeTokens(ctx, u.ID, storage.PurposeVerifyEmail, now.Add(-time.Hour))
	if err != nil {
		return errs.Storage(err)
	}
	if n >= s.mailCap {
		return errs.TooManyRequests(time.Hour, "verification mails")
	}
	s.sendVerification(ctx, u)
	return nil
}

// ResendVerificationTo mails a new verification link to the account whose
// email this is, if there is one and it is not verified yet, for a request
// from addr. The caller answers the same whatever happens (no
// enumeration): like RequestReset, whose per-address limit it shares, it
// only queues the request, and the lookup and the mail (capped per account
// like ResendVerification) run in the background (RunMail).
func (s *Service) ResendVerificationTo(ctx context.Context, email, addr string) error {
	if ok, wait := s.limits.ResetRequests.Allow(ctx, throttle.AddressKey(addr), s.now()); !ok {
		return errs.TooManyRequests(wait, "verification mail requests from this address")
	}
	norm, err := normalizeResetEmail(email)
	if err != nil {
		return err
	}
	select {
	case s.resets <- resetRequest{ctx: context.WithoutCancel(ctx), email: norm, addr: addr, verify: true}:
	default:
		s.log.Warn("verification mail request dropped: queue full", "address", addr)
	}
	return nil
}

// processResend looks the account up and mails a new verification link.
func (s *Service) processResend(r resetRequest) {
	ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
	defer cancel()
	u, err := s.store.GetUserByEmail(ctx, r.email)
	if errors.Is(err, storage.ErrNotFound) {
		s.audit.Event(ctx, "email.verification_requested", "known", false, "address", r.addr)
		return
	}
	if err != nil {
		s.log.Error("verification mail lookup failed", "error", err)
		return
	}
	reason := ""
	switch {
	case u.Disabled:
		reason = "disabled"
	case u.EmailVerified:
		reason = "verified"
	default:
		if err := s.ResendVerification(ctx, u); err != nil {
			reason = "rate_limited"
			if errs.ReasonOf(err) == errs.ReasonStorage {
				reason = "storage"
			}
		}
	}
	if reason != "" {
		s.audit.Event(ctx, "email.verification_requested", "user_id", u.ID, "sent", false, "reason", reason, "address", r.addr)
		return
	}
	s.audit.Event(ctx, "email.verification_requested", "user_id", u.ID, "sent", true, "address", r.addr)
}
