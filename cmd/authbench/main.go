// Command authbench is authd's load benchmark. It starts authd itself (or
// drives one at --url), prepares users and clients, and drives each
// scenario over real HTTP on loopback for a bounded time at a chosen
// concurrency:
//
//	password            password grant (an argon2id verification each)
//	refresh             refresh_token grant, each worker chaining its own newest token
//	client_credentials  client_credentials grant (one signature each)
//	introspect          RFC 7662 introspection of a user's access token
//	userinfo            OIDC UserInfo with a bearer token
//	jwks                GET /.well-known/jwks.json
//	mixed               1 login : 20 refreshes : 50 userinfo calls
//	flood               1,000 concurrent wrong-password logins while real users log in,
//	                    from one address and from many (--flood-addresses)
//	soak                (only when named) refresh for --duration at the first
//	                    --concurrency, sampling the database file's size, free
//	                    pages and session rows every --soak-every
//
// It reports requests/s, latency percentiles, errors by status, and the
// server's CPU time and peak RSS (from /proc, when it started the server),
// for RS256 and EdDSA. In the same run it measures the bound each scenario
// cannot beat on this machine (argon2id hashes/s on every core; a bare
// net/http handler doing only the scenario's crypto, driven by the same
// load generator; the SQLite commit rate) and prints achieved/bound, with
// the targets of issue 7. Output is Markdown. See BENCHMARKS.md.
//
// With --database the servers it starts keep their data in PostgreSQL (a
// throwaway cluster it starts, or a server named by URL), and with
// --instances each scenario runs against several authd processes on one
// database, the requests spread round-robin over them; the PostgreSQL
// server's CPU time is then reported beside the instances'.
//
// It exits non-zero only when it cannot set up or run a scenario, never
// because a target was missed.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/authd/authd/password"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "authbench: "+strings.ReplaceAll(err.Error(), "\n", "; "))
		os.Exit(1)
	}
}

