package controls

import (
	"cmp"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"
)

// State is an evaluation kept between updates, so that a batch of evidence
// costs what it touches instead of a pass over the fleet.
//
// It keeps every live record, each host's view of itself per freshness
// window (the CEL `host` object), and for every check the verdict of every
// subject (one byte per record and check), summed per host and per check.
// An Update re-judges only what it can have changed:
//
//   - the records it upserts, for every subject check of their kind;
//   - on each host it touches, the host's object is rebuilt; subject checks
//     whose applies or assert read a field of `host` that changed judge the
//     host's records again, the others only move the host's sums between
//     trusted and untrusted when the plugins' trust changed;
//   - host checks judge the touched hosts again, fleet checks run again;
//   - when the clock moves: hosts whose evidence or last contact crossed the
//     freshness limit since the last update (each host keeps its next
//     deadline), checks whose applies or assert read `now` (every subject of
//     their kind; only assert when applies does not read it), and checks
//     whose exceptions started or stopped applying.
//
// Control statuses are kept current by every Update; the lists of a full
// Result (failing subjects with observed values, evidence) are built on
// demand by Results, from the subjects whose verdict puts them on a list.
//
// Results equals Engine.Evaluate over the same agents, records (in the
// store's order: agent, kind, subject), decisions and time; the property
// test in incremental_test.go holds it to that after random updates.
// A State is not safe for concurrent use.
type State struct {
	e         *Engine
	freshness time.Duration // for checks without their own
	now       time.Time

	exceptions   []Exception
	attestations []Attestation
	soa          []Applicability
	gov          *governance
	govDirty     bool

	hosts    map[string]*sHost
	agents   []*sHost // hosts with an agent entry, in input order
	order    []*sHost // judged hosts in the engine's order: agents, then hosts known only from records by id
	sorted   []*sHost // judged hosts by agent id: the order of records
	reorder  bool
	windows  []time.Duration
	checks   []*sCheck
	byKind   map[string][]*sCheck // subject checks by kind; a check's kc is its index here
	statuses []Status             // by control, after decisions
	results  []Result             // built by Results; nil when stale
}

// RecordKey names one record of current state.
type RecordKey struct{ AgentID, Kind, Subject string }

// Delta is what changed in the inputs of a State.
type Delta struct {
	// Agents are new or changed agents, matched by ID; a new one is
	// placed after the known ones (the store lists agents by enrollment).
	Agents []Agent
	// Upserts are live records, new or changed.
	Upserts []Record
	// Deletes are records no longer live. They apply before Upserts: a
	// record in both is live.
	Deletes []RecordKey
}

// Empty reports whether d changes nothing.
func (d *Delta) Empty() bool { return len(d.Agents)+len(d.Upserts)+len(d.Deletes) == 0 }

type recKey struct{ kind, subject string }

type sRec struct {
	Record
	out []verdict // by subject check of the record's kind (State.byKind)
}

type sHost struct {
	id      string
	agent   Agent
	known   bool // has an agent entry
	live    bool // judged: not revoked, and known or holding records
	recs    map[recKey]*sRec
	byKind  map[string][]*sRec // sorted by subject
	win     []*hostState       // by window, while live
	next    time.Time          // earliest freshness deadline not passed yet; zero for none
	hc      []hostCount        // by check, subject scope
	hv      []hostVerdict      // by check, host scope
	touched *touch
}

// hostCount is one host's share of a subject check.
type hostCount struct {
	n       [vExcepted + 1]int32 // records by verdict
	trusted bool
	sick    bool
	kindRep int32 // records of the check's kind while the host reports
	in      bool  // added to the check's sums
}

// hostVerdict is one host's share of a host check.
type hostVerdict struct {
	v      verdict
	sick   bool
	judged bool // the host reports, so the check judged it
	in     bool
}

type touch struct {
	h       *sHost
	all     bool // judge every record of the host again
	added   []*sRec
	removed []*sRec
	oldWin  []*hostState
	changed []map[string]bool // by window: fields of the host object that changed; nil with all
}

