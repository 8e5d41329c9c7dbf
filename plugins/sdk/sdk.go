// Package sdk is the only package an Annexa plugin author imports. A plugin
// implements Plugin and calls Serve from main; the go-plugin handshake, the
// gRPC shim and evidence checks live here so that a plugin never sees the
// agent's internals, and a protocol change reaches plugins as a new
// versioned plugin set rather than a silent break.
//
// The agent imports the host side (Handshake, PluginSets, Client) from the
// same package, so both ends always agree on the wire.
package sdk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/annexa/annexa/evidence"
)

// ProtocolVersion is the plugin protocol this SDK speaks.
const ProtocolVersion = 1

// Plugin is what a plugin author implements. The agent calls Info once
// after start, Configure once per process (again after a restart), and
// Collect as often as its schedule and file changes say.
type Plugin interface {
	// Info describes the plugin; it must not touch the host.
	Info() Info
	// Configure validates and applies the plugin's settings and returns
	// the folders the agent should watch for it. Return FieldErrors for
	// settings that are wrong: the agent shows them to the operator and
	// collects nothing until they are fixed.
	Configure(ctx context.Context, cfg Config) (watchRoots []string, err error)
	// Collect observes the host and emits evidence. On a full request it
	// covers everything in scope; the agent then records scan.complete so
	// the collector can retire subjects that were not seen again. Return an
	// error only when the collection as a whole failed.
	Collect(ctx context.Context, req Request, out Emitter) error
}

// Info is the plugin's self-description, checked by the agent before use.
type Info struct {
	Name    string
	Version string
	// Kinds lists every evidence kind the plugin may emit; the agent
	// refuses records of any other kind.
	Kinds []string
	// ConfigSchema is a JSON Schema of the plugin's settings, for docs.
	ConfigSchema string
	// DefaultInterval is how often a full collection should run.
	DefaultInterval time.Duration
}

// Config is the plugin's section of the agent config.
type Config struct {
	// Raw is the section as a JSON object ({} when empty).
	Raw json.RawMessage
	// StateDir is a folder the plugin owns for caches; it survives restarts.
	StateDir string
}

// Decode strictly decodes the settings into v: an unknown field is an
// error naming it, because a misspelt setting silently ignored is how an
// inventory quietly misses a folder.
func (c Config) Decode(v any) error {
	raw := c.Raw
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		raw = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te):
			return FieldErrors{{Field: te.Field, Message: fmt.Sprintf("must be %s, not %s", te.Type, te.Value)}}
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return FieldErrors{{Field: name, Message: "is not a setting of this plugin"}}
		}
		return fmt.Errorf("decode plugin settings: %w", err)
	}
	return nil
}

// FieldError says which setting is wrong and how to fix it.
type FieldError struct {
	Field   string
	Message string
}

// FieldErrors is returned by Configure when settings are wrong.
type FieldErrors []FieldError

func (fe FieldErrors) Error() string {
	parts := make([]string, len(fe))
	for i, e := range fe {
		parts[i] = e.Field + ": " + e.Message
	}
	return strings.Join(parts, "; ")
}

// Request says what the agent wants collected.
type Request struct {
	// Full asks for everything in scope; otherwise only Changed.
	Full bool
	// Changed lists the paths the agent saw change (files or folders).
	Changed []string
	// Checkpoint is the last checkpoint the agent committed, nil at first.
	Checkpoint []byte
	// Unthrottled says a person waits for this collection (`annexa-agent
	// collect --once`), so it should run at full speed. The SDK does the
	// usual part itself: ByteRate waits for nothing and a lowered Linux
	// I/O priority is lifted for the collection. A plugin with limits of
	// its own should skip them too.
	Unthrottled bool
	// ScratchState says the state folder is removed when this collection
	// ends (`annexa-agent collect --once`): caches written to it are never
	// read again, so a plugin may skip writing them.
	ScratchState bool
	// Quiet says nobody reads this collection's progress: the SDK then
	// counts none, and a plugin need not walk ahead to find totals.
	Quiet bool
	// AcceptsUnchanged says the agent understands ReportUnchanged: a full
	// collection may then leave out the subjects that are as it last sent
	// them. Without it, a full collection must send every subject in
	// scope, or the collector retires the ones left out.
	AcceptsUnchanged bool
}

// Op is how a record changes the collector's view of its subject.
type Op = evidence.Op

// The three ops.
const (
	OpUpsert = evidence.OpUpsert
	OpDelete = evidence.OpDelete
	OpEvent  = evidence.OpEvent
)

// Record is one piece of evidence as a plugin builds it.
type Record struct {
	Kind    string
	Schema  uint32
	Subject string
	Op      Op
	// ObservedAt defaults to the time of Emit.
	ObservedAt time.Time
	// Attributes is marshalled to a JSON object (a struct or a map). A
	// json.RawMessage or []byte is taken as the object's JSON text and
	// sent as it is, copied but not re-encoded (whitespace is compacted
	// only when it holds a newline, and <, > and & are not escaped): a
	// plugin that builds its JSON itself pays for no second pass. Its
	// syntax is checked by the agent, which parses every record anyway:
	// text that is not JSON fails the collection there, with the record's
	// number, kind and subject (and in plugintest's conformance kit).
	Attributes any
}

