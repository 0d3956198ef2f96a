package storagetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/storage"
)

// newOneTimeToken is an unused token created at created, valid for an hour.
func newOneTimeToken(hash, purpose, userID string, created time.Time) storage.OneTimeToken {
	return storage.OneTimeToken{
		Hash:      hash,
		Purpose:   purpose,
		UserID:    userID,
		Email:     userID + "@example.com",
		CreatedAt: created,
		ExpiresAt: created.Add(time.Hour),
	}
}

func mustCreateOneTimeToken(t *testing.T, s storage.Storage, o storage.OneTimeToken) {
	t.Helper()
	if err := s.CreateOneTimeToken(t.Context(), o); err != nil {
		t.Fatalf("CreateOneTimeToken(%q): %v", o.Hash, err)
	}
}

func testOneTimeTokens(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	mustCreateUser(t, s, newUser("u-alice", "alice", ""))
	mustCreateUser(t, s, newUser("u-bob", "bob", ""))
	reset, verify := storage.PurposeReset, storage.PurposeVerifyEmail

	t.Run("consume once", func(t *testing.T) {
		o := newOneTimeToken("ott-1", reset, "u-alice", at(0))
		mustCreateOneTimeToken(t, s, o)
		now := at(30 * time.Minute)
		peek, err := s.GetOneTimeToken(ctx, o.Hash, reset, now)
		if err != nil {
			t.Fatalf("GetOneTimeToken: %v", err)
		}
		checkEqual(t, "GetOneTimeToken", peek, o)
		got, err := s.ConsumeOneTimeToken(ctx, o.Hash, reset, now)
		if err != nil {
			t.Fatalf("ConsumeOneTimeToken: %v", err)
		}
		want := o
		want.UsedAt = now
		checkEqual(t, "ConsumeOneTimeToken", got, want)
		_, err = s.ConsumeOneTimeToken(ctx, o.Hash, reset, now)
		checkErr(t, "second ConsumeOneTimeToken", err, storage.ErrNotFound)
		_, err = s.GetOneTimeToken(ctx, o.Hash, reset, now)
		checkErr(t, "GetOneTimeToken after use", err, storage.ErrNotFound)
	})

	t.Run("not usable", func(t *testing.T) {
		o := newOneTimeToken("ott-2", verify, "u-bob", at(0))
		mustCreateOneTimeToken(t, s, o)
		tests := []struct {
			name, hash, purpose string
			now                 time.Time
		}{
			{"other purpose", o.Hash, reset, at(time.Minute)},
			{"expired", o.Hash, verify, o.ExpiresAt.Add(time.Second)},
			{"at expiry", o.Hash, verify, o.ExpiresAt},
			{"unknown", "ott-nope", verify, at(time.Minute)},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := s.GetOneTimeToken(ctx, tt.hash, tt.purpose, tt.now)
				checkErr(t, "GetOneTimeToken", err, storage.ErrNotFound)
				_, err = s.ConsumeOneTimeToken(ctx, tt.hash, tt.purpose, tt.now)
				checkErr(t, "ConsumeOneTimeToken", err, storage.ErrNotFound)
			})
		}
		// The failed attempts did not use it up.
		if _, err := s.ConsumeOneTimeToken(ctx, o.Hash, verify, o.ExpiresAt.Add(-time.Nanosecond)); err != nil {
			t.Errorf("ConsumeOneTimeToken just before expiry: %v", err)
		}
	})

	t.Run("a newer token supersedes older ones of the user and purpose", func(t *testing.T) {
		for _, o := range []storage.OneTimeToken{
			newOneTimeToken("old-reset-1", reset, "u-alice", at(0)),
			newOneTimeToken("old-reset-2", reset, "u-alice", at(time.Minute)),
			newOneTimeToken("alice-verify", verify, "u-alice", at(time.Minute)),
			newOneTimeToken("bob-reset", reset, "u-bob", at(time.Minute)),
			newOneTimeToken("new-reset", reset, "u-alice", at(2*time.Minute)),
		} {
			mustCreateOneTimeToken(t, s, o)
		}
		now := at(3 * time.Minute)
		for _, hash := range []string{"old-reset-1", "old-reset-2"} {
			_, err := s.ConsumeOneTimeToken(ctx, hash, reset, now)
			checkErr(t, "ConsumeOneTimeToken("+hash+")", err, storage.ErrNotFound)
		}
		for _, c := range []struct{ hash, purpose string }{
			{"new-reset", reset}, {"alice-verify", verify}, {"bob-reset", reset},
		} {
			if _, err := s.ConsumeOneTimeToken(ctx, c.hash, c.purpose, now); err != nil {
				t.Errorf("ConsumeOneTimeToken(%q): %v, want it usable", c.hash, err)
			}
		}
	})

	t.Run("hash taken", func(t *testing.T) {
		o := newOneTimeToken("ott-3", reset, "u-bob", at(0))
		mustCreateOneTimeToken(t, s, o)
		err := s.CreateOneTimeToken(ctx, newOneTimeToken(o.Hash, reset, "u-bob", at(time.Minute)))
		checkErr(t, "CreateOneTimeToken", err, storage.ErrAlreadyExists)
		// Atomic: the failed create superseded nothing.
		got, err := s.ConsumeOneTimeToken(ctx, o.Hash, reset, at(2*time.Minute))
		if err != nil {
			t.Fatalf("ConsumeOneTimeToken: %v, want the first token usable", err)
		}
		if !got.CreatedAt.Equal(o.CreatedAt) {
			t.Errorf("CreatedAt = %v, want the first token's %v", got.CreatedAt, o.CreatedAt)
		}
	})
}

