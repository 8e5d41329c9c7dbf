package models

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/annexa/annexa/plugins/sdk"
)

func write(t *testing.T, path string, body []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, body, 0o640); err != nil {
		t.Fatal(err)
	}
}

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "fixtures", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

const rev = "0123456789abcdef0123456789abcdef01234567"

// provenanceTree lays out the places a model comes from: a Hugging Face
// hub cache (blobs linked from a snapshot, as huggingface_hub writes
// them), a git clone whose remote URL carries a token, an in-house
// folder, and a card that says where its model came from.
func provenanceTree(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	st, gg := fixture(t, "tiny.safetensors"), fixture(t, "tiny.gguf")

	hub := filepath.Join(root, "hf", "hub", "models--org--tiny")
	write(t, filepath.Join(hub, "blobs", sum(st)), st)
	write(t, filepath.Join(hub, "refs", "main"), []byte(rev))
	os.MkdirAll(filepath.Join(hub, "snapshots", rev), 0o750)
	os.MkdirAll(filepath.Join(hub, "snapshots", "ffff"), 0o750)
	if err := os.Symlink(filepath.Join("..", "..", "blobs", sum(st)), filepath.Join(hub, "snapshots", rev, "model.safetensors")); err != nil {
		t.Fatal(err)
	}

	clone := filepath.Join(root, "clones", "llama")
	write(t, filepath.Join(clone, ".git", "config"), []byte("[core]\n\tbare = false\n[remote \"upstream\"]\n\turl = https://example.org/x.git\n[remote \"origin\"]\n\turl = https://ml:hf_SECRETTOKEN@huggingface.co/meta-llama/Llama-3.2-1B\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n"))
	write(t, filepath.Join(clone, ".git", "HEAD"), []byte("ref: refs/heads/main\n"))
	write(t, filepath.Join(clone, ".git", "packed-refs"), []byte("# pack-refs with: peeled fully-peeled sorted\n"+rev+" refs/heads/main\n"))
	write(t, filepath.Join(clone, "gguf", "q4.gguf"), gg)

	lab := filepath.Join(root, "lab")
	write(t, filepath.Join(lab, ".git", "config"), []byte("[remote \"origin\"]\n\turl = git@gitlab.example.org:ml/ranker.git\n"))
	write(t, filepath.Join(lab, ".git", "HEAD"), []byte(rev+"\n"))
	write(t, filepath.Join(lab, "ranker.safetensors"), st)

	write(t, filepath.Join(root, "ours", "run-42", "model.safetensors"), st)
	write(t, filepath.Join(root, "carded", "README.md"), []byte("---\nlicense: mit\nsource: internal:training-run-42\n---\n"))
	write(t, filepath.Join(root, "carded", "model.gguf"), gg)
	write(t, filepath.Join(root, "unknown", "model.gguf"), gg)
	return root
}

func TestProvenance(t *testing.T) {
	root := provenanceTree(t)
	st := fixture(t, "tiny.safetensors")
	// The list is a symlink, as configuration management often makes it.
	etc := t.TempDir()
	pins := filepath.Join(etc, "approved-models.txt")
	write(t, filepath.Join(etc, "approved-models.txt.v1"), []byte("# approved by the ML platform team\n"+sum(st)+"  model.safetensors\n"))
	if err := os.Symlink("approved-models.txt.v1", pins); err != nil {
		t.Fatal(err)
	}
	p := configured(t, map[string]any{
		"roots":               []string{root},
		"sources":             map[string]string{filepath.Join(root, "ours"): "internal"},
		"pinned_digests_file": pins,
		"deployed_roots":      []string{filepath.Join(root, "lab")},
	}, t.TempDir())
	var rec recorder
	if err := p.Collect(context.Background(), sdk.Request{Full: true}, &rec); err != nil {
		t.Fatal(err)
	}
	got := map[string]Attributes{}
	for _, r := range rec.recs {
		a := attrsOf(t, r)
		rel, _ := filepath.Rel(root, a.Path)
		got[rel] = a
		b, _ := json.Marshal(r)
		if strings.Contains(string(b), "SECRETTOKEN") {
			t.Errorf("a credential reached the evidence: %s", b)
		}
	}
	want := []struct {
		rel, source, from string
		third, pinned     bool
		deployed          bool
	}{
		{"hf/hub/models--org--tiny/blobs/" + sum(st), "huggingface:org/tiny@" + rev, "hf_cache", true, true, false},
		{"clones/llama/gguf/q4.gguf", "huggingface:meta-llama/Llama-3.2-1B@" + rev, "git", true, false, false},
		{"lab/ranker.safetensors", "git:gitlab.example.org:ml/ranker.git@" + rev, "git", true, true, true},
		{"ours/run-42/model.safetensors", "internal", "config", false, true, false},
		{"carded/model.gguf", "internal:training-run-42", "model_card", false, false, false},
		{"unknown/model.gguf", "", "", false, false, false},
	}
	if len(got) != len(want) {
		t.Fatalf("reported %s", rec.summary())
	}
	for _, w := range want {
		a, ok := got[w.rel]
		if !ok || a.Source != w.source || a.SourceFrom != w.from || a.ThirdParty != w.third || a.Pinned != w.pinned || a.Deployed != w.deployed {
			t.Errorf("%s: source %q from %q third_party %v pinned %v deployed %v", w.rel, a.Source, a.SourceFrom, a.ThirdParty, a.Pinned, a.Deployed)
		}
	}

	// The operator approves the GGUF digest: the next collection sees it
	// without a restart. A list that breaks later keeps the last one read.
	write(t, pins, []byte(sum(st)+"  model.safetensors\n"+sum(fixture(t, "tiny.gguf"))+" *q4.gguf\n"))
	if a := collectOne(t, p, sdk.Request{Full: true})["q4.gguf"]; !a.Pinned {
		t.Errorf("approved later, not pinned: %s", dump(a))
	}
	write(t, pins, []byte("not a digest\n"))
	if a := collectOne(t, p, sdk.Request{Full: true})["q4.gguf"]; !a.Pinned {
		t.Errorf("a broken list unpinned the model: %s", dump(a))
	}
}

