package store

import (
	"cmp"
	"context"
	"encoding/json"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bmatcuk/doublestar/v4"
)

// MaxTerm is the longest an exception or attestation may run: a risk is
// accepted, or a manual control attested, for at most a year before someone
// must look at it again.
const MaxTerm = "12 months"

// maxTermEnd is the latest expiry allowed for something created at now.
func maxTermEnd(now time.Time) time.Time { return now.AddDate(1, 0, 0) }

// maxText bounds free-text fields (reason, justification, document reference).
const maxText = 4096

// maxName bounds names and patterns (owner, approver, check id, patterns).
const maxName = 512

// Exception is an accepted risk: failures of one check on the subjects a
// pattern matches are shown as excepted, not failing, until it expires or
// is revoked. An expired exception stops applying by itself.
type Exception struct {
	ID      string `json:"id"`
	CheckID string `json:"check_id"`
	// SubjectPattern is a glob over subject ids (`*` within one path
	// segment, `**` across segments, `?`, `[...]`, `{a,b}`), e.g.
	// `dataset:/srv/ml/scratch/**`, `host:gpu-*`, or `fleet`.
	SubjectPattern string `json:"subject_pattern"`
	// HostPattern is a glob over host names; empty means every host.
	HostPattern string    `json:"host_pattern,omitempty"`
	Owner       string    `json:"owner"`
	Approver    string    `json:"approver"`
	Reason      string    `json:"reason"`
	CreatedBy   string    `json:"created_by"`
	CreatedAt   time.Time `json:"created_at"`
	ExpiresAt   time.Time `json:"expires_at"`
	// RevokedAt is zero, and RevokedBy empty, unless revoked.
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	RevokedBy string    `json:"revoked_by,omitempty"`
}

// Active reports whether the exception applies at now.
func (e *Exception) Active(now time.Time) bool {
	return e.RevokedAt.IsZero() && now.Before(e.ExpiresAt)
}

// Matches reports whether the exception covers subject on host. It does
// not look at time; see Active.
func (e *Exception) Matches(subject, host string) bool {
	if ok, _ := doublestar.Match(e.SubjectPattern, subject); !ok {
		return false
	}
	if e.HostPattern == "" {
		return true
	}
	ok, _ := doublestar.Match(e.HostPattern, host)
	return ok
}

// NewException is what a user asks for; the store fills in the rest.
type NewException struct {
	CheckID        string    `json:"check_id"`
	SubjectPattern string    `json:"subject_pattern"`
	HostPattern    string    `json:"host_pattern,omitempty"`
	Owner          string    `json:"owner"`
	Approver       string    `json:"approver"`
	Reason         string    `json:"reason"`
	ExpiresAt      time.Time `json:"expires_at"`
	// CreatedBy is who recorded it (the API user, or the OS user of the
	// command line); it may differ from the owner.
	CreatedBy string `json:"-"`
}

// Validate checks a new exception as of now. It does not know the loaded
// checks; callers that do (the API, the command line) check CheckID too.
func (n *NewException) Validate(now time.Time) error {
	if err := cmp.Or(need("check_id", n.CheckID, maxName), need("subject_pattern", n.SubjectPattern, maxName)); err != nil {
		return err
	}
	if !doublestar.ValidatePattern(n.SubjectPattern) {
		return field("subject_pattern", "subject_pattern %q is not a valid glob (check brackets and braces)", n.SubjectPattern)
	}
	if n.HostPattern != "" {
		if len(n.HostPattern) > maxName || !doublestar.ValidatePattern(n.HostPattern) {
			return field("host_pattern", "host_pattern %q is not a valid glob", n.HostPattern)
		}
	}
	return cmp.Or(
		need("owner", n.Owner, maxName),
		need("approver", n.Approver, maxName),
		need("reason", n.Reason, maxText),
		expiry(n.ExpiresAt, now),
	)
}

// Attestation says a manual control is met, on the strength of a document
// (a policy, a procedure, an audit record), until it expires or is revoked.
type Attestation struct {
	ID string `json:"id"`
	// ControlID is namespaced by framework: iso27001-2022/5.1.
	ControlID   string    `json:"control_id"`
	DocumentRef string    `json:"document_ref"`
	Author      string    `json:"author"`
	Note        string    `json:"note,omitempty"`
	CreatedBy   string    `json:"created_by"`
	CreatedAt   time.Time `json:"created_at"`
	ExpiresAt   time.Time `json:"expires_at"`
	RevokedAt   time.Time `json:"revoked_at,omitzero"`
	RevokedBy   string    `json:"revoked_by,omitempty"`
}

// Active reports whether the attestation counts at now.
func (a *Attestation) Active(now time.Time) bool {
	return a.RevokedAt.IsZero() && now.Before(a.ExpiresAt)
}

// NewAttestation is what a user asks for.
type NewAttestation struct {
	ControlID   string    `json:"control_id"`
	DocumentRef string    `json:"document_ref"`
	Author      string    `json:"author"`
	Note        string    `json:"note,omitempty"`
	ExpiresAt   time.Time `json:"expires_at"`
	CreatedBy   string    `json:"-"`
}

