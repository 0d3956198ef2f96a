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
		sess := newSession("s-code-2", "u-alice", now)
		tok := newToken("tok-code-2", sess, now)
		got, err := s.RedeemAuthCode(ctx, c.Hash, sess, &tok, now)
		if err != nil {
			t.Fatalf("RedeemAuthCode: %v", err)
		}
		want := c
		want.RedeemedAt, want.SessionID = now, sess.ID
		checkEqual(t, "RedeemAuthCode", got, want)
		checkEqual(t, "GetAuthCode after redemption", mustGetAuthCode(t, s, c.Hash), want)
		checkEqual(t, "session started", mustGetSession(t, s, sess.ID), sess)
		checkEqual(t, "first refresh token", mustGetRefreshToken(t, s, tok.Hash), tok)

		later := now.Add(time.Second)
		again := newSession("s-code-2-again", "u-alice", later)
		againTok := newToken("tok-code-2-again", again, later)
		got, err = s.RedeemAuthCode(ctx, c.Hash, again, &againTok, later)
		checkErr(t, "second RedeemAuthCode", err, storage.ErrSpent)
		if got.SessionID != sess.ID {
			t.Errorf("second RedeemAuthCode: SessionID = %q, want the first redemption's %q", got.SessionID, sess.ID)
		}
		checkNoSession(t, s, again.ID)
		checkTokensGone(t, s, againTok.Hash, tok.Hash)
		ended := sess
		ended.EndedAt = later
		checkEqual(t, "session of the first redemption", mustGetSession(t, s, sess.ID), ended)
		checkEqual(t, "code after the replay, unchanged", mustGetAuthCode(t, s, c.Hash), want)

		// A replay after the code expired still ends the session, and
		// keeps its first EndedAt.
		afterExpiry := c.ExpiresAt.Add(time.Hour)
		_, err = s.RedeemAuthCode(ctx, c.Hash, newSession("s-code-2-late", "u-alice", afterExpiry), nil, afterExpiry)
		checkErr(t, "RedeemAuthCode after expiry", err, storage.ErrSpent)
		checkNoSession(t, s, "s-code-2-late")
		checkEqual(t, "session ended once", mustGetSession(t, s, sess.ID), ended)
	})

	t.Run("redeem without a refresh token", func(t *testing.T) {
		c := newAuthCode("code-3", "u-alice", at(0))
		mustCreateAuthCode(t, s, c)
		sess := newSession("s-code-3", "u-alice", at(time.Second))
		if _, err := s.RedeemAuthCode(ctx, c.Hash, sess, nil, at(time.Second)); err != nil {
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
			{"token hash taken", c.Hash, newSession("s-x5", "u-alice", at(0)), "tok-taken", at(time.Second), storage.ErrAlreadyExists},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				tok := newToken(tt.tok, tt.sess, tt.now)
				_, err := s.RedeemAuthCode(ctx, tt.hash, tt.sess, &tok, tt.now)
				checkErr(t, "RedeemAuthCode", err, tt.wantErr)
				if tt.sess.ID != "s-taken" {
					checkNoSession(t, s, tt.sess.ID)
				}
				checkEqual(t, "code, unchanged", mustGetAuthCode(t, s, c.Hash), c)
			})
		}
		// The failed attempts did not use it up.
		if _, err := s.RedeemAuthCode(ctx, c.Hash, newSession("s-code-4", "u-alice", at(0)), nil, c.ExpiresAt.Add(-time.Nanosecond)); err != nil {
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
			sess := newSession(fmt.Sprintf("s-race-%d", i), "u-alice", now)
			tok := newToken(fmt.Sprintf("tok-race-%d", i), sess, now)
			got[i], errs[i] = s.RedeemAuthCode(ctx, c.Hash, sess, &tok, now)
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
	checkTokensGone(t, s, fmt.Sprintf("tok-race-%d", winner))
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
	if _, err := s.RedeemAuthCode(ctx, "code-0", newSession("s-0", "u-alice", at(time.Second)), nil, at(time.Second)); err != nil {
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
