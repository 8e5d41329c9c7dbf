package models

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/annexa/annexa/plugins/sdk"
)

type recorder struct{ recs []sdk.Record }

func (r *recorder) Emit(rec sdk.Record) error { r.recs = append(r.recs, rec); return nil }
func (r *recorder) Checkpoint([]byte) error   { return nil }

func (r *recorder) summary() string {
	var s []string
	for _, rec := range r.recs {
		s = append(s, string(rec.Op)+" "+filepath.Base(strings.TrimPrefix(rec.Subject, "model:")))
	}
	slices.Sort(s)
	return strings.Join(s, ", ")
}

// fixtureTree copies some committed fixtures under misleading names: the
// plugin must go by content.
func fixtureTree(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for src, dst := range map[string]string{
		"state_dict.pt":    "bert/pytorch_model.bin",
		"evil.pkl":         "bert/notes.txt",
		"tiny.safetensors": "bert/model.safetensors",
		"tiny.gguf":        "llm/q4.weights",
		"floats.npy":       "arrays/a.npy",
	} {
		b, err := os.ReadFile(filepath.Join("testdata", "fixtures", src))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(root, dst)
		os.MkdirAll(filepath.Dir(p), 0o750)
		if err := os.WriteFile(p, b, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(root, "bert", "config.json"), []byte(`{"a":1}`), 0o640)
	os.WriteFile(filepath.Join(root, "README.md"), []byte("# models\n"), 0o640)
	return root
}

// attrsOf decodes a record's attributes as the agent receives them.
func attrsOf(t testing.TB, r sdk.Record) Attributes {
	t.Helper()
	var a Attributes
	switch v := r.Attributes.(type) {
	case json.RawMessage:
		if err := json.Unmarshal(v, &a); err != nil {
			t.Fatalf("%s: %v", r.Subject, err)
		}
	case Attributes:
		a = v
	default:
		t.Fatalf("%s: attributes of type %T", r.Subject, r.Attributes)
	}
	return a
}

func configured(t testing.TB, settings map[string]any, state string) *Plugin {
	t.Helper()
	p := New()
	p.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	raw, _ := json.Marshal(settings)
	if _, err := p.Configure(context.Background(), sdk.Config{Raw: raw, StateDir: state}); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigureErrors(t *testing.T) {
	for _, c := range []struct{ raw, field string }{
		{`{}`, "roots"},
		{`{"roots":["rel"]}`, "roots[0]"},
		{`{"roots":["/a","/a/b"]}`, "roots[1]"},
		{`{"roots":["/a"],"exclude":["["]}`, "exclude[0]"},
		{`{"roots":["/a"],"exclude":["a/b"]}`, "exclude[0]"},
		{`{"roots":["/a"],"max_hash_bytes_per_second":-1}`, "max_hash_bytes_per_second"},
		{`{"roots":["/a"],"max_scan_bytes":-1}`, "max_scan_bytes"},
		{`{"roots":["/a"],"workers":-1}`, "workers"},
		{`{"roots":["/a"],"io_priority":"idle"}`, "io_priority"},
		{`{"roots":["/a"],"nope":1}`, "nope"},
	} {
		_, err := New().Configure(context.Background(), sdk.Config{Raw: json.RawMessage(c.raw)})
		var fe sdk.FieldErrors
		if !errors.As(err, &fe) || !slices.ContainsFunc(fe, func(e sdk.FieldError) bool { return e.Field == c.field }) {
			t.Errorf("%s: %v, want a field error on %s", c.raw, err, c.field)
		}
	}
}

func TestCollectFullAndIncremental(t *testing.T) {
	root := fixtureTree(t)
	state := t.TempDir()
	p := configured(t, map[string]any{"roots": []string{root}}, state)
	var rec recorder
	if err := p.Collect(context.Background(), sdk.Request{Full: true}, &rec); err != nil {
		t.Fatal(err)
	}
	if got := rec.summary(); got != "upsert a.npy, upsert model.safetensors, upsert notes.txt, upsert pytorch_model.bin, upsert q4.weights" {
		t.Fatalf("full: %s", got)
	}
	for _, r := range rec.recs {
		a := attrsOf(t, r)
		if a.HashStatus != "ok" || len(a.SHA256) != 64 || a.Mode != "0640" || a.ModifiedAt == "" || a.Format == "" {
			t.Errorf("%s: %+v", r.Subject, a)
		}
		if want := strings.HasSuffix(a.Path, "notes.txt"); a.Unsafe != want {
			t.Errorf("%s: unsafe %v", a.Path, a.Unsafe)
		}
	}
	if n := p.stats.filesHashed.Load(); n != 5 {
		t.Errorf("hashed %d files", n)
	}

	// A second plugin process over the same state folder hashes nothing.
	p2 := configured(t, map[string]any{"roots": []string{root}}, state)
	rec = recorder{}
	if err := p2.Collect(context.Background(), sdk.Request{Full: true}, &rec); err != nil {
		t.Fatal(err)
	}
	if n := p2.stats.filesHashed.Load(); n != 0 || len(rec.recs) != 5 {
		t.Errorf("rescan hashed %d files, emitted %d", n, len(rec.recs))
	}

	// Incremental: one file removed, one replaced by a non-model, one added.
	os.Remove(filepath.Join(root, "arrays", "a.npy"))
	os.WriteFile(filepath.Join(root, "bert", "notes.txt"), []byte("just notes\n"), 0o640)
	b, _ := os.ReadFile(filepath.Join("testdata", "fixtures", "objects.npy"))
	os.WriteFile(filepath.Join(root, "arrays", "obj.npy"), b, 0o600)
	rec = recorder{}
	err := p2.Collect(context.Background(), sdk.Request{Changed: []string{
		filepath.Join(root, "arrays"), filepath.Join(root, "bert", "notes.txt"),
	}}, &rec)
	if err != nil {
		t.Fatal(err)
	}
	if got := rec.summary(); got != "delete a.npy, delete notes.txt, upsert obj.npy" {
		t.Errorf("incremental: %s", got)
	}
	if _, err := os.Stat(filepath.Join(state, stateName)); err != nil {
		t.Errorf("no state file: %v", err)
	}

	// A whole folder removed.
	os.RemoveAll(filepath.Join(root, "bert"))
	rec = recorder{}
	if err := p2.Collect(context.Background(), sdk.Request{Changed: []string{filepath.Join(root, "bert")}}, &rec); err != nil {
		t.Fatal(err)
	}
	if got := rec.summary(); got != "delete model.safetensors, delete pytorch_model.bin" {
		t.Errorf("folder removed: %s", got)
	}
}

func TestMissingRootKeepsModels(t *testing.T) {
	parent := t.TempDir()
	root := filepath.Join(parent, "share")
	os.Rename(fixtureTree(t), root)
	state := t.TempDir()
	p := configured(t, map[string]any{"roots": []string{root}}, state)
	if err := p.Collect(context.Background(), sdk.Request{Full: true}, &recorder{}); err != nil {
		t.Fatal(err)
	}
	os.Rename(root, root+".unmounted")
	var rec recorder
	if err := p.Collect(context.Background(), sdk.Request{Full: true}, &rec); err != nil {
		t.Fatal(err)
	}
	if n := reported(t, p); len(rec.recs) != 0 || n != 5 {
		t.Errorf("missing root: emitted %s, known %d", rec.summary(), n)
	}
	// Back again: nothing was forgotten, nothing is read again.
	os.Rename(root+".unmounted", root)
	rec = recorder{}
	if err := p.Collect(context.Background(), sdk.Request{Full: true}, &rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.recs) != 5 || p.stats.filesHashed.Load() != 5 {
		t.Errorf("root back: emitted %s, hashed %d in all", rec.summary(), p.stats.filesHashed.Load())
	}
}

func TestExclude(t *testing.T) {
	root := fixtureTree(t)
	p := configured(t, map[string]any{"roots": []string{root}, "exclude": []string{"bert", "*.weights"}}, "")
	var rec recorder
	if err := p.Collect(context.Background(), sdk.Request{Full: true}, &rec); err != nil {
		t.Fatal(err)
	}
	if got := rec.summary(); got != "upsert a.npy" {
		t.Errorf("got %s", got)
	}
	// A change reported inside an excluded folder is not followed either.
	rec = recorder{}
	if err := p.Collect(context.Background(), sdk.Request{Changed: []string{filepath.Join(root, "bert", "notes.txt")}}, &rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.recs) != 0 {
		t.Errorf("excluded change reported: %s", rec.summary())
	}
}

// TestHashPending: a file that changes between the walk's stat and the
// end of hashing (a checkpoint being written) gets no digest and is not
// cached, so the next collection hashes it again.
func TestHashPending(t *testing.T) {
	root := t.TempDir()
	path := filepath.Join(root, "m.safetensors")
	b, _ := os.ReadFile(filepath.Join("testdata", "fixtures", "tiny.safetensors"))
	os.WriteFile(path, b, 0o640)
	p := configured(t, map[string]any{"roots": []string{root}}, t.TempDir())
	before, _ := os.Stat(path)
	os.WriteFile(path, append(b, 0), 0o640) // the writer goes on
	a, read := p.examine(context.Background(), nil, nil, path, statOf(before))
	if !read || a == nil || a.HashStatus != "pending" || a.SHA256 != "" || a.HashError == "" {
		t.Fatalf("%+v", a)
	}
	// Through the pipeline: reported and stored, with no digest to reuse.
	c := &collection{p: p, ctx: context.Background(), folders: &folders{roots: []string{root}},
		ops: make(chan op, 1), sem: make(chan struct{}, 1)}
	c.file(fileJob{dir: root, name: "m.safetensors", st: statOf(before), view: &dirView{dir: root}})
	o := <-c.ops
	if o.put == nil || o.put.SHA256 != "" || !strings.Contains(string(o.emit), `"hash_status":"pending"`) {
		t.Fatalf("pending file: %+v", o)
	}
	w := p.state.startWriter(context.Background())
	c.apply(o, &recorder{}, w)
	w.close()
	if r := p.state.fileRow(context.Background(), path); r == nil || r.reusable(statOf(before).Key) || !r.Reported {
		t.Errorf("pending file stored as %+v", r)
	}
	got := collectOne(t, p, sdk.Request{Full: true})
	if a := got["m.safetensors"]; a.HashStatus != "ok" || len(a.SHA256) != 64 {
		t.Errorf("next collection: %+v", a)
	}
}

// TestIOPriority: the default lowers the plugin's I/O priority to the
// lowest best-effort level on every thread, this one included.
func TestIOPriority(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Linux only")
	}
	configured(t, map[string]any{"roots": []string{t.TempDir()}}, "")
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	prio, err := threadIOPriority()
	if err != nil {
		t.Fatal(err)
	}
	if prio != ioprioLowest {
		t.Errorf("I/O priority %#x, want %#x (best effort, level 7)", prio, ioprioLowest)
	}
}
