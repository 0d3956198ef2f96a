package storagetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/storage"
)

// newAuthCode is an unredeemed code of userID with every field set,
// created at created and valid for a minute.
func newAuthCode(hash, userID string, created time.Time) storage.AuthCode {
	return storage.AuthCode{
		Hash:                hash,
		ClientID:            "client-1",
		UserID:              userID,
		RedirectURI:         "https://app.example.com/callback?x=1",
		Scope:               "openid offline_access",
		Nonce:               "nonce-" + hash,
		CodeChallenge:       "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		CodeChallengeMethod: "S256",
		AuthTime:            created.Add(-time.Minute),
		CreatedAt:           created,
		ExpiresAt:           created.Add(time.Minute),
	}
}

func mustCreateAuthCode(t *testing.T, s storage.Storage, c storage.AuthCode) {
	t.Helper()
	if err := s.CreateAuthCode(t.Context(), c); err != nil {
		t.Fatalf("CreateAuthCode(%q): %v", c.Hash, err)
	}
}

func mustGetAuthCode(t *testing.T, s storage.Storage, hash string) storage.AuthCode {
	t.Helper()
	c, err := s.GetAuthCode(t.Context(), hash)
	if err != nil {
		t.Fatalf("GetAuthCode(%q): %v", hash, err)
	}
	return c
}

// checkNoSession fails unless the session does not exist.
func checkNoSession(t *testing.T, s storage.Storage, id string) {
	t.Helper()
	_, err := s.GetSession(t.Context(), id)
	checkErr(t, fmt.Sprintf("GetSession(%q)", id), err, storage.ErrNotFound)
}

