package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/config"
	"github.com/authd/authd/keys"
	"github.com/authd/authd/password"
	"github.com/authd/authd/server"
	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/sqlite"
	"github.com/authd/authd/users"
)

func ms(n ...int) []time.Duration {
	d := make([]time.Duration, len(n))
	for i, v := range n {
		d[i] = time.Duration(v) * time.Millisecond
	}
	return d
}

func TestPercentile(t *testing.T) {
	oneToHundred := make([]int, 100)
	for i := range oneToHundred {
		oneToHundred[i] = i + 1
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"single value", ms(7), 50, 7 * time.Millisecond},
		{"single value p99", ms(7), 99, 7 * time.Millisecond},
		{"median of ten is the fifth", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 50, 5 * time.Millisecond},
		{"p90 of ten is the ninth", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 90, 9 * time.Millisecond},
		{"p99 of ten is the largest", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 99, 10 * time.Millisecond},
		{"p100 is the max", ms(1, 2, 3), 100, 3 * time.Millisecond},
		{"p0 is the min", ms(1, 2, 3), 0, 1 * time.Millisecond},
		{"median of four rounds up the rank", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p99 of 1..100", ms(oneToHundred...), 99, 99 * time.Millisecond},
		{"p50 of 1..100", ms(oneToHundred...), 50, 50 * time.Millisecond},
		{"p99.9 of 1..100", ms(oneToHundred...), 99.9, 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("percentile(%v, %v) = %v, want %v", tt.sorted, tt.p, got, tt.want)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	got := summarize(ms(9, 1, 5, 3, 7, 2, 8, 4, 10, 6))
	want := latencyStats{N: 10, P50: 5 * time.Millisecond, P90: 9 * time.Millisecond, P99: 10 * time.Millisecond, Max: 10 * time.Millisecond}
	if got != want {
		t.Errorf("summarize = %+v, want %+v", got, want)
	}
	if got := summarize(nil); got != (latencyStats{}) {
		t.Errorf("summarize(nil) = %+v, want zero", got)
	}
}

func TestParseStat(t *testing.T) {
	tests := []struct {
		name         string
		in           string
		utime, stime uint64
		wantErr      bool
	}{
		{"plain", "1234 (authd) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 8 0 100 0\n", 250, 75, false},
		{"name with spaces and parens", "42 (a (b) c) R 1 42 42 0 -1 0 0 0 0 0 11 22 0 0 20 0 1 0 5 0\n", 11, 22, false},
		{"truncated", "42 (x) R 1 2 3\n", 0, 0, true},
		{"no name", "42 x R 1 2 3 4 5 6 7 8 9 10 11 12 13\n", 0, 0, true},
		{"not a number", "42 (x) R 1 42 42 0 -1 0 0 0 0 0 u 22 0 0\n", 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, s, err := parseStat([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseStat error = %v, want error %v", err, tt.wantErr)
			}
			if u != tt.utime || s != tt.stime {
				t.Errorf("parseStat = %d, %d, want %d, %d", u, s, tt.utime, tt.stime)
			}
		})
	}
}

func TestProcCPUOfSelf(t *testing.T) {
	tick := clockTick()
	if tick <= 0 || tick > time.Second {
		t.Fatalf("clockTick() = %v, want a tick between 0 and 1s", tick)
	}
	before, err := procCPU(os.Getpid(), tick)
	if err != nil {
		t.Fatal(err)
	}
	// Burn CPU until the clock moves by at least one tick.
	deadline := time.Now().Add(5 * time.Second)
	var after time.Duration
	x := 0
	for time.Now().Before(deadline) {
		for i := range 1_000_000 {
			x += i
		}
		if after, err = procCPU(os.Getpid(), tick); err != nil {
			t.Fatal(err)
		}
		if after > before {
			break
		}
	}
	if after <= before {
		t.Errorf("CPU time went from %v to %v after busy work (x=%d), want it to grow", before, after, x)
	}
	busy, err := machineBusy(tick)
	if err != nil {
		t.Fatal(err)
	}
	if busy < after {
		t.Errorf("machine busy time %v < this process's %v", busy, after)
	}
}

func TestParseStatus(t *testing.T) {
	in := "Name:\tauthd\nVmPeak:\t  900 kB\nVmHWM:\t  5120 kB\nVmRSS:\t  4096 kB\nThreads:\t8\n"
	got, err := parseStatus([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if want := (memStatus{VmRSS: 4096, VmHWM: 5120}); got != want {
		t.Errorf("parseStatus = %+v, want %+v", got, want)
	}
	for _, bad := range []string{"Name:\tx\n", "VmRSS:\t12 MB\nVmHWM:\t1 kB\n", "VmRSS:\tx kB\nVmHWM:\t1 kB\n"} {
		if _, err := parseStatus([]byte(bad)); err == nil {
			t.Errorf("parseStatus(%q) succeeded, want an error", bad)
		}
	}

	m, err := procMem(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if m.VmRSS <= 0 || m.VmHWM < m.VmRSS {
		t.Errorf("procMem(self) = %+v, want 0 < VmRSS <= VmHWM", m)
	}
}

func TestParseAuxvClkTck(t *testing.T) {
	pair := func(typ, val uint64) []byte {
		b := make([]byte, 16)
		binary.NativeEndian.PutUint64(b, typ)
		binary.NativeEndian.PutUint64(b[8:], val)
		return b
	}
	tests := []struct {
		name string
		in   []byte
		want uint64
	}{
		{"present", bytes.Join([][]byte{pair(6, 4096), pair(atClkTck, 100), pair(0, 0)}, nil), 100},
		{"absent", bytes.Join([][]byte{pair(6, 4096), pair(0, 0)}, nil), 0},
		{"after AT_NULL is ignored", bytes.Join([][]byte{pair(0, 0), pair(atClkTck, 100)}, nil), 0},
		{"truncated", pair(atClkTck, 100)[:12], 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseAuxvClkTck(tt.in); got != tt.want {
				t.Errorf("parseAuxvClkTck = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestParseProcStat(t *testing.T) {
	got, err := parseProcStat([]byte("cpu  100 5 50 9000 40 3 2 1 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := uint64(100 + 5 + 50 + 3 + 2 + 1); got != want {
		t.Errorf("parseProcStat = %d, want %d", got, want)
	}
	if _, err := parseProcStat([]byte("intr 1 2 3\n")); err == nil {
		t.Error("parseProcStat without a cpu line succeeded, want an error")
	}
}

func TestJSONStringAndOutcome(t *testing.T) {
	body := []byte(`{"access_token":"a.b.c","token_type":"Bearer","refresh_token":"r1"}`)
	if got := string(jsonString(body, "refresh_token")); got != "r1" {
		t.Errorf("jsonString(refresh_token) = %q, want r1", got)
	}
	if got := jsonString(body, "id_token"); got != nil {
		t.Errorf("jsonString(id_token) = %q, want nil", got)
	}
	tests := []struct {
		status int
		body   string
		want   string
	}{
		{200, `{}`, "200"},
		{400, `{"error":"invalid_grant","error_description":"x"}`, "400 invalid_grant"},
		{503, `{"error":"temporarily_unavailable"}`, "503 temporarily_unavailable"},
		{429, `plain text`, "429"},
	}
	for _, tt := range tests {
		if got := outcomeOf(tt.status, []byte(tt.body), nil); got != tt.want {
			t.Errorf("outcomeOf(%d, %s) = %q, want %q", tt.status, tt.body, got, tt.want)
		}
	}
	if got := outcomeOf(0, nil, &net.OpError{Op: "dial", Err: os.ErrNotExist}); got != "error: dial" {
		t.Errorf("outcomeOf(dial error) = %q, want %q", got, "error: dial")
	}
}

func TestMixedCycle(t *testing.T) {
	c := mixedCycle()
	count := map[int]int{}
	for _, k := range c {
		count[k]++
	}
	if count[0] != 1 || count[1] != 20 || count[2] != 50 {
		t.Errorf("mixed cycle has %d logins, %d refreshes, %d userinfo calls; want 1, 20, 50", count[0], count[1], count[2])
	}
	// The refreshes are spread out: never two in a row.
	for i := 1; i < len(c); i++ {
		if c[i] == 1 && c[i-1] == 1 {
			t.Errorf("refreshes at %d and %d in a row", i-1, i)
		}
	}
}

func TestJOSERoundTrip(t *testing.T) {
	algs := []string{keys.EdDSA}
	if !testing.Short() {
		algs = append(algs, keys.RS256)
	}
	now := time.Now()
	for _, alg := range algs {
		t.Run(alg, func(t *testing.T) {
			j, err := newJOSE(alg, 2048)
			if err != nil {
				t.Fatal(err)
			}
			claims := accessClaims{Claims: keys.Claims{Issuer: "http://iss", Subject: "u1", Expiry: keys.NewNumericDate(now.Add(time.Minute))}, ClientID: "c"}
			tok, err := j.sign(j.hdrAT, claims)
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := headerAlg(tok); got != alg {
				t.Errorf("header alg = %q, want %q", got, alg)
			}
			var got accessClaims
			if err := j.verify(tok, "http://iss", now, &got); err != nil {
				t.Fatalf("verify: %v", err)
			}
			if got.Subject != "u1" || got.ClientID != "c" {
				t.Errorf("verified claims = %+v, want sub u1, client_id c", got)
			}
			if err := j.verify(tok, "http://other", now, &got); err == nil {
				t.Error("verify with another issuer succeeded, want an error")
			}
			tampered := tok[:len(tok)-4] + "AAAA"
			if err := j.verify(tampered, "http://iss", now, &got); err == nil {
				t.Error("verify of a tampered signature succeeded, want an error")
			}
			if err := j.verify(tok, "http://iss", now.Add(time.Hour), &got); err == nil {
				t.Error("verify of an expired token succeeded, want an error")
			}
		})
	}
}

// startInProcess runs authd's handler in this process on a loopback port,
// with cheap argon2 parameters, and returns a target with one user.
func startInProcess(t *testing.T) *target {
	t.Helper()
	ctx := context.Background()
	params := password.Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}
	hs := httptest.NewUnstartedServer(nil)
	cfg := config.Default()
	cfg.Issuer = "http://" + hs.Listener.Addr().String()
	cfg.Database = filepath.Join(t.TempDir(), "authd.db")
	cfg.DatabaseSynchronous = "OFF"
	cfg.HTTP.TrustedProxies = []string{"127.0.0.1/32"} // the flood's X-Forwarded-For addresses
	cfg.Keys.Algorithm = keys.EdDSA
	cfg.Passwords.Argon2 = config.Argon2{MemoryKiB: params.MemoryKiB, Iterations: params.Iterations, Parallelism: params.Parallelism}
	secret := randomB64(32)
	cfg.Clients = []config.Client{
		{ID: "bench-spa", Public: true, Grants: []string{"password", "refresh_token"}, Scopes: []string{"openid", "profile", "email", "offline_access"}},
		{ID: "bench-service", Secret: secret, Grants: []string{"client_credentials"}, Scopes: []string{"api"}},
	}
	db, err := sqlite.Open(ctx, cfg.Database, sqlite.Options{Synchronous: "OFF"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	km, err := keys.NewManager(ctx, db, keys.Options{Algorithm: keys.EdDSA, MaxTokenTTL: 15 * time.Minute, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	hasher, err := password.New(password.Options{Params: params})
	if err != nil {
		t.Fatal(err)
	}
	u := cred{"bench-user-000", randomB64(18)}
	now := time.Now()
	if err := db.CreateUser(ctx, storage.User{
		ID: users.NewID(), Username: u.username, Email: "bench@example.com", PasswordHash: phcHash(u.password, params),
		FirstName: "Bench", LastName: "User", CreatedAt: now, UpdatedAt: now,
	}); err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(ctx, server.Options{Config: cfg, Store: db, Keys: km, Hasher: hasher})
	if err != nil {
		t.Fatal(err)
	}
	hs.Config.Handler = srv
	hs.Start()
	t.Cleanup(hs.Close)
	return &target{base: hs.URL, publicClient: "bench-spa", confClient: "bench-service", confSecret: secret, users: []cred{u}}
}

// TestSmoke drives every scenario and every bound briefly against an
// authd in this process: every answer must be a success.
func TestSmoke(t *testing.T) {
	ctx := context.Background()
	tgt := startInProcess(t)
	s, err := collectSamples(ctx, tgt)
	if err != nil {
		t.Fatal(err)
	}
	j, err := newJOSE(keys.EdDSA, 0)
	if err != nil {
		t.Fatal(err)
	}
	rep := &report{started: time.Now()}
	spec := func(name string, setup func(context.Context, *worker) (step, error)) loadSpec {
		return loadSpec{name: name, kinds: scenarioKinds(name), concurrency: 2, warmup: 20 * time.Millisecond, duration: 150 * time.Millisecond,
			timeout: 10 * time.Second, setup: setup, pid: os.Getpid(), tick: clockTick()}
	}
	for _, name := range []string{scPassword, scRefresh, scClientCredentials, scIntrospect, scUserinfo, scJWKS, scMixed} {
		t.Run(name, func(t *testing.T) {
			setup, err := tgt.setupFor(name)
			if err != nil {
				t.Fatal(err)
			}
			res, err := runSome(ctx, spec(name, setup))
			if err != nil {
				t.Fatal(err)
			}
			if res.All.N == 0 || res.Errors() != 0 {
				t.Errorf("%s: %d requests, outcomes %v; want some, all 200", name, res.All.N, res.Outcomes)
			}
			if res.ServerCPU < 0 || res.PeakRSSKiB <= 0 {
				t.Errorf("%s: server CPU %v, peak RSS %d KiB; want both measured", name, res.ServerCPU, res.PeakRSSKiB)
			}
			r := row{alg: keys.EdDSA, res: res}
			if !hasBareBound(name) {
				rep.rows = append(rep.rows, r)
				return
			}
			h, err := boundHandler(name, j, s)
			if err != nil {
				t.Fatal(err)
			}
			bare, err := startBare(h)
			if err != nil {
				t.Fatal(err)
			}
			defer bare.close()
			bt, err := boundTarget(bare.base, tgt, j, s)
			if err != nil {
				t.Fatal(err)
			}
			bsetup, err := bt.setupFor(name)
			if err != nil {
				t.Fatal(err)
			}
			bres, err := runSome(ctx, spec(name, bsetup))
			if err != nil {
				t.Fatal(err)
			}
			if bres.All.N == 0 || bres.Errors() != 0 {
				t.Errorf("bound of %s: %d requests, outcomes %v; want some, all 200", name, bres.All.N, bres.Outcomes)
			}
			r.bounds = []boundRef{{name: "bare", rate: bres.RPS(), perCPU: float64(bres.All.N) / max(bres.BenchCPU.Seconds(), 0.01)}}
			rep.rows = append(rep.rows, r)
		})
	}
	var out bytes.Buffer
	rep.write(&out)
	for _, want := range []string{"### Scenarios", "| refresh | EdDSA | 2 |", "| userinfo | EdDSA | 2 |", "### Mixed profile by request kind"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

// runSome runs spec, widening its window (boundedly) until some request
// completed: on a loaded machine a short window can pass without any.
func runSome(ctx context.Context, spec loadSpec) (loadResult, error) {
	for {
		res, err := runLoad(ctx, spec)
		if err != nil || res.All.N > 0 || spec.duration > 5*time.Second {
			return res, err
		}
		spec.duration *= 3
	}
}

// TestFloodSmoke runs a tiny flood against the in-process authd: every
// answer to a wrong password is invalid_grant (or a throttling 429), and
// the real user, from an address of its own, gets in.
func TestFloodSmoke(t *testing.T) {
	tgt := startInProcess(t)
	var res floodResult
	// A loaded machine (CI runs packages side by side under -race) can let
	// a short window pass without a real login: widen it, boundedly.
	for d := 400 * time.Millisecond; ; d *= 3 {
		var err error
		res, err = runFlood(context.Background(), tgt, floodSpec{
			attackers: 8, addresses: 3, realUsers: 1, duration: d, queueWait: 2 * time.Second,
			pid: os.Getpid(), real: tgt.users,
		})
		if err != nil {
			t.Fatal(err)
		}
		if res.RealOK > 0 || d > 5*time.Second {
			break
		}
	}
	if res.FloodAll.N == 0 || res.Unexpected != 0 {
		t.Errorf("flood: %d answers, %d unexpected (%+v); want some, none unexpected", res.FloodAll.N, res.Unexpected, res.Flood)
	}
	if res.RealOK == 0 {
		t.Errorf("real user: %d of %d logins succeeded (%+v), want some", res.RealOK, res.RealAll.N, res.Real)
	}
	if res.Addresses != 3 || len(res.PerUser) != 1 || res.PerUser[0].OK != res.RealOK || res.PerUser[0].N != res.RealAll.N {
		t.Errorf("flood from %d addresses, per user %+v; want 3 addresses, one user with the real users' counts", res.Addresses, res.PerUser)
	}
	if res.PeakRSSKB <= 0 {
		t.Errorf("peak RSS %d KiB, want it measured", res.PeakRSSKB)
	}
	rep := &report{started: time.Now(), floods: []floodRun{{label: "distributed (3 addresses)", cfg: "set-up", res: res}}}
	var out bytes.Buffer
	rep.write(&out)
	for _, want := range []string{"### Login flood: distributed (3 addresses)", "| bench-user-000 | ", "each real user gets in at least 4 of 5 times", "login answered within 500 ms"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

// TestParseFlags checks defaults and refusals.
func TestParseFlags(t *testing.T) {
	o, err := parseFlags(nil, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(o.scenarios, ","), strings.Join(allScenarios, ","); got != want {
		t.Errorf("default scenarios %q, want %q", got, want)
	}
	if o.duration != 10*time.Second || o.concurrency[0] != 16 || len(o.algs) != 2 || o.argon2 != password.DefaultParams() || !slices.Equal(o.floodAddresses, []int{1, 250}) {
		t.Errorf("defaults: duration %v, concurrency %v, algs %v, argon2 %+v, flood addresses %v", o.duration, o.concurrency, o.algs, o.argon2, o.floodAddresses)
	}
	o, err = parseFlags([]string{"--scenarios", "jwks,password", "--concurrency", "16,32"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(o.scenarios, ","); got != "password,jwks" {
		t.Errorf("scenarios %q, want them in run order: password,jwks", got)
	}
	// The soak runs only when named.
	o, err = parseFlags([]string{"--scenarios", "soak", "--soak-every", "5s"}, &bytes.Buffer{})
	if err != nil || strings.Join(o.scenarios, ",") != "soak" || o.soakEvery != 5*time.Second {
		t.Errorf("--scenarios soak: %v, %v", o.scenarios, err)
	}
	for _, bad := range [][]string{
		{"--scenarios", "nope"}, {"--alg", "HS256"}, {"--concurrency", "0"}, {"--url", "ftp://x"},
		{"--url", "http://127.0.0.1:1"}, {"--server-env", "AUTHD_LISTEN=x"}, {"--duration", "0s"}, {"--soak-every", "0s"},
		{"--flood-addresses", "0"}, {"--flood-addresses", ","},
	} {
		if _, err := parseFlags(bad, &bytes.Buffer{}); err == nil {
			t.Errorf("parseFlags(%q) succeeded, want an error", bad)
		}
	}
}

// TestSoakWatcher reads a live database's figures through its own
// read-only connection, and the report shows them.
func TestSoakWatcher(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "authd.db")
	db, err := sqlite.Open(ctx, path, sqlite.Options{Synchronous: "OFF"})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := db.CreateUser(ctx, storage.User{ID: "u", Username: "u", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		s := storage.Session{ID: fmt.Sprint("s", i), UserID: "u", ClientID: "c", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := db.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.EndSession(ctx, "s0", now); err != nil {
		t.Fatal(err)
	}
	w, err := newSoakWatcher(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	var s soakSample
	w.sample(ctx, &s)
	if s.err != nil || s.sessions != 3 || s.live != 2 || s.pages <= 0 || s.fileBytes <= 0 {
		t.Errorf("sample = %+v, want 3 sessions, 2 live, some pages", s)
	}
	rep := &report{soaks: []soakRun{{alg: "EdDSA", every: time.Second, res: loadResult{Concurrency: 2, Window: time.Second, Outcomes: map[string]int{}}, samples: []soakSample{s}}}}
	var out bytes.Buffer
	rep.write(&out)
	if !strings.Contains(out.String(), "### Soak") || !strings.Contains(out.String(), "| 3 | 2 |") {
		t.Errorf("report:\n%s", out.String())
	}
}
