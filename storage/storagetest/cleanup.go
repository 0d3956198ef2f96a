package storagetest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/storage"
)

func testRevokeJTI(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	for _, r := range []storage.RevokedJTI{
		{JTI: "jti-live", Exp: at(time.Hour)},
		{JTI: "jti-old", Exp: at(-time.Hour)},
		{JTI: "jti-live", Exp: at(time.Hour)}, // again: not an error
	} {
		if err := s.RevokeJTI(ctx, r.JTI, r.Exp); err != nil {
			t.Fatalf("RevokeJTI(%q): %v", r.JTI, err)
		}
	}
	tests := []struct {
		name string
		now  time.Time
		want []storage.RevokedJTI
	}{
		{"now", at(0), []storage.RevokedJTI{{JTI: "jti-live", Exp: at(time.Hour)}}},
		{"before both expire", at(-2 * time.Hour), []storage.RevokedJTI{{JTI: "jti-old", Exp: at(-time.Hour)}, {JTI: "jti-live", Exp: at(time.Hour)}}},
		// Kept for the clock skew after exp, and until the end of it.
		{"at exp", at(time.Hour), []storage.RevokedJTI{{JTI: "jti-live", Exp: at(time.Hour)}}},
		{"at exp + skew", at(time.Hour + storage.RevocationSkew), []storage.RevokedJTI{{JTI: "jti-live", Exp: at(time.Hour)}}},
		{"after exp + skew", at(time.Hour + storage.RevocationSkew + time.Nanosecond), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.RevokedJTIs(ctx, tt.now)
			if err != nil {
				t.Fatalf("RevokedJTIs: %v", err)
			}
			want := map[string]time.Time{}
			for _, r := range tt.want {
				want[r.JTI] = r.Exp
			}
			if len(got) != len(want) {
				t.Errorf("RevokedJTIs = %v, want %v", got, tt.want)
			}
			for _, r := range got {
				if exp, ok := want[r.JTI]; !ok || !r.Exp.Equal(exp) || r.Exp.Location() != time.UTC {
					t.Errorf("RevokedJTIs: %s exp %v, want %v in UTC (listed: %v)", r.JTI, r.Exp, exp, ok)
				}
			}
		})
	}
}

