package password

import (
	"container/list"
	"context"
	"fmt"
	"sync"
	"time"
)

// Caller says whom a hash or verification is for, so that the hashing
// queue can put people before a flood. Attach it to the context with
// WithCaller; a call without one is an ordinary (not Low) call with no keys.
type Caller struct {
	// Low marks work for a source with no history of success, such as a
	// login from an address that never signed in to the account. A Low
	// call gets a slot only when no ordinary call is waiting, Low calls
	// never hold the last slot (when there are two or more), and a Low
	// call is refused at once (ErrBusy) when the Low calls already waiting
	// are as many as their slots can serve within the queue wait: it
	// would time out anyway.
	Low bool
	// Keys name the sources the call is charged to (a client address, an
	// account). No key may have more than Options.MaxPerKey calls running
	// or waiting at once; a call past that is refused at once with
	// ErrBusy, before it queues. Keys are compared as given.
	Keys []string
}

type callerKey struct{}

// WithCaller returns ctx carrying c, for Hash, Verify and VerifyDummy.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

func callerOf(ctx context.Context) Caller {
	c, _ := ctx.Value(callerKey{}).(Caller)
	return c
}

// Bounds of the derived Low queue (see limiter.lowCapLocked).
const (
	maxLowQueue = 4096
	holdWeight  = 8 // the moving average of slot holds follows 1/8 of each change
)

// limiter is a counting semaphore with two priorities, a bounded wait and
// per-key caps. It bounds the memory argon2 can take (each call allocates
// the full m KiB) and the CPU a flood of logins can take, turns overload
// into a fast, explicit ErrBusy rather than an unbounded queue of
// goroutines each about to allocate, and decides who goes first when the
// slots are scarce:
//
//   - a freed slot goes straight to the oldest ordinary waiter, and only
//     when there is none to the oldest Low waiter, so a person with a
//     history of success waits at most for the hashes already running,
//     however many Low calls are queued;
//   - Low calls hold at most lowSlots of the slots (all but one, when
//     there are two or more), so with a flood queued one slot, and the
//     core it would keep busy, stays free for ordinary calls: they start
//     at once instead of after a flood hash, and the rest of their
//     request (database, signing) does not wait for a core either;
//   - Low calls are shed at once when the queue already holds as many of
//     them as their slots can serve within the queue wait (estimated from
//     how long slots are held lately), so a flood does not fill the queue
//     with calls that will time out;
//   - a call that has to wait is refused when its key already has perKey
//     calls running or waiting, so one address or one attacked account
//     cannot fill the queue by itself (while slots are free, nothing is
//     refused by key).
type limiter struct {
	n        int
	lowSlots int
	wait     time.Duration
	perKey   int
	maxLow   int // fixed bound on Low waiters; 0: derived from hold

	mu        sync.Mutex
	busy      int            // slots held
	lowBusy   int            // slots held by Low calls
	high, low list.List      // *waiter, oldest first
	keys      map[string]int // calls running or waiting, by key
	grants    uint64         // slots handed over, for the Low calls' share
	hold      time.Duration  // moving average of how long a slot is held
}

type waiter struct {
	low     bool
	ready   chan struct{} // closed when granted
	granted bool          // under mu: a slot was handed over
}

// lowShare: one freed slot in lowShare goes to a waiting Low call even
// while ordinary calls wait.
const lowShare = 4

// ticket is a held slot.
type ticket struct {
	low   bool
	keys  []string
	start time.Time
}

func newLimiter(n int, wait time.Duration, perKey, maxLow int) *limiter {
	return &limiter{n: n, lowSlots: max(1, n-1), wait: wait, perKey: perKey, maxLow: maxLow, keys: map[string]int{}}
}

