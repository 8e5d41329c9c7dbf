package plugintest_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
	// It numbers each collection and checkpoints the number at the end
	// (the unchanged-subjects rule); its state is in the state folder.
	if len(cps) != 1 || string(cps[0]) != "datasets-generation:1" {
		t.Errorf("checkpoints %q, want one: datasets-generation:1", cps)
	}
	_, err = h.Configure(t, `{"roots":["relative"]}`, "")
	if fe, ok := err.(sdk.FieldErrors); !ok || fe[0].Field != "roots[0]" {
		t.Errorf("relative root: %v; want a field error on roots[0]", err)
	}
}

// The datasets plugin reports progress that adds up to what it reports
// as evidence, and a rescan of the unchanged tree examines every file
// again but hashes nothing.
func TestProgressOfARealPlugin(t *testing.T) {
	h := plugintest.Start(t, plugintest.Build(t, datasetsPkg))
	if _, err := h.Configure(t, `{"roots":["`+fixture(t)+`"]}`, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	recs, _, err := h.Collect(t, sdk.Request{Full: true})
	if err != nil {
		t.Fatal(err)
	}
	var files, size int64
	for _, r := range recs {
		var a struct {
			FileCount int64 `json:"file_count"`
			SizeBytes int64 `json:"size_bytes"`
		}
		json.Unmarshal(r.Attributes, &a)
		files, size = files+a.FileCount, size+a.SizeBytes
	}
	if len(h.Progress) == 0 {
		t.Fatal("no progress reports")
	}
	want := sdk.ProgressCounts{FilesDone: files, BytesHashed: size, FilesTotal: files, BytesTotal: size, TotalsFinal: true}
	if last := h.Progress[len(h.Progress)-1]; last != want || files == 0 {
		t.Errorf("last report %+v; want %+v, the sums of the datasets' file_count and size_bytes", last, want)
	}
	if _, _, err := h.Collect(t, sdk.Request{Full: true}); err != nil {
		t.Fatal(err)
	}
	want = sdk.ProgressCounts{FilesDone: files, FilesTotal: files, TotalsFinal: true}
	if last := h.Progress[len(h.Progress)-1]; last != want {
		t.Errorf("rescan: last report %+v; want %+v (every file examined, none hashed again)", last, want)
	}
}

// Request.Unthrottled reaches a real plugin: the datasets plugin limited
// to 1 byte/s reads its fixture at once when unthrottled, and does not
// within seconds otherwise.
func TestUnthrottledReachesARealPlugin(t *testing.T) {
	root := fixture(t)
	limited := func() *plugintest.Harness {
		// A process and state folder of its own each time: nothing cached.
		h := plugintest.Start(t, plugintest.Build(t, datasetsPkg))
		if _, err := h.Configure(t, `{"roots":["`+root+`"], "max_hash_bytes_per_second": 1}`, ""); err != nil {
			t.Fatal(err)
		}
		return h
	}
	if recs, _, err := limited().Collect(t, sdk.Request{Full: true, Unthrottled: true}); err != nil || len(recs) == 0 {
		t.Fatalf("unthrottled collection: %d records, %v", len(recs), err)
	}
	h := limited()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, _, err := h.CollectContext(ctx, sdk.Request{Full: true}); err == nil {
		t.Fatal("a collection limited to 1 byte/s hashed the whole fixture within 2s; the limit does not bind, so the unthrottled run proves nothing")
	}
}

// Harness.Unchanged holds the last collection's confirmation of subjects
// it did not resend, and nothing once a collection sends them all.
func TestHarnessUnchanged(t *testing.T) {
	h := plugintest.Start(t, plugintest.Build(t, "github.com/annexa/annexa/e2e/testplugins/counter"))
	since := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	if _, err := h.Configure(t, `{"items":2,"per_collection":1,"group":1,"unchanged_since":"`+since.Format(time.RFC3339)+`","unchanged":7}`, ""); err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.Collect(t, sdk.Request{Full: true, AcceptsUnchanged: true}); err != nil {
		t.Fatal(err)
	}
	if u := h.Unchanged; u == nil || !u.Since.Equal(since) || u.Subjects != 7 {
		t.Errorf("Unchanged = %+v, want since %v and 7 subjects", u, since)
	}
	if _, _, err := h.Collect(t, sdk.Request{Full: true}); err != nil {
		t.Fatal(err)
	}
	if h.Unchanged != nil {
		t.Errorf("Unchanged = %+v after a collection that did not accept it", h.Unchanged)
	}
}
