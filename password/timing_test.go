package password

import (
	"context"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"
)

// TestLoginTimingMedians measures what a guesser can time: a wrong
// password for an unknown user (VerifyDummy), for a user whose imported
// Django hash has not been upgraded yet, and for a user with a current
// hash, at the default argon2id parameters and Django's default costs
// (pbkdf2_sha256 at 260,000 iterations, bcrypt_sha256 at cost 12, from
// testdata/vectors.json). It reports the median of each over interleaved
// rounds. It is a measurement, not a check: it runs only when
// AUTHD_TIMING_PAIRS is set to the number of rounds (200 for the figures
// in the README; bcrypt gets a tenth as many, each takes ~0.3 s):
//
//	AUTHD_TIMING_PAIRS=200 go test -run TestLoginTimingMedians -v ./password
func TestLoginTimingMedians(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("AUTHD_TIMING_PAIRS"))
	if n <= 0 {
		t.Skip("set AUTHD_TIMING_PAIRS to run")
	}
	h, err := New(Options{MaxConcurrent: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	current, err := h.Hash(ctx, "the user's own password")
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]string{}
	for _, v := range loadVectors(t) {
		byName[v.Name] = v.Hash
	}
	const wrong = "a wrong guess at it"
	median := func(ds []time.Duration) time.Duration {
		slices.Sort(ds)
		return ds[len(ds)/2]
	}
	timed := func(f func()) time.Duration {
		t0 := time.Now()
		f()
		return time.Since(t0)
	}
	for _, tc := range []struct {
		name   string
		vector string
		rounds int
	}{
		{"pbkdf2_sha256, 260,000 iterations", "django pbkdf2_sha256 default", n},
		{"bcrypt_sha256, cost 12", "django bcrypt_sha256 default", max(1, n/10)},
	} {
		legacy := byName[tc.vector]
		if legacy == "" {
			t.Fatalf("no vector %q", tc.vector)
		}
		// One of each first, as a server that has run for a while has.
		h.VerifyDummy(ctx, wrong)
		h.Verify(ctx, wrong, legacy)
		var unknown, old, cur []time.Duration
		for range tc.rounds {
			unknown = append(unknown, timed(func() { h.VerifyDummy(ctx, wrong) }))
			old = append(old, timed(func() { h.Verify(ctx, wrong, legacy) }))
			cur = append(cur, timed(func() { h.Verify(ctx, wrong, current) }))
		}
		mu, ml, mc := median(unknown), median(old), median(cur)
		t.Logf("%s, %d rounds: medians unknown user %s, legacy hash %s (%+.0f%%), current hash %s (%+.0f%%)",
			tc.name, tc.rounds, mu.Round(100*time.Microsecond), ml.Round(100*time.Microsecond), 100*(float64(ml)/float64(mu)-1),
			mc.Round(100*time.Microsecond), 100*(float64(mc)/float64(mu)-1))
	}
}
