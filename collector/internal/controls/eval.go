package controls

import (
	"cmp"
	"encoding/json"
	"fmt"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/interpreter"
	"google.golang.org/protobuf/types/known/structpb"
)

// unhealthy plugin states mean the plugin's silence proves nothing.
var unhealthy = map[string]bool{"crashed": true, "timed_out": true, "degraded": true}

// maxErrors bounds the expression errors kept per check result.
const maxErrors = 5

// pluginState is what a host says about one plugin.
type pluginState struct {
	scan   *Record
	health *Record
	state  string
}

// hostState is one non-revoked agent as the checks see it, for one
// freshness window.
type hostState struct {
	bound     uint64 // the longest list, map or string in obj
	agent     Agent
	reporting bool
	plugins   map[string]*pluginState
	kinds     map[string]any // kind → number of fresh live records
	roots     []any          // asset roots on encrypted volumes
	obj       map[string]any // the CEL `host` object
}

// view is the input indexed once per freshness window.
type view struct {
	in        *Input
	freshness time.Duration
	hosts     []*hostState // non-revoked agents, in input order, then agents known only from records
	byAgent   map[string]*hostState
	revoked   map[string]bool
	byKind    map[string][]int // record indices by kind
	attrs     []map[string]any // by record index, parsed once for every view and check
	hostOf    []*hostState     // by record index; nil for revoked agents
	fleet     map[string]any
}

func (v *view) fresh(t time.Time) bool {
	return !t.IsZero() && v.in.Now.Sub(t) <= v.freshness
}

func newView(in *Input, freshness time.Duration, attrs []map[string]any) *view {
	v := &view{in: in, freshness: freshness, byAgent: map[string]*hostState{}, revoked: map[string]bool{}, byKind: map[string][]int{},
		attrs: attrs, hostOf: make([]*hostState, len(in.Records))}
	add := func(a Agent) *hostState {
		h := newHostState(a, v.fresh)
		v.hosts = append(v.hosts, h)
		v.byAgent[a.ID] = h
		return h
	}
	for _, a := range in.Agents {
		if a.Revoked {
			v.revoked[a.ID] = true
			continue
		}
		if v.byAgent[a.ID] == nil {
			add(a)
		}
	}
	for i := range in.Records {
		r := &in.Records[i]
		if v.revoked[r.AgentID] {
			continue
		}
		h := v.byAgent[r.AgentID]
		if h == nil {
			h = add(Agent{ID: r.AgentID, Host: r.Host})
		}
		v.hostOf[i] = h
		v.byKind[r.Kind] = append(v.byKind[r.Kind], i)
		h.note(r, v.fresh)
	}
	hosts := make([]any, 0, len(v.hosts))
	for _, h := range v.hosts {
		h.obj = hostObject(h, v.fresh)
		hosts = append(hosts, h.obj)
	}
	reporting := 0
	for _, h := range v.hosts {
		if h.reporting {
			reporting++
		}
	}
	v.fleet = map[string]any{"hosts": hosts, "reporting": int64(reporting)}
	return v
}

func newHostState(a Agent, fresh func(time.Time) bool) *hostState {
	return &hostState{agent: a, reporting: fresh(a.LastSeen), plugins: map[string]*pluginState{}, kinds: map[string]any{}, roots: []any{}}
}

