package throttle

import (
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/sqlite"
	"github.com/authd/authd/storage/storagetest"
)

// openStore opens a migrated SQLite database of the test's own behind a
// Faulty (to count calls and inject failures).
func openStore(t *testing.T) *storagetest.Faulty {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "authd.db"), sqlite.Options{Synchronous: "OFF"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return storagetest.NewFaulty(db)
}

var testPolicy = storage.FailurePolicy{Threshold: 5, Increment: time.Minute, Max: 15 * time.Minute, Reset: 12 * time.Hour}

// try runs one attempt that fails the password check, as a login does.
func try(ctx context.Context, c FailureCounter, key string, now time.Time) time.Duration {
	if w := c.Attempt(ctx, key, now); w > 0 {
		return w
	}
	c.Fail(ctx, key, now)
	return 0
}

// Two processes on one database count against one threshold: failures
// made alternately on each lock the key on both after the threshold, not
// after twice it; a success on one lifts the wait on the other within a
// second.
func TestSharedCounterAcrossProcesses(t *testing.T) {
	ctx := t.Context()
	store := openStore(t)
	a := Shared(store, "accounts", testPolicy, nil)
	b := Shared(store, "accounts", testPolicy, nil)
	now := time.Unix(1_700_000_000, 0)
	for i := range testPolicy.Threshold {
		c := []FailureCounter{a, b}[i%2]
		if w := try(ctx, c, "u:victim", now); w != 0 {
			t.Fatalf("failure %d refused with a wait of %s", i+1, w)
		}
	}
	for name, c := range map[string]FailureCounter{"a": a, "b": b} {
		if w := c.Attempt(ctx, "u:victim", now.Add(time.Second)); w != time.Minute-time.Second {
			t.Errorf("%s: attempt after %d failures waits %s, want 59s", name, testPolicy.Threshold, w)
		}
	}
	// Another key, and another counter's namespace, are untouched.
	if w := a.Attempt(ctx, "u:other", now); w != 0 {
		t.Errorf("another key waits %s", w)
	}
	a.Undo(ctx, "u:other", now)
	other := Shared(store, "addresses", testPolicy, nil)
	if w := other.Attempt(ctx, "u:victim", now); w != 0 {
		t.Errorf("the same key under another counter's name waits %s", w)
	}
	other.Undo(ctx, "u:victim", now)

	a.Succeed(ctx, "u:victim")
	if w := a.Attempt(ctx, "u:victim", now.Add(2*time.Second)); w != 0 {
		t.Errorf("after a success on a, a still waits %s", w)
	}
	a.Undo(ctx, "u:victim", now)
	// b read the wait at now+1s; it reads it again a second later.
	if w := b.Attempt(ctx, "u:victim", now.Add(2*time.Second+sharedCacheFor)); w != 0 {
		t.Errorf("a second after a success on a, b still waits %s", w)
	}
}

// A burst of concurrent attempts at one process: with the failures judged
// before it, at most the threshold of them run before any is judged, as
// with the memory counter.
func TestSharedCounterBurst(t *testing.T) {
	ctx := t.Context()
	c := Shared(openStore(t), "accounts", testPolicy, nil)
	now := time.Unix(1_700_000_000, 0)
	var passed atomic.Int32
	var wg sync.WaitGroup
	for range 2 {
		try(ctx, c, "u:earlier", now)
	}
	for range 200 {
		wg.Go(func() {
			if c.Attempt(ctx, "u:earlier", now) == 0 {
				passed.Add(1)
			}
		})
	}
	wg.Wait()
	if got := passed.Load(); got != int32(testPolicy.Threshold-2) {
		t.Errorf("after 2 failures, %d of 200 concurrent attempts passed, want %d", got, testPolicy.Threshold-2)
	}
	passed.Store(0)
	for range 200 {
		wg.Go(func() {
			if c.Attempt(ctx, "u:victim", now) == 0 {
				passed.Add(1)
			}
		})
	}
	wg.Wait()
	if got := passed.Load(); got != int32(testPolicy.Threshold) {
		t.Errorf("%d of 200 concurrent attempts passed, want exactly the threshold, %d", got, testPolicy.Threshold)
	}
	// Judged as failures, they lock the key in the database.
	for range passed.Load() {
		c.Fail(ctx, "u:victim", now)
	}
	if w := Shared(c.(*sharedCounter).store, "accounts", testPolicy, nil).Attempt(ctx, "u:victim", now); w != time.Minute {
		t.Errorf("another process after the burst: wait %s, want 1m", w)
	}
}

