package storagetest

import (
	"errors"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/storage"
)

func testRotateRefresh(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	mustCreateUser(t, s, newUser("u-alice", "alice", ""))
	s1 := mustCreateSession(t, s, newSession("s1", "u-alice", at(0)), "tok-1")

	now := at(time.Hour)
	next := storage.RefreshRotation{Hash: "tok-2", ExpiresAt: now.Add(24 * time.Hour),
		Replay: []byte("sealed response"), ReplayUntil: now.Add(5 * time.Second)}
	mustRotate(t, s, s1.ID, 1, next, now)
	want := s1
	want.LastUsedAt = now
	want.Refresh = &storage.RefreshFamily{Generation: 2, Hash: "tok-2", Key: s1.Refresh.Key, ExpiresAt: next.ExpiresAt,
		Replay: next.Replay, ReplayGeneration: 1, ReplayUntil: next.ReplayUntil}
	checkEqual(t, "session after a rotation", mustGetSession(t, s, s1.ID), want)

	tests := []struct {
		name    string
		sid     string
		from    uint64
		wantErr error
	}{
		{"generation moved on", s1.ID, 1, storage.ErrSpent},
		{"generation moved on long ago", s1.ID, 0, storage.ErrSpent},
		{"generation not reached", s1.ID, 3, storage.ErrNotFound},
		{"unknown session", "s-nope", 2, storage.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			later := now.Add(time.Second)
			// A key given for a family that has one would be ignored; give
			// one to see that nothing at all is written.
			err := s.RotateRefresh(ctx, tt.sid, tt.from, storage.RefreshRotation{Hash: "tok-3", Key: familyKey("other"),
				ExpiresAt: later.Add(time.Hour), Replay: []byte("other"), ReplayUntil: later.Add(time.Second)}, later)
			checkErr(t, "RotateRefresh", err, tt.wantErr)
			checkEqual(t, "session, unchanged", mustGetSession(t, s, s1.ID), want)
		})
	}

	t.Run("key of a keyed family is kept", func(t *testing.T) {
		later := now.Add(time.Minute)
		mustRotate(t, s, s1.ID, 2, storage.RefreshRotation{Hash: "tok-3", Key: familyKey("other"), ExpiresAt: later.Add(time.Hour)}, later)
		got := mustGetSession(t, s, s1.ID).Refresh
		w := &storage.RefreshFamily{Generation: 3, Hash: "tok-3", Key: s1.Refresh.Key, ExpiresAt: later.Add(time.Hour)}
		checkEqual(t, "family after a rotation without replay", *got, *w)
		want.LastUsedAt, want.Refresh = later, w
	})

	t.Run("session without a family", func(t *testing.T) {
		bare := mustCreateSession(t, s, newSession("s-bare", "u-alice", at(0)), "")
		err := s.RotateRefresh(ctx, bare.ID, 0, storage.RefreshRotation{Hash: "tok-x", Key: familyKey("x")}, now)
		checkErr(t, "RotateRefresh", err, storage.ErrNotFound)
		checkEqual(t, "session, unchanged", mustGetSession(t, s, bare.ID), bare)
	})

	t.Run("session created ended", func(t *testing.T) {
		ended := newSession("s-ended", "u-alice", at(0))
		ended.EndedAt = at(time.Minute)
		ended = mustCreateSession(t, s, ended, "tok-ended")
		err := s.RotateRefresh(ctx, ended.ID, 1, storage.RefreshRotation{Hash: "tok-x"}, now)
		checkErr(t, "RotateRefresh", err, storage.ErrNotFound)
		checkEqual(t, "ended session, unchanged", mustGetSession(t, s, ended.ID), ended)
	})

	t.Run("session ended", func(t *testing.T) {
		if err := s.EndSession(ctx, s1.ID, at(2*time.Hour)); err != nil {
			t.Fatalf("EndSession: %v", err)
		}
		err := s.RotateRefresh(ctx, s1.ID, 3, storage.RefreshRotation{Hash: "tok-4"}, at(3*time.Hour))
		checkErr(t, "RotateRefresh after EndSession", err, storage.ErrNotFound)
		checkFamiliesGone(t, s, s1.ID)
	})

	t.Run("legacy token unknown", func(t *testing.T) {
		_, err := s.LegacyRefreshSession(ctx, "tok-1")
		checkErr(t, "LegacyRefreshSession", err, storage.ErrNotFound)
	})
}

