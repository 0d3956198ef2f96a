package account_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/account"
	"github.com/authd/authd/audit"
	"github.com/authd/authd/config"
	"github.com/authd/authd/errs"
	"github.com/authd/authd/password"
	"github.com/authd/authd/storage"
	"github.com/authd/authd/throttle"
)

// floodStore holds users in memory for the login tests; the methods a
// login does not use are left to the nil embedded Storage (they panic).
type floodStore struct {
	storage.Storage
	mu    sync.Mutex
	users map[string]storage.User // by UsernameKey
}

func (m *floodStore) GetUserByUsername(_ context.Context, username string) (storage.User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	u, ok := m.users[storage.UsernameKey(username)]
	if !ok {
		return storage.User{}, storage.ErrNotFound
	}
	return u, nil
}

func (m *floodStore) UpgradePasswordHash(_ context.Context, userID, oldHash, newHash string, _ time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, u := range m.users {
		if u.ID == userID && u.PasswordHash == oldHash {
			u.PasswordHash = newHash
			m.users[k] = u
			return true, nil
		}
	}
	return false, nil
}

type floodEnv struct {
	svc    *account.Service
	limits *throttle.Limits
	hasher *password.Hasher
}

// newFloodService is an account service over users (username → password)
// with the given hasher options and throttle thresholds.
func newFloodService(t *testing.T, opts password.Options, th config.Throttle, users map[string]string) floodEnv {
	t.Helper()
	h, err := password.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	st := &floodStore{users: map[string]storage.User{}}
	for name, pw := range users {
		enc, err := h.Hash(context.Background(), pw)
		if err != nil {
			t.Fatal(err)
		}
		st.users[storage.UsernameKey(name)] = storage.User{ID: "id-" + name, Username: name, PasswordHash: enc}
	}
	limits := throttle.NewLimits(th)
	svc := account.New(account.Options{
		Store: st, Hasher: h, Limits: limits, Audit: audit.New(slog.New(slog.DiscardHandler)),
	})
	return floodEnv{svc: svc, limits: limits, hasher: h}
}

// TestKnownSourceWinsFlood: with one hashing slot and hundreds of
// concurrent wrong-password logins from distinct addresses (a quarter of
// them for two real users' usernames, the rest for unknown ones), people who
// signed in before from their address or browser still get in, every
// time, within the queue wait. Before the priority queue, the flood's
// queue was longer than the queue wait (ErrBusy: erin, whose account is
// not attacked) and the guesses at the attacked accounts locked them
// (throttled: alice and bob).
func TestKnownSourceWinsFlood(t *testing.T) {
	const (
		flooders = 400
		logins   = 5
	)
	users := map[string]string{"alice": "alice's long password", "bob": "bob's long password", "erin": "erin's long password"}
	env := newFloodService(t, password.Options{
		Params:        password.Params{MemoryKiB: 32768, Iterations: 1, Parallelism: 1},
		MaxConcurrent: 1,
		QueueWait:     500 * time.Millisecond,
	}, config.Default().Throttle, users)
	ctx := context.Background()
	const device = "bob's-device-cookie-secret"
	// Each signs in once before the flood: alice by the token endpoint
	// from her address, bob by the sign-in page from his browser.
	if _, err := env.svc.Authenticate(ctx, "alice", users["alice"], "198.51.100.1"); err != nil {
		t.Fatalf("alice's first login: %v", err)
	}
	if _, err := env.svc.AuthenticateDevice(ctx, "bob", users["bob"], "198.51.100.2", device); err != nil {
		t.Fatalf("bob's first login: %v", err)
	}
	if _, err := env.svc.Authenticate(ctx, "erin", users["erin"], "198.51.100.3"); err != nil {
		t.Fatalf("erin's first login: %v", err)
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	floodAnswers := map[string]int{}
	for i := range flooders {
		name := fmt.Sprintf("nobody-%d", i)
		if i%4 == 0 {
			name = []string{"alice", "bob"}[i/4%2]
		}
		addr := fmt.Sprintf("10.0.%d.%d", i>>8, i&255)
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, err := env.svc.Authenticate(ctx, name, "a wrong guess", addr)
				kind := "other"
				switch {
				case account.IsBadCredentials(err):
					kind = "bad credentials"
				case errs.ReasonOf(err) == errs.ReasonLoginThrottled:
					kind = "throttled"
				case errs.ReasonOf(err) == errs.ReasonBusy:
					kind = "busy"
				}
				mu.Lock()
				floodAnswers[kind]++
				mu.Unlock()
				if kind != "bad credentials" {
					time.Sleep(10 * time.Millisecond) // an instant refusal: do not spin
				}
			}
		})
	}
	// Let the flood fill the queue (until it turns some away) before the
	// real logins.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		mu.Lock()
		full := floodAnswers["busy"] > 0
		mu.Unlock()
		if full {
			break
		}
	}
	if _, w := env.hasher.Stats(); w == 0 {
		t.Log("no flood call waits for a slot: the test may not exercise the queue")
	}
	for i := range logins {
		// bob comes from another address this time: his browser is known.
		if _, err := env.svc.AuthenticateDevice(ctx, "bob", users["bob"], fmt.Sprintf("203.0.113.%d", i), device); err != nil {
			t.Errorf("bob's login %d during the flood: %v (reason %q)", i, err, errs.ReasonOf(err))
		}
		if _, err := env.svc.Authenticate(ctx, "alice", users["alice"], "198.51.100.1"); err != nil {
			t.Errorf("alice's login %d during the flood: %v (reason %q)", i, err, errs.ReasonOf(err))
		}
		if _, err := env.svc.Authenticate(ctx, "erin", users["erin"], "198.51.100.3"); err != nil {
			t.Errorf("erin's login %d during the flood: %v (reason %q)", i, err, errs.ReasonOf(err))
		}
	}
	close(stop)
	wg.Wait()
	if floodAnswers["other"] > 0 {
		t.Errorf("flood answers %v: want only bad credentials, throttled or busy", floodAnswers)
	}
	t.Logf("flood answers: %v", floodAnswers)
}

