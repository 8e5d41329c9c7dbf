package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/annexa/annexa/evidence"
)

// encoderLine is what collect --once printed before lineWriter, and what
// it must still print.
func encoderLine(t testing.TB, r evidence.Record) []byte {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(r); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writerLine(t testing.TB, r evidence.Record) []byte {
	var buf bytes.Buffer
	lw := &lineWriter{w: &buf}
	if err := lw.write(r); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var lineAttrs = []string{
	`{}`,
	`{"path":"/srv/ml/models/bert","size_bytes":440473133,"sha256":"ab12","findings":[]}`,
	`{"a": 1, "b" : [1, 2]}`,
	"{\n  \"a\": 1,\n  \"b\": \"x\"\n}",
	"{\"a\":1}\n",
	"{\t\"a\":\r\n1}",
	`{"text":"spaces inside strings stay"}`,
	`{"text":"a\nb \"quoted\" \\ back\\"}`,
	`{"html":"<script>&amp;</script>"}`,
	`{"<key>":1}`,
	`{"u":"naïve — 日本語 🤖"}`,
	"{\"ls\":\"line\u2028sep\u2029para\"}",
	`{"esc":"\u2028 and \u003c stay escaped"}`,
	"{\"e2\":\"\u20ac\u2026\u2030\"}",
	`{"nested":{"x":[{"y":null,"z":true}],"n":-1.5e10}}`,
	`{"quote_end":"\\"}`,
	`{"k":"v","attributes":0}`,
}

// The JSON lines are byte for byte those json.Encoder wrote, whatever the
// attributes hold: whitespace the encoder compacts, newlines, what it
// escapes for HTML, line and paragraph separators, unicode.
func TestLineWriterMatchesEncoder(t *testing.T) {
	at := time.Date(2026, 11, 29, 10, 0, 0, 123456789, time.UTC)
	for i, attrs := range lineAttrs {
		for _, env := range []evidence.Record{
			{Kind: "model", Schema: 1, Subject: "model:/srv/ml/m.bin", Op: evidence.OpUpsert, ObservedAt: at, Host: "h", Plugin: "models"},
			{Kind: "test.state", Schema: 3, Subject: `s:<a&b> "q" ,"attributes":0 é`, Op: evidence.OpEvent, ObservedAt: at.Add(time.Hour)},
			{Kind: "x", Schema: 1, Subject: "y", Op: evidence.OpDelete, ObservedAt: at, Plugin: "p", Seq: 42},
		} {
			env.Attributes = json.RawMessage(attrs)
			if err := env.Validate(); err != nil {
				t.Fatalf("case %d is not a valid record: %v", i, err)
			}
			want, got := encoderLine(t, env), writerLine(t, env)
			if !bytes.Equal(got, want) {
				t.Errorf("case %d (%q):\n got %s\nwant %s", i, attrs, got, want)
			}
			if bytes.Count(got, []byte("\n")) != 1 {
				t.Errorf("case %d: line %q is not one line", i, got)
			}
		}
	}
}

// The fast path must be the one taken for the usual, compact attributes,
// or the writer saves nothing.
func TestCopyable(t *testing.T) {
	for attrs, want := range map[string]bool{
		`{"path":"/a b/c","n":1,"l":[1,2]}`: true,
		`{"u":"naïve — 日本語"}`:               true,
		`{"a": 1}`:                          false,
		"{\"a\":1}\n":                       false,
		`{"h":"<"}`:                         false,
		"{\"s\":\"\u2028\"}":                false,
		`{"q":"\\\" "}`:                     true,
		`{"q":"\\\\" }`:                     false,
	} {
		if got := copyable([]byte(attrs)); got != want {
			t.Errorf("copyable(%s) = %v, want %v", attrs, got, want)
		}
	}
}

func FuzzLineWriter(f *testing.F) {
	for _, a := range lineAttrs {
		f.Add(a, "model:/srv/x", "gpu-01", uint64(0))
	}
	at := time.Date(2026, 11, 29, 10, 0, 0, 1, time.UTC)
	f.Add(`{"a":"<\u2028>"}`, "s:<é>\t", "h\x00\xff", uint64(7))
	f.Fuzz(func(t *testing.T, attrs, subject, host string, seq uint64) {
		r := evidence.Record{Kind: "model", Schema: 1, Subject: subject, Op: evidence.OpUpsert, ObservedAt: at.Add(time.Duration(seq)),
			Attributes: json.RawMessage(attrs), Host: host, Plugin: "models", Seq: seq}
		if r.Validate() != nil {
			return
		}
		if want, got := encoderLine(t, r), writerLine(t, r); !bytes.Equal(got, want) {
			t.Errorf("attrs %q subject %q host %q:\n got %s\nwant %s", attrs, subject, host, got, want)
		}
	})
}

// BenchmarkJSONLines compares the writer with json.Encoder on model-like
// records (make bench).
func BenchmarkJSONLines(b *testing.B) {
	attrs := fmt.Sprintf(`{"path":"/srv/ml/models/team/run-17/checkpoint-4000/model.safetensors","format":"safetensors","size_bytes":498654321,"sha256":"%064x","hash_status":"ok","parameters":124439808,"dtypes":["F32"],"architecture":"GPT2LMHeadModel","license":"mit","owner":"alice","group":"ml","mode":"0640","modified_at":"2026-11-01T10:00:00Z","findings":[],"metadata":{"format":"pt"}}`, 12345)
	r := evidence.Record{Kind: "model", Schema: 1, Subject: "model:/srv/ml/models/team/run-17/checkpoint-4000/model.safetensors", Op: evidence.OpUpsert,
		ObservedAt: time.Now().UTC(), Attributes: json.RawMessage(attrs), Host: "gpu-01", Plugin: "models"}
	var buf bytes.Buffer
	b.Run("encoder", func(b *testing.B) {
		enc := json.NewEncoder(&buf)
		for b.Loop() {
			buf.Reset()
			enc.Encode(r)
		}
	})
	b.Run("lineWriter", func(b *testing.B) {
		lw := &lineWriter{w: &buf}
		for b.Loop() {
			buf.Reset()
			lw.write(r)
		}
	})
}
