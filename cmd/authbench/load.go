package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"
)

// A step sends one request of a scenario and says which kind of request it
// was (an index into the scenario's kinds) and how it ended: "200", or the
// status and OAuth error code ("400 invalid_grant"), or "error: …" for a
// transport failure.
type step func(w *worker) (kind int, outcome string)

// A worker is one connection's worth of load: it sends one request at a
// time, and records the latency of each in slices preallocated for the
// whole run, so that measuring allocates nothing on the hot path.
type worker struct {
	id     int
	client *http.Client
	buf    bytes.Buffer

	lat      [][]time.Duration // by kind
	outcomes map[string]int

	// Scenario state, owned by the scenario's step.
	req          *http.Request
	body         []byte
	refresh      string
	authz        []string // {"Bearer <access token>"}
	pos          int
	loginReq     *http.Request
	loginBody    []byte
	refreshReq   *http.Request
	userinfoReq  *http.Request
	refreshStart int // length of the refresh body's fixed prefix
}

// bodyReader is a request body over a byte slice that the worker reuses.
type bodyReader struct{ bytes.Reader }

func (*bodyReader) Close() error { return nil }

// do sends req with body (nil for none) and reads the whole answer into the
// worker's buffer; the returned bytes are valid until the next call. The
// request is reused by the next call: net/http allows that once the
// response body is closed.
func (w *worker) do(req *http.Request, body []byte) (int, []byte, error) {
	if body != nil {
		br := &bodyReader{}
		br.Reset(body)
		req.Body = br
		req.ContentLength = int64(len(body))
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	w.buf.Reset()
	_, err = w.buf.ReadFrom(resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, w.buf.Bytes(), nil
}

// outcomeOf names the result of a request for the error tally. Success
// statuses are constants, so the common path does not allocate.
func outcomeOf(status int, body []byte, err error) string {
	switch {
	case err != nil:
		return transportOutcome(err)
	case status == http.StatusOK:
		return "200"
	case status == http.StatusNotModified:
		return "304"
	}
	s := strconv.Itoa(status)
	if code := jsonString(body, "error"); len(code) > 0 && len(code) < 64 {
		s += " " + string(code)
	}
	return s
}

// transportOutcome classifies a failed round trip without its details,
// which hold addresses and vary from one request to the next.
func transportOutcome(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "error: timeout"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "error: connection closed"
	case errors.Is(err, context.Canceled):
		return "error: canceled"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "error: timeout"
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return "error: " + oe.Op
	}
	return "error: other"
}

// jsonString finds "key":"value" in a flat JSON object and returns value,
// or nil. It is for answers authd writes (compact, no escapes in the
// values it looks for: tokens and error codes), so that the hot path does
// not decode JSON.
func jsonString(body []byte, key string) []byte {
	var pat [80]byte
	p := append(pat[:0], '"')
	p = append(p, key...)
	p = append(p, '"', ':', '"')
	i := bytes.Index(body, p)
	if i < 0 {
		return nil
	}
	v := body[i+len(p):]
	j := bytes.IndexByte(v, '"')
	if j < 0 {
		return nil
	}
	return v[:j]
}

// loadSpec is one timed run of the load generator.
type loadSpec struct {
	name        string
	kinds       []string // names of the request kinds the steps report
	concurrency int
	warmup      time.Duration
	duration    time.Duration
	timeout     time.Duration // per request, to the response headers
	// setup prepares worker w before the clock starts (logins, templates)
	// and returns its step.
	setup func(ctx context.Context, w *worker) (step, error)
	// pid is the process whose CPU and memory are measured; 0 for none.
	pid int
	// others are more instances of the server, whose CPU time counts with
	// pid's; hosts, when set, are the host:port of every instance, each
	// request going to the next.
	others []int
	hosts  []string
	// dbPID is the PostgreSQL server's postmaster, whose processes' CPU
	// time is measured too; 0 for none.
	dbPID int
	tick  time.Duration
}

// latencyStats summarises the latencies of one kind of request.
type latencyStats struct {
	// N is the number of requests.
	N int
	// P50, P90 and P99 are nearest-rank percentiles; Max the slowest.
	P50, P90, P99, Max time.Duration
}

// loadResult is what a run measured in its window (after the warm-up).
type loadResult struct {
	// Name is the scenario's.
	Name string
	// Concurrency is the number of connections.
	Concurrency int
	// Window is the measured time, after the warm-up.
	Window time.Duration
	// Kinds name the request kinds; ByKind are their latencies, All those
	// of every request.
	Kinds  []string
	ByKind []latencyStats
	All    latencyStats
	// Outcomes counts answers by outcome ("200", "400 invalid_grant",
	// "error: timeout").
	Outcomes map[string]int
	// ServerCPU is the measured process's CPU time in the window, -1 when
	// unknown; BenchCPU is authbench's own.
	ServerCPU time.Duration
	BenchCPU  time.Duration
	// OtherCPU is the CPU time of every other process of the machine in
	// the window (noise: other work sharing the cores), -1 when unknown.
	OtherCPU time.Duration
	// PeakRSSKiB is the measured process's peak resident set in the
	// window, -1 when unknown.
	PeakRSSKiB int64
	// DBCPU is the database server's CPU time in the window, -1 when
	// unknown (or not measured).
	DBCPU time.Duration
}

// RPS is requests per second in the window.
func (r loadResult) RPS() float64 { return float64(r.All.N) / r.Window.Seconds() }

// Errors is the number of answers other than 200/304.
func (r loadResult) Errors() int {
	n := 0
	for k, v := range r.Outcomes {
		if k != "200" && k != "304" {
			n += v
		}
	}
	return n
}

// newTransport is a keep-alive transport for n concurrent connections to
// one host.
func newTransport(n int, timeout time.Duration) *http.Transport {
	return &http.Transport{
		Proxy:                 nil, // loopback only: never through a proxy from the environment
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          n,
		MaxIdleConnsPerHost:   n,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: timeout,
		DisableCompression:    true,
	}
}

// runLoad runs spec: it sets every worker up, then lets them send requests
// back to back for warm-up plus duration, and measures in the window after
// the warm-up: latencies, outcomes, and the CPU time and peak memory of
// spec.pid.
func runLoad(ctx context.Context, spec loadSpec) (loadResult, error) {
	n := spec.concurrency
	tr := newTransport(n*max(len(spec.hosts), 1), spec.timeout)
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	if len(spec.hosts) > 1 {
		client.Transport = &roundRobin{hosts: spec.hosts, rt: tr}
	}
	// Latency slices sized for ~60,000 requests/s shared by the workers;
	// append grows them if the run is faster than that.
	capacity := int(spec.duration.Seconds()*60000)/n + 1024

	workers := make([]*worker, n)
	steps := make([]step, n)
	var setupErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range n {
		w := &worker{id: i, client: client, outcomes: make(map[string]int)}
		w.lat = make([][]time.Duration, len(spec.kinds))
		for k := range w.lat {
			w.lat[k] = make([]time.Duration, 0, capacity)
		}
		workers[i] = w
		wg.Go(func() {
			s, err := spec.setup(ctx, w)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && setupErr == nil {
				setupErr = fmt.Errorf("%s: worker %d: %w", spec.name, i, err)
			}
			steps[i] = s
		})
	}
	wg.Wait()
	if setupErr != nil {
		return loadResult{}, setupErr
	}

	start := time.Now()
	warmEnd := start.Add(spec.warmup)
	end := warmEnd.Add(spec.duration)

	// The sampler takes the CPU clocks at the window's edges, and the
	// resident set every 50ms in between (in case VmHWM cannot be reset).
	var cpu0, cpu1, self0, self1, all0, all1, db0, db1 time.Duration
	var cpuErr, dbErr error
	serverCPU := func() (time.Duration, error) {
		total, err := procCPU(spec.pid, spec.tick)
		for _, p := range spec.others {
			c, e := procCPU(p, spec.tick)
			total, err = total+c, errors.Join(err, e)
		}
		return total, err
	}
	hwmReset := false
	var sampledPeak int64
	sampler := make(chan struct{})
	go func() {
		defer close(sampler)
		sleepUntil(ctx, warmEnd)
		self0, _ = procCPU(os.Getpid(), spec.tick)
		all0, _ = machineBusy(spec.tick)
		if spec.pid != 0 {
			cpu0, cpuErr = serverCPU()
			hwmReset = resetPeakRSS(spec.pid) == nil
		}
		if spec.dbPID != 0 {
			db0, dbErr = treeCPU(spec.dbPID, spec.tick)
		}
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for time.Now().Before(end) && ctx.Err() == nil {
			if spec.pid != 0 {
				if m, err := procMem(spec.pid); err == nil {
					sampledPeak = max(sampledPeak, m.VmRSS)
				}
			}
			select {
			case <-t.C:
			case <-ctx.Done():
			}
		}
		self1, _ = procCPU(os.Getpid(), spec.tick)
		all1, _ = machineBusy(spec.tick)
		if spec.pid != 0 {
			var err error
			cpu1, err = serverCPU()
			cpuErr = errors.Join(cpuErr, err)
		}
		if spec.dbPID != 0 {
			var err error
			db1, err = treeCPU(spec.dbPID, spec.tick)
			dbErr = errors.Join(dbErr, err)
		}
	}()

	for i, w := range workers {
		s := steps[i]
		wg.Go(func() {
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(end) {
					return
				}
				kind, outcome := s(w)
				d := time.Since(t0)
				if !t0.Before(warmEnd) {
					w.lat[kind] = append(w.lat[kind], d)
					w.outcomes[outcome]++
				}
			}
		})
	}
	wg.Wait()
	<-sampler
	if err := ctx.Err(); err != nil {
		return loadResult{}, err
	}

	res := loadResult{
		Name:        spec.name,
		Concurrency: n,
		Window:      spec.duration,
		Kinds:       spec.kinds,
		Outcomes:    make(map[string]int),
		ServerCPU:   -1,
		BenchCPU:    self1 - self0,
		OtherCPU:    -1,
		PeakRSSKiB:  -1,
		DBCPU:       -1,
	}
	if all1 > 0 && self1 > 0 {
		res.OtherCPU = max(all1-all0-res.BenchCPU, 0)
	}
	var all []time.Duration
	for k := range spec.kinds {
		var lk []time.Duration
		for _, w := range workers {
			lk = append(lk, w.lat[k]...)
		}
		res.ByKind = append(res.ByKind, summarize(lk))
		all = append(all, lk...)
	}
	res.All = summarize(all)
	for _, w := range workers {
		for k, v := range w.outcomes {
			res.Outcomes[k] += v
		}
	}
	if spec.dbPID != 0 && dbErr == nil {
		res.DBCPU = db1 - db0
		if res.OtherCPU >= 0 {
			res.OtherCPU = max(res.OtherCPU-res.DBCPU, 0)
		}
	}
	if spec.pid != 0 {
		if cpuErr == nil {
			res.ServerCPU = cpu1 - cpu0
			if res.OtherCPU >= 0 {
				res.OtherCPU = max(res.OtherCPU-res.ServerCPU, 0)
			}
		}
		if m, err := procMem(spec.pid); err == nil && hwmReset {
			res.PeakRSSKiB = m.VmHWM
		} else if sampledPeak > 0 {
			res.PeakRSSKiB = sampledPeak
		}
	}
	return res, nil
}

// summarize sorts d in place and returns its count, percentiles and
// maximum.
func summarize(d []time.Duration) latencyStats {
	slices.Sort(d)
	s := latencyStats{N: len(d)}
	if len(d) == 0 {
		return s
	}
	s.P50 = percentile(d, 50)
	s.P90 = percentile(d, 90)
	s.P99 = percentile(d, 99)
	s.Max = d[len(d)-1]
	return s
}

// percentile returns the p-th percentile of sorted by the nearest-rank
// method: the smallest value that at least p% of the values are at or
// below. sorted must be in ascending order and not empty.
func percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	// rank = ceil(p/100 × n), computed in integers where possible so that
	// 50% of 10 is exactly rank 5.
	rank := int(p * float64(n) / 100)
	if float64(rank)*100 < p*float64(n) {
		rank++
	}
	rank = min(max(rank, 1), n)
	return sorted[rank-1]
}

// sleepUntil sleeps until t or until ctx is done.
func sleepUntil(ctx context.Context, t time.Time) {
	d := time.Until(t)
	if d <= 0 {
		return
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-ctx.Done():
	}
}
