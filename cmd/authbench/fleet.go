package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/authd/authd/storage/postgres/pgtest"
)

// Several instances on one database: with --database the servers authbench
// starts keep their data in PostgreSQL (a database of their own on the
// server, created for each set of servers), and with --instances each
// scenario runs against N `authd serve` processes on that one database,
// the load spread over them request by request. The CPU time of the
// PostgreSQL server's processes is measured beside the instances', so
// that the share of the work the database does is known.

// pgServer is the PostgreSQL server of a run.
type pgServer struct {
	cluster *pgtest.Cluster // started by authbench; nil for a given URL
	admin   string          // URL to create the databases through
	version string
	// pid is the postmaster, whose children are the server's processes;
	// 0 when it cannot be found (a server on another machine).
	pid     int
	seq     int
	created []string // databases created on a given server, to drop
}

// databaseStart is the --database value that starts a throwaway cluster.
const databaseStart = "start"

// startPG reaches the server of --database: a throwaway cluster for
// "start", else the server of the URL.
func startPG(ctx context.Context, spec string, progress func(string, ...any)) (*pgServer, error) {
	s := &pgServer{admin: spec}
	if spec == databaseStart {
		progress("starting a throwaway PostgreSQL cluster")
		c, err := pgtest.Start(ctx)
		if err != nil {
			return nil, fmt.Errorf("--database start: %w", err)
		}
		s.cluster, s.admin = c, c.URL("postgres")
	}
	conn, err := pgx.Connect(ctx, s.admin)
	if err != nil {
		s.close(ctx, false)
		return nil, fmt.Errorf("--database: %w", err)
	}
	defer conn.Close(ctx)
	var backend int
	if err := conn.QueryRow(ctx, `SELECT pg_backend_pid(), current_setting('server_version')`).Scan(&backend, &s.version); err != nil {
		s.close(ctx, false)
		return nil, fmt.Errorf("--database: %w", err)
	}
	// The backend serving this connection is a child of the postmaster;
	// on another machine the pid names nothing (or another process).
	if st, err := readStat(backend); err == nil && st.comm == "postgres" {
		if parent, err := readStat(st.ppid); err == nil && parent.comm == "postgres" {
			s.pid = st.ppid
		}
	}
	return s, nil
}

// describe is the server for the report's header.
func (s *pgServer) describe() string {
	where := "at " + redactURL(s.admin)
	if s.cluster != nil {
		where = "a throwaway cluster started by authbench on 127.0.0.1 (fsync, synchronous_commit and full_page_writes off, shared_buffers 32MB: CPU and protocol, not a disk)"
	}
	cpu := "its processes' CPU time measured from /proc"
	if s.pid == 0 {
		cpu = "not on this machine (or not found): no database CPU figures"
	}
	return fmt.Sprintf("PostgreSQL %s, %s; a new database for each set of servers; %s", s.version, where, cpu)
}

// redactURL drops the password of a URL.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(a database URL)"
	}
	return u.Redacted()
}

// newDatabase creates an empty database and returns its URL.
func (s *pgServer) newDatabase(ctx context.Context) (string, error) {
	if s.cluster != nil {
		return s.cluster.CreateDatabase(ctx)
	}
	s.seq++
	name := fmt.Sprintf("authbench_%d_%d", os.Getpid(), s.seq)
	conn, err := pgx.Connect(ctx, s.admin)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("create database %s (the role needs CREATEDB): %w", name, err)
	}
	s.created = append(s.created, name)
	u, err := url.Parse(s.admin)
	if err != nil {
		return "", err
	}
	u.Path = "/" + name
	return u.String(), nil
}

// close drops the databases created on a given server (unless keep) and
// stops a throwaway cluster.
func (s *pgServer) close(ctx context.Context, keep bool) error {
	var errs []error
	if len(s.created) > 0 && !keep {
		if conn, err := pgx.Connect(ctx, s.admin); err != nil {
			errs = append(errs, err)
		} else {
			for _, name := range s.created {
				if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
					errs = append(errs, err)
				}
			}
			conn.Close(ctx)
		}
	}
	if s.cluster != nil {
		errs = append(errs, s.cluster.Stop())
	}
	return errors.Join(errs...)
}

// procStat is what authbench reads of /proc/<pid>/stat.
type procStat struct {
	comm           string
	ppid           int
	utime, stime   uint64 // the process's own, in clock ticks
	cutime, cstime uint64 // of its children it has waited for
}

func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	return parseStatFull(b)
}

// parseStatFull parses /proc/<pid>/stat (proc(5)): the command name in
// parentheses (field 2), the parent (4), utime, stime, cutime and cstime
// (14–17).
func parseStatFull(b []byte) (procStat, error) {
	i, j := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if i < 0 || j < i {
		return procStat{}, errors.New("stat: no command name in parentheses")
	}
	st := procStat{comm: string(b[i+1 : j])}
	f := bytes.Fields(b[j+1:])
	if len(f) < 15 {
		return procStat{}, fmt.Errorf("stat: %d fields after the command name, want at least 15", len(f))
	}
	ppid, err := strconv.Atoi(string(f[1]))
	if err != nil {
		return procStat{}, fmt.Errorf("stat: ppid: %w", err)
	}
	st.ppid = ppid
	for k, dst := range []*uint64{&st.utime, &st.stime, &st.cutime, &st.cstime} {
		if *dst, err = strconv.ParseUint(string(f[11+k]), 10, 64); err != nil {
			return procStat{}, fmt.Errorf("stat: field %d: %w", 14+k, err)
		}
	}
	return st, nil
}

