package web

import (
	"cmp"
	"context"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/annexa/annexa/collector/internal/controls"
	"github.com/annexa/annexa/collector/internal/report"
	"github.com/annexa/annexa/collector/internal/store"
)

// evaluation is one judgement of the whole fleet with the indexes the
// pages need, built once so that a page costs a lookup, not a scan.
type evaluation struct {
	rep  *report.Report
	at   time.Time
	took time.Duration

	controls map[string]*controls.Result // by "framework/id"
	themes   []string
	hosts    map[string]*report.Host // by agent id
	// current holds every live record by (agent, kind, subject).
	current map[recordKey]*store.Current
	// byAgent lists each host's live records, sorted by kind and subject.
	byAgent map[string][]*store.Current
	// findings are failing subjects with the check and controls, by
	// agent and by (agent, subject).
	findingsByAgent   map[string][]finding
	findingsBySubject map[recordKey][]finding
	topFailing        []failingCheck
	notReporting      []*report.Host
	// training counts models by what lineage says of their training data
	// (the assets page's trained filter values).
	training map[string]int
}

type recordKey struct{ agent, kind, subject string }

// finding is one subject a check judged failing.
type finding struct {
	Check    *controls.CheckResult
	Controls []string
	Subject  controls.Subject
	Kind     string
}

// failingCheck is one check with failing subjects, across controls.
type failingCheck struct {
	Check    *controls.CheckResult
	Controls []string
	Hosts    int
}

// evaluator keeps the latest evaluation and makes a new one when a page
// finds it older than MaxAge, one at a time, while the old one is served.
type evaluator struct {
	store store.Store
	log   *slog.Logger
	opts  Options

	mu      sync.Mutex
	cur     *evaluation
	running chan struct{} // closed when the evaluation in flight ends
	lastErr error
	// cache keeps decoded attributes between passes; passes run one at a
	// time (running), so it is never shared by two.
	cache *report.DecodeCache
}

func newEvaluator(st store.Store, log *slog.Logger, opts Options) *evaluator {
	return &evaluator{store: st, log: log, opts: opts, cache: new(report.DecodeCache)}
}

