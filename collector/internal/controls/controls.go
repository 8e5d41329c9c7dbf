// Package controls judges evidence against compliance controls. It is pure:
// a snapshot, the time and options go in, results come out; it reads no
// store, serves no HTTP and has no clock of its own, so every verdict can be
// reproduced from its inputs.
//
// Controls and checks are data: the framework catalogs and the CEL checks of
// collector/controls/catalog are embedded, and Load merges a folder of the
// user's own on top. Check expressions are compiled and type-checked once,
// at load, and run under a CEL cost limit.
package controls

import (
	"encoding/json"
	"sync"
	"time"
)

// Status of a control or check.
type Status string

const (
	Compliant            Status = "compliant"
	Noncompliant         Status = "noncompliant"
	InsufficientEvidence Status = "insufficient_evidence"
	// Manual is a control that no automated check covers: it needs an
	// attestation.
	Manual Status = "manual"
	// NotApplicable is a control excluded in the Statement of
	// Applicability, with a justification.
	NotApplicable Status = "not_applicable"
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
	// Decoded is Attributes decoded. When set, the engine uses it instead
	// of decoding again; Evaluate sets it on the records it decodes, so a
	// caller that evaluates the same records again can keep it. Evaluate
	// decodes only the attributes its checks can read: its Decoded is for
	// the same Engine, not a copy of the record.
	Decoded map[string]any
}

// Input is everything a check may look at.
type Input struct {
	Agents  []Agent
	Records []Record
	Now     time.Time
	Options Options
	// Exceptions, Attestations and SoA are the human decisions; expired and
	// revoked ones may be included, the engine judges them against Now.
	Exceptions   []Exception
	Attestations []Attestation
	SoA          []Applicability
}

// Options tune evaluation.
type Options struct {
	// Freshness is how old evidence may be and still count, for checks
	// that set no freshness of their own; stale evidence is never a pass.
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
	Severity   string    `json:"severity"`
	Status     Status    `json:"status"`
	Applicable int       `json:"applicable"`
	Passing    int       `json:"passing"`
	Failing    []Subject `json:"failing"`
	// FailingSubjects is Failing under the name of the report contract:
	// failures no exception covers.
	FailingSubjects []Subject `json:"failing_subjects"`
	// ExceptedSubjects failed but are covered by an active exception:
	// accepted risk, shown as such, and failing again once it lapses.
	ExceptedSubjects []Excepted `json:"excepted_subjects"`
	Remediation      string     `json:"remediation,omitempty"`
	// Errors are expression errors met while judging (a missing
	// attribute, the cost limit); such subjects count as insufficient.
	Errors []string `json:"errors,omitempty"`
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
	Theme       string        `json:"theme"`
	Description string        `json:"description"`
	Status      Status        `json:"status"`
	Automated   bool          `json:"automated"`
	Explanation string        `json:"explanation"`
	Checks      []CheckResult `json:"checks"`
	// Score is passing/applicable over all checks; null when nothing applied.
	Score    *float64   `json:"score"`
	Evidence []Evidence `json:"evidence"`
	// EvidenceRefs names everything the status rests on, as strings:
	// record:<agent_id>/<seq> (a history row), attestation:<id>,
	// exception:<id>.
	EvidenceRefs []string `json:"evidence_refs"`
	// Since is when the control entered its status, from the recorded
	// evaluation passes; the engine leaves it nil, the report fills it in.
	Since *time.Time `json:"since"`
	// Attestation is the active attestation a manual control rests on.
	Attestation *AttestationRef `json:"attestation,omitempty"`
	// Applicability is the control's Statement of Applicability entry, if
	// it has one.
	Applicability *Applicability `json:"applicability,omitempty"`
}

var defaultEngine = sync.OnceValues(func() (*Engine, error) { return Load(nil) })

// Default is the engine of the embedded catalogs and checks. They are
// tested, so failing to load them is a programming error.
func Default() *Engine {
	e, err := defaultEngine()
	if err != nil {
		panic("controls: embedded catalog: " + err.Error())
	}
	return e
}

// Evaluate runs every control of the embedded catalogs.
func Evaluate(in Input) []Result { return Default().Evaluate(in) }
