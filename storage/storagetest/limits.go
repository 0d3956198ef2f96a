package storagetest

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/storage"
)

// policy is the failure policy of the limit tests: a wait from the third
// failure on, a minute more for each, five minutes at most, counts
// forgotten after an hour.
var policy = storage.FailurePolicy{Threshold: 3, Increment: time.Minute, Max: 5 * time.Minute, Reset: time.Hour}

// testLimitAttempt walks a key through its failures: below the threshold
// no wait; from it a growing wait, capped; attempts during a wait counted
// nothing; counts forgotten after Reset, and cleared by LimitClear;
// LimitCount reads the count and the wait.
func testLimitAttempt(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	attempt := func(key string, now time.Time, want time.Duration) {
		t.Helper()
		got, err := s.LimitAttempt(ctx, key, now, policy)
		if err != nil {
			t.Fatalf("LimitAttempt(%q, %v): %v", key, now, err)
		}
		if got != want {
			t.Errorf("LimitAttempt(%q, %v) = %v, want %v", key, now, got, want)
		}
	}
	state := func(key string, now time.Time, wantFailures int, wantWait time.Duration) {
		t.Helper()
		n, w, err := s.LimitCount(ctx, key, now)
		if err != nil {
			t.Fatalf("LimitCount(%q): %v", key, err)
		}
		if n != wantFailures || w != wantWait {
			t.Errorf("LimitCount(%q, %v) = %d, %v; want %d, %v", key, now, n, w, wantFailures, wantWait)
		}
	}
	const k = "u:somebody"
	state(k, at(0), 0, 0)
	attempt(k, at(0), 0)
	attempt(k, at(time.Second), 0)
	state(k, at(time.Second), 2, 0)
	// The third failure is counted, and sets the wait for what follows.
	attempt(k, at(2*time.Second), 0)
	state(k, at(2*time.Second), 3, time.Minute)
	state(k, at(32*time.Second), 3, 30*time.Second)
	// During the wait nothing is counted: the wait does not grow.
	attempt(k, at(32*time.Second), 30*time.Second)
	state(k, at(62*time.Second), 3, 0)
	// The fourth failure: two minutes; the fifth: three; then the cap.
	attempt(k, at(62*time.Second), 0)
	state(k, at(62*time.Second), 4, 2*time.Minute)
	now := at(62*time.Second + 2*time.Minute)
	for i, want := range []time.Duration{3 * time.Minute, 4 * time.Minute, 5 * time.Minute, 5 * time.Minute} {
		attempt(k, now, 0)
		state(k, now, 5+i, want)
		now = now.Add(want)
	}
	// Other keys are untouched.
	state("u:other", now.Add(-time.Second), 0, 0)
	attempt("u:other", now, 0)

	// An hour without a failure (the last wait over) forgets the count:
	// three more failures before the next wait.
	later := now.Add(time.Hour)
	state(k, later, 0, 0)
	attempt(k, later, 0)
	attempt(k, later, 0)
	state(k, later, 2, 0)
	attempt(k, later, 0)
	state(k, later, 3, time.Minute)

	// LimitClear forgets the count and lifts the wait; clearing again, or
	// an unknown key, is no error.
	for range 2 {
		if err := s.LimitClear(ctx, k); err != nil {
			t.Fatalf("LimitClear: %v", err)
		}
	}
	if err := s.LimitClear(ctx, "u:nobody"); err != nil {
		t.Errorf("LimitClear of an unknown key: %v", err)
	}
	state(k, later, 0, 0)
	attempt(k, later, 0)
	attempt(k, later, 0)
	state(k, later, 2, 0)

	// A threshold of one waits from the first failure.
	one := storage.FailurePolicy{Threshold: 1, Increment: time.Second, Max: time.Hour, Reset: time.Hour}
	if w, err := s.LimitAttempt(ctx, "a:192.0.2.7", at(0), one); err != nil || w != 0 {
		t.Errorf("first attempt with threshold 1 = %v, %v; want 0", w, err)
	}
	state("a:192.0.2.7", at(0), 1, time.Second)

	// Bad arguments are errors, and write nothing.
	for _, bad := range []struct {
		key string
		p   storage.FailurePolicy
		now time.Time
	}{
		{"", policy, at(0)},
		{strings.Repeat("k", storage.MaxLimitKey+1), policy, at(0)},
		{"u:bad", storage.FailurePolicy{Threshold: 0, Increment: time.Minute, Max: time.Minute, Reset: time.Hour}, at(0)},
		{"u:bad", storage.FailurePolicy{Threshold: 1, Increment: 0, Max: time.Minute, Reset: time.Hour}, at(0)},
		{"u:bad", policy, time.Time{}},
	} {
		if _, err := s.LimitAttempt(ctx, bad.key, bad.now, bad.p); err == nil {
			t.Errorf("LimitAttempt(%.20q, %v, %+v): no error", bad.key, bad.now, bad.p)
		}
	}
	if _, err := s.LimitAttempt(ctx, strings.Repeat("k", storage.MaxLimitKey), at(0), policy); err != nil {
		t.Errorf("LimitAttempt with a key of %d bytes: %v", storage.MaxLimitKey, err)
	}
}

