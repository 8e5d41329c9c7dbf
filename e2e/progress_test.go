package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// On a terminal (a real pseudo-terminal from util-linux's script), collect
// --once draws a line per plugin while the evidence goes to a file; piped,
// it stays quiet (TestCollectOnceOutput parses every line as JSON).
func TestCollectOnceProgressOnATerminal(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	scriptCmd, err := exec.LookPath("script")
	if err != nil {
		t.Skip("skipped: util-linux script is missing (Debian's bsdutils has it)")
	}
	root := datasetTree(t)
	// The models plugin is limited to 1 byte/s, as a daemon might be:
	// collect --once runs unthrottled, or it would take hours.
	models, nModels := modelsTree(t)
	a := newAgent(t, "http://127.0.0.1:9", datasetsPlugin(root), counterPlugin(5),
		pluginConf{name: "models", exe: "annexa-plugin-models", yaml: "roots: [" + models + "]\nmax_hash_bytes_per_second: 1"})
	out := filepath.Join(t.TempDir(), "evidence.jsonl")
	cmdline := filepath.Join(bins, "annexa-agent") + " collect --once --config " + a.config + " --output " + out
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tty, err := exec.CommandContext(ctx, scriptCmd, "-qec", cmdline, "/dev/null").CombinedOutput()
	if err != nil {
		t.Fatalf("collect on a terminal: %v\n%q", err, tty)
	}
	for _, want := range []string{"\r\033[K", "datasets     done: 3 records, 3 files, 111 B hashed", "counter      done: 11 records, 77 B of evidence",
		fmt.Sprintf(" records, %d files, ", nModels)} {
		if !strings.Contains(string(tty), want) {
			t.Errorf("terminal output lacks %q:\n%q", want, tty)
		}
	}
	// A plugin that reports no progress (the counter) keeps the line of
	// what the agent sees itself, above; the models plugin reports its totals: a bar, files and bytes against
	// them, a rate and an ETA.
	bar := regexp.MustCompile(fmt.Sprintf(`models +\[[#-]{20}\] +\d+%%  \d+/%d files  [0-9.]+ [KMG]?i?B/[0-9.]+ [KMG]?i?B  \S+ \S+/s  ETA \d+:\d\d`, nModels))
	if !bar.Match(tty) {
		t.Errorf("no progress bar with an ETA for models:\n%q", tty)
	}
	b, _ := os.ReadFile(out)
	if strings.Contains(string(b), "\033") || strings.Count(string(b), `"kind":"dataset"`) != 3 {
		t.Errorf("the evidence file has progress in it or lacks datasets:\n%s", b)
	}
	// Evidence to the same terminal: no bar to tear through it.
	tty, _ = exec.Command(scriptCmd, "-qec", filepath.Join(bins, "annexa-agent")+" collect --once --config "+a.config, "/dev/null").CombinedOutput()
	if strings.Contains(string(tty), "\033[K") || !strings.Contains(string(tty), `"kind":"dataset"`) {
		t.Errorf("with evidence on the terminal, progress should stay off:\n%q", tty)
	}
}

// modelsTree copies the models plugin's fixtures into a fresh root and
// returns it with the number of files in it.
func modelsTree(t *testing.T) (string, int) {
	t.Helper()
	root := filepath.Join(t.TempDir(), "models")
	fixtures := filepath.Join("..", "plugins", "models", "testdata", "fixtures")
	entries, err := os.ReadDir(fixtures)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if e.Type().IsRegular() {
			copyFile(t, filepath.Join(fixtures, e.Name()), filepath.Join(root, e.Name()), 0o640)
			n++
		}
	}
	return root, n
}

// The daemon adds the plugins' progress reports to its metrics: every
// file the models plugin examined, and bytes hashed by both plugins.
func TestFilesScannedAndBytesHashedMetrics(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	root := datasetTree(t)
	models, nModels := modelsTree(t)
	c := newCollector(t, "")
	c.start()
	a := newAgent(t, c.url, datasetsPlugin(root),
		pluginConf{name: "models", exe: "annexa-plugin-models", yaml: "roots: [" + models + "]\ninterval: 1h"})
	metricsAddr := freeAddr(t)
	f, _ := os.OpenFile(a.config, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("metrics_listen: " + metricsAddr + "\n")
	f.Close()
	a.enroll(c)
	a.start()
	var m map[string]float64
	waitFor(t, "both plugins' first collection", 60*time.Second, func() bool {
		resp, err := http.Get("http://" + metricsAddr + "/metrics")
		if err != nil {
			return false
		}
		resp.Body.Close()
		m = scrape(t, "http://"+metricsAddr+"/metrics")
		return m[`annexa_agent_plugin_collection_duration_seconds_count{mode="full",plugin="models",result="ok"}`] >= 1 &&
			m[`annexa_agent_plugin_collection_duration_seconds_count{mode="full",plugin="datasets",result="ok"}`] >= 1
	})
	var fixtureBytes float64
	entries, _ := os.ReadDir(models)
	for _, e := range entries {
		if fi, err := e.Info(); err == nil {
			fixtureBytes += float64(fi.Size())
		}
	}
	files, bytes := m[`annexa_agent_files_scanned_total{plugin="models"}`], m[`annexa_agent_bytes_hashed_total{plugin="models"}`]
	if _, incremental := m[`annexa_agent_plugin_collection_duration_seconds_count{mode="incremental",plugin="models",result="ok"}`]; !incremental && files != float64(nModels) {
		t.Errorf("models: %v files scanned after one full collection of %d files", files, nModels)
	}
	if bytes <= 0 || bytes > fixtureBytes {
		t.Errorf("models: %v bytes hashed; want some of the %v bytes of its files", bytes, fixtureBytes)
	}
	if m[`annexa_agent_files_scanned_total{plugin="datasets"}`] < 3 || m[`annexa_agent_bytes_hashed_total{plugin="datasets"}`] <= 0 {
		t.Errorf("datasets: %v files scanned, %v bytes hashed; want the tree's data files",
			m[`annexa_agent_files_scanned_total{plugin="datasets"}`], m[`annexa_agent_bytes_hashed_total{plugin="datasets"}`])
	}
}

// The daemon keeps its plugins throttled, and `annexa-agent status` shows
// how far a running collection is: with the models plugin limited to
// 1 byte/s, the first full collection stays running.
func TestStatusShowsARunningCollection(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	models, nModels := modelsTree(t)
	c := newCollector(t, "")
	c.start()
	a := newAgent(t, c.url, pluginConf{name: "models", exe: "annexa-plugin-models", yaml: "roots: [" + models + "]\nmax_hash_bytes_per_second: 1"})
	a.enroll(c)
	a.start()
	// Throttled, no file is done yet; the walk runs only a few files
	// ahead of the workers, so the totals so far are lower bounds (+).
	want := regexp.MustCompile(`collecting: +models \(full\) for \d+:\d\d: 0/\d+\+ files, 0 B/[0-9.]+ (B|KiB)\+ hashed`)
	var out string
	defer func() {
		if t.Failed() {
			t.Logf("last status:\n%s", out)
		}
	}()
	waitFor(t, "status to show the throttled collection with its progress", 45*time.Second, func() bool {
		out, _ = a.exec("status", "--config", a.config)
		return want.MatchString(out)
	})
	if !strings.Contains(out, "plugin models     ok") || nModels == 0 {
		t.Errorf("status:\n%s", out)
	}
	a.stop()
}
