package storagetest

import (
	"testing"
	"time"

	"github.com/authd/authd/storage"
)

func testResetPassword(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	u := newUser("u-rp", "resetter", "resetter@example.com")
	mustCreateUser(t, s, u)
	s1 := newSession("s-rp-1", u.ID, at(0))
	s2 := newSession("s-rp-2", u.ID, at(0))
	mustCreateSession(t, s, s1, "rt-rp-1")
	mustCreateSession(t, s, s2, "rt-rp-2")
	o := newOneTimeToken("ott-rp", storage.PurposeReset, u.ID, at(time.Minute))
	o.Email = "Resetter@example.com" // the user's address, other case
	mustCreateOneTimeToken(t, s, o)

	t.Run("unusable token writes nothing", func(t *testing.T) {
		for name, tc := range map[string]struct {
			hash string
			now  time.Time
		}{
			"unknown": {"nope", at(2 * time.Minute)},
			"expired": {o.Hash, o.ExpiresAt},
		} {
			_, _, err := s.ResetPassword(ctx, tc.hash, "$new$", tc.now)
			checkErr(t, "ResetPassword "+name, err, storage.ErrNotFound)
		}
		if got := mustGetUser(t, s, u.ID); got.PasswordHash != u.PasswordHash {
			t.Errorf("password hash changed to %q by a failed reset", got.PasswordHash)
		}
		checkFamiliesLive(t, s, s1.ID, s2.ID)
	})
	t.Run("other purpose", func(t *testing.T) {
		v := newOneTimeToken("ott-rp-verify", storage.PurposeVerifyEmail, u.ID, at(time.Minute))
		mustCreateOneTimeToken(t, s, v)
		_, _, err := s.ResetPassword(ctx, v.Hash, "$new$", at(2*time.Minute))
		checkErr(t, "ResetPassword with a verification token", err, storage.ErrNotFound)
	})
	t.Run("reset", func(t *testing.T) {
		now := at(3 * time.Minute)
		got, ended, err := s.ResetPassword(ctx, o.Hash, "$new$", now)
		if err != nil {
			t.Fatalf("ResetPassword: %v", err)
		}
		if got.PasswordHash != "$new$" || !got.UpdatedAt.Equal(now) || got.ID != u.ID {
			t.Errorf("user after reset = %+v", got)
		}
		checkIDs(t, "ended sessions", ended, []string{s1.ID, s2.ID})
		checkFamiliesGone(t, s, s1.ID, s2.ID)
		_, _, err = s.ResetPassword(ctx, o.Hash, "$newer$", now)
		checkErr(t, "second ResetPassword", err, storage.ErrNotFound)
	})
}

