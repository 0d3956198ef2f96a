package storage

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// LimitStore holds the counters of the abuse limits (package throttle) in
// the database, so that every authd process on it counts against the same
// limits: failed logins per key, and events per key in fixed windows.
//
// Keys are opaque, non-empty and short (at most MaxLimitKey bytes): the
// caller namespaces and hashes them. Failure counters and windows are
// separate key spaces. A row that can no longer matter at now (a count
// forgotten, a wait over, a window ended) is removed by DeleteExpired;
// until then it is only read with now, so a leftover row never changes an
// answer.
type LimitStore interface {
	// LimitAttempt counts one failure of key at now under p, atomically,
	// unless key must wait at now: then it counts nothing and returns how
	// long. Of any number of concurrent calls for a key (from any process)
	// with a threshold of n, at most n are counted while the key does not
	// wait yet; the call that counts the n-th failure sets the wait that
	// every later one gets.
	LimitAttempt(ctx context.Context, key string, now time.Time, p FailurePolicy) (time.Duration, error)
	// LimitCount returns key's failures still counted at now (0 once they
	// are forgotten) and how long it must still wait (0 when it need not).
	// It writes nothing.
	LimitCount(ctx context.Context, key string, now time.Time) (int, time.Duration, error)
	// LimitClear forgets key's failures (and its wait). Clearing an unknown
	// key is not an error.
	LimitClear(ctx context.Context, key string) error
	// LimitAllow counts an event of key at now in key's fixed window of
	// length window, which starts at the first event after the previous
	// window ended, and reports whether it is within the first n of its
	// window. An event over the limit is not counted; the call returns how
	// long until the window ends. Of concurrent calls exactly n are allowed
	// in a window. n must be at least 1 and window positive.
	LimitAllow(ctx context.Context, key string, n int, window time.Duration, now time.Time) (bool, time.Duration, error)
}

// MaxLimitKey is the longest key a LimitStore takes, in bytes.
const MaxLimitKey = 200

// FailurePolicy is how failures turn into waits: once a key has Threshold
// failures, each failure makes it wait Increment × (its failures past the
// threshold + 1), at most Max; the failures of a key are forgotten Reset
// after its last one (unless it still waits then).
type FailurePolicy struct {
	Threshold             int
	Increment, Max, Reset time.Duration
}

// Check reports a policy that counts nothing sensible.
func (p FailurePolicy) Check() error {
	if p.Threshold < 1 || p.Increment <= 0 || p.Max <= 0 || p.Reset <= 0 {
		return fmt.Errorf("failure policy %+v: threshold below 1 or a duration not positive", p)
	}
	return nil
}

// Fail is a key's state after one more failure at now, given its
// failures before it and when the last of them was: its failures, and
// until when it must wait (zero when it need not).
func (p FailurePolicy) Fail(failures int, last, now time.Time) (int, time.Time) {
	if last.IsZero() || now.Sub(last) >= p.Reset {
		failures = 0
	}
	failures++
	over := failures - p.Threshold
	if over < 0 {
		return failures, time.Time{}
	}
	wait := p.Max
	if steps := int64(p.Max/p.Increment) + 1; int64(over)+1 < steps {
		wait = min(p.Increment*time.Duration(over+1), p.Max)
	}
	return failures, now.Add(wait)
}

// Expiry is when a key's failures stop mattering: Reset after the last
// one, or the end of its wait if that is later.
func (p FailurePolicy) Expiry(last, lockedUntil time.Time) time.Time {
	if e := last.Add(p.Reset); e.After(lockedUntil) {
		return e
	}
	return lockedUntil
}

// CheckLimitKey reports a key a LimitStore refuses.
func CheckLimitKey(key string) error {
	switch {
	case key == "":
		return errors.New("limit key is empty")
	case len(key) > MaxLimitKey:
		return fmt.Errorf("limit key is %d bytes, longer than %d", len(key), MaxLimitKey)
	}
	return nil
}

// CheckWindow reports a window LimitAllow refuses.
func CheckWindow(n int, window time.Duration) error {
	if n < 1 || window <= 0 {
		return fmt.Errorf("rate window of %d events per %s: need at least 1 event and a positive length", n, window)
	}
	return nil
}
