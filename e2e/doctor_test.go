package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// doctor names, in plain words, each thing that keeps an agent from
// working, and passes once they are fixed.
func TestDoctor(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	root := datasetTree(t)
	c := newCollector(t, "")
	c.url = "https://" + c.addr
	fp := regexp.MustCompile(`sha256:[0-9a-f]{64}`).FindString(c.run("init", "--data", c.data, "--name", "127.0.0.1"))
	c.start()
	missing := filepath.Join(t.TempDir(), "nope")
	a := newAgent(t, c.url, pluginConf{name: "datasets", exe: "annexa-plugin-datasets", yaml: "roots: [" + root + ", " + missing + "]"})
	doctor := func() (string, bool) {
		out, err := a.exec("doctor", "--config", a.config)
		return out, err == nil
	}

	out, ok := doctor()
	for _, want := range []string{
		"ok    config     " + a.config + " is valid",
		"ok    plugins    datasets is pinned by SHA-256 and matches",
		"ok    assets     " + root + " (plugin datasets) is readable",
		"FAIL  assets     " + missing + " (plugin datasets) does not exist",
		"FAIL  enrollment this agent is not enrolled",
		"FAIL  collector  " + c.url + " presents a certificate not signed by the pinned CA",
		"ok    inotify",
		"ok    spool      no spool yet",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("doctor before enrollment lacks %q:\n%s", want, out)
		}
	}
	if ok {
		t.Error("doctor exited 0 with problems")
	}

	// Fix everything: the missing root, the enrollment.
	os.MkdirAll(missing, 0o755)
	if o, err := a.exec("enroll", "--token", c.token(), "--config", a.config, "--ca-fingerprint", fp); err != nil {
		t.Fatalf("enroll: %v %s", err, o)
	}
	a.start()
	waitFor(t, "datasets at the collector", 30e9, func() bool {
		return c.tryCount(`SELECT count(*) FROM current WHERE kind='dataset'`) >= 3
	})
	a.stop()
	out, ok = doctor()
	for _, want := range []string{"ok    enrollment enrolled as agent", "ok    collector  " + c.url + " answers in",
		"ok    certificate the collector's certificate is valid until", "ok    clock      within", "ok    client cert valid until", "ok    spool      0 records waiting", "0 problems"} {
		if !strings.Contains(out, want) {
			t.Errorf("doctor after the fixes lacks %q:\n%s", want, out)
		}
	}
	if !ok || strings.Contains(out, "FAIL") {
		t.Errorf("doctor still fails after the fixes:\n%s", out)
	}

	// A plugin swapped on disk and a collector gone are both named.
	exe := filepath.Join(a.pluginDir, "annexa-plugin-datasets")
	b, _ := os.ReadFile(exe)
	os.WriteFile(exe, append(b, 0), 0o755)
	c.stop()
	out, ok = doctor()
	if ok || !strings.Contains(out, "FAIL  plugins") || !strings.Contains(out, "FAIL  collector  cannot reach "+c.url) {
		t.Errorf("doctor misses a changed plugin or a stopped collector:\n%s", out)
	}
}
