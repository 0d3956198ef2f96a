package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"sync"
	"time"
)

// floodSpec is the login flood: many concurrent password grants with
// wrong passwords, while a few real users log in with theirs.
type floodSpec struct {
	attackers int           // concurrent wrong-password requests, one connection each
	addresses int           // distinct X-Forwarded-For addresses the attackers share (1: a single address)
	realUsers int           // goroutines logging in with the right password
	duration  time.Duration // how long the flood lasts
	queueWait time.Duration // the server's passwords.queue_wait: the longest an answer may take, plus one hash
	pid       int           // the server, for its memory; 0 for none
	victims   []cred        // existing accounts the flood guesses at (the others are unknown names)
	real      []cred        // the real users
}

// Real users' targets during the flood: at least 4 of 5 logins succeed,
// each within 500 ms.
const (
	realOKTarget      = 0.8
	realLatencyTarget = 500 * time.Millisecond
	// realPause is how long a real user waits between two logins.
	realPause = 200 * time.Millisecond
)

// realUserStats are one real user's logins during the flood.
type realUserStats struct {
	// Username is the user's; OK and N count the successful logins and
	// all of them.
	Username string
	OK, N    int
	// All are the latencies of every login.
	All latencyStats
}

// outcomeStats is the count and latencies of one kind of answer.
type outcomeStats struct {
	// Outcome is the answer: "503 temporarily_unavailable", "200".
	Outcome string
	latencyStats
}

// floodResult is what the flood measured.
type floodResult struct {
	// Attackers and RealUsers are the numbers of each, Addresses the
	// number of addresses the attackers come from; Duration the flood's
	// length.
	Attackers, Addresses, RealUsers int
	Duration                        time.Duration
	// Flood answers by outcome, most frequent first.
	Flood []outcomeStats
	// FloodAll is every flood answer.
	FloodAll latencyStats
	// Late counts flood answers slower than LateLimit, the queue wait +
	// 1s (a "hang").
	Late      int
	LateLimit time.Duration
	// Unexpected counts flood answers other than 400 invalid_grant, 429
	// and 503.
	Unexpected int
	// Real, RealAll and RealOK are the real users' answers by outcome,
	// all of them, and the successful ones.
	Real    []outcomeStats
	RealAll latencyStats
	RealOK  int
	// PerUser are the real users' logins, user by user.
	PerUser []realUserStats
	// PeakRSSKB is the server's peak resident set during the flood and
	// RSSBefore its resident set before, in KiB; -1 when unknown.
	PeakRSSKB int64
	RSSBefore int64
}

// floodAddress is the i-th address of the flood (X-Forwarded-For).
func floodAddress(i int) string {
	return fmt.Sprintf("10.%d.%d.%d", (i>>16)&255, (i>>8)&255, i&255)
}

// realAddress is the X-Forwarded-For of the i-th real user: fixed, and
// outside the flood's 10.0.0.0/8.
func realAddress(i int) string { return fmt.Sprintf("192.0.2.%d", 10+i) }

// signInRealUsers logs each real user in once from its address, as before
// the flood: a person who has used the service before. It retries a busy
// server for up to 30 seconds.
func signInRealUsers(ctx context.Context, t *target, spec floodSpec) error {
	w := setupWorker()
	defer w.client.CloseIdleConnections()
	for i := range spec.realUsers {
		u := spec.real[i%len(spec.real)]
		req := t.newRequest(http.MethodPost, "/oauth2/token", true)
		req.Header.Set("X-Forwarded-For", realAddress(i))
		deadline := time.Now().Add(30 * time.Second)
		for {
			status, rb, err := w.do(req.WithContext(ctx), t.loginBody(u))
			if err != nil {
				return fmt.Errorf("first login as %s: %w", u.username, err)
			}
			if status == http.StatusOK {
				break
			}
			if (status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests) && time.Now().Before(deadline) {
				sleepUntil(ctx, time.Now().Add(200*time.Millisecond))
				continue
			}
			return fmt.Errorf("first login as %s: HTTP %d: %s", u.username, status, outcomeOf(status, rb, nil))
		}
	}
	return nil
}

