package server

import (
	"context"
	"time"
)

// Periods of the background workers; Workers takes others for tests.
const (
	// RevocationPoll is how often the view of ended sessions and revoked
	// jtis is refreshed from the database, where other processes write.
	RevocationPoll = time.Second
	// SweepEvery is how often expired rows are deleted.
	SweepEvery = time.Minute
	// fileCheckEvery is how often the database file is checked to be the
	// one opened.
	fileCheckEvery = 5 * time.Second
	// sweepBatch bounds the rows one batch deletes of each kind, so a batch
	// never holds the write lock for long.
	sweepBatch = 1000
)

// Periods sets how often the background workers run.
type Periods struct {
	RevocationPoll time.Duration
	Sweep          time.Duration
}

// Run does the server's background work until ctx is done, with the
// default periods.
func (s *Server) Run(ctx context.Context) {
	s.RunWorkers(ctx, Periods{RevocationPoll: RevocationPoll, Sweep: SweepEvery})
}

// RunWorkers runs each background task in a goroutine of its own, so one
// slow task (a mail server that takes seconds) delays no other, and returns
// when ctx is done and all have stopped: the revocation poll, the sweep and
// the mail worker.
func (s *Server) RunWorkers(ctx context.Context, p Periods) {
	done := make(chan struct{}, 4)
	go func() { defer func() { done <- struct{}{} }(); s.every(ctx, fileCheckEvery, s.checkFile) }()
	go func() { defer func() { done <- struct{}{} }(); s.every(ctx, p.RevocationPoll, s.pollRevocations) }()
	go func() { defer func() { done <- struct{}{} }(); s.every(ctx, p.Sweep, s.Sweep) }()
	go func() { defer func() { done <- struct{}{} }(); s.accounts.RunMail(ctx) }()
	for range 4 {
		<-done
	}
}

func (s *Server) every(ctx context.Context, d time.Duration, f func(context.Context)) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f(ctx)
		}
	}
}

func (s *Server) pollRevocations(ctx context.Context) {
	if err := s.tokens.View().Poll(ctx, s.store, s.now()); err != nil && ctx.Err() == nil {
		s.log.Warn("refreshing revoked sessions failed", "error", err)
	}
}

// Sweep deletes what can no longer matter: expired sessions and their
// refresh tokens, revoked jtis past their exp, used or expired one-time
// tokens and codes, replay data past its grace. It runs batches until one
// comes back short, so it keeps pace with whatever rate they are created
// at; each batch is its own short transaction.
func (s *Server) Sweep(ctx context.Context) {
	for ctx.Err() == nil {
		n, err := s.store.DeleteExpired(ctx, s.now(), s.sweepBatch)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("housekeeping failed", "error", err)
			}
			return
		}
		if n > 0 {
			s.log.Debug("housekeeping", "deleted", n)
		}
		if n < s.sweepBatch {
			return
		}
	}
}

// checkFile logs, once per change, that the database file was removed or
// replaced underneath the server (readiness answers 503 meanwhile).
func (s *Server) checkFile(context.Context) {
	fc, ok := s.store.(fileChecker)
	if !ok {
		return
	}
	err := fc.CheckFile()
	if (err != nil) == s.fileGone.Load() {
		return
	}
	s.fileGone.Store(err != nil)
	if err != nil {
		s.log.Error("the database file was removed or replaced since start-up; writes go to a file no one else sees: restore it and restart", "error", err)
	} else {
		s.log.Warn("the database file is back in place")
	}
}