// testRotateRefreshKeylessFamily: a family without a key (as one migrated
// from the previous token format starts) rotates only when given one, and
// keeps it.
func testRotateRefreshKeylessFamily(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	mustCreateUser(t, s, newUser("u-alice", "alice", ""))
	sess := newSession("s-legacy", "u-alice", at(0))
	sess.Refresh = &storage.RefreshFamily{Generation: 0, Hash: "legacy-hash", ExpiresAt: at(time.Hour)}
	mustCreateSession(t, s, sess, "")
	checkEqual(t, "keyless family", mustGetSession(t, s, sess.ID), sess)

	err := s.RotateRefresh(ctx, sess.ID, 0, storage.RefreshRotation{Hash: "tok-1", ExpiresAt: at(2 * time.Hour)}, at(time.Minute))
	if err == nil || errors.Is(err, storage.ErrSpent) || errors.Is(err, storage.ErrNotFound) {
		t.Errorf("RotateRefresh of a keyless family without a key = %v, want another error", err)
	}
	checkEqual(t, "keyless family, unchanged", mustGetSession(t, s, sess.ID), sess)

	key := familyKey("new")
	mustRotate(t, s, sess.ID, 0, storage.RefreshRotation{Hash: "tok-1", Key: key, ExpiresAt: at(2 * time.Hour)}, at(time.Minute))
	got := mustGetSession(t, s, sess.ID).Refresh
	checkEqual(t, "family given a key", *got, storage.RefreshFamily{Generation: 1, Hash: "tok-1", Key: key, ExpiresAt: at(2 * time.Hour)})
}

// testRotateRefreshConcurrent races many rotations from one generation:
// the contract's single-winner rule, which the refresh grant's reuse
// detection depends on.
func testRotateRefreshConcurrent(t *testing.T, s storage.Storage) {
	const n = 50
	ctx := t.Context()
	mustCreateUser(t, s, newUser("u-alice", "alice", ""))
	s1 := mustCreateSession(t, s, newSession("s1", "u-alice", at(0)), "tok-1")

	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		errs  = make([]error, n)
	)
	for i := range n {
		wg.Go(func() {
			<-start
			now := at(time.Hour + time.Duration(i)*time.Millisecond)
			errs[i] = s.RotateRefresh(ctx, s1.ID, 1, storage.RefreshRotation{Hash: fmt.Sprintf("tok-next-%d", i),
				ExpiresAt: now.Add(time.Hour), Replay: fmt.Appendf(nil, "replay %d", i), ReplayUntil: now.Add(5 * time.Second)}, now)
		})
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
	f := mustGetSession(t, s, s1.ID).Refresh
	if f.Generation != 2 || f.Hash != fmt.Sprintf("tok-next-%d", winner) || string(f.Replay) != fmt.Sprintf("replay %d", winner) || f.ReplayGeneration != 1 {
		t.Errorf("family after the race = %+v, want generation 2 with the winner's (%d) hash and replay", f, winner)
	}
}