type sCheck struct {
	*check
	idx, win, kc int
	// Subject scope: records by verdict on judged hosts, passes and
	// failures on trusted hosts, hosts trusted and sick, and records of
	// the kind on reporting hosts.
	n                 [vExcepted + 1]int
	tPass, tFail      int
	trustedHosts      int
	sickHosts         int
	kindRep           int
	hostDeps, nowDeps bool
	// Host scope.
	reporting, applicable, passing, fail, errored int
	// Fleet scope: the whole result, run on every update.
	res    *CheckResult
	status Status
}

// NewState evaluates in and keeps what later updates need. in.Records
// should come in the store's order (agent, kind, subject) for Results to
// list subjects in the order Evaluate does.
func (e *Engine) NewState(in Input) *State {
	s := &State{e: e, freshness: cmp.Or(in.Options.Freshness, DefaultFreshness), now: in.Now,
		hosts: map[string]*sHost{}, byKind: map[string][]*sCheck{}}
	seen := map[time.Duration]int{}
	for i, c := range e.checks {
		f := cmp.Or(c.freshness, s.freshness)
		w, ok := seen[f]
		if !ok {
			w = len(s.windows)
			seen[f] = w
			s.windows = append(s.windows, f)
		}
		sc := &sCheck{check: c, idx: i, win: w, hostDeps: c.deps.hostAll || len(c.deps.hostFields) > 0,
			nowDeps: c.deps.appliesNow || c.deps.assertNow}
		if c.Scope == ScopeSubject {
			sc.kc = len(s.byKind[c.Kind])
			s.byKind[c.Kind] = append(s.byKind[c.Kind], sc)
		}
		s.checks = append(s.checks, sc)
	}
	s.SetGovernance(in.Exceptions, in.Attestations, in.SoA)
	// Like the engine, the first entry of an agent counts.
	agents := make([]Agent, 0, len(in.Agents))
	dup := map[string]bool{}
	for _, a := range in.Agents {
		if !dup[a.ID] {
			dup[a.ID] = true
			agents = append(agents, a)
		}
	}
	s.update(Delta{Agents: agents, Upserts: in.Records}, in.Now, true)
	return s
}

// Now is the time the State judges as of.
func (s *State) Now() time.Time { return s.now }

// SetGovernance replaces the human decisions; the next Update (or Results)
// applies them.
func (s *State) SetGovernance(exceptions []Exception, attestations []Attestation, soa []Applicability) {
	s.exceptions, s.attestations, s.soa = slices.Clone(exceptions), slices.Clone(attestations), slices.Clone(soa)
	s.govDirty = true
}

// Update applies d and moves the clock to now.
func (s *State) Update(d Delta, now time.Time) { s.update(d, now, false) }