// testDeleteExpired runs cases that each write three expired rows of one
// kind and a live one, then call DeleteExpired with limit 2 until it returns
// 0. The cases share the storage: each uses its own user and keys prefixed
// with its own name, and leaves no expired rows behind.
func testDeleteExpired(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	now := at(10 * time.Hour)
	past := func(i int) time.Time { return now.Add(-time.Duration(i+1) * time.Hour) }
	future := now.Add(100 * time.Hour)

	tests := []struct {
		name string
		// perKind is how many kinds setup writes expired rows of.
		perKind int
		// setup writes rows with keys starting with p for user p+"user";
		// it returns how many rows DeleteExpired should delete or erase in
		// all, and a check of what is left.
		setup func(t *testing.T, p string) (want int, check func(t *testing.T))
	}{
		{"sessions", 1, func(t *testing.T, p string) (int, func(t *testing.T)) {
			for i := range 4 {
				sess := newSession(fmt.Sprintf("%ss%d", p, i), p+"user", at(0))
				sess.ExpiresAt = past(i)
				if i == 3 {
					sess.ExpiresAt = future
				}
				mustCreateSession(t, s, sess, "")
			}
			return 3, func(t *testing.T) {
				for i := range 3 {
					_, err := s.GetSession(ctx, fmt.Sprintf("%ss%d", p, i))
					checkErr(t, "GetSession(expired)", err, storage.ErrNotFound)
				}
				mustGetSession(t, s, p+"s3")
			}
		}},
		{"replay data", 1, func(t *testing.T, p string) (int, func(t *testing.T)) {
			// Four families, each rotated once: three with a grace that has
			// ended, one within it.
			for i := range 4 {
				sess := newSession(fmt.Sprintf("%ss%d", p, i), p+"user", at(0))
				sess.ExpiresAt = future
				mustCreateSession(t, s, sess, fmt.Sprintf("%stok-%d", p, i))
				until := past(i)
				if i == 3 {
					until = future
				}
				mustRotate(t, s, sess.ID, 1, storage.RefreshRotation{Hash: fmt.Sprintf("%stok-%d-next", p, i),
					ExpiresAt: future, Replay: []byte("sealed"), ReplayUntil: until}, at(0))
			}
			return 3, func(t *testing.T) {
				for i := range 4 {
					f := mustGetSession(t, s, fmt.Sprintf("%ss%d", p, i)).Refresh
					// The family itself stays, at its generation.
					if f == nil || f.Generation != 2 {
						t.Errorf("s%d: family %+v, want it at generation 2", i, f)
						continue
					}
					if wantReplay := i == 3; (f.Replay != nil) != wantReplay {
						t.Errorf("s%d: Replay = %q, want it kept: %v", i, f.Replay, wantReplay)
					}
				}
			}
		}},
		{"revoked jtis", 1, func(t *testing.T, p string) (int, func(t *testing.T)) {
			for i := range 4 {
				// Past exp + skew, and so deletable.
				exp := past(i).Add(-storage.RevocationSkew)
				if i == 3 {
					exp = future
				}
				if err := s.RevokeJTI(ctx, fmt.Sprintf("%sjti-%d", p, i), exp); err != nil {
					t.Fatalf("RevokeJTI: %v", err)
				}
			}
			return 3, func(t *testing.T) {
				// At the zero time every stored jti is live.
				got, err := s.RevokedJTIs(ctx, time.Time{})
				if err != nil {
					t.Fatalf("RevokedJTIs: %v", err)
				}
				var left []string
				for _, r := range got {
					if strings.HasPrefix(r.JTI, p) {
						left = append(left, r.JTI)
					}
				}
				checkIDs(t, "jtis left", left, []string{p + "jti-3"})
			}
		}},
		{"one-time tokens", 1, func(t *testing.T, p string) (int, func(t *testing.T)) {
			for i := range 4 {
				o := newOneTimeToken(fmt.Sprintf("%sott-%d", p, i), storage.PurposeReset, p+"user", at(time.Duration(i)))
				o.ExpiresAt = past(i)
				if i == 3 {
					o.ExpiresAt = future
				}
				mustCreateOneTimeToken(t, s, o)
			}
			return 3, func(t *testing.T) {
				n, err := s.CountOneTimeTokens(ctx, p+"user", storage.PurposeReset, time.Time{})
				if err != nil || n != 1 {
					t.Errorf("CountOneTimeTokens = %d, %v; want 1 left", n, err)
				}
			}
		}},
		{"login failure counts", 1, func(t *testing.T, p string) (int, func(t *testing.T)) {
			// Three counts forgotten before now, one still waiting.
			pol := storage.FailurePolicy{Threshold: 1, Increment: time.Minute, Max: time.Minute, Reset: 30 * time.Minute}
			for i := range 4 {
				when := past(i)
				if i == 3 {
					when = now.Add(-time.Second)
				}
				if _, err := s.LimitAttempt(ctx, fmt.Sprintf("%sfail-%d", p, i), when, pol); err != nil {
					t.Fatalf("LimitAttempt: %v", err)
				}
			}
			return 3, func(t *testing.T) {
				if n, w, err := s.LimitCount(ctx, p+"fail-3", now); err != nil || n != 1 || w <= 0 {
					t.Errorf("LimitCount of the live count = %d, %v, %v; want 1 and a wait", n, w, err)
				}
			}
		}},
		{"rate windows", 1, func(t *testing.T, p string) (int, func(t *testing.T)) {
			// Three windows ended before now, one still open and full.
			for i := range 4 {
				start := past(i).Add(-time.Hour)
				if i == 3 {
					start = now.Add(-time.Minute)
				}
				if ok, _, err := s.LimitAllow(ctx, fmt.Sprintf("%swin-%d", p, i), 1, time.Hour, start); err != nil || !ok {
					t.Fatalf("LimitAllow = %v, %v", ok, err)
				}
			}
			return 3, func(t *testing.T) {
				if ok, _, err := s.LimitAllow(ctx, p+"win-3", 1, time.Hour, now); err != nil || ok {
					t.Errorf("LimitAllow in the live, full window = %v, %v; want a refusal", ok, err)
				}
			}
		}},
		{"each kind has its own limit", 2, func(t *testing.T, p string) (int, func(t *testing.T)) {
			for i := range 3 {
				if err := s.RevokeJTI(ctx, fmt.Sprintf("%sjti-%d", p, i), past(i).Add(-storage.RevocationSkew)); err != nil {
					t.Fatalf("RevokeJTI: %v", err)
				}
				o := newOneTimeToken(fmt.Sprintf("%sott-%d", p, i), storage.PurposeReset, p+"user", at(0))
				o.ExpiresAt = past(i)
				mustCreateOneTimeToken(t, s, o)
			}
			return 6, func(t *testing.T) {
				n, err := s.CountOneTimeTokens(ctx, p+"user", storage.PurposeReset, time.Time{})
				if err != nil || n != 0 {
					t.Errorf("CountOneTimeTokens = %d, %v; want 0 left", n, err)
				}
			}
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := fmt.Sprintf("c%d-", i)
			mustCreateUser(t, s, newUser(p+"user", p+"user", ""))
			want, check := tt.setup(t, p)
			const limit = 2
			total := 0
			for call := 1; ; call++ {
				n, err := s.DeleteExpired(ctx, now, limit)
				if err != nil {
					t.Fatalf("DeleteExpired: %v", err)
				}
				if n == 0 {
					break
				}
				if call == 1 && n != tt.perKind*limit {
					t.Errorf("first DeleteExpired = %d, want %d (the limit for each of %d kinds)", n, tt.perKind*limit, tt.perKind)
				}
				if n > tt.perKind*limit {
					t.Errorf("DeleteExpired call %d = %d, above the limit", call, n)
				}
				total += n
				if call > 10 {
					t.Fatalf("DeleteExpired still deleting after %d calls", call)
				}
			}
			if total != want {
				t.Errorf("DeleteExpired deleted %d in all, want %d", total, want)
			}
			check(t)
		})
	}

	t.Run("session with its family", func(t *testing.T) {
		mustCreateUser(t, s, newUser("u-last", "last", ""))
		sess := newSession("s-last", "u-last", at(0))
		sess.ExpiresAt = past(0)
		mustCreateSession(t, s, sess, "tok-last")
		n, err := s.DeleteExpired(ctx, now, 10)
		if err != nil || n != 1 {
			t.Errorf("DeleteExpired = %d, %v; want 1 (the session, its family in it)", n, err)
		}
		_, err = s.GetSession(ctx, "s-last")
		checkErr(t, "GetSession", err, storage.ErrNotFound)
	})

	t.Run("revoked jti within the skew", func(t *testing.T) {
		exp := now.Add(-storage.RevocationSkew)
		if err := s.RevokeJTI(ctx, "jti-skew", exp); err != nil {
			t.Fatal(err)
		}
		if n, err := s.DeleteExpired(ctx, now, 10); err != nil || n != 0 {
			t.Errorf("DeleteExpired at exp + skew = %d, %v; want 0", n, err)
		}
		if n, err := s.DeleteExpired(ctx, now.Add(time.Nanosecond), 10); err != nil || n != 1 {
			t.Errorf("DeleteExpired just after exp + skew = %d, %v; want 1", n, err)
		}
	})
}