// A reset link stops working when the account's email changes: the
// change marks it used, and a reset checks the address it was sent to.
func testResetAfterEmailChange(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	u := newUser("u-rpe", "mover", "old@example.com")
	mustCreateUser(t, s, u)
	o := newOneTimeToken("ott-rpe", storage.PurposeReset, u.ID, at(0))
	o.Email = u.Email
	mustCreateOneTimeToken(t, s, o)
	if _, err := s.UpdateUser(ctx, u.ID, at(time.Minute), func(u *storage.User) error {
		u.Email = "new@example.com"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	_, _, err := s.ResetPassword(ctx, o.Hash, "$new$", at(2*time.Minute))
	checkErr(t, "ResetPassword with a link to the old address", err, storage.ErrNotFound)

	// A token for the old address that the change did not mark used (made
	// directly, as a racing request could) is refused too, writing nothing.
	stale := newOneTimeToken("ott-rpe-2", storage.PurposeReset, u.ID, at(3*time.Minute))
	stale.Email = "old@example.com"
	mustCreateOneTimeToken(t, s, stale)
	_, _, err = s.ResetPassword(ctx, stale.Hash, "$new$", at(4*time.Minute))
	checkErr(t, "ResetPassword for an address the user no longer has", err, storage.ErrNotFound)
	if got := mustGetUser(t, s, u.ID); got.PasswordHash != u.PasswordHash {
		t.Errorf("password changed by a refused reset")
	}
	if _, err := s.ConsumeOneTimeToken(ctx, stale.Hash, storage.PurposeReset, at(5*time.Minute)); err != nil {
		t.Errorf("the refused reset consumed its token: %v", err)
	}
}

func testVerifyEmail(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	u := newUser("u-ve", "verifier", "Verifier@Example.com")
	u.EmailVerified = false
	mustCreateUser(t, s, u)

	t.Run("verifies the address it was sent to", func(t *testing.T) {
		o := newOneTimeToken("ott-ve-1", storage.PurposeVerifyEmail, u.ID, at(0))
		o.Email = "verifier@example.com" // same address, other case
		mustCreateOneTimeToken(t, s, o)
		got, err := s.VerifyEmail(ctx, o.Hash, at(time.Minute))
		if err != nil {
			t.Fatalf("VerifyEmail: %v", err)
		}
		if !got.EmailVerified || !mustGetUser(t, s, u.ID).EmailVerified {
			t.Error("email not verified")
		}
		_, err = s.VerifyEmail(ctx, o.Hash, at(time.Minute))
		checkErr(t, "second VerifyEmail", err, storage.ErrNotFound)
	})
	t.Run("address changed since the mail", func(t *testing.T) {
		o := newOneTimeToken("ott-ve-2", storage.PurposeVerifyEmail, u.ID, at(0))
		o.Email = "old@example.com"
		mustCreateOneTimeToken(t, s, o)
		if _, err := s.UpdateUser(ctx, u.ID, at(time.Minute), func(u *storage.User) error {
			u.EmailVerified = false
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		_, err := s.VerifyEmail(ctx, o.Hash, at(2*time.Minute))
		checkErr(t, "VerifyEmail for an old address", err, storage.ErrNotFound)
		if mustGetUser(t, s, u.ID).EmailVerified {
			t.Error("an old address's token verified the new one")
		}
		// Nothing was consumed: the failure rolled back.
		got, err := s.ConsumeOneTimeToken(ctx, o.Hash, storage.PurposeVerifyEmail, at(3*time.Minute))
		if err != nil || got.Hash != o.Hash {
			t.Errorf("token after a failed VerifyEmail: %v, want it still unused", err)
		}
	})
	t.Run("unknown, expired, other purpose", func(t *testing.T) {
		r := newOneTimeToken("ott-ve-3", storage.PurposeReset, u.ID, at(0))
		mustCreateOneTimeToken(t, s, r)
		v := newOneTimeToken("ott-ve-4", storage.PurposeVerifyEmail, u.ID, at(0))
		v.Email = u.Email
		mustCreateOneTimeToken(t, s, v)
		for name, tc := range map[string]struct {
			hash string
			now  time.Time
		}{
			"unknown":       {"nope", at(time.Minute)},
			"expired":       {v.Hash, v.ExpiresAt.Add(time.Second)},
			"other purpose": {r.Hash, at(time.Minute)},
		} {
			_, err := s.VerifyEmail(ctx, tc.hash, tc.now)
			checkErr(t, "VerifyEmail "+name, err, storage.ErrNotFound)
		}
	})
}

func testChangePassword(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	u := newUser("u-cp", "changer", "")
	mustCreateUser(t, s, u)
	mine := newSession("s-cp-mine", u.ID, at(0))
	other := newSession("s-cp-other", u.ID, at(0))
	mustCreateSession(t, s, mine, "rt-cp-mine")
	mustCreateSession(t, s, other, "rt-cp-other")
	mustCreateUser(t, s, newUser("u-cp-2", "someone", ""))
	mustCreateSession(t, s, newSession("s-someone-else", "u-cp-2", at(0)), "")

	// Each refusal writes nothing.
	for name, tc := range map[string]struct{ oldHash, keep string }{
		"hash changed since it was checked": {"$stale$", mine.ID},
		"unknown session":                   {u.PasswordHash, "s-nope"},
		"another user's session":            {u.PasswordHash, "s-someone-else"},
	} {
		_, err := s.ChangePassword(ctx, u.ID, tc.oldHash, "$new$", tc.keep, at(time.Minute))
		checkErr(t, "ChangePassword "+name, err, storage.ErrNotFound)
	}
	if got := mustGetUser(t, s, u.ID); got.PasswordHash != u.PasswordHash {
		t.Fatalf("a refused change wrote %q", got.PasswordHash)
	}
	checkFamiliesLive(t, s, other.ID)

	ended, err := s.ChangePassword(ctx, u.ID, u.PasswordHash, "$new$", mine.ID, at(2*time.Minute))
	if err != nil {
		t.Fatalf("ChangePassword: %v", err)
	}
	checkIDs(t, "ended sessions", ended, []string{other.ID})
	checkFamiliesGone(t, s, other.ID)
	if got := mustGetUser(t, s, u.ID); got.PasswordHash != "$new$" {
		t.Errorf("password hash = %q, want $new$", got.PasswordHash)
	}
	// The caller's session ended meanwhile: refused.
	if err := s.EndSession(ctx, mine.ID, at(3*time.Minute)); err != nil {
		t.Fatal(err)
	}
	_, err = s.ChangePassword(ctx, u.ID, "$new$", "$newer$", mine.ID, at(4*time.Minute))
	checkErr(t, "ChangePassword from an ended session", err, storage.ErrNotFound)
}