func TestProvenanceSettingErrors(t *testing.T) {
	root := t.TempDir()
	badPins := filepath.Join(root, "pins.txt")
	write(t, badPins, []byte(strings.Repeat("a", 64)+"  ok\nnope  x\n"))
	for _, c := range []struct {
		settings map[string]any
		field    string
		msg      string
	}{
		{map[string]any{"sources": map[string]string{"rel": "internal"}}, `sources["rel"]`, "absolute"},
		{map[string]any{"sources": map[string]string{"/srv": " "}}, `sources["/srv"]`, "empty"},
		{map[string]any{"deployed_roots": []string{"/elsewhere"}}, "deployed_roots[0]", "not under any of roots"},
		{map[string]any{"pinned_digests": []string{"abc"}}, "pinned_digests[0]", "SHA-256"},
		{map[string]any{"pinned_digests_file": badPins}, "pinned_digests_file", "line 2"},
		{map[string]any{"pinned_digests_file": filepath.Join(root, "missing.txt")}, "pinned_digests_file", "cannot read"},
		{map[string]any{"dataset_roots": []string{"/srv/ml/datasets"}}, "dataset_roots", "scan_dataset_roots"},
		{map[string]any{"scan_dataset_roots": true, "dataset_roots": []string{"datasets"}}, "dataset_roots[0]", "absolute"},
	} {
		c.settings["roots"] = []string{root}
		raw, _ := json.Marshal(c.settings)
		_, err := New().Configure(context.Background(), sdk.Config{Raw: raw})
		var fe sdk.FieldErrors
		if !errors.As(err, &fe) || !slices.ContainsFunc(fe, func(e sdk.FieldError) bool { return e.Field == c.field && strings.Contains(e.Message, c.msg) }) {
			t.Errorf("%s: %v, want %s: …%s…", raw, err, c.field, c.msg)
		}
	}
	// Inline digests work as the file does.
	p := configured(t, map[string]any{"roots": []string{root}, "pinned_digests": []string{"sha256:" + strings.ToUpper(sum([]byte("x")))}}, "")
	if !p.prov.pinned(sum([]byte("x"))) || p.prov.pinned(sum([]byte("y"))) {
		t.Error("inline pinned digests not applied")
	}
}

func TestCleanRemote(t *testing.T) {
	for in, want := range map[string]string{
		"https://user:tok@huggingface.co/org/m":     "https://huggingface.co/org/m",
		"https://hf.co/org/m?token=x#frag":          "https://hf.co/org/m",
		"git@gitlab.example.org:ml/m.git":           "gitlab.example.org:ml/m.git",
		"ssh://git@github.com/org/m.git":            "ssh://github.com/org/m.git",
		"/srv/git/models.git":                       "/srv/git/models.git",
		"internal":                                  "internal",
		"tok3n@host:path/with@at":                   "host:path/with@at",
		"https://huggingface.co/datasets/org/x.git": "https://huggingface.co/datasets/org/x.git",
	} {
		if got := cleanRemote(in); got != want {
			t.Errorf("cleanRemote(%q) = %q, want %q", in, got, want)
		}
	}
	if _, ok := hubURL("https://huggingface.co/datasets/org/x"); ok {
		t.Error("a dataset repository taken for a model")
	}
}

