package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/annexa/annexa/agent/internal/pluginhost"
	"github.com/annexa/annexa/plugins/sdk"
)

// metrics are the agent's Prometheus series. Gauges of the spool, the
// shipper and the plugins are read at scrape time from the parts that own
// them, so they cannot drift from what `annexa-agent status` says.
type metrics struct {
	reg        *prometheus.Registry
	collection *prometheus.HistogramVec
	records    *prometheus.CounterVec
	// files and bytes add up the plugins' progress reports.
	files *prometheus.CounterVec
	bytes *prometheus.CounterVec
}

var (
	descSpoolRecords = prometheus.NewDesc("annexa_agent_spool_records", "Records waiting in the spool to be shipped.", nil, nil)
	descSpoolBytes   = prometheus.NewDesc("annexa_agent_spool_bytes", "Bytes of records waiting in the spool.", nil, nil)
	descQuarantined  = prometheus.NewDesc("annexa_agent_spool_quarantined_records", "Records the collector refused as invalid, kept aside in the spool.", nil, nil)
	descSpoolFull    = prometheus.NewDesc("annexa_agent_spool_full", "1 while the spool is at its cap and collection is paused.", nil, nil)
	descOldest       = prometheus.NewDesc("annexa_agent_oldest_unsent_seconds", "Age of the oldest record not yet shipped; 0 when the spool is empty.", nil, nil)
	descShipped      = prometheus.NewDesc("annexa_agent_shipped_batches_total", "Batches the collector stored.", nil, nil)
	descShippedRecs  = prometheus.NewDesc("annexa_agent_shipped_records_total", "Records the collector stored.", nil, nil)
	descHeartbeats   = prometheus.NewDesc("annexa_agent_heartbeats_total", "Heartbeats the collector answered.", nil, nil)
	descRejected     = prometheus.NewDesc("annexa_agent_rejected_batches_total", "Batches the collector refused as invalid or too large (quarantined).", nil, nil)
	descRetries      = prometheus.NewDesc("annexa_agent_ship_retries_total", "Failed shipping attempts that will be retried.", nil, nil)
	descLastSuccess  = prometheus.NewDesc("annexa_agent_last_shipment_timestamp_seconds", "Unix time of the last answer from the collector.", nil, nil)
	descRestarts     = prometheus.NewDesc("annexa_agent_plugin_restarts_total", "Times a plugin process was started again after the first.", []string{"plugin"}, nil)
	descPluginState  = prometheus.NewDesc("annexa_agent_plugin_state", "1 for the plugin's current state (ok, degraded, crashed, timed_out, ...).", []string{"plugin", "state"}, nil)
)

func newMetrics(d *Daemon) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		collection: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "annexa_agent_plugin_collection_duration_seconds",
			Help:    "Duration of plugin collections by plugin, mode (full, incremental) and result (ok, error).",
			Buckets: prometheus.ExponentialBuckets(0.01, 3, 12),
		}, []string{"plugin", "mode", "result"}),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "annexa_agent_collected_records_total",
			Help: "Evidence records committed to the spool, by plugin.",
		}, []string{"plugin"}),
	}
	m.files = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "annexa_agent_files_scanned_total",
		Help: "Files plugins examined in their collections, those found unchanged in a cache included, by plugin (from the plugins' progress reports).",
	}, []string{"plugin"})
	m.bytes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "annexa_agent_bytes_hashed_total",
		Help: "Bytes plugins read and digested, by plugin (from the plugins' progress reports).",
	}, []string{"plugin"})
	// Every plugin's series exist from the start, so a rate over them is
	// defined before its first report (and stays 0 for one that sends none).
	for _, s := range d.sups {
		m.files.WithLabelValues(s.Name())
		m.bytes.WithLabelValues(s.Name())
	}
	m.reg.MustRegister(m.collection, m.records, m.files, m.bytes, stateCollector{d},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) observeCollection(plugin string, full bool, started time.Time, err error) {
	mode, result := "incremental", "ok"
	if full {
		mode = "full"
	}
	if err != nil {
		result = "error"
	}
	m.collection.WithLabelValues(plugin, mode, result).Observe(time.Since(started).Seconds())
}

// workCounter turns one collection's progress reports, which are
// cumulative, into increments of the files and bytes counters.
type workCounter struct {
	files, bytes prometheus.Counter
	last         sdk.ProgressCounts
}

func (m *metrics) work(plugin string) *workCounter {
	return &workCounter{files: m.files.WithLabelValues(plugin), bytes: m.bytes.WithLabelValues(plugin)}
}

