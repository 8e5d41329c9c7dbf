package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// A file change reaches the collector through the watcher and an
// incremental collection, long before the next full scan would.
func TestFileChangesReachTheCollector(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	root := datasetTree(t)
	c := newCollector(t, "")
	c.start()
	a := newAgent(t, c.url, pluginConf{name: "datasets", exe: "annexa-plugin-datasets", yaml: "roots: [" + root + "]\ninterval: 1h"})
	a.enroll(c)
	a.start()
	live := func() int {
		return c.tryCount(`SELECT count(*) FROM current WHERE kind='dataset' AND deleted=0`)
	}
	waitFor(t, "the first inventory", 30*time.Second, func() bool { return live() == 3 })

	// A new dataset appears, with files written after its folder.
	os.MkdirAll(filepath.Join(root, "audio/clips"), 0o750)
	os.WriteFile(filepath.Join(root, "audio/clips/a.wav"), []byte("RIFF\x00\x00\x00\x00WAVEfmt "), 0o640)
	waitFor(t, "the new dataset at the collector", 30*time.Second, func() bool { return live() == 4 })

	// A dataset becomes readable by everyone: 8.3 must notice.
	os.Chmod(filepath.Join(root, "iris/iris.csv"), 0o644)
	waitFor(t, "the permission change at the collector", 30*time.Second, func() bool {
		return c.tryCount(`SELECT count(*) FROM current WHERE kind='dataset' AND subject LIKE '%/iris' AND json_extract(attributes, '$.world_readable') = 1`) == 1
	})
	// A dataset is removed.
	os.RemoveAll(filepath.Join(root, "images"))
	waitFor(t, "the deletion at the collector", 30*time.Second, func() bool { return live() == 3 })
	if n := c.count(`SELECT count(*) FROM history WHERE kind='dataset' AND op='delete' AND subject LIKE '%/images'`); n != 1 {
		t.Errorf("%d delete rows for the removed dataset, want 1", n)
	}
	if !a.alive() {
		t.Fatalf("agent died:\n%s", a.logTail())
	}
	a.stop()
	// Only one full scan ran (interval 1h): the changes came incrementally.
	if n := c.count(`SELECT count(*) FROM history WHERE kind='scan.complete'`); n != 1 {
		t.Errorf("%d full scans, want 1: changes should arrive as incremental collections", n)
	}
	r := c.report()
	for _, ctl := range r.Controls {
		if ctl.ControlID == "iso27001-2022/8.3" && ctl.Status != "noncompliant" {
			t.Errorf("8.3 is %s with two world-readable datasets", ctl.Status)
		}
		if ctl.ControlID == "iso27001-2022/5.9" && ctl.Status != "compliant" {
			t.Errorf("5.9 is %s after a fresh inventory", ctl.Status)
		}
	}
}

// What a sysadmin gets wrong gets an error that says what to fix.
func TestOperatorErrors(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	c := newCollector(t, "")
	c.start()
	a := newAgent(t, c.url, datasetsPlugin(datasetTree(t)))

	out, err := a.exec("enroll", "--collector", c.url, "--token", "at_not-a-real-token", "--config", a.config)
	if err == nil || !strings.Contains(out, "token create") {
		t.Errorf("bad token: err %v, output %q should say to create a new token", err, out)
	}
	out, err = a.exec("run", "--config", a.config)
	if err == nil || !strings.Contains(out, "not enrolled") || !strings.Contains(out, "annexa-agent enroll") {
		t.Errorf("run before enrolling: err %v, output %q", err, out)
	}
	token := c.token()
	if out, err := a.exec("enroll", "--collector", c.url, "--token", token, "--config", a.config); err != nil {
		t.Fatalf("enroll: %v\n%s", err, out)
	}
	other := newAgent(t, c.url, datasetsPlugin(datasetTree(t)))
	out, err = other.exec("enroll", "--collector", c.url, "--token", token, "--config", other.config)
	if err == nil || !strings.Contains(out, "token") {
		t.Errorf("reused token: err %v, output %q", err, out)
	}

	bad := filepath.Join(t.TempDir(), "agent.yaml")
	os.WriteFile(bad, []byte("collector:\n  url: http://127.0.0.1:1\nplugins:\n  datasets:\n    interval: soon\n"), 0o644)
	out, err = a.exec("config", "check", "--config", bad)
	if err == nil || !strings.Contains(out, "agent.yaml:5: plugins.datasets.interval") {
		t.Errorf("bad config: err %v, output %q should name line 5 and the field", err, out)
	}
	// A plugin that nothing pins is refused by name, with the fix.
	manifest := filepath.Join(a.pluginDir, "plugins.sha256")
	pins, _ := os.ReadFile(manifest)
	os.WriteFile(manifest, nil, 0o644)
	out, err = a.exec("config", "check", "--config", a.config)
	if err == nil || !strings.Contains(out, "plugins.datasets.sha256") {
		t.Errorf("unpinned plugin: err %v, output %q", err, out)
	}
	os.WriteFile(manifest, pins, 0o644)
	// The plugin's own field errors come back under the plugin's name.
	conf, _ := os.ReadFile(a.config)
	os.WriteFile(a.config, []byte(strings.Replace(string(conf), "roots: [", "roots: [relative/path, ", 1)), 0o644)
	out, err = a.exec("collect", "--once", "--config", a.config, "--output", "-")
	if err == nil || !strings.Contains(out, "plugins.datasets.roots[0]") {
		t.Errorf("bad plugin setting: err %v, output %q", err, out)
	}
	// config check asks the plugin too, and says where in the file.
	out, err = a.exec("config", "check", "--config", a.config)
	if err == nil || !regexp.MustCompile(`agent\.yaml:\d+: plugins\.datasets\.roots\[0\]: "relative/path"`).MatchString(out) {
		t.Errorf("config check of a bad plugin setting: err %v, output %q", err, out)
	}
	if out, _ := a.exec("doctor", "--config", a.config); !strings.Contains(out, "FAIL  settings   plugin datasets refuses its settings") {
		t.Errorf("doctor of a bad plugin setting says %q", out)
	}
}

// collect --once prints one envelope per line, needs no collector, and
// leaves the daemon's spool and checkpoints alone.
func TestCollectOnceOutput(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	root := datasetTree(t)
	a := newAgent(t, "http://127.0.0.1:9", datasetsPlugin(root), counterPlugin(5))
	out, err := a.exec("collect", "--once", "--config", a.config, "--output", "-")
	if err != nil {
		t.Fatalf("collect --once: %v\n%s", err, out)
	}
	kinds := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("line is not JSON: %q", line)
		}
		for _, f := range []string{"kind", "subject", "op", "observed_at", "attributes", "host", "plugin"} {
			if _, ok := r[f]; !ok {
				t.Errorf("line lacks %s: %s", f, line)
			}
		}
		kinds[r["kind"].(string)]++
	}
	if kinds["dataset"] != 3 || kinds["scan.complete"] != 2 || kinds["plugin.health"] != 2 || kinds["test.event"] != 5 {
		t.Errorf("kinds = %v", kinds)
	}
	if _, err := os.Stat(filepath.Join(a.stateDir, "spool.db")); err == nil {
		t.Error("collect --once created a spool")
	}
}
