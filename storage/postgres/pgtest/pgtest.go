// Package pgtest starts throwaway PostgreSQL servers for tests.
//
// A Cluster is a private server: initdb into a new temporary folder, then
// the postgres binary run as a child process on 127.0.0.1 with a free port
// and its Unix socket in that folder, tuned for speed over durability
// (fsync off). Each test gets its own database, created from template0,
// which costs a few tens of milliseconds; one cluster serves a whole
// package run.
//
// The binaries are looked up on PATH and in Debian's
// /usr/lib/postgresql/*/bin (the newest version first). When they are
// missing, Start fails with an error wrapping ErrNoPostgres and the tests
// skip, saying how to install them. PostgreSQL refuses to run as root: a
// test run as root runs initdb and the server as the postgres system user
// that the Debian package creates, which must then exist.
//
// A package uses it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
//
// and each test asks for a database with pgtest.NewDatabase(t), which
// returns its URL (and skips the test when there is no PostgreSQL).
package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNoPostgres means the PostgreSQL server binaries are not installed.
var ErrNoPostgres = errors.New("PostgreSQL server binaries (initdb, postgres) not found on PATH nor in /usr/lib/postgresql/*/bin; install them with: apt-get install postgresql")

// superuser is the role initdb creates; it logs in without a password
// (trust), over TCP on 127.0.0.1 and the private socket only.
const superuser = "authd"

// Cluster is a running throwaway PostgreSQL server.
type Cluster struct {
	dir  string // data folder and socket folder
	port int
	cmd  *exec.Cmd
	done chan struct{} // closed when the server process has exited
	out  *lockedWriter // the server's output, for errors

	mu    sync.Mutex
	admin *pgx.Conn // to the postgres database, for CREATE DATABASE
	seq   atomic.Int64
}

// findBin returns the folder holding initdb and postgres.
func findBin() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		dir := filepath.Dir(p)
		if _, err := os.Stat(filepath.Join(dir, "postgres")); err == nil {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	// Newest major version first: 9.6 < 10 < 15 compares as numbers.
	version := func(d string) float64 {
		v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(d)), 64)
		return v
	}
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		_, err1 := os.Stat(filepath.Join(d, "initdb"))
		_, err2 := os.Stat(filepath.Join(d, "postgres"))
		if err1 == nil && err2 == nil {
			return d, nil
		}
	}
	return "", ErrNoPostgres
}

// runAs is who the server runs as: nil for the current user, the postgres
// system user when the current user is root.
type runAs struct{ uid, gid uint32 }

func serverUser() (*runAs, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, and PostgreSQL refuses to run as root: need the postgres system user (apt-get install postgresql creates it): %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("user postgres: uid %q, gid %q", u.Uid, u.Gid)
	}
	return &runAs{uint32(uid), uint32(gid)}, nil
}

// freePort asks the kernel for a free TCP port on 127.0.0.1. Another
// process may take it before the server binds it; Start then fails.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Start initialises and starts a cluster in a new temporary folder. Stop
// it with Stop, which removes the folder.
func Start(ctx context.Context) (*Cluster, error) {
	bin, err := findBin()
	if err != nil {
		return nil, err
	}
	as, err := serverUser()
	if err != nil {
		return nil, err
	}
	// The socket path must fit in 107 bytes: a short folder under /tmp.
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, err
	}
	if as != nil {
		if err := os.Chown(dir, int(as.uid), int(as.gid)); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"),
		"-D", data, "-U", superuser, "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
	initdb.Env = append(os.Environ(), "LC_ALL=C")
	setProcAttr(initdb, as)
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	port, err := freePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	c := &Cluster{dir: dir, port: port, done: make(chan struct{}), out: new(lockedWriter)}
	c.cmd = exec.Command(filepath.Join(bin, "postgres"), "-D", data,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "port="+strconv.Itoa(port),
		"-c", "unix_socket_directories="+dir,
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "max_connections=300",
		"-c", "shared_buffers=32MB",
		"-c", "log_min_messages=warning",
	)
	c.cmd.Env = append(os.Environ(), "LC_ALL=C")
	c.cmd.Stdout, c.cmd.Stderr = c.out, c.out
	setProcAttr(c.cmd, as)
	if err := c.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("postgres: %w", err)
	}
	go func() {
		c.cmd.Wait()
		close(c.done)
	}()
	if err := c.connect(ctx); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// lockedWriter is the server's output, written by the process's pipes and