func (s *State) update(d Delta, now time.Time, full bool) {
	s.results = nil
	moved := !now.Equal(s.now)
	if now.Before(s.now) {
		full = true // freshness can only be followed forward
	}
	s.now = now
	var touched []*touch
	touchHost := func(h *sHost) *touch {
		if h.touched == nil {
			h.touched = &touch{h: h, all: full}
			touched = append(touched, h.touched)
		}
		return h.touched
	}
	host := func(id string) *sHost {
		h := s.hosts[id]
		if h == nil {
			h = &sHost{id: id, recs: map[recKey]*sRec{}, byKind: map[string][]*sRec{},
				hc: make([]hostCount, len(s.checks)), hv: make([]hostVerdict, len(s.checks))}
			s.hosts[id] = h
			s.reorder = true
		}
		return h
	}
	for _, a := range d.Agents {
		h := host(a.ID)
		if !h.known {
			h.known = true
			s.agents = append(s.agents, h)
			s.reorder = true
		}
		if h.agent.Revoked != a.Revoked || h.agent.Host != a.Host {
			s.reorder = true
		}
		h.agent = a
		touchHost(h)
	}
	for _, k := range d.Deletes {
		h := s.hosts[k.AgentID]
		if h == nil {
			continue
		}
		if r := h.recs[recKey{k.Kind, k.Subject}]; r != nil {
			h.remove(r)
			t := touchHost(h)
			t.removed = append(t.removed, r)
		}
	}
	fresh := make([]*sRec, 0, len(d.Upserts))
	for i := range d.Upserts {
		r := &sRec{Record: d.Upserts[i]}
		if n := len(s.byKind[r.Kind]); n > 0 {
			r.out = make([]verdict, n)
		}
		h := host(r.AgentID)
		t := touchHost(h)
		if old := h.recs[recKey{r.Kind, r.Subject}]; old != nil {
			h.remove(old)
			if i := slices.Index(t.added, old); i >= 0 {
				t.added = slices.Delete(t.added, i, i+1)
			} else {
				t.removed = append(t.removed, old)
			}
		}
		h.insert(r)
		t.added = append(t.added, r)
		fresh = append(fresh, r)
	}
	decode(fresh, s.e.subjectKinds, s.e.attrKeys)

	for _, h := range s.hosts {
		// A host known only from records exists while it holds some.
		if live := h.known && !h.agent.Revoked || !h.known && len(h.recs) > 0; live != h.live {
			h.live = live
			s.reorder = true
			touchHost(h).all = true
		}
	}
	hostsChanged := s.reorder
	if s.reorder {
		s.arrange()
	}
	for _, h := range s.order {
		if full || moved && !h.next.IsZero() && now.After(h.next) {
			touchHost(h)
		}
	}
	// Each rebuild writes only its own host.
	parallel(len(touched), func(i int) { s.rebuild(touched[i]) })
	govChanged := s.refreshGovernance(moved)

	s.updateSubjects(touched, moved, govChanged)
	parallel(len(s.checks), func(i int) {
		if sc := s.checks[i]; sc.Scope == ScopeHost {
			s.updateHosts(sc, touched, moved && sc.nowDeps || govChanged[sc.ID])
		}
	})
	var fleet []*sCheck
	for _, sc := range s.checks {
		if sc.Scope == ScopeFleet && (full || hostsChanged || govChanged[sc.ID] || moved && sc.deps.fleetNow || s.fleetTouched(sc, touched)) {
			fleet = append(fleet, sc)
		}
	}
	if len(fleet) > 0 {
		// A fleet check runs over every host, so it runs again only when
		// something it reads changed.
		views := s.views()
		parallel(len(fleet), func(i int) {
			r := views[fleet[i].win].run(fleet[i].check, s.gov)
			fleet[i].res = &r
		})
	}
	for _, t := range touched {
		t.h.touched = nil
	}
	s.decide()
}

// remove takes r out of the host's records.
func (h *sHost) remove(r *sRec) {
	delete(h.recs, recKey{r.Kind, r.Subject})
	list := h.byKind[r.Kind]
	if i, ok := slices.BinarySearchFunc(list, r.Subject, bySubject); ok {
		h.byKind[r.Kind] = slices.Delete(list, i, i+1)
	}
	if len(h.byKind[r.Kind]) == 0 {
		delete(h.byKind, r.Kind)
	}
}

func (h *sHost) insert(r *sRec) {
	h.recs[recKey{r.Kind, r.Subject}] = r
	list := h.byKind[r.Kind]
	i, _ := slices.BinarySearchFunc(list, r.Subject, bySubject)
	h.byKind[r.Kind] = slices.Insert(list, i, r)
}

func bySubject(r *sRec, subject string) int { return strings.Compare(r.Subject, subject) }

// hostKinds are the kinds whose raw attributes hostState.note reads.
var hostKinds = map[string]bool{"encryption.volume": true, "scan.complete": true, "plugin.health": true}

// decode fills Decoded for the records of kinds that subject checks read,
// in parallel, as Evaluate does. The raw attributes of other kinds are
// dropped once decoded: the State keeps every record for as long as it
// lives, and the decoded form is all the checks read.
func decode(recs []*sRec, kinds map[string]bool, keys map[string]*attrKeys) {
	const chunk = 256
	parallel((len(recs)+chunk-1)/chunk, func(n int) {
		for _, r := range recs[n*chunk : min(len(recs), (n+1)*chunk)] {
			if !kinds[r.Kind] {
				continue
			}
			if r.Decoded != nil {
				if !hostKinds[r.Kind] {
					r.Attributes = nil
				}
				continue
			}
			r.Decoded = decodeAttrs(r.Attributes, keys[r.Kind])
			if !hostKinds[r.Kind] {
				r.Attributes = nil
			}
		}
	})
}