// options are authbench's flags.
type options struct {
	scenarios   []string
	algs        []string
	duration    time.Duration
	warmup      time.Duration
	concurrency []int
	timeout     time.Duration
	url         string
	out         string
	database    string // "" (SQLite), databaseStart, or a postgres:// URL
	instances   []int

	argon2      password.Params
	synchronous string
	rsaBits     int
	maxHashes   int
	queueWait   time.Duration
	logLevel    string
	users       int

	floodConns     int
	floodAddresses []int
	floodRealUsers int
	floodDuration  time.Duration

	soakEvery time.Duration

	authdBin   string
	src        string
	workdir    string
	keep       bool
	cpuProfile string
	serverEnv  []string

	// --url mode: the clients and user that exist on the target.
	publicClient string
	confClient   string
	username     string
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("authbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	scen := fs.String("scenarios", strings.Join(allScenarios, ","), "comma-separated `list` of scenarios: "+strings.Join(knownScenarios, ", ")+" (soak only when named)")
	algs := fs.String("alg", "RS256,EdDSA", "comma-separated signing `algorithms` to run the scenarios with (a server each)")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "measured `time` of each scenario and bound, after the warm-up")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "warm-up `time` before each measurement")
	conc := fs.String("concurrency", "16", "comma-separated connection `counts`; each scenario runs at each (32 is where the p99 target applies)")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "per-request `timeout` to the response headers")
	fs.StringVar(&o.url, "url", "", "drive the authd at this base `URL` instead of starting one (no CPU/RSS figures; needs --username and $AUTHBENCH_PASSWORD, $AUTHBENCH_CLIENT_SECRET)")
	fs.StringVar(&o.out, "out", "", "also write the Markdown report to `file`")
	fs.StringVar(&o.database, "database", "", "keep the started servers' data in PostgreSQL: \"start\" starts a throwaway cluster (the PostgreSQL server binaries must be installed), "+
		"a postgres:// `URL` names a server where authbench creates a database for each set of servers (the role needs CREATEDB; dropped at the end unless --keep); default: a SQLite file each")
	inst := fs.String("instances", "1", "comma-separated `counts` of authd processes on one database; each scenario runs at each, the load spread over the processes request by request")
	mem := fs.Uint("argon2-memory-kib", 19456, "argon2id memory of the server's hashes, in `KiB`")
	iters := fs.Uint("argon2-iterations", 2, "argon2id `iterations`")
	par := fs.Uint("argon2-parallelism", 1, "argon2id `lanes`")
	fs.StringVar(&o.synchronous, "synchronous", "FULL", "the server's database_synchronous `mode` (FULL, NORMAL), also used for the commit-rate bound")
	fs.IntVar(&o.rsaBits, "rsa-bits", 2048, "RSA key `size` for RS256")
	fs.IntVar(&o.maxHashes, "max-hashes", 0, "the server's passwords.max_concurrent (`number`; 0: its default, the number of CPUs)")
	fs.DurationVar(&o.queueWait, "queue-wait", 2*time.Second, "the server's passwords.queue_wait")
	fs.StringVar(&o.logLevel, "log-level", "info", "the server's log `level` (its log goes to a file in the work folder)")
	fs.IntVar(&o.users, "users", 0, "`number` of users to create (0: the largest concurrency)")
	fs.IntVar(&o.floodConns, "flood-conns", 1000, "`number` of concurrent wrong-password requests of the flood, one connection each")
	floodAddrs := fs.String("flood-addresses", "1,250", "comma-separated `counts` of client addresses the flood comes from (X-Forwarded-For through the trusted loopback proxy); a flood against a fresh server for each: 1 is a single address, more a distributed flood")
	fs.IntVar(&o.floodRealUsers, "flood-real-users", 4, "`number` of real users logging in with the right password during the flood")
	fs.DurationVar(&o.floodDuration, "flood-duration", 0, "how long the flood lasts (default: --duration)")
	fs.DurationVar(&o.soakEvery, "soak-every", 30*time.Second, "`interval` between the soak's samples of the database file")
	fs.StringVar(&o.authdBin, "authd", "", "authd `binary` to run (default: go build ./cmd/authd from --src)")
	fs.StringVar(&o.src, "src", ".", "the authd module's `folder`, to build ./cmd/authd from")
	fs.StringVar(&o.workdir, "workdir", "", "`folder` for binaries, configs, databases and logs (default: a new temporary folder, removed at the end)")
	fs.BoolVar(&o.keep, "keep", false, "keep the work folder")
	fs.StringVar(&o.cpuProfile, "server-cpuprofile", "", "have each started server write a CPU profile into this `folder` (AUTHD_CPUPROFILE), one file per server")
	fs.Func("server-env", "extra `KEY=VALUE` in the environment of started servers (repeatable), e.g. GOMEMLIMIT=100MiB or GOGC=50 to try a lever", func(v string) error {
		if k, _, ok := strings.Cut(v, "="); !ok || k == "" || strings.HasPrefix(k, "AUTHD_") {
			return errors.New("want KEY=VALUE, not an AUTHD_ variable (authbench writes the configuration)")
		}
		o.serverEnv = append(o.serverEnv, v)
		return nil
	})
	fs.StringVar(&o.publicClient, "public-client", "demo-spa", "with --url: the public client (password and refresh_token grants, scopes openid profile email offline_access)")
	fs.StringVar(&o.confClient, "confidential-client", "demo-service", "with --url: the confidential client (client_credentials, scope api); its secret in $AUTHBENCH_CLIENT_SECRET")
	fs.StringVar(&o.username, "username", "", "with --url: the user to log in as; the password in $AUTHBENCH_PASSWORD")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	for s := range strings.SplitSeq(*scen, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if !slices.Contains(knownScenarios, s) {
			return o, fmt.Errorf("--scenarios: unknown scenario %q (want %s)", s, strings.Join(knownScenarios, ", "))
		}
		if !slices.Contains(o.scenarios, s) {
			o.scenarios = append(o.scenarios, s)
		}
	}
	scenarioOrder(o.scenarios)
	for a := range strings.SplitSeq(*algs, ",") {
		switch a = strings.TrimSpace(a); a {
		case "":
		case "RS256", "EdDSA":
			if !slices.Contains(o.algs, a) {
				o.algs = append(o.algs, a)
			}
		default:
			return o, fmt.Errorf("--alg: %q is not RS256 or EdDSA", a)
		}
	}
	for c := range strings.SplitSeq(*conc, ",") {
		if c = strings.TrimSpace(c); c == "" {
			continue
		}
		n, err := strconv.Atoi(c)
		if err != nil || n < 1 || n > 10000 {
			return o, fmt.Errorf("--concurrency: %q is not a count from 1 to 10000", c)
		}
		o.concurrency = append(o.concurrency, n)
	}
	for c := range strings.SplitSeq(*floodAddrs, ",") {
		if c = strings.TrimSpace(c); c == "" {
			continue
		}
		n, err := strconv.Atoi(c)
		if err != nil || n < 1 || n > 1<<24 {
			return o, fmt.Errorf("--flood-addresses: %q is not a count from 1 to %d", c, 1<<24)
		}
		o.floodAddresses = append(o.floodAddresses, n)
	}
	switch {
	case len(o.scenarios) == 0:
		return o, errors.New("--scenarios: none given")
	case len(o.algs) == 0:
		return o, errors.New("--alg: none given")
	case len(o.concurrency) == 0:
		return o, errors.New("--concurrency: none given")
	case o.duration <= 0 || o.warmup < 0 || o.timeout <= 0:
		return o, errors.New("--duration and --timeout must be positive, --warmup not negative")
	case *mem > 1<<22 || *iters < 1 || *iters > 100 || *par < 1 || *par > 255 || *mem < 8**par:
		return o, errors.New("--argon2-*: out of range")
	case o.floodConns < 1 || o.floodRealUsers < 1:
		return o, errors.New("--flood-conns and --flood-real-users must be at least 1")
	case o.soakEvery <= 0:
		return o, errors.New("--soak-every must be positive")
	case len(o.floodAddresses) == 0:
		return o, errors.New("--flood-addresses: none given")
	}
	o.synchronous = strings.ToUpper(o.synchronous)
	if o.synchronous != "FULL" && o.synchronous != "NORMAL" && o.synchronous != "OFF" {
		return o, fmt.Errorf("--synchronous: %q is not FULL, NORMAL or OFF", o.synchronous)
	}
	o.argon2 = password.Params{MemoryKiB: uint32(*mem), Iterations: uint32(*iters), Parallelism: uint8(*par)}
	if o.floodDuration == 0 {
		o.floodDuration = o.duration
	}
	if o.users == 0 {
		o.users = slices.Max(o.concurrency)
	}
	for c := range strings.SplitSeq(*inst, ",") {
		if c = strings.TrimSpace(c); c == "" {
			continue
		}
		n, err := strconv.Atoi(c)
		if err != nil || n < 1 || n > 64 {
			return o, fmt.Errorf("--instances: %q is not a count from 1 to 64", c)
		}
		o.instances = append(o.instances, n)
	}
	switch {
	case len(o.instances) == 0:
		return o, errors.New("--instances: none given")
	case o.database != "" && o.database != databaseStart && !strings.HasPrefix(o.database, "postgres://") && !strings.HasPrefix(o.database, "postgresql://"):
		return o, fmt.Errorf("--database: %q is neither %q nor a postgres:// URL", o.database, databaseStart)
	case o.url != "" && (o.database != "" || slices.Max(o.instances) > 1):
		return o, errors.New("--database and --instances are for servers authbench starts, not with --url")
	case o.database != "" && o.needs(scSoak):
		return o, errors.New("the soak watches a SQLite file: not with --database")
	}
	if o.url != "" {
		u, err := url.Parse(o.url)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return o, fmt.Errorf("--url: %q is not an http(s) base URL", o.url)
		}
		o.url = strings.TrimSuffix(o.url, "/")
		if o.username == "" {
			return o, errors.New("--url needs --username (and $AUTHBENCH_PASSWORD)")
		}
	}
	return o, nil
}

