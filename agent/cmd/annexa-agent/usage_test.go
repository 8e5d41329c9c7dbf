package main

import (
	"context"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/annexa/annexa/agent/internal/config"
)

// TestUsageNamesEveryFlag: `annexa-agent --help` is what a newcomer reads
// first, so every flag a command accepts must appear on its lines there.
// The flags are taken from each command's own -h output, so a flag added
// to a command without a word in the usage fails this test.
func TestUsageNamesEveryFlag(t *testing.T) {
	if !strings.Contains(usage, "--config defaults to "+config.DefaultPath) {
		t.Errorf("usage does not give --config's default %s", config.DefaultPath)
	}
	flagLine := regexp.MustCompile(`(?m)^  -([a-z][a-z-]*)`)
	for _, c := range []struct {
		args    []string
		section string // the usage line that starts the command's entry
	}{
		{[]string{"run", "-h"}, "  run "},
		{[]string{"collect", "-h"}, "  collect "},
		{[]string{"enroll", "-h"}, "  enroll "},
		{[]string{"status", "-h"}, "  status "},
		{[]string{"config", "check", "-h"}, "  config check "},
		{[]string{"doctor", "-h"}, "  doctor "},
		{[]string{"service", "install", "-h"}, "  service "},
		{[]string{"audit-rules", "-h"}, "  audit-rules "},
	} {
		help := stderrOf(t, func() {
			if err := run(context.Background(), c.args); err != exitCode(0) {
				t.Errorf("%v: %v, want exit 0", c.args, err)
			}
		})
		flags := flagLine.FindAllStringSubmatch(help, -1)
		if len(flags) == 0 {
			t.Fatalf("%v printed no flags:\n%s", c.args, help)
		}
		entry := usageEntry(t, c.section)
		for _, f := range flags {
			if !strings.Contains(entry, "--"+f[1]) {
				t.Errorf("usage of %q does not name --%s:\n%s", strings.TrimSpace(c.section), f[1], entry)
			}
		}
	}
}

// usageEntry is a command's first usage line and the indented lines that
// continue it.
func usageEntry(t *testing.T, start string) string {
	t.Helper()
	lines := strings.Split(usage, "\n")
	for i, l := range lines {
		if !strings.HasPrefix(l, start) {
			continue
		}
		entry := l
		for _, next := range lines[i+1:] {
			if !strings.HasPrefix(next, "        ") {
				break
			}
			entry += "\n" + next
		}
		return entry
	}
	t.Fatalf("usage has no line starting %q", start)
	return ""
}

func stderrOf(t *testing.T, f func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stderr
	os.Stderr = w
	done := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		done <- string(b)
	}()
	f()
	os.Stderr = saved
	w.Close()
	return <-done
}

// TestUsageErrorsExitTwo: a wrong command line exits 2 (docs/operations.md,
// "Exit codes") and says what to fix, before any config is read.
func TestUsageErrorsExitTwo(t *testing.T) {
	missing := t.TempDir() + "/none.yaml"
	for _, c := range []struct {
		args []string
		says string
	}{
		{[]string{"collect", "--config", missing}, "collect needs --once"},
		{[]string{"enroll", "--config", missing}, "--token is required"},
		{[]string{"enroll", "--token", "t", "--ca", "f", "--ca-fingerprint", "sha256:00", "--config", missing}, "not both"},
		{[]string{"run", "--bogus"}, "-bogus"},
	} {
		var err error
		says := stderrOf(t, func() { err = run(context.Background(), c.args) })
		if err != exitCode(2) || !strings.Contains(says, c.says) {
			t.Errorf("%v = %v %q, want exit 2 saying %q", c.args, err, says, c.says)
		}
	}
}

// TestPluginNames: config check and doctor count the plugins in words a
// person would write ("1 plugin", not "1 plugins").
func TestPluginNames(t *testing.T) {
	one := &config.Config{Plugins: []config.Plugin{{Name: "datasets", Enabled: true}}}
	two := &config.Config{Plugins: []config.Plugin{{Name: "datasets", Enabled: true}, {Name: "models"}}}
	for cfg, want := range map[*config.Config]string{one: "1 plugin: datasets", two: "2 plugins: datasets, models (disabled)"} {
		if got := pluginNames(cfg); got != want {
			t.Errorf("pluginNames = %q, want %q", got, want)
		}
	}
}
