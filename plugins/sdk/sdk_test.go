package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/annexa/annexa/evidence"
)

func TestConfigDecodeNamesTheField(t *testing.T) {
	var s struct {
		Roots []string `json:"roots"`
		Limit int      `json:"limit"`
	}
	cases := []struct {
		raw, field, msg string
	}{
		{`{"rots": ["/x"]}`, "rots", "is not a setting"},
		{`{"limit": "many"}`, "limit", "must be int"},
		{`{"roots": "/x"}`, "roots", "must be []string"},
	}
	for _, tc := range cases {
		err := Config{Raw: json.RawMessage(tc.raw)}.Decode(&s)
		var fe FieldErrors
		if !errors.As(err, &fe) || len(fe) != 1 || fe[0].Field != tc.field || !strings.Contains(fe[0].Message, tc.msg) {
			t.Errorf("%s: err = %#v", tc.raw, err)
		}
	}
	for _, empty := range []string{"", "null", "  "} {
		if err := (Config{Raw: json.RawMessage(empty)}).Decode(&s); err != nil {
			t.Errorf("empty settings %q: %v", empty, err)
		}
	}
}

func TestToEvidenceChecksWhatTheAgentWill(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))
	r, err := toEvidence(Upsert("dataset", "dataset:/a", map[string]int{"n": 1}), now)
	if err != nil {
		t.Fatal(err)
	}
	if r.ObservedAt != now.UTC() || r.ObservedAt.Location() != time.UTC || string(r.Attributes) != `{"n":1}` || r.Schema != 1 {
		t.Errorf("record = %+v", r)
	}
	if r, err := toEvidence(Delete("dataset", "dataset:/a"), now); err != nil || string(r.Attributes) != "{}" {
		t.Errorf("delete = %+v, %v", r, err)
	}
	bad := []Record{
		{Kind: "Bad Kind", Subject: "x", Op: OpUpsert},
		{Kind: "dataset", Subject: "", Op: OpUpsert},
		{Kind: "dataset", Subject: "x", Op: "merge"},
		{Kind: "dataset", Subject: "x", Op: OpUpsert, Attributes: []int{1}},
		{Kind: "dataset", Subject: "x", Op: OpUpsert, Attributes: func() {}},
	}
	for _, b := range bad {
		if _, err := toEvidence(b, now); err == nil {
			t.Errorf("accepted %+v", b)
		}
	}
}

func TestByteRate(t *testing.T) {
	ctx := context.Background()
	r := NewByteRate(1 << 20)
	start := time.Now()
	r.Wait(ctx, 1<<20) // the one-second burst
	if err := r.Wait(ctx, 512<<10); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 400*time.Millisecond {
		t.Errorf("1.5 MiB at 1 MiB/s took %v", d)
	}
	// Reads larger than the burst wait for several bursts, not fail.
	small := NewByteRate(64 << 10)
	start = time.Now()
	if err := small.Wait(ctx, 160<<10); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < time.Second {
		t.Errorf("160 KiB at 64 KiB/s after a 64 KiB burst took %v", d)
	}
	var unlimited *ByteRate = NewByteRate(0)
	if err := unlimited.Wait(ctx, 1<<40); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := r.Wait(cctx, 1); err == nil {
		t.Error("Wait ignored a cancelled context")
	}
}

// Attributes a plugin built as JSON text are sent as they are (the agent
// parses them), and copied so the plugin may reuse its buffer; only a
// newline is compacted away, so a record stays one line wherever it is
// printed.
func TestToEvidenceRawAttributes(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	buf := []byte(`{"path": "/srv/<a&b>", "n":1}`)
	for _, attrs := range []any{json.RawMessage(buf), buf} {
		r, err := toEvidence(Upsert("model", "model:/a", attrs), now)
		if err != nil {
			t.Fatal(err)
		}
		if string(r.Attributes) != string(buf) {
			t.Errorf("%T attributes = %s, want them as given: %s", attrs, r.Attributes, buf)
		}
		saved := string(r.Attributes)
		copy(buf, `{"xxxx"`)
		if string(r.Attributes) != saved {
			t.Errorf("%T: the record shares the plugin's buffer: %s", attrs, r.Attributes)
		}
		copy(buf, `{"path"`)
	}
	r, err := toEvidence(Upsert("model", "model:/a", json.RawMessage("{\n  \"a\": \"x y\",\n  \"b\": [1, 2]\n}\n")), now)
	if err != nil {
		t.Fatal(err)
	}
	if string(r.Attributes) != `{"a":"x y","b":[1,2]}` {
		t.Errorf("attributes with newlines = %q, want them compacted", r.Attributes)
	}
	for raw, want := range map[string]string{
		`{"a":`:     "attributes: must be a JSON object",
		"{\"a\":\n": "attributes: must be a JSON object",
		`[1,2]`:     "attributes: must be a JSON object",
		``:          "attributes: is missing",
	} {
		_, err := toEvidence(Upsert("model", "model:/a", json.RawMessage(raw)), now)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("attributes %q: err = %v, want %q", raw, err, want)
		}
	}
	// Text shaped like an object but not JSON is the agent's to refuse:
	// the SDK does not parse raw attributes a second time.
	r, err = toEvidence(Upsert("model", "model:/a", json.RawMessage(`{"a":1,}`)), now)
	if err != nil {
		t.Fatalf("object-shaped text refused by the SDK: %v", err)
	}
	if _, err := fromProto(toProto(r)); err == nil || !strings.Contains(err.Error(), "attributes: is not valid JSON") {
		t.Errorf("the agent's side took attributes %s: %v", r.Attributes, err)
	}
}

// BenchmarkToEvidenceRaw is what Emit costs a plugin that builds its
// attributes as JSON text: as given (raw) against the json.Marshal of the
// RawMessage it replaced (marshal), which compacted and checked them again.
func BenchmarkToEvidenceRaw(b *testing.B) {
	attrs := json.RawMessage(`{"path":"/srv/ml/models/team/run-17/checkpoint-4000/model.safetensors","format":"safetensors","size_bytes":498654321,"sha256":"5f2b8a0c9d1e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a","hash_status":"ok","parameters":124439808,"dtypes":["F32"],"architecture":"GPT2LMHeadModel","license":"mit","owner":"alice","group":"ml","mode":"0640","modified_at":"2026-11-01T10:00:00Z","findings":[],"metadata":{"format":"pt"}}`)
	now := time.Now()
	b.Run("raw", func(b *testing.B) {
		for b.Loop() {
			if _, err := toEvidence(Upsert("model", "model:/srv/ml/models/m", attrs), now); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("marshal", func(b *testing.B) {
		for b.Loop() {
			m, err := json.Marshal(attrs)
			if err != nil {
				b.Fatal(err)
			}
			e := evidence.Record{Kind: "model", Schema: 1, Subject: "model:/srv/ml/models/m", Op: OpUpsert, ObservedAt: now, Attributes: m}
			if err := e.Validate(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func TestGenerationCheckpoint(t *testing.T) {
	cp := GenerationCheckpoint("models", 42)
	if got := ParseGenerationCheckpoint("models", cp); got != 42 {
		t.Errorf("round trip gave %d", got)
	}
	for _, c := range []struct {
		plugin string
		cp     string
	}{
		{"datasets", string(cp)}, // another plugin's
		{"models", ""},
		{"models", "models-generation:-1"},
		{"models", "models-generation:x"},
		{"models", "offset:1234"},
	} {
		if got := ParseGenerationCheckpoint(c.plugin, []byte(c.cp)); got != 0 {
			t.Errorf("%s reads %q as generation %d, want 0", c.plugin, c.cp, got)
		}
	}
}