// arrange orders the judged hosts as the engine does: agents in input
// order, then hosts known only from their records, by id.
func (s *State) arrange() {
	s.reorder = false
	s.order, s.sorted = s.order[:0], s.sorted[:0]
	for _, h := range s.agents {
		if h.live {
			s.order = append(s.order, h)
		}
	}
	var extra []*sHost
	for _, h := range s.hosts {
		if h.live {
			s.sorted = append(s.sorted, h)
			if !h.known {
				extra = append(extra, h)
			}
		}
	}
	byID := func(a, b *sHost) int { return strings.Compare(a.id, b.id) }
	slices.SortFunc(extra, byID)
	slices.SortFunc(s.sorted, byID)
	s.order = append(s.order, extra...)
}

// rebuild makes the touched host's view of itself again, per window, and
// notes which fields of the `host` object changed.
func (s *State) rebuild(t *touch) {
	h := t.h
	t.oldWin = h.win
	h.win, h.next = nil, time.Time{}
	if !h.live {
		return
	}
	kinds := slices.Sorted(maps.Keys(h.byKind))
	a := h.agent
	if !h.known {
		// The engine names such a host after its first record.
		a = Agent{ID: h.id, Host: h.byKind[kinds[0]][0].Host}
	}
	h.win = make([]*hostState, len(s.windows))
	t.changed = make([]map[string]bool, len(s.windows))
	for w, f := range s.windows {
		fresh := func(at time.Time) bool { return !at.IsZero() && s.now.Sub(at) <= f }
		hs := newHostState(a, fresh)
		deadline := func(at time.Time) {
			if at.IsZero() {
				return
			}
			if d := at.Add(f); !s.now.After(d) && (h.next.IsZero() || d.Before(h.next)) {
				h.next = d
			}
		}
		deadline(a.LastSeen)
		for _, k := range kinds {
			for _, r := range h.byKind[k] {
				hs.note(&r.Record, fresh)
				deadline(r.ObservedAt)
			}
		}
		hs.obj = hostObject(hs, fresh)
		h.win[w] = hs
		if t.all || t.oldWin == nil || t.oldWin[w] == nil {
			continue
		}
		changed := map[string]bool{}
		for k, v := range hs.obj {
			if !reflect.DeepEqual(v, t.oldWin[w].obj[k]) {
				changed[k] = true
			}
		}
		t.changed[w] = changed
	}
}

// refreshGovernance rebuilds the decisions as of now when they or the
// clock changed, and returns the checks whose active exceptions differ.
func (s *State) refreshGovernance(moved bool) map[string]bool {
	if !s.govDirty && !moved && s.gov != nil {
		return nil
	}
	s.govDirty = false
	g := newGovernance(&Input{Now: s.now, Exceptions: s.exceptions, Attestations: s.attestations, SoA: s.soa})
	changed := map[string]bool{}
	if s.gov != nil {
		for id := range g.exceptions {
			changed[id] = true
		}
		for id := range s.gov.exceptions {
			changed[id] = true
		}
		for id := range changed {
			if slices.EqualFunc(g.exceptions[id], s.gov.exceptions[id], func(a, b *Exception) bool { return *a == *b }) {
				delete(changed, id)
			}
		}
	}
	s.gov = g
	return changed
}

func (s *State) fresh(w int) func(time.Time) bool {
	f := s.windows[w]
	return func(at time.Time) bool { return !at.IsZero() && s.now.Sub(at) <= f }
}

