package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestRPMContents builds both .rpm packages with package.sh and reads them
// back with rpm itself: names, the conffile, modes, dependencies and the
// scriptlets. Installing them needs an RPM-based host; the maintainer
// scripts they run are the ones TestDebInstallRemovePurge runs for real.
func TestRPMContents(t *testing.T) {
	rpm, err := exec.LookPath("rpm")
	if err != nil {
		t.Fatal("rpm is missing: apt-get install rpm (.ci/run does)")
	}
	root, _ := filepath.Abs("..")
	if _, err := os.Stat(filepath.Join(root, "bin", "annexa-agent")); err != nil {
		t.Fatal("bin/annexa-agent is missing: run `make build` first (make test does)")
	}
	out := t.TempDir()
	cmd := exec.Command(filepath.Join(root, "packaging", "package.sh"), out, "rpm")
	cmd.Env = append(os.Environ(), "VERSION=1.2.3")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("package.sh: %v\n%s", err, b)
	}
	q := func(pkg string, args ...string) string {
		t.Helper()
		files, _ := filepath.Glob(filepath.Join(out, pkg+"-1.2.3-1.*.rpm"))
		if len(files) != 1 {
			t.Fatalf("want one %s rpm, found %v", pkg, files)
		}
		b, err := exec.Command(rpm, append(append([]string{"-qp"}, args...), files[0])...).CombinedOutput()
		if err != nil {
			t.Fatalf("rpm -qp %v: %v\n%s", args, err, b)
		}
		return string(b)
	}

	if got := q("annexa-agent", "--qf", "%{NAME} %{VERSION} %{RELEASE}"); got != "annexa-agent 1.2.3 1" {
		t.Errorf("agent rpm is %q", got)
	}
	if got := strings.TrimSpace(q("annexa-agent", "-c")); got != "/etc/annexa/agent.yaml" {
		t.Errorf("agent config files: %q", got)
	}
	list := q("annexa-agent", "-lv")
	for _, want := range []string{
		"/usr/lib/annexa/plugins/plugins.sha256",
		"/usr/lib/systemd/system/annexa-agent.service",
	} {
		if !strings.Contains(list, want) {
			t.Errorf("agent rpm lacks %q:\n%s", want, list)
		}
	}
	for _, line := range strings.Split(list, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		path, mode := f[len(f)-1], f[0]
		want := map[string]string{
			"/etc/annexa/agent.yaml":                         "-rw-r-----",
			"/usr/bin/annexa-agent":                          "-rwxr-xr-x",
			"/usr/lib/annexa/plugins/annexa-plugin-datasets": "-rwxr-xr-x",
			"/usr/lib/annexa/plugins/annexa-plugin-models":   "-rwxr-xr-x",
		}[path]
		if want != "" && mode != want {
			t.Errorf("%s has mode %s, want %s", path, mode, want)
		}
	}
	scripts := q("annexa-agent", "--scripts")
	for _, want := range []string{"postinstall scriptlet", "preuninstall scriptlet", "postuninstall scriptlet", "useradd --system"} {
		if !strings.Contains(scripts, want) {
			t.Errorf("agent rpm scriptlets lack %q", want)
		}
	}
	if req := q("annexa-agent", "-R"); !strings.Contains(req, "shadow-utils") || !strings.Contains(req, "glibc") {
		t.Errorf("agent rpm requires %q", req)
	}
	if list := q("annexa-collector", "-l"); !strings.Contains(list, "/usr/bin/annexa-collector") || !strings.Contains(list, "/usr/lib/systemd/system/annexa-collector.service") {
		t.Errorf("collector rpm files:\n%s", list)
	}
	if c := q("annexa-collector", "-c"); strings.TrimSpace(c) != "" && !strings.Contains(c, "(contains no files)") {
		t.Errorf("collector rpm has config files %q", c)
	}
}