// needs reports whether any of names was chosen.
func (o options) needs(names ...string) bool {
	for _, n := range names {
		if slices.Contains(o.scenarios, n) {
			return true
		}
	}
	return false
}

func numCPU() int { return runtime.GOMAXPROCS(0) }

// run is the whole program.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) (err error) {
	o, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	progress := func(format string, a ...any) { fmt.Fprintf(stderr, "authbench: "+format+"\n", a...) }

	work := o.workdir
	if work == "" {
		if work, err = os.MkdirTemp("", "authbench-"); err != nil {
			return err
		}
		if !o.keep {
			defer os.RemoveAll(work)
		}
	} else if err := os.MkdirAll(work, 0o700); err != nil {
		return err
	}
	work, _ = filepath.Abs(work)

	b := &bench{o: o, work: work, progress: progress, tick: clockTick(), rep: &report{started: time.Now()}}
	if o.database != "" {
		if b.pg, err = startPG(ctx, o.database, progress); err != nil {
			return err
		}
		defer func() {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			defer cancel()
			if cerr := b.pg.close(cctx, o.keep); cerr != nil && err == nil {
				err = fmt.Errorf("PostgreSQL: %w", cerr)
			}
		}()
	}
	b.header(args)

	if o.url == "" && o.authdBin == "" {
		b.bin = filepath.Join(work, "authd")
		progress("building authd from %s", o.src)
		if err := buildAuthd(ctx, o.src, b.bin); err != nil {
			return err
		}
	} else {
		b.bin = o.authdBin
	}
	if o.url != "" {
		b.confSecret = getenv("AUTHBENCH_CLIENT_SECRET")
		b.urlUser = cred{o.username, getenv("AUTHBENCH_PASSWORD")}
		if b.urlUser.password == "" {
			return errors.New("--url: $AUTHBENCH_PASSWORD is empty")
		}
	} else {
		b.confSecret = randomB64(32)
		for i := range o.users {
			b.users = append(b.users, cred{fmt.Sprintf("bench-user-%03d", i), randomB64(18)})
		}
		for i := range o.floodRealUsers {
			b.realUsers = append(b.realUsers, cred{fmt.Sprintf("bench-real-%03d", i), randomB64(18)})
		}
		for i := range 8 {
			b.victims = append(b.victims, cred{fmt.Sprintf("bench-victim-%03d", i), randomB64(18)})
		}
	}

	if err := b.runScenarios(ctx); err != nil {
		return err
	}
	if o.needs(scFlood) {
		if err := b.runFlood(ctx); err != nil {
			return err
		}
	}
	if o.needs(scSoak) {
		if err := b.runSoak(ctx); err != nil {
			return err
		}
	}

	var outs []io.Writer
	outs = append(outs, stdout)
	if o.out != "" {
		f, err := os.Create(o.out)
		if err != nil {
			return err
		}
		defer func() {
			if cerr := f.Close(); cerr != nil && err == nil {
				err = cerr
			}
		}()
		outs = append(outs, f)
	}
	b.rep.write(io.MultiWriter(outs...))
	return nil
}

