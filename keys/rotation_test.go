package keys_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/keys"
	"github.com/authd/authd/storage"
)

// TestLifecycle walks a key set through automatic rotations, a forced one and
// pruning on a fake clock, checking every timestamp.
func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	db, _ := newDB(t)
	clk := newClock()
	opts := baseOptions(clk) // rotate 1h, reload 10s, max-age 5m, tokens 15m, skew 1m
	m := newManager(t, db, opts)

	ks := listKeys(t, db)
	if len(ks[storage.KeyActive]) != 1 || len(ks[storage.KeyNext]) != 1 || len(ks[storage.KeyRetired]) != 0 {
		t.Fatalf("first key set: %d active, %d next, %d retired; want 1, 1, 0", len(ks[storage.KeyActive]), len(ks[storage.KeyNext]), len(ks[storage.KeyRetired]))
	}
	a, b := ks[storage.KeyActive][0], ks[storage.KeyNext][0]
	if !a.CreatedAt.Equal(t0) || !a.ActivatedAt.Equal(t0) || !b.CreatedAt.Equal(t0) || !b.ActivatedAt.IsZero() {
		t.Errorf("first keys' times: active %v/%v, next %v/%v", a.CreatedAt, a.ActivatedAt, b.CreatedAt, b.ActivatedAt)
	}
	if kid, alg, ok := m.Active(); kid != a.ID || alg != keys.EdDSA || !ok {
		t.Errorf("Active() = %s %s %v, want %s EdDSA", kid, alg, ok, a.ID)
	}

	// Not due a nanosecond early.
	clk.Set(t0.Add(time.Hour - time.Nanosecond))
	m.Tick(ctx)
	if kid, _, _ := m.Active(); kid != a.ID {
		t.Fatalf("rotated before RotateEvery")
	}
	// Due at t0+1h: b signs, a retires, c is the new next.
	t1 := t0.Add(time.Hour)
	clk.Set(t1)
	m.Tick(ctx)
	ks = listKeys(t, db)
	if len(ks[storage.KeyActive]) != 1 || ks[storage.KeyActive][0].ID != b.ID {
		t.Fatalf("after rotation the active key is not the former next")
	}
	if kid, _, _ := m.Active(); kid != b.ID {
		t.Errorf("Active() = %s after rotation, want %s", kid, b.ID)
	}
	retired := ks[storage.KeyRetired][0]
	wantRemove := t1.Add(10*time.Second + 15*time.Minute + time.Minute)
	if retired.ID != a.ID || !retired.RetiredAt.Equal(t1) || !retired.RemoveAt.Equal(wantRemove) {
		t.Errorf("retired %s at %v remove %v; want %s at %v remove %v", retired.ID, retired.RetiredAt, retired.RemoveAt, a.ID, t1, wantRemove)
	}
	if got := ks[storage.KeyActive][0].ActivatedAt; !got.Equal(t1) {
		t.Errorf("promoted key ActivatedAt = %v, want %v", got, t1)
	}
	c := ks[storage.KeyNext][0]
	if !c.CreatedAt.Equal(t1) {
		t.Errorf("new next CreatedAt = %v, want %v", c.CreatedAt, t1)
	}

	// Forced rotation a minute later: c was published 1m < 10s+5m: Early.
	t2 := t1.Add(time.Minute)
	clk.Set(t2)
	res, err := m.Rotate(ctx, keys.RS256)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Rotated || res.Promoted != c.ID || res.Retired != b.ID || res.PublishedFor != time.Minute || !res.Early {
		t.Errorf("Rotate() = %+v; want rotated, promoted %s, retired %s, published 1m, early", res, c.ID, b.ID)
	}
	ks = listKeys(t, db)
	if d := ks[storage.KeyNext][0]; d.ID != res.Next || d.Algorithm != keys.RS256 {
		t.Errorf("new next %s %s, want %s RS256", d.ID, d.Algorithm, res.Next)
	}
	if len(ks[storage.KeyRetired]) != 2 {
		t.Errorf("%d retired keys, want 2", len(ks[storage.KeyRetired]))
	}
	infos := m.Keys()
	if len(infos) != 4 || infos[0].State != storage.KeyActive || infos[1].State != storage.KeyNext ||
		infos[2].ID != b.ID || infos[3].ID != a.ID || !infos[3].RemoveAt.Equal(wantRemove) {
		t.Errorf("Keys() = %+v", infos)
	}
	if got, want := m.Algorithms(), []string{keys.RS256, keys.EdDSA}; !equal(got, want) {
		t.Errorf("Algorithms() = %v, want %v", got, want)
	}

	// Pruning: a stays until its RemoveAt, then leaves the store and the JWKS.
	clk.Set(wantRemove.Add(-time.Nanosecond))
	m.Tick(ctx)
	if _, ok := findKey(listKeys(t, db), a.ID); !ok {
		t.Errorf("retired key pruned before RemoveAt")
	}
	clk.Set(wantRemove)
	m.Tick(ctx)
	if _, ok := findKey(listKeys(t, db), a.ID); ok {
		t.Errorf("retired key still stored at RemoveAt")
	}
	if body, _ := m.JWKS(); bytes.Contains(body, []byte(a.ID)) {
		t.Errorf("pruned key still in the JWKS")
	}
	if len(m.Keys()) != 3 {
		t.Errorf("Keys() has %d keys after pruning, want 3", len(m.Keys()))
	}
}

