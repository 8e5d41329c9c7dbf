// Package daemon is the agent's main loop: it keeps each configured plugin
// running, asks it for full collections on a schedule and incremental ones
// when watched files change, commits what it sends to the spool, and keeps
// the shipper moving. It owns the agent's own evidence: host,
// plugin.health and scan.complete.
package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/annexa/annexa/agent/internal/config"
	"github.com/annexa/annexa/agent/internal/pluginhost"
	"github.com/annexa/annexa/agent/internal/ship"
	"github.com/annexa/annexa/agent/internal/spool"
	"github.com/annexa/annexa/agent/internal/watch"
	"github.com/annexa/annexa/evidence"
	"github.com/annexa/annexa/plugins/sdk"
	ingestv1 "github.com/annexa/annexa/proto/ingest/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// SpoolFile is the spool's name inside the state folder.
const SpoolFile = "spool.db"

// StatusFile is where the running daemon leaves its status for
// `annexa-agent status`.
const StatusFile = "status.json"

// Options are the parts of a run that do not come from the config file.
type Options struct {
	Version string
	Logger  *slog.Logger
	// Once runs one full collection per plugin, ships everything and
	// returns: for cron-style use, first runs and the demo. Its
	// collections stay throttled (read-rate limits, low I/O priority),
	// unlike `collect --once`: nobody waits for a cron job, and the host's
	// training jobs are still running.
	Once bool
}

// Daemon runs the agent until its context ends.
type Daemon struct {
	cfg     *config.Config
	opts    Options
	log     *slog.Logger
	host    string
	spool   *spool.Spool
	shipper *ship.Shipper
	sups    []*pluginhost.Supervisor
	paused  atomic.Bool
	creds   *Credentials
	metrics *metrics
	live    live
	// run names this process, so that each plugin's first full
	// collection after a start sends everything (sentAllAsThisAgent).
	runOnce sync.Once
	run     string
	trust   *trustSync
}

// Hostname is the name the agent reports: the config's host, else the
// kernel's.
func Hostname(cfg *config.Config) string {
	if cfg.Host != "" {
		return cfg.Host
	}
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "unknown"
	}
	return h
}

// Supervisors builds one supervisor per enabled plugin, refusing any
// plugin that nothing pins.
func Supervisors(cfg *config.Config, stateDir string, log *slog.Logger) ([]*pluginhost.Supervisor, error) {
	manifest, err := pluginhost.ReadManifest(cfg.PluginDir)
	if err != nil {
		return nil, err
	}
	var sups []*pluginhost.Supervisor
	var errs []error
	for _, p := range cfg.Plugins {
		if !p.Enabled {
			continue
		}
		sum, err := pluginhost.Pin(p.Name, p.Executable, p.SHA256, cfg.PluginDir, manifest)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		sups = append(sups, pluginhost.NewSupervisor(pluginhost.Spec{
			Name: p.Name, Executable: p.Executable, SHA256: sum,
			StateDir: filepath.Join(stateDir, "plugins", p.Name),
			Settings: p.Settings, Timeout: p.Timeout, MemoryLimit: p.MemoryLimit,
			Logger: log.With("plugin", p.Name),
		}))
	}
	return sups, errors.Join(errs...)
}

// New prepares a daemon; Run starts it.
func New(cfg *config.Config, opts Options) (*Daemon, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Daemon{cfg: cfg, opts: opts, log: opts.Logger, host: Hostname(cfg), trust: newTrustSync()}, nil
}

