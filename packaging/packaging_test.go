package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestUnitsVerify runs systemd-analyze verify on each unit, with ExecStart
// pointed at a real executable, since verify refuses a missing binary.
func TestUnitsVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatal("systemd-analyze is missing; install Debian's systemd package (.ci/run does)")
	}
	units, _ := filepath.Glob("systemd/*.service")
	if len(units) != 2 {
		t.Fatalf("found units %v, want the agent's and the collector's", units)
	}
	dir := t.TempDir()
	for _, u := range units {
		b, err := os.ReadFile(u)
		if err != nil {
			t.Fatal(err)
		}
		text := strings.ReplaceAll(string(b), "/usr/bin/annexa-agent", "/bin/true")
		text = strings.ReplaceAll(text, "/usr/bin/annexa-collector", "/bin/true")
		out := filepath.Join(dir, filepath.Base(u))
		if err := os.WriteFile(out, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(analyze, "verify", "--man=no", out)
		msg, err := cmd.CombinedOutput()
		// verify prints warnings about the host (no systemd running, the
		// annexa user missing); only lines about our file are findings.
		var findings []string
		for _, line := range strings.Split(string(msg), "\n") {
			if strings.Contains(line, filepath.Base(u)) && !strings.Contains(line, "Failed to resolve") {
				findings = append(findings, line)
			}
		}
		if len(findings) > 0 || (err != nil && len(strings.TrimSpace(string(msg))) == 0) {
			t.Errorf("systemd-analyze verify %s: %v\n%s", u, err, msg)
		}
	}
}

// TestUnitHardening keeps the promises docs/operations.md makes.
func TestUnitHardening(t *testing.T) {
	want := map[string][]string{
		"systemd/annexa-agent.service": {"User=annexa", "NoNewPrivileges=yes", "ProtectSystem=strict", "ReadWritePaths=/var/lib/annexa",
			"ProtectHome=read-only", "PrivateTmp=yes", "CapabilityBoundingSet=CAP_DAC_READ_SEARCH", "Restart=on-failure"},
		"systemd/annexa-collector.service": {"User=annexa", "NoNewPrivileges=yes", "ProtectSystem=strict", "ReadWritePaths=/var/lib/annexa-collector",
			"PrivateTmp=yes", "CapabilityBoundingSet=\n", "Restart=on-failure"},
	}
	for file, lines := range want {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range lines {
			if !strings.Contains(string(b), l) {
				t.Errorf("%s lacks %q", file, strings.TrimSpace(l))
			}
		}
	}
}

// service install renders the packaged unit with its own ExecStart.
func TestSystemdTemplate(t *testing.T) {
	for _, name := range []string{"annexa-agent", "annexa-collector"} {
		tmpl, err := SystemdTemplate(name)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(tmpl, "\nExecStart={{Path | cmdEscape}}{{range Arguments}} {{. | cmd}}{{end}}\n") ||
			strings.Contains(tmpl, "/usr/bin/"+name) || !strings.Contains(tmpl, "NoNewPrivileges=yes") {
			t.Errorf("%s template:\n%s", name, tmpl)
		}
	}
	if _, err := SystemdTemplate("nope"); err == nil {
		t.Error("a unit that does not exist was found")
	}
}
