package password

import (
	"context"
	"sync"
	"time"
)

// Failed verifications are padded so that their time does not tell an
// unknown username from an existing one.
//
// An unknown user costs one argon2id hash at the current parameters (the
// dummy), and so does a wrong password for a user with a current hash. A
// user whose imported hash has not been upgraded yet costs what that
// format costs: at Django's defaults pbkdf2_sha256 takes about twice as
// long as argon2id at OWASP's parameters, and bcrypt about ten times. Timed,
// that picks out every imported account that has not signed in since, and
// so proves it exists.
//
// The legacy work cannot be made cheaper (it is what checks the password),
// so everything else is made as slow: the Hasher learns the cost of each
// kind of stored hash it verifies (format and parameters, as a ratio to
// its own argon2id, averaged), and every failure — a wrong password for
// any user, an unknown user, an account without a password — is answered
// no sooner than a quarter more than the slowest kind it has seen takes
// on average. The margin matters: a failure of the slowest kind itself
// ends when its own work does, and its time varies around the average;
// padded only to the average, half of those would end later than every
// unknown user, and the median would tell them apart. The padding is a
// sleep after the slot is given back, so it costs latency, not CPU or a
// hashing slot. Successful verifications are not padded: a success tells
// the account exists anyway, and the person waiting knows the password.
//
// Wrapping each legacy hash in argon2id at import (argon2id over the
// legacy output) would protect weak legacy hashes at rest, but not fix the
// timing: the login still does the legacy work and then an argon2id, so
// the unknown-user path would have to pay the legacy work too, and then a
// user already upgraded to plain argon2id would stand out instead. Some
// padding is needed whatever the storage format.
//
// Limits: the Hasher learns costs from what it verifies, in memory, so
// after a start the first failures for a kind of hash slower than any seen
// so far are not padded (each such kind gives away one account per start,
// to a guesser who times it before anyone else signs in with it); a kind
// slower than maxPad is padded only to maxPad; and under load every time
// moves by more than these differences anyway.

// Bounds of the padding.
const (
	padMargin    = 1.25        // the floor is this much above the slowest kind's average
	maxPad       = time.Second // no failure is held longer than this
	maxCostKinds = 64          // kinds of stored hash whose cost is learnt
	costWeight   = 8           // averages follow 1/8 of each change
)

// costs learns the time of verifications, for the padding.
type costs struct {
	mu    sync.Mutex
	own   time.Duration      // average of hashes at the Hasher's own parameters
	ratio map[string]float64 // by kind of other stored hash: average time / own
}

// observeOwn folds in the time of a hash at the Hasher's own parameters
// (the dummy, a current hash, a new one).
func (c *costs) observeOwn(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.own == 0 {
		c.own = d
		return
	}
	c.own += (d - c.own) / costWeight
}

// observe folds in the time of a verification of a stored hash of kind.
func (c *costs) observe(kind string, d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.own <= 0 {
		return
	}
	sample := float64(d) / float64(c.own)
	r, ok := c.ratio[kind]
	switch {
	case ok:
		c.ratio[kind] = r + (sample-r)/costWeight
	case len(c.ratio) < maxCostKinds:
		if c.ratio == nil {
			c.ratio = map[string]float64{}
		}
		c.ratio[kind] = sample
	}
}

// floor is how long a failed verification takes at least: padMargin times
// the slowest kind seen, at the current pace of the Hasher's own hashes,
// at most maxPad; 0 while no kind slower than the Hasher's own was seen.
func (c *costs) floor() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	top := 1.0
	for _, r := range c.ratio {
		top = max(top, r)
	}
	if top <= 1 {
		return 0
	}
	return min(time.Duration(padMargin*top*float64(c.own)), maxPad)
}

// pad waits, after a failed verification whose hash began at start, until
// the floor has passed since then, or until ctx ends.
func (h *Hasher) pad(ctx context.Context, start time.Time) {
	d := time.Until(start.Add(h.costs.floor()))
	if d <= 0 {
		return
	}
	if h.padded != nil {
		h.padded(d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
