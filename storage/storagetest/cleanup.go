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
		{"at exp", at(time.Hour), nil},
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
		{"refresh tokens", 1, func(t *testing.T, p string) (int, func(t *testing.T)) {
			for i := range 4 {
				sess := newSession(fmt.Sprintf("%ss%d", p, i), p+"user", at(0))
				sess.ExpiresAt = future
				tok := newToken(fmt.Sprintf("%stok-%d", p, i), sess, at(0))
				tok.ExpiresAt = past(i)
				if i == 3 {
					tok.ExpiresAt = future
				}
				if err := s.CreateSession(ctx, sess, &tok); err != nil {
					t.Fatalf("CreateSession: %v", err)
				}
			}
			return 3, func(t *testing.T) {
				checkTokensGone(t, s, p+"tok-0", p+"tok-1", p+"tok-2")
				checkTokensExist(t, s, p+"tok-3")
				for i := range 4 {
					mustGetSession(t, s, fmt.Sprintf("%ss%d", p, i))
				}
			}
		}},
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
			sess := newSession(p+"s", p+"user", at(0))
			sess.ExpiresAt = future
			tok := newToken(p+"tok-0", sess, at(0))
			tok.ExpiresAt = future
			if err := s.CreateSession(ctx, sess, &tok); err != nil {
				t.Fatalf("CreateSession: %v", err)
			}
			// tok-0 … tok-2 spent with a grace that has ended, tok-3 spent
			// within its grace, tok-4 unspent.
			for i := range 4 {
				next := newToken(fmt.Sprintf("%stok-%d", p, i+1), sess, at(time.Duration(i)))
				next.ExpiresAt = future
				until := past(i)
				if i == 3 {
					until = future
				}
				err := s.RotateRefreshToken(ctx, fmt.Sprintf("%stok-%d", p, i), next,
					[]byte("sealed"), until, at(time.Duration(i)))
				if err != nil {
					t.Fatalf("RotateRefreshToken: %v", err)
				}
			}
			return 3, func(t *testing.T) {
				for i := range 5 {
					got := mustGetRefreshToken(t, s, fmt.Sprintf("%stok-%d", p, i))
					// The spent token itself stays until its ExpiresAt, so
					// its reuse is still detected.
					if i < 4 && got.SpentAt.IsZero() {
						t.Errorf("tok-%d: SpentAt is zero", i)
					}
					if wantReplay := i == 3; (got.Replay != nil) != wantReplay {
						t.Errorf("tok-%d: Replay = %q, want it kept: %v", i, got.Replay, wantReplay)
					}
				}
			}
		}},
		{"revoked jtis", 1, func(t *testing.T, p string) (int, func(t *testing.T)) {
			for i := range 4 {
				exp := past(i)
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
		{"each kind has its own limit", 2, func(t *testing.T, p string) (int, func(t *testing.T)) {
			for i := range 3 {
				if err := s.RevokeJTI(ctx, fmt.Sprintf("%sjti-%d", p, i), past(i)); err != nil {
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

	t.Run("session with its tokens", func(t *testing.T) {
		mustCreateUser(t, s, newUser("u-last", "last", ""))
		sess := newSession("s-last", "u-last", at(0))
		sess.ExpiresAt = past(0)
		// The token outlives its session (which a server never does) so
		// that only the session can take it along.
		tok := newToken("tok-last", sess, at(0))
		tok.ExpiresAt = future
		if err := s.CreateSession(ctx, sess, &tok); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
		n, err := s.DeleteExpired(ctx, now, 10)
		if err != nil || n != 2 {
			t.Errorf("DeleteExpired = %d, %v; want 2 (the session and its token)", n, err)
		}
		_, err = s.GetSession(ctx, "s-last")
		checkErr(t, "GetSession", err, storage.ErrNotFound)
		checkTokensGone(t, s, "tok-last")
	})
}