// TestDatasetRoots: with scan_dataset_roots the dataset roots are walked
// and watched too, without walking a folder twice.
func TestDatasetRoots(t *testing.T) {
	base := t.TempDir()
	models, data := filepath.Join(base, "models"), filepath.Join(base, "datasets")
	write(t, filepath.Join(models, "a.gguf"), fixture(t, "tiny.gguf"))
	write(t, filepath.Join(data, "iris", "train.csv"), []byte("a,b\n1,2\n"))
	write(t, filepath.Join(data, "iris", "checkpoint.pt"), fixture(t, "state_dict.pt"))
	settings := map[string]any{"roots": []string{models}, "scan_dataset_roots": true,
		"dataset_roots": []string{data, filepath.Join(models, "inner")}}
	raw, _ := json.Marshal(settings)
	p := New()
	roots, err := p.Configure(context.Background(), sdk.Config{Raw: raw, StateDir: t.TempDir()})
	if err != nil || !slices.Equal(roots, []string{models, data}) {
		t.Fatalf("watched roots %v, %v", roots, err)
	}
	got := collectOne(t, p, sdk.Request{Full: true})
	if _, ok := got["checkpoint.pt"]; !ok || len(got) != 2 {
		t.Errorf("reported %v", slices.Collect(mapsKeys(got)))
	}
	// Without the flag the dataset folder is not walked.
	got = collectOne(t, configured(t, map[string]any{"roots": []string{models}}, t.TempDir()), sdk.Request{Full: true})
	if len(got) != 1 {
		t.Errorf("without scan_dataset_roots: %v", slices.Collect(mapsKeys(got)))
	}
	if m := mergeRoots([]string{"/srv/ml/models"}, []string{"/srv/ml", "/srv/ml/x", "/data", "/data"}); !slices.Equal(m, []string{"/srv/ml", "/data"}) {
		t.Errorf("merged %v", m)
	}
}

func mapsKeys(m map[string]Attributes) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// TestHubCacheFolder: a model met as a hub-cache blob gets the view of
// the snapshot that links it (card, config.json and code are links to
// blobs too), and a snapshot link that leaves the blobs is not read.
func TestHubCacheFolder(t *testing.T) {
	root := t.TempDir()
	repo := filepath.Join(root, "hub", "models--org--tiny")
	st := fixture(t, "tiny.safetensors")
	files := map[string][]byte{
		"model.safetensors": st,
		"README.md":         []byte(card),
		"config.json":       []byte(`{"architectures":["TinyForCausalLM"],"auto_map":{"AutoModel":"modeling_tiny.Tiny"}}`),
		"modeling_tiny.py":  []byte("import os\n"),
	}
	snap := filepath.Join(repo, "snapshots", rev)
	for name, body := range files {
		write(t, filepath.Join(repo, "blobs", sum(body)), body)
		os.MkdirAll(snap, 0o750)
		if err := os.Symlink(filepath.Join("..", "..", "blobs", sum(body)), filepath.Join(snap, name)); err != nil {
			t.Fatal(err)
		}
	}
	// An older snapshot whose card points outside the repository.
	old := filepath.Join(repo, "snapshots", "0000")
	os.MkdirAll(old, 0o750)
	secret := filepath.Join(root, "secret.md")
	write(t, secret, []byte("---\nlicense: stolen\n---\n"))
	os.Symlink(secret, filepath.Join(old, "README.md"))
	os.Symlink(filepath.Join("..", "..", "blobs", sum(st)), filepath.Join(old, "model.safetensors"))
	write(t, filepath.Join(repo, "refs", "main"), []byte(rev))

	got := collectOne(t, configured(t, map[string]any{"roots": []string{root}}, t.TempDir()), sdk.Request{Full: true})
	a, ok := got[sum(st)]
	if !ok {
		t.Fatalf("reported %v", slices.Collect(mapsKeys(got)))
	}
	if !a.HasModelCard || !slices.Equal(a.BaseModel, []string{"meta-llama/Llama-3.2-1B"}) || !slices.Equal(a.Datasets, []string{"tatsu-lab/alpaca", "openai/gsm8k"}) ||
		a.Architecture != "TinyForCausalLM" || !hasRule(a.Analysis, "hf.remote_code", "high") || a.Source != "huggingface:org/tiny@"+rev {
		t.Errorf("hub blob: %s", dump(a))
	}
	// A new commit's snapshot, seen by an incremental collection of the
	// changed links, re-reports the blob with the commit refs/main names.
	p := configured(t, map[string]any{"roots": []string{root}}, t.TempDir())
	collectOne(t, p, sdk.Request{Full: true})
	next := filepath.Join(repo, "snapshots", "feedface")
	os.MkdirAll(next, 0o750)
	os.Symlink(filepath.Join("..", "..", "blobs", sum(st)), filepath.Join(next, "model.safetensors"))
	write(t, filepath.Join(repo, "refs", "main"), []byte("feedface"))
	got = collectOne(t, p, sdk.Request{Changed: []string{filepath.Join(next, "model.safetensors")}})
	if a := got[sum(st)]; a.Source != "huggingface:org/tiny@feedface" {
		t.Errorf("after a new snapshot: %v", slices.Collect(mapsKeys(got)))
	}
	os.RemoveAll(next)
	write(t, filepath.Join(repo, "refs", "main"), []byte(rev))

	// refs/main gone: the snapshot first by name (0000) claims the blob,
	// and its card, a link out of the repository, is not read.
	os.Remove(filepath.Join(repo, "refs", "main"))
	a = collectOne(t, configured(t, map[string]any{"roots": []string{root}}, t.TempDir()), sdk.Request{Full: true})[sum(st)]
	if a.HasModelCard || a.License == "stolen" || a.Source != "huggingface:org/tiny@0000" {
		t.Errorf("link out of the repository: %s", dump(a))
	}
}
