package account

import (
	"context"
	"errors"
	"time"

	"github.com/authd/authd/errs"
	"github.com/authd/authd/password"
	"github.com/authd/authd/storage"
	"github.com/authd/authd/throttle"
)

// errBadCredentials is the one answer to an unknown user, a wrong password
// and a disabled user.
var errBadCredentials = &errs.Error{Kind: errs.Invalid, Code: "invalid_grant", Description: "invalid username or password", Reason: errs.ReasonBadCredentials}

// Authenticate checks a username and password from addr. It fails with
// the same error (Reason ReasonBadCredentials) for an unknown user, a wrong
// password and a disabled user, after the same hashing work; with
// ReasonLoginThrottled when the account or address must wait; errs.Busy
// when no hashing slot was free; errs.Storage when the store failed. A
// busy or failed attempt is not counted against the throttle.
func (s *Service) Authenticate(ctx context.Context, username, pw, addr string) (_ storage.User, err error) {
	// Throttling comes first: a waiting account or address is refused
	// before any lookup or hashing, with the right password too, so a lock
	// says nothing about the password or whether the account exists
	// (unknown usernames are counted and locked alike).
	acct, from := throttle.AccountKey(username), throttle.AddressKey(addr)
	now := s.now()
	if wait := s.limits.Accounts.Attempt(acct, now); wait > 0 {
		s.audit.Event(ctx, "login.throttled", "address", addr)
		return storage.User{}, throttled(wait)
	}
	if wait := s.limits.Addresses.Attempt(from, now); wait > 0 {
		s.limits.Accounts.Undo(acct, now) // this attempt never ran
		s.audit.Event(ctx, "login.throttled", "address", addr)
		return storage.User{}, throttled(wait)
	}
	// Both attempts are counted as failures already (see Counter.Attempt);
	// a failure below only needs the audit line, a success takes them back.
	failed := func(reason, userID string) error {
		s.audit.Event(ctx, "login.failed", "reason", reason, "user_id", userID, "address", addr)
		return errBadCredentials
	}
	defer func() {
		if err != nil && err != errBadCredentials {
			// Busy or a storage failure: the password was never judged.
			s.limits.Accounts.Undo(acct, now)
			s.limits.Addresses.Undo(from, now)
		}
	}()
	u, err := s.store.GetUserByUsername(ctx, username)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		if err := s.hasher.VerifyDummy(ctx, pw); errors.Is(err, password.ErrBusy) {
			return storage.User{}, errs.Busy(err)
		}
		return storage.User{}, failed("unknown_user", "")
	case err != nil:
		return storage.User{}, errs.Storage(err)
	}
	ok, rehash, err := s.hasher.Verify(ctx, pw, u.PasswordHash)
	switch {
	case errors.Is(err, password.ErrBusy):
		return storage.User{}, errs.Busy(err)
	case errors.Is(err, password.ErrUnknownFormat):
		// An unreadable stored hash: log it for the operator, and spend
		// the usual work so the account does not stand out by timing.
		s.log.Error("stored password hash unreadable", "user_id", u.ID, "error", err)
		_ = s.hasher.VerifyDummy(ctx, pw)
	case err != nil && !errors.Is(err, password.ErrNoPassword) && !errors.Is(err, password.ErrTooLong):
		return storage.User{}, errs.Storage(err)
	}
	if !ok || u.Disabled {
		reason := "wrong_password"
		if ok {
			reason = "disabled"
		}
		return storage.User{}, failed(reason, u.ID)
	}
	s.limits.Accounts.Succeed(acct)
	s.limits.Addresses.Undo(from, now)
	if rehash {
		u.PasswordHash = s.upgradeHash(ctx, u, pw)
	}
	return u, nil
}

// IsBadCredentials reports whether err is Authenticate's answer to wrong
// credentials (or a login whose user changed while it was checked).
func IsBadCredentials(err error) bool { return errs.ReasonOf(err) == errs.ReasonBadCredentials }

// BadCredentials is Authenticate's answer to wrong credentials, for a
// login that fails after it (the user changed meanwhile).
func BadCredentials() error { return errBadCredentials }

func throttled(wait time.Duration) error {
	e := errs.TooManyRequests(wait, "failed logins")
	e.Reason = errs.ReasonLoginThrottled
	return e
}

// upgradeHash re-hashes a password that verified against an old format or
// old parameters. Failure only delays the upgrade to the next login. It
// returns the hash the user has now as far as this login knows.
func (s *Service) upgradeHash(ctx context.Context, u storage.User, pw string) string {
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

// ConfirmPassword re-authenticates a signed-in user, for a surface that
// must judge the current password before anything else of a request
// (django-rest-auth's password change checks it before comparing the new
// ones): checkCurrentPassword.
func (s *Service) ConfirmPassword(ctx context.Context, u storage.User, pw, why string) error {
	return s.checkCurrentPassword(ctx, u, pw, why)
}

// checkCurrentPassword re-authenticates a signed-in user before a
// sensitive change: a problem is on the field current_password, with
// FieldCodes "required" or "incorrect"; wrong guesses count against the
// account's login throttle. why completes "is required to …".
func (s *Service) checkCurrentPassword(ctx context.Context, u storage.User, pw, why string) error {
	if pw == "" {
		e := errs.Field("current_password", "is required to "+why)
		e.FieldCodes = map[string]string{"current_password": "required"}
		return e
	}
	key := throttle.AccountKey(u.Username)
	if wait := s.limits.Accounts.Attempt(key, s.now()); wait > 0 {
		return errs.TooManyRequests(wait, "failed attempts")
	}
	ok, _, err := s.hasher.Verify(ctx, pw, u.PasswordHash)
	if errors.Is(err, password.ErrBusy) {
		s.limits.Accounts.Undo(key, s.now())
		return errs.Busy(err)
	}
	if !ok {
		e := errs.Field("current_password", "is incorrect")
		e.FieldCodes = map[string]string{"current_password": "incorrect"}
		return e
	}
	s.limits.Accounts.Succeed(key)
	return nil
}
