package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// runCaptured runs the command line as main does and returns its stdout.
func runCaptured(t *testing.T, args ...string) (string, error) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdout
	os.Stdout = w
	done := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		done <- string(b)
	}()
	runErr := run(context.Background(), args)
	os.Stdout = old
	w.Close()
	return <-done, runErr
}

// ruleLine is a watch rule as auditctl(8) accepts it in a rules file:
// -w <absolute path, no wildcard, no white space> -p <r|w|x|a…> -k <key
// of at most 31 bytes>.
var ruleLine = regexp.MustCompile(`^-w (/[^\s*?\[]+) -p ([rwxa]+) -k (\S{1,31})$`)

func TestAuditRules(t *testing.T) {
	t.Run("shipped config", func(t *testing.T) {
		out, err := runCaptured(t, "audit-rules", "--config", filepath.Join("..", "..", "..", "packaging", "config", "agent.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		want := "-w /srv/ml/datasets -p rwa -k annexa-datasets"
		got := strings.Join(rules(t, out), "\n")
		if _, err := os.Stat("/srv/ml"); err != nil {
			// Not on this machine: the rule is there, commented out.
			got = ""
			if strings.Contains(out, "\n# "+want+"\n") && strings.Contains(out, "parent folder is missing") {
				got = want
			}
		}
		if got != want {
			t.Errorf("rules:\n%s", out)
		}
	})
	t.Run("datasets and models", func(t *testing.T) {
		dir := t.TempDir()
		cfg := filepath.Join(dir, "agent.yaml")
		os.MkdirAll(filepath.Join(dir, "srv", "ml", "datasets"), 0o755)
		os.WriteFile(cfg, []byte(strings.ReplaceAll(`collector: {url: "https://c.example:8443"}
state_dir: /var/lib/annexa
plugin_dir: /usr/lib/annexa/plugins
plugins:
  datasets:
    roots: [D/srv/ml/datasets, D/srv/shared/, "D/srv/my data", /, D/nowhere/datasets]
  models:
    roots: [D/srv/ml/models]
  access:
    auth_logs: [/var/log/auth.log]
`, "D/", dir+"/")), 0o644)
		out, err := runCaptured(t, "audit-rules", "--config", cfg)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{
			"-w " + dir + "/srv/ml/datasets -p rwa -k annexa-datasets",
			"-w " + dir + "/srv/shared -p rwa -k annexa-datasets",
			"-w " + dir + "/srv/ml/models -p rwa -k annexa-models",
		}
		if got := rules(t, out); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("rules:\n%s\nwant:\n%s", out, strings.Join(want, "\n"))
		}
		for _, why := range []string{
			`"` + dir + `/srv/my data" cannot be watched: a rules file cannot hold a path with white space`,
			`"/" cannot be watched: the kernel refuses a watch on /`,
			"its parent folder is missing here, and the kernel refuses the watch until it exists:\n# -w " + dir + "/nowhere/datasets -p rwa",
		} {
			if !strings.Contains(out, why) {
				t.Errorf("output does not say %q:\n%s", why, out)
			}
		}
	})
	t.Run("bad config", func(t *testing.T) {
		cfg := filepath.Join(t.TempDir(), "agent.yaml")
		os.WriteFile(cfg, []byte("plugins: {}\n"), 0o644)
		if _, err := runCaptured(t, "audit-rules", "--config", cfg); err == nil || !strings.Contains(err.Error(), "collector") {
			t.Errorf("err %v, want the config error", err)
		}
	})
}

// rules returns the rule lines of out, failing on any line that is
// neither a comment nor a valid watch rule.
func rules(t *testing.T, out string) []string {
	t.Helper()
	var got []string
	for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		if strings.HasPrefix(l, "#") {
			continue
		}
		m := ruleLine.FindStringSubmatch(l)
		if m == nil {
			t.Errorf("not an auditctl watch rule: %q", l)
			continue
		}
		if m[1] == "/" {
			t.Errorf("watch on / is refused by the kernel: %q", l)
		}
		got = append(got, l)
	}
	return got
}
