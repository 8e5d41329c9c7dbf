package e2e

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The collector installs, starts, reports, stops and uninstalls as a
// system service for real. PID 1 here is not systemd, so kardianos takes
// the System V path: an init script in /etc/init.d driven by `service`.
func TestCollectorAsSystemService(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	if os.Geteuid() != 0 {
		t.Skip("installing a system service needs root")
	}
	if _, err := os.Stat("/run/systemd/system"); err == nil {
		t.Skip("systemd is running here; this test drives the System V path and would touch the real service manager")
	}
	if _, err := exec.LookPath("service"); err != nil {
		t.Skip("no `service` command (Debian package init-system-helpers)")
	}
	exe := filepath.Join(bins, "annexa-collector")
	name := fmt.Sprintf("annexa-collector-test-%d", os.Getpid())
	addr := freeAddr(t)
	data := t.TempDir()
	svc := func(args ...string) (string, error) {
		out, err := exec.Command(exe, append([]string{"service"}, append(args, "--name", name)...)...).CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	t.Cleanup(func() {
		svc("stop")
		svc("uninstall")
	})
	healthy := func() bool {
		c := http.Client{Timeout: time.Second}
		resp, err := c.Get("http://" + addr + "/v1/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}

	if out, err := svc("install", "--data", data, "--listen", addr, "--plain-http"); err != nil || !strings.Contains(out, "install done (unix-systemv)") {
		t.Fatalf("install: %v %s", err, out)
	}
	script, err := os.ReadFile("/etc/init.d/" + name)
	if err != nil || !strings.Contains(string(script), exe+` "serve" "--listen" "`+addr+`" "--data" "`+data+`" "--plain-http"`) {
		t.Fatalf("init script does not run serve with the given flags (%v):\n%s", err, script)
	}
	if out, err := svc("install", "--data", data); err == nil {
		t.Errorf("a second install succeeded: %s", out)
	}
	if out, _ := svc("status"); !strings.HasSuffix(out, "stopped") {
		t.Errorf("status after install = %q, want stopped", out)
	}
	if out, err := svc("start"); err != nil {
		t.Fatalf("start: %v %s", err, out)
	}
	waitFor(t, "the service to answer /v1/healthz", 20*time.Second, healthy)
	if out, _ := svc("status"); !strings.HasSuffix(out, "running") {
		t.Errorf("status after start = %q, want running", out)
	}
	if out, err := svc("stop"); err != nil {
		t.Fatalf("stop: %v %s", err, out)
	}
	waitFor(t, "the service to stop answering", 20*time.Second, func() bool { return !healthy() })
	if out, err := svc("uninstall"); err != nil {
		t.Fatalf("uninstall: %v %s", err, out)
	}
	if _, err := os.Stat("/etc/init.d/" + name); !os.IsNotExist(err) {
		t.Errorf("init script still there after uninstall: %v", err)
	}
	if links, _ := filepath.Glob("/etc/rc?.d/*" + name); len(links) > 0 {
		t.Errorf("runlevel links left after uninstall, pointing at nothing: %v", links)
	}
	if out, _ := svc("status"); !strings.HasSuffix(out, "not installed") {
		t.Errorf("status after uninstall = %q", out)
	}
}

// The agent refuses to install a service over a config that would fail at
// every start.
func TestAgentServiceInstallChecksConfig(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	bad := filepath.Join(t.TempDir(), "agent.yaml")
	os.WriteFile(bad, []byte("collector: {url: ftp://x}\nplugins: {d: {}}\n"), 0o644)
	out, err := exec.Command(filepath.Join(bins, "annexa-agent"), "service", "install", "--config", bad, "--name", "annexa-agent-never").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "collector.url") {
		t.Errorf("install over a bad config: %v %s", err, out)
	}
	if _, err := os.Stat("/etc/init.d/annexa-agent-never"); err == nil {
		os.Remove("/etc/init.d/annexa-agent-never")
		t.Error("an init script was written for a bad config")
	}
}