// Run works until ctx ends, then stops the plugins and gives the shipper a
// short while to flush what is spooled.
func (d *Daemon) Run(ctx context.Context) error {
	if err := os.MkdirAll(d.cfg.StateDir, 0o700); err != nil {
		return fmt.Errorf("create state folder: %w", err)
	}
	unlock, err := lockStateDir(d.cfg.StateDir)
	if err != nil {
		return err
	}
	defer unlock()

	creds, err := LoadCredentials(d.cfg.StateDir)
	if err != nil {
		return err
	}
	d.creds = creds
	sups, err := Supervisors(d.cfg, d.cfg.StateDir, d.log)
	if err != nil {
		return err
	}
	d.sups = sups

	sp, err := spool.Open(filepath.Join(d.cfg.StateDir, SpoolFile), spool.Options{MaxBytes: d.cfg.Spool.MaxBytes, Logger: d.log.With("component", "spool")})
	if err != nil {
		return err
	}
	d.spool = sp
	defer sp.Close()

	client, err := CollectorClient(d.cfg.StateDir, d.cfg.Collector.Timeout)
	if err != nil {
		return err
	}
	shipper, err := ship.New(ship.Config{
		URL: d.cfg.Collector.URL, AgentID: creds.AgentID, Credential: creds.Credential, HTTPClient: client,
		Timeout: d.cfg.Collector.Timeout, MaxBatchRecords: d.cfg.Shipping.BatchRecords,
		Heartbeat: d.cfg.Shipping.Heartbeat, MaxBackoff: d.cfg.Shipping.MaxBackoff,
		Status: d.agentStatus, Logger: d.log.With("component", "ship"), OnReply: d.trust.onReply,
	}, sp)
	if err != nil {
		return err
	}
	d.shipper = shipper

	d.metrics = newMetrics(d)
	if d.cfg.MetricsListen != "" {
		stopMetrics := d.serveMetrics(ctx, d.cfg.MetricsListen)
		defer stopMetrics()
	}

	if err := d.commitHost(ctx); err != nil {
		d.log.Warn("could not record host evidence", "err", err)
	}

	runCtx, stopAll := context.WithCancel(ctx)
	defer stopAll()
	var wg sync.WaitGroup
	shipDone := make(chan struct{})
	go func() {
		defer close(shipDone)
		if err := shipper.Run(runCtx); err != nil && !errors.Is(err, context.Canceled) {
			d.log.Error("shipper stopped", "err", err)
		}
	}()
	var plugins sync.WaitGroup
	for _, s := range d.sups {
		plugins.Add(1)
		go func() {
			defer plugins.Done()
			d.pluginLoop(runCtx, s)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		d.statusLoop(runCtx)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		d.renewLoop(runCtx, client)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		d.trustLoop(runCtx, client)
	}()
	d.log.Info("agent running", "host", d.host, "agent_id", creds.AgentID, "plugins", len(d.sups), "collector", d.cfg.Collector.URL, "once", d.opts.Once)

	flushFor := 10 * time.Second
	if d.opts.Once {
		plugins.Wait()
		flushFor = 2 * time.Minute
	} else {
		<-ctx.Done()
	}
	stopAll()
	plugins.Wait()
	wg.Wait()
	for _, s := range d.sups {
		s.Stop()
	}
	<-shipDone
	// A clean stop ships what it can so an upgrade or reboot leaves little
	// behind; what does not make it stays spooled for next time.
	flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flushFor)
	defer cancel()
	ferr := shipper.Flush(flushCtx)
	d.writeStatus(context.Background())
	switch {
	case errors.Is(ferr, ship.ErrCredentialRefused):
		// Revoked or forgotten: the evidence waits in the spool for a
		// new enrollment, and the stop does not wait for a collector
		// that will keep saying no.
		d.log.Warn("stopped with records still spooled: the collector refuses this agent's credential; they are shipped once it is enrolled again (annexa-agent enroll --force)", "err", ferr)
	case ferr != nil:
		d.log.Warn("stopped with records still spooled; they are shipped on the next start", "err", ferr)
	}
	if ferr != nil {
		if d.opts.Once {
			return fmt.Errorf("collected, but could not ship everything to %s: %w", d.cfg.Collector.URL, ferr)
		}
	}
	d.log.Info("agent stopped")
	if d.opts.Once {
		var failed []string
		for _, s := range d.sups {
			if h := s.Health(); h.State != pluginhost.StateOK {
				failed = append(failed, fmt.Sprintf("plugin %s: %s: %s", h.Plugin, h.State, h.Error))
			}
		}
		if len(failed) > 0 {
			return errors.New(strings.Join(failed, "\n"))
		}
	}
	return nil
}

