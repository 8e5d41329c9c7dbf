package models

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/annexa/annexa/plugins/models/pickle"
	"github.com/annexa/annexa/plugins/sdk"
)

const card = `---
license: apache-2.0
base_model: meta-llama/Llama-3.2-1B
datasets:
  - tatsu-lab/alpaca
  - openai/gsm8k
---
# tiny
`

// TestHuggingFaceFolder: every weights file of a model folder carries its
// card's license, base model and datasets, and the folder's remote code.
func TestHuggingFaceFolder(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "org", "tiny")
	os.MkdirAll(dir, 0o750)
	st, _ := os.ReadFile(filepath.Join("testdata", "fixtures", "tiny.safetensors"))
	gg, _ := os.ReadFile(filepath.Join("testdata", "fixtures", "tiny.gguf"))
	for name, body := range map[string][]byte{
		"model-00001-of-00002.safetensors": st, "model-00002-of-00002.safetensors": st,
		"README.md":   []byte(card),
		"config.json": []byte(`{"architectures":["TinyForCausalLM"],"model_type":"tiny","auto_map":{"AutoModelForCausalLM":"modeling_tiny.TinyForCausalLM"}}`),
	} {
		os.WriteFile(filepath.Join(dir, name), body, 0o640)
	}
	plain := filepath.Join(root, "plain")
	os.MkdirAll(plain, 0o750)
	os.WriteFile(filepath.Join(plain, "q.gguf"), gg, 0o640)

	p := configured(t, map[string]any{"roots": []string{root}}, t.TempDir())
	var rec recorder
	if err := p.Collect(context.Background(), sdk.Request{Full: true}, &rec); err != nil {
		t.Fatal(err)
	}
	byName := map[string]Attributes{}
	for _, r := range rec.recs {
		a := attrsOf(t, r)
		byName[filepath.Base(a.Path)] = a
	}
	if len(byName) != 3 {
		t.Fatalf("reported %s", rec.summary())
	}
	for _, n := range []string{"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"} {
		a := byName[n]
		// The safetensors header's own license (mit) wins over the card's.
		if !a.HasModelCard || a.License != "mit" || !slices.Equal(a.BaseModel, []string{"meta-llama/Llama-3.2-1B"}) ||
			!slices.Equal(a.Datasets, []string{"tatsu-lab/alpaca", "openai/gsm8k"}) || a.Architecture != "TinyForCausalLM" {
			t.Errorf("%s: %+v", n, a)
		}
		if !hasRule(a.Analysis, "hf.remote_code", pickle.High) || !a.Unsafe {
			t.Errorf("%s: auto_map not reported: %v", n, a.Findings)
		}
	}
	g := byName["q.gguf"]
	if g.HasModelCard || !slices.Equal(g.Datasets, []string{"tatsu-lab/alpaca", "openai/gsm8k"}) || g.Unsafe {
		t.Errorf("gguf: card %v datasets %v findings %v", g.HasModelCard, g.Datasets, g.Findings)
	}
	// A training script beside a checkpoint, no config.json: suspicious,
	// not high (no loader runs it by itself).
	os.WriteFile(filepath.Join(plain, "train.py"), []byte("print(1)\n"), 0o640)
	got := collectOne(t, p, sdk.Request{Changed: []string{filepath.Join(plain, "train.py")}})
	if g := got["q.gguf"]; !hasRule(g.Analysis, "hf.remote_code", pickle.Suspicious) || g.Unsafe {
		t.Errorf("train.py: %v", g.Findings)
	}

	// Editing the card (a file that is no model) updates the models beside
	// it on an incremental collection, from the cache: nothing is rehashed.
	os.WriteFile(filepath.Join(dir, "README.md"), []byte("---\nlicense: mit\ndatasets: squad\n---\n"), 0o640)
	os.WriteFile(filepath.Join(dir, "modeling_tiny.py"), []byte("import os\n"), 0o640)
	hashed := p.stats.filesHashed.Load()
	rec = recorder{}
	if err := p.Collect(context.Background(), sdk.Request{Changed: []string{filepath.Join(dir, "README.md")}}, &rec); err != nil {
		t.Fatal(err)
	}
	if got := rec.summary(); got != "upsert model-00001-of-00002.safetensors, upsert model-00002-of-00002.safetensors" {
		t.Fatalf("after card edit: %s", got)
	}
	a := attrsOf(t, rec.recs[0])
	if !slices.Equal(a.Datasets, []string{"squad"}) || a.BaseModel != nil {
		t.Errorf("after card edit: datasets %v base %v", a.Datasets, a.BaseModel)
	}
	n := 0
	for _, f := range a.Findings {
		if f.Rule == "hf.remote_code" {
			n++
		}
	}
	if n != 2 {
		t.Errorf("want auto_map and .py findings: %v", a.Findings)
	}
	if p.stats.filesHashed.Load() != hashed {
		t.Error("a card edit rehashed the weights")
	}
}
