package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/annexa/annexa/agent/internal/config"
)

// Doctor checks every path the plugins read once, names every plugin that
// reads it, follows auth log globs, includes auditd logs, and prints the
// same lines in the same order every time.
func TestDoctorAssetsAndLogs(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "datasets")
	os.Mkdir(data, 0o755)
	os.WriteFile(filepath.Join(dir, "auth-a.log"), nil, 0o644)
	os.WriteFile(filepath.Join(dir, "auth-b.log"), nil, 0o644)
	audit := filepath.Join(dir, "audit.log")
	cfg, err := config.Parse("agent.yaml", []byte(`collector: {url: "http://127.0.0.1:1"}
plugins:
  datasets: {roots: [`+data+`]}
  encryption: {roots: [`+data+`]}
  access: {auth_logs: ["`+dir+`/auth-*.log"], audit_logs: [`+audit+`]}
`))
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"ok    assets     " + data + " (plugins datasets, encryption) is readable",
		"WARN  logs       " + audit + " (plugin access) does not exist yet; it is read once it appears",
		"ok    logs       " + dir + "/auth-a.log (plugin access) is readable",
		"ok    logs       " + dir + "/auth-b.log (plugin access) is readable",
	}, "\n") + "\n"
	for range 5 {
		var out bytes.Buffer
		(&doctor{out: &out, now: time.Now}).assets(cfg)
		if out.String() != want {
			t.Fatalf("doctor assets:\n%s\nwant:\n%s", out.String(), want)
		}
	}
}
