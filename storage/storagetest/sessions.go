package storagetest

import (
	"testing"
	"time"

	"github.com/authd/authd/storage"
)

func testCreateSession(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	mustCreateUser(t, s, newUser("u-alice", "alice", ""))
	s1 := mustCreateSession(t, s, newSession("s1", "u-alice", at(0)), "tok-1")
	checkEqual(t, "GetSession", mustGetSession(t, s, s1.ID), s1)

	s2 := newSession("s2", "u-alice", at(time.Minute))
	s2.ExpiresAt, s2.UserAgent, s2.Address = time.Time{}, "", ""
	mustCreateSession(t, s, s2, "")
	checkEqual(t, "GetSession without a refresh family", mustGetSession(t, s, s2.ID), s2)

	// Every field of a family comes back, a replay and a generation beyond
	// 32 bits included.
	s3 := newSession("s3", "u-alice", at(time.Minute))
	s3.Refresh = &storage.RefreshFamily{
		Generation: 1 << 40, Hash: "tok-3", Key: familyKey("s3"), ExpiresAt: at(time.Hour),
		Replay: []byte("sealed"), ReplayGeneration: 1<<40 - 1, ReplayUntil: at(2 * time.Minute),
	}
	mustCreateSession(t, s, s3, "")
	checkEqual(t, "GetSession with every family field", mustGetSession(t, s, s3.ID), s3)

	t.Run("id taken", func(t *testing.T) {
		err := s.CreateSession(ctx, withFamily(newSession("s1", "u-alice", at(time.Hour)), "tok-new"))
		checkErr(t, "CreateSession", err, storage.ErrAlreadyExists)
		checkEqual(t, "GetSession(s1), unchanged", mustGetSession(t, s, s1.ID), s1)
	})

	t.Run("unknown", func(t *testing.T) {
		_, err := s.GetSession(ctx, "s-nope")
		checkErr(t, "GetSession", err, storage.ErrNotFound)
	})
}

func testListSessions(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	mustCreateUser(t, s, newUser("u-alice", "alice", ""))
	mustCreateUser(t, s, newUser("u-bob", "bob", ""))
	s1 := newSession("s1", "u-alice", at(1*time.Hour))
	s2 := newSession("s2", "u-alice", at(2*time.Hour))
	s3 := newSession("s3", "u-alice", at(3*time.Hour))
	s4 := newSession("s4", "u-alice", at(4*time.Hour)) // ended below
	s5 := newSession("s5", "u-alice", at(5*time.Hour))
	s5.ExpiresAt = at(5*time.Hour + 30*time.Minute)
	for _, sess := range []storage.Session{s1, s3, s2, s4, s5, newSession("b1", "u-bob", at(2*time.Hour))} {
		mustCreateSession(t, s, sess, "")
	}
	if err := s.EndSession(ctx, "s4", at(4*time.Hour+time.Minute)); err != nil {
		t.Fatalf("EndSession: %v", err)
	}

	tests := []struct {
		name   string
		userID string
		now    time.Time
		want   []storage.Session
	}{
		{"before s5 expires", "u-alice", at(5*time.Hour + 10*time.Minute), []storage.Session{s5, s3, s2, s1}},
		{"after s5 expired", "u-alice", at(6 * time.Hour), []storage.Session{s3, s2, s1}},
		{"unknown user", "u-nobody", at(6 * time.Hour), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.ListSessions(ctx, tt.userID, tt.now)
			if err != nil {
				t.Fatalf("ListSessions: %v", err)
			}
			if len(got) != len(tt.want) {
				var ids []string
				for _, g := range got {
					ids = append(ids, g.ID)
				}
				t.Fatalf("ListSessions = %q, want %d sessions", ids, len(tt.want))
			}
			for i := range got {
				checkEqual(t, "ListSessions["+tt.want[i].ID+"]", got[i], tt.want[i])
			}
		})
	}
}