// testLimitAttemptConcurrent: of 50 concurrent failures of one key with a
// threshold of 10, exactly 10 are counted; the 40 others find the key
// waiting.
func testLimitAttemptConcurrent(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	p := storage.FailurePolicy{Threshold: 10, Increment: time.Minute, Max: time.Hour, Reset: time.Hour}
	const n = 50
	waits := make([]time.Duration, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			waits[i], errs[i] = s.LimitAttempt(ctx, "u:target", at(time.Duration(i)*time.Millisecond), p)
		})
	}
	close(start)
	wg.Wait()
	counted := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("LimitAttempt %d: %v", i, errs[i])
		}
		if waits[i] == 0 {
			counted++
		}
	}
	if counted != p.Threshold {
		t.Errorf("%d of %d concurrent attempts were counted, want exactly the threshold %d", counted, n, p.Threshold)
	}
	if n, w, err := s.LimitCount(ctx, "u:target", at(time.Second)); err != nil || n != p.Threshold || w <= 0 {
		t.Errorf("LimitCount after the race = %d, %v, %v; want %d and a wait", n, w, err, p.Threshold)
	}
}

// testLimitAllow: fixed windows of n events per key.
func testLimitAllow(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	allow := func(key string, n int, now time.Time, want bool, wantWait time.Duration) {
		t.Helper()
		ok, wait, err := s.LimitAllow(ctx, key, n, time.Hour, now)
		if err != nil {
			t.Fatalf("LimitAllow(%q, %v): %v", key, now, err)
		}
		if ok != want || wait != wantWait {
			t.Errorf("LimitAllow(%q, %d, %v) = %v, %v; want %v, %v", key, n, now, ok, wait, want, wantWait)
		}
	}
	const k = "register:a:192.0.2.1"
	// The window starts at the first event.
	allow(k, 3, at(0), true, 0)
	allow(k, 3, at(time.Minute), true, 0)
	allow(k, 3, at(2*time.Minute), true, 0)
	allow(k, 3, at(3*time.Minute), false, 57*time.Minute)
	allow(k, 3, at(59*time.Minute), false, time.Minute)
	// Another key has a window of its own.
	allow("reset:a:192.0.2.1", 3, at(30*time.Minute), true, 0)
	// At the window's end a new one starts with this event.
	allow(k, 3, at(time.Hour), true, 0)
	allow(k, 3, at(time.Hour+time.Second), true, 0)
	allow(k, 3, at(time.Hour+2*time.Second), true, 0)
	allow(k, 3, at(time.Hour+3*time.Second), false, time.Hour-3*time.Second)
	// A limit of one.
	allow("one", 1, at(0), true, 0)
	allow("one", 1, at(0), false, time.Hour)

	for _, bad := range []struct {
		key    string
		n      int
		window time.Duration
	}{
		{"", 1, time.Hour},
		{strings.Repeat("k", storage.MaxLimitKey+1), 1, time.Hour},
		{"k", 0, time.Hour},
		{"k", 1, 0},
	} {
		if _, _, err := s.LimitAllow(ctx, bad.key, bad.n, bad.window, at(0)); err == nil {
			t.Errorf("LimitAllow(%.20q, %d, %v): no error", bad.key, bad.n, bad.window)
		}
	}
}

// testLimitAllowConcurrent: of 50 concurrent events of one key with a
// limit of 10, exactly 10 are allowed; of another 50 with a limit of 10
// on each of 5 keys, 10 per key.
func testLimitAllowConcurrent(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	const n, limit = 50, 10
	for _, keys := range []int{1, 5} {
		t.Run(fmt.Sprintf("%d keys", keys), func(t *testing.T) {
			oks := make([]bool, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range n {
				wg.Go(func() {
					<-start
					key := fmt.Sprintf("race-%d-%d", keys, i%keys)
					oks[i], _, errs[i] = s.LimitAllow(ctx, key, limit, time.Hour, at(time.Duration(i)*time.Millisecond))
				})
			}
			close(start)
			wg.Wait()
			allowed := map[int]int{}
			for i := range n {
				if errs[i] != nil {
					t.Fatalf("LimitAllow %d: %v", i, errs[i])
				}
				if oks[i] {
					allowed[i%keys]++
				}
			}
			for k := range keys {
				want := min(limit, n/keys)
				if allowed[k] != want {
					t.Errorf("key %d: %d of %d concurrent events allowed, want %d", k, allowed[k], n/keys, want)
				}
			}
		})
	}
}