// note takes one live record of the host into account: the count of fresh
// records by kind, the roots of fresh encrypted volumes, and each plugin's
// latest scan and health. Records must come in the store's order (kind,
// subject) for ties and root order to be reproducible.
func (h *hostState) note(r *Record, fresh func(time.Time) bool) {
	if fresh(r.ObservedAt) {
		n, _ := h.kinds[r.Kind].(int64)
		h.kinds[r.Kind] = n + 1
	}
	var a struct {
		Plugin string `json:"plugin"`
		State  string `json:"state"`
	}
	switch r.Kind {
	case "encryption.volume":
		var vol struct {
			Encrypted bool     `json:"encrypted"`
			Covers    []string `json:"covers"`
		}
		if fresh(r.ObservedAt) && json.Unmarshal(r.Attributes, &vol) == nil && vol.Encrypted {
			for _, c := range vol.Covers {
				h.roots = append(h.roots, c)
			}
		}
	case "scan.complete":
		if json.Unmarshal(r.Attributes, &a) != nil || a.Plugin == "" {
			return
		}
		ps := h.plugin(a.Plugin)
		if ps.scan == nil || r.ObservedAt.After(ps.scan.ObservedAt) {
			ps.scan = r
		}
	case "plugin.health":
		if json.Unmarshal(r.Attributes, &a) != nil {
			return
		}
		name := a.Plugin
		if name == "" {
			name = strings.TrimPrefix(r.Subject, "plugin:")
		}
		ps := h.plugin(name)
		if ps.health == nil || r.ObservedAt.After(ps.health.ObservedAt) {
			ps.health, ps.state = r, a.State
		}
	}
}

func (h *hostState) plugin(name string) *pluginState {
	ps := h.plugins[name]
	if ps == nil {
		ps = &pluginState{}
		h.plugins[name] = ps
	}
	return ps
}

// hostObject builds the CEL `host` value: name, agent_id, reporting,
// last_seen, plugins (name → {state, healthy, last_scan, scan_fresh}),
// kinds (kind → number of fresh live records) and encrypted_roots (the
// asset roots on encrypted volumes).
func hostObject(h *hostState, fresh func(time.Time) bool) map[string]any {
	plugins := map[string]any{}
	for name, ps := range h.plugins {
		var state, lastScan any
		if ps.health != nil {
			state = ps.state
		}
		if ps.scan != nil {
			lastScan = ps.scan.ObservedAt.UTC().Format(time.RFC3339)
		}
		plugins[name] = map[string]any{"state": state, "healthy": !unhealthy[ps.state],
			"last_scan": lastScan, "scan_fresh": ps.scan != nil && fresh(ps.scan.ObservedAt)}
	}
	var lastSeen any
	if !h.agent.LastSeen.IsZero() {
		lastSeen = h.agent.LastSeen.UTC()
	}
	obj := map[string]any{"name": h.agent.Host, "agent_id": h.agent.ID, "reporting": h.reporting, "last_seen": lastSeen,
		"plugins": plugins, "kinds": h.kinds, "encrypted_roots": h.roots}
	h.bound = longest(obj)
	return obj
}

// longest is the length of the longest list, map or string in v (map keys
// included).
func longest(v any) uint64 {
	switch x := v.(type) {
	case string:
		return uint64(len(x))
	case []any:
		n := uint64(len(x))
		for _, e := range x {
			n = max(n, longest(e))
		}
		return n
	case map[string]any:
		n := uint64(len(x))
		for k, e := range x {
			n = max(n, uint64(len(k)), longest(e))
		}
		return n
	}
	return 0
}

// fleetBound is the longest list, map or string in the fleet object.
func (v *view) fleetBound() uint64 {
	n := uint64(len(v.hosts))
	for _, h := range v.hosts {
		n = max(n, h.bound)
	}
	return n
}

// trusted reports whether the host's evidence for plugins can be relied
// on: the agent reports, and each plugin completed a fresh scan and is not
// unhealthy.
func (v *view) trusted(h *hostState, plugins []string) bool { return trusted(h, plugins, v.fresh) }

func trusted(h *hostState, plugins []string, fresh func(time.Time) bool) bool {
	if h == nil {
		return false
	}
	for _, p := range plugins {
		if p == agentPlugin {
			if !h.reporting {
				return false
			}
			continue
		}
		ps := h.plugins[p]
		if ps == nil || ps.scan == nil || !fresh(ps.scan.ObservedAt) || unhealthy[ps.state] {
			return false
		}
	}
	return true
}

