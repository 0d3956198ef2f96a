// Package throttle holds authd's abuse limits: failure counters that make
// an account or a client address wait after too many failed logins, and
// fixed-window rate limits for registrations and password-reset requests
// per address. They count in the process's memory (NewLimits) or in the
// database, shared by every process on it (NewSharedLimits, what the
// server uses: see Shared).
package throttle

import (
	"github.com/authd/authd/config"
	"github.com/authd/authd/storage"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Counter counts failures per key (an account or a client address) and
// makes the key wait once they pass a threshold: wait = increment × (the
// failures past the threshold + 1), capped at max. Keycloak's brute-force
// detection is the model (30 failures, +1 minute each, 15 minutes at most,
// counts reset after 12 hours without a failure). A success clears an
// account's count.
//
// A Counter lives in memory: a restart forgets it, and each process counts
// on its own. Shared keeps the counts in the database instead, and uses
// Counters for what a process must count itself.
type Counter struct {
	mu        sync.Mutex
	entries   map[string]*entry
	threshold int
	increment time.Duration
	max       time.Duration
	reset     time.Duration
	limit     int // most keys kept; beyond it the stalest are dropped
}

type entry struct {
	failures    int
	lastFailure time.Time
	lockedUntil time.Time
}

func NewCounter(threshold int, increment, max, reset time.Duration) *Counter {
	return &Counter{
		entries: map[string]*entry{}, threshold: threshold,
		increment: increment, max: max, reset: reset, limit: 100_000,
	}
}

// Attempt decides, atomically, whether key may try now. When it must
// wait, attempt returns how long and counts nothing. Otherwise it counts
// the attempt as a failure at once, before the slow password check, so
// that a thousand concurrent guesses cannot all pass a check made before
// any of them has failed: the threshold-th of them sets the wait for the
// rest. A caller whose attempt turns out right calls succeed (accounts)
// or undo (addresses).
func (t *Counter) Attempt(key string, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e, ok := t.entries[key]; ok && now.Before(e.lockedUntil) {
		return e.lockedUntil.Sub(now)
	}
	t.failLocked(key, now)
	return 0
}

// Undo takes back one failure counted by attempt, for an attempt that
// succeeded; a wait that only that failure caused is lifted.
func (t *Counter) Undo(key string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.entries[key]
	if !ok || e.failures == 0 {
		return
	}
	e.failures--
	if e.failures < t.threshold {
		e.lockedUntil = time.Time{}
	}
}

// failLocked counts a failure of key; t.mu is held.
func (t *Counter) failLocked(key string, now time.Time) {
	e, ok := t.entries[key]
	if !ok {
		if len(t.entries) >= t.limit {
			t.pruneLocked(now)
		}
		e = &entry{}
		t.entries[key] = e
	}
	if now.Sub(e.lastFailure) >= t.reset {
		e.failures = 0
	}
	e.failures++
	e.lastFailure = now
	if over := e.failures - t.threshold; over >= 0 {
		e.lockedUntil = now.Add(min(t.increment*time.Duration(over+1), t.max))
	}
}

// Succeed clears key's failures.
func (t *Counter) Succeed(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.entries, key)
}

// pruneLocked drops entries whose count has reset; if that frees
// nothing, unlocked entries go (those older than half the reset period
// first), so memory stays bounded under a flood of distinct keys. A key
// that must wait is dropped only as a last resort: a flood of made-up
// usernames must not lift a real account's wait, and locking a key costs
// the flood a whole threshold of password hashes.
func (t *Counter) pruneLocked(now time.Time) {
	for k, e := range t.entries {
		if now.Sub(e.lastFailure) >= t.reset && !now.Before(e.lockedUntil) {
			delete(t.entries, k)
		}
	}
	cutoff := now.Add(-t.reset / 2)
	for pass := range 3 {
		for k, e := range t.entries {
			if len(t.entries) < t.limit {
				return
			}
			locked := now.Before(e.lockedUntil)
			if pass < 2 && locked || pass == 0 && !e.lastFailure.Before(cutoff) {
				continue
			}
			delete(t.entries, k)
		}
	}
}

// AddressKey is the throttling key of a client address: the address
// itself for IPv4, its /64 for IPv6 (one subscriber usually holds a whole
// /64, so single addresses would be free to rotate through).
func AddressKey(addr string) string {
	ip := net.ParseIP(addr)
	if ip == nil || ip.To4() != nil {
		return "a:" + addr
	}
	return "a:" + ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

// RateLimit allows at most n events per key in each window (a fixed
// window per key), for registrations and reset requests per address.
type RateLimit struct {
	mu     sync.Mutex
	n      int
	window time.Duration
	counts map[string]*windowCount
}

type windowCount struct {
	start time.Time
	n     int
}

func NewRateLimit(n int, window time.Duration) *RateLimit {
	return &RateLimit{n: n, window: window, counts: map[string]*windowCount{}}
}

// Allow counts an event of key and reports whether it is within the
// limit, and if not, how long until the window ends.
func (r *RateLimit) Allow(key string, now time.Time) (bool, time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.counts[key]
	if !ok || now.Sub(c.start) >= r.window {
		if len(r.counts) >= 100_000 {
			for k, old := range r.counts {
				if now.Sub(old.start) >= r.window {
					delete(r.counts, k)
				}
			}
		}
		c = &windowCount{start: now}
		r.counts[key] = c
	}
	if c.n >= r.n {
		return false, c.start.Add(r.window).Sub(now)
	}
	c.n++
	return true, 0
}

// AccountKey is the throttling key of a username (unknown names too):
// usernames that differ only in case or width share one.
func AccountKey(username string) string { return "u:" + storage.UsernameKey(username) }

// Limits are the limits an authd process applies.
type Limits struct {
	// Accounts and Addresses count failed logins (and failed
	// re-authentications) per account and per client address.
	Accounts, Addresses FailureCounter
	// Registrations, ResetRequests and ResetConfirms count events per
	// client address (IPv6 by /64, as AddressKey); Changes counts
	// username and email changes per user.
	Registrations, ResetRequests, ResetConfirms, Changes RateLimiter
	// Known remembers the sources of successful logins; nil remembers
	// none.
	Known *Sources
	// Logins counts the logins in progress, so that a flood can be told
	// from ordinary traffic.
	Logins atomic.Int64
}

// NewLimits builds the limits of cfg in this process's memory (see
// NewSharedLimits for limits shared through the database). Reset
// confirmations are limited per address at ten times the reset requests:
// each one costs a password hash.
func NewLimits(cfg config.Throttle) *Limits {
	return &Limits{
		Accounts:      Memory(NewCounter(cfg.AccountFailures, cfg.WaitIncrement, cfg.MaxWait, cfg.FailureReset)),
		Addresses:     Memory(NewCounter(cfg.AddressFailures, cfg.WaitIncrement, cfg.MaxWait, cfg.FailureReset)),
		Registrations: MemoryRate(NewRateLimit(cfg.RegistrationsPerHour, time.Hour)),
		ResetRequests: MemoryRate(NewRateLimit(cfg.ResetRequestsPerHour, time.Hour)),
		ResetConfirms: MemoryRate(NewRateLimit(10*cfg.ResetRequestsPerHour, time.Hour)),
		Changes:       MemoryRate(NewRateLimit(cfg.RegistrationsPerHour, time.Hour)),
		Known:         NewSources(SourcesLimit, SourcesTTL),
	}
}