// pluginLoop drives one plugin: a full collection at start and on its
// interval, incremental ones on file changes, retries after failures.
func (d *Daemon) pluginLoop(ctx context.Context, s *pluginhost.Supervisor) {
	log := d.log.With("plugin", s.Name())
	var (
		started  bool
		wcancel  context.CancelFunc = func() {}
		roots    []string
		interval = d.cfg.Watch.Reconcile
		changes  <-chan watch.Change
	)
	defer func() { wcancel() }()
	for _, p := range d.cfg.Plugins {
		if p.Name == s.Name() && p.Interval > 0 {
			interval = p.Interval
		}
	}
	full := time.NewTimer(0)
	defer full.Stop()
	for {
		var req *sdk.Request
		select {
		case <-ctx.Done():
			return
		case <-full.C:
			req = &sdk.Request{Full: true}
		case ch, ok := <-changes:
			if !ok {
				changes = nil
				continue
			}
			if ch.Rescan {
				req = &sdk.Request{Full: true}
			} else {
				req = &sdk.Request{Changed: ch.Paths}
			}
		}
		inst, err := s.Start(ctx)
		if err != nil {
			if herr := d.commitHealth(ctx, s); herr != nil {
				log.Warn("could not record plugin health", "err", herr)
			}
			log.Error("plugin not running", "err", err)
			if d.opts.Once {
				return
			}
			full.Reset(retryDelay(err))
			continue
		}
		if !started || !slices.Equal(inst.Roots(), roots) {
			started = true
			wcancel()
			roots = inst.Roots()
			if !d.opts.Once {
				changes, wcancel = d.startWatcher(ctx, roots, log)
			}
			if pi := inst.Info().DefaultInterval; pi > 0 && pi < interval && !d.pluginIntervalSet(s.Name()) {
				interval = pi
			}
		}
		err = d.collect(ctx, s, *req)
		if d.opts.Once && req.Full {
			if err != nil {
				log.Error("collection failed", "err", err)
			}
			return
		}
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, spool.ErrFull):
			log.Warn("spool is full; collection paused until the collector takes the backlog", "err", err)
			full.Reset(5 * time.Second)
			continue
		case err != nil:
			log.Error("collection failed", "full", req.Full, "err", err)
			full.Reset(retryDelay(err))
			continue
		}
		if req.Full {
			full.Reset(interval)
		}
	}
}

// startWatcher watches roots until the returned cancel is called. A
// watcher that cannot start leaves the plugin to its scheduled scans.
func (d *Daemon) startWatcher(ctx context.Context, roots []string, log *slog.Logger) (<-chan watch.Change, context.CancelFunc) {
	if len(roots) == 0 {
		return nil, func() {}
	}
	w, err := watch.New(roots, watch.Options{
		Debounce: d.cfg.Watch.Debounce, PollInterval: d.cfg.Watch.PollInterval,
		Shares: len(d.sups), Logger: log.With("component", "watch"),
	})
	if err != nil {
		log.Error("cannot watch the plugin's roots; relying on scheduled scans", "err", err)
		return nil, func() {}
	}
	wctx, cancel := context.WithCancel(ctx)
	go func() {
		if err := w.Run(wctx); err != nil && !errors.Is(err, context.Canceled) {
			log.Error("watcher stopped; relying on scheduled scans", "err", err)
		}
	}()
	// The full collection that follows must start after the watches are
	// in place, or a change in between would wait for the next full scan.
	select {
	case <-w.Ready():
	case <-ctx.Done():
	case <-time.After(time.Minute):
		log.Warn("watches still being set up after a minute; collecting anyway")
	}
	return w.Changes(), cancel
}

func (d *Daemon) pluginIntervalSet(name string) bool {
	for _, p := range d.cfg.Plugins {
		if p.Name == name {
			return p.Interval > 0
		}
	}
	return false
}