// sick returns the first of plugins that is unhealthy on h, or "".
func sick(h *hostState, plugins []string) string {
	for _, p := range plugins {
		if ps := h.plugins[p]; ps != nil && unhealthy[ps.state] {
			return p
		}
	}
	return ""
}

// Evaluate judges every control of every loaded catalog as of in.Now.
// Results come in catalog order: frameworks sorted by id, controls as
// listed in their catalog.
func (e *Engine) Evaluate(in Input) []Result {
	if in.Options.Freshness <= 0 {
		in.Options.Freshness = DefaultFreshness
	}
	gov := newGovernance(&in)
	attrs := parseAttributes(in.Records, e.subjectKinds, e.attrKeys)
	views := map[time.Duration]*view{}
	for _, c := range e.checks {
		f := cmp.Or(c.freshness, in.Options.Freshness)
		if views[f] == nil {
			views[f] = newView(&in, f, attrs)
		}
	}
	// Views are read-only from here on, so checks run in parallel.
	results := make([]CheckResult, len(e.checks))
	parallel(len(e.checks), func(i int) {
		c := e.checks[i]
		results[i] = views[cmp.Or(c.freshness, in.Options.Freshness)].run(c, gov)
	})
	checks := make(map[*check]CheckResult, len(e.checks))
	for i, c := range e.checks {
		checks[c] = results[i]
	}
	// Merging the checks' evidence lists is a tenth of a pass at 10,000
	// hosts; controls are independent, so they are merged in parallel.
	out := make([]Result, len(e.controls))
	parallel(len(e.controls), func(i int) {
		out[i] = decide(combine(e.controls[i], checks), gov)
	})
	return out
}

// decide applies the human decisions to a control's result: an active
// attestation makes a manual control compliant, and an exclusion in the
// Statement of Applicability makes any control not applicable (its checks
// still run and show). It also lists the evidence references.
func decide(r Result, g *governance) Result {
	seen := map[string]bool{}
	addRef := func(ref string) {
		if !seen[ref] {
			seen[ref] = true
			r.EvidenceRefs = append(r.EvidenceRefs, ref)
		}
	}
	// Evidence is already unique, and in the store so is a record's
	// (agent, seq).
	r.EvidenceRefs = make([]string, 0, len(r.Evidence))
	for _, ev := range r.Evidence {
		r.EvidenceRefs = append(r.EvidenceRefs, recordRef(ev))
	}
	for _, ch := range r.Checks {
		for _, x := range ch.ExceptedSubjects {
			addRef(refException + x.ExceptionID)
		}
	}
	if r.Status == Manual {
		if a := g.attestations[r.ControlID]; a != nil {
			r.Status = Compliant
			r.Explanation = fmt.Sprintf("Attested by %s in %s, valid until %s.", a.Author, a.DocumentRef, a.ExpiresAt.UTC().Format(time.RFC3339))
			r.Attestation = &AttestationRef{ID: a.ID, DocumentRef: a.DocumentRef, Author: a.Author, ExpiresAt: a.ExpiresAt.UTC()}
			addRef(refAttestation + a.ID)
		} else if a := g.expired[r.ControlID]; a != nil {
			r.Explanation = fmt.Sprintf("The attestation by %s (%s) expired at %s; attest the control again.", a.Author, a.DocumentRef, a.ExpiresAt.UTC().Format(time.RFC3339))
		}
	}
	if s := g.soa[r.ControlID]; s != nil {
		r.Applicability = s
		if !s.Applicable {
			r.Status = NotApplicable
			r.Explanation = fmt.Sprintf("Excluded in the Statement of Applicability by %s: %s", s.Author, s.Justification)
		}
	}
	return r
}