func findKey(ks map[storage.KeyState][]storage.Key, kid string) (storage.Key, bool) {
	for _, l := range ks {
		for _, k := range l {
			if k.ID == kid {
				return k, true
			}
		}
	}
	return storage.Key{}, false
}

// TestAutoRotationWaitsForPublication: with RotateEvery shorter than the
// publication wait, automatic rotation waits until the next key has been in
// the set for ReloadInterval + JWKSMaxAge.
func TestAutoRotationWaitsForPublication(t *testing.T) {
	ctx := context.Background()
	db, _ := newDB(t)
	clk := newClock()
	opts := baseOptions(clk)
	opts.RotateEvery = time.Minute
	m := newManager(t, db, opts)
	first, _, _ := m.Active()

	clk.Set(t0.Add(5*time.Minute + 10*time.Second - time.Nanosecond))
	m.Tick(ctx)
	if kid, _, _ := m.Active(); kid != first {
		t.Fatalf("rotated before the next key was published for reload interval + max-age")
	}
	clk.Set(t0.Add(5*time.Minute + 10*time.Second))
	m.Tick(ctx)
	if kid, _, _ := m.Active(); kid == first {
		t.Fatalf("did not rotate once due")
	}

	// RotateEvery 0: never rotates automatically, but still prunes.
	opts.RotateEvery = 0
	m0 := newManager(t, db, opts)
	before, _, _ := m0.Active()
	clk.Advance(1000 * time.Hour)
	m0.Tick(ctx)
	if kid, _, _ := m0.Active(); kid != before {
		t.Errorf("rotated with RotateEvery 0")
	}
	if n := len(listKeys(t, db)[storage.KeyRetired]); n != 0 {
		t.Errorf("%d retired keys left long after RemoveAt, want 0", n)
	}
}