// bench is one authbench run.
type bench struct {
	o        options
	work     string
	bin      string
	progress func(string, ...any)
	tick     time.Duration
	rep      *report
	pg       *pgServer // the PostgreSQL server of --database, nil for SQLite

	confSecret string
	users      []cred // the scenarios' users
	realUsers  []cred // the flood's real users
	victims    []cred // accounts the flood guesses at
	urlUser    cred
}

// header describes the run: machine, target, parameters and the command.
func (b *bench) header(args []string) {
	o := b.o
	h := &b.rep.header
	add := func(format string, a ...any) { *h = append(*h, fmt.Sprintf(format, a...)) }
	add("machine: %s, %d CPUs (GOMAXPROCS %d), %s", cpuModel(), runtime.NumCPU(), numCPU(), runtime.Version())
	if o.url != "" {
		add("target: %s (not started by authbench: no server CPU or RSS figures)", o.url)
	} else if o.authdBin != "" {
		add("target: authd binary %s, started by authbench on 127.0.0.1, database_synchronous %s, log level %s (to a file)", o.authdBin, o.synchronous, o.logLevel)
	} else {
		add("target: authd built from %s, started by authbench on 127.0.0.1, database_synchronous %s, log level %s (to a file)", gitRevision(o.src), o.synchronous, o.logLevel)
	}
	if len(o.serverEnv) > 0 {
		add("server environment: %s", strings.Join(o.serverEnv, " "))
	}
	if b.pg != nil {
		add("database: %s", b.pg.describe())
	}
	if o.url == "" && (len(o.instances) > 1 || o.instances[0] > 1) {
		add("instances: %s authd processes on one database per set of runs, sharing one configuration; authbench sends each request to the next process (round-robin, keep-alive connections to each)",
			strings.Trim(strings.Join(strings.Fields(fmt.Sprint(o.instances)), ","), "[]"))
	}
	add("argon2id m=%d KiB, t=%d, p=%d; RSA %d bits", o.argon2.MemoryKiB, o.argon2.Iterations, o.argon2.Parallelism, o.rsaBits)
	add("each run: %s warm-up, then %s measured; keep-alive connections, one request at a time each", o.warmup, o.duration)
	add("command: `authbench %s`", strings.Join(args, " "))
}

// gitRevision describes the commit of the source tree at dir, best effort:
// "commit 1a2b3c4", with "+ uncommitted changes" when the tree differs.
func gitRevision(dir string) string {
	out, err := exec.Command("git", "-C", dir, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return dir
	}
	rev := "commit " + strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "-C", dir, "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(bytes.TrimSpace(st)) > 0 {
		rev += " + uncommitted changes"
	}
	return rev
}

// cpuModel is the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	bs, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for line := range strings.Lines(string(bs)) {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