// combine decides a control from its checks: a trusted failure makes it
// noncompliant; otherwise any check without fresh evidence makes it
// insufficient; otherwise compliant. No check at all means manual.
func combine(c *control, checks map[*check]CheckResult) Result {
	r := Result{Framework: c.framework, ID: c.ID, ControlID: c.controlID(), Title: c.Title, Theme: c.Theme,
		Description: c.Description, Status: Compliant, Automated: len(c.checks) > 0, Checks: []CheckResult{}, Evidence: []Evidence{}}
	if len(c.checks) == 0 {
		r.Status, r.Explanation = Manual, "No automated check covers this control; it needs an attestation."
		return r
	}
	applicable, passing := 0, 0
	type key struct {
		agent, kind, subject string
		seq                  uint64
	}
	n, most := 0, 0
	for _, chk := range c.checks {
		n += len(checks[chk].Evidence)
		most = max(most, len(checks[chk].Evidence))
	}
	seen := make(map[key]struct{}, n)
	r.Checks = make([]CheckResult, 0, len(c.checks))
	// At least the longest check's list survives the merge; checks of one
	// plugin mostly share the rest, so this is near the final length
	// without reserving room for the duplicates.
	r.Evidence = make([]Evidence, 0, most)
	for i, chk := range c.checks {
		cr := checks[chk]
		r.Checks = append(r.Checks, cr)
		for _, ev := range cr.Evidence {
			k := key{ev.AgentID, ev.Kind, ev.Subject, ev.Seq}
			if _, dup := seen[k]; !dup {
				seen[k] = struct{}{}
				r.Evidence = append(r.Evidence, ev)
			}
		}
		applicable += cr.Applicable
		passing += cr.Passing
		// The first check with the worst status explains the control.
		if i == 0 || rank(cr.Status) > rank(r.Status) {
			r.Status, r.Explanation = cr.Status, cr.Explanation
		}
	}
	if applicable > 0 {
		s := float64(passing) / float64(applicable)
		r.Score = &s
	}
	return r
}

// rank orders statuses so that the worst check decides the control; a
// noncompliance found is reported even when other evidence is missing.
func rank(s Status) int {
	switch s {
	case Noncompliant:
		return 2
	case InsufficientEvidence:
		return 1
	}
	return 0
}

func evidenceOf(r *Record) Evidence {
	return Evidence{AgentID: r.AgentID, Host: r.Host, Kind: r.Kind, Subject: r.Subject, Seq: r.Seq, ObservedAt: r.ObservedAt}
}

// tally counts what a check met.
type tally struct {
	res           CheckResult
	fail          int // failures on trustworthy evidence
	untrustedFail int // failures on stale evidence or from an unhealthy plugin
	untrustedPass int
	errored       int
	sickPlugin    string
	sickHosts     int
	gov           *governance
}

func (t *tally) addError(subject, stage string, err error) {
	t.errored++
	if len(t.res.Errors) < maxErrors {
		t.res.Errors = append(t.res.Errors, fmt.Sprintf("%s: %s: %v", subject, stage, err))
	}
}

func (v *view) run(c *check, gov *governance) CheckResult {
	t := &tally{res: CheckResult{ID: c.ID, Title: c.Title, Severity: c.Severity, Remediation: c.Remediation, Failing: []Subject{},
		ExceptedSubjects: []Excepted{}}, gov: gov}
	switch c.Scope {
	case ScopeHost:
		v.runHosts(c, t)
	case ScopeFleet:
		v.runFleet(c, t)
	default:
		v.runSubjects(c, t)
	}
	return t.finish()
}

// finish completes a check result once its status is decided.
func (t *tally) finish() CheckResult {
	if n := len(t.res.ExceptedSubjects); n > 0 {
		t.res.Explanation += fmt.Sprintf(" %d failing subject(s) are excepted as accepted risk.", n)
	}
	t.res.FailingSubjects = t.res.Failing
	return t.res
}

