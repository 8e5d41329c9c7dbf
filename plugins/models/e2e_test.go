package models_test

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/annexa/annexa/evidence"
	"github.com/annexa/annexa/plugins/plugintest"
	"github.com/annexa/annexa/plugins/sdk"
)

const pkg = "github.com/annexa/annexa/plugins/models/cmd/annexa-plugin-models"

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	plugintest.Cleanup()
	os.Exit(code)
}

// tree lays out every committed fixture under a root.
func tree(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	files, _ := filepath.Glob(filepath.Join("testdata", "fixtures", "*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, filepath.Base(f)), b, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(root, "README.md"), []byte("# not a model\n"), 0o640)
	return root
}

// TestExecutable builds the real plugin and drives it over go-plugin, as
// the agent does, through the conformance kit, then checks a full
// collection of the fixture tree record by record.
func TestExecutable(t *testing.T) {
	exe := plugintest.Build(t, pkg)
	root := tree(t)
	settings, _ := json.Marshal(map[string]any{"roots": []string{root}})

	t.Run("conformance", func(t *testing.T) {
		plugintest.Conformance(t, exe, string(settings))
	})

	t.Run("full collection", func(t *testing.T) {
		h := plugintest.Start(t, exe)
		if _, err := h.Configure(t, string(settings), t.TempDir()); err != nil {
			t.Fatal(err)
		}
		recs, _, err := h.Collect(t, sdk.Request{Full: true})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]map[string]any{}
		for _, r := range recs {
			if r.Kind != "model" || r.Op != evidence.OpUpsert || !strings.HasPrefix(r.Subject, "model:"+root+"/") {
				t.Errorf("unexpected record %s %s %s", r.Kind, r.Op, r.Subject)
				continue
			}
			var a map[string]any
			if err := json.Unmarshal(r.Attributes, &a); err != nil {
				t.Fatal(err)
			}
			got[filepath.Base(a["path"].(string))] = a
		}
		want := map[string]struct {
			format string
			unsafe bool
		}{
			"state_dict.pt": {"pytorch-zip", false}, "legacy.pt": {"pytorch-legacy", false},
			"evil.pt": {"pytorch-zip", true}, "evil.pkl": {"pickle", true}, "plain.pkl": {"pickle", false},
			"floats.npy": {"numpy", false}, "objects.npy": {"numpy", false}, "arrays.npz": {"numpy-npz", false},
			"tiny.safetensors": {"safetensors", false}, "overlap.safetensors.bin": {"safetensors", false},
			"tiny.gguf": {"gguf", false},
			"tiny.onnx": {"onnx", false}, "custom_op.onnx": {"onnx", false}, "external_ok.onnx": {"onnx", false},
			"external_escape.onnx": {"onnx", true},
			"logreg.joblib":        {"joblib", false}, "arrays.joblib": {"joblib", false}, "evil.joblib": {"joblib", true},
			"logreg.joblib-zlib": {"joblib", false}, "logreg.joblib-gzip": {"joblib", false}, "logreg.joblib-bz2": {"joblib", false},
			"logreg.joblib-xz": {"joblib", false}, "logreg.joblib-lzma": {"joblib", false},
			"logreg.joblib-lz4": {"joblib", false}, "evil.joblib-lz4": {"joblib", true},
			"logreg.joblib-zf": {"joblib", false}, "evil.joblib-zf": {"joblib", true},
			"dense.h5": {"keras-h5", false}, "lambda.h5": {"keras-h5", true}, "latest.h5": {"keras-h5", true},
			"dense.keras": {"keras-v3", false}, "lambda.keras": {"keras-v3", true},
			"optimizer.h5": {"keras-h5", false}, "weights_only.h5": {"keras-h5", false}, "dense_links.h5": {"keras-h5", false},
		}
		var names []string
		for n := range got {
			names = append(names, n)
		}
		slices.Sort(names)
		if len(got) != len(want) {
			t.Errorf("reported %v", names)
		}
		for name, w := range want {
			a, ok := got[name]
			if !ok {
				t.Errorf("%s not reported", name)
				continue
			}
			if a["format"] != w.format || a["unsafe"] != w.unsafe || a["hash_status"] != "ok" || len(a["sha256"].(string)) != 64 {
				t.Errorf("%s: format %v unsafe %v hash %v %v", name, a["format"], a["unsafe"], a["hash_status"], a["sha256"])
			}
			for _, k := range []string{"path", "size_bytes", "dtypes", "findings", "mode", "modified_at"} {
				if _, ok := a[k]; !ok {
					t.Errorf("%s: no %s", name, k)
				}
			}
		}
		if a := got["evil.pkl"]; a != nil {
			b, _ := json.MarshalIndent(a, "", "  ")
			t.Logf("example evidence:\n%s", b)
		}
	})
}