// measureOffline measures a bound that needs no server (argon2id hashes/s,
// the SQLite commit rate) with f, right before the scenario it bounds, so
// that both see the same machine; it records the row with the CPU time of
// this process and of every other one.
func (b *bench) measureOffline(what, alg string, conc int, f func() (float64, error)) (boundRef, error) {
	self0, err0 := procCPU(os.Getpid(), b.tick)
	all0, err1 := machineBusy(b.tick)
	start := time.Now()
	r, err := f()
	if err != nil {
		return boundRef{}, err
	}
	wall := time.Since(start)
	self1, err2 := procCPU(os.Getpid(), b.tick)
	all1, err3 := machineBusy(b.tick)
	row := boundRow{what: what, alg: alg, conc: conc, rate: r, unit: "/s", benchCPU: -1, otherCPU: -1}
	ref := boundRef{rate: r}
	if errors.Join(err0, err1, err2, err3) == nil {
		row.benchCPU = self1 - self0
		row.otherCPU = max(all1-all0-row.benchCPU, 0)
		if row.benchCPU > 0 {
			ref.perCPU = r * wall.Seconds() / row.benchCPU.Seconds()
		}
	}
	b.rep.bounds = append(b.rep.bounds, row)
	return ref, nil
}

// argon2Bound measures argon2id hashes/s at the configured parameters on
// every core, for as long as a scenario runs (at most 5s).
func (b *bench) argon2Bound(ctx context.Context, alg string, conc int) (boundRef, error) {
	d := min(b.o.duration, 5*time.Second)
	n := numCPU()
	b.progress("%s password @%d: bound (argon2id hashes/s on %d goroutines) for %s", alg, conc, n, d)
	return b.measureOffline(fmt.Sprintf("argon2id hashes (%d goroutines)", n), alg, conc, func() (float64, error) {
		return hashRate(ctx, b.o.argon2, n, d)
	})
}

// commitBound measures SQLite commits/s at the configured synchronous mode
// for at most 3s, on a fresh file in the work folder (the disk of the
// server's database).
func (b *bench) commitBound(ctx context.Context, alg string, conc int) (boundRef, error) {
	d := min(b.o.duration, 3*time.Second)
	b.progress("%s refresh @%d: bound (SQLite commits/s, WAL, synchronous=%s) for %s", alg, conc, b.o.synchronous, d)
	path := filepath.Join(b.work, "commit-bound.db")
	defer func() {
		for _, suffix := range []string{"", "-wal", "-shm"} {
			os.Remove(path + suffix)
		}
	}()
	return b.measureOffline(fmt.Sprintf("SQLite commits, one INSERT each (WAL, synchronous=%s)", b.o.synchronous), alg, conc, func() (float64, error) {
		return commitRate(ctx, path, b.o.synchronous, d)
	})
}

// startServer starts an authd for alg in its own folder.
func (b *bench) startServer(ctx context.Context, label, alg string, trustProxies bool) (*authdProc, error) {
	s, err := b.serverSetup(ctx, label, alg, trustProxies)
	if err != nil {
		return nil, err
	}
	b.progress("starting authd (%s, %d users)", label, len(s.users))
	return prepareAndStart(ctx, s)
}

// serverSetup is the configuration of the servers for alg, in their own
// folder, on a new PostgreSQL database with --database.
func (b *bench) serverSetup(ctx context.Context, label, alg string, trustProxies bool) (serverSetup, error) {
	users := slices.Concat(b.users, b.realUsers, b.victims)
	s := serverSetup{
		bin: b.bin, dir: filepath.Join(b.work, label), alg: alg, rsaBits: b.o.rsaBits, argon2: b.o.argon2,
		maxHashes: b.o.maxHashes, queueWait: b.o.queueWait, synchronous: b.o.synchronous, logLevel: b.o.logLevel,
		trustProxies: trustProxies, publicClient: "bench-spa", confClient: "bench-service", confSecret: b.confSecret, users: users,
		env: b.o.serverEnv,
	}
	if b.pg != nil {
		url, err := b.pg.newDatabase(ctx)
		if err != nil {
			return s, err
		}
		s.database = url
	}
	if b.o.cpuProfile != "" {
		if err := os.MkdirAll(b.o.cpuProfile, 0o755); err != nil {
			return s, err
		}
		dir, _ := filepath.Abs(b.o.cpuProfile)
		s.cpuProfile = filepath.Join(dir, "authd-"+label+".pprof")
	}
	return s, nil
}

// newTarget describes the server at base to the scenarios.
func (b *bench) newTarget(base string) *target {
	if b.o.url != "" {
		return &target{base: base, publicClient: b.o.publicClient, confClient: b.o.confClient, confSecret: b.confSecret, users: []cred{b.urlUser}}
	}
	return &target{base: base, publicClient: "bench-spa", confClient: "bench-service", confSecret: b.confSecret, users: b.users}
}

// setupWorker is a worker for one-off requests outside the timed runs.
func setupWorker() *worker {
	return &worker{client: &http.Client{Transport: newTransport(1, 30*time.Second), Timeout: 60 * time.Second}}
}