func testAuthCodes(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	mustCreateUser(t, s, newUser("u-alice", "alice", ""))

	t.Run("create and get", func(t *testing.T) {
		c := newAuthCode("code-1", "u-alice", at(0))
		mustCreateAuthCode(t, s, c)
		checkEqual(t, "GetAuthCode", mustGetAuthCode(t, s, c.Hash), c)

		// Optional fields left empty come back empty.
		bare := storage.AuthCode{Hash: "code-bare", ClientID: "client-1", UserID: "u-alice",
			RedirectURI: "https://app.example.com/cb", CreatedAt: at(0), ExpiresAt: at(time.Minute)}
		mustCreateAuthCode(t, s, bare)
		checkEqual(t, "GetAuthCode(bare)", mustGetAuthCode(t, s, bare.Hash), bare)

		err := s.CreateAuthCode(ctx, newAuthCode("code-1", "u-alice", at(time.Hour)))
		checkErr(t, "CreateAuthCode(same hash)", err, storage.ErrAlreadyExists)
		checkEqual(t, "GetAuthCode after the failed create", mustGetAuthCode(t, s, c.Hash), c)

		_, err = s.GetAuthCode(ctx, "code-nope")
		checkErr(t, "GetAuthCode(unknown)", err, storage.ErrNotFound)
	})

	t.Run("redeem once, a replay ends the session", func(t *testing.T) {
		c := newAuthCode("code-2", "u-alice", at(0))
		mustCreateAuthCode(t, s, c)
		now := at(30 * time.Second)
		sess := withFamily(newSession("s-code-2", "u-alice", now), "tok-code-2")
		got, err := s.RedeemAuthCode(ctx, c.Hash, sess, now)
		if err != nil {
			t.Fatalf("RedeemAuthCode: %v", err)
		}
		want := c
		want.RedeemedAt, want.SessionID = now, sess.ID
		checkEqual(t, "RedeemAuthCode", got, want)
		checkEqual(t, "GetAuthCode after redemption", mustGetAuthCode(t, s, c.Hash), want)
		checkEqual(t, "session started, with its family", mustGetSession(t, s, sess.ID), sess)

		later := now.Add(time.Second)
		again := withFamily(newSession("s-code-2-again", "u-alice", later), "tok-code-2-again")
		got, err = s.RedeemAuthCode(ctx, c.Hash, again, later)
		checkErr(t, "second RedeemAuthCode", err, storage.ErrSpent)
		if got.SessionID != sess.ID {
			t.Errorf("second RedeemAuthCode: SessionID = %q, want the first redemption's %q", got.SessionID, sess.ID)
		}
		checkNoSession(t, s, again.ID)
		ended := sess
		ended.EndedAt, ended.Refresh = later, nil
		checkEqual(t, "session of the first redemption", mustGetSession(t, s, sess.ID), ended)
		checkEqual(t, "code after the replay, unchanged", mustGetAuthCode(t, s, c.Hash), want)

		// A replay after the code expired still ends the session, and
		// keeps its first EndedAt.
		afterExpiry := c.ExpiresAt.Add(time.Hour)
		_, err = s.RedeemAuthCode(ctx, c.Hash, newSession("s-code-2-late", "u-alice", afterExpiry), afterExpiry)
		checkErr(t, "RedeemAuthCode after expiry", err, storage.ErrSpent)
		checkNoSession(t, s, "s-code-2-late")
		checkEqual(t, "session ended once", mustGetSession(t, s, sess.ID), ended)
	})

	t.Run("redeem without a refresh token", func(t *testing.T) {
		c := newAuthCode("code-3", "u-alice", at(0))
		mustCreateAuthCode(t, s, c)
		sess := newSession("s-code-3", "u-alice", at(time.Second))
		if _, err := s.RedeemAuthCode(ctx, c.Hash, sess, at(time.Second)); err != nil {
			t.Fatalf("RedeemAuthCode: %v", err)
		}
		checkEqual(t, "session started", mustGetSession(t, s, sess.ID), sess)
	})

	t.Run("not redeemable", func(t *testing.T) {
		c := newAuthCode("code-4", "u-alice", at(0))
		mustCreateAuthCode(t, s, c)
		mustCreateSession(t, s, newSession("s-taken", "u-alice", at(0)), "tok-taken")
		tests := []struct {
			name    string
			hash    string
			sess    storage.Session
			tok     string
			now     time.Time
			wantErr error
		}{
			{"unknown", "code-nope", newSession("s-x1", "u-alice", at(0)), "tok-x1", at(time.Second), storage.ErrNotFound},
			{"expired", c.Hash, newSession("s-x2", "u-alice", at(0)), "tok-x2", c.ExpiresAt.Add(time.Second), storage.ErrNotFound},
			{"at expiry", c.Hash, newSession("s-x3", "u-alice", at(0)), "tok-x3", c.ExpiresAt, storage.ErrNotFound},
			// Atomic: the code stays unredeemed when the session cannot be
			// stored.
			{"session id taken", c.Hash, newSession("s-taken", "u-alice", at(0)), "tok-x4", at(time.Second), storage.ErrAlreadyExists},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := s.RedeemAuthCode(ctx, tt.hash, withFamily(tt.sess, tt.tok), tt.now)
				checkErr(t, "RedeemAuthCode", err, tt.wantErr)
				if tt.sess.ID != "s-taken" {
					checkNoSession(t, s, tt.sess.ID)
				}
				checkEqual(t, "code, unchanged", mustGetAuthCode(t, s, c.Hash), c)
			})
		}
		// The failed attempts did not use it up.
		if _, err := s.RedeemAuthCode(ctx, c.Hash, newSession("s-code-4", "u-alice", at(0)), c.ExpiresAt.Add(-time.Nanosecond)); err != nil {
			t.Errorf("RedeemAuthCode just before expiry: %v", err)
		}
	})
}

// testRedeemAuthCodeConcurrent races many redemptions of one code: exactly
// one starts its session, and as every other one is a replay, that session
// ends too.
func testRedeemAuthCodeConcurrent(t *testing.T, s storage.Storage) {
	const n = 30
	ctx := t.Context()
	mustCreateUser(t, s, newUser("u-alice", "alice", ""))
	c := newAuthCode("code-race", "u-alice", at(0))
	mustCreateAuthCode(t, s, c)

	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		errs  = make([]error, n)
		got   = make([]storage.AuthCode, n)
	)
	for i := range n {
		wg.Go(func() {
			<-start
			now := at(time.Second + time.Duration(i)*time.Millisecond)
			sess := withFamily(newSession(fmt.Sprintf("s-race-%d", i), "u-alice", now), fmt.Sprintf("tok-race-%d", i))
			got[i], errs[i] = s.RedeemAuthCode(ctx, c.Hash, sess, now)
		})
	}
	close(start)
	wg.Wait()

	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("redemptions %d and %d both won", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, storage.ErrSpent):
			t.Errorf("redemption %d: err = %v, want nil or ErrSpent", i, err)
		}
	}
	if winner < 0 {
		t.Fatalf("no redemption won")
	}
	want := fmt.Sprintf("s-race-%d", winner)
	for i := range n {
		if got[i].SessionID != want {
			t.Errorf("redemption %d: SessionID = %q, want the winner's %q", i, got[i].SessionID, want)
		}
		if i != winner {
			checkNoSession(t, s, fmt.Sprintf("s-race-%d", i))
		}
	}
	if sess := mustGetSession(t, s, want); sess.EndedAt.IsZero() {
		t.Errorf("winner's session still lives after %d replays", n-1)
	}
	checkFamiliesGone(t, s, want)
}