// TestTokenAcrossRotation: a token signed before a rotation verifies until
// it expires, in this process and in another one, and not after its key is
// pruned.
func TestTokenAcrossRotation(t *testing.T) {
	ctx := context.Background()
	db, path := newDB(t)
	clk := newClock()
	opts := baseOptions(clk)
	m := newManager(t, db, opts)
	other := newManager(t, openDB(t, path), opts)
	oldKid, _, _ := m.Active()

	tok, err := m.Sign(keys.TypeAccessToken, newAccessClaims(t0, opts.MaxTokenTTL))
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	res, err := m.Rotate(ctx, "")
	if err != nil || !res.Rotated || res.Retired != oldKid {
		t.Fatalf("Rotate() = %+v, %v", res, err)
	}
	// The other process still signs with the old key until it reloads; its
	// tokens verify in both processes.
	tok2, err := other.Sign(keys.TypeAccessToken, newAccessClaims(clk.Now(), opts.MaxTokenTTL))
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(opts.ReloadInterval)
	other.Tick(ctx)
	if kid, _, _ := other.Active(); kid != res.Promoted {
		t.Errorf("other process signs with %s after ReloadInterval, want %s", kid, res.Promoted)
	}
	for _, v := range []*keys.Manager{m, other} {
		for _, tk := range []string{tok, tok2} {
			if err := v.Verify(tk, wantAccess(clk.Now()), nil); err != nil {
				t.Errorf("token of the retired key: %v", err)
			}
		}
	}
	// Until exp (+skew), then expired.
	exp := t0.Add(opts.MaxTokenTTL)
	if err := m.Verify(tok, wantAccess(exp.Add(opts.Skew-time.Second)), nil); err != nil {
		t.Errorf("at exp+skew-1s: %v", err)
	}
	if err := m.Verify(tok, wantAccess(exp.Add(opts.Skew)), nil); !errors.Is(err, keys.ErrExpired) {
		t.Errorf("at exp+skew: %v, want ErrExpired", err)
	}
	// The latest token the old key signed (tok2, by the process that had
	// not reloaded yet) expires before the key is removed.
	retired, _ := findKey(listKeys(t, db), oldKid)
	exp2 := t0.Add(time.Minute + opts.MaxTokenTTL)
	if retired.RemoveAt.Before(exp2.Add(opts.Skew)) {
		t.Errorf("RemoveAt %v is before the last token of the key expires (%v + skew)", retired.RemoveAt, exp2)
	}
	// After pruning the key is gone: even ignoring expiry, the token fails.
	clk.Set(retired.RemoveAt)
	m.Tick(ctx)
	want := wantAccess(clk.Now())
	want.IgnoreExpiry = true
	if err := m.Verify(tok, want, nil); !errors.Is(err, keys.ErrUnknownKey) {
		t.Errorf("after pruning: %v, want ErrUnknownKey", err)
	}
	clk.Advance(opts.ReloadInterval)
	other.Tick(ctx)
	if err := other.Verify(tok2, want, nil); !errors.Is(err, keys.ErrUnknownKey) {
		t.Errorf("other process after pruning: %v, want ErrUnknownKey", err)
	}
}

// TestConcurrentAutoRotation: two managers on two handles of one file run
// their loops when rotation is due; there is one rotation.
func TestConcurrentAutoRotation(t *testing.T) {
	for round := 0; round < 5; round++ {
		db, path := newDB(t)
		clk := newClock()
		opts := baseOptions(clk)
		m1 := newManager(t, db, opts)
		m2 := newManager(t, openDB(t, path), opts)
		first, _, _ := m1.Active()
		clk.Advance(opts.RotateEvery)

		var wg sync.WaitGroup
		start := make(chan struct{})
		for _, m := range []*keys.Manager{m1, m2} {
			wg.Go(func() {
				<-start
				m.Tick(context.Background())
			})
		}
		close(start)
		wg.Wait()
		ks := listKeys(t, db)
		if len(ks[storage.KeyActive]) != 1 || len(ks[storage.KeyRetired]) != 1 || len(ks[storage.KeyNext]) != 1 {
			t.Fatalf("round %d: %d active, %d retired, %d next; want one rotation (1, 1, 1)",
				round, len(ks[storage.KeyActive]), len(ks[storage.KeyRetired]), len(ks[storage.KeyNext]))
		}
		if ks[storage.KeyRetired][0].ID != first {
			t.Errorf("round %d: retired %s, want %s", round, ks[storage.KeyRetired][0].ID, first)
		}
	}
}

// TestConcurrentForcedRotation: two managers that both decided to rotate
// from the same active key, in two goroutines: one rotates, the other is told
// it lost and writes nothing.
func TestConcurrentForcedRotation(t *testing.T) {
	ctx := context.Background()
	db, path := newDB(t)
	clk := newClock()
	opts := baseOptions(clk)
	m1 := newManager(t, db, opts)
	m2 := newManager(t, openDB(t, path), opts)
	first, _, _ := m1.Active()

	var wg sync.WaitGroup
	results := make([]keys.RotateResult, 2)
	errs := make([]error, 2)
	start := make(chan struct{})
	for i, m := range []*keys.Manager{m1, m2} {
		wg.Go(func() {
			<-start
			results[i], errs[i] = m.RotateFrom(ctx, first, keys.EdDSA)
		})
	}
	close(start)
	wg.Wait()
	checkOneRotation(t, db, first, results, errs)
}

