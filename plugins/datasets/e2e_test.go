package datasets_test

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

const pkg = "github.com/annexa/annexa/plugins/datasets/cmd/annexa-plugin-datasets"

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	plugintest.Cleanup()
	os.Exit(code)
}

func tree(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for name, body := range map[string]string{
		"iris/iris.csv":          "a,b\n1,2\n",
		"iris/README.md":         "---\nlicense: cc-by-4.0\n---\n# Iris\n",
		"customers/2024/p.jsonl": "{\"id\":1}\n{\"id\":2}\n",
		"images/train/a.png":     "\x89PNG\r\n\x1a\n0000",
	} {
		p := filepath.Join(root, name)
		os.MkdirAll(filepath.Dir(p), 0o750)
		if err := os.WriteFile(p, []byte(body), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// TestExecutable builds the real plugin and drives it over go-plugin, as
// the agent does, through the conformance kit.
func TestExecutable(t *testing.T) {
	exe := plugintest.Build(t, pkg)
	root := tree(t)
	settings, _ := json.Marshal(map[string]any{"roots": []string{root}})

	t.Run("conformance", func(t *testing.T) {
		plugintest.Conformance(t, exe, string(settings))
	})

	t.Run("full then incremental", func(t *testing.T) {
		h := plugintest.Start(t, exe)
		state := t.TempDir()
		if _, err := h.Configure(t, string(settings), state); err != nil {
			t.Fatal(err)
		}
		recs, _, err := h.Collect(t, sdk.Request{Full: true})
		if err != nil {
			t.Fatal(err)
		}
		if got := subjects(recs); got != "upsert customers, upsert images, upsert iris" {
			t.Errorf("full: %s", got)
		}
		for _, r := range recs {
			var a map[string]any
			json.Unmarshal(r.Attributes, &a)
			if a["hash_status"] != "complete" || len(a["sha256"].(string)) != 64 {
				t.Errorf("%s: %v", r.Subject, a)
			}
			if r.Subject == "dataset:"+root+"/iris" && a["license"] != "CC-BY-4.0" {
				t.Errorf("iris license %v", a["license"])
			}
		}
		os.RemoveAll(filepath.Join(root, "customers"))
		os.WriteFile(filepath.Join(root, "iris/more.csv"), []byte("a,b\n"), 0o640)
		recs, _, err = h.Collect(t, sdk.Request{Changed: []string{filepath.Join(root, "customers"), filepath.Join(root, "iris/more.csv")}})
		if err != nil {
			t.Fatal(err)
		}
		if got := subjects(recs); got != "delete customers, upsert iris" {
			t.Errorf("incremental: %s", got)
		}
		for _, r := range recs {
			if r.Kind == evidence.KindScanComplete {
				t.Error("plugin emitted scan.complete")
			}
		}
		if _, err := os.Stat(filepath.Join(state, "known-datasets.json")); err != nil {
			t.Errorf("no state kept: %v", err)
		}
	})
}

func subjects(recs []evidence.Record) string {
	var s []string
	for _, r := range recs {
		s = append(s, string(r.Op)+" "+filepath.Base(strings.TrimPrefix(r.Subject, "dataset:")))
	}
	slices.Sort(s)
	return strings.Join(s, ", ")
}