// testRedeemAuthCodeSignInSession: a code bound to a sign-in session is
// redeemable only while that session lives; otherwise the redemption fails
// with ErrNotFound and writes nothing.
func testRedeemAuthCodeSignInSession(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	mustCreateUser(t, s, newUser("u-alice", "alice", ""))
	live := newSession("signin-live", "u-alice", at(0))
	live.ExpiresAt = at(time.Hour)
	ended := newSession("signin-ended", "u-alice", at(0))
	expiring := newSession("signin-expiring", "u-alice", at(0))
	expiring.ExpiresAt = at(30 * time.Second)
	for _, sess := range []storage.Session{live, ended, expiring} {
		mustCreateSession(t, s, sess, "")
	}
	if err := s.EndSession(ctx, ended.ID, at(time.Second)); err != nil {
		t.Fatal(err)
	}
	now := at(40 * time.Second)
	tests := []struct {
		name, signIn string
		wantErr      error
	}{
		{"sign-in ended", ended.ID, storage.ErrNotFound},
		{"sign-in expired", expiring.ID, storage.ErrNotFound},
		{"sign-in unknown", "signin-gone", storage.ErrNotFound},
		{"sign-in live", live.ID, nil},
		{"not bound", "", nil},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newAuthCode(fmt.Sprintf("code-si-%d", i), "u-alice", at(0))
			c.SignInSessionID = tt.signIn
			mustCreateAuthCode(t, s, c)
			checkEqual(t, "GetAuthCode", mustGetAuthCode(t, s, c.Hash), c)
			sess := withFamily(newSession(fmt.Sprintf("s-si-%d", i), "u-alice", now), fmt.Sprintf("tok-si-%d", i))
			got, err := s.RedeemAuthCode(ctx, c.Hash, sess, now)
			checkErr(t, "RedeemAuthCode", err, tt.wantErr)
			if tt.wantErr != nil {
				checkNoSession(t, s, sess.ID)
				checkEqual(t, "code, unchanged", mustGetAuthCode(t, s, c.Hash), c)
				return
			}
			if got.SignInSessionID != tt.signIn {
				t.Errorf("redeemed code: SignInSessionID = %q, want %q", got.SignInSessionID, tt.signIn)
			}
			checkEqual(t, "session started", mustGetSession(t, s, sess.ID), sess)
		})
	}
}