// updateSubjects brings the subject checks up to date on the touched
// hosts, and on every host for a check that reads `now` when the clock
// moved, or whose exceptions changed. The work is (host, check) pairs in
// host order, run in parallel: the workers move through the fleet host by
// host, so that a host's records stay in cache across its checks (a fifth
// less CPU than check by check at 2,000 hosts, and the two workers share
// one host's batch). Each pair writes only its own host count
// and verdict bytes; the checks' sums are moved before and after, in one
// goroutine.
func (s *State) updateSubjects(touched []*touch, moved bool, govChanged map[string]bool) {
	var checks []*sCheck
	var now, gov []bool
	broad := false
	for _, sc := range s.checks {
		if sc.Scope != ScopeSubject {
			continue
		}
		checks = append(checks, sc)
		n, g := moved && sc.nowDeps, govChanged[sc.ID]
		now, gov = append(now, n), append(gov, g)
		broad = broad || n || g
	}
	type job struct {
		h *sHost
		t *touch
	}
	jobs := make([]job, 0, len(touched))
	for _, t := range touched {
		jobs = append(jobs, job{t.h, t})
	}
	if broad {
		for _, h := range s.sorted {
			if h.touched == nil {
				jobs = append(jobs, job{h, nil})
			}
		}
	}
	needs := func(j job, c int) bool { return j.t != nil || now[c] || gov[c] }
	for _, j := range jobs {
		for c, sc := range checks {
			if hc := &j.h.hc[sc.idx]; hc.in && needs(j, c) {
				sc.add(hc, -1)
				hc.in = false
			}
		}
	}
	parallel(len(jobs)*len(checks), func(i int) {
		j, c := jobs[i/len(checks)], i%len(checks)
		if needs(j, c) {
			s.subjectsOn(checks[c], j.h, j.t, now[c], gov[c])
		}
	})
	for _, j := range jobs {
		for c, sc := range checks {
			if needs(j, c) && j.h.live {
				sc.add(&j.h.hc[sc.idx], +1)
				j.h.hc[sc.idx].in = true
			}
		}
	}
}

func (sc *sCheck) add(hc *hostCount, sign int) {
	for v, n := range hc.n {
		sc.n[v] += sign * int(n)
	}
	if hc.trusted {
		sc.tPass += sign * int(hc.n[vPass])
		sc.tFail += sign * int(hc.n[vFail])
		sc.trustedHosts += sign
	}
	if hc.sick {
		sc.sickHosts += sign
	}
	sc.kindRep += sign * int(hc.kindRep)
}

// subjectsOn judges a subject check on one host: the records t brings,
// or all of them when t says so or the host object changed in what the
// check reads, and those `now` or the exceptions affect. It writes only
// the host's count and the records' verdicts for the check.
func (s *State) subjectsOn(sc *sCheck, h *sHost, t *touch, now, gov bool) {
	hc := &h.hc[sc.idx]
	if !h.live {
		*hc = hostCount{}
		return
	}
	ws := h.win[sc.win]
	recs := h.byKind[sc.Kind]
	hc.trusted = trusted(ws, sc.Plugins, s.fresh(sc.win))
	hc.sick = sick(ws, sc.Plugins) != ""
	hc.kindRep = 0
	if ws.reporting {
		hc.kindRep = int32(len(recs))
	}
	plugin := ""
	if len(sc.Plugins) > 0 {
		plugin = sc.Plugins[0]
	}
	vars := &activation{plugin: plugin, now: s.now, host: ws.obj}
	judge := func(r *sRec, skipApplies bool) verdict {
		vars.attrs, vars.rec = r.Decoded, &r.Record
		var v verdict
		if skipApplies {
			v = evalAssert(sc.check, vars)
		} else {
			v, _ = evalSubject(sc.check, vars)
		}
		if v == vFail && s.gov.except(sc.ID, r.Subject, r.Host) != nil {
			v = vExcepted
		}
		return v
	}
	all := t != nil && (t.all || s.hostChanged(sc, t))
	if all {
		hc.n = [vExcepted + 1]int32{}
		for _, r := range recs {
			r.out[sc.kc] = judge(r, false)
			hc.n[r.out[sc.kc]]++
		}
	} else {
		if t != nil {
			for _, r := range t.removed {
				if r.Kind == sc.Kind {
					hc.n[r.out[sc.kc]]--
				}
			}
			for _, r := range t.added {
				if r.Kind == sc.Kind {
					r.out[sc.kc] = judge(r, false)
					hc.n[r.out[sc.kc]]++
				}
			}
		}
		if now || gov {
			for _, r := range recs {
				old := r.out[sc.kc]
				v := old
				switch {
				case now && (sc.deps.appliesNow || old != vSkip && old != vApplyErr):
					v = judge(r, !sc.deps.appliesNow)
				case gov && (old == vFail || old == vExcepted):
					v = vFail
					if s.gov.except(sc.ID, r.Subject, r.Host) != nil {
						v = vExcepted
					}
				}
				hc.n[old]--
				hc.n[v]++
				r.out[sc.kc] = v
			}
		}
	}
}