// pluginEvidence adds the scan and health records of the check's plugins on
// h.
func pluginEvidence(t *tally, h *hostState, plugins []string) {
	for _, p := range plugins {
		if ps := h.plugins[p]; ps != nil {
			if ps.scan != nil {
				t.res.Evidence = append(t.res.Evidence, evidenceOf(ps.scan))
			}
			if ps.health != nil {
				t.res.Evidence = append(t.res.Evidence, evidenceOf(ps.health))
			}
		}
	}
}

func (v *view) runSubjects(c *check, t *tally) {
	coverage := false
	trusted := make(map[*hostState]bool, len(v.hosts))
	for _, h := range v.hosts {
		if v.trusted(h, c.Plugins) {
			coverage = true
			trusted[h] = true
		}
		if p := sick(h, c.Plugins); p != "" {
			t.sickPlugin = p
			t.sickHosts++
		}
		pluginEvidence(t, h, c.Plugins)
	}
	plugin := ""
	if len(c.Plugins) > 0 {
		plugin = c.Plugins[0]
	}
	// One activation for the whole loop: CEL keeps none past Eval, and a
	// fresh one per subject was a third of the allocations of a pass.
	vars := &activation{plugin: plugin, now: v.in.Now}
	for _, i := range v.byKind[c.Kind] {
		r, h := &v.in.Records[i], v.hostOf[i]
		vars.attrs, vars.rec, vars.host = v.attrs[i], r, h.obj
		subj := Subject{Subject: r.Subject, Host: r.Host, AgentID: r.AgentID}
		t.judge(c, vars, subj, trusted[h], r)
	}
	if agentOnly(c.Plugins) {
		// The agent's own kinds are always sent: none from a reporting
		// host means missing evidence, not an empty inventory.
		found := false
		for _, i := range v.byKind[c.Kind] {
			if h := v.hostOf[i]; h != nil && h.reporting {
				found = true
				break
			}
		}
		coverage = coverage && found
	}
	v.finishSubjects(c, t, coverage)
	sortEvidence(t.res.Evidence)
}

func sortEvidence(ev []Evidence) {
	slices.SortStableFunc(ev, func(a, b Evidence) int {
		return cmp.Or(cmp.Compare(a.AgentID, b.AgentID), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Subject, b.Subject))
	})
}

// finishSubjects decides a subject check from its tally: a failure on
// trustworthy evidence, then missing coverage, sick plugins, errors and
// stale evidence, in that order.
func (v *view) finishSubjects(c *check, t *tally, coverage bool) {
	switch {
	case t.fail > 0:
		t.res.Status = Noncompliant
		t.res.Explanation = fmt.Sprintf("%d of %d %s records fail: %s.", t.fail+t.untrustedFail, t.res.Applicable, c.Kind, lowerFirst(c.Title))
	case !coverage:
		t.res.Status = InsufficientEvidence
		t.res.Explanation = v.noCoverage(c)
	case t.sickHosts > 0:
		t.res.Status = InsufficientEvidence
		t.res.Explanation = fmt.Sprintf("The %s plugin is unhealthy on %d host(s), so its evidence cannot be trusted.", t.sickPlugin, t.sickHosts)
	case t.errored > 0:
		t.res.Status = InsufficientEvidence
		t.res.Explanation = fmt.Sprintf("%d %s record(s) could not be judged: %s.", t.errored, c.Kind, firstError(t))
	case t.untrustedFail+t.untrustedPass > 0:
		t.res.Status = InsufficientEvidence
		t.res.Explanation = fmt.Sprintf("%d of %d %s records rest on evidence older than %s.", t.untrustedFail+t.untrustedPass, t.res.Applicable, c.Kind, v.freshness)
	default:
		t.res.Status = Compliant
		switch t.res.Applicable {
		case 0:
			// Passing on nothing is what the check's scope says (the plugin
			// looked and found none), but a reader must see that it is so.
			t.res.Explanation = fmt.Sprintf("No %s record within %s is one this check applies to, so nothing fails: %s.", c.Kind, v.freshness, lowerFirst(c.Title))
		case 1:
			t.res.Explanation = fmt.Sprintf("The one %s record passes within %s: %s.", c.Kind, v.freshness, lowerFirst(c.Title))
		default:
			t.res.Explanation = fmt.Sprintf("All %d %s records pass within %s: %s.", t.res.Applicable, c.Kind, v.freshness, lowerFirst(c.Title))
		}
	}
}

