package controls

import (
	"fmt"
	"strconv"
	"time"

	"github.com/bmatcuk/doublestar/v4"
)

// Exception accepts the failures of one check on the subjects its patterns
// match, until ExpiresAt. The engine judges expiry against Input.Now, so an
// expired exception stops applying by itself and the failure resurfaces.
type Exception struct {
	ID             string
	CheckID        string
	SubjectPattern string
	// HostPattern is empty for every host.
	HostPattern string
	Owner       string
	Approver    string
	ExpiresAt   time.Time
	// RevokedAt is zero unless revoked.
	RevokedAt time.Time
}

func (e *Exception) active(now time.Time) bool {
	return e.RevokedAt.IsZero() && now.Before(e.ExpiresAt)
}

func (e *Exception) matches(subject, host string) bool {
	if ok, _ := doublestar.Match(e.SubjectPattern, subject); !ok {
		return false
	}
	if e.HostPattern == "" {
		return true
	}
	ok, _ := doublestar.Match(e.HostPattern, host)
	return ok
}

// Attestation says a manual control is met on the strength of a document
// until ExpiresAt.
type Attestation struct {
	ID          string
	ControlID   string
	DocumentRef string
	Author      string
	ExpiresAt   time.Time
	RevokedAt   time.Time
}

func (a *Attestation) active(now time.Time) bool {
	return a.RevokedAt.IsZero() && now.Before(a.ExpiresAt)
}

// Applicability is a control's entry in the Statement of Applicability.
type Applicability struct {
	ControlID     string `json:"-"`
	Applicable    bool   `json:"applicable"`
	Justification string `json:"justification"`
	Author        string `json:"author"`
}

// Excepted is a failing subject that an exception accepts.
type Excepted struct {
	Subject
	ExceptionID string    `json:"exception_id"`
	Owner       string    `json:"owner"`
	Approver    string    `json:"approver"`
	ExpiresAt   time.Time `json:"expires_at"`
}

// AttestationRef is the attestation a manual control's status rests on.
type AttestationRef struct {
	ID          string    `json:"id"`
	DocumentRef string    `json:"document_ref"`
	Author      string    `json:"author"`
	ExpiresAt   time.Time `json:"expires_at"`
}

// Evidence references in Result.EvidenceRefs.
const (
	refRecord      = "record:"      // record:<agent_id>/<seq>, a history row
	refAttestation = "attestation:" // attestation:<id>
	refException   = "exception:"   // exception:<id>
)

func recordRef(ev Evidence) string {
	return refRecord + ev.AgentID + "/" + strconv.FormatUint(ev.Seq, 10)
}

// governance indexes the human decisions of one Input.
type governance struct {
	exceptions   map[string][]*Exception // check id → active exceptions
	attestations map[string]*Attestation // control id → the active one expiring last
	expired      map[string]*Attestation // control id → the latest lapsed one, to explain
	soa          map[string]*Applicability
}

func newGovernance(in *Input) *governance {
	g := &governance{exceptions: map[string][]*Exception{}, attestations: map[string]*Attestation{},
		expired: map[string]*Attestation{}, soa: map[string]*Applicability{}}
	for i := range in.Exceptions {
		e := &in.Exceptions[i]
		if e.active(in.Now) {
			g.exceptions[e.CheckID] = append(g.exceptions[e.CheckID], e)
		}
	}
	for i := range in.Attestations {
		a := &in.Attestations[i]
		if a.active(in.Now) {
			if cur := g.attestations[a.ControlID]; cur == nil || a.ExpiresAt.After(cur.ExpiresAt) {
				g.attestations[a.ControlID] = a
			}
		} else if a.RevokedAt.IsZero() {
			if cur := g.expired[a.ControlID]; cur == nil || a.ExpiresAt.After(cur.ExpiresAt) {
				g.expired[a.ControlID] = a
			}
		}
	}
	for i := range in.SoA {
		s := &in.SoA[i]
		g.soa[s.ControlID] = s
	}
	return g
}

// except returns the first active exception of check that covers subject on
// host, or nil.
func (g *governance) except(checkID, subject, host string) *Exception {
	for _, e := range g.exceptions[checkID] {
		if e.matches(subject, host) {
			return e
		}
	}
	return nil
}

// HasCheck reports whether a check with this id is loaded.
func (e *Engine) HasCheck(id string) bool {
	for _, c := range e.checks {
		if c.ID == id {
			return true
		}
	}
	return false
}

// CheckIDs lists the loaded checks' ids, in load order.
func (e *Engine) CheckIDs() []string {
	out := make([]string, len(e.checks))
	for i, c := range e.checks {
		out[i] = c.ID
	}
	return out
}

// Control says whether a namespaced control id is loaded and whether any
// check covers it.
func (e *Engine) Control(id string) (found, automated bool) {
	for _, c := range e.controls {
		if c.controlID() == id {
			return true, len(c.checks) > 0
		}
	}
	return false, false
}

// CheckExceptionTarget returns an error saying what to fix when an
// exception names a check that is not loaded.
func (e *Engine) CheckExceptionTarget(checkID string) error {
	if !e.HasCheck(checkID) {
		return fmt.Errorf("check %q is not loaded; check ids are listed by `annexa-collector controls checks`", checkID)
	}
	return nil
}

// CheckAttestationTarget returns an error unless id is a loaded control
// without automated checks: evidence, not a document, decides the others.
func (e *Engine) CheckAttestationTarget(id string) error {
	found, automated := e.Control(id)
	switch {
	case !found:
		return fmt.Errorf("control %q is not in any loaded catalog (ids are namespaced: iso27001-2022/5.1, iso42001-2023/A.2.2)", id)
	case automated:
		return fmt.Errorf("control %s has automated checks, so evidence decides its status; record an exception for an accepted failure, or exclude the control in the Statement of Applicability", id)
	}
	return nil
}

// CheckSoATarget returns an error unless id is a loaded control.
func (e *Engine) CheckSoATarget(id string) error {
	if found, _ := e.Control(id); !found {
		return fmt.Errorf("control %q is not in any loaded catalog (ids are namespaced: iso27001-2022/5.1, iso42001-2023/A.2.2)", id)
	}
	return nil
}
