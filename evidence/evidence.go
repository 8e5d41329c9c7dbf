// Package evidence is the one vocabulary the agent, the collector and the
// plugin SDK share: the record envelope, its JSON form and the rules every
// record must meet before anyone stores it. It imports nothing of ours so
// that both sides can depend on it without depending on each other.
package evidence

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// Op says how a record changes what the collector knows.
type Op string

const (
	// OpUpsert is the current state of a subject.
	OpUpsert Op = "upsert"
	// OpDelete says the subject no longer exists.
	OpDelete Op = "delete"
	// OpEvent is append-only: it never replaces anything.
	OpEvent Op = "event"
)

// Well-known kinds. Plugins may emit others if they declare them.
const (
	KindDataset       = "dataset"
	KindModel         = "model"
	KindAccessEvent   = "access.event"
	KindAccessSummary = "access.summary"
	KindEncVolume     = "encryption.volume"
	KindEncEndpoint   = "encryption.endpoint"
	KindHost          = "host"
	KindPluginHealth  = "plugin.health"
	KindScanComplete  = "scan.complete"
	KindGap           = "gap"
)

// Limits keep one bad record from costing more than it is worth anywhere on
// the path. They are generous for real inventories.
const (
	MaxKindLen       = 64
	MaxSubjectLen    = 4096
	MaxAttributesLen = 256 << 10
	MaxPluginLen     = 64
	MaxHostLen       = 255
)

// Record is one piece of evidence in its JSON envelope, as printed by
// `annexa-agent collect --output -` and as kept by the collector.
type Record struct {
	Kind       string          `json:"kind"`
	Schema     uint32          `json:"schema"`
	Subject    string          `json:"subject"`
	Op         Op              `json:"op"`
	ObservedAt time.Time       `json:"observed_at"`
	Attributes json.RawMessage `json:"attributes"`
	Host       string          `json:"host,omitempty"`
	Plugin     string          `json:"plugin,omitempty"`
	// Seq is the agent's sequence number; zero until the spool assigns one.
	Seq uint64 `json:"seq,omitempty"`
}

// FieldError names the field of a record that is wrong and why.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

var kindRE = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$`)

// ValidKind reports whether s is a dotted lower-case kind name.
func ValidKind(s string) bool { return len(s) <= MaxKindLen && kindRE.MatchString(s) }

// ParseOp turns the envelope spelling of an op into an Op.
func ParseOp(s string) (Op, error) {
	switch Op(s) {
	case OpUpsert, OpDelete, OpEvent:
		return Op(s), nil
	}
	return "", fmt.Errorf("op %q is not one of upsert, delete, event", s)
}

// Validate checks the envelope and that attributes are one JSON object.
// It does not judge the attributes of a kind: kinds evolve by schema
// version and the collector keeps what it cannot yet interpret.
func (r *Record) Validate() error { return r.validate(true) }

// ValidateEnvelope is Validate but for the JSON syntax of the attributes,
// which it leaves to the receiver (it still wants one object within the
// size limit): for a sender whose receiver parses them anyway, as the
// agent does every record a plugin's SDK sends.
func (r *Record) ValidateEnvelope() error { return r.validate(false) }

func (r *Record) validate(syntax bool) error {
	if !ValidKind(r.Kind) {
		return &FieldError{"kind", fmt.Sprintf("%q is not a dotted lower-case name of at most %d characters (e.g. \"dataset\", \"access.event\")", r.Kind, MaxKindLen)}
	}
	if r.Subject == "" {
		return &FieldError{"subject", "is empty; give a stable id such as \"dataset:/srv/ml/datasets/iris\""}
	}
	if len(r.Subject) > MaxSubjectLen {
		return &FieldError{"subject", fmt.Sprintf("is %d bytes, more than the limit of %d", len(r.Subject), MaxSubjectLen)}
	}
	if !utf8.ValidString(r.Subject) || strings.ContainsAny(r.Subject, "\x00\n") {
		return &FieldError{"subject", "must be valid UTF-8 without NUL or newline"}
	}
	if _, err := ParseOp(string(r.Op)); err != nil {
		return &FieldError{"op", err.Error()}
	}
	if r.ObservedAt.IsZero() {
		return &FieldError{"observed_at", "is missing; set the time the plugin saw the subject (RFC 3339, UTC)"}
	}
	if y := r.ObservedAt.Year(); y < 2000 || y > 9999 {
		return &FieldError{"observed_at", fmt.Sprintf("%s is not a plausible time", r.ObservedAt.Format(time.RFC3339))}
	}
	check := ValidAttributes
	if !syntax {
		check = attributesShape
	}
	if err := check(r.Attributes); err != nil {
		return &FieldError{"attributes", err.Error()}
	}
	if len(r.Plugin) > MaxPluginLen {
		return &FieldError{"plugin", fmt.Sprintf("is longer than %d bytes", MaxPluginLen)}
	}
	if len(r.Host) > MaxHostLen {
		return &FieldError{"host", fmt.Sprintf("is longer than %d bytes", MaxHostLen)}
	}
	return nil
}

// ValidAttributes checks that b is a single JSON object within the size limit.
func ValidAttributes(b []byte) error {
	if err := attributesShape(b); err != nil {
		return err
	}
	if !json.Valid(b) {
		return fmt.Errorf("is not valid JSON")
	}
	return nil
}

// attributesShape is ValidAttributes without parsing b.
func attributesShape(b []byte) error {
	if len(b) == 0 {
		return fmt.Errorf("is missing; send a JSON object, {} when there is nothing to say")
	}
	if len(b) > MaxAttributesLen {
		return fmt.Errorf("is %d bytes, more than the limit of %d", len(b), MaxAttributesLen)
	}
	trimmed := bytes.TrimSpace(b)
	if len(trimmed) == 0 || trimmed[0] != '{' || trimmed[len(trimmed)-1] != '}' {
		return fmt.Errorf("must be a JSON object")
	}
	return nil
}