// Upsert builds a state record: the subject exists and looks like attrs.
func Upsert(kind, subject string, attrs any) Record {
	return Record{Kind: kind, Schema: 1, Subject: subject, Op: OpUpsert, Attributes: attrs}
}

// Delete builds a record saying the subject is gone.
func Delete(kind, subject string) Record {
	return Record{Kind: kind, Schema: 1, Subject: subject, Op: OpDelete, Attributes: map[string]any{}}
}

// Event builds an append-only record.
func Event(kind, subject string, attrs any) Record {
	return Record{Kind: kind, Schema: 1, Subject: subject, Op: OpEvent, Attributes: attrs}
}

// Emitter receives a plugin's evidence. Records are sent in groups;
// Checkpoint closes a group so that the agent commits the records before
// it and the checkpoint in one transaction: after a crash the plugin is
// handed back exactly that checkpoint, so nothing is lost or doubled.
type Emitter interface {
	Emit(Record) error
	Checkpoint(cp []byte) error
}

// UnchangedReporter is implemented by the emitter the SDK hands to
// Collect; see ReportUnchanged.
type UnchangedReporter interface {
	Unchanged(since time.Time, subjects int) error
}

// ReportUnchanged ends a full collection that left out subjects it found
// as it last sent them: every subject of the plugin's kinds that this
// collection did not send is exactly as this plugin sent it to this agent
// no earlier than since, and a delete was sent for every subject that is
// gone. The agent then retires only subjects not seen since since.
//
// Say it only when Request.AcceptsUnchanged is set and Request.Checkpoint
// proves the agent committed everything sent before (a plugin checkpoints
// a generation number at the end of each collection and compares): after
// a crash, a lost spool or a new state folder, send everything again.
func ReportUnchanged(out Emitter, since time.Time, subjects int) error {
	u, ok := out.(UnchangedReporter)
	if !ok {
		return fmt.Errorf("the emitter (%T) cannot report unchanged subjects; send them all", out)
	}
	return u.Unchanged(since, subjects)
}

// GenerationCheckpoint is the checkpoint that ends a collection numbered
// generation, for the rule of ReportUnchanged: a plugin stores the number
// before it sends anything and checkpoints it after everything, so the
// checkpoint the agent hands back equals the stored number only if the
// agent committed every record sent so far. plugin names the plugin, so
// one plugin's checkpoint is never read as another's.
func GenerationCheckpoint(plugin string, generation int64) []byte {
	return []byte(plugin + "-generation:" + strconv.FormatInt(generation, 10))
}

// ParseGenerationCheckpoint reads what GenerationCheckpoint made for
// plugin; 0 for anything else (no checkpoint, another format).
func ParseGenerationCheckpoint(plugin string, cp []byte) int64 {
	s, ok := strings.CutPrefix(string(cp), plugin+"-generation:")
	if !ok {
		return 0
	}
	g, err := strconv.ParseInt(s, 10, 64)
	if err != nil || g < 0 {
		return 0
	}
	return g
}

// rawAttributes copies JSON text a plugin built itself, since the plugin
// may reuse its buffer once Emit returns. json.Marshal would also
// validate and compact it, a second pass over every byte; only a newline,
// which can be nothing but whitespace in valid JSON, is compacted away, so
// a record stays one line wherever it is printed. Text that is not JSON
// is left to the agent to refuse (see Record.Attributes).
func rawAttributes(b []byte) []byte {
	if bytes.IndexByte(b, '\n') >= 0 {
		var buf bytes.Buffer
		if json.Compact(&buf, b) == nil {
			return buf.Bytes()
		}
	}
	return bytes.Clone(b)
}

// toEvidence checks a record the way the agent will, so a plugin author
// learns of a mistake from the SDK's error rather than from a health report.
func toEvidence(r Record, now time.Time) (evidence.Record, error) {
	if r.Schema == 0 {
		r.Schema = 1
	}
	if r.ObservedAt.IsZero() {
		r.ObservedAt = now
	}
	attrs := []byte("{}")
	switch a := r.Attributes.(type) {
	case nil:
	case json.RawMessage:
		attrs = rawAttributes(a)
	case []byte:
		attrs = rawAttributes(a)
	default:
		b, err := json.Marshal(r.Attributes)
		if err != nil {
			return evidence.Record{}, fmt.Errorf("marshal attributes of %s %s: %w", r.Kind, r.Subject, err)
		}
		attrs = b
	}
	e := evidence.Record{
		Kind: r.Kind, Schema: r.Schema, Subject: r.Subject, Op: r.Op,
		ObservedAt: r.ObservedAt.UTC(), Attributes: attrs,
	}
	// The envelope only: json.Marshal's output is JSON, and raw text is
	// parsed by the agent; parsing it here too was a third of a plugin's
	// time on a tree of small models.
	if err := e.ValidateEnvelope(); err != nil {
		return evidence.Record{}, fmt.Errorf("record %s %q: %w", r.Kind, r.Subject, err)
	}
	return e, nil
}