// collectSamples logs in and asks for one answer of each kind, to check
// that the server works before the clock starts and to give the bare
// handlers the shape of what they imitate.
func collectSamples(ctx context.Context, t *target) (*samples, error) {
	w := setupWorker()
	defer w.client.CloseIdleConnections()
	s := &samples{}
	fail := func(what string, err error) (*samples, error) { return nil, fmt.Errorf("sample %s: %w", what, err) }

	req := t.newRequest(http.MethodGet, "/.well-known/jwks.json", false).WithContext(ctx)
	resp, err := w.client.Do(req)
	if err != nil {
		return fail("jwks", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		return fail("jwks", fmt.Errorf("HTTP %d, %v", resp.StatusCode, err))
	}
	s.jwks = body
	s.jwksHeader = http.Header{}
	for _, k := range []string{"Content-Type", "Cache-Control", "Etag"} {
		if v := resp.Header.Values(k); len(v) > 0 {
			s.jwksHeader[k] = v
		}
	}

	ts, err := t.login(ctx, w, t.users[0])
	if err != nil {
		return fail("login", err)
	}
	if err := payloadOf(ts.AccessToken, &s.userAccess); err != nil {
		return fail("access token", err)
	}
	if err := payloadOf(ts.IDToken, &s.userID); err != nil {
		return fail("ID token", err)
	}
	s.userResp = tokenResponse{TokenType: "Bearer", ExpiresIn: int64(s.userAccess.Expiry - s.userAccess.IssuedAt), Scope: s.userAccess.Scope}
	s.issuer = s.userAccess.Issuer
	t.userAccessToken = ts.AccessToken

	getJSON := func(what string, req *http.Request, body []byte, dst any) error {
		status, rb, err := w.do(req.WithContext(ctx), body)
		if err != nil {
			return fmt.Errorf("sample %s: %w", what, err)
		}
		if status != http.StatusOK {
			return fmt.Errorf("sample %s: HTTP %d: %s", what, status, outcomeOf(status, rb, nil))
		}
		if err := json.Unmarshal(rb, dst); err != nil {
			return fmt.Errorf("sample %s: %w", what, err)
		}
		return nil
	}
	var cc tokenResponse
	ccReq := t.newRequest(http.MethodPost, "/oauth2/token", true)
	ccReq.Header.Set("Authorization", t.basicAuth())
	if err := getJSON("client_credentials", ccReq, []byte("grant_type=client_credentials&scope=api"), &cc); err != nil {
		return nil, err
	}
	if err := payloadOf(cc.AccessToken, &s.ccAccess); err != nil {
		return fail("client_credentials token", err)
	}
	s.ccResp = cc

	uiReq := t.newRequest(http.MethodGet, "/userinfo", false)
	uiReq.Header.Set("Authorization", "Bearer "+ts.AccessToken)
	if err := getJSON("userinfo", uiReq, nil, &s.userinfo); err != nil {
		return nil, err
	}
	inReq := t.newRequest(http.MethodPost, "/oauth2/introspect", true)
	inReq.Header.Set("Authorization", t.basicAuth())
	if err := getJSON("introspect", inReq, []byte("token="+url.QueryEscape(ts.AccessToken)), &s.introspect); err != nil {
		return nil, err
	}
	if !s.introspect.Active {
		return fail("introspect", errors.New("the fresh access token is inactive"))
	}
	return s, nil
}

// hasBareBound reports whether a scenario has a bare-handler bound.
func hasBareBound(name string) bool {
	switch name {
	case scRefresh, scClientCredentials, scIntrospect, scUserinfo, scJWKS:
		return true
	}
	return false
}

var boundNames = map[string]string{
	scRefresh:           "bare sign access token + new refresh token",
	scClientCredentials: "bare sign one access token",
	scIntrospect:        "bare verify (introspect)",
	scUserinfo:          "bare verify (userinfo)",
	scJWKS:              "bare JWKS bytes",
}

// runScenarios runs every chosen scenario but the flood, for each
// algorithm and concurrency, each with its bound.
func (b *bench) runScenarios(ctx context.Context) error {
	var names []string
	for _, s := range b.o.scenarios {
		if s != scFlood && s != scSoak {
			names = append(names, s)
		}
	}
	if len(names) == 0 {
		return nil
	}
	algs := b.o.algs
	if b.o.url != "" {
		algs = []string{""} // whatever the target signs with; found below
	}
	for _, alg := range algs {
		if err := b.runAlg(ctx, alg, names); err != nil {
			return err
		}
	}
	return nil
}

func (b *bench) runAlg(ctx context.Context, alg string, names []string) error {
	counts := b.o.instances
	if b.o.url != "" {
		counts = []int{1}
	}
	for _, n := range counts {
		if err := b.runInstances(ctx, alg, n, names); err != nil {
			return err
		}
	}
	return nil
}

// runInstances runs the scenarios against n instances for alg (or the
// server at --url).
func (b *bench) runInstances(ctx context.Context, alg string, n int, names []string) (err error) {
	base, pid := b.o.url, 0
	var proc *authdProc
	var fl *fleet
	if b.o.url == "" {
		label := strings.ToLower(alg)
		if len(b.o.instances) > 1 || n > 1 {
			label = fmt.Sprintf("%s-%dx", label, n)
		}
		if fl, err = b.startFleet(ctx, label, alg, n); err != nil {
			return err
		}
		defer func() {
			if serr := fl.stop(); serr != nil && err == nil && ctx.Err() == nil {
				err = fmt.Errorf("stopping authd: %w", serr)
			}
		}()
		proc = fl.first()
		base, pid = proc.base, proc.pid
	}
	t := b.newTarget(base)
	// A first round of samples checks the target answers every kind of
	// request before any load; each run below takes fresh ones.
	if _, err = collectSamples(ctx, t); err != nil {
		return b.withLog(proc, err)
	}
	var s *samples
	if alg == "" {
		if alg, err = headerAlg(t.userAccessToken); err != nil {
			return fmt.Errorf("alg of the target's tokens: %w", err)
		}
	}
	j, err := newJOSE(alg, b.o.rsaBits)
	if err != nil {
		return err
	}
	for _, conc := range b.o.concurrency {
		for _, name := range names {
			// A fresh access token for each run, so that a long run does
			// not outlive it.
			if s, err = collectSamples(ctx, t); err != nil {
				return b.withLog(proc, err)
			}
			if fl != nil {
				fl.truncateLogs()
			}
			setup, err := t.setupFor(name)
			if err != nil {
				return err
			}
			var hashes, commits boundRef
			switch name {
			case scPassword:
				if hashes, err = b.argon2Bound(ctx, alg, conc); err != nil {
					return err
				}
			case scRefresh:
				if b.pg == nil { // the SQLite commit rate
					if commits, err = b.commitBound(ctx, alg, conc); err != nil {
						return err
					}
				}
			}
			b.progress("%s %s @%d ×%d: running for %s", alg, name, conc, n, b.o.warmup+b.o.duration)
			spec := loadSpec{
				name: name, kinds: scenarioKinds(name), concurrency: conc, warmup: b.o.warmup, duration: b.o.duration,
				timeout: b.o.timeout, setup: setup, pid: pid, tick: b.tick,
			}
			if fl != nil {
				spec.others, spec.hosts = fl.others(), fl.hosts()
			}
			if b.pg != nil {
				spec.dbPID = b.pg.pid
			}
			res, err := runLoad(ctx, spec)
			if err != nil {
				return b.withLog(proc, err)
			}
			if proc == nil {
				res.OtherCPU = -1 // it would count the server at --url too
			}
			r := row{alg: alg, res: res, instances: n}
			// The mixed profile has no single bound: it mixes argon2id,
			// signing and database work.
			if name == scPassword {
				hashes.name = "argon2id"
				r.bounds = append(r.bounds, hashes)
			}
			if hasBareBound(name) {
				br, err := b.runBound(ctx, name, alg, conc, t, j, s)
				if err != nil {
					return err
				}
				ref := boundRef{name: "bare", rate: br.RPS()}
				if br.BenchCPU > 0 {
					ref.perCPU = float64(br.All.N) / br.BenchCPU.Seconds()
				}
				r.bounds = append(r.bounds, ref)
			}
			if name == scRefresh && b.pg == nil {
				// The commit rate waits on the disk: no per-CPU figure.
				r.bounds = append(r.bounds, boundRef{name: "commits", rate: commits.rate})
			}
			b.progress("%s %s @%d: %s req/s, p99 %s, %d errors", alg, name, conc, fmtInt(res.RPS()), fmtDur(res.All.P99), res.Errors())
			b.rep.rows = append(b.rep.rows, r)
		}
	}
	return nil
}

// withLog adds the tail of the server's log to a setup error.
func (b *bench) withLog(p *authdProc, err error) error {
	if p == nil {
		return err
	}
	return fmt.Errorf("%w; server log tail: %s", err, p.logTail(1500))
}

// runBound drives the bare handler of a scenario with the same load.
func (b *bench) runBound(ctx context.Context, name, alg string, conc int, real *target, j *jose, s *samples) (loadResult, error) {
	h, err := boundHandler(name, j, s)
	if err != nil {
		return loadResult{}, err
	}
	bare, err := startBare(h)
	if err != nil {
		return loadResult{}, err
	}
	defer bare.close()
	t, err := boundTarget(bare.base, real, j, s)
	if err != nil {
		return loadResult{}, err
	}
	setup, err := t.setupFor(name)
	if err != nil {
		return loadResult{}, err
	}
	b.progress("%s %s @%d: bound (%s) for %s", alg, name, conc, boundNames[name], b.o.warmup+b.o.duration)
	res, err := runLoad(ctx, loadSpec{
		name: name, kinds: scenarioKinds(name), concurrency: conc, warmup: b.o.warmup, duration: b.o.duration,
		timeout: b.o.timeout, setup: setup, pid: 0, tick: b.tick,
	})
	if err != nil {
		return loadResult{}, fmt.Errorf("bound of %s: %w", name, err)
	}
	if res.Errors() > 0 {
		return loadResult{}, fmt.Errorf("bound of %s: %s", name, fmtOutcomes(res.Outcomes))
	}
	b.rep.bounds = append(b.rep.bounds, boundRow{what: boundNames[name], alg: alg, conc: conc, rate: res.RPS(), unit: "req/s", res: &res})
	return res, nil
}

// runFlood runs the login flood, once for each count of addresses, each
// against a fresh server (so that its peak RSS is the flood's), which
// believes X-Forwarded-For from loopback so that the attackers and every
// real user have addresses of their own.
func (b *bench) runFlood(ctx context.Context) error {
	for _, n := range b.o.floodAddresses {
		if err := b.runFloodFrom(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

// runFloodFrom runs one flood from addresses addresses.
func (b *bench) runFloodFrom(ctx context.Context, addresses int) (err error) {
	alg := b.o.algs[0]
	base, pid := b.o.url, 0
	t := b.newTarget(base)
	real, victims := []cred{b.urlUser}, []cred(nil)
	if b.o.url == "" {
		proc, err := b.startServer(ctx, fmt.Sprintf("flood-%d", addresses), alg, true)
		if err != nil {
			return err
		}
		defer func() {
			if serr := proc.stop(); serr != nil && err == nil && ctx.Err() == nil {
				err = fmt.Errorf("stopping authd: %w", serr)
			}
		}()
		t.base, pid = proc.base, proc.pid
		real, victims = b.realUsers, b.victims
	}
	addresses = min(addresses, b.o.floodConns)
	b.progress("flood: %d concurrent wrong-password logins from %d addresses and %d real users for %s", b.o.floodConns, addresses, b.o.floodRealUsers, b.o.floodDuration)
	res, err := runFlood(ctx, t, floodSpec{
		attackers: b.o.floodConns, addresses: addresses, realUsers: b.o.floodRealUsers, duration: b.o.floodDuration,
		queueWait: b.o.queueWait, pid: pid, victims: victims, real: real,
	})
	if err != nil {
		return err
	}
	def := password.DefaultParams()
	params := "the default argon2id parameters"
	if b.o.argon2 != def {
		params = fmt.Sprintf("argon2id m=%d KiB, t=%d, p=%d (not the defaults)", b.o.argon2.MemoryKiB, b.o.argon2.Iterations, b.o.argon2.Parallelism)
	}
	maxHashes := "the number of CPUs"
	if b.o.maxHashes > 0 {
		maxHashes = fmt.Sprint(b.o.maxHashes)
	}
	from := "each from an X-Forwarded-For address of its own"
	label := "distributed"
	switch {
	case res.Addresses == 1:
		from = "all from one X-Forwarded-For address"
		label = "single address"
	case res.Addresses < res.Attackers:
		from = fmt.Sprintf("spread over %d X-Forwarded-For addresses", res.Addresses)
	}
	cfg := fmt.Sprintf("%d attackers, each on its own connection, %s, send password grants with wrong passwords back to back for %s "+
		"(half for %d existing accounts, half for unknown usernames), while %d real users, each of whom signed in once before the flood from its own address, "+
		"log in with the right password from that address, pausing %s between logins. "+
		"Server (%s): %s, passwords.max_concurrent %s, queue_wait %s, a fresh process.",
		res.Attackers, from, res.Duration, len(victims), res.RealUsers, realPause, alg, params, maxHashes, b.o.queueWait)
	if res.Addresses > 1 {
		label = fmt.Sprintf("%s (%d addresses)", label, res.Addresses)
	}
	b.rep.floods = append(b.rep.floods, floodRun{label: label, cfg: cfg, res: res})
	b.progress("flood from %d addresses: %d answers, real users %d/%d ok, max %s, peak RSS %s", res.Addresses, res.FloodAll.N, res.RealOK, res.RealAll.N, fmtDur(res.RealAll.Max), fmtKiB(res.PeakRSSKB))
	return nil
}
