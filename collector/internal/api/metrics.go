package api

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/annexa/annexa/collector/internal/store"
)

// metrics are the collector's Prometheus series, in a registry of the
// Server's own so two servers in one process (tests) do not collide.
type metrics struct {
	reg        *prometheus.Registry
	records    *prometheus.CounterVec
	batches    *prometheus.CounterVec
	requests   *prometheus.CounterVec
	evaluation *prometheus.HistogramVec
	evalFailed *prometheus.CounterVec
	enrolled   prometheus.Counter
}

// Kinds of evaluation work, the kind label of the evaluation series.
const (
	// EvalFull is a pass over every control and all current evidence:
	// serve's at start and every --evaluate-every, or a report assembled
	// without a kept evaluation.
	EvalFull = "full"
	// EvalIncremental is serve's update of its kept evaluation after
	// ingested batches or a clock step.
	EvalIncremental = "incremental"
	// EvalReport is building the report of GET /v1/report from the kept
	// evaluation.
	EvalReport = "report"
)

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "annexa_collector_ingest_records_total",
			Help: "Evidence records received in accepted batches, by result: stored, or duplicate (already stored, dropped).",
		}, []string{"result"}),
		batches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "annexa_collector_ingest_batches_total",
			Help: "Ingest requests by result: stored, or the error code they were rejected with (invalid, unauthorized, too_large, ...).",
		}, []string{"result"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "annexa_collector_http_requests_total",
			Help: "API requests by path and HTTP status.",
		}, []string{"path", "code"}),
		evaluation: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "annexa_collector_evaluation_duration_seconds",
			Help: "Time spent judging controls, by kind: full (every control over all evidence), incremental (serve's update after batches or a clock step), report (GET /v1/report).",
			// From 1 ms (an incremental update of one batch) to about a
			// minute (a full pass over a large fleet).
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 17),
		}, []string{"kind"}),
		evalFailed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "annexa_collector_evaluation_failures_total",
			Help: "Evaluations that failed, by kind; the collector's log says why.",
		}, []string{"kind"}),
		enrolled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "annexa_collector_enrollments_total",
			Help: "Agents enrolled since the collector started.",
		}),
	}
	m.reg.MustRegister(m.records, m.batches, m.requests, m.evaluation, m.evalFailed, m.enrolled,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, r := range []string{"stored", "duplicate"} {
		m.records.WithLabelValues(r)
	}
	m.batches.WithLabelValues("stored")
	for _, k := range []string{EvalFull, EvalIncremental, EvalReport} {
		m.evaluation.WithLabelValues(k)
		m.evalFailed.WithLabelValues(k)
	}
	return m
}

var (
	descAgents   = prometheus.NewDesc("annexa_collector_agents", "Enrolled agents by state (active, revoked).", []string{"state"}, nil)
	descLastSeen = prometheus.NewDesc("annexa_collector_agent_last_seen_timestamp_seconds", "Unix time of each active agent's last request; alert when it falls behind.", []string{"agent_id", "host"}, nil)
)

// agentsCollector reads the agents from the store at scrape time, so a
// silent agent shows without anyone running `agents list`.
type agentsCollector struct{ st store.Store }

func (agentsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descAgents
	ch <- descLastSeen
}

func (c agentsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	agents, err := c.st.Agents(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descAgents, err)
		return
	}
	var active, revoked int
	for _, a := range agents {
		if a.Revoked() {
			revoked++
			continue
		}
		active++
		if !a.LastSeenAt.IsZero() {
			ch <- prometheus.MustNewConstMetric(descLastSeen, prometheus.GaugeValue, float64(a.LastSeenAt.UnixNano())/1e9, a.ID, a.Host)
		}
	}
	ch <- prometheus.MustNewConstMetric(descAgents, prometheus.GaugeValue, float64(active), "active")
	ch <- prometheus.MustNewConstMetric(descAgents, prometheus.GaugeValue, float64(revoked), "revoked")
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// ObserveEvaluation records one evaluation of kind (EvalFull,
// EvalIncremental or EvalReport) that took d, or its failure. serve's
// evaluator calls it, so that the collector's metrics show the evaluation
// work it does on its own and not only what readers ask for.
func (s *Server) ObserveEvaluation(kind string, d time.Duration, err error) {
	if err != nil {
		s.m.evalFailed.WithLabelValues(kind).Inc()
		return
	}
	s.m.evaluation.WithLabelValues(kind).Observe(d.Seconds())
}