// acquire takes a slot for c, waiting at most l.wait. A context already
// done gets no slot even when one is free: its caller has gone, so the
// work would be wasted.
func (l *limiter) acquire(ctx context.Context, c Caller) (ticket, error) {
	if ctx.Err() != nil {
		return ticket{}, fmt.Errorf("%w: %w", ErrBusy, context.Cause(ctx))
	}
	l.mu.Lock()
	free := l.busy < l.n && l.high.Len() == 0 && (!c.Low || l.low.Len() == 0 && l.lowBusy < l.lowSlots)
	// The per-key cap applies only to a call that would have to wait: while
	// slots are free, many logins from one address (an office behind one
	// NAT, a proxy whose address is not trusted) all start at once.
	for _, k := range c.Keys {
		if !free && l.keys[k] >= l.perKey {
			l.mu.Unlock()
			return ticket{}, fmt.Errorf("%w: %d hashes already running or waiting for this client or account", ErrBusy, l.perKey)
		}
	}
	for _, k := range c.Keys {
		l.keys[k]++
	}
	if free {
		l.busy++
		if c.Low {
			l.lowBusy++
		}
		l.mu.Unlock()
		return ticket{low: c.Low, keys: c.Keys, start: time.Now()}, nil
	}
	q := &l.high
	if c.Low {
		if l.low.Len() >= l.lowCapLocked() {
			l.dropKeysLocked(c.Keys)
			l.mu.Unlock()
			return ticket{}, fmt.Errorf("%w: the queue holds all it can serve within %s", ErrBusy, l.wait)
		}
		q = &l.low
	}
	w := &waiter{low: c.Low, ready: make(chan struct{})}
	e := q.PushBack(w)
	l.mu.Unlock()

	t := time.NewTimer(l.wait)
	defer t.Stop()
	var err error
	select {
	case <-w.ready:
		return ticket{low: c.Low, keys: c.Keys, start: time.Now()}, nil
	case <-t.C:
		err = fmt.Errorf("%w: no slot free within %s", ErrBusy, l.wait)
	case <-ctx.Done():
		err = fmt.Errorf("%w: %w", ErrBusy, context.Cause(ctx))
	}
	l.mu.Lock()
	if w.granted {
		// The slot arrived as the wait ended: pass it on.
		l.freeLocked(c.Low)
	} else {
		q.Remove(e)
	}
	l.dropKeysLocked(c.Keys)
	l.mu.Unlock()
	return ticket{}, err
}

// release gives back the slot of t (see freeLocked).
func (l *limiter) release(t ticket) {
	held := time.Since(t.start)
	l.mu.Lock()
	l.observeLocked(held)
	l.dropKeysLocked(t.keys)
	l.freeLocked(t.low)
	l.mu.Unlock()
}

// freeLocked frees a slot held by a Low call or not, and hands it to the
// oldest ordinary waiter, else to the oldest Low waiter if Low calls hold
// fewer than their share, else back to the pool.
func (l *limiter) freeLocked(low bool) {
	if low {
		l.lowBusy--
	}
	q := &l.high
	// Ordinary calls go first, but not always: one slot in lowShare goes
	// to a waiting Low call even while ordinary ones wait, so a server
	// saturated by known users still lets a first-time login in (slowly)
	// instead of starving it until the load drops.
	l.grants++
	lowTurn := l.grants%lowShare == 0
	if (q.Len() == 0 || lowTurn) && l.low.Len() > 0 && l.lowBusy < l.lowSlots {
		q = &l.low
	}
	if q.Len() == 0 {
		l.busy--
		return
	}
	w := q.Remove(q.Front()).(*waiter)
	if w.low {
		l.lowBusy++
	}
	w.granted = true
	close(w.ready)
}

func (l *limiter) dropKeysLocked(keys []string) {
	for _, k := range keys {
		if l.keys[k]--; l.keys[k] <= 0 {
			delete(l.keys, k)
		}
	}
}

// observeLocked folds one slot hold into the moving average.
func (l *limiter) observeLocked(d time.Duration) {
	if l.hold == 0 {
		l.hold = d
		return
	}
	l.hold += (d - l.hold) / holdWeight
}

// lowCapLocked is how many Low calls may wait: the fixed bound if one was
// set, else as many as their slots finish within the queue wait at the
// recent pace (at least one per slot, at most maxLowQueue). The pace
// includes whatever slows the hashes down, such as other processes on the
// cores, so the bound shrinks when the machine is loaded.
func (l *limiter) lowCapLocked() int {
	if l.maxLow > 0 {
		return l.maxLow
	}
	return l.paceLocked(l.lowSlots)
}

// capacityLocked is how many calls all the slots finish within the queue
// wait at the recent pace.
func (l *limiter) capacityLocked() int { return l.paceLocked(l.n) }

// paceLocked is how many calls slots slots finish within the queue wait
// at the recent pace: at least slots, at most maxLowQueue.
func (l *limiter) paceLocked(slots int) int {
	if l.hold <= 0 {
		return maxLowQueue
	}
	c := int64(slots) * int64(l.wait/l.hold)
	return int(min(max(c, int64(slots)), maxLowQueue))
}

func (l *limiter) stats() (inFlight, waiting int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.busy, l.high.Len() + l.low.Len()
}