// runFlood runs the flood against t.
func runFlood(ctx context.Context, t *target, spec floodSpec) (floodResult, error) {
	if spec.addresses < 1 || spec.addresses > spec.attackers {
		spec.addresses = spec.attackers
	}
	res := floodResult{Attackers: spec.attackers, Addresses: spec.addresses, RealUsers: spec.realUsers, Duration: spec.duration, PeakRSSKB: -1, RSSBefore: -1}
	res.LateLimit = spec.queueWait + time.Second
	timeout := spec.queueWait + 30*time.Second
	if err := signInRealUsers(ctx, t, spec); err != nil {
		return res, err
	}

	if spec.pid != 0 {
		if m, err := procMem(spec.pid); err == nil {
			res.RSSBefore = m.VmRSS
		}
	}
	hwmReset := spec.pid != 0 && resetPeakRSS(spec.pid) == nil

	start := time.Now()
	end := start.Add(spec.duration)
	type rec struct {
		outcome string
		d       time.Duration
	}

	// The attackers: each its own connection, spread evenly over the
	// addresses, wrong passwords for existing and unknown usernames alike,
	// back to back.
	attackTr := newTransport(spec.attackers, timeout)
	defer attackTr.CloseIdleConnections()
	attackClient := &http.Client{Transport: attackTr}
	attackRecs := make([][]rec, spec.attackers)
	var wg sync.WaitGroup
	for i := range spec.attackers {
		w := &worker{id: i, client: attackClient}
		username := fmt.Sprintf("flood-nobody-%d", i)
		if i%2 == 0 && len(spec.victims) > 0 {
			username = spec.victims[i/2%len(spec.victims)].username
		}
		body := []byte(url.Values{
			"grant_type": {"password"}, "client_id": {t.publicClient}, "username": {username},
			"password": {fmt.Sprintf("wrong-password-%d", i)}, "scope": {userScope},
		}.Encode())
		req := t.newRequest(http.MethodPost, "/oauth2/token", true)
		req.Header.Set("X-Forwarded-For", floodAddress(i%spec.addresses))
		wg.Go(func() {
			for ctx.Err() == nil && time.Now().Before(end) {
				t0 := time.Now()
				status, rb, err := w.do(req, body)
				attackRecs[i] = append(attackRecs[i], rec{outcomeOf(status, rb, err), time.Since(t0)})
			}
		})
	}

	// The real users: their own connections, the addresses they signed in
	// from before, the right password, a short pause between logins.
	realTr := newTransport(spec.realUsers, timeout)
	defer realTr.CloseIdleConnections()
	realClient := &http.Client{Transport: realTr}
	realRecs := make([][]rec, spec.realUsers)
	for i := range spec.realUsers {
		w := &worker{id: i, client: realClient}
		req := t.newRequest(http.MethodPost, "/oauth2/token", true)
		req.Header.Set("X-Forwarded-For", realAddress(i))
		body := t.loginBody(spec.real[i%len(spec.real)])
		wg.Go(func() {
			sleepUntil(ctx, start.Add(200*time.Millisecond)) // let the flood fill the queue first
			for ctx.Err() == nil && time.Now().Before(end) {
				t0 := time.Now()
				status, rb, err := w.do(req, body)
				realRecs[i] = append(realRecs[i], rec{outcomeOf(status, rb, err), time.Since(t0)})
				sleepUntil(ctx, time.Now().Add(realPause))
			}
		})
	}

	// Memory, sampled while the flood runs (VmHWM covers what sampling
	// misses when it could be reset).
	var sampled int64
	stopSampling := make(chan struct{})
	sampling := make(chan struct{})
	go func() {
		defer close(sampling)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			if spec.pid != 0 {
				if m, err := procMem(spec.pid); err == nil {
					sampled = max(sampled, m.VmRSS)
				}
			}
			select {
			case <-tick.C:
			case <-stopSampling:
				return
			}
		}
	}()
	wg.Wait()
	close(stopSampling)
	<-sampling
	if err := ctx.Err(); err != nil {
		return res, err
	}
	if spec.pid != 0 {
		res.PeakRSSKB = sampled
		if m, err := procMem(spec.pid); err == nil && hwmReset {
			res.PeakRSSKB = max(m.VmHWM, sampled)
		}
	}

	group := func(recs [][]rec) ([]outcomeStats, latencyStats) {
		by := map[string][]time.Duration{}
		var all []time.Duration
		for _, rs := range recs {
			for _, r := range rs {
				by[r.outcome] = append(by[r.outcome], r.d)
				all = append(all, r.d)
			}
		}
		var out []outcomeStats
		for o, ds := range by {
			out = append(out, outcomeStats{Outcome: o, latencyStats: summarize(ds)})
		}
		sort.Slice(out, func(i, j int) bool {
			if out[i].N != out[j].N {
				return out[i].N > out[j].N
			}
			return out[i].Outcome < out[j].Outcome
		})
		return out, summarize(all)
	}
	res.Flood, res.FloodAll = group(attackRecs)
	for _, rs := range attackRecs {
		for _, r := range rs {
			if r.d > res.LateLimit {
				res.Late++
			}
			switch r.outcome {
			case "400 invalid_grant", "429", "503", "503 temporarily_unavailable":
			default:
				if len(r.outcome) < 4 || r.outcome[:4] != "429 " {
					res.Unexpected++
				}
			}
		}
	}
	res.Real, res.RealAll = group(realRecs)
	for _, o := range res.Real {
		if o.Outcome == "200" {
			res.RealOK = o.N
		}
	}
	for i, rs := range realRecs {
		u := realUserStats{Username: spec.real[i%len(spec.real)].username, N: len(rs)}
		var all []time.Duration
		for _, r := range rs {
			if r.outcome == "200" {
				u.OK++
			}
			all = append(all, r.d)
		}
		u.All = summarize(all)
		res.PerUser = append(res.PerUser, u)
	}
	return res, nil
}
