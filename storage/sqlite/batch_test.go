package sqlite

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/storage"
)

// Rotations committed together keep their own outcomes: the ones that lose
// a race or find their session ended fail alone, the others commit, and
// every successful rotation is in the database when its call returns.
func TestGroupCommitOutcomes(t *testing.T) {
	var mu sync.Mutex
	commits := 0
	db, err := Open(t.Context(), filepath.Join(t.TempDir(), "a.db"), Options{ObserveCommit: func(time.Duration) {
		mu.Lock()
		commits++
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	now := time.Unix(1_700_000_000, 0).UTC()
	if err := db.CreateUser(ctx, storage.User{ID: "u", Username: "u", CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	const families = 40
	for i := range families {
		s := storage.Session{ID: fmt.Sprint("s", i), UserID: "u", ClientID: "c", AuthTime: now, CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(time.Hour),
			Refresh: &storage.RefreshFamily{Generation: 1, Hash: fmt.Sprint("t", i), Key: make([]byte, 32), ExpiresAt: now.Add(time.Hour)}}
		if err := db.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	// Every fourth family has ended: its rotation must fail with ErrNotFound.
	for i := 0; i < families; i += 4 {
		if err := db.EndSession(ctx, fmt.Sprint("s", i), now); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	before := commits
	mu.Unlock()
	// Two racers per family: one wins, one gets ErrSpent.
	errs := make([]error, 2*families)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 2 * families {
		wg.Go(func() {
			<-start
			f := i / 2
			next := storage.RefreshRotation{Hash: fmt.Sprint("t", f, "-", i), ExpiresAt: now.Add(time.Hour)}
			errs[i] = db.RotateRefresh(ctx, fmt.Sprint("s", f), 1, next, now)
			if errs[i] == nil {
				// Durable on return: the new hash is readable at once.
				if s, err := db.GetSession(ctx, fmt.Sprint("s", f)); err != nil || s.Refresh == nil || s.Refresh.Hash != next.Hash {
					t.Errorf("rotation %d returned before it was readable: %v", i, err)
				}
			}
		})
	}
	close(start)
	wg.Wait()
	for f := range families {
		a, b := errs[2*f], errs[2*f+1]
		if f%4 == 0 {
			if !errors.Is(a, storage.ErrNotFound) || !errors.Is(b, storage.ErrNotFound) {
				t.Errorf("family %d (ended): %v, %v, want ErrNotFound twice", f, a, b)
			}
			continue
		}
		if (a == nil) == (b == nil) || !(errors.Is(a, storage.ErrSpent) || errors.Is(b, storage.ErrSpent)) {
			t.Errorf("family %d: %v, %v, want one winner and one ErrSpent", f, a, b)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d rotations in %d commits", 2*families, commits-before)
}

func TestRotateAfterClose(t *testing.T) {
	db, err := Open(t.Context(), filepath.Join(t.TempDir(), "a.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	err = db.RotateRefresh(t.Context(), "x", 1, storage.RefreshRotation{Hash: "y"}, time.Now())
	if err == nil {
		t.Error("RotateRefresh after Close succeeded")
	}
	// The batcher itself refuses work once stopped (no hang, no panic).
	if err := db.submit(nil); !errors.Is(err, errClosed) {
		t.Errorf("submit after Close = %v, want errClosed", err)
	}
}
