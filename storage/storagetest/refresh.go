package storagetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/storage"
)

func testRotateRefreshToken(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	mustCreateUser(t, s, newUser("u-alice", "alice", ""))
	s1 := newSession("s1", "u-alice", at(0))
	t1 := mustCreateSession(t, s, s1, "tok-1")

	now := at(time.Hour)
	replay, replayUntil := []byte("sealed response"), now.Add(5*time.Second)
	t2 := newToken("tok-2", s1, now)
	if err := s.RotateRefreshToken(ctx, t1.Hash, t2, replay, replayUntil, now); err != nil {
		t.Fatalf("RotateRefreshToken: %v", err)
	}
	spent := t1
	spent.SpentAt, spent.Replay, spent.ReplayUntil = now, replay, replayUntil
	checkEqual(t, "spent token", mustGetRefreshToken(t, s, t1.Hash), spent)
	checkEqual(t, "next token", mustGetRefreshToken(t, s, t2.Hash), t2)
	if got := mustGetSession(t, s, s1.ID).LastUsedAt; !got.Equal(now) {
		t.Errorf("session LastUsedAt = %v, want %v", got, now)
	}

	tests := []struct {
		name    string
		old     string
		next    storage.RefreshToken
		wantErr error
	}{
		{"already spent", t1.Hash, newToken("tok-3", s1, now), storage.ErrSpent},
		{"unknown", "tok-nope", newToken("tok-3", s1, now), storage.ErrNotFound},
		// Atomic: the old token stays unspent when the next cannot be stored.
		{"next hash taken", t2.Hash, newToken(t1.Hash, s1, now), storage.ErrAlreadyExists},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			later := now.Add(time.Second)
			err := s.RotateRefreshToken(ctx, tt.old, tt.next, []byte("other"), later.Add(time.Second), later)
			checkErr(t, "RotateRefreshToken", err, tt.wantErr)
			checkTokensGone(t, s, "tok-3")
			checkEqual(t, "spent token, unchanged", mustGetRefreshToken(t, s, t1.Hash), spent)
			checkEqual(t, "next token, unchanged", mustGetRefreshToken(t, s, t2.Hash), t2)
			if got := mustGetSession(t, s, s1.ID).LastUsedAt; !got.Equal(now) {
				t.Errorf("session LastUsedAt = %v, want %v", got, now)
			}
		})
	}

	t.Run("session created ended", func(t *testing.T) {
		// The one way, through this interface, to hold an unspent token in
		// an ended session.
		ended := newSession("s-ended", "u-alice", at(0))
		ended.EndedAt = at(time.Minute)
		tok := mustCreateSession(t, s, ended, "tok-ended")
		err := s.RotateRefreshToken(ctx, tok.Hash, newToken("tok-3", ended, now), nil, time.Time{}, now)
		checkErr(t, "RotateRefreshToken", err, storage.ErrNotFound)
		checkTokensGone(t, s, "tok-3")
		checkEqual(t, "token of the ended session, unchanged", mustGetRefreshToken(t, s, tok.Hash), tok)
	})

	t.Run("session ended", func(t *testing.T) {
		if err := s.EndSession(ctx, s1.ID, at(2*time.Hour)); err != nil {
			t.Fatalf("EndSession: %v", err)
		}
		err := s.RotateRefreshToken(ctx, t2.Hash, newToken("tok-3", s1, at(3*time.Hour)), nil, time.Time{}, at(3*time.Hour))
		checkErr(t, "RotateRefreshToken after EndSession", err, storage.ErrNotFound)
		checkTokensGone(t, s, "tok-3")
	})
}

// testRotateRefreshTokenConcurrent races many rotations of one token: the
// contract's single-winner rule, which the refresh grant's reuse detection
// depends on.
func testRotateRefreshTokenConcurrent(t *testing.T, s storage.Storage) {
	const n = 50
	ctx := t.Context()
	mustCreateUser(t, s, newUser("u-alice", "alice", ""))
	s1 := newSession("s1", "u-alice", at(0))
	t1 := mustCreateSession(t, s, s1, "tok-1")

	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		errs  = make([]error, n)
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			now := at(time.Hour + time.Duration(i)*time.Millisecond)
			next := newToken(fmt.Sprintf("tok-next-%d", i), s1, now)
			errs[i] = s.RotateRefreshToken(ctx, t1.Hash, next, fmt.Appendf(nil, "replay %d", i), now.Add(5*time.Second), now)
		}()
	}
	close(start)
	wg.Wait()

	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("rotations %d and %d both won", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, storage.ErrSpent):
			t.Errorf("rotation %d: err = %v, want nil or ErrSpent", i, err)
		}
	}
	if winner < 0 {
		t.Fatalf("no rotation won")
	}
	for i := range n {
		_, err := s.GetRefreshToken(ctx, fmt.Sprintf("tok-next-%d", i))
		switch {
		case i == winner && err != nil:
			t.Errorf("winner's next token: %v", err)
		case i != winner && !errors.Is(err, storage.ErrNotFound):
			t.Errorf("loser %d's next token: err = %v, want ErrNotFound", i, err)
		}
	}
	got := mustGetRefreshToken(t, s, t1.Hash)
	if want := fmt.Sprintf("replay %d", winner); string(got.Replay) != want {
		t.Errorf("spent token Replay = %q, want the winner's %q", got.Replay, want)
	}
}