func agentOnly(plugins []string) bool {
	for _, p := range plugins {
		if p != agentPlugin {
			return false
		}
	}
	return true
}

func (v *view) noCoverage(c *check) string {
	var ps []string
	for _, p := range c.Plugins {
		if p != agentPlugin {
			ps = append(ps, p)
		}
	}
	if len(ps) == 0 {
		for _, h := range v.hosts {
			if h.reporting {
				return fmt.Sprintf("No reporting host sent %s evidence, so there is nothing to judge.", c.Kind)
			}
		}
		return fmt.Sprintf("No host has reported within %s, so there is nothing to judge.", v.freshness)
	}
	return fmt.Sprintf("No host completed a scan with a healthy %s plugin within %s, so this cannot be judged.", strings.Join(ps, " and "), v.freshness)
}

// activation holds the variables of one evaluation; resolving them by name avoids
// building a map per subject.
type activation struct {
	attrs  map[string]any
	rec    *Record
	plugin string
	host   map[string]any
	fleet  map[string]any
	now    time.Time
}

// ResolveName implements interpreter.Activation.
func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case "now":
		return a.now.UTC(), true
	case "host":
		return a.host, a.host != nil
	case "fleet":
		return a.fleet, a.fleet != nil
	case "attrs":
		return a.attrs, a.attrs != nil
	case "plugin":
		return a.plugin, a.rec != nil
	}
	if a.rec == nil {
		return nil, false
	}
	switch name {
	case "subject":
		return a.rec.Subject, true
	case "kind":
		return a.rec.Kind, true
	case "observed_at":
		return a.rec.ObservedAt.UTC(), true
	}
	return nil, false
}

// Parent implements interpreter.Activation.
func (a *activation) Parent() interpreter.Activation { return nil }

var _ interpreter.Activation = (*activation)(nil)

// outcome of judging one subject.
type outcome int

const (
	skipped outcome = iota // applies said no
	passed
	failed
	errored
	excepted // failed, but an active exception accepts it
)

// verdict is what judging one subject found, before trust, tallies and
// the lists of a result.
type verdict uint8

const (
	vSkip      verdict = iota // applies said no
	vApplyErr                 // applies could not be evaluated
	vAssertErr                // assert could not be evaluated
	vPass
	vFail
	vExcepted // failed, and an active exception accepts it
)

// evalSubject runs applies and assert for one subject; it never returns
// vExcepted, which needs the governance.
func evalSubject(c *check, vars *activation) (verdict, error) {
	if c.applies != nil {
		ok, err := evalBool(c.applies, vars)
		if err != nil {
			return vApplyErr, err
		}
		if !ok {
			return vSkip, nil
		}
	}
	ok, err := evalBool(c.assert, vars)
	switch {
	case err != nil:
		return vAssertErr, err
	case ok:
		return vPass, nil
	}
	return vFail, nil
}