// TestKnownOnlyAfterSuccess: failed logins, for an existing user or an
// unknown one, make no source known; a success makes its address and
// device known to that account only.
func TestKnownOnlyAfterSuccess(t *testing.T) {
	users := map[string]string{"carol": "carol's long password"}
	env := newFloodService(t, password.Options{Params: password.Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}},
		config.Default().Throttle, users)
	ctx := context.Background()
	now := time.Now()
	const addr, device = "192.0.2.50", "carol's-device"
	carol, dev := throttle.AccountKey("carol"), throttle.DeviceSource(device)
	if _, err := env.svc.AuthenticateDevice(ctx, "carol", "wrong", addr, device); !account.IsBadCredentials(err) {
		t.Fatalf("wrong password: %v", err)
	}
	if _, err := env.svc.AuthenticateDevice(ctx, "nobody", "wrong", addr, device); !account.IsBadCredentials(err) {
		t.Fatalf("unknown user: %v", err)
	}
	if env.limits.Known.Len() != 0 {
		t.Errorf("%d sources known after failed logins, want none", env.limits.Known.Len())
	}
	if _, err := env.svc.AuthenticateDevice(ctx, "Carol", users["carol"], addr, device); err != nil {
		t.Fatalf("right password: %v", err)
	}
	from := throttle.AddressKey(addr)
	if !env.limits.Known.Known(carol, from, now) || !env.limits.Known.Known(carol, dev, now) {
		t.Error("after a success, its address or device is not known to the account")
	}
	if env.limits.Known.Known(throttle.AccountKey("nobody"), from, now) {
		t.Error("the address is known to another account")
	}
}

