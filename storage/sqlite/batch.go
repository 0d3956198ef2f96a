package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
)

// Group commit of refresh-family rotations.
//
// A rotation must be durable before its answer leaves the server, and with
// synchronous=FULL every commit costs an fsync (~150 µs on the machine this
// was built on, so ~6,700 commits/s whatever the CPU). Rotations arriving
// while the writer is busy are therefore queued and committed together: one
// transaction, one fsync, each rotation inside its own SAVEPOINT so that one
// failing (a lost race, an ended session) leaves the others intact. Each
// caller still returns only after the commit that holds its rotation, so
// the durability promise and the single-winner rule are unchanged: within
// a batch the rotations run one after another under the write lock, exactly
// as separate transactions would.

// maxBatch bounds the rotations of one transaction, so one commit never
// waits on an unbounded amount of work.
const maxBatch = 128

var errClosed = errors.New("database closed")

// rotation is one queued RotateRefresh call.
type rotation struct {
	apply func(ctx context.Context, tx *sql.Tx) error
	done  chan error
}

// batcher owns the queue of rotations and the goroutine that commits them.
type batcher struct {
	queue chan *rotation
	quit  chan struct{}
	wg    sync.WaitGroup

	mu     sync.RWMutex // senders hold it shared; close takes it alone
	closed bool
}

func (db *DB) startBatcher() {
	db.batch = &batcher{queue: make(chan *rotation, 4*maxBatch), quit: make(chan struct{})}
	db.batch.wg.Go(db.runBatches)
}

// submit queues apply and waits for the commit that holds it. The wait is
// not cut short by ctx: a rotation that was queued either commits or
// fails, and the caller must learn which.
func (db *DB) submit(apply func(ctx context.Context, tx *sql.Tx) error) error {
	b := db.batch
	r := &rotation{apply: apply, done: make(chan error, 1)}
	b.mu.RLock()
	if b.closed {
		b.mu.RUnlock()
		return errClosed
	}
	b.queue <- r
	b.mu.RUnlock()
	return <-r.done
}

// runBatches commits queued rotations until the batcher is stopped.
func (db *DB) runBatches() {
	b := db.batch
	for {
		select {
		case r := <-b.queue:
			batch := []*rotation{r}
		fill:
			for len(batch) < maxBatch {
				select {
				case r := <-b.queue:
					batch = append(batch, r)
				default:
					break fill
				}
			}
			db.commitBatch(batch)
		case <-b.quit:
			for {
				select {
				case r := <-b.queue:
					r.done <- errClosed
				default:
					return
				}
			}
		}
	}
}

// commitBatch runs the rotations in one transaction and tells each caller
// its own outcome once the transaction has committed (or failed as a whole).
func (db *DB) commitBatch(batch []*rotation) {
	ctx := context.Background() // no caller's cancellation may abort the others
	results := make([]error, len(batch))
	err := db.write(ctx, func(tx *sql.Tx) error {
		for i, r := range batch {
			if _, err := tx.ExecContext(ctx, `SAVEPOINT rotation`); err != nil {
				return err
			}
			if results[i] = r.apply(ctx, tx); results[i] != nil {
				if _, err := tx.ExecContext(ctx, `ROLLBACK TO rotation`); err != nil {
					return err
				}
			}
			if _, err := tx.ExecContext(ctx, `RELEASE rotation`); err != nil {
				return err
			}
		}
		return nil
	})
	for i, r := range batch {
		if err != nil {
			r.done <- fmt.Errorf("group commit of %d rotations: %w", len(batch), err)
		} else {
			r.done <- results[i]
		}
	}
}

// stopBatcher refuses new rotations, fails the queued ones and waits for
// the goroutine to end.
func (db *DB) stopBatcher() {
	b := db.batch
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	close(b.quit)
	b.wg.Wait()
}
