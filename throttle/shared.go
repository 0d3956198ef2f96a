package throttle

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authd/authd/config"
	"github.com/authd/authd/storage"
)

// FailureCounter counts failed attempts per key and makes a key wait once
// they pass a threshold (see Counter for the rule). A caller asks Attempt
// before the slow check (the password hash) and then reports how the
// attempt ended: Fail when the check said no, Succeed when it said yes,
// Undo when the check never ran (no hashing slot, a storage failure).
// Memory (a Counter of this process) and Shared (the database, for every
// process on it) implement it.
type FailureCounter interface {
	// Attempt decides whether key may try now: it returns how long the
	// key must wait, or 0 and counts the attempt until its end is
	// reported.
	Attempt(ctx context.Context, key string, now time.Time) time.Duration
	// Fail reports that an attempt failed.
	Fail(ctx context.Context, key string, now time.Time)
	// Undo takes back an attempt that was never judged.
	Undo(ctx context.Context, key string, now time.Time)
	// Succeed reports a successful attempt: the key's failures are
	// forgotten.
	Succeed(ctx context.Context, key string)
}

// RateLimiter allows a number of events per key in a fixed window (see
// RateLimit), in memory or shared through the database.
type RateLimiter interface {
	// Allow counts an event of key and reports whether it is within the
	// limit, and if not, how long until the window ends.
	Allow(ctx context.Context, key string, now time.Time) (bool, time.Duration)
}

// Memory is a Counter as a FailureCounter: the attempt is counted as a
// failure at once, so Fail has nothing left to do.
func Memory(c *Counter) FailureCounter { return memoryCounter{c} }

type memoryCounter struct{ c *Counter }

func (m memoryCounter) Attempt(_ context.Context, key string, now time.Time) time.Duration {
	return m.c.Attempt(key, now)
}
func (m memoryCounter) Fail(context.Context, string, time.Time)           {}
func (m memoryCounter) Undo(_ context.Context, key string, now time.Time) { m.c.Undo(key, now) }
func (m memoryCounter) Succeed(_ context.Context, key string)             { m.c.Succeed(key) }

// MemoryRate is a RateLimit as a RateLimiter.
func MemoryRate(r *RateLimit) RateLimiter { return memoryRate{r} }

type memoryRate struct{ r *RateLimit }

func (m memoryRate) Allow(_ context.Context, key string, now time.Time) (bool, time.Duration) {
	return m.r.Allow(key, now)
}

// Shared counters keep the counts in the database (storage.LimitStore), so
// that every authd process on it counts against the same limits: behind a
// load balancer, N instances allow what one would, not N times as much.
//
// What is written is bounded by the password hashing: a failure is
// written once it is judged (after its hash), a success clears the count,
// and nothing is written for an attempt that was refused, shed by a busy
// hasher or cut short. Before the hash, Attempt reads the key's count and
// wait (a primary-key lookup), and remembers them for up to a second: a
// flood against one key reads the database about once a second per
// instance, and a count or wait set on another instance is seen within a
// second (this instance's own failures at once). The attempts still in flight (not yet judged) are
// counted in the process's memory and added to the stored count, as the
// memory Counter counts an attempt as a failure from its start: on one
// instance the waits are the memory Counter's, and a burst of concurrent
// guesses gets the threshold through (one more at most for each judgment
// that lands between an attempt's read and its count). Across instances, the
// attempts in flight on the others are not seen, so when the threshold is
// reached the attempts already under way elsewhere may still be judged
// (each then counted, one wait step more).
//
// When the database fails, the limits fall back to this process's own
// memory (logged at most every ten seconds): an outage of the database
// weakens them to what one instance counts, never lifts them.
//
// Keys are stored hashed (SHA-256, after the counter's name), so the table
// holds neither usernames nor addresses and every key has the same short
// length.

// sharedCacheFor is how long a count read from the database is trusted
// without reading it again: a failure or a success on another instance (a
// password reset lifts a wait) is seen everywhere within it.
const sharedCacheFor = time.Second

// dbTimeout bounds the database calls made to report an attempt's end,
// which run even when the request has been cancelled meanwhile.
const dbTimeout = 5 * time.Second

