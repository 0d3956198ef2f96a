package password

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// waitForWaiters yields until n calls wait for a slot of h.
func waitForWaiters(t *testing.T, l *limiter, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, w := l.stats(); w == n {
			return
		}
		if time.Now().After(deadline) {
			_, w := l.stats()
			t.Fatalf("%d calls waiting, want %d", w, n)
		}
		runtime.Gosched()
	}
}

// TestHighOvertakesLow: with the only slot taken and Low calls queued, an
// ordinary call that arrives after them gets the next free slot; the Low
// calls then go in their order of arrival.
func TestHighOvertakesLow(t *testing.T) {
	l := newLimiter(1, time.Hour, 2, 0)
	ctx := context.Background()
	held, err := l.acquire(ctx, Caller{})
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		order []string
		wg    sync.WaitGroup
	)
	start := func(name string, c Caller) {
		wg.Go(func() {
			tk, err := l.acquire(ctx, c)
			if err != nil {
				t.Errorf("%s: acquire = %v", name, err)
				return
			}
			mu.Lock()
			order = append(order, name)
			mu.Unlock()
			l.release(tk)
		})
	}
	for i := range 3 {
		start(fmt.Sprintf("low%d", i), Caller{Low: true})
		waitForWaiters(t, l, i+1)
	}
	start("high", Caller{})
	waitForWaiters(t, l, 4)
	l.release(held)
	wg.Wait()
	if got := fmt.Sprint(order); got != "[high low0 low1 low2]" {
		t.Errorf("slots went to %s, want [high low0 low1 low2]", got)
	}
	if in, w := l.stats(); in != 0 || w != 0 || len(l.keys) != 0 {
		t.Errorf("after: %d in flight, %d waiting, %d keys; want none", in, w, len(l.keys))
	}
}

