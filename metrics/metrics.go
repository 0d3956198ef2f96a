// Package metrics holds authd's Prometheus metrics, on a registry of their
// own (no global state). Security counters are fed by audit events, so the
// metrics and the audit log agree.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are authd's Prometheus metrics. Make one with New, pass its
// ObserveCommit to the database and the Metrics to server.New.
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

// New registers authd's collectors, and the Go runtime's and the
// process's, on a new registry.
func New() *Metrics {
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

// Gauges are values read at scrape time.
type Gauges struct {
	// Hashes reports password hashes in flight and waiting for a slot.
	Hashes func() (inFlight, queued int)
	// KeyAge is how long the active signing key has signed; NextRotation
	// is the time until the next automatic rotation (0 when disabled).
	KeyAge, NextRotation func() time.Duration
}

// RegisterGauges adds the gauges read at scrape time.
func (m *Metrics) RegisterGauges(g Gauges) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "authd_password_hashes_in_flight", Help: "Password hashes being computed now.",
		}, func() float64 { n, _ := g.Hashes(); return float64(n) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "authd_password_hashes_queued", Help: "Password hashes waiting for a slot.",
		}, func() float64 { _, n := g.Hashes(); return float64(n) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "authd_signing_key_age_seconds", Help: "Time since the active signing key started signing.",
		}, func() float64 { return g.KeyAge().Seconds() }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "authd_signing_key_next_rotation_seconds", Help: "Time until the next automatic rotation is due (negative: overdue; absent rotation: 0).",
		}, func() float64 { return g.NextRotation().Seconds() }),
	)
}

// TokenIssued counts an access token signed for grant with alg.
func (m *Metrics) TokenIssued(grant, alg string) { m.tokens.WithLabelValues(grant, alg).Inc() }

// Request counts a finished HTTP request.
func (m *Metrics) Request(route, method string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route).Observe(d.Seconds())
}

// Event counts an audit event in the metrics it feeds (an audit.Sink).
func (m *Metrics) Event(name string, kv []any) {
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