// treeCPU is the CPU time of a PostgreSQL server: the postmaster's own,
// that of the children it has reaped (backends that ended), and that of
// its live children (backends, the checkpointer, the WAL writer…). Taken
// at both ends of a window, the difference counts every process that ran
// in it, those that ended in it included.
func treeCPU(pid int, tick time.Duration) (time.Duration, error) {
	root, err := readStat(pid)
	if err != nil {
		return 0, fmt.Errorf("database cpu time: %w", err)
	}
	ticks := root.utime + root.stime + root.cutime + root.cstime
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return 0, fmt.Errorf("database cpu time: %w", err)
	}
	for _, d := range dirs {
		child, err := strconv.Atoi(d.Name())
		if err != nil || child == pid {
			continue
		}
		st, err := readStat(child)
		if err != nil || st.ppid != pid {
			continue // gone meanwhile, or not the server's
		}
		ticks += st.utime + st.stime
	}
	return time.Duration(ticks) * tick, nil
}

// roundRobin sends each request to the next of hosts (host:port), as a
// load balancer in front of the instances would: the templates of the
// scenarios name the first instance, and the host is swapped per request.
type roundRobin struct {
	hosts []string
	next  atomic.Uint64
	rt    http.RoundTripper
}

func (r *roundRobin) RoundTrip(req *http.Request) (*http.Response, error) {
	h := r.hosts[(r.next.Add(1)-1)%uint64(len(r.hosts))]
	out := *req
	u := *req.URL
	u.Host = h
	out.URL, out.Host = &u, ""
	return r.rt.RoundTrip(&out)
}

// fleet is the authd processes of one set of runs, on one database.
type fleet struct {
	procs []*authdProc
}

func (f *fleet) first() *authdProc { return f.procs[0] }

// others are the pids of every instance but the first.
func (f *fleet) others() []int {
	var pids []int
	for _, p := range f.procs[1:] {
		pids = append(pids, p.pid)
	}
	return pids
}

// hosts are the instances' host:port, for roundRobin; nil for one.
func (f *fleet) hosts() []string {
	if len(f.procs) < 2 {
		return nil
	}
	var hs []string
	for _, p := range f.procs {
		hs = append(hs, strings.TrimPrefix(p.base, "http://"))
	}
	return hs
}

func (f *fleet) truncateLogs() {
	for _, p := range f.procs {
		p.truncateLog()
	}
}

func (f *fleet) stop() error {
	var errs []error
	for _, p := range f.procs {
		errs = append(errs, p.stop())
	}
	return errors.Join(errs...)
}

// startFleet starts n instances for alg on one database: a new PostgreSQL
// database with --database, else one SQLite file.
func (b *bench) startFleet(ctx context.Context, label, alg string, n int) (*fleet, error) {
	s, err := b.serverSetup(ctx, label, alg, true)
	if err != nil {
		return nil, err
	}
	b.progress("starting %d authd (%s, %d users)", n, label, len(s.users))
	procs, err := prepareAndStartN(ctx, s, n)
	if err != nil {
		return nil, err
	}
	return &fleet{procs: procs}, nil
}

// writeScaling renders the runs' CPU split between the instances and the
// database, for runs with several instances or a database server.
func (rep *report) writeScaling(w io.Writer) {
	var rows []row
	for _, r := range rep.rows {
		if r.instances > 1 || r.res.DBCPU >= 0 {
			rows = append(rows, r)
		}
	}
	if len(rows) == 0 {
		return
	}
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("### Instances and database\n\n")
	p("CPU per request: the CPU time of the authd instances together, of the PostgreSQL server's processes, and of authbench, " +
		"in the window, divided by the requests answered in it. database share: the database's part of the instances' and the database's CPU time. " +
		"On a machine shared by all of them the request rate is what the cores allow; the CPU per request is what to scale from.\n\n")
	p("| scenario | alg | instances | conns | req/s | p50 | p99 | errors | authd CPU/req | database CPU/req | database share | authbench CPU/req | other CPU s |\n")
	p("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	perReq := func(d time.Duration, n int) string {
		if d < 0 || n == 0 {
			return "—"
		}
		return fmt.Sprintf("%.0f µs", float64(d.Microseconds())/float64(n))
	}
	for _, r := range rows {
		res := r.res
		share := "—"
		if res.DBCPU >= 0 && res.ServerCPU >= 0 && res.DBCPU+res.ServerCPU > 0 {
			share = fmt.Sprintf("%.0f%%", 100*res.DBCPU.Seconds()/(res.DBCPU+res.ServerCPU).Seconds())
		}
		p("| %s | %s | %d | %d | %s | %s | %s | %d | %s | %s | %s | %s | %s |\n",
			res.Name, r.alg, max(r.instances, 1), res.Concurrency, fmtInt(res.RPS()), fmtDur(res.All.P50), fmtDur(res.All.P99), res.Errors(),
			perReq(res.ServerCPU, res.All.N), perReq(res.DBCPU, res.All.N), share, perReq(res.BenchCPU, res.All.N), fmtCPU(res.OtherCPU))
	}
	p("\n")
}