// Shared is a FailureCounter in store, under name (one per counter:
// "accounts", "addresses"), with the policy of p; log receives the
// database failures.
func Shared(store storage.LimitStore, name string, p storage.FailurePolicy, log *slog.Logger) FailureCounter {
	return &sharedCounter{
		name: name, store: store, policy: p, log: log,
		fallback: NewCounter(p.Threshold, p.Increment, p.Max, p.Reset),
		flying:   map[string]int{},
		counts:   map[string]cachedCount{},
	}
}

type sharedCounter struct {
	name   string
	store  storage.LimitStore
	policy storage.FailurePolicy
	log    *slog.Logger
	warned atomic.Int64 // unix nanoseconds of the last warning

	// fallback counts the failures the database could not take.
	fallback *Counter

	mu     sync.Mutex
	flying map[string]int         // attempts not yet judged, by key
	counts map[string]cachedCount // by stored key
}

// cachedCount is what LimitCount said at read.
type cachedCount struct {
	failures    int
	until, read time.Time
}

func (s *sharedCounter) Attempt(ctx context.Context, key string, now time.Time) time.Duration {
	if w := s.fallback.wait(key, now); w > 0 {
		return w
	}
	k := storedKey(s.name, key)
	failures, w, ok := s.cached(k, now)
	if !ok {
		var err error
		failures, w, err = s.store.LimitCount(ctx, k, now)
		if err != nil {
			warn(s.log, &s.warned, s.name, err)
			failures, w = 0, 0
		} else {
			s.remember(k, now, failures, w)
		}
	}
	if w > 0 {
		return w
	}
	failures += s.fallback.failures(key, now)
	s.mu.Lock()
	defer s.mu.Unlock()
	if f := s.flying[key]; f > 0 && failures+f >= s.policy.Threshold {
		// An attempt in flight reached the threshold: as in the memory
		// Counter, it set a wait for the attempts after it.
		_, until := s.policy.Fail(failures+f-1, now, now)
		return until.Sub(now)
	}
	s.flying[key]++
	return 0
}

func (s *sharedCounter) Fail(ctx context.Context, key string, now time.Time) {
	// Stored first, then taken off the attempts in flight: meanwhile an
	// attempt counts it twice rather than not at all.
	defer s.landed(key)
	k := storedKey(s.name, key)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), dbTimeout)
	defer cancel()
	if _, err := s.store.LimitAttempt(ctx, k, now, s.policy); err != nil {
		warn(s.log, &s.warned, s.name, err)
		s.fallback.Attempt(key, now)
		return
	}
	s.forget(k) // the count changed: read it afresh
}

func (s *sharedCounter) Undo(_ context.Context, key string, _ time.Time) {
	s.landed(key)
}

// Succeed forgets key's failures, those in flight too (as the memory
// Counter's Succeed does): their ends, when reported, change nothing. When
// the count read within the last second was zero (a login with no failure
// before it, the usual case), there is nothing to clear and nothing is
// written.
func (s *sharedCounter) Succeed(ctx context.Context, key string) {
	s.mu.Lock()
	delete(s.flying, key)
	s.mu.Unlock()
	s.fallback.Succeed(key)
	k := storedKey(s.name, key)
	now := time.Now()
	if failures, w, ok := s.cached(k, now); ok && failures == 0 && w == 0 {
		return
	}
	s.forget(k)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), dbTimeout)
	defer cancel()
	if err := s.store.LimitClear(ctx, k); err != nil {
		warn(s.log, &s.warned, s.name, err)
	}
}

// landed takes an attempt of key off the ones in flight.
func (s *sharedCounter) landed(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := s.flying[key]; n > 1 {
		s.flying[key] = n - 1
	} else {
		delete(s.flying, key)
	}
}

// cached returns the count and wait of k read at most sharedCacheFor
// ago, and whether there is one.
func (s *sharedCounter) cached(k string, now time.Time) (int, time.Duration, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.counts[k]
	if !ok {
		return 0, 0, false
	}
	if now.Sub(c.read) >= sharedCacheFor || now.Before(c.read) {
		delete(s.counts, k)
		return 0, 0, false
	}
	return c.failures, max(c.until.Sub(now), 0), true
}

// remember keeps the count and wait of k read at now; the cache is
// emptied when it grows past maxCached keys.
func (s *sharedCounter) remember(k string, now time.Time, failures int, w time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.counts) >= maxCached {
		clear(s.counts)
	}
	s.counts[k] = cachedCount{failures: failures, until: now.Add(w), read: now}
}

