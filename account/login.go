package account

import (
	"context"
	"errors"
	"math/rand/v2"
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
//
// A login from an address (IPv6: its /64) that signed in successfully to
// the same account within the last 30 days is from a known source: see
// AuthenticateDevice.
func (s *Service) Authenticate(ctx context.Context, username, pw, addr string) (storage.User, error) {
	return s.authenticate(ctx, username, pw, addr, "")
}

// AuthenticateDevice is Authenticate for a browser: device is its device
// cookie, the random secret the sign-in page keeps in the browser (a new
// one when the browser sent none), remembered for the account when the
// login succeeds.
//
// Logins from a known source (this device, or the address, signed in to
// the account before) win over a flood of guesses:
//
//   - their hashes go ahead of every login from an unknown source (see
//     password.Caller), and are not refused for an address or account
//     that already has its share of hashes running or waiting;
//   - the account's and the address's failure waits do not apply to
//     them, since anyone can set those off by guessing; a known source
//     has a failure count of its own (throttle.SourceKey), with the same
//     limits, so a shared address or a stolen cookie still gets only the
//     usual number of guesses.
//
// What is known comes only from successful logins, and is looked up by the
// username as given, before the user is: an unknown username is never
// known, exactly as one with no recent login, so neither the queue nor the
// throttle tells an unknown username from an existing one.
func (s *Service) AuthenticateDevice(ctx context.Context, username, pw, addr, device string) (storage.User, error) {
	return s.authenticate(ctx, username, pw, addr, device)
}

func (s *Service) authenticate(ctx context.Context, username, pw, addr, device string) (_ storage.User, err error) {
	start := time.Now()
	s.limits.Logins.Add(1)
	defer s.limits.Logins.Add(-1)
	// Throttling comes first: a waiting account or address is refused
	// before any lookup or hashing, with the right password too, so a lock
	// says nothing about the password or whether the account exists
	// (unknown usernames are counted and locked alike).
	acct, from := throttle.AccountKey(username), throttle.AddressKey(addr)
	now := s.now()
	known := s.knownSource(acct, from, device, now)
	if known == "" {
		defer func() {
			if r := errs.ReasonOf(err); r == errs.ReasonLoginThrottled || r == errs.ReasonBusy {
				s.holdBack(ctx, start)
			}
		}()
	}
	// counted are the failure-counter keys this attempt was counted
	// against (see throttle.FailureCounter); caller is its place in the
	// hashing queue.
	var counted []*throttleKey
	var caller password.Caller
	if known != "" {
		key := throttle.SourceKey(acct, known)
		if wait := s.limits.Accounts.Attempt(ctx, key, now); wait > 0 {
			s.audit.Event(ctx, "login.throttled", "address", addr)
			return storage.User{}, throttled(wait)
		}
		counted = []*throttleKey{{s.limits.Accounts, key}}
		// No per-key cap in the hashing queue: a source that proved
		// itself may log in to its account several times at once (tabs,
		// retries, a load test), and its own failure count above bounds
		// how many guesses it can have in flight.
		caller = password.Caller{}
	} else {
		if wait := s.limits.Accounts.Attempt(ctx, acct, now); wait > 0 {
			s.audit.Event(ctx, "login.throttled", "address", addr)
			return storage.User{}, throttled(wait)
		}
		if wait := s.limits.Addresses.Attempt(ctx, from, now); wait > 0 {
			s.limits.Accounts.Undo(ctx, acct, now) // this attempt never ran
			s.audit.Event(ctx, "login.throttled", "address", addr)
			return storage.User{}, throttled(wait)
		}
		counted = []*throttleKey{{s.limits.Accounts, acct}, {s.limits.Addresses, from}}
		caller = password.Caller{Low: true, Keys: []string{acct}}
		if s.flooded() {
			// The address's share of the queue is capped only during a
			// flood: otherwise many people behind one address (a NAT, a
			// proxy that is not trusted, everyone after a restart) log in
			// at once as they always could.
			caller.Keys = append(caller.Keys, from)
		}
	}
	// Only the verification queues as caller; the upgrade of an old hash
	// after a success (on ctx) is an ordinary call: the password is proven
	// by then.
	hctx := password.WithCaller(ctx, caller)
	// The attempt is counted until its end is reported: a failure below
	// reports it as failed (with the audit line), a success as such.
	failed := func(reason, userID string) error {
		for _, k := range counted {
			k.c.Fail(ctx, k.key, now)
		}
		s.audit.Event(ctx, "login.failed", "reason", reason, "user_id", userID, "address", addr)
		return errBadCredentials
	}
	defer func() {
		if err != nil && err != errBadCredentials {
			// Busy or a storage failure: the password was never judged.
			for _, k := range counted {
				k.c.Undo(ctx, k.key, now)
			}
		}
	}()
	u, err := s.store.GetUserByUsername(ctx, username)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		if err := s.hasher.VerifyDummy(hctx, pw); errors.Is(err, password.ErrBusy) {
			return storage.User{}, errs.Busy(err)
		}
		return storage.User{}, failed("unknown_user", "")
	case err != nil:
		return storage.User{}, errs.Storage(err)
	}
	ok, rehash, err := s.hasher.Verify(hctx, pw, u.PasswordHash)
	switch {
	case errors.Is(err, password.ErrBusy):
		return storage.User{}, errs.Busy(err)
	case errors.Is(err, password.ErrUnknownFormat):
		// An unreadable stored hash: log it for the operator, and spend
		// the usual work so the account does not stand out by timing.
		s.log.Error("stored password hash unreadable", "user_id", u.ID, "error", err)
		_ = s.hasher.VerifyDummy(hctx, pw)
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
	if known != "" {
		// Only this source's count is cleared: the account's, which a
		// flood may have set off, stays, and does not start afresh each
		// time its owner signs in.
		s.limits.Accounts.Succeed(ctx, throttle.SourceKey(acct, known))
	} else {
		s.limits.Accounts.Succeed(ctx, acct)
		s.limits.Addresses.Undo(ctx, from, now)
	}
	s.limits.Known.Remember(acct, from, now)
	if device != "" {
		s.limits.Known.Remember(acct, throttle.DeviceSource(device), now)
	}
	if rehash {
		u.PasswordHash = s.upgradeHash(ctx, u, pw)
	}
	return u, nil
}

// holdBack delays the refusal (throttled or busy) of a login from an
// unknown source, while the server has more logins in progress than its
// hashing slots finish within the queue wait, until between half and all
// of the queue wait has passed since the login began: about as long as a
// queued login would have taken. The spread keeps a flood's connections,
// which start together, from coming back together.
//
// The refusal is decided at once, and the login holds no place in the
// hashing queue meanwhile, only a parked goroutine and its connection. But
// a flood's clients send their next guess as soon as they have an answer,
// so answering refusals at once would only bring the same connections back
// sooner, until the cores did nothing but refuse guesses and every login,
// a known source's too, waited for the CPU. Held, each connection of the
// flood costs at most one request per queue wait. Without a flood, and
// for known sources, refusals are not delayed.
func (s *Service) holdBack(ctx context.Context, start time.Time) {
	if !s.flooded() {
		return
	}
	w := s.hasher.QueueWait()
	d := time.Until(start.Add(w/2 + rand.N(w/2+1)))
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// throttleKey is a key of a failure counter.
type throttleKey struct {
	c   throttle.FailureCounter
	key string
}

// knownSource is the source (device first, then address) that signed in
// successfully to acct lately, or "" when neither did.
func (s *Service) knownSource(acct, from, device string, now time.Time) string {
	if device != "" {
		if src := throttle.DeviceSource(device); s.limits.Known.Known(acct, src, now) {
			return src
		}
	}
	if s.limits.Known.Known(acct, from, now) {
		return from
	}
	return ""
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
	key, now := throttle.AccountKey(u.Username), s.now()
	if wait := s.limits.Accounts.Attempt(ctx, key, now); wait > 0 {
		return errs.TooManyRequests(wait, "failed attempts")
	}
	ok, _, err := s.hasher.Verify(ctx, pw, u.PasswordHash)
	if errors.Is(err, password.ErrBusy) {
		s.limits.Accounts.Undo(ctx, key, now)
		return errs.Busy(err)
	}
	if !ok {
		s.limits.Accounts.Fail(ctx, key, now)
		e := errs.Field("current_password", "is incorrect")
		e.FieldCodes = map[string]string{"current_password": "incorrect"}
		return e
	}
	s.limits.Accounts.Succeed(ctx, key)
	return nil
}

// flooded reports whether more logins are in progress than the hashing
// slots finish within the queue wait: a flood, or a burst like one.
func (s *Service) flooded() bool {
	return s.limits.Logins.Load() > int64(s.hasher.Capacity())
}