// retryDelay waits out a plugin's backoff, or a short while otherwise.
func retryDelay(err error) time.Duration {
	var d time.Duration = 5 * time.Second
	if errors.Is(err, pluginhost.ErrBackingOff) {
		d = 2 * time.Second
	}
	return d
}

// collect runs one collection and commits it group by group: a group's
// records and its checkpoint land in one spool transaction.
func (d *Daemon) collect(ctx context.Context, s *pluginhost.Supervisor, req sdk.Request) (err error) {
	name := s.Name()
	cp, err := d.spool.Checkpoint(ctx, name)
	if err != nil {
		return err
	}
	req.Checkpoint = cp
	// A full collection may confirm subjects as unchanged instead of
	// resending them; scan.complete then retires only what was not seen
	// since the plugin last sent everything (see ScanCompleteRecord).
	if req.Full {
		if req.AcceptsUnchanged, err = d.sentAllAsThisAgent(ctx, name); err != nil {
			return err
		}
	}
	var unchanged *sdk.Unchanged
	started := time.Now().UTC()
	defer func() { d.metrics.observeCollection(name, req.Full, started, err) }()
	work := d.metrics.work(name)
	d.live.begin(name, req.Full, started)
	defer d.live.end(name)
	err = s.Collect(ctx, req, func(g sdk.Group) error {
		work.observe(g.Progress)
		d.live.update(name, g.Progress)
		if g.Unchanged != nil {
			// Read before the emptiness test: the last group may carry
			// nothing else.
			unchanged = g.Unchanged
		}
		if g.Empty() {
			return nil // progress only: nothing to commit
		}
		for i := range g.Records {
			g.Records[i].Host = d.host
			g.Records[i].Plugin = name
		}
		var gcp []byte
		if g.HasCheckpoint {
			gcp = g.Checkpoint
			if gcp == nil {
				gcp = []byte{}
			}
		}
		if err := d.spool.Commit(ctx, name, g.Records, gcp); err != nil {
			if errors.Is(err, spool.ErrFull) {
				d.paused.Store(true)
			}
			return err
		}
		d.paused.Store(false)
		d.metrics.records.WithLabelValues(name).Add(float64(len(g.Records)))
		d.shipper.Notify()
		return nil
	})
	if err == nil && req.Full {
		err = d.commitScanComplete(ctx, s, started, unchanged)
		if err == nil && !req.AcceptsUnchanged {
			err = d.spool.SetMeta(ctx, sentAllKey(name), d.sentAllAs())
		}
	}
	if herr := d.commitHealth(ctx, s); herr != nil && err == nil {
		err = herr
	}
	return err
}

// sentAllKey names the spool meta entry holding the agent ID and process
// (sentAllAs) under which a plugin's last full collection that was not
// allowed to confirm unchanged subjects, so sent every one, was committed.
func sentAllKey(plugin string) string { return "sent_all_as:" + plugin }

// sentAllAs is this agent ID and process, as sentAllKey stores them.
func (d *Daemon) sentAllAs() string {
	d.runOnce.Do(func() {
		var b [8]byte
		_, _ = rand.Read(b[:])
		d.run = hex.EncodeToString(b[:])
	})
	return d.agentID() + " " + d.run
}

func (d *Daemon) agentID() string {
	if d.creds == nil {
		return ""
	}
	return d.creds.AgentID
}

// sentAllAsThisAgent says whether a plugin's full collection may confirm
// unchanged subjects. A plugin's checkpoint proves what this spool
// committed, not what the collector holds for this agent ID: after
// `enroll --force` the collector knows none of the new ID's subjects, so
// the first full collection under it must send everything. The same goes
// for the first one after the agent starts, so that restarting agents
// refills a collector restored from a backup at once (docs/operations.md).
// Checkpoints are kept, so stream plugins (logs) neither resend nor lose
// events.
func (d *Daemon) sentAllAsThisAgent(ctx context.Context, plugin string) (bool, error) {
	id := d.agentID()
	if id == "" {
		return false, nil
	}
	v, err := d.spool.GetMeta(ctx, sentAllKey(plugin))
	if err != nil {
		return false, err
	}
	return v == d.sentAllAs(), nil
}

