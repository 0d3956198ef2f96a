package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestParseStatFull(t *testing.T) {
	st, err := parseStatFull([]byte("4242 (postgres: authd t1 127.0.0.1(5) idle) S 4000 4000 4000 0 -1 4194560 100 0 0 0 11 7 3 2 20 0 1 0 500 1000 10"))
	if err != nil {
		t.Fatal(err)
	}
	want := procStat{comm: "postgres: authd t1 127.0.0.1(5) idle", ppid: 4000, utime: 11, stime: 7, cutime: 3, cstime: 2}
	if st != want {
		t.Errorf("parseStatFull = %+v, want %+v", st, want)
	}
	for _, bad := range []string{"", "1 (x) S 2", "1 x S 2 3 4 5 6 7 8 9 10 11 12 13 14 15"} {
		if _, err := parseStatFull([]byte(bad)); err == nil {
			t.Errorf("parseStatFull(%q): no error", bad)
		}
	}
}

// The CPU time of a process tree counts the root and its live children:
// this test process's tree is at least its own time.
func TestTreeCPU(t *testing.T) {
	tick := clockTick()
	own, err := procCPU(os.Getpid(), tick)
	if err != nil {
		t.Fatal(err)
	}
	tree, err := treeCPU(os.Getpid(), tick)
	if err != nil {
		t.Fatal(err)
	}
	if tree < own {
		t.Errorf("treeCPU = %v, below the process's own %v", tree, own)
	}
	if _, err := treeCPU(1<<30, tick); err == nil {
		t.Error("treeCPU of a process that does not exist: no error")
	}
}

// Requests through roundRobin go to each host in turn.
func TestRoundRobin(t *testing.T) {
	var mu sync.Mutex
	hits := map[string]int{}
	var hosts []string
	for i := range 3 {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			hits[string(rune('a'+i))]++
			mu.Unlock()
		}))
		t.Cleanup(srv.Close)
		hosts = append(hosts, strings.TrimPrefix(srv.URL, "http://"))
	}
	tr := newTransport(4, 5*time.Second)
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: &roundRobin{hosts: hosts, rt: tr}}
	for range 9 {
		resp, err := c.Get("http://" + hosts[0] + "/x")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if hits["a"] != 3 || hits["b"] != 3 || hits["c"] != 3 {
		t.Errorf("hits = %v, want 3 each", hits)
	}
}

func TestParseFlagsInstances(t *testing.T) {
	o, err := parseFlags([]string{"--database", "postgres://authd@db/authd", "--instances", "1,3"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if o.database != "postgres://authd@db/authd" || len(o.instances) != 2 || o.instances[1] != 3 {
		t.Errorf("database %q, instances %v", o.database, o.instances)
	}
	if o, err := parseFlags(nil, &bytes.Buffer{}); err != nil || o.database != "" || len(o.instances) != 1 || o.instances[0] != 1 {
		t.Errorf("defaults: database %q, instances %v, %v", o.database, o.instances, err)
	}
	for _, bad := range [][]string{
		{"--instances", "0"}, {"--instances", "x"}, {"--database", "mysql://x"},
		{"--url", "http://127.0.0.1:1", "--username", "u", "--instances", "2"},
		{"--database", "start", "--scenarios", "soak"},
	} {
		if _, err := parseFlags(bad, &bytes.Buffer{}); err == nil {
			t.Errorf("parseFlags(%q) succeeded, want an error", bad)
		}
	}
}

// The report's scaling table splits the CPU between the instances and the
// database.
func TestWriteScaling(t *testing.T) {
	rep := &report{rows: []row{
		{alg: "EdDSA", instances: 3, res: loadResult{Name: scRefresh, Concurrency: 16, Window: time.Second, All: latencyStats{N: 1000},
			ServerCPU: 300 * time.Millisecond, DBCPU: 100 * time.Millisecond, BenchCPU: 50 * time.Millisecond, OtherCPU: 0, Outcomes: map[string]int{"200": 1000}}},
		{alg: "EdDSA", res: loadResult{Name: scJWKS, Concurrency: 16, Window: time.Second, DBCPU: -1, ServerCPU: -1}},
	}}
	var out bytes.Buffer
	rep.writeScaling(&out)
	for _, want := range []string{"### Instances and database", "| refresh | EdDSA | 3 | 16 | 1,000 |", "| 300 µs | 100 µs | 25% | 50 µs |"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("scaling table lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "jwks") {
		t.Errorf("a run on one instance without a database server is listed:\n%s", out.String())
	}
}
