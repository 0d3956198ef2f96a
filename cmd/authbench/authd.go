package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/authd/authd/password"
)

// buildAuthd builds ./cmd/authd of the module in dir into out.
func buildAuthd(ctx context.Context, dir, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/authd")
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build ./cmd/authd: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// serverSetup is how authbench configures an authd it starts.
type serverSetup struct {
	bin          string // the authd binary
	dir          string // folder of the config, database and log
	database     string // a postgres:// URL; "": a SQLite file in dir
	alg          string
	rsaBits      int
	argon2       password.Params
	maxHashes    int           // passwords.max_concurrent; 0: authd's default
	queueWait    time.Duration // passwords.queue_wait; 0: authd's default
	synchronous  string
	logLevel     string
	trustProxies bool     // believe X-Forwarded-For from loopback (the flood's addresses)
	cpuProfile   string   // AUTHD_CPUPROFILE for the server, "" for none
	env          []string // extra KEY=VALUE for the server
	publicClient string
	confClient   string
	confSecret   string
	users        []cred
}

// authdProc is an authd started by authbench.
type authdProc struct {
	cmd     *exec.Cmd
	pid     int
	base    string
	logPath string
	exited  chan struct{}
	waitErr error
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// writeConfig writes the YAML configuration of s, listening on port, and
// returns its path.
func writeConfig(s serverSetup, port int) (string, error) {
	ek := make([]byte, 32)
	_, _ = rand.Read(ek)
	q := strconv.Quote
	var b strings.Builder
	fmt.Fprintf(&b, "issuer: %s\n", q(fmt.Sprintf("http://127.0.0.1:%d", port)))
	fmt.Fprintf(&b, "listen: %s\n", q(fmt.Sprintf("127.0.0.1:%d", port)))
	if s.database != "" {
		fmt.Fprintf(&b, "database: %s\n", q(s.database))
	} else {
		fmt.Fprintf(&b, "database: %s\n", q(filepath.Join(s.dir, "authd.db")))
	}
	fmt.Fprintf(&b, "database_synchronous: %s\n", q(s.synchronous))
	fmt.Fprintf(&b, "keys:\n  algorithm: %s\n  rsa_bits: %d\n  encryption_key: %s\n", q(s.alg), s.rsaBits, q(base64.StdEncoding.EncodeToString(ek)))
	fmt.Fprintf(&b, "passwords:\n  argon2: {memory_kib: %d, iterations: %d, parallelism: %d}\n", s.argon2.MemoryKiB, s.argon2.Iterations, s.argon2.Parallelism)
	if s.maxHashes > 0 {
		fmt.Fprintf(&b, "  max_concurrent: %d\n", s.maxHashes)
	}
	if s.queueWait > 0 {
		fmt.Fprintf(&b, "  queue_wait: %s\n", s.queueWait)
	}
	fmt.Fprintf(&b, "clients:\n")
	fmt.Fprintf(&b, "  - id: %s\n    public: true\n    grants: [password, refresh_token]\n    scopes: [openid, profile, email, offline_access]\n", q(s.publicClient))
	fmt.Fprintf(&b, "  - id: %s\n    secret: %s\n    grants: [client_credentials]\n    scopes: [api]\n", q(s.confClient), q(s.confSecret))
	if s.trustProxies {
		fmt.Fprintf(&b, "http:\n  trusted_proxies: [\"127.0.0.1/32\"]\n")
	}
	fmt.Fprintf(&b, "metrics:\n  listen: \"\"\n") // on the main listener: no fixed port shared by servers
	fmt.Fprintf(&b, "log:\n  level: %s\n  format: json\n", q(s.logLevel))
	path := filepath.Join(s.dir, "authd.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return "", fmt.Errorf("writing config: %w", err)
	}
	return path, nil
}

// phcHash returns the argon2id PHC string of pw at p, as authd writes it.
func phcHash(pw string, p password.Params) string {
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	key := argon2.IDKey([]byte(pw), salt, p.Iterations, p.MemoryKiB, p.Parallelism, 32)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", p.MemoryKiB, p.Iterations, p.Parallelism, enc.EncodeToString(salt), enc.EncodeToString(key))
}

// djangoDump renders users as `manage.py dumpdata auth.user` JSON with
// argon2id hashes at p (computed on every core), for `authd users import`.
func djangoDump(users []cred, p password.Params, workers int) ([]byte, error) {
	type fields struct {
		Username   string `json:"username"`
		Email      string `json:"email"`
		Password   string `json:"password"`
		FirstName  string `json:"first_name"`
		LastName   string `json:"last_name"`
		IsActive   bool   `json:"is_active"`
		DateJoined string `json:"date_joined"`
	}
	type record struct {
		Model  string `json:"model"`
		PK     int    `json:"pk"`
		Fields fields `json:"fields"`
	}
	recs := make([]record, len(users))
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range max(workers, 1) {
		wg.Go(func() {
			for i := range jobs {
				u := users[i]
				recs[i] = record{Model: "auth.user", PK: i + 1, Fields: fields{
					Username: u.username, Email: u.username + "@example.com", Password: phcHash(u.password, p),
					FirstName: "Bench", LastName: "User", IsActive: true, DateJoined: "2024-01-02T03:04:05Z",
				}}
			}
		})
	}
	for i := range users {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return json.Marshal(recs)
}

// childEnv is the environment of authd processes: authbench's own without
// any AUTHD_* variable, which would override the generated configuration.
func childEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AUTHD_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// prepareAndStart writes the configuration, imports the users and starts
// `authd serve`, returning once it is ready.
func prepareAndStart(ctx context.Context, s serverSetup) (*authdProc, error) {
	procs, err := prepareAndStartN(ctx, s, 1)
	if err != nil {
		return nil, err
	}
	return procs[0], nil
}

// prepareAndStartN writes the configuration, imports the users and starts
// n `authd serve` processes on the one database, returning once all are
// ready. They share the configuration (the issuer and the key encryption
// key): the first listens on the configured address, the others each on
// a port of their own (AUTHD_LISTEN).
func prepareAndStartN(ctx context.Context, s serverSetup, n int) ([]*authdProc, error) {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return nil, err
	}
	var ports []int
	for len(ports) < n {
		port, err := freePort()
		if err != nil {
			return nil, fmt.Errorf("free port: %w", err)
		}
		if !slices.Contains(ports, port) {
			ports = append(ports, port)
		}
	}
	cfg, err := writeConfig(s, ports[0])
	if err != nil {
		return nil, err
	}
	if len(s.users) > 0 {
		dump, err := djangoDump(s.users, s.argon2, numCPU())
		if err != nil {
			return nil, err
		}
		file := filepath.Join(s.dir, "users.json")
		if err := os.WriteFile(file, dump, 0o600); err != nil {
			return nil, err
		}
		// Only migrate and serve create a database.
		for _, step := range []struct {
			name string
			args []string
		}{
			{"migrate", []string{"migrate", "--config", cfg}},
			{"users import", []string{"users", "import", "--format", "django", "--config", cfg, file}},
		} {
			cmd := exec.CommandContext(ctx, s.bin, step.args...)
			cmd.Env = childEnv()
			if out, err := cmd.CombinedOutput(); err != nil {
				return nil, fmt.Errorf("authd %s: %w: %s", step.name, err, strings.TrimSpace(string(out)))
			}
		}
	}
	var procs []*authdProc
	for i, port := range ports {
		extra := slices.Clone(s.env)
		logName, profile := "authd.log", s.cpuProfile
		if i > 0 {
			extra = append(extra, fmt.Sprintf("AUTHD_LISTEN=127.0.0.1:%d", port))
			logName = fmt.Sprintf("authd-%d.log", i+1)
			if profile != "" {
				profile = strings.TrimSuffix(profile, ".pprof") + fmt.Sprintf("-%d.pprof", i+1)
			}
		}
		if profile != "" {
			extra = append(extra, "AUTHD_CPUPROFILE="+profile)
		}
		p, err := startAuthd(ctx, s.bin, cfg, port, filepath.Join(s.dir, logName), extra)
		if err != nil {
			for _, q := range procs {
				q.stop()
			}
			return nil, err
		}
		procs = append(procs, p)
	}
	return procs, nil
}

// startAuthd starts `authd serve` with the configuration file cfg,
// listening on port, its output going to logPath, and waits until it is
// ready.
func startAuthd(ctx context.Context, bin, cfg string, port int, logPath string, extra []string) (*authdProc, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child holds its own descriptor
	cmd := exec.Command(bin, "serve", "--config", cfg)
	cmd.Env = childEnv(extra...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting authd: %w", err)
	}
	p := &authdProc{cmd: cmd, pid: cmd.Process.Pid, base: fmt.Sprintf("http://127.0.0.1:%d", port), logPath: logPath, exited: make(chan struct{})}
	go func() { p.waitErr = cmd.Wait(); close(p.exited) }()
	if err := p.waitReady(ctx, 60*time.Second); err != nil {
		p.stop()
		return nil, fmt.Errorf("%w; log tail: %s", err, p.logTail(2000))
	}
	return p, nil
}

// waitReady polls /readyz until it answers 200.
func (p *authdProc) waitReady(ctx context.Context, limit time.Duration) error {
	client := &http.Client{Timeout: 2 * time.Second, Transport: newTransport(1, 2*time.Second)}
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case <-p.exited:
			return fmt.Errorf("authd exited at start-up: %v", p.waitErr)
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if resp, err := client.Get(p.base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("authd not ready after %s", limit)
}

// truncateLog empties the server's log between runs (the server appends).
func (p *authdProc) truncateLog() { _ = os.Truncate(p.logPath, 0) }

// logTail returns the last n bytes of the server's log.
func (p *authdProc) logTail(n int64) string {
	f, err := os.Open(p.logPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > n {
		_, _ = f.Seek(-n, io.SeekEnd)
	}
	b, _ := io.ReadAll(f)
	return strings.TrimSpace(string(b))
}

// stop sends SIGTERM and waits for a graceful exit (SIGKILL after 30s).
func (p *authdProc) stop() error {
	select {
	case <-p.exited:
		return p.waitErr
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
		return errors.New("authd did not stop within 30s of SIGTERM; killed")
	}
	return p.waitErr
}