// read for error messages.
type lockedWriter struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// connect waits for the server to accept connections and opens the admin
// connection.
func (c *Cluster) connect(ctx context.Context) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		conn, err := pgx.Connect(ctx, c.URL("postgres"))
		if err == nil {
			c.admin = conn
			return nil
		}
		select {
		case <-c.done:
			return fmt.Errorf("postgres exited at start-up: %v\n%s", err, c.out.String())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres did not accept connections within a minute: %v\n%s", err, c.out.String())
		}
	}
}

// URL is the connection URL of database db on the cluster, over TCP.
func (c *Cluster) URL(db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(superuser),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// CreateDatabase creates a new, empty database with a fresh name and
// returns its URL.
func (c *Cluster) CreateDatabase(ctx context.Context) (string, error) {
	name := fmt.Sprintf("t%d_%d", os.Getpid(), c.seq.Add(1))
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.admin == nil {
		return "", errors.New("pgtest: cluster stopped")
	}
	if _, err := c.admin.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE template0 ENCODING 'UTF8'"); err != nil {
		return "", fmt.Errorf("pgtest: create database: %w", err)
	}
	return c.URL(name), nil
}

// Exec runs a statement on the cluster's postgres database as the
// superuser (to drop a database, terminate connections…).
func (c *Cluster) Exec(ctx context.Context, sql string, args ...any) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.admin == nil {
		return errors.New("pgtest: cluster stopped")
	}
	_, err := c.admin.Exec(ctx, sql, args...)
	return err
}

// Stop stops the server at once (the data is thrown away) and removes its
// folder.
func (c *Cluster) Stop() error {
	c.mu.Lock()
	if c.admin != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c.admin.Close(ctx)
		cancel()
		c.admin = nil
	}
	c.mu.Unlock()
	if c.cmd.Process != nil {
		// SIGQUIT is PostgreSQL's immediate shutdown.
		_ = signalQuit(c.cmd.Process)
		select {
		case <-c.done:
		case <-time.After(10 * time.Second):
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	}
	return os.RemoveAll(c.dir)
}

// The package's shared cluster, started by Main.
var (
	shared    *Cluster
	sharedErr error
)

// Main starts the package's cluster, runs the tests and stops it. It
// returns the exit code for os.Exit. When the cluster cannot start, the
// tests still run and NewDatabase skips them with the reason.
func Main(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	shared, sharedErr = Start(ctx)
	cancel()
	if sharedErr != nil && !errors.Is(sharedErr, ErrNoPostgres) {
		fmt.Fprintf(os.Stderr, "pgtest: %v\n", sharedErr)
	}
	code := m.Run()
	if shared != nil {
		if err := shared.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: stop: %v\n", err)
		}
	}
	return code
}

// Shared returns the cluster Main started, skipping t when there is none.
func Shared(t testing.TB) *Cluster {
	t.Helper()
	if shared == nil {
		if sharedErr == nil {
			t.Fatal("pgtest: no cluster: call pgtest.Main from TestMain")
		}
		t.Skipf("no PostgreSQL: %v", sharedErr)
	}
	return shared
}

// NewDatabase creates an empty database on the cluster Main started and
// returns its URL; it skips t when there is no PostgreSQL.
func NewDatabase(t testing.TB) string {
	t.Helper()
	u, err := Shared(t).CreateDatabase(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// StartForTest starts a cluster of t's own, stopped when t ends, for a
// package without pgtest.Main; it skips t when there is no PostgreSQL.
func StartForTest(t testing.TB) *Cluster {
	t.Helper()
	c, err := Start(context.Background())
	if errors.Is(err, ErrNoPostgres) {
		t.Skipf("no PostgreSQL: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("pgtest: stop: %v", err)
		}
	})
	return c
}

// Log is what the server printed so far.
func (c *Cluster) Log() string { return strings.TrimSpace(c.out.String()) }