// Nothing is written for attempts that are refused or undone; a flood at a
// waiting key reads the database about once a second.
func TestSharedCounterWrites(t *testing.T) {
	ctx := t.Context()
	store := openStore(t)
	c := Shared(store, "accounts", testPolicy, nil)
	now := time.Unix(1_700_000_000, 0)
	for range 100 {
		if c.Attempt(ctx, "u:busy", now) == 0 {
			c.Undo(ctx, "u:busy", now) // shed by a busy hasher
		}
	}
	if n := store.Count("LimitAttempt") + store.Count("LimitClear"); n != 0 {
		t.Errorf("undone attempts wrote %d times", n)
	}
	for range testPolicy.Threshold {
		try(ctx, c, "u:victim", now)
	}
	store.Reset()
	for i := range 1000 {
		c.Attempt(ctx, "u:victim", now.Add(time.Duration(i)*time.Millisecond)) // a second of flood
	}
	if n := store.Count("LimitAttempt"); n != 0 {
		t.Errorf("refused attempts wrote %d times", n)
	}
	if n := store.Count("LimitCount"); n > 2 {
		t.Errorf("a second of refused attempts read the database %d times, want at most 2", n)
	}
}

// When the database fails, the process counts on its own: the limits
// weaken to one instance's, and are never lifted.
func TestSharedCounterDatabaseDown(t *testing.T) {
	ctx := t.Context()
	store := openStore(t)
	c := Shared(store, "accounts", testPolicy, nil)
	store.FailAll(storagetest.ErrInjected)
	now := time.Unix(1_700_000_000, 0)
	for i := range testPolicy.Threshold {
		if w := try(ctx, c, "u:victim", now); w != 0 {
			t.Fatalf("failure %d with the database down refused: %s", i+1, w)
		}
	}
	if w := c.Attempt(ctx, "u:victim", now); w != time.Minute {
		t.Errorf("with the database down, attempt after %d failures waits %s, want 1m", testPolicy.Threshold, w)
	}
	store.Reset()
	c.Succeed(ctx, "u:victim")
	if w := c.Attempt(ctx, "u:victim", now); w != 0 {
		t.Errorf("after a success the key still waits %s", w)
	}
}

// On one process, the shared counter gives the memory counter's waits for
// the same failures.
func TestSharedCounterMatchesMemory(t *testing.T) {
	ctx := t.Context()
	shared := Shared(openStore(t), "accounts", testPolicy, nil)
	mem := Memory(NewCounter(testPolicy.Threshold, testPolicy.Increment, testPolicy.Max, testPolicy.Reset))
	now := time.Unix(1_700_000_000, 0)
	for i := range 40 {
		ws, wm := try(ctx, shared, "k", now), try(ctx, mem, "k", now)
		if ws != wm {
			t.Fatalf("step %d at %v: shared waits %s, memory %s", i, now, ws, wm)
		}
		// Try again at the end of the wait, or a little later.
		now = now.Add(max(ws, 7*time.Second))
		if i == 25 {
			now = now.Add(testPolicy.Reset) // forgotten
		}
	}
}

// Rate limits across two processes: the events of both count against one
// window; a full window is refused without asking the database again.
func TestSharedRate(t *testing.T) {
	ctx := t.Context()
	store := openStore(t)
	a := SharedRate(store, "registrations", 3, time.Hour, nil)
	b := SharedRate(store, "registrations", 3, time.Hour, nil)
	now := time.Unix(1_700_000_000, 0)
	for i, l := range []RateLimiter{a, b, a} {
		if ok, _ := l.Allow(ctx, "a:192.0.2.1", now); !ok {
			t.Fatalf("event %d refused", i+1)
		}
	}
	for name, l := range map[string]RateLimiter{"a": a, "b": b} {
		if ok, wait := l.Allow(ctx, "a:192.0.2.1", now.Add(time.Minute)); ok || wait != 59*time.Minute {
			t.Errorf("%s: fourth event = %v, %s; want a refusal for 59m", name, ok, wait)
		}
	}
	if ok, _ := SharedRate(store, "reset-requests", 3, time.Hour, nil).Allow(ctx, "a:192.0.2.1", now); !ok {
		t.Error("another limit's window is full too")
	}
	store.Reset()
	for range 100 {
		b.Allow(ctx, "a:192.0.2.1", now.Add(2*time.Minute))
	}
	if n := store.Count("LimitAllow"); n != 0 {
		t.Errorf("refusals in a window known to be full asked the database %d times", n)
	}
	if ok, _ := b.Allow(ctx, "a:192.0.2.1", now.Add(time.Hour)); !ok {
		t.Error("the next window refused its first event")
	}
	// The database down: the process's own window.
	store.FailAll(storagetest.ErrInjected)
	c := SharedRate(store, "registrations", 1, time.Hour, nil)
	if ok, _ := c.Allow(ctx, "a:192.0.2.9", now); !ok {
		t.Error("database down: first event refused")
	}
	if ok, _ := c.Allow(ctx, "a:192.0.2.9", now); ok {
		t.Error("database down: second event of a limit of one allowed")
	}
}