// testRotateRefreshConstantSpace: a family takes the same room however
// often it rotates. 1,000 rotations leave one session with generation
// 1,001; when the backend can count its rows, not one row more than
// before them, in any table.
func testRotateRefreshConstantSpace(t *testing.T, s storage.Storage) {
	const n = 1000
	ctx := t.Context()
	mustCreateUser(t, s, newUser("u-alice", "alice", ""))
	sess := mustCreateSession(t, s, newSession("s1", "u-alice", at(0)), "tok-0")
	counter, canCount := s.(RowCounter)
	var before map[string]int64
	if canCount {
		var err error
		if before, err = counter.RowCounts(ctx); err != nil {
			t.Fatalf("RowCounts: %v", err)
		}
	} else {
		t.Log("the backend does not count rows: only the family itself is checked")
	}
	for i := range n {
		now := at(time.Duration(i+1) * time.Second)
		mustRotate(t, s, sess.ID, uint64(i+1), storage.RefreshRotation{Hash: fmt.Sprintf("tok-%d", i+1),
			ExpiresAt: now.Add(time.Hour), Replay: []byte("sealed"), ReplayUntil: now.Add(5 * time.Second)}, now)
	}
	f := mustGetSession(t, s, sess.ID).Refresh
	if f.Generation != n+1 || f.Hash != fmt.Sprintf("tok-%d", n) || f.ReplayGeneration != n {
		t.Errorf("family after %d rotations = %+v", n, f)
	}
	list, err := s.ListSessions(ctx, "u-alice", at(0))
	if err != nil || len(list) != 1 {
		t.Errorf("ListSessions = %d sessions, %v; want exactly 1", len(list), err)
	}
	if !canCount {
		return
	}
	after, err := counter.RowCounts(ctx)
	if err != nil {
		t.Fatalf("RowCounts: %v", err)
	}
	if !maps.Equal(before, after) {
		t.Errorf("rows by table before %d rotations: %v; after: %v", n, before, after)
	}
}

// testRefreshReplayLastRotationOnly: the replay of a rotation is kept only
// until the next rotation replaces it, and DeleteExpired erases it once its
// ReplayUntil has passed, leaving the family otherwise as it was.
func testRefreshReplayLastRotationOnly(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	mustCreateUser(t, s, newUser("u-alice", "alice", ""))
	sess := mustCreateSession(t, s, newSession("s1", "u-alice", at(0)), "tok-1")
	grace := 5 * time.Second

	mustRotate(t, s, sess.ID, 1, storage.RefreshRotation{Hash: "tok-2", ExpiresAt: at(time.Hour),
		Replay: []byte("replay of 1"), ReplayUntil: at(grace)}, at(0))
	mustRotate(t, s, sess.ID, 2, storage.RefreshRotation{Hash: "tok-3", ExpiresAt: at(time.Hour),
		Replay: []byte("replay of 2"), ReplayUntil: at(time.Second + grace)}, at(time.Second))
	f := mustGetSession(t, s, sess.ID).Refresh
	if string(f.Replay) != "replay of 2" || f.ReplayGeneration != 2 || !f.ReplayUntil.Equal(at(time.Second+grace)) {
		t.Errorf("after two rotations: Replay %q of generation %d until %v, want only the last rotation's", f.Replay, f.ReplayGeneration, f.ReplayUntil)
	}

	// Within the grace nothing is erased.
	if n, err := s.DeleteExpired(ctx, at(time.Second+grace-time.Nanosecond), 100); err != nil || n != 0 {
		t.Errorf("DeleteExpired within the grace = %d, %v; want 0", n, err)
	}
	if f := mustGetSession(t, s, sess.ID).Refresh; f.Replay == nil {
		t.Errorf("replay erased within its grace")
	}
	n, err := s.DeleteExpired(ctx, at(time.Second+grace), 100)
	if err != nil || n != 1 {
		t.Errorf("DeleteExpired at ReplayUntil = %d, %v; want 1 (the replay)", n, err)
	}
	want := storage.RefreshFamily{Generation: 3, Hash: "tok-3", Key: sess.Refresh.Key, ExpiresAt: at(time.Hour)}
	checkEqual(t, "family after its replay was erased", *mustGetSession(t, s, sess.ID).Refresh, want)
	// The family still rotates.
	mustRotate(t, s, sess.ID, 3, storage.RefreshRotation{Hash: "tok-4", ExpiresAt: at(2 * time.Hour)}, at(time.Minute))
}
