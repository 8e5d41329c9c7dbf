// Package controls judges evidence against compliance controls. It is pure:
// a snapshot, the time and options go in, results come out; it reads no
// store, serves no HTTP and has no clock of its own, so every verdict can be
// reproduced from its inputs. Checks live in a registry filled from init();
// a later CEL engine with YAML catalogs replaces the Go checks here.
package controls

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"
)

func sortSlice[T any](s []T, less func(a, b T) bool) {
	sort.Slice(s, func(i, j int) bool { return less(s[i], s[j]) })
}

// Status of a control or check.
type Status string

const (
	Compliant            Status = "compliant"
	Noncompliant         Status = "noncompliant"
	InsufficientEvidence Status = "insufficient_evidence"
)

// Agent is a host as far as the controls care.
type Agent struct {
	ID       string
	Host     string
	Revoked  bool
	LastSeen time.Time // zero when never seen
}

// Record is one live (not deleted) piece of current state.
type Record struct {
	AgentID    string
	Host       string
	Kind       string
	Subject    string
	Plugin     string
	Seq        uint64
	ObservedAt time.Time
	Attributes json.RawMessage
}

// Input is everything a check may look at.
type Input struct {
	Agents  []Agent
	Records []Record
	Now     time.Time
	Options Options
}

// Options tune evaluation.
type Options struct {
	// Freshness is how old evidence may be and still count; stale evidence
	// is never a pass.
	Freshness time.Duration
}

// DefaultFreshness is used when Options.Freshness is zero.
const DefaultFreshness = 24 * time.Hour

// Subject is one thing a check judged that failed.
type Subject struct {
	Subject  string         `json:"subject"`
	Host     string         `json:"host"`
	AgentID  string         `json:"agent_id"`
	Observed map[string]any `json:"observed"`
}

// Evidence names a record a verdict rests on.
type Evidence struct {
	AgentID    string    `json:"agent_id"`
	Host       string    `json:"host"`
	Kind       string    `json:"kind"`
	Subject    string    `json:"subject"`
	Seq        uint64    `json:"seq"`
	ObservedAt time.Time `json:"observed_at"`
}

// CheckResult is the outcome of one check.
type CheckResult struct {
	ID         string    `json:"id"`
	Title      string    `json:"title"`
	Status     Status    `json:"status"`
	Applicable int       `json:"applicable"`
	Passing    int       `json:"passing"`
	Failing    []Subject `json:"failing"`
	// Explanation is one sentence saying why the check has its status.
	Explanation string     `json:"-"`
	Evidence    []Evidence `json:"-"`
}

// Result is the outcome of one control.
type Result struct {
	Framework   string        `json:"framework"`
	ID          string        `json:"id"`
	ControlID   string        `json:"control_id"`
	Title       string        `json:"title"`
	Status      Status        `json:"status"`
	Explanation string        `json:"explanation"`
	Checks      []CheckResult `json:"checks"`
	// Score is passing/applicable over all checks; null when nothing applied.
	Score    *float64   `json:"score"`
	Evidence []Evidence `json:"evidence"`
}

// Check is one automated test over the evidence.
type Check struct {
	ID    string
	Title string
	Eval  func(in *Input) CheckResult
}

// Control is a catalog entry with the checks that decide it.
type Control struct {
	Framework string
	ID        string
	Title     string
	Checks    []string
}

// ControlID is the namespaced id, e.g. iso27001-2022/5.9.
func (c Control) ControlID() string { return c.Framework + "/" + c.ID }

var (
	checks   = map[string]Check{}
	controls = map[string]Control{}
)

// RegisterCheck adds a check; a duplicate id is a programming error.
func RegisterCheck(c Check) {
	if _, dup := checks[c.ID]; dup {
		panic(fmt.Sprintf("controls: check %q registered twice", c.ID))
	}
	checks[c.ID] = c
}

// RegisterControl adds a control; a duplicate id is a programming error.
func RegisterControl(c Control) {
	if _, dup := controls[c.ControlID()]; dup {
		panic(fmt.Sprintf("controls: control %q registered twice", c.ControlID()))
	}
	controls[c.ControlID()] = c
}

// Evaluate runs every registered control, sorted by control id.
func Evaluate(in Input) []Result {
	if in.Options.Freshness <= 0 {
		in.Options.Freshness = DefaultFreshness
	}
	ids := make([]string, 0, len(controls))
	for id := range controls {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	out := make([]Result, 0, len(ids))
	for _, id := range ids {
		out = append(out, evaluateControl(controls[id], &in))
	}
	return out
}

func evaluateControl(c Control, in *Input) Result {
	r := Result{Framework: c.Framework, ID: c.ID, ControlID: c.ControlID(), Title: c.Title, Status: Compliant,
		Checks: []CheckResult{}, Evidence: []Evidence{}}
	applicable, passing := 0, 0
	for i, id := range c.Checks {
		chk, ok := checks[id]
		if !ok {
			panic(fmt.Sprintf("controls: control %s names unknown check %q", c.ControlID(), id))
		}
		cr := chk.Eval(in)
		cr.ID, cr.Title = chk.ID, chk.Title
		if cr.Failing == nil {
			cr.Failing = []Subject{}
		}
		r.Checks = append(r.Checks, cr)
		r.Evidence = append(r.Evidence, cr.Evidence...)
		applicable += cr.Applicable
		passing += cr.Passing
		// The first check with the worst status explains the control.
		if i == 0 || rank(cr.Status) > rank(r.Status) {
			r.Status, r.Explanation = cr.Status, cr.Explanation
		}
	}
	if len(c.Checks) == 0 {
		r.Status, r.Explanation = InsufficientEvidence, "No automated check covers this control yet."
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

// fresh reports whether t is within the freshness window before now.
func (in *Input) fresh(t time.Time) bool {
	return !t.IsZero() && in.Now.Sub(t) <= in.Options.Freshness
}

// reporting returns the agents that count: not revoked and seen recently.
func (in *Input) reporting() []Agent {
	var out []Agent
	for _, a := range in.Agents {
		if !a.Revoked && in.fresh(a.LastSeen) {
			out = append(out, a)
		}
	}
	return out
}

func evidenceOf(r *Record) Evidence {
	return Evidence{AgentID: r.AgentID, Host: r.Host, Kind: r.Kind, Subject: r.Subject, Seq: r.Seq, ObservedAt: r.ObservedAt}
}
