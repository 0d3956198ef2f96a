package password

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestCostsFloor(t *testing.T) {
	var c costs
	c.observe("pbkdf2_sha256:260000", 20*time.Millisecond) // before any own hash: ignored
	if f := c.floor(); f != 0 {
		t.Errorf("floor with nothing learnt = %s, want 0", f)
	}
	c.observeOwn(10 * time.Millisecond)
	c.observe("argon2id:cheaper", 5*time.Millisecond)
	if f := c.floor(); f != 0 {
		t.Errorf("floor with only a cheaper kind seen = %s, want 0 (no padding)", f)
	}
	c.observe("pbkdf2_sha256:260000", 20*time.Millisecond)
	if f := c.floor(); f != 25*time.Millisecond {
		t.Errorf("floor = %s, want a quarter above the pbkdf2 time, 25ms", f)
	}
	c.observe("bcrypt:12", 100*time.Millisecond)
	c.observe("pbkdf2_sha256:260000", 20*time.Millisecond)
	if f := c.floor(); f != 125*time.Millisecond {
		t.Errorf("floor = %s, want a quarter above the slowest kind, bcrypt's 100ms", f)
	}
	// One slow sample moves a kind's average by an eighth of the change.
	c.observe("bcrypt:12", 900*time.Millisecond)
	if f := c.floor(); f != 250*time.Millisecond {
		t.Errorf("floor after one slow bcrypt = %s, want 1.25 × 200ms", f)
	}
	// The floor follows the pace of the Hasher's own hashes.
	for range 100 {
		c.observeOwn(20 * time.Millisecond)
	}
	if f := c.floor(); f < 490*time.Millisecond || f > 500*time.Millisecond {
		t.Errorf("floor with own hashes twice as slow = %s, want about 500ms", f)
	}
	c.observe("pbkdf2_sha256:10000000", time.Minute)
	if f := c.floor(); f != maxPad {
		t.Errorf("floor with a kind of a minute = %s, want maxPad, %s", f, maxPad)
	}
	for i := range 2 * maxCostKinds {
		c.observe(fmt.Sprint("kind", i), time.Millisecond)
	}
	if len(c.ratio) != maxCostKinds {
		t.Errorf("%d kinds learnt, want at most %d", len(c.ratio), maxCostKinds)
	}
}

// TestFailuresPadded: once a slower kind of hash has been verified, a
// wrong password for any user and an unknown user are padded towards its
// time; a right password is not.
func TestFailuresPadded(t *testing.T) {
	h := newHasher(t, Options{})
	var (
		mu   sync.Mutex
		pads []time.Duration
	)
	h.padded = func(d time.Duration) {
		mu.Lock()
		pads = append(pads, d)
		mu.Unlock()
	}
	took := func(what string, f func()) (padded bool) {
		t.Helper()
		mu.Lock()
		pads = nil
		mu.Unlock()
		f()
		mu.Lock()
		defer mu.Unlock()
		return len(pads) > 0
	}
	ctx := context.Background()
	current, err := h.Hash(ctx, "current password")
	if err != nil {
		t.Fatal(err)
	}
	if took("unknown user, nothing slower seen", func() { h.VerifyDummy(ctx, "guess") }) {
		t.Error("an unknown user is padded before any slower hash was seen")
	}
	// Make the legacy kind far slower than the cheap argon2id, whatever
	// the machine: 10 ms against microseconds.
	h.costs.observe("pbkdf2_sha256:legacy", 10*time.Millisecond)
	for _, tc := range []struct {
		what string
		f    func()
		want bool
	}{
		{"unknown user", func() { h.VerifyDummy(ctx, "guess") }, true},
		{"wrong password, current hash", func() { h.Verify(ctx, "guess", current) }, true},
		{"account without a password", func() { h.Verify(ctx, "guess", "!unusable") }, true},
		{"right password, current hash", func() { h.Verify(ctx, "current password", current) }, false},
	} {
		if got := took(tc.what, tc.f); got != tc.want {
			t.Errorf("%s: padded %v, want %v", tc.what, got, tc.want)
		}
	}
	start := time.Now()
	h.VerifyDummy(ctx, "guess")
	if d, f := time.Since(start), h.costs.floor(); d < f {
		t.Errorf("unknown user answered after %s, before the floor, %s", d, f)
	}
}

// TestLegacyVerificationRaisesFloor: verifying a real imported hash
// teaches the Hasher its cost, wrong password or right.
func TestLegacyVerificationRaisesFloor(t *testing.T) {
	h := newHasher(t, Options{})
	var legacy vector
	for _, v := range loadVectors(t) {
		if v.Name == "django pbkdf2_sha256 1000 iterations" {
			legacy = v
		}
	}
	if legacy.Hash == "" {
		t.Fatal("no pbkdf2_sha256 vector at 1000 iterations")
	}
	ok, rehash, err := h.Verify(context.Background(), legacy.Password, legacy.Hash)
	if !ok || !rehash || err != nil {
		t.Fatalf("Verify(legacy, right password) = %v, %v, %v", ok, rehash, err)
	}
	h.costs.mu.Lock()
	_, learnt := h.costs.ratio["pbkdf2_sha256:1000"]
	h.costs.mu.Unlock()
	if !learnt {
		t.Errorf("the cost of pbkdf2_sha256 at 1000 iterations was not learnt: %v", h.costs.ratio)
	}
}
