package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The soak: refreshes at full speed for --duration, each worker chaining
// its own family, while the database file is watched every --soak-every:
// its size, the size of its WAL, its free pages and its session rows. A
// refresh family takes constant space, so after the first sample none of
// these should grow with the number of rotations.

// soakSample is the database as the soak found it at one moment.
type soakSample struct {
	at        time.Duration // since the load started
	refreshes int64         // answered 200 since the load started
	rate      float64       // refreshes/s since the previous sample
	fileBytes int64
	walBytes  int64
	pages     int64
	freePages int64
	sessions  int64 // rows of sessions
	live      int64 // of which neither ended nor past ExpiresAt
	rssKiB    int64 // the server's resident set, -1 when unknown
	err       error
}

// soakRun is one soak, for the report.
type soakRun struct {
	alg     string
	every   time.Duration
	res     loadResult
	samples []soakSample
}

// soakWatcher reads a database file's figures through its own read-only
// connection.
type soakWatcher struct {
	path string
	db   *sql.DB
}

func newSoakWatcher(path string) (*soakWatcher, error) {
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(path), RawQuery: url.Values{
		"mode":    {"ro"},
		"_pragma": {"busy_timeout(5000)", "query_only(1)"},
	}.Encode()}
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return &soakWatcher{path: path, db: db}, nil
}

func (w *soakWatcher) close() error { return w.db.Close() }

// sample fills the database figures of s.
func (w *soakWatcher) sample(ctx context.Context, s *soakSample) {
	if fi, err := os.Stat(w.path); err == nil {
		s.fileBytes = fi.Size()
	}
	if fi, err := os.Stat(w.path + "-wal"); err == nil {
		s.walBytes = fi.Size()
	}
	for _, q := range []struct {
		query string
		dst   *int64
	}{
		{`PRAGMA page_count`, &s.pages},
		{`PRAGMA freelist_count`, &s.freePages},
		{`SELECT count(*) FROM sessions`, &s.sessions},
		{`SELECT count(*) FROM sessions WHERE ended_at IS NULL AND (expires_at IS NULL OR expires_at > ?)`, &s.live},
	} {
		var args []any
		if strings.Contains(q.query, "?") {
			args = append(args, time.Now().UnixNano())
		}
		if err := w.db.QueryRowContext(ctx, q.query, args...).Scan(q.dst); err != nil {
			s.err = fmt.Errorf("%s: %w", q.query, err)
			return
		}
	}
}

// runSoak runs the soak for every algorithm, each against a fresh server,
// at the first --concurrency.
func (b *bench) runSoak(ctx context.Context) error {
	if b.o.url != "" {
		return fmt.Errorf("soak: needs a server authbench starts (it reads the database file), not --url")
	}
	for _, alg := range b.o.algs {
		if err := b.soak(ctx, alg, b.o.concurrency[0]); err != nil {
			return err
		}
	}
	return nil
}