func checkOneRotation(t *testing.T, db storage.KeyStore, first string, results []keys.RotateResult, errs []error) {
	t.Helper()
	rotated := 0
	for i := range results {
		if errs[i] != nil {
			t.Errorf("rotator %d: %v", i, errs[i])
		}
		if results[i].Rotated {
			rotated++
		}
	}
	if rotated != 1 {
		t.Errorf("%d rotations, want 1: %+v", rotated, results)
	}
	ks := listKeys(t, db)
	if len(ks[storage.KeyActive]) != 1 || len(ks[storage.KeyRetired]) != 1 || len(ks[storage.KeyNext]) != 1 {
		t.Fatalf("%d active, %d retired, %d next; want 1, 1, 1",
			len(ks[storage.KeyActive]), len(ks[storage.KeyRetired]), len(ks[storage.KeyNext]))
	}
	if ks[storage.KeyRetired][0].ID != first {
		t.Errorf("retired %s, want %s", ks[storage.KeyRetired][0].ID, first)
	}
	// The loser reports the state the winner left.
	for _, r := range results {
		if r.Promoted != ks[storage.KeyActive][0].ID || r.Next != ks[storage.KeyNext][0].ID {
			t.Errorf("result %+v does not describe the stored set", r)
		}
	}
}

// The two-process rotation test re-executes the test binary: each child
// opens the database, reports "ready", waits for "go" on stdin, rotates from
// the active key it loaded, and prints its RotateResult as JSON.
const (
	childDBEnv     = "AUTHD_KEYS_TEST_CHILD_DB"
	childExpectEnv = "AUTHD_KEYS_TEST_CHILD_EXPECT"
)

func TestTwoProcessRotation(t *testing.T) {
	if path := os.Getenv(childDBEnv); path != "" {
		rotateChild(t, path)
		return
	}
	if testing.Short() {
		t.Skip("starts two processes")
	}
	db, path := newDB(t)
	opts := baseOptions(newClock())
	m := newManager(t, db, opts)
	first, _, _ := m.Active()

	type child struct {
		cmd *exec.Cmd
		in  io.WriteCloser
		out *bufio.Scanner
	}
	var children []child
	for range 2 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestTwoProcessRotation$", "-test.count=1")
		cmd.Env = append(os.Environ(), childDBEnv+"="+path, childExpectEnv+"="+first)
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		sc := bufio.NewScanner(stdout)
		children = append(children, child{cmd: cmd, in: stdin, out: sc})
	}
	// Both have loaded the key set before either rotates.
	for i, c := range children {
		if !scanFor(c.out, "READY") {
			t.Fatalf("child %d did not get ready", i)
		}
	}
	for _, c := range children {
		fmt.Fprintln(c.in, "go")
	}
	results := make([]keys.RotateResult, 2)
	errs := make([]error, 2)
	for i, c := range children {
		line, ok := scanPrefix(c.out, "RESULT ")
		if !ok {
			t.Fatalf("child %d printed no result", i)
		}
		var r struct {
			Result keys.RotateResult
			Err    string
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("child %d: %v", i, err)
		}
		results[i] = r.Result
		if r.Err != "" {
			errs[i] = errors.New(r.Err)
		}
		if err := c.cmd.Wait(); err != nil {
			t.Errorf("child %d: %v", i, err)
		}
	}
	checkOneRotation(t, db, first, results, errs)
}

func rotateChild(t *testing.T, path string) {
	db := openDB(t, path)
	opts := baseOptions(newClock())
	m := newManager(t, db, opts)
	fmt.Println("READY")
	in := bufio.NewScanner(os.Stdin)
	if !in.Scan() {
		t.Fatal("no go")
	}
	res, err := m.RotateFrom(context.Background(), os.Getenv(childExpectEnv), keys.EdDSA)
	out := struct {
		Result keys.RotateResult
		Err    string
	}{Result: res}
	if err != nil {
		out.Err = err.Error()
	}
	b, _ := json.Marshal(out)
	fmt.Println("RESULT " + string(b))
}

func scanFor(sc *bufio.Scanner, line string) bool {
	for sc.Scan() {
		if sc.Text() == line {
			return true
		}
	}
	return false
}

func scanPrefix(sc *bufio.Scanner, prefix string) (string, bool) {
	for sc.Scan() {
		if l := sc.Text(); len(l) >= len(prefix) && l[:len(prefix)] == prefix {
			return l[len(prefix):], true
		}
	}
	return "", false
}