// fleetTouched reports whether a touched host changed in what the fleet
// check reads: the host fields its expressions name (those of observe only
// while it fails), whether the host reports, and the scan and health
// records of the check's plugins (whose evidence the result lists).
func (s *State) fleetTouched(sc *sCheck, touched []*touch) bool {
	for _, t := range touched {
		if t.oldWin == nil && t.h.win == nil {
			continue // judged neither before nor now
		}
		if t.oldWin == nil || t.h.win == nil || t.changed[sc.win] == nil {
			return true
		}
		changed := t.changed[sc.win]
		if changed["reporting"] || sc.deps.fleetAll && len(changed) > 0 {
			return true
		}
		for f := range sc.deps.fleetFields {
			if changed[f] {
				return true
			}
		}
		// Observed values are shown for a failure only.
		if failing := len(sc.res.Failing)+len(sc.res.ExceptedSubjects) > 0; failing && sc.deps.obsAll && len(changed) > 0 {
			return true
		} else if failing {
			for f := range sc.deps.obsFields {
				if changed[f] {
					return true
				}
			}
		}
		old, cur := t.oldWin[sc.win], t.h.win[sc.win]
		for _, p := range sc.Plugins {
			a, b := old.plugins[p], cur.plugins[p]
			if (a == nil) != (b == nil) || a != nil && (a.scan != b.scan || a.health != b.health || a.state != b.state) {
				return true
			}
		}
	}
	return false
}

// hostChanged reports whether the touched host's object changed in a field
// the check's applies or assert read.
func (s *State) hostChanged(sc *sCheck, t *touch) bool {
	if !sc.hostDeps {
		return false
	}
	changed := t.changed[sc.win]
	if changed == nil {
		return true
	}
	if sc.deps.hostAll {
		return len(changed) > 0
	}
	for f := range sc.deps.hostFields {
		if changed[f] {
			return true
		}
	}
	return false
}

// evalAssert runs assert alone, for a subject applies is known to select.
func evalAssert(c *check, vars *activation) verdict {
	ok, err := evalBool(c.assert, vars)
	switch {
	case err != nil:
		return vAssertErr
	case ok:
		return vPass
	}
	return vFail
}

func (sc *sCheck) addHost(hv *hostVerdict, sign int) {
	if !hv.judged {
		return
	}
	sc.reporting += sign
	if hv.sick {
		sc.sickHosts += sign
	}
	switch hv.v {
	case vApplyErr:
		sc.errored += sign
	case vAssertErr:
		sc.applicable += sign
		sc.errored += sign
	case vPass:
		sc.applicable += sign
		if !hv.sick {
			sc.passing += sign
		}
	case vFail:
		sc.applicable += sign
		if !hv.sick {
			sc.fail += sign
		}
	case vExcepted:
		sc.applicable += sign
	}
}

// updateHosts judges a host check again on the touched hosts, or on every
// host.
func (s *State) updateHosts(sc *sCheck, touched []*touch, every bool) {
	for _, t := range touched {
		s.hostOn(sc, t.h)
	}
	if every {
		for _, h := range s.order {
			if h.touched == nil {
				s.hostOn(sc, h)
			}
		}
	}
}

