package server_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/config"
)

// serve sends a form to the token endpoint through the whole handler stack
// (routing, middleware, error handler), without the network.
func (e *testEnv) serveForm(form string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.RemoteAddr = "192.0.2.1:1234"
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, req)
	return rec
}

// defaultArgon2 benchmarks at the configured production parameters.
func defaultArgon2(c *config.Config) {
	c.Passwords.Argon2 = config.Default().Passwords.Argon2
	c.Throttle.AccountFailures, c.Throttle.AddressFailures = 1<<30, 1<<30
}

func BenchmarkPasswordGrant(b *testing.B) {
	for _, alg := range []string{"EdDSA", "RS256"} {
		b.Run(alg, func(b *testing.B) {
			e := newEnv(b, defaultArgon2, func(c *config.Config) { c.Keys.Algorithm = alg })
			e.addUser("bench", "bench password 1")
			form := url.Values{"grant_type": {"password"}, "client_id": {spaID}, "username": {"bench"}, "password": {"bench password 1"}}.Encode()
			b.ResetTimer()
			for b.Loop() {
				if rec := e.serveForm(form); rec.Code != 200 {
					b.Fatalf("%d %s", rec.Code, rec.Body)
				}
			}
		})
	}
}

func BenchmarkRefreshGrant(b *testing.B) {
	for _, alg := range []string{"EdDSA", "RS256"} {
		for _, sync := range []string{"FULL", "NORMAL"} {
			b.Run(alg+"/"+sync, func(b *testing.B) {
				e := newEnv(b, func(c *config.Config) {
					c.Keys.Algorithm = alg
					c.DatabaseSynchronous = sync
				})
				e.addUser("bench", "bench password 1")
				rt := str(e.login(spaID, "bench", "bench password 1"), "refresh_token")
				b.ResetTimer()
				for b.Loop() {
					rec := e.serveForm("grant_type=refresh_token&client_id=" + spaID + "&refresh_token=" + rt)
					if rec.Code != 200 {
						b.Fatalf("%d %s", rec.Code, rec.Body)
					}
					body := rec.Body.String()
					i := strings.Index(body, `"refresh_token":"`) + len(`"refresh_token":"`)
					rt = body[i : i+strings.IndexByte(body[i:], '"')]
				}
			})
		}
	}
}

// BenchmarkLoginTiming measures how long a failed login takes for an
// unknown user and for a known user with a wrong password, interleaved, at
// the production argon2id parameters. It reports the medians and the
// spread (p90 - p10) of each, and the difference of the medians: the
// timing an attacker could use to tell whether a username exists.
func BenchmarkLoginTiming(b *testing.B) {
	e := newEnv(b, defaultArgon2)
	e.addUser("known", "the right password")
	unknown := url.Values{"grant_type": {"password"}, "client_id": {spaID}, "username": {"nobody-here"}, "password": {"a wrong password"}}.Encode()
	wrong := url.Values{"grant_type": {"password"}, "client_id": {spaID}, "username": {"known"}, "password": {"a wrong password"}}.Encode()
	var tu, tw []time.Duration
	for b.Loop() {
		for _, c := range []struct {
			form string
			into *[]time.Duration
		}{{unknown, &tu}, {wrong, &tw}} {
			start := time.Now()
			if rec := e.serveForm(c.form); rec.Code != 400 {
				b.Fatalf("%d %s", rec.Code, rec.Body)
			}
			*c.into = append(*c.into, time.Since(start))
		}
	}
	med, spread := stats(tu)
	b.ReportMetric(float64(med.Microseconds()), "unknown-median-µs")
	b.ReportMetric(float64(spread.Microseconds()), "unknown-spread-µs")
	medW, spreadW := stats(tw)
	b.ReportMetric(float64(medW.Microseconds()), "wrongpw-median-µs")
	b.ReportMetric(float64(spreadW.Microseconds()), "wrongpw-spread-µs")
	b.ReportMetric(float64((med - medW).Microseconds()), "median-diff-µs")
}

func stats(d []time.Duration) (median, spread time.Duration) {
	s := slices.Clone(d)
	slices.Sort(s)
	n := len(s)
	return s[n/2], s[n*9/10] - s[n/10]
}
