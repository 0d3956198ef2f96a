package throttle

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Concurrent attempts cannot all pass a check made before any failed: the
// threshold-th attempt makes the others wait.
func TestThrottleAttemptIsAtomic(t *testing.T) {
	th := NewCounter(30, time.Minute, 15*time.Minute, 12*time.Hour)
	now := time.Unix(1_700_000_000, 0)
	var passed atomic.Int32
	var wg sync.WaitGroup
	for range 1000 {
		wg.Go(func() {
			if th.Attempt("u:victim", now) == 0 {
				passed.Add(1)
			}
		})
	}
	wg.Wait()
	if got := passed.Load(); got != 30 {
		t.Errorf("%d of 1000 concurrent attempts passed, want exactly the threshold, 30", got)
	}
	if w := th.Attempt("u:victim", now); w != time.Minute {
		t.Errorf("wait after the burst = %s, want 1m", w)
	}
}

func TestThrottleUndo(t *testing.T) {
	th := NewCounter(2, time.Minute, 15*time.Minute, 12*time.Hour)
	now := time.Unix(1_700_000_000, 0)
	th.Attempt("a", now)
	th.Attempt("a", now) // the threshold: locked
	if th.entries["a"].lockedUntil.IsZero() {
		t.Fatal("not locked at the threshold")
	}
	th.Undo("a", now) // that attempt succeeded after all
	if w := th.Attempt("a", now); w != 0 {
		t.Errorf("wait after undo = %s, want none", w)
	}
}

// A flood of distinct keys never lifts a key's wait.
func TestThrottlePruneKeepsLockedKeys(t *testing.T) {
	th := NewCounter(2, time.Minute, 15*time.Minute, 12*time.Hour)
	th.limit = 100
	now := time.Unix(1_700_000_000, 0)
	th.Attempt("u:victim", now)
	th.Attempt("u:victim", now)
	for i := range 1000 {
		th.Attempt(string(rune('A'+i%26))+string(rune(i)), now.Add(time.Second))
	}
	if th.Attempt("u:victim", now.Add(2*time.Second)) == 0 {
		t.Error("the flood evicted a locked key")
	}
	if len(th.entries) > 2*th.limit {
		t.Errorf("%d entries kept, want about the limit %d", len(th.entries), th.limit)
	}
}

func TestAddressKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7":            "a:192.0.2.7",
		"2001:db8:1:2:3:4:5:6": "a:2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1": "a:2001:db8:1:2::/64",
		"not an address":       "a:not an address",
		"::ffff:192.0.2.7":     "a:::ffff:192.0.2.7",
	} {
		if got := AddressKey(in); got != want {
			t.Errorf("AddressKey(%q) = %q, want %q", in, got, want)
		}
	}
}
