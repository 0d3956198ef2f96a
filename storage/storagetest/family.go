package storagetest

import (
	"testing"
	"time"

	"github.com/authd/authd/storage"
)

func testGetRefreshFamily(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	u := newUser("u-fam", "family", "family@example.com")
	mustCreateUser(t, s, u)
	sess := newSession("s-fam", u.ID, at(0))
	tok := mustCreateSession(t, s, sess, "rt-fam-1")

	gotT, gotS, gotU, err := s.GetRefreshFamily(ctx, tok.Hash)
	if err != nil {
		t.Fatalf("GetRefreshFamily: %v", err)
	}
	checkEqual(t, "token", gotT, tok)
	checkEqual(t, "session", gotS, sess)
	checkEqual(t, "user", gotU, u)

	// A spent token is returned as it is, with its replay.
	next := newToken("rt-fam-2", sess, at(time.Minute))
	if err := s.RotateRefreshToken(ctx, tok.Hash, next, []byte("sealed"), at(2*time.Minute), at(time.Minute)); err != nil {
		t.Fatal(err)
	}
	gotT, _, _, err = s.GetRefreshFamily(ctx, tok.Hash)
	if err != nil {
		t.Fatalf("GetRefreshFamily of a spent token: %v", err)
	}
	if !gotT.SpentAt.Equal(at(time.Minute)) || string(gotT.Replay) != "sealed" {
		t.Errorf("GetRefreshFamily of a spent token = %+v", gotT)
	}
	// Ending the session deletes its tokens: the family is gone.
	if err := s.EndSession(ctx, sess.ID, at(3*time.Minute)); err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{tok.Hash, next.Hash, "unknown"} {
		_, _, _, err = s.GetRefreshFamily(ctx, h)
		checkErr(t, "GetRefreshFamily "+h, err, storage.ErrNotFound)
	}
}