func testEndSession(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	mustCreateUser(t, s, newUser("u-alice", "alice", ""))
	s1 := mustCreateSession(t, s, newSession("s1", "u-alice", at(0)), "tok-1")
	mustCreateSession(t, s, newSession("s2", "u-alice", at(0)), "tok-s2")
	mustRotate(t, s, s1.ID, 1, storage.RefreshRotation{Hash: "tok-2", ExpiresAt: at(time.Hour),
		Replay: []byte("sealed"), ReplayUntil: at(2 * time.Hour)}, at(time.Minute))

	first := at(time.Hour)
	if err := s.EndSession(ctx, "s1", first); err != nil {
		t.Fatalf("EndSession: %v", err)
	}
	// The family is erased, key and replay included.
	want := s1
	want.LastUsedAt, want.EndedAt, want.Refresh = at(time.Minute), first, nil
	checkEqual(t, "GetSession after EndSession", mustGetSession(t, s, "s1"), want)
	checkFamiliesLive(t, s, "s2")
	if got := mustGetSession(t, s, "s2").EndedAt; !got.IsZero() {
		t.Errorf("other session: EndedAt = %v, want zero", got)
	}
	err := s.RotateRefresh(ctx, "s1", 2, storage.RefreshRotation{Hash: "tok-3"}, at(2*time.Hour))
	checkErr(t, "RotateRefresh of an ended family", err, storage.ErrNotFound)

	if err := s.EndSession(ctx, "s1", at(2*time.Hour)); err != nil {
		t.Errorf("EndSession of an ended session: %v", err)
	}
	if got := mustGetSession(t, s, "s1").EndedAt; !got.Equal(first) {
		t.Errorf("EndedAt after a second EndSession = %v, want the first %v", got, first)
	}
	checkErr(t, "EndSession(unknown)", s.EndSession(ctx, "s-nope", first), storage.ErrNotFound)
}

func testEndUserSessions(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	mustCreateUser(t, s, newUser("u-alice", "alice", ""))
	mustCreateUser(t, s, newUser("u-bob", "bob", ""))
	for _, id := range []string{"a1", "a2", "a3"} {
		mustCreateSession(t, s, newSession(id, "u-alice", at(0)), "tok-"+id)
	}
	mustCreateSession(t, s, newSession("b1", "u-bob", at(0)), "tok-b1")
	earlier := at(30 * time.Minute)
	if err := s.EndSession(ctx, "a3", earlier); err != nil {
		t.Fatalf("EndSession: %v", err)
	}

	now := at(time.Hour)
	ended, err := s.EndUserSessions(ctx, "u-alice", "a2", now)
	if err != nil {
		t.Fatalf("EndUserSessions: %v", err)
	}
	checkIDs(t, "ended", ended, []string{"a1"})
	for _, c := range []struct {
		id   string
		want time.Time
	}{{"a1", now}, {"a2", time.Time{}}, {"a3", earlier}, {"b1", time.Time{}}} {
		if got := mustGetSession(t, s, c.id).EndedAt; !got.Equal(c.want) {
			t.Errorf("session %s: EndedAt = %v, want %v", c.id, got, c.want)
		}
	}
	checkFamiliesGone(t, s, "a1", "a3")
	checkFamiliesLive(t, s, "a2", "b1")

	ended, err = s.EndUserSessions(ctx, "u-alice", "", at(2*time.Hour))
	if err != nil {
		t.Fatalf("EndUserSessions(keep none): %v", err)
	}
	checkIDs(t, "ended (keep none)", ended, []string{"a2"})
	checkFamiliesGone(t, s, "a2")
	checkFamiliesLive(t, s, "b1")

	ended, err = s.EndUserSessions(ctx, "u-nobody", "", now)
	if err != nil || len(ended) != 0 {
		t.Errorf("EndUserSessions(unknown user) = %q, %v; want nothing", ended, err)
	}
}

func testEndedSessions(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	mustCreateUser(t, s, newUser("u-alice", "alice", ""))
	for _, id := range []string{"e1", "e2", "live"} {
		mustCreateSession(t, s, newSession(id, "u-alice", at(0)), "")
	}
	for id, when := range map[string]time.Time{"e1": at(time.Hour), "e2": at(2 * time.Hour)} {
		if err := s.EndSession(ctx, id, when); err != nil {
			t.Fatalf("EndSession: %v", err)
		}
	}

	tests := []struct {
		name  string
		since time.Time
		want  map[string]time.Time
	}{
		{"since zero", time.Time{}, map[string]time.Time{"e1": at(time.Hour), "e2": at(2 * time.Hour)}},
		{"since before both", at(30 * time.Minute), map[string]time.Time{"e1": at(time.Hour), "e2": at(2 * time.Hour)}},
		{"since the first end", at(time.Hour), map[string]time.Time{"e2": at(2 * time.Hour)}},
		{"since the last end", at(2 * time.Hour), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.EndedSessions(ctx, tt.since)
			if err != nil {
				t.Fatalf("EndedSessions: %v", err)
			}
			if len(got) != len(tt.want) {
				t.Errorf("EndedSessions = %v, want %v", got, tt.want)
			}
			for _, e := range got {
				if want, ok := tt.want[e.ID]; !ok || !e.EndedAt.Equal(want) {
					t.Errorf("EndedSessions: %s ended at %v, want %v (listed: %v)", e.ID, e.EndedAt, want, ok)
				}
			}
		})
	}
}