// testDeleteExpiredBatches: with many rows to go, each call deletes at
// most limit of each kind, and a caller that calls again while the count
// comes back at the limit (as the server's sweep does) deletes them all and
// nothing else.
func testDeleteExpiredBatches(t *testing.T, s storage.Storage) {
	const perKind, limit = 300, 100
	ctx := t.Context()
	now := at(10 * time.Hour)
	mustCreateUser(t, s, newUser("u-many", "many", ""))
	for i := range perKind {
		sess := newSession(fmt.Sprintf("s-%03d", i), "u-many", at(0))
		sess.ExpiresAt = now.Add(-time.Duration(i+1) * time.Second)
		mustCreateSession(t, s, sess, fmt.Sprintf("tok-%03d", i))
		if err := s.RevokeJTI(ctx, fmt.Sprintf("jti-%03d", i), now.Add(-storage.RevocationSkew-time.Duration(i+1)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	live := mustCreateSession(t, s, newSession("s-live", "u-many", at(0)), "tok-live")
	if err := s.RevokeJTI(ctx, "jti-live", now); err != nil {
		t.Fatal(err)
	}
	total, calls := 0, 0
	for {
		n, err := s.DeleteExpired(ctx, now, limit)
		if err != nil {
			t.Fatalf("DeleteExpired: %v", err)
		}
		calls++
		if n > 2*limit {
			t.Errorf("DeleteExpired call %d = %d, above the limit of %d for each of 2 kinds", calls, n, limit)
		}
		total += n
		if n < 2*limit || calls > 10 {
			break
		}
	}
	if total != 2*perKind || calls != perKind/limit+1 {
		t.Errorf("DeleteExpired deleted %d in %d calls, want %d in %d", total, calls, 2*perKind, perKind/limit+1)
	}
	list, err := s.ListSessions(ctx, "u-many", at(0))
	if err != nil || len(list) != 1 || list[0].ID != live.ID {
		t.Errorf("sessions left: %v, %v; want only %s", list, err, live.ID)
	}
	jtis, err := s.RevokedJTIs(ctx, time.Time{})
	if err != nil || len(jtis) != 1 || jtis[0].JTI != "jti-live" {
		t.Errorf("revoked jtis left: %v, %v; want only jti-live", jtis, err)
	}
}