// testBulkEndsVoidCodes: every call that ends a user's sessions in bulk
// also deletes the user's unredeemed authorization codes (but those the
// kept sign-in session issued), in the same transaction; redeemed codes
// and other users' codes stay.
func testBulkEndsVoidCodes(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	now := at(time.Hour)
	tests := []struct {
		name string
		// keep is the session the call keeps ("" for none).
		keep string
		end  func(t *testing.T, userID, keep string) error
	}{
		{"EndUserSessions", "", func(t *testing.T, userID, keep string) error {
			_, err := s.EndUserSessions(ctx, userID, keep, now)
			return err
		}},
		{"EndUserSessions keeping one", "keep", func(t *testing.T, userID, keep string) error {
			_, err := s.EndUserSessions(ctx, userID, keep, now)
			return err
		}},
		{"SetPassword", "keep", func(t *testing.T, userID, keep string) error {
			_, err := s.SetPassword(ctx, userID, "$new$", keep, now)
			return err
		}},
		{"ChangePassword", "keep", func(t *testing.T, userID, keep string) error {
			_, err := s.ChangePassword(ctx, userID, newUser("", "", "").PasswordHash, "$new$", keep, now)
			return err
		}},
		{"SetDisabled", "", func(t *testing.T, userID, keep string) error {
			_, err := s.SetDisabled(ctx, userID, true, now)
			return err
		}},
		{"ResetPassword", "", func(t *testing.T, userID, keep string) error {
			o := newOneTimeToken(userID+"-reset", storage.PurposeReset, userID, at(time.Minute))
			o.Email = userID + "@example.com"
			mustCreateOneTimeToken(t, s, o)
			_, _, err := s.ResetPassword(ctx, o.Hash, "$new$", now)
			return err
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := fmt.Sprintf("c%d-", i)
			u := newUser(p+"user", p+"user", p+"user@example.com")
			other := newUser(p+"other", p+"other", "")
			mustCreateUser(t, s, u)
			mustCreateUser(t, s, other)
			keep := ""
			if tt.keep != "" {
				keep = p + tt.keep
			}
			signIn := mustCreateSession(t, s, newSession(p+"signin", u.ID, at(0)), "")
			if keep != "" {
				mustCreateSession(t, s, newSession(keep, u.ID, at(0)), "")
			}
			codes := map[string]storage.AuthCode{}
			add := func(name, userID, signInID string) {
				c := newAuthCode(p+name, userID, at(30*time.Minute))
				c.ExpiresAt = at(2 * time.Hour) // still valid at now
				c.SignInSessionID = signInID
				mustCreateAuthCode(t, s, c)
				codes[name] = c
			}
			add("unbound", u.ID, "")
			add("bound", u.ID, signIn.ID)
			add("redeemed", u.ID, signIn.ID)
			add("other-user", other.ID, "")
			if keep != "" {
				add("from-kept", u.ID, keep)
			}
			if _, err := s.RedeemAuthCode(ctx, p+"redeemed", newSession(p+"s-redeemed", u.ID, at(31*time.Minute)), at(31*time.Minute)); err != nil {
				t.Fatalf("RedeemAuthCode: %v", err)
			}
			if err := tt.end(t, u.ID, keep); err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			for name, c := range codes {
				_, err := s.GetAuthCode(ctx, c.Hash)
				gone := name == "unbound" || name == "bound"
				switch {
				case gone && !errors.Is(err, storage.ErrNotFound):
					t.Errorf("unredeemed code %s: GetAuthCode err = %v, want ErrNotFound", name, err)
				case !gone && err != nil:
					t.Errorf("code %s: GetAuthCode: %v, want it kept", name, err)
				}
			}
			if keep != "" {
				// The kept sign-in's code still redeems.
				if _, err := s.RedeemAuthCode(ctx, p+"from-kept", newSession(p+"s-kept", u.ID, now), now); err != nil {
					t.Errorf("RedeemAuthCode of the kept sign-in's code: %v", err)
				}
			}
		})
	}
}

// testDeleteExpiredAuthCodes: codes past ExpiresAt go, redeemed or not;
// live ones stay.
func testDeleteExpiredAuthCodes(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	mustCreateUser(t, s, newUser("u-alice", "alice", ""))
	now := at(time.Hour)
	for i := range 4 {
		c := newAuthCode(fmt.Sprintf("code-%d", i), "u-alice", at(0))
		if i == 3 {
			c.ExpiresAt = now.Add(time.Minute)
		}
		mustCreateAuthCode(t, s, c)
	}
	if _, err := s.RedeemAuthCode(ctx, "code-0", newSession("s-0", "u-alice", at(time.Second)), at(time.Second)); err != nil {
		t.Fatalf("RedeemAuthCode: %v", err)
	}
	total := 0
	for range 10 {
		n, err := s.DeleteExpired(ctx, now, 2)
		if err != nil {
			t.Fatalf("DeleteExpired: %v", err)
		}
		if n == 0 {
			break
		}
		total += n
	}
	if total != 3 {
		t.Errorf("DeleteExpired deleted %d rows in all, want the 3 expired codes", total)
	}
	for i := range 3 {
		_, err := s.GetAuthCode(ctx, fmt.Sprintf("code-%d", i))
		checkErr(t, fmt.Sprintf("GetAuthCode(code-%d)", i), err, storage.ErrNotFound)
	}
	mustGetAuthCode(t, s, "code-3")
	mustGetSession(t, s, "s-0") // the session is not the code's to delete
}