func (s *sharedCounter) forget(k string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.counts, k)
}

// maxCached bounds the remembered waits and full windows of a shared
// counter or rate limit.
const maxCached = 10_000

// SharedRate is a RateLimiter of n events per window in store, under name
// (one per limit: "registrations", "reset-requests"…); log receives the
// database failures.
func SharedRate(store storage.LimitStore, name string, n int, window time.Duration, log *slog.Logger) RateLimiter {
	return &sharedRate{name: name, store: store, n: n, window: window, log: log,
		fallback: NewRateLimit(n, window), full: map[string]time.Time{}}
}

type sharedRate struct {
	name     string
	store    storage.LimitStore
	n        int
	window   time.Duration
	log      *slog.Logger
	warned   atomic.Int64
	fallback *RateLimit

	mu   sync.Mutex
	full map[string]time.Time // stored key → end of its full window
}

// Allow counts the event in the database. A window found full stays full
// until it ends, so it is remembered and refused without asking again.
func (s *sharedRate) Allow(ctx context.Context, key string, now time.Time) (bool, time.Duration) {
	k := storedKey(s.name, key)
	s.mu.Lock()
	end, ok := s.full[k]
	if ok && !now.Before(end) {
		delete(s.full, k)
		ok = false
	}
	s.mu.Unlock()
	if ok {
		return false, end.Sub(now)
	}
	allowed, wait, err := s.store.LimitAllow(ctx, k, s.n, s.window, now)
	if err != nil {
		warn(s.log, &s.warned, s.name, err)
		return s.fallback.Allow(key, now)
	}
	if !allowed {
		s.mu.Lock()
		if len(s.full) >= maxCached {
			clear(s.full)
		}
		s.full[k] = now.Add(wait)
		s.mu.Unlock()
	}
	return allowed, wait
}

// storedKey is the key of name's counter for key in the database.
func storedKey(name, key string) string {
	sum := sha256.Sum256([]byte(key))
	return name + ":" + hex.EncodeToString(sum[:16])
}

// warn logs a database failure of a shared limit, at most every ten
// seconds per limit.
func warn(log *slog.Logger, last *atomic.Int64, name string, err error) {
	if log == nil {
		return
	}
	now := time.Now().UnixNano()
	prev := last.Load()
	if now-prev < int64(10*time.Second) || !last.CompareAndSwap(prev, now) {
		return
	}
	log.Warn("throttle: the database failed; this process counts on its own meanwhile", "limit", name, "error", err)
}

// failures returns the failures of key still counted at now.
func (t *Counter) failures(key string, now time.Time) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.entries[key]
	if !ok || now.Sub(e.lastFailure) >= t.reset && !now.Before(e.lockedUntil) {
		return 0
	}
	return e.failures
}

// wait returns how long key must still wait at now, counting nothing.
func (t *Counter) wait(key string, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e, ok := t.entries[key]; ok && now.Before(e.lockedUntil) {
		return e.lockedUntil.Sub(now)
	}
	return 0
}

// NewSharedLimits builds the limits of cfg with their counts in store,
// shared by every process on the database (see Shared); log receives the
// database's failures. The sources of successful logins (Known) stay in
// the process's memory.
func NewSharedLimits(cfg config.Throttle, store storage.LimitStore, log *slog.Logger) *Limits {
	failures := func(n int) storage.FailurePolicy {
		return storage.FailurePolicy{Threshold: n, Increment: cfg.WaitIncrement, Max: cfg.MaxWait, Reset: cfg.FailureReset}
	}
	return &Limits{
		Accounts:      Shared(store, "accounts", failures(cfg.AccountFailures), log),
		Addresses:     Shared(store, "addresses", failures(cfg.AddressFailures), log),
		Registrations: SharedRate(store, "registrations", cfg.RegistrationsPerHour, time.Hour, log),
		ResetRequests: SharedRate(store, "reset-requests", cfg.ResetRequestsPerHour, time.Hour, log),
		ResetConfirms: SharedRate(store, "reset-confirms", 10*cfg.ResetRequestsPerHour, time.Hour, log),
		Changes:       SharedRate(store, "changes", cfg.RegistrationsPerHour, time.Hour, log),
		Known:         NewSources(SourcesLimit, SourcesTTL),
	}
}