// ScanComplete is the record that closes a full collection, so the
// collector can retire subjects of this plugin that were not seen again.
func ScanComplete(host, plugin string, kinds, roots []string, started, now time.Time) evidence.Record {
	return ScanCompleteRecord(host, plugin, kinds, roots, started, nil, now)
}

// ScanCompleteRecord is ScanComplete for a collection whose plugin may
// have confirmed subjects as unchanged instead of resending them. Those
// were last sent no earlier than u.Since, so started_at, the time before
// which the collector retires unseen subjects, moves back to u.Since: a
// subject neither sent since then nor confirmed is still retired, because
// the plugin promises to have sent everything at u.Since and a delete for
// each subject gone after. collection_started_at keeps the real start.
func ScanCompleteRecord(host, plugin string, kinds, roots []string, started time.Time, u *sdk.Unchanged, now time.Time) evidence.Record {
	var stateKinds []string
	for _, k := range kinds {
		if k != evidence.KindPluginHealth && k != evidence.KindScanComplete {
			stateKinds = append(stateKinds, k)
		}
	}
	cutoff := started
	a := map[string]any{
		"plugin": plugin, "kinds": stateKinds, "roots": roots,
		"collection_started_at": started.UTC().Format(time.RFC3339Nano),
	}
	if u != nil {
		if u.Since.Before(cutoff) {
			cutoff = u.Since
		}
		a["unchanged"] = u.Subjects
	}
	a["started_at"] = cutoff.UTC().Format(time.RFC3339Nano)
	attrs, _ := json.Marshal(a)
	return evidence.Record{
		Kind: evidence.KindScanComplete, Schema: 1, Subject: "scan:" + plugin, Op: evidence.OpUpsert,
		ObservedAt: now.UTC(), Attributes: attrs, Host: host, Plugin: plugin,
	}
}

func (d *Daemon) commitScanComplete(ctx context.Context, s *pluginhost.Supervisor, started time.Time, u *sdk.Unchanged) error {
	inst, err := s.Start(ctx)
	if err != nil {
		return err
	}
	rec := ScanCompleteRecord(d.host, s.Name(), inst.Info().Kinds, inst.Roots(), started, u, time.Now())
	if err := d.spool.Commit(ctx, s.Name(), []evidence.Record{rec}, nil); err != nil {
		return err
	}
	d.shipper.Notify()
	return nil
}

// HealthRecord turns a plugin's health into evidence.
func HealthRecord(host string, h pluginhost.Health) evidence.Record {
	attrs, _ := json.Marshal(h)
	return evidence.Record{
		Kind: evidence.KindPluginHealth, Schema: 1, Subject: "plugin:" + h.Plugin, Op: evidence.OpUpsert,
		ObservedAt: h.At.UTC(), Attributes: attrs, Host: host, Plugin: h.Plugin,
	}
}

func (d *Daemon) commitHealth(ctx context.Context, s *pluginhost.Supervisor) error {
	rec := HealthRecord(d.host, s.Health())
	if err := d.spool.Commit(ctx, s.Name(), []evidence.Record{rec}, nil); err != nil {
		return fmt.Errorf("record plugin health: %w", err)
	}
	d.shipper.Notify()
	return nil
}

// HostRecord describes the machine the agent runs on.
func HostRecord(host, version string) evidence.Record {
	attrs := map[string]any{
		"hostname": host, "os": runtime.GOOS, "arch": runtime.GOARCH,
		"agent_version": version, "cpus": runtime.NumCPU(),
	}
	if b, err := os.ReadFile("/etc/machine-id"); err == nil {
		attrs["machine_id"] = string(trimNL(b))
	}
	var u syscall.Utsname
	if syscall.Uname(&u) == nil {
		attrs["kernel"] = utsString(u.Release[:])
	}
	b, _ := json.Marshal(attrs)
	return evidence.Record{
		Kind: evidence.KindHost, Schema: 1, Subject: "host:" + host, Op: evidence.OpUpsert,
		ObservedAt: time.Now().UTC(), Attributes: b, Host: host, Plugin: "agent",
	}
}