// judge runs applies, assert and observe for one subject and counts it.
func (t *tally) judge(c *check, vars *activation, subj Subject, trusted bool, r *Record) outcome {
	v, err := evalSubject(c, vars)
	switch v {
	case vApplyErr:
		t.addError(subj.Subject, "applies", err)
		return errored
	case vSkip:
		return skipped
	}
	t.res.Applicable++
	if v == vAssertErr {
		t.addError(subj.Subject, "assert", err)
		subj.Observed = map[string]any{"error": err.Error()}
		t.res.Failing = append(t.res.Failing, subj)
		return errored
	}
	ok := v == vPass
	if ok {
		t.res.Passing++
		if !trusted {
			t.untrustedPass++
		}
		return passed
	}
	subj.Observed = observe(c, vars)
	if r != nil {
		t.res.Evidence = append(t.res.Evidence, evidenceOf(r))
	}
	if ex := t.gov.except(c.ID, subj.Subject, subj.Host); ex != nil {
		t.res.ExceptedSubjects = append(t.res.ExceptedSubjects, Excepted{Subject: subj, ExceptionID: ex.ID,
			Owner: ex.Owner, Approver: ex.Approver, ExpiresAt: ex.ExpiresAt.UTC()})
		return excepted
	}
	t.res.Failing = append(t.res.Failing, subj)
	if trusted {
		t.fail++
	} else {
		t.untrustedFail++
	}
	return failed
}

func (v *view) runHosts(c *check, t *tally) {
	reporting := 0
	for _, h := range v.hosts {
		if !h.reporting {
			continue
		}
		reporting++
		pluginEvidence(t, h, c.Plugins)
		vars := &activation{host: h.obj, now: v.in.Now}
		subj := Subject{Subject: "host:" + h.agent.Host, Host: h.agent.Host, AgentID: h.agent.ID}
		p := sick(h, c.Plugins)
		if p == "" {
			t.judge(c, vars, subj, true, nil)
			continue
		}
		// A sick plugin explains a missing scan: that is missing evidence,
		// not a failed control. The host is listed as failing all the same.
		if t.judge(c, vars, subj, false, nil) == passed {
			// It passed on evidence from a sick plugin: that is no pass.
			t.res.Passing--
			t.untrustedPass--
			subj.Observed = observe(c, vars)
			t.res.Failing = append(t.res.Failing, subj)
			t.untrustedFail++
		}
		t.sickPlugin = p
		t.sickHosts++
	}
	switch {
	case reporting == 0:
		t.res.Status = InsufficientEvidence
		t.res.Explanation = fmt.Sprintf("No host has reported within %s, so there is nothing to judge.", v.freshness)
	case t.fail > 0:
		t.res.Status = Noncompliant
		t.res.Explanation = fmt.Sprintf("%d of %d reporting hosts fail: %s.", t.fail, reporting, lowerFirst(c.Title))
	case t.sickHosts > 0:
		t.res.Status = InsufficientEvidence
		t.res.Explanation = fmt.Sprintf("The %s plugin is unhealthy on %d of %d reporting hosts, so their evidence cannot be trusted.", t.sickPlugin, t.sickHosts, reporting)
	case t.errored > 0:
		t.res.Status = InsufficientEvidence
		t.res.Explanation = fmt.Sprintf("%d host(s) could not be judged: %s.", t.errored, firstError(t))
	default:
		t.res.Status = Compliant
		if reporting == 1 {
			t.res.Explanation = fmt.Sprintf("The one reporting host passes within %s: %s.", v.freshness, lowerFirst(c.Title))
		} else {
			t.res.Explanation = fmt.Sprintf("All %d reporting hosts pass within %s: %s.", reporting, v.freshness, lowerFirst(c.Title))
		}
	}
}

// reportingHosts counts reporting hosts in words.
func reportingHosts(n int) string {
	if n == 1 {
		return "1 reporting host"
	}
	return fmt.Sprintf("%d reporting hosts", n)
}