// observe adds what p reports beyond the last report. A count that goes
// back (a plugin's bug) adds nothing until it passes its old high.
func (w *workCounter) observe(p *sdk.ProgressCounts) {
	if p == nil {
		return
	}
	if p.FilesDone > w.last.FilesDone {
		w.files.Add(float64(p.FilesDone - w.last.FilesDone))
		w.last.FilesDone = p.FilesDone
	}
	if p.BytesHashed > w.last.BytesHashed {
		w.bytes.Add(float64(p.BytesHashed - w.last.BytesHashed))
		w.last.BytesHashed = p.BytesHashed
	}
}

// stateCollector reads the daemon's parts at scrape time.
type stateCollector struct{ d *Daemon }

func (stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSpoolRecords, descSpoolBytes, descQuarantined, descSpoolFull, descOldest,
		descShipped, descShippedRecs, descHeartbeats, descRejected, descRetries, descLastSuccess, descRestarts, descPluginState} {
		ch <- d
	}
}

func (c stateCollector) Collect(ch chan<- prometheus.Metric) {
	d := c.d
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if st, err := d.spool.Stats(ctx); err == nil {
		ch <- prometheus.MustNewConstMetric(descSpoolRecords, prometheus.GaugeValue, float64(st.Records))
		ch <- prometheus.MustNewConstMetric(descSpoolBytes, prometheus.GaugeValue, float64(st.Bytes))
		ch <- prometheus.MustNewConstMetric(descQuarantined, prometheus.GaugeValue, float64(st.Quarantined))
		ch <- prometheus.MustNewConstMetric(descSpoolFull, prometheus.GaugeValue, b2f(st.Full))
		age := 0.0
		if !st.OldestUnsent.IsZero() {
			age = time.Since(st.OldestUnsent).Seconds()
		}
		ch <- prometheus.MustNewConstMetric(descOldest, prometheus.GaugeValue, age)
	}
	k := d.shipper.Counters()
	ch <- prometheus.MustNewConstMetric(descShipped, prometheus.CounterValue, float64(k.Batches))
	ch <- prometheus.MustNewConstMetric(descShippedRecs, prometheus.CounterValue, float64(k.Records))
	ch <- prometheus.MustNewConstMetric(descHeartbeats, prometheus.CounterValue, float64(k.Heartbeats))
	ch <- prometheus.MustNewConstMetric(descRejected, prometheus.CounterValue, float64(k.Rejected))
	ch <- prometheus.MustNewConstMetric(descRetries, prometheus.CounterValue, float64(k.Retries))
	if h := d.shipper.Health(); !h.LastSuccess.IsZero() {
		ch <- prometheus.MustNewConstMetric(descLastSuccess, prometheus.GaugeValue, float64(h.LastSuccess.UnixNano())/1e9)
	}
	for _, s := range d.sups {
		h := s.Health()
		ch <- prometheus.MustNewConstMetric(descRestarts, prometheus.CounterValue, float64(h.Restarts), h.Plugin)
		state := h.State
		if state == "" {
			state = "unknown"
		}
		ch <- prometheus.MustNewConstMetric(descPluginState, prometheus.GaugeValue, 1, h.Plugin, state)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// health is what /healthz answers: 200 while evidence can flow, 503 when
// the spool is full or the collector refuses this agent's credential.
type health struct {
	Status  string              `json:"status"`
	Reasons []string            `json:"reasons,omitempty"`
	Plugins []pluginhost.Health `json:"plugins"`
}

func (d *Daemon) healthz(w http.ResponseWriter, r *http.Request) {
	h := health{Status: "ok", Plugins: []pluginhost.Health{}}
	if d.paused.Load() {
		h.Reasons = append(h.Reasons, "the spool is full: collection is paused until the collector takes the backlog")
	}
	if sh := d.shipper.Health(); sh.CredentialRefused {
		h.Reasons = append(h.Reasons, "the collector refuses this agent's credential; enroll it again")
	}
	for _, s := range d.sups {
		h.Plugins = append(h.Plugins, s.Health())
	}
	code := http.StatusOK
	if len(h.Reasons) > 0 {
		h.Status, code = "failing", http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(h)
}

// serveMetrics listens on addr for /metrics and /healthz until ctx ends.
// A busy port costs the metrics, never the evidence: the error is logged
// and the agent carries on.
func (d *Daemon) serveMetrics(ctx context.Context, addr string) (stop func()) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		d.log.Error("metrics endpoint disabled", "err", fmt.Errorf("listen on metrics_listen %s: %w", addr, err))
		return func() {}
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(d.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", d.healthz)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	d.log.Info("metrics and health endpoint listening", "addr", ln.Addr().String())
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("metrics endpoint stopped", "err", err)
		}
	}()
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}
}
