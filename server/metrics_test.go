package server_test

import (
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/config"
)

// After a scripted sequence the counters hold exactly what happened.
func TestMetrics(t *testing.T) {
	e := newEnv(t, func(c *config.Config) { c.Throttle.AccountFailures = 2 })
	e.addUser("mo", "mos password 12")
	e.addUser("ned", "neds password 12")
	pw := func(user, pass string) url.Values {
		return url.Values{"grant_type": {"password"}, "client_id": {spaID}, "username": {user}, "password": {pass}}
	}
	e.token(pw("ned", "wrong one 1"))
	e.token(pw("ned", "wrong one 2"))
	wantOAuthError(t, e.token(pw("ned", "neds password 12")), 429, "too_many_requests")
	rt := str(e.login(spaID, "mo", "mos password 12"), "refresh_token")
	if r := e.refresh(spaID, rt); r.status != 200 {
		t.Fatal(r.status)
	}
	e.clock.Advance(6 * time.Second)
	e.refresh(spaID, rt) // reuse after the grace: the family ends
	e.token(url.Values{"grant_type": {"client_credentials"}, "client_id": {svcID}, "client_secret": {svcSecret}})

	r := e.do("GET", "/metrics", nil)
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
		t.Fatalf("/metrics: %d %q", r.status, r.header.Get("Content-Type"))
	}
	got := map[string]string{}
	for line := range strings.SplitSeq(string(r.body), "\n") {
		if name, value, ok := strings.Cut(line, " "); ok && !strings.HasPrefix(line, "#") {
			got[name] = value
		}
	}
	for name, want := range map[string]string{
		`authd_logins_failed_total`:                                                   "2",
		`authd_logins_throttled_total`:                                                "1",
		`authd_refresh_reuse_detected_total`:                                          "1",
		`authd_sessions_revoked_total{reason="refresh_reuse"}`:                        "1",
		`authd_tokens_issued_total{alg="EdDSA",grant="password"}`:                     "1",
		`authd_tokens_issued_total{alg="EdDSA",grant="refresh_token"}`:                "1",
		`authd_tokens_issued_total{alg="EdDSA",grant="client_credentials"}`:           "1",
		`authd_http_requests_total{method="POST",route="/oauth2/token",status="200"}`: "3",
		`authd_http_requests_total{method="POST",route="/oauth2/token",status="400"}`: "3",
		`authd_http_requests_total{method="POST",route="/oauth2/token",status="429"}`: "1",
		`authd_password_hashes_in_flight`:                                             "0",
		`authd_password_hashes_queued`:                                                "0",
		`authd_signing_key_age_seconds`:                                               "6",
		`authd_signing_key_next_rotation_seconds`:                                     "2.591994e+06", // 720h - 6s
	} {
		if got[name] != want {
			t.Errorf("%s = %q, want %q", name, got[name], want)
		}
	}
	if n, _ := strconv.Atoi(got["authd_sqlite_commit_duration_seconds_count"]); n < 4 {
		t.Errorf("sqlite commits observed = %q, want at least the 4 writes of the sequence", got["authd_sqlite_commit_duration_seconds_count"])
	}
	if got[`authd_http_request_duration_seconds_count{route="/oauth2/token"}`] != "7" {
		t.Errorf("token endpoint latency count = %q, want 7", got[`authd_http_request_duration_seconds_count{route="/oauth2/token"}`])
	}
}

// Requests with made-up methods and paths add no series: methods are
// labelled from a fixed set and unmatched routes share one label, so an
// unauthenticated client cannot grow the metrics (and memory) without bound.
func TestMetricsLabelsBounded(t *testing.T) {
	e := newEnv(t)
	series := func() int {
		r := e.do("GET", "/metrics", nil)
		n := 0
		for line := range strings.SplitSeq(string(r.body), "\n") {
			if strings.HasPrefix(line, "authd_http_requests_total{") {
				n++
			}
		}
		return n
	}
	send := func(i int) {
		method := "X" + strconv.Itoa(i) + strings.Repeat("M", i%50)
		e.do(method, "/healthz", nil)
		e.do(method, "/no/such/path/"+strconv.Itoa(i), nil)
		e.do("GET", "/no/such/path/"+strconv.Itoa(i), nil)
	}
	send(0) // the first of each kind may add its series
	send(1)
	series() // the scrape's own series
	before := series()
	for i := 2; i < 5002; i++ {
		send(i)
	}
	if after := series(); after != before {
		t.Errorf("5,000 distinct methods and paths took the request series from %d to %d", before, after)
	}
}