func (s *State) hostOn(sc *sCheck, h *sHost) {
	hv := &h.hv[sc.idx]
	if hv.in {
		sc.addHost(hv, -1)
	}
	*hv = hostVerdict{}
	if !h.live || !h.win[sc.win].reporting {
		return
	}
	ws := h.win[sc.win]
	v, _ := evalSubject(sc.check, &activation{host: ws.obj, now: s.now})
	if v == vFail && s.gov.except(sc.ID, "host:"+ws.agent.Host, ws.agent.Host) != nil {
		v = vExcepted
	}
	*hv = hostVerdict{v: v, sick: sick(ws, sc.Plugins) != "", judged: true, in: true}
	sc.addHost(hv, +1)
}

// checkStatus is a check's status from its sums, as the full evaluation
// decides it.
func (s *State) checkStatus(sc *sCheck) (Status, int, int) {
	switch sc.Scope {
	case ScopeFleet:
		return sc.res.Status, sc.res.Applicable, sc.res.Passing
	case ScopeHost:
		switch {
		case sc.reporting == 0:
			return InsufficientEvidence, sc.applicable, sc.passing
		case sc.fail > 0:
			return Noncompliant, sc.applicable, sc.passing
		case sc.sickHosts > 0, sc.errored > 0:
			return InsufficientEvidence, sc.applicable, sc.passing
		}
		return Compliant, sc.applicable, sc.passing
	}
	applicable := sc.n[vPass] + sc.n[vFail] + sc.n[vExcepted] + sc.n[vAssertErr]
	coverage := sc.trustedHosts > 0
	if agentOnly(sc.Plugins) {
		coverage = coverage && sc.kindRep > 0
	}
	untrusted := sc.n[vFail] - sc.tFail + sc.n[vPass] - sc.tPass
	switch {
	case sc.tFail > 0:
		return Noncompliant, applicable, sc.n[vPass]
	case !coverage, sc.sickHosts > 0, sc.n[vApplyErr]+sc.n[vAssertErr] > 0, untrusted > 0:
		return InsufficientEvidence, applicable, sc.n[vPass]
	}
	return Compliant, applicable, sc.n[vPass]
}

// decide keeps every control's status current: the worst of its checks,
// then attestations and the Statement of Applicability, as combine and
// decide do for a full result.
func (s *State) decide() {
	st := make(map[*check]Status, len(s.checks))
	for _, sc := range s.checks {
		sc.status, _, _ = s.checkStatus(sc)
		st[sc.check] = sc.status
	}
	s.statuses = make([]Status, len(s.e.controls))
	for i, c := range s.e.controls {
		status := Manual
		for j, chk := range c.checks {
			if j == 0 || rank(st[chk]) > rank(status) {
				status = st[chk]
			}
		}
		if status == Manual && s.gov.attestations[c.controlID()] != nil {
			status = Compliant
		}
		if a := s.gov.soa[c.controlID()]; a != nil && !a.Applicable {
			status = NotApplicable
		}
		s.statuses[i] = status
	}
}

// Verdict is one control's status, without the detail of a Result.
type Verdict struct {
	Framework string
	ControlID string
	Status    Status
}

// Verdicts lists every control's status, in the order of Results.
func (s *State) Verdicts() []Verdict {
	out := make([]Verdict, len(s.e.controls))
	for i, c := range s.e.controls {
		out[i] = Verdict{Framework: c.framework, ControlID: c.controlID(), Status: s.statuses[i]}
	}
	return out
}

// views are the engine's views per window over the kept hosts, for the
// host and fleet checks, which run as the full evaluation runs them.
func (s *State) views() []*view {
	in := &Input{Now: s.now}
	out := make([]*view, len(s.windows))
	for w, f := range s.windows {
		v := &view{in: in, freshness: f}
		objs := make([]any, 0, len(s.order))
		reporting := 0
		for _, h := range s.order {
			hs := h.win[w]
			v.hosts = append(v.hosts, hs)
			objs = append(objs, hs.obj)
			if hs.reporting {
				reporting++
			}
		}
		v.fleet = map[string]any{"hosts": objs, "reporting": int64(reporting)}
		out[w] = v
	}
	return out
}