// TestPerKeyCap: a key with MaxPerKey calls running or waiting gets no
// more, at once and without waiting; other keys and keyless calls are not
// affected, and the key is free again when its calls end.
func TestPerKeyCap(t *testing.T) {
	l := newLimiter(1, time.Hour, 2, 0)
	ctx := context.Background()
	addr := Caller{Low: true, Keys: []string{"a:192.0.2.1", "u:alice"}}
	first, err := l.acquire(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	second := make(chan ticket, 1)
	go func() {
		tk, err := l.acquire(ctx, addr)
		if err != nil {
			t.Errorf("second call: %v", err)
		}
		second <- tk
	}()
	waitForWaiters(t, l, 1)
	// The third call on either key is refused at once (QueueWait is an hour).
	for _, c := range []Caller{addr, {Keys: []string{"u:alice"}}, {Low: true, Keys: []string{"a:192.0.2.1", "u:bob"}}} {
		if _, err := l.acquire(ctx, c); !errors.Is(err, ErrBusy) {
			t.Errorf("acquire(%v) past the cap = %v, want ErrBusy", c.Keys, err)
		}
	}
	if _, w := l.stats(); w != 1 {
		t.Errorf("%d waiting, want 1: a refused call must not queue", w)
	}
	// Another key queues as usual.
	other := make(chan error, 1)
	go func() {
		tk, err := l.acquire(ctx, Caller{Keys: []string{"u:bob"}})
		if err == nil {
			l.release(tk)
		}
		other <- err
	}()
	waitForWaiters(t, l, 2)
	l.release(first)
	if err := <-other; err != nil {
		t.Errorf("call for another key = %v", err)
	}
	l.release(<-second)
	tk, err := l.acquire(ctx, addr)
	if err != nil {
		t.Errorf("acquire after the key's calls ended = %v", err)
	} else {
		l.release(tk)
	}
	if len(l.keys) != 0 {
		t.Errorf("keys left counted: %v", l.keys)
	}
}

// TestPerKeyCapReleasedOnTimeout: a call that times out or is canceled in
// the queue no longer counts against its keys.
func TestPerKeyCapReleasedOnTimeout(t *testing.T) {
	l := newLimiter(1, 20*time.Millisecond, 1, 0)
	held, err := l.acquire(context.Background(), Caller{})
	if err != nil {
		t.Fatal(err)
	}
	c := Caller{Keys: []string{"k"}}
	if _, err := l.acquire(context.Background(), c); !errors.Is(err, ErrBusy) {
		t.Fatalf("acquire with the slot held = %v, want ErrBusy after the wait", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := l.acquire(ctx, c)
		done <- err
	}()
	waitForWaiters(t, l, 1)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("canceled acquire = %v, want context.Canceled", err)
	}
	if len(l.keys) != 0 {
		t.Errorf("keys left counted: %v", l.keys)
	}
	l.release(held)
}

// TestShedLow: once MaxQueued Low calls wait, another Low call is refused
// at once, while an ordinary call still queues and goes first.
func TestShedLow(t *testing.T) {
	l := newLimiter(1, time.Hour, 2, 2)
	ctx := context.Background()
	held, err := l.acquire(ctx, Caller{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var served atomic.Int32
	call := func(c Caller) {
		wg.Go(func() {
			tk, err := l.acquire(ctx, c)
			if err != nil {
				t.Errorf("queued call: %v", err)
				return
			}
			served.Add(1)
			l.release(tk)
		})
	}
	call(Caller{Low: true})
	call(Caller{Low: true})
	waitForWaiters(t, l, 2)
	start := time.Now()
	if _, err := l.acquire(ctx, Caller{Low: true}); !errors.Is(err, ErrBusy) {
		t.Errorf("Low call with the Low queue full = %v, want ErrBusy", err)
	}
	if d := time.Since(start); d > time.Minute {
		t.Errorf("the refusal took %s: it waited", d)
	}
	call(Caller{})
	waitForWaiters(t, l, 3)
	l.release(held)
	wg.Wait()
	if n := served.Load(); n != 3 {
		t.Errorf("%d queued calls served, want 3", n)
	}
}

// TestDerivedLowCap: without MaxQueued, the Low queue holds what the
// Low calls' slots (here one of two) finish within the wait at the recent
// pace, at least one per slot.
func TestDerivedLowCap(t *testing.T) {
	l := newLimiter(2, 2*time.Second, 2, 0)
	for _, tc := range []struct {
		hold time.Duration
		want int
	}{
		{0, maxLowQueue},
		{50 * time.Millisecond, 40},
		{time.Second, 2},
		{time.Minute, 1},
		{time.Microsecond, maxLowQueue},
	} {
		l.hold = tc.hold
		if got := l.lowCapLocked(); got != tc.want {
			t.Errorf("hold %s: Low queue bound %d, want %d", tc.hold, got, tc.want)
		}
	}
	h := newHasher(t, Options{MaxConcurrent: 2, QueueWait: 2 * time.Second})
	h.slots.hold = time.Second
	if h.Capacity() != 4 || h.QueueWait() != 2*time.Second {
		t.Errorf("Capacity, QueueWait = %d, %s; want 4, 2s", h.Capacity(), h.QueueWait())
	}
	l.hold = 0
	for range 20 {
		l.observeLocked(100 * time.Millisecond)
	}
	if l.hold != 100*time.Millisecond {
		t.Errorf("average of equal holds = %s, want 100ms", l.hold)
	}
	l.observeLocked(900 * time.Millisecond)
	if l.hold != 200*time.Millisecond {
		t.Errorf("average after one slow hold = %s, want 200ms (1/8 of the change)", l.hold)
	}
}

// TestLowSlotsReserved: with two or more slots, Low calls never hold the
// last one: a Low call waits while it is free, and an ordinary call takes
// it at once. With one slot, Low calls may hold it.
func TestLowSlotsReserved(t *testing.T) {
	ctx := context.Background()
	l := newLimiter(2, time.Hour, 2, 0)
	first, err := l.acquire(ctx, Caller{Low: true})
	if err != nil {
		t.Fatal(err)
	}
	second := make(chan ticket, 1)
	go func() {
		tk, err := l.acquire(ctx, Caller{Low: true})
		if err != nil {
			t.Errorf("second Low call: %v", err)
		}
		second <- tk
	}()
	waitForWaiters(t, l, 1)
	if in, _ := l.stats(); in != 1 {
		t.Errorf("%d slots held, want 1: the second Low call must wait", in)
	}
	ordinary, err := l.acquire(ctx, Caller{}) // the free slot, at once
	if err != nil {
		t.Fatal(err)
	}
	l.release(ordinary) // Low calls hold their share: the slot stays free
	if in, w := l.stats(); in != 1 || w != 1 {
		t.Errorf("after the ordinary call: %d held, %d waiting; want 1, 1", in, w)
	}
	l.release(first) // now the waiting Low call gets its share
	l.release(<-second)
	if in, w := l.stats(); in != 0 || w != 0 || l.lowBusy != 0 {
		t.Errorf("after: %d held, %d waiting, %d Low; want none", in, w, l.lowBusy)
	}

	one := newLimiter(1, time.Hour, 2, 0)
	tk, err := one.acquire(ctx, Caller{Low: true})
	if err != nil {
		t.Fatalf("Low call with the only slot free: %v", err)
	}
	one.release(tk)
}

// TestHasherUsesCaller: Verify and VerifyDummy queue by the Caller of
// their context.
func TestHasherUsesCaller(t *testing.T) {
	h := newHasher(t, Options{MaxConcurrent: 1, QueueWait: time.Hour, MaxQueued: 1, MaxPerKey: 1})
	enc, err := h.Hash(context.Background(), "password one")
	if err != nil {
		t.Fatal(err)
	}
	held, err := h.slots.acquire(context.Background(), Caller{})
	if err != nil {
		t.Fatal(err)
	}
	low := WithCaller(context.Background(), Caller{Low: true, Keys: []string{"a:x"}})
	done := make(chan error, 1)
	go func() {
		_, _, err := h.Verify(low, "wrong", enc)
		done <- err
	}()
	waitForWaiters(t, h.slots, 1)
	if err := h.VerifyDummy(WithCaller(context.Background(), Caller{Low: true}), "wrong"); !errors.Is(err, ErrBusy) {
		t.Errorf("VerifyDummy (Low, queue full) = %v, want ErrBusy", err)
	}
	if _, err := h.Hash(WithCaller(context.Background(), Caller{Keys: []string{"a:x"}}), "password two"); !errors.Is(err, ErrBusy) {
		t.Errorf("Hash (key at its cap) = %v, want ErrBusy", err)
	}
	h.slots.release(held)
	if err := <-done; err != nil {
		t.Errorf("queued Verify = %v", err)
	}
}

// TestQueueStress runs many calls of both priorities, with shared keys,
// short waits and cancellations, under the race detector: no more than n
// run at once, and nothing stays counted afterwards.
func TestQueueStress(t *testing.T) {
	const n = 3
	l := newLimiter(n, 2*time.Millisecond, 2, 8)
	var running, peak, runningLow, peakLow atomic.Int32
	bump := func(cur, top *atomic.Int32) {
		r := cur.Add(1)
		for {
			p := top.Load()
			if r <= p || top.CompareAndSwap(p, r) {
				return
			}
		}
	}
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() {
			c := Caller{Low: i%3 != 0, Keys: []string{fmt.Sprintf("a:%d", i%7), fmt.Sprintf("u:%d", i%5)}}
			ctx := context.Background()
			if i%11 == 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, time.Millisecond)
				defer cancel()
			}
			for range 5 {
				tk, err := l.acquire(ctx, c)
				if err != nil {
					if !errors.Is(err, ErrBusy) {
						t.Errorf("acquire = %v, want nil or ErrBusy", err)
					}
					continue
				}
				bump(&running, &peak)
				if c.Low {
					bump(&runningLow, &peakLow)
				}
				runtime.Gosched()
				if c.Low {
					runningLow.Add(-1)
				}
				running.Add(-1)
				l.release(tk)
			}
		})
	}
	wg.Wait()
	if p, pl := peak.Load(), peakLow.Load(); p > n || pl > n-1 {
		t.Errorf("%d calls ran at once, %d of them Low; want at most %d, %d", p, pl, n, n-1)
	}
	if in, w := l.stats(); in != 0 || w != 0 || len(l.keys) != 0 {
		t.Errorf("after: %d in flight, %d waiting, keys %v; want none", in, w, l.keys)
	}
}