// TestFirstKeysOnce: processes starting at once on an empty database make
// one key set.
func TestFirstKeysOnce(t *testing.T) {
	_, path := newDB(t)
	opts := baseOptions(newClock())
	const n = 4
	ms := make([]*keys.Manager, n)
	var wg sync.WaitGroup
	for i := range n {
		db := openDB(t, path)
		wg.Go(func() { ms[i] = newManager(t, db, opts) })
	}
	wg.Wait()
	ks := listKeys(t, openDB(t, path))
	if len(ks[storage.KeyActive]) != 1 || len(ks[storage.KeyNext]) != 1 || len(ks[storage.KeyRetired]) != 0 {
		t.Fatalf("%d active, %d next, %d retired; want 1, 1, 0", len(ks[storage.KeyActive]), len(ks[storage.KeyNext]), len(ks[storage.KeyRetired]))
	}
	for i, m := range ms {
		if kid, _, _ := m.Active(); kid != ks[storage.KeyActive][0].ID {
			t.Errorf("manager %d signs with %s, want %s", i, kid, ks[storage.KeyActive][0].ID)
		}
	}
}

// TestRepairs: a set missing its next or active key (edited by hand) is
// completed by NewManager and by Run.
func TestRepairs(t *testing.T) {
	ctx := context.Background()
	db, _ := newDB(t)
	clk := newClock()
	opts := baseOptions(clk)
	kids := plantKeys(t, db, opts.EncryptionKey, plant{"ed25519.pem", keys.EdDSA, storage.KeyNext})
	m := newManager(t, db, opts)
	if kid, _, _ := m.Active(); kid != kids[0] {
		t.Errorf("with only a next key, Active() = %s, want it promoted (%s)", kid, kids[0])
	}
	ks := listKeys(t, db)
	if len(ks[storage.KeyNext]) != 1 || len(ks[storage.KeyActive]) != 1 {
		t.Errorf("after repair: %d active, %d next", len(ks[storage.KeyActive]), len(ks[storage.KeyNext]))
	}
	// Delete the next key behind the manager's back; Run puts one back.
	edit(t, db, func(cur []storage.Key) []storage.Key {
		var out []storage.Key
		for _, k := range cur {
			if k.State != storage.KeyNext {
				out = append(out, k)
			}
		}
		return out
	})
	clk.Advance(opts.ReloadInterval)
	m.Tick(ctx)
	if n := len(listKeys(t, db)[storage.KeyNext]); n != 1 {
		t.Errorf("after Run with no next key: %d next keys, want 1", n)
	}
}

// TestRunPicksUpChanges: a real Run loop sees a rotation made through
// another handle within ReloadInterval.
func TestRunPicksUpChanges(t *testing.T) {
	db, path := newDB(t)
	opts := baseOptions(newClock())
	opts.ReloadInterval = 20 * time.Millisecond
	m := newManager(t, db, opts)
	cli := newManager(t, openDB(t, path), opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	res, err := cli.Rotate(context.Background(), keys.EdDSA)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if kid, _, _ := m.Active(); kid == res.Promoted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Run did not pick up the rotation")
		}
		time.Sleep(5 * time.Millisecond)
	}
	tok, err := m.Sign(keys.TypeAccessToken, newAccessClaims(t0, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if err := cli.Verify(tok, wantAccess(t0), nil); err != nil {
		t.Errorf("CLI cannot verify the server's token: %v", err)
	}
}

func TestOptions(t *testing.T) {
	db, _ := newDB(t)
	for _, tc := range []struct {
		name string
		mod  func(*keys.Options)
	}{
		{"RSA 1024", func(o *keys.Options) { o.RSABits = 1024 }},
		{"RSA 2000", func(o *keys.Options) { o.RSABits = 2000 }},
		{"RSA 8192", func(o *keys.Options) { o.RSABits = 8192 }},
		{"HS256", func(o *keys.Options) { o.Algorithm = "HS256" }},
		{"no MaxTokenTTL", func(o *keys.Options) { o.MaxTokenTTL = 0 }},
		{"negative skew", func(o *keys.Options) { o.Skew = -time.Second }},
		{"negative rotation", func(o *keys.Options) { o.RotateEvery = -time.Second }},
		{"encryption key of 16 bytes", func(o *keys.Options) { o.EncryptionKey = make([]byte, 16) }},
	} {
		opts := baseOptions(newClock())
		tc.mod(&opts)
		if _, err := keys.NewManager(context.Background(), db, opts); err == nil {
			t.Errorf("%s: NewManager succeeded", tc.name)
		}
	}
	m := newManager(t, db, baseOptions(newClock()))
	if _, err := m.Rotate(context.Background(), "HS256"); err == nil {
		t.Errorf("Rotate(HS256) succeeded")
	}
}
