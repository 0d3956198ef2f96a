package server

import (
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/authd/authd/password"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are authd's Prometheus metrics, on a registry of their own (no
// global state). Make one with NewMetrics, pass its ObserveCommit to the
// database and the Metrics to New.
type Metrics struct {
	reg *prometheus.Registry

	requests      *prometheus.CounterVec
	latency       *prometheus.HistogramVec
	tokens        *prometheus.CounterVec
	loginsFailed  prometheus.Counter
	throttled     prometheus.Counter
	reuse         prometheus.Counter
	revoked       *prometheus.CounterVec
	commitLatency prometheus.Histogram
}

// NewMetrics registers authd's collectors, and the Go runtime's and the
// process's, on a new registry.
func NewMetrics() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authd_http_requests_total", Help: "HTTP requests by route, method and status.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "authd_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authd_tokens_issued_total", Help: "Access tokens issued by grant and signing algorithm.",
		}, []string{"grant", "alg"}),
		loginsFailed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "authd_logins_failed_total", Help: "Failed logins (unknown user, wrong password, disabled user).",
		}),
		throttled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "authd_logins_throttled_total", Help: "Logins refused with 429 because the account or address must wait.",
		}),
		reuse: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "authd_refresh_reuse_detected_total", Help: "Spent refresh tokens presented again after the grace period.",
		}),
		revoked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authd_sessions_revoked_total", Help: "Sessions (refresh-token families) ended, by reason.",
		}, []string{"reason"}),
		commitLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "authd_sqlite_commit_duration_seconds", Help: "Duration of SQLite write-transaction commits.",
			Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1},
		}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.tokens, m.loginsFailed, m.throttled, m.reuse, m.revoked, m.commitLatency,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// ObserveCommit records one SQLite commit (sqlite.Options.ObserveCommit).
func (m *Metrics) ObserveCommit(d time.Duration) { m.commitLatency.Observe(d.Seconds()) }

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// registerServer adds the gauges read from the server's parts at scrape
// time: password hashes in flight and waiting, the active key's age and
// the time to the next automatic rotation.
func (m *Metrics) registerServer(s *Server, hasher *password.Hasher) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "authd_password_hashes_in_flight", Help: "Password hashes being computed now.",
		}, func() float64 { n, _ := hasher.Stats(); return float64(n) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "authd_password_hashes_queued", Help: "Password hashes waiting for a slot.",
		}, func() float64 { _, n := hasher.Stats(); return float64(n) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "authd_signing_key_age_seconds", Help: "Time since the active signing key started signing.",
		}, func() float64 { return s.now().Sub(s.activeKeySince()).Seconds() }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "authd_signing_key_next_rotation_seconds", Help: "Time until the next automatic rotation is due (negative: overdue; absent rotation: 0).",
		}, func() float64 {
			if s.cfg.Keys.RotateEvery == 0 {
				return 0
			}
			return s.activeKeySince().Add(s.cfg.Keys.RotateEvery).Sub(s.now()).Seconds()
		}),
	)
}

// activeKeySince is when the active key started signing.
func (s *Server) activeKeySince() time.Time {
	kid, _, ok := s.keys.Active()
	if !ok {
		return s.now()
	}
	for _, k := range s.keys.Keys() {
		if k.ID == kid {
			return k.ActivatedAt
		}
	}
	return s.now()
}

// countRequests records every request's route, status and latency.
func (m *Metrics) countRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err) // the status below is the final one
		}
		route := routeLabel(c)
		m.requests.WithLabelValues(route, methodLabel(c.Request().Method), strconv.Itoa(c.Response().Status)).Inc()
		m.latency.WithLabelValues(route).Observe(time.Since(start).Seconds())
		return nil
	}
}

// event counts an audit event in the metrics it feeds.
func (m *Metrics) event(name string, kv []any) {
	switch name {
	case "login.failed":
		m.loginsFailed.Inc()
	case "login.throttled":
		m.throttled.Inc()
	case "refresh.reuse_detected":
		m.reuse.Inc()
	case "session.revoked":
		reason := "unknown"
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i] == "reason" {
				reason, _ = kv[i+1].(string)
			}
		}
		m.revoked.WithLabelValues(reason).Inc()
	}
}

// methodLabel is the method as a metric label, from a fixed set: a label
// value made of whatever a client sends would add a series per distinct
// method, and every series stays in memory for good (an unauthenticated
// client could grow the process without bound).
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return m
	}
	return "other"
}

// routeLabel is the matched route, or one label for every request that
// matched none (404s, unknown methods), whatever their path.
func routeLabel(c echo.Context) string {
	switch p := c.Path(); p {
	case "", "/*":
		return "unmatched"
	default:
		return p
	}
}
