package storagetest

import (
	"testing"
	"time"

	"github.com/authd/authd/storage"
)

func testGetSessionAndUser(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	u := newUser("u-fam", "family", "family@example.com")
	mustCreateUser(t, s, u)
	sess := mustCreateSession(t, s, newSession("s-fam", u.ID, at(0)), "rt-fam-1")

	gotS, gotU, err := s.GetSessionAndUser(ctx, sess.ID)
	if err != nil {
		t.Fatalf("GetSessionAndUser: %v", err)
	}
	checkEqual(t, "session", gotS, sess)
	checkEqual(t, "user", gotU, u)

	// After a rotation the family is read as it now stands, replay included.
	next := storage.RefreshRotation{Hash: "rt-fam-2", ExpiresAt: at(time.Hour), Replay: []byte("sealed"), ReplayUntil: at(2 * time.Minute)}
	mustRotate(t, s, sess.ID, 1, next, at(time.Minute))
	gotS, _, err = s.GetSessionAndUser(ctx, sess.ID)
	if err != nil {
		t.Fatalf("GetSessionAndUser after a rotation: %v", err)
	}
	want := sess
	want.LastUsedAt = at(time.Minute)
	want.Refresh = &storage.RefreshFamily{Generation: 2, Hash: "rt-fam-2", Key: sess.Refresh.Key, ExpiresAt: at(time.Hour),
		Replay: []byte("sealed"), ReplayGeneration: 1, ReplayUntil: at(2 * time.Minute)}
	checkEqual(t, "session after a rotation", gotS, want)

	// An ended session is still returned, without its family.
	if err := s.EndSession(ctx, sess.ID, at(3*time.Minute)); err != nil {
		t.Fatal(err)
	}
	gotS, _, err = s.GetSessionAndUser(ctx, sess.ID)
	if err != nil || gotS.EndedAt.IsZero() || gotS.Refresh != nil {
		t.Errorf("GetSessionAndUser of an ended session = EndedAt %v, Refresh %+v, %v", gotS.EndedAt, gotS.Refresh, err)
	}
	_, _, err = s.GetSessionAndUser(ctx, "unknown")
	checkErr(t, "GetSessionAndUser(unknown)", err, storage.ErrNotFound)
}
