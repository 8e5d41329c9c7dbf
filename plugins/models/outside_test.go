package models

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/annexa/annexa/plugins/sdk"
)

// The evidence of a model whose file is unchanged comes from the state,
// but what it takes from outside the file (the approved-digest list, the
// sources and deployed_roots settings, a clone's commit, the signing
// keys, the dataset roots) must reach it on the next full scan, without
// the file being read again.

// scanRel runs a full collection and returns the upserts by path under
// root, and how many files were hashed.
func scanRel(t *testing.T, p *Plugin, root string) (map[string]Attributes, int64) {
	t.Helper()
	rec, n := rescan(t, p)
	got := map[string]Attributes{}
	for _, r := range rec.recs {
		if r.Op == sdk.OpUpsert {
			a := attrsOf(t, r)
			rel, _ := filepath.Rel(root, a.Path)
			got[rel] = a
		}
	}
	return got, n
}

func reconfigure(t *testing.T, p *Plugin, settings map[string]any, state string) {
	t.Helper()
	raw, _ := json.Marshal(settings)
	if _, err := p.Configure(context.Background(), sdk.Config{Raw: raw, StateDir: state}); err != nil {
		t.Fatal(err)
	}
}

func TestStoredEvidenceFollowsProvenance(t *testing.T) {
	root := provenanceTree(t)
	state, etc := t.TempDir(), t.TempDir()
	pins := filepath.Join(etc, "approved-models.txt")
	write(t, pins, []byte("# nothing approved yet\n"))
	settings := map[string]any{"roots": []string{root}, "pinned_digests_file": pins}
	p := configured(t, settings, state)
	first, _ := scanRel(t, p, root)
	if len(first) != 6 {
		t.Fatalf("first scan reported %d models", len(first))
	}

	// Nothing changed: every model's stored evidence is sent as it was
	// (its print is stable, whatever its source).
	sent := p.stats.storedSent.Load()
	if _, n := scanRel(t, p, root); n != 0 || p.stats.storedSent.Load()-sent != 6 {
		t.Fatalf("unchanged tree: hashed %d, stored evidence sent for %d of 6", n, p.stats.storedSent.Load()-sent)
	}

	// The operator approves the GGUF digest: its three copies are pinned.
	write(t, pins, []byte(sum(fixture(t, "tiny.gguf"))+"  q4.gguf\n"))
	got, n := scanRel(t, p, root)
	for rel, a := range got {
		want := filepath.Ext(rel) == ".gguf"
		if a.Pinned != want {
			t.Errorf("pins list changed: %s pinned %v, want %v", rel, a.Pinned, want)
		}
	}
	if n != 0 {
		t.Errorf("pins list changed: %d files hashed again", n)
	}

	// New settings (the agent calls Configure again): a source for the
	// unknown folder, a deployed root.
	settings["sources"] = map[string]string{filepath.Join(root, "unknown"): "vendor:acme"}
	settings["deployed_roots"] = []string{filepath.Join(root, "ours")}
	reconfigure(t, p, settings, state)
	got, n = scanRel(t, p, root)
	if a := got["unknown/model.gguf"]; a.Source != "vendor:acme" || a.SourceFrom != "config" || !a.ThirdParty || !a.Pinned {
		t.Errorf("sources added: %s", dump(a))
	}
	if a := got["ours/run-42/model.safetensors"]; !a.Deployed {
		t.Errorf("deployed_roots added: %s", dump(a))
	}
	if a := got["lab/ranker.safetensors"]; a.Deployed {
		t.Errorf("not under deployed_roots, yet deployed: %s", dump(a))
	}
	if n != 0 {
		t.Errorf("settings changed: %d files hashed again", n)
	}

	// The clone moves to another commit; the settings are taken out.
	const rev2 = "89abcdef0123456789abcdef0123456789abcdef"
	write(t, filepath.Join(root, "clones", "llama", ".git", "packed-refs"), []byte(rev2+" refs/heads/main\n"))
	delete(settings, "sources")
	delete(settings, "deployed_roots")
	reconfigure(t, p, settings, state)
	got, n = scanRel(t, p, root)
	if a := got["unknown/model.gguf"]; a.Source != "" || a.ThirdParty {
		t.Errorf("sources removed: %s", dump(a))
	}
	if a := got["ours/run-42/model.safetensors"]; a.Deployed {
		t.Errorf("deployed_roots removed: %s", dump(a))
	}
	if a := got["clones/llama/gguf/q4.gguf"]; a.Source != "huggingface:meta-llama/Llama-3.2-1B@"+rev2 {
		t.Errorf("clone at a new commit: %s", dump(a))
	}
	if n != 0 {
		t.Errorf("%d files hashed again", n)
	}
}

// TestStoredEvidenceFollowsTrust: the same signed model is signed or not
// as the operator's keys come and go.
func TestStoredEvidenceFollowsTrust(t *testing.T) {
	root, _ := copyFolder(t, "signed-key")
	state := t.TempDir()
	settings := map[string]any{"roots": []string{root}}
	p := configured(t, settings, state)
	if a := collectOne(t, p, sdk.Request{Full: true})["model.safetensors"]; a.Signed || a.Signature == nil || a.Signature.Verified {
		t.Fatalf("no keys: %s", dump(a))
	}
	key := trustFile(t, "model-signing.pub")
	settings["signing_keys"] = []string{key}
	reconfigure(t, p, settings, state)
	got, n := scanRel(t, p, root)
	if a := got["tiny/model.safetensors"]; !a.Signed || a.SignedBy != "key:"+key || n != 0 {
		t.Errorf("key added: hashed %d, %s", n, dump(a))
	}
	delete(settings, "signing_keys")
	reconfigure(t, p, settings, state)
	if a := collectOne(t, p, sdk.Request{Full: true})["model.safetensors"]; a.Signed || a.Signature.Verified {
		t.Errorf("key removed: %s", dump(a))
	}
}

// TestDatasetRootsComeAndGo: a model in a dataset folder is reported
// while scan_dataset_roots brings that folder in, and not after.
func TestDatasetRootsComeAndGo(t *testing.T) {
	base := t.TempDir()
	models, data := filepath.Join(base, "models"), filepath.Join(base, "datasets")
	write(t, filepath.Join(models, "a.gguf"), fixture(t, "tiny.gguf"))
	write(t, filepath.Join(data, "iris", "checkpoint.pt"), fixture(t, "state_dict.pt"))
	state := t.TempDir()
	without := map[string]any{"roots": []string{models}}
	with := map[string]any{"roots": []string{models}, "scan_dataset_roots": true, "dataset_roots": []string{data}}
	p := configured(t, without, state)
	for i, tc := range []struct {
		settings map[string]any
		models   int
	}{{without, 1}, {with, 2}, {without, 1}, {with, 2}} {
		if i > 0 {
			reconfigure(t, p, tc.settings, state)
		}
		got, _ := scanRel(t, p, base)
		_, ckpt := got["datasets/iris/checkpoint.pt"]
		if len(got) != tc.models || ckpt != (tc.models == 2) || reported(t, p) != tc.models {
			t.Errorf("step %d: reported %d models (checkpoint %v), state knows %d; want %d", i, len(got), ckpt, reported(t, p), tc.models)
		}
	}
}