func (b *bench) soak(ctx context.Context, alg string, conc int) (err error) {
	label := "soak-" + strings.ToLower(alg)
	proc, err := b.startServer(ctx, label, alg, false)
	if err != nil {
		return err
	}
	defer func() {
		if serr := proc.stop(); serr != nil && err == nil && ctx.Err() == nil {
			err = fmt.Errorf("stopping authd: %w", serr)
		}
	}()
	t := b.newTarget(proc.base)
	if _, err := collectSamples(ctx, t); err != nil {
		return b.withLog(proc, err)
	}
	watch, err := newSoakWatcher(filepath.Join(b.work, label, "authd.db"))
	if err != nil {
		return err
	}
	defer watch.close()

	var ok atomic.Int64
	var started atomic.Int64 // unix nanoseconds of the first refresh
	setup := func(ctx context.Context, w *worker) (step, error) {
		s, err := t.setupRefresh(ctx, w)
		if err != nil {
			return nil, err
		}
		return func(w *worker) (int, string) {
			started.CompareAndSwap(0, time.Now().UnixNano())
			kind, outcome := s(w)
			if outcome == "200" {
				ok.Add(1)
			}
			return kind, outcome
		}, nil
	}

	run := soakRun{alg: alg, every: b.o.soakEvery}
	var mu sync.Mutex
	take := func(prev *soakSample) soakSample {
		s := soakSample{refreshes: ok.Load(), rssKiB: -1}
		if m, err := procMem(proc.pid); err == nil {
			s.rssKiB = m.VmRSS
		}
		if st := started.Load(); st != 0 {
			s.at = time.Since(time.Unix(0, st))
		}
		if prev != nil && s.at > prev.at {
			s.rate = float64(s.refreshes-prev.refreshes) / (s.at - prev.at).Seconds()
		}
		watch.sample(ctx, &s)
		return s
	}
	report := func(s soakSample) {
		if s.err != nil {
			b.progress("%s soak @%d: %s: %v", alg, conc, s.at.Round(time.Second), s.err)
			return
		}
		b.progress("%s soak @%d: %s: %s refreshes (%s/s), file %s, WAL %s, %d pages (%d free), %d sessions (%d live), server RSS %s",
			alg, conc, s.at.Round(time.Second), fmtInt(float64(s.refreshes)), fmtInt(s.rate), fmtBytes(s.fileBytes), fmtBytes(s.walBytes),
			s.pages, s.freePages, s.sessions, s.live, fmtKiB(s.rssKiB))
	}
	first := take(nil)
	run.samples = append(run.samples, first)
	report(first)

	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(b.o.soakEvery)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
			case <-done:
				return
			case <-ctx.Done():
				return
			}
			mu.Lock()
			s := take(&run.samples[len(run.samples)-1])
			run.samples = append(run.samples, s)
			mu.Unlock()
			report(s)
		}
	})
	b.progress("%s soak @%d: refreshing for %s, a sample every %s", alg, conc, b.o.duration, b.o.soakEvery)
	res, err := runLoad(ctx, loadSpec{
		name: scSoak, kinds: []string{"refresh"}, concurrency: conc, warmup: 0, duration: b.o.duration,
		timeout: b.o.timeout, setup: setup, pid: proc.pid, tick: b.tick,
	})
	close(done)
	wg.Wait()
	if err != nil {
		return b.withLog(proc, err)
	}
	// A last sample at the end, unless a tick has just taken one.
	if prev := &run.samples[len(run.samples)-1]; time.Since(time.Unix(0, started.Load())) > prev.at+time.Second {
		last := take(prev)
		run.samples = append(run.samples, last)
		report(last)
	}
	run.res = res
	b.rep.soaks = append(b.rep.soaks, run)
	return nil
}

func fmtBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// writeSoaks writes the soak section of the report.
func (rep *report) writeSoaks(w io.Writer) {
	if len(rep.soaks) == 0 {
		return
	}
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("### Soak\n\nRefreshes at full speed, each connection chaining its own family; the database file watched through a read-only connection. " +
		"A family is one row of constant size, so file, pages and rows should stay flat while rotations add up.\n\n")
	for _, s := range rep.soaks {
		r := s.res
		p("%s, %d connections, %s (no warm-up): %s refreshes/s, p50 %s, p99 %s, max %s, errors %s, server CPU %s s, authbench CPU %s s, other CPU %s s, peak RSS %s\n\n",
			s.alg, r.Concurrency, r.Window, fmtInt(r.RPS()), fmtDur(r.All.P50), fmtDur(r.All.P99), fmtDur(r.All.Max),
			fmtOutcomes(r.Outcomes), fmtCPU(r.ServerCPU), fmtCPU(r.BenchCPU), fmtCPU(r.OtherCPU), fmtKiB(r.PeakRSSKiB))
		p("| at | refreshes | refreshes/s since the last | db file | WAL | pages | free pages | session rows | live | server RSS |\n|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
		for _, x := range s.samples {
			if x.err != nil {
				p("| %s | %s | — | — | — | — | — | — | %v | %s |\n", x.at.Round(time.Second), fmtInt(float64(x.refreshes)), x.err, fmtKiB(x.rssKiB))
				continue
			}
			p("| %s | %s | %s | %s | %s | %d | %d | %d | %d | %s |\n", x.at.Round(time.Second), fmtInt(float64(x.refreshes)), fmtInt(x.rate),
				fmtBytes(x.fileBytes), fmtBytes(x.walBytes), x.pages, x.freePages, x.sessions, x.live, fmtKiB(x.rssKiB))
		}
		p("\n")
	}
}
