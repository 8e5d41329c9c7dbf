package plugintest_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/annexa/annexa/plugins/plugintest"
	"github.com/annexa/annexa/plugins/sdk"
)

const datasetsPkg = "github.com/annexa/annexa/plugins/datasets/cmd/annexa-plugin-datasets"

func TestMain(m *testing.M) {
	code := m.Run()
	plugintest.Cleanup()
	os.Exit(code)
}

func fixture(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for name, body := range map[string]string{
		"iris/iris.csv":            "a,b\n1,2\n",
		"iris/README.md":           "---\nlicense: mit\n---\n",
		"images/train/0.png":       "\x89PNG\r\n\x1a\nxxxx",
		"images/train/1.png":       "\x89PNG\r\n\x1a\nyyyy",
		"loose.parquet":            "PAR1....PAR1",
		"nested/a/.annexa-dataset": "",
		"nested/a/x.bin":           "\x00\x01",
	} {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// TestConformanceDatasets runs the kit against a real plugin, which
// tests both: the kit must pass a conforming plugin.
func TestConformanceDatasets(t *testing.T) {
	exe := plugintest.Build(t, datasetsPkg)
	settings, _ := json.Marshal(map[string]any{"roots": []string{fixture(t)}})
	plugintest.Conformance(t, exe, string(settings))
}

func TestHarness(t *testing.T) {
	exe := plugintest.Build(t, datasetsPkg)
	if again := plugintest.Build(t, datasetsPkg); again != exe {
		t.Errorf("second Build gave %s, want the cached %s", again, exe)
	}
	h := plugintest.Start(t, exe)
	if h.Info().Name != "datasets" {
		t.Errorf("name %q", h.Info().Name)
	}
	root := fixture(t)
	roots, err := h.Configure(t, `{"roots":["`+root+`"]}`, "")
	if err != nil || len(roots) != 1 || roots[0] != root {
		t.Fatalf("Configure = %v, %v; want [%s]", roots, err, root)
	}
	recs, cps, err := h.Collect(t, sdk.Request{Full: true})
	if err != nil {
		t.Fatal(err)
	}
	var subjects []string
	for _, r := range recs {
		subjects = append(subjects, r.Subject)
	}
	want := []string{"dataset:" + root, "dataset:" + root + "/images", "dataset:" + root + "/iris", "dataset:" + root + "/nested/a"}
	if strings.Join(subjects, " ") != strings.Join(want, " ") {
		t.Errorf("subjects\n got %v\nwant %v", subjects, want)
	}
	if len(cps) != 0 {
		t.Errorf("state plugin sent checkpoints %q", cps)
	}
	_, err = h.Configure(t, `{"roots":["relative"]}`, "")
	if fe, ok := err.(sdk.FieldErrors); !ok || fe[0].Field != "roots[0]" {
		t.Errorf("relative root: %v; want a field error on roots[0]", err)
	}
}