// TestKnownSourceNotLockedOut: guesses from elsewhere lock an account for
// unknown sources, not for the address its owner signed in from; a known
// source that guesses wrong is held to the usual threshold of its own.
func TestKnownSourceNotLockedOut(t *testing.T) {
	th := config.Default().Throttle
	th.AccountFailures = 3
	users := map[string]string{"dave": "dave's long password"}
	env := newFloodService(t, password.Options{Params: password.Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}}, th, users)
	ctx := context.Background()
	const home = "192.0.2.60"
	if _, err := env.svc.Authenticate(ctx, "dave", users["dave"], home); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		env.svc.Authenticate(ctx, "dave", "guess", fmt.Sprintf("10.9.9.%d", i))
	}
	if _, err := env.svc.Authenticate(ctx, "dave", users["dave"], "10.9.9.200"); errs.ReasonOf(err) != errs.ReasonLoginThrottled {
		t.Errorf("right password from an unknown address of a locked account = %v, want throttled", err)
	}
	if _, err := env.svc.Authenticate(ctx, "dave", users["dave"], home); err != nil {
		t.Errorf("right password from dave's own address = %v, want success", err)
	}
	// Three wrong guesses from the known address lock that source too.
	for range 3 {
		if _, err := env.svc.Authenticate(ctx, "dave", "guess", home); !account.IsBadCredentials(err) {
			t.Errorf("wrong guess from the known address = %v, want bad credentials", err)
		}
	}
	_, err := env.svc.Authenticate(ctx, "dave", users["dave"], home)
	if errs.ReasonOf(err) != errs.ReasonLoginThrottled {
		t.Errorf("after 3 wrong guesses from the known address: %v, want throttled", err)
	}
	var e *errs.Error
	if !errors.As(err, &e) || e.RetryAfter <= 0 {
		t.Errorf("throttled answer %v has no Retry-After", err)
	}
}

// TestRefusalsHeldUnderFlood: while more logins are in progress than the
// hashing slots finish within the queue wait, a refusal to an unknown
// source is answered no sooner than half the queue wait after the login
// began;
// a known source's refusal, and any refusal without a flood, is not held.
func TestRefusalsHeldUnderFlood(t *testing.T) {
	th := config.Default().Throttle
	th.AccountFailures = 1
	users := map[string]string{"frank": "frank's long password"}
	cheap := password.Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}
	ctx := context.Background()

	// Refusals that must not be held, with a queue wait of an hour: a
	// held one would not come back within the test's minute.
	slow := newFloodService(t, password.Options{Params: cheap, QueueWait: time.Hour}, th, users)
	if _, err := slow.svc.Authenticate(ctx, "frank", users["frank"], "192.0.2.70"); err != nil {
		t.Fatal(err)
	}
	slow.svc.Authenticate(ctx, "frank", "guess", "10.7.7.7") // locks frank for unknown sources
	notHeld := func(what string, login func() error) {
		t.Helper()
		done := make(chan error, 1)
		go func() { done <- login() }()
		select {
		case err := <-done:
			if errs.ReasonOf(err) != errs.ReasonLoginThrottled {
				t.Errorf("%s: %v, want throttled", what, err)
			}
		case <-time.After(time.Minute):
			t.Fatalf("%s: no answer within a minute: the refusal was held", what)
		}
	}
	notHeld("unknown source, no flood", func() error {
		_, err := slow.svc.Authenticate(ctx, "frank", users["frank"], "10.7.7.8")
		return err
	})
	slow.limits.Logins.Add(100_000)                            // a flood in progress
	slow.svc.Authenticate(ctx, "frank", "guess", "192.0.2.70") // locks frank's known source too
	notHeld("known source, flood", func() error {
		_, err := slow.svc.Authenticate(ctx, "frank", users["frank"], "192.0.2.70")
		return err
	})

	const wait = 200 * time.Millisecond
	quick := newFloodService(t, password.Options{Params: cheap, QueueWait: wait}, th, users)
	quick.svc.Authenticate(ctx, "frank", "guess", "10.7.7.7")
	quick.limits.Logins.Add(100_000)
	start := time.Now()
	_, err := quick.svc.Authenticate(ctx, "frank", users["frank"], "10.7.7.9")
	if errs.ReasonOf(err) != errs.ReasonLoginThrottled {
		t.Fatalf("unknown source, flood: %v, want throttled", err)
	}
	if d := time.Since(start); d < wait/2 {
		t.Errorf("unknown source, flood: refused after %s, want no sooner than half the queue wait, %s", d, wait/2)
	}
}
