package controls

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/annexa/annexa/collector/internal/attrjson"
)

// referenceAttrs is what decodeAttrs must return: encoding/json's
// map[string]any, less the attributes keys does not want.
func referenceAttrs(raw []byte, keys *attrKeys) map[string]any {
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil || m == nil {
		return map[string]any{}
	}
	for k := range m {
		if !keys.wants([]byte(k)) {
			delete(m, k)
		}
	}
	return m
}

// realAttributes are the attributes of every record the real agent and
// plugins printed for the report tests' fleet.
func realAttributes(t testing.TB) [][]byte {
	f, err := os.Open(filepath.Join("..", "report", "testdata", "fleet.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec struct {
			Attributes json.RawMessage `json:"attributes"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		out = append(out, rec.Attributes)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// keysFor builds the attribute set of a comma-separated list of names and
// an assert text.
func keysFor(names, text string) *attrKeys {
	k := &attrKeys{names: map[string]bool{}}
	for n := range strings.SplitSeq(names, ",") {
		k.names[n] = true
	}
	k.readText(text)
	return k
}

// FuzzDecodeAttrs holds the quick attribute scanner to encoding/json: the
// same map for any input and any set of attributes kept.
func FuzzDecodeAttrs(f *testing.F) {
	for _, raw := range realAttributes(f) {
		f.Add(string(raw), "path,pii,unsafe,findings", "!attrs.world_readable || size(attrs.pii) == 0")
	}
	for _, raw := range []string{
		`{"a":1e400}`, `{"b":1e400,"a":1}`, `{"a":"\u00e9","b":"x"}`, `{"a\u0062":1}`, `{"a":1,"a":{"x":[1,2]}}`,
		"{\"a\":\"\xff\"}", "{\"b\":\"\xff\"}", `{"a":01}`, `{"a":-0.5e-3}`, `[1]`, `null`, ` {} `, `{"a":[]}`, `{"a":{}}`,
		`{"a":tru}`, `{"b":"\q"}`, `{"a":1}x`, `{"a":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`,
	} {
		f.Add(raw, "a", "attrs.a")
	}
	f.Fuzz(func(t *testing.T, raw, names, text string) {
		if len(raw) > 1<<16 {
			return
		}
		for _, keys := range []*attrKeys{nil, keysFor(names, text)} {
			got, want := decodeAttrs([]byte(raw), keys), referenceAttrs([]byte(raw), keys)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("decodeAttrs(%q) = %#v, encoding/json %#v", raw, got, want)
			}
		}
	})
}

// The plugins' real output is read by the scanner itself, not handed to
// encoding/json: the speed of a one-shot report rests on it.
func TestDecodeAttrsQuickPath(t *testing.T) {
	keys := keysFor("path,pii", "attrs.world_readable")
	for _, raw := range realAttributes(t) {
		m, ok := attrjson.Object(raw, keys.wants)
		if !ok {
			t.Errorf("the scanner gave up on %s", raw)
			continue
		}
		if want := referenceAttrs(raw, keys); !reflect.DeepEqual(m, want) {
			t.Errorf("decodeAttrs(%s) = %#v, want %#v", raw, m, want)
		}
	}
}

// The embedded checks' attributes are decoded, and only those: an
// attribute a check reads must never be dropped (it would judge "no such
// key"), and one no check reads is not kept.
func TestSubjectAttrKeys(t *testing.T) {
	e := Default()
	ds := e.attrKeys["dataset"]
	if ds == nil {
		t.Fatal("dataset attributes are all decoded; the embedded checks read them by name")
	}
	for _, name := range []string{"world_readable", "pii", "mode", "classification", "path", "retention_days", "modified_at", "masked", "license_source", "hash_error", "quality"} {
		if !ds.wants([]byte(name)) {
			t.Errorf("dataset attribute %s, read by a check, is not decoded", name)
		}
	}
	for _, name := range []string{"formats", "file_count", "size_bytes", "world_readable_files"} {
		if ds.wants([]byte(name)) {
			t.Errorf("dataset attribute %s, read by no check, is decoded", name)
		}
	}
	if mdl := e.attrKeys["model"]; mdl == nil || !mdl.wants([]byte("findings")) || !mdl.wants([]byte("signed")) {
		t.Errorf("model attributes: %+v", mdl)
	}
	kinds := make([]string, 0, len(e.attrKeys))
	for k := range e.attrKeys {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	var subj []string
	for k := range e.subjectKinds {
		subj = append(subj, k)
	}
	slices.Sort(subj)
	if !slices.Equal(kinds, subj) {
		t.Errorf("attribute sets for %v, subject kinds %v", kinds, subj)
	}
}

// An expression that uses attrs as a whole (its size, a key from a
// variable) decodes every attribute of its kind; one naming attributes
// keeps those, and observe's names count too.
func TestAttrKeysRead(t *testing.T) {
	dir := t.TempDir()
	yaml := `checks:
  - id: t.whole
    title: Whole
    kind: model
    assert: 'size(attrs) > 0'
    severity: low
    controls: [iso27001-2022/8.1]
  - id: t.named
    title: Named
    kind: dataset
    assert: 'attrs["owner"] != "" && "group" in attrs'
    observe:
      mode: 'attrs.mode'
    severity: low
    controls: [iso27001-2022/8.1]
`
	if err := os.WriteFile(filepath.Join(dir, "t.yaml"), []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	e, err := Load(os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := e.attrKeys["model"]; !ok || k != nil {
		t.Errorf("model: %+v, want every attribute (nil)", k)
	}
	ds := e.attrKeys["dataset"]
	for _, name := range []string{"owner", "group", "mode"} {
		if !ds.wants([]byte(name)) {
			t.Errorf("dataset attribute %s not decoded", name)
		}
	}
	got := decodeAttrs([]byte(`{"owner":"ml","group":"ml","mode":"0750","formats":{"csv":1}}`), ds)
	if _, ok := got["formats"]; ok || got["owner"] != "ml" || got["group"] != "ml" || got["mode"] != "0750" {
		t.Errorf("decoded %v", got)
	}
}
