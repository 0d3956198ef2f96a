package server_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/storagetest"
	"github.com/authd/authd/token"
)

// One Sweep deletes everything expired, however many batches that takes,
// and nothing that still lives.
func TestSweepRunsBatchesUntilDone(t *testing.T) {
	e := newFaultyEnv(t)
	const batch = 3
	e.srv.SetSweepBatch(batch)
	ctx := context.Background()
	now := e.clock.Now()
	past, future := now.Add(-time.Minute), now.Add(time.Hour)
	u := e.addUser("sweepy", "sweepy password 1")

	type rows struct {
		sessions, jtis, otts, codes []string
	}
	var expired, live rows
	add := func(r *rows, n int, exp time.Time) {
		for range n {
			created := exp.Add(-time.Hour)
			sess := storage.Session{ID: token.Random(16), UserID: u.ID, ClientID: spaID, AuthTime: created, CreatedAt: created, LastUsedAt: created, ExpiresAt: exp}
			sess.Refresh = &storage.RefreshFamily{Generation: 1, Hash: token.Hash(token.Random(32)), Key: []byte("0123456789abcdef0123456789abcdef"), ExpiresAt: exp}
			if err := e.store.CreateSession(ctx, sess); err != nil {
				t.Fatal(err)
			}
			r.sessions = append(r.sessions, sess.ID)
		}
		// More of these than of sessions: the kinds run out in different
		// batches.
		for range 2*n + 1 {
			jti := token.Random(16)
			// A revoked jti is kept for the clock skew past its exp.
			if err := e.store.RevokeJTI(ctx, jti, exp.Add(-storage.RevocationSkew)); err != nil {
				t.Fatal(err)
			}
			r.jtis = append(r.jtis, jti)
		}
		for range n + 2 {
			// One user and purpose each: a new token of a user marks the
			// older unused ones used, which must not matter to the sweep.
			ott := storage.OneTimeToken{Hash: token.Hash(token.Random(32)), Purpose: storage.PurposeReset, UserID: u.ID, CreatedAt: exp.Add(-time.Hour), ExpiresAt: exp}
			if err := e.store.CreateOneTimeToken(ctx, ott); err != nil {
				t.Fatal(err)
			}
			r.otts = append(r.otts, ott.Hash)
		}
		for range n - 1 {
			code := storage.AuthCode{Hash: token.Hash(token.Random(32)), ClientID: spaID, UserID: u.ID, RedirectURI: "https://app.example.com/cb",
				Scope: "openid", AuthTime: exp.Add(-time.Hour), CreatedAt: exp.Add(-time.Minute), ExpiresAt: exp}
			if err := e.store.CreateAuthCode(ctx, code); err != nil {
				t.Fatal(err)
			}
			r.codes = append(r.codes, code.Hash)
		}
	}
	add(&expired, 3*batch+1, past)
	add(&live, 2, future)

	e.faults.Reset()
	e.srv.Sweep(ctx)
	// The revoked jtis alone take 2×(3×batch+1)+1 = 21 rows: seven full
	// batches and a short eighth.
	if n := e.faults.Count("DeleteExpired"); n != 8 {
		t.Errorf("Sweep ran %d batches, want 8", n)
	}

	gone := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("expired %s still there (%v)", what, err)
		}
	}
	for _, id := range expired.sessions {
		_, err := e.store.GetSession(ctx, id)
		gone("session", err)
	}
	for _, h := range expired.codes {
		_, err := e.store.GetAuthCode(ctx, h)
		gone("authorization code", err)
	}
	for _, id := range live.sessions {
		if _, err := e.store.GetSession(ctx, id); err != nil {
			t.Errorf("live session: %v", err)
		}
	}
	for _, h := range live.codes {
		if _, err := e.store.GetAuthCode(ctx, h); err != nil {
			t.Errorf("live authorization code: %v", err)
		}
	}
	jtis, err := e.store.RevokedJTIs(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(jtis); got != len(live.jtis) {
		t.Errorf("%d revoked jtis left, want the %d live ones", got, len(live.jtis))
	}
	for _, j := range jtis {
		if !j.Exp.Equal(future.Add(-storage.RevocationSkew)) {
			t.Errorf("jti %s expiring %s left", j.JTI, j.Exp)
		}
	}
	n, err := e.store.CountOneTimeTokens(ctx, u.ID, storage.PurposeReset, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if n != len(live.otts) {
		t.Errorf("%d one-time tokens left, want the %d live ones", n, len(live.otts))
	}
	if n := e.liveSessions(u.ID); n != len(live.sessions) {
		t.Errorf("%d live sessions, want %d", n, len(live.sessions))
	}
	// A live refresh token still works.
	if r := e.login(spaID, "sweepy", "sweepy password 1"); r["refresh_token"] == nil {
		t.Fatal("no refresh token")
	} else if rr := e.refresh(spaID, str(r, "refresh_token")); rr.status != 200 {
		t.Errorf("refreshing after the sweep: %d %s", rr.status, rr.body)
	}

	// With nothing left to delete, one short batch ends it.
	e.faults.Reset()
	e.srv.Sweep(ctx)
	if n := e.faults.Count("DeleteExpired"); n != 1 {
		t.Errorf("a sweep with nothing to do ran %d batches, want 1", n)
	}
}

// A failing batch ends the sweep: it neither loops on the error nor
// goes on.
func TestSweepStopsOnError(t *testing.T) {
	e := newFaultyEnv(t)
	e.srv.SetSweepBatch(1)
	e.faults.FailAll(fmt.Errorf("sweep: %w", storagetest.ErrInjected))
	done := make(chan struct{})
	go func() { e.srv.Sweep(context.Background()); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Sweep did not return on a storage error")
	}
	if n := e.faults.Count("DeleteExpired"); n != 1 {
		t.Errorf("Sweep tried %d batches after a failure, want 1", n)
	}
	e.faults.Reset()
}
