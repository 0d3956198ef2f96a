package sqlcol

import (
	"context"
	"time"
)

// probeEvery is how long a Probe answers from its last result.
const probeEvery = time.Second

// Probe runs a backend's write probe for readiness: one at a time, at most
// once a second, a call within a second of the last probe answering with
// that probe's result. A probe cut short by its context returns the
// context's error and is not remembered. The zero Probe is not usable:
// make one with NewProbe.
type Probe struct {
	sem chan struct{}
	at  time.Time
	err error
}

// NewProbe returns a Probe with no result yet.
func NewProbe() *Probe { return &Probe{sem: make(chan struct{}, 1)} }

// Run probes with write (given the probe's time) unless the last result
// still stands.
func (p *Probe) Run(ctx context.Context, write func(now time.Time) error) error {
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-p.sem }()
	now := time.Now()
	if !p.at.IsZero() && now.Sub(p.at) < probeEvery {
		return p.err
	}
	err := write(now)
	if err != nil && ctx.Err() != nil {
		return err
	}
	p.at, p.err = now, err
	return err
}

// Forget drops the last result, so that the next Run probes again.
func (p *Probe) Forget() {
	p.sem <- struct{}{}
	p.at, p.err = time.Time{}, nil
	<-p.sem
}
