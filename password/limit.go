package password

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
)

// limiter is a counting semaphore with a bounded wait. It bounds the memory
// argon2 can take (each call allocates the full m KiB) and the CPU a flood
// of logins can take, and turns overload into a fast, explicit ErrBusy
// rather than an unbounded queue of goroutines each about to allocate.
type limiter struct {
	slots   chan struct{}
	wait    time.Duration
	waiting atomic.Int64
}

func newLimiter(n int, wait time.Duration) limiter {
	return limiter{slots: make(chan struct{}, n), wait: wait}
}

// acquire takes a slot, waiting at most l.wait. A context already done gets
// no slot even when one is free: its caller has gone, so the work would be
// wasted.
func (l *limiter) acquire(ctx context.Context) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w: %w", ErrBusy, context.Cause(ctx))
	}
	select {
	case l.slots <- struct{}{}:
		return nil
	default:
	}
	l.waiting.Add(1)
	defer l.waiting.Add(-1)
	t := time.NewTimer(l.wait)
	defer t.Stop()
	select {
	case l.slots <- struct{}{}:
		return nil
	case <-t.C:
		return fmt.Errorf("%w: no slot free within %s", ErrBusy, l.wait)
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrBusy, context.Cause(ctx))
	}
}

func (l *limiter) release() { <-l.slots }

func (l *limiter) stats() (inFlight, waiting int) {
	return len(l.slots), int(l.waiting.Load())
}
