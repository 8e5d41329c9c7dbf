package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestScanDatasetRoots: with plugins.models.scan_dataset_roots the real
// agent hands the datasets plugin's roots to the real models plugin, which
// reports a checkpoint saved inside a dataset folder and counts the
// dataset roots in its scan scope.
func TestScanDatasetRoots(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	data := datasetTree(t)
	models := filepath.Join(t.TempDir(), "models")
	os.MkdirAll(models, 0o750)
	gguf, err := os.ReadFile(filepath.Join("..", "plugins", "models", "testdata", "fixtures", "tiny.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(models, "a.gguf"), gguf, 0o640)
	ckpt := filepath.Join(data, "iris", "checkpoint.gguf")
	os.WriteFile(ckpt, gguf, 0o640)

	collect := func(flag string) (paths, scope []string) {
		t.Helper()
		a := newAgent(t, "http://127.0.0.1:9", datasetsPlugin(data),
			pluginConf{name: "models", exe: "annexa-plugin-models", yaml: "roots: [" + models + "]\nio_priority: normal\n" + flag})
		out, err := a.exec("collect", "--once", "--config", a.config, "--output", "-")
		if err != nil {
			t.Fatalf("collect --once: %v\n%s", err, out)
		}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var r struct {
				Kind       string
				Plugin     string
				Attributes struct {
					Path  string
					Roots []string
				}
			}
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatalf("line is not JSON: %q", line)
			}
			switch {
			case r.Kind == "model":
				paths = append(paths, r.Attributes.Path)
			case r.Kind == "scan.complete" && r.Plugin == "models":
				scope = r.Attributes.Roots
			}
		}
		slices.Sort(paths)
		return paths, scope
	}
	paths, scope := collect("scan_dataset_roots: true")
	want := []string{ckpt, filepath.Join(models, "a.gguf")}
	slices.Sort(want)
	if !slices.Equal(paths, want) {
		t.Errorf("models %v", paths)
	}
	if !slices.Equal(scope, []string{models, data}) {
		t.Errorf("scan scope %v", scope)
	}
	if paths, _ := collect(""); !slices.Equal(paths, []string{filepath.Join(models, "a.gguf")}) {
		t.Errorf("without the flag: %v", paths)
	}
}