// get returns an evaluation no older than MaxAge when one can be had
// without waiting, else the last one (and starts a new one); it waits only
// when there is none yet.
func (e *evaluator) get(ctx context.Context) (*evaluation, error) {
	e.mu.Lock()
	cur := e.cur
	// A slow evaluation is not redone more often than every 5× its time,
	// so a big fleet does not keep a core busy.
	maxAge := e.opts.MaxAge
	if cur != nil {
		maxAge = max(maxAge, 5*cur.took)
	}
	stale := cur == nil || e.opts.Now().Sub(cur.at) > maxAge
	var done chan struct{}
	if stale {
		done = e.startLocked()
	}
	e.mu.Unlock()
	if cur != nil {
		return cur, nil
	}
	select {
	case <-done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cur == nil {
		return nil, e.lastErr
	}
	return e.cur, nil
}

// refresh evaluates now and waits for it. An evaluation already running
// may have read the store before the caller's change (a decision just
// recorded), so refresh waits for it to end and starts one after it.
func (e *evaluator) refresh(ctx context.Context) error {
	e.mu.Lock()
	if prev := e.running; prev != nil {
		e.mu.Unlock()
		select {
		case <-prev:
		case <-ctx.Done():
			return ctx.Err()
		}
		e.mu.Lock()
	}
	// Any evaluation running now started after prev ended, so after the
	// caller's change; joining it is enough.
	done := e.startLocked()
	e.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.lastErr
}

func (e *evaluator) startLocked() chan struct{} {
	if e.running != nil {
		return e.running
	}
	done := make(chan struct{})
	e.running = done
	go func() {
		// Not the request's context: the evaluation outlives the page
		// that asked for it, and the next page uses it.
		ev, err := e.evaluate(context.Background())
		e.mu.Lock()
		if err == nil {
			e.cur = ev
		} else {
			e.log.Error("evaluate controls", "err", err)
		}
		e.lastErr = err
		e.running = nil
		e.mu.Unlock()
		close(done)
	}()
	return done
}

func (e *evaluator) evaluate(ctx context.Context) (*evaluation, error) {
	start := time.Now()
	now := e.opts.Now()
	// The snapshot is read twice (once by Assemble): the pages need the
	// live records' plugins and attributes, which the report leaves out.
	// Recording passes for trends is serve's evaluator's job, not this one.
	var rep *report.Report
	var snap *store.Snapshot
	var err error
	if e.opts.Kept != nil {
		rep, snap, err = e.opts.Kept.Report(ctx, now)
	} else {
		rep, err = report.Assemble(ctx, e.store, now, report.Options{Freshness: e.opts.Freshness, Engine: e.opts.Engine, Cache: e.cache})
		if err == nil {
			snap, err = e.store.Snapshot(ctx)
		}
	}
	if err != nil {
		return nil, err
	}
	ev := index(rep, snap, now, e.opts.Freshness)
	ev.took = time.Since(start)
	e.log.Debug("evaluated", "controls", len(rep.Controls), "hosts", len(rep.Hosts), "duration", ev.took)
	return ev, nil
}

func index(rep *report.Report, snap *store.Snapshot, now time.Time, freshness time.Duration) *evaluation {
	ev := &evaluation{rep: rep, at: rep.GeneratedAt,
		controls: map[string]*controls.Result{}, hosts: map[string]*report.Host{},
		current: make(map[recordKey]*store.Current, len(snap.Current)), byAgent: map[string][]*store.Current{},
		findingsByAgent: map[string][]finding{}, findingsBySubject: map[recordKey][]finding{}}
	// A revoked agent's records are history, as in the report: its host
	// page lists no assets and its assets have no pages of their own.
	revoked := map[string]bool{}
	for i := range rep.Hosts {
		if rep.Hosts[i].RevokedAt != nil {
			revoked[rep.Hosts[i].AgentID] = true
		}
	}
	for i := range snap.Current {
		c := &snap.Current[i]
		if revoked[c.AgentID] {
			continue
		}
		ev.current[recordKey{c.AgentID, c.Kind, c.Subject}] = c
		ev.byAgent[c.AgentID] = append(ev.byAgent[c.AgentID], c)
	}
	ev.training = map[string]int{}
	if g := rep.Lineage; g != nil {
		for i := range g.Models {
			ev.training[trainedOf(&g.Models[i])]++
		}
		ev.training["undocumented"] = g.ModelsWithoutDatasets
	}
	for i := range rep.Hosts {
		h := &rep.Hosts[i]
		ev.hosts[h.AgentID] = h
		if h.RevokedAt == nil && (h.LastSeenAt == nil || now.Sub(*h.LastSeenAt) > freshness) {
			ev.notReporting = append(ev.notReporting, h)
		}
	}
	slices.SortFunc(ev.notReporting, func(a, b *report.Host) int {
		return cmp.Or(cmpTimePtr(a.LastSeenAt, b.LastSeenAt), cmp.Compare(a.Host, b.Host))
	})
	themes := map[string]bool{}
	type checkAgg struct {
		fc    *failingCheck
		hosts map[string]bool
	}
	byCheck := map[string]*checkAgg{}
	seen := map[string]bool{} // (check, agent, subject) counted once across controls
	for i := range rep.Controls {
		c := &rep.Controls[i]
		ev.controls[c.ControlID] = c
		themes[c.Theme] = true
		for j := range c.Checks {
			ch := &c.Checks[j]
			if ch.Status != controls.Noncompliant || len(ch.Failing) == 0 {
				continue
			}
			agg := byCheck[ch.ID]
			if agg == nil {
				agg = &checkAgg{fc: &failingCheck{Check: ch}, hosts: map[string]bool{}}
				byCheck[ch.ID] = agg
			}
			agg.fc.Controls = append(agg.fc.Controls, c.ControlID)
			for _, f := range ch.Failing {
				agg.hosts[f.AgentID] = true
				k := ch.ID + "\x00" + f.AgentID + "\x00" + f.Subject
				if seen[k] {
					continue
				}
				seen[k] = true
				fd := finding{Check: ch, Subject: f, Kind: kindOf(ev, f)}
				ev.findingsByAgent[f.AgentID] = append(ev.findingsByAgent[f.AgentID], fd)
				rk := recordKey{f.AgentID, fd.Kind, f.Subject}
				ev.findingsBySubject[rk] = append(ev.findingsBySubject[rk], fd)
			}
		}
	}
	// Findings name every control their check belongs to.
	for _, agg := range byCheck {
		agg.fc.Hosts = len(agg.hosts)
		ev.topFailing = append(ev.topFailing, *agg.fc)
	}
	fill := func(fs []finding) {
		for i := range fs {
			fs[i].Controls = byCheck[fs[i].Check.ID].fc.Controls
		}
	}
	for _, fs := range ev.findingsByAgent {
		fill(fs)
	}
	for _, fs := range ev.findingsBySubject {
		fill(fs)
	}
	slices.SortFunc(ev.topFailing, func(a, b failingCheck) int {
		return cmp.Or(cmp.Compare(severityRank(b.Check.Severity), severityRank(a.Check.Severity)),
			cmp.Compare(len(b.Check.Failing), len(a.Check.Failing)), cmp.Compare(a.Check.ID, b.Check.ID))
	})
	ev.themes = slices.Sorted(maps.Keys(themes))
	return ev
}

// kindOf finds the evidence kind of a failing subject: the check result
// does not carry it, and a subject's prefix usually names it.
func kindOf(ev *evaluation, f controls.Subject) string {
	for _, k := range []string{"dataset", "model", "encryption.volume", "encryption.endpoint", "host", "access.summary", "plugin.health"} {
		if _, ok := ev.current[recordKey{f.AgentID, k, f.Subject}]; ok {
			return k
		}
	}
	for _, c := range ev.byAgent[f.AgentID] {
		if c.Subject == f.Subject {
			return c.Kind
		}
	}
	return ""
}

func severityRank(s string) int {
	return slices.Index([]string{"low", "medium", "high", "critical"}, s)
}

func cmpTimePtr(a, b *time.Time) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	return a.Compare(*b)
}