// Results is the full evaluation as of Now, equal to what Engine.Evaluate
// returns for the same inputs. It is built on demand, from the kept
// verdicts: CEL runs again only for the subjects listed (for their
// observed values), and the host checks. The slice is shared until the next
// Update; callers must not change it.
func (s *State) Results() []Result {
	if s.govDirty {
		s.update(Delta{}, s.now, false)
	}
	if s.results != nil {
		return s.results
	}
	views := s.views()
	res := make([]CheckResult, len(s.checks))
	parallel(len(s.checks), func(i int) {
		sc := s.checks[i]
		switch sc.Scope {
		case ScopeSubject:
			res[i] = s.materialize(sc, views[sc.win])
		case ScopeHost:
			res[i] = views[sc.win].run(sc.check, s.gov)
		default:
			res[i] = *sc.res
		}
	})
	checks := make(map[*check]CheckResult, len(s.checks))
	for i, sc := range s.checks {
		checks[sc.check] = res[i]
	}
	out := make([]Result, 0, len(s.e.controls))
	for _, c := range s.e.controls {
		out = append(out, decide(combine(c, checks), s.gov))
	}
	s.results = out
	return out
}

// materialize builds a subject check's full result: the host loop of
// runSubjects, then only the subjects whose kept verdict lists them, judged
// again for their observed values, and the counts from the sums.
func (s *State) materialize(sc *sCheck, v *view) CheckResult {
	c := sc.check
	t := &tally{res: CheckResult{ID: c.ID, Title: c.Title, Severity: c.Severity, Remediation: c.Remediation, Failing: []Subject{},
		ExceptedSubjects: []Excepted{}}, gov: s.gov}
	coverage := false
	for _, h := range s.order {
		hs := h.win[sc.win]
		if h.hc[sc.idx].trusted {
			coverage = true
		}
		if p := sick(hs, c.Plugins); p != "" {
			t.sickPlugin = p
			t.sickHosts++
		}
		pluginEvidence(t, hs, c.Plugins)
	}
	plugin := ""
	if len(c.Plugins) > 0 {
		plugin = c.Plugins[0]
	}
	vars := &activation{plugin: plugin, now: s.now}
	for _, h := range s.sorted {
		hc := &h.hc[sc.idx]
		if hc.n[vApplyErr]+hc.n[vAssertErr]+hc.n[vFail]+hc.n[vExcepted] == 0 {
			continue
		}
		vars.host = h.win[sc.win].obj
		for _, r := range h.byKind[c.Kind] {
			switch r.out[sc.kc] {
			case vApplyErr:
				// Such a subject adds only its error, and only the
				// first maxErrors are kept.
				if len(t.res.Errors) >= maxErrors {
					continue
				}
				fallthrough
			case vAssertErr, vFail, vExcepted:
				vars.attrs, vars.rec = r.Decoded, &r.Record
				t.judge(c, vars, Subject{Subject: r.Subject, Host: r.Host, AgentID: r.AgentID}, hc.trusted, &r.Record)
			}
		}
	}
	t.res.Applicable = sc.n[vPass] + sc.n[vFail] + sc.n[vExcepted] + sc.n[vAssertErr]
	t.res.Passing = sc.n[vPass]
	t.fail, t.untrustedFail, t.untrustedPass = sc.tFail, sc.n[vFail]-sc.tFail, sc.n[vPass]-sc.tPass
	t.errored = sc.n[vApplyErr] + sc.n[vAssertErr]
	if agentOnly(c.Plugins) {
		coverage = coverage && sc.kindRep > 0
	}
	v.finishSubjects(c, t, coverage)
	sortEvidence(t.res.Evidence)
	return t.finish()
}

// Decoded returns the decoded attributes the State holds for a record at
// seq, or nil, so that a new State built from a snapshot need not decode
// what has not changed (any change of content comes with a new seq).
func (s *State) Decoded(agentID, kind, subject string, seq uint64) map[string]any {
	if h := s.hosts[agentID]; h != nil {
		if r := h.recs[recKey{kind, subject}]; r != nil && r.Seq == seq {
			return r.Decoded
		}
	}
	return nil
}
