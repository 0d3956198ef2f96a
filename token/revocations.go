package token

import (
	"context"
	"sync"
	"time"

	"github.com/authd/authd/storage"
)

// View is the in-memory view of what kills an access token before its exp:
// an ended session (its sid) or a revoked jti. Access-token checks consult
// it instead of the database. Poll refreshes it from the database, so ends
// written by another process (the CLI, another instance) are seen within the
// poll period, and this process's own writes update it at once.
//
// A revoked jti stays in the view until its token's exp plus the clock skew
// that verification allows: dropping it at exp would make the token valid
// again for the skew.
type View struct {
	mu    sync.RWMutex
	ended map[string]time.Time // sid → when it ended
	jtis  map[string]time.Time // jti → the token's exp
	// polled is when the last poll read the database; the next reads ends
	// from a little before it, so clocks of other writers may lag a bit.
	polled time.Time
	// window is how long an ended session matters: the longest access-token
	// lifetime plus skew.
	window time.Duration
	skew   time.Duration
}

// pollOverlap re-reads ends this far back at every poll, covering writers
// whose clocks lag ours and transactions that committed late.
const pollOverlap = time.Minute

// NewView returns an empty view for access tokens living at most
// accessTTL, verified with skew.
func NewView(accessTTL, skew time.Duration) *View {
	return &View{ended: map[string]time.Time{}, jtis: map[string]time.Time{}, window: accessTTL + skew, skew: skew}
}

// Dead reports whether a token of session sid (may be "") with this jti
// has been revoked.
func (v *View) Dead(sid, jti string) bool {
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

// EndSessions records sessions ended at at.
func (v *View) EndSessions(at time.Time, ids ...string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, id := range ids {
		if _, ok := v.ended[id]; !ok {
			v.ended[id] = at
		}
	}
}

// RevokeJTI records a revoked access token.
func (v *View) RevokeJTI(jti string, exp time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.jtis[jti] = exp
}

// Poll reads ends and revocations from the database and forgets those that
// no live token can refer to any more: a session ended longer ago than the
// window, a jti past its exp plus skew.
func (v *View) Poll(ctx context.Context, store storage.Storage, now time.Time) error {
	v.mu.RLock()
	since := v.polled.Add(-pollOverlap)
	if v.polled.IsZero() {
		since = now.Add(-v.window)
	}
	v.mu.RUnlock()

	ended, err := store.EndedSessions(ctx, since)
	if err != nil {
		return err
	}
	jtis, err := store.RevokedJTIs(ctx, now) // kept through the skew by the store too
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
	horizon := now.Add(-v.window)
	for id, at := range v.ended {
		if at.Before(horizon) {
			delete(v.ended, id)
		}
	}
	for jti, exp := range v.jtis {
		if exp.Add(v.skew).Before(now) {
			delete(v.jtis, jti)
		}
	}
	v.polled = now
	return nil
}
