package server

import (
	"context"
	"sync"
	"time"

	"github.com/authd/authd/storage"
)

// revocations is the in-memory view of what kills an access token before
// its exp: an ended session (its sid) or a revoked jti. Access-token checks
// (userinfo, introspection, the account API) consult it instead of the
// database. It is refreshed from the database every revocationPoll, so ends
// written by another process (the CLI, another replica) are seen within
// that, and updated at once by this process's own writes.
type revocations struct {
	mu    sync.RWMutex
	ended map[string]time.Time // sid → when it ended
	jtis  map[string]time.Time // jti → the token's exp
	// polled is when the last poll read the database; the next reads ends
	// from a little before it, so clocks of other writers may lag a bit.
	polled time.Time
}

const (
	revocationPoll = time.Second
	// pollOverlap re-reads ends this far back at every poll, covering
	// writers whose clocks lag ours and transactions that committed late.
	pollOverlap = time.Minute
)

func newRevocations() *revocations {
	return &revocations{ended: map[string]time.Time{}, jtis: map[string]time.Time{}}
}

// dead reports whether a token of session sid (may be "") with this jti
// has been revoked.
func (v *revocations) dead(sid, jti string) bool {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if sid != "" {
		if _, ok := v.ended[sid]; ok {
			return true
		}
	}
	_, ok := v.jtis[jti]
	return ok
}

func (v *revocations) endSessions(at time.Time, ids ...string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, id := range ids {
		if _, ok := v.ended[id]; !ok {
			v.ended[id] = at
		}
	}
}

func (v *revocations) revokeJTI(jti string, exp time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.jtis[jti] = exp
}

// poll reads ends and revocations from the database and forgets those that
// no live token can refer to any more: a session ended longer ago than
// window (the longest access-token lifetime plus skew), a jti past its exp.
func (v *revocations) poll(ctx context.Context, store storage.Storage, now time.Time, window time.Duration) error {
	v.mu.RLock()
	since := v.polled.Add(-pollOverlap)
	if v.polled.IsZero() {
		since = now.Add(-window)
	}
	v.mu.RUnlock()

	ended, err := store.EndedSessions(ctx, since)
	if err != nil {
		return err
	}
	jtis, err := store.RevokedJTIs(ctx, now)
	if err != nil {
		return err
	}

	v.mu.Lock()
	defer v.mu.Unlock()
	for _, e := range ended {
		if _, ok := v.ended[e.ID]; !ok {
			v.ended[e.ID] = e.EndedAt
		}
	}
	for _, j := range jtis {
		v.jtis[j.JTI] = j.Exp
	}
	horizon := now.Add(-window)
	for id, at := range v.ended {
		if at.Before(horizon) {
			delete(v.ended, id)
		}
	}
	for jti, exp := range v.jtis {
		if exp.Before(now) {
			delete(v.jtis, jti)
		}
	}
	v.polled = now
	return nil
}