func (d *Daemon) commitHost(ctx context.Context) error {
	return d.spool.Commit(ctx, "agent", []evidence.Record{HostRecord(d.host, d.opts.Version)}, nil)
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

func utsString(a []int8) string {
	b := make([]byte, 0, len(a))
	for _, c := range a {
		if c == 0 {
			break
		}
		b = append(b, byte(c))
	}
	return string(b)
}

// agentStatus travels with every batch and heartbeat.
func (d *Daemon) agentStatus(ctx context.Context) *ingestv1.AgentStatus {
	st := &ingestv1.AgentStatus{Host: d.host, Version: d.opts.Version, SentAt: timestamppb.Now(), CollectionPaused: d.paused.Load(), TrustedCas: d.trustedCAs()}
	if stats, err := d.spool.Stats(ctx); err == nil {
		st.SpoolRecords = uint64(stats.Records)
		st.SpoolBytes = uint64(stats.Bytes)
		st.QuarantinedRecords = uint64(stats.Quarantined)
		if !stats.OldestUnsent.IsZero() {
			st.OldestUnsentSeconds = int64(time.Since(stats.OldestUnsent).Seconds())
		}
		st.CollectionPaused = st.CollectionPaused || stats.Full
	}
	for _, s := range d.sups {
		h := s.Health()
		st.Plugins = append(st.Plugins, &ingestv1.PluginStatus{Name: h.Plugin, State: h.State, Error: h.Error})
	}
	return st
}

// Status is what `annexa-agent status` shows.
type Status struct {
	AgentID   string              `json:"agent_id"`
	Host      string              `json:"host"`
	Version   string              `json:"version"`
	Pid       int                 `json:"pid"`
	UpdatedAt time.Time           `json:"updated_at"`
	Paused    bool                `json:"collection_paused"`
	Shipper   ship.Health         `json:"shipper"`
	Plugins   []pluginhost.Health `json:"plugins"`
	// Collecting lists the collections running when the file was written.
	Collecting []Collecting `json:"collecting,omitempty"`
}

func (d *Daemon) writeStatus(ctx context.Context) {
	st := Status{Host: d.host, Version: d.opts.Version, Pid: os.Getpid(), UpdatedAt: time.Now().UTC(), Paused: d.paused.Load()}
	if d.creds != nil {
		st.AgentID = d.creds.AgentID
	}
	if d.shipper != nil {
		st.Shipper = d.shipper.Health()
	}
	for _, s := range d.sups {
		st.Plugins = append(st.Plugins, s.Health())
	}
	st.Collecting = d.live.list()
	b, _ := json.MarshalIndent(st, "", "  ")
	if err := writeFileAtomic(filepath.Join(d.cfg.StateDir, StatusFile), b, 0o640); err != nil {
		d.log.Warn("could not write status file", "err", err)
	}
}

func (d *Daemon) statusLoop(ctx context.Context) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		d.writeStatus(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Running reports whether an agent holds the state folder's lock now.
//
// It only opens an existing lock file, read-only: creating it as root
// (`sudo annexa-agent status`) would leave a file the service user cannot
// open, and the agent could not start again.
func Running(dir string) bool {
	f, err := os.Open(filepath.Join(dir, "agent.lock"))
	if err != nil {
		return false
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return true
	}
	return false
}

var errLocked = errors.New("state folder is locked")

// lockStateDir keeps a second agent from sharing the spool and running a
// second instance of every plugin.
func lockStateDir(dir string) (func(), error) {
	path := filepath.Join(dir, "agent.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("another annexa-agent is already running with state folder %s: %w", dir, errLocked)
	}
	return func() { f.Close() }, nil
}