func (v *view) runFleet(c *check, t *tally) {
	reporting := 0
	for _, h := range v.hosts {
		if h.reporting {
			reporting++
		}
		if p := sick(h, c.Plugins); p != "" {
			t.sickPlugin = p
			t.sickHosts++
		}
		pluginEvidence(t, h, c.Plugins)
	}
	if reporting == 0 {
		t.res.Status = InsufficientEvidence
		t.res.Explanation = fmt.Sprintf("No host has reported within %s, so there is nothing to judge.", v.freshness)
		return
	}
	vars := &activation{fleet: v.fleet, now: v.in.Now}
	if c.fast != nil {
		c = c.fast.forFleet(c, v.fleetBound())
	}
	t.judge(c, vars, Subject{Subject: "fleet"}, t.sickHosts == 0, nil)
	switch {
	case t.fail > 0:
		t.res.Status = Noncompliant
		t.res.Explanation = fmt.Sprintf("The fleet fails: %s.", lowerFirst(c.Title))
	case t.sickHosts > 0:
		t.res.Status = InsufficientEvidence
		t.res.Explanation = fmt.Sprintf("The %s plugin is unhealthy on %d host(s), so the fleet cannot be judged.", t.sickPlugin, t.sickHosts)
	case t.errored > 0:
		t.res.Status = InsufficientEvidence
		t.res.Explanation = fmt.Sprintf("The fleet could not be judged: %s.", firstError(t))
	default:
		t.res.Status = Compliant
		t.res.Explanation = fmt.Sprintf("The fleet passes (%s): %s.", reportingHosts(reporting), lowerFirst(c.Title))
	}
}

func firstError(t *tally) string {
	if len(t.res.Errors) == 0 {
		return "unknown error"
	}
	return t.res.Errors[0]
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

func evalBool(prg cel.Program, vars *activation) (bool, error) {
	out, _, err := prg.Eval(vars)
	if err != nil {
		return false, err
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("expression yielded %s, want bool", out.Type().TypeName())
	}
	return b, nil
}

// observe evaluates the check's observe expressions for a failing subject;
// an expression that errors shows its error.
func observe(c *check, vars *activation) map[string]any {
	out := map[string]any{}
	if len(c.observe) == 0 {
		// Without observe expressions, show the attributes the
		// expressions name.
		if vars.attrs != nil {
			for k, v := range vars.attrs {
				if strings.Contains(c.Assert, "attrs."+k) || strings.Contains(c.Applies, "attrs."+k) {
					out[k] = v
				}
			}
		}
	}
	for _, o := range c.observe {
		v, _, err := o.prg.Eval(vars)
		if err != nil {
			out[o.name] = "error: " + err.Error()
			continue
		}
		out[o.name] = native(v)
	}
	return out
}

var structValue = reflect.TypeFor[*structpb.Value]()

// native turns a CEL value into plain JSON-ready Go.
func native(v ref.Val) any {
	switch v.Type() {
	case types.NullType:
		return nil
	case types.TimestampType:
		return v.Value().(time.Time).UTC().Format(time.RFC3339)
	case types.DurationType:
		return v.Value().(time.Duration).String()
	case types.IntType:
		return v.Value()
	}
	if pv, err := v.ConvertToNative(structValue); err == nil {
		return pv.(*structpb.Value).AsInterface()
	}
	return fmt.Sprint(v.Value())
}

// parseAttributes decodes the attributes of the records of kinds once, in
// parallel, as far as the checks read them (keys, decodeAttrs), and keeps
// them in Record.Decoded; other records get nil. A record whose attributes
// do not decode gets an empty object, so every attribute is "no such key":
// insufficient.
func parseAttributes(recs []Record, kinds map[string]bool, keys map[string]*attrKeys) []map[string]any {
	out := make([]map[string]any, len(recs))
	const chunk = 1024
	parallel((len(recs)+chunk-1)/chunk, func(n int) {
		for i := n * chunk; i < min(len(recs), (n+1)*chunk); i++ {
			if !kinds[recs[i].Kind] {
				continue
			}
			if recs[i].Decoded != nil {
				out[i] = recs[i].Decoded
				continue
			}
			m := decodeAttrs(recs[i].Attributes, keys[recs[i].Kind])
			out[i], recs[i].Decoded = m, m
		}
	})
	return out
}

// parallel calls f(0..n-1) on GOMAXPROCS goroutines.
func parallel(n int, f func(int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		for i := range n {
			f(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				f(i)
			}
		}()
	}
	wg.Wait()
}
