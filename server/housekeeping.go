package server

import (
	"context"
	"time"
)

const (
	housekeepingEvery = time.Minute
	// housekeepingBatch bounds the rows one sweep deletes of each kind, so
	// a sweep never holds the write lock for long.
	housekeepingBatch = 1000
)

// sweep deletes what can no longer matter: expired refresh tokens and
// sessions, revoked jtis past their exp, used or expired one-time tokens,
// replay data past its grace. It runs batches until one comes back short,
// at most a few per call.
func (s *Server) sweep(ctx context.Context) {
	for range 10 {
		n, err := s.store.DeleteExpired(ctx, s.now(), housekeepingBatch)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("housekeeping failed", "error", err)
			}
			return
		}
		if n > 0 {
			s.log.Debug("housekeeping", "deleted", n)
		}
		if n < housekeepingBatch {
			return
		}
	}
}