func testConsumeOneTimeTokenConcurrent(t *testing.T, s storage.Storage) {
	const n = 20
	ctx := t.Context()
	mustCreateUser(t, s, newUser("u-alice", "alice", ""))
	o := newOneTimeToken("ott", storage.PurposeReset, "u-alice", at(0))
	mustCreateOneTimeToken(t, s, o)

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
			_, errs[i] = s.ConsumeOneTimeToken(ctx, o.Hash, o.Purpose, at(time.Minute))
		}()
	}
	close(start)
	wg.Wait()
	wins := 0
	for i, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, storage.ErrNotFound):
			t.Errorf("consume %d: err = %v, want nil or ErrNotFound", i, err)
		}
	}
	if wins != 1 {
		t.Errorf("%d of %d concurrent consumes succeeded, want 1", wins, n)
	}
}

func testCountOneTimeTokens(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	mustCreateUser(t, s, newUser("u-alice", "alice", ""))
	mustCreateUser(t, s, newUser("u-bob", "bob", ""))
	for _, o := range []storage.OneTimeToken{
		newOneTimeToken("v1", storage.PurposeVerifyEmail, "u-alice", at(1*time.Hour)),
		newOneTimeToken("v2", storage.PurposeVerifyEmail, "u-alice", at(2*time.Hour)),
		newOneTimeToken("v3", storage.PurposeVerifyEmail, "u-alice", at(3*time.Hour)),
		newOneTimeToken("r1", storage.PurposeReset, "u-alice", at(3*time.Hour)),
		newOneTimeToken("v-bob", storage.PurposeVerifyEmail, "u-bob", at(3*time.Hour)),
	} {
		mustCreateOneTimeToken(t, s, o)
	}
	// Used tokens count too.
	if _, err := s.ConsumeOneTimeToken(ctx, "v3", storage.PurposeVerifyEmail, at(3*time.Hour+time.Minute)); err != nil {
		t.Fatalf("ConsumeOneTimeToken: %v", err)
	}

	tests := []struct {
		name            string
		userID, purpose string
		since           time.Time
		want            int
	}{
		{"since zero", "u-alice", storage.PurposeVerifyEmail, time.Time{}, 3},
		{"since before the first", "u-alice", storage.PurposeVerifyEmail, at(30 * time.Minute), 3},
		{"since the first", "u-alice", storage.PurposeVerifyEmail, at(time.Hour), 2},
		{"since the last", "u-alice", storage.PurposeVerifyEmail, at(3 * time.Hour), 0},
		{"other purpose", "u-alice", storage.PurposeReset, time.Time{}, 1},
		{"other user", "u-bob", storage.PurposeVerifyEmail, time.Time{}, 1},
		{"unknown user", "u-nobody", storage.PurposeVerifyEmail, time.Time{}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.CountOneTimeTokens(ctx, tt.userID, tt.purpose, tt.since)
			if err != nil || got != tt.want {
				t.Errorf("CountOneTimeTokens = %d, %v; want %d, nil", got, err, tt.want)
			}
		})
	}
}