// Validate checks a new attestation as of now; callers check that the
// control exists and is manual.
func (n *NewAttestation) Validate(now time.Time) error {
	return cmp.Or(
		controlID(n.ControlID),
		need("document_ref", n.DocumentRef, maxText),
		need("author", n.Author, maxName),
		optional("note", n.Note, maxText),
		expiry(n.ExpiresAt, now),
	)
}

// SoAEntry is one control's line in the Statement of Applicability. Only
// exclusions need an entry: a control without one is applicable.
type SoAEntry struct {
	ControlID     string    `json:"control_id"`
	Applicable    bool      `json:"applicable"`
	Justification string    `json:"justification"`
	Author        string    `json:"author"`
	SetAt         time.Time `json:"set_at"`
}

// Validate checks an entry; an exclusion needs a justification.
func (s *SoAEntry) Validate() error {
	if err := cmp.Or(controlID(s.ControlID), need("author", s.Author, maxName)); err != nil {
		return err
	}
	if !s.Applicable {
		if strings.TrimSpace(s.Justification) == "" {
			return field("justification", "a control marked not applicable needs a justification (why it does not apply)")
		}
		return need("justification", s.Justification, maxText)
	}
	return optional("justification", s.Justification, maxText)
}

// GovernanceEvent is one entry of the append-only, hash-chained log of
// every exception, attestation and SoA change: who did what, when.
type GovernanceEvent struct {
	ID     int64     `json:"id"`
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"` // exception.add, exception.revoke, attestation.add, attestation.revoke, soa.set
	// Ref is the exception or attestation id, or the control id for soa.set.
	Ref    string          `json:"ref"`
	Detail json.RawMessage `json:"detail"`
	Hash   string          `json:"hash"`
}

// Governance actions.
const (
	ActionExceptionAdd      = "exception.add"
	ActionExceptionRevoke   = "exception.revoke"
	ActionAttestationAdd    = "attestation.add"
	ActionAttestationRevoke = "attestation.revoke"
	ActionSoASet            = "soa.set"
)

// Governance is the record of human decisions about controls: exceptions
// (accepted risks), attestations (manual controls met) and the Statement
// of Applicability. Nothing is ever deleted: revocation and expiry are
// states, and every change is also an entry of a hash-chained log.
type Governance interface {
	// AddException validates and stores an exception (EINVALID with the
	// field at fault otherwise) and returns it with its id.
	AddException(ctx context.Context, n NewException) (*Exception, error)
	// Exceptions returns every exception, newest first, expired and
	// revoked ones included; callers filter with Active.
	Exceptions(ctx context.Context) ([]Exception, error)
	// RevokeException ends an exception now. ENOTFOUND for an unknown id,
	// ECONFLICT when it was already revoked.
	RevokeException(ctx context.Context, id, by string) (*Exception, error)

	AddAttestation(ctx context.Context, n NewAttestation) (*Attestation, error)
	// Attestations returns every attestation, newest first.
	Attestations(ctx context.Context) ([]Attestation, error)
	RevokeAttestation(ctx context.Context, id, by string) (*Attestation, error)

	// SetSoA records a control's applicability; SetAt is filled in.
	SetSoA(ctx context.Context, e SoAEntry) (*SoAEntry, error)
	// SoA returns the current entry of every control that has one.
	SoA(ctx context.Context) ([]SoAEntry, error)

	// GovernanceLog returns the log, oldest first, after the entry with id
	// after (0 for all), at most limit entries (0 for all).
	GovernanceLog(ctx context.Context, after int64, limit int) ([]GovernanceEvent, error)
}

// The Validate methods list their checks with cmp.Or, which returns the
// first error that is not nil: fields are checked in the order a form shows
// them, and the first one at fault is reported. The checks are pure, so
// running the later ones too changes nothing.

func field(name, format string, args ...any) *Error {
	e := Errorf(EINVALID, format, args...)
	e.Field = name
	return e
}

func need(name, v string, max int) error {
	switch {
	case strings.TrimSpace(v) == "":
		return field(name, "%s is required", name)
	case len(v) > max:
		return field(name, "%s is longer than %d bytes", name, max)
	case !utf8.ValidString(v):
		return field(name, "%s is not valid UTF-8", name)
	}
	return nil
}

// optional checks a text field that may be empty.
func optional(name, v string, max int) error {
	if len(v) > max || !utf8.ValidString(v) {
		return field(name, "%s must be at most %d bytes of UTF-8", name, max)
	}
	return nil
}

func controlID(id string) error {
	if err := need("control_id", id, maxName); err != nil {
		return err
	}
	if fw, c, ok := strings.Cut(id, "/"); !ok || fw == "" || c == "" {
		return field("control_id", "control_id %q must be namespaced by framework, e.g. iso27001-2022/5.1", id)
	}
	return nil
}

func expiry(t, now time.Time) error {
	if t.IsZero() {
		return field("expires_at", "expires_at is required (at most %s ahead)", MaxTerm)
	}
	if !t.After(now) {
		return field("expires_at", "expires_at %s is not in the future", t.UTC().Format(time.RFC3339))
	}
	if t.After(maxTermEnd(now)) {
		return field("expires_at", "expires_at %s is more than %s ahead; the latest allowed is %s",
			t.UTC().Format(time.RFC3339), MaxTerm, maxTermEnd(now).UTC().Format(time.RFC3339))
	}
	return nil
}
