package password

import (
	"context"
	"sync"
)

// HoldSlotForTest takes one hashing slot, as a hash in progress does, and
// keeps it until release is called (release may be called more than once).
// It exists for tests of the Hasher's callers: with Options.MaxConcurrent 1
// and a short QueueWait, every hash and verification fails with ErrBusy
// while the slot is held. Production code has no use for it.
func (h *Hasher) HoldSlotForTest(ctx context.Context) (release func(), err error) {
	t, err := h.slots.acquire(ctx, Caller{})
	if err != nil {
		return nil, err
	}
	var once sync.Once
	return func() { once.Do(func() { h.slots.release(t) }) }, nil
}
