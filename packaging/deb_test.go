package packaging

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDebInstallRemovePurge builds both .deb packages with package.sh (the
// script `make package` runs), checks them with lintian, and installs,
// uses, upgrades, removes and purges them on this machine with dpkg, as a
// sysadmin would. It needs root and a Debian-family host; PID 1 need not be
// systemd, so it also proves the maintainer scripts cope without one.
func TestDebInstallRemovePurge(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipped: installing a .deb for real needs root; run the suite as root (CI does)")
	}
	if _, err := exec.LookPath("dpkg"); err != nil {
		t.Skip("skipped: dpkg is missing; this host is not Debian-family")
	}
	for _, p := range []string{"annexa-agent", "annexa-collector"} {
		if installed(p) {
			t.Skipf("skipped: %s is installed on this host and the test would replace and purge it", p)
		}
	}
	lintian, err := exec.LookPath("lintian")
	if err != nil {
		t.Fatal("lintian is missing: apt-get install lintian (.ci/run does)")
	}
	root, _ := filepath.Abs("..")
	if _, err := os.Stat(filepath.Join(root, "bin", "annexa-agent")); err != nil {
		t.Fatal("bin/annexa-agent is missing: run `make build` first (make test does)")
	}

	// Two versions, built side by side, to test an upgrade too.
	out, outNext := t.TempDir(), t.TempDir()
	build := func(dir, version string, done chan<- error) {
		cmd := exec.Command(filepath.Join(root, "packaging", "package.sh"), dir, "deb")
		cmd.Env = append(os.Environ(), "VERSION="+version)
		if b, err := cmd.CombinedOutput(); err != nil {
			done <- fmt.Errorf("package.sh %s: %v\n%s", version, err, b)
			return
		}
		done <- nil
	}
	built := make(chan error, 2)
	go build(out, "1.2.3~test", built)
	go build(outNext, "1.2.4~test", built)
	for range 2 {
		if err := <-built; err != nil {
			t.Fatal(err)
		}
	}
	agentDeb := filepath.Join(out, "annexa-agent_1.2.3~test_"+debArch(t)+".deb")
	agentNext := filepath.Join(outNext, "annexa-agent_1.2.4~test_"+debArch(t)+".deb")
	collDeb := filepath.Join(out, "annexa-collector_1.2.3~test_"+debArch(t)+".deb")

	// lintian exits non-zero on errors only with --fail-on; warnings (no
	// manual page, systemctl in maintainer scripts) are reported, not fatal.
	// It only reads the files, so it runs while dpkg installs them.
	lintDone := make(chan struct{})
	go func() {
		defer close(lintDone)
		lint, err := exec.Command(lintian, "--fail-on", "error", agentDeb, collDeb).CombinedOutput()
		if err != nil {
			t.Errorf("lintian reports errors: %v\n%s", err, lint)
		}
		for _, line := range strings.Split(string(lint), "\n") {
			if strings.HasPrefix(line, "E: ") {
				t.Errorf("lintian: %s", line)
			}
		}
	}()
	defer func() { <-lintDone }()

	t.Cleanup(func() {
		for _, p := range []string{"annexa-agent", "annexa-collector"} {
			if installed(p) || configFilesLeft(p) {
				dpkg(t, "-P", p)
			}
		}
	})

	// Install.
	dpkg(t, "-i", agentDeb)
	want := map[string]struct {
		mode  os.FileMode
		owner string
	}{
		"/usr/bin/annexa-agent":                            {0o755, "root"},
		"/usr/lib/annexa/plugins/annexa-plugin-datasets":   {0o755, "root"},
		"/usr/lib/annexa/plugins/plugins.sha256":           {0o644, "root"},
		"/usr/lib/systemd/system/annexa-agent.service":     {0o644, "root"},
		"/etc/annexa/agent.yaml":                           {0o640, "root"},
		"/var/lib/annexa":                                  {0o700 | os.ModeDir, "annexa"},
		"/usr/share/doc/annexa-agent/copyright":            {0o644, "root"},
		"/usr/share/lintian/overrides/annexa-agent":        {0o644, "root"},
		"/usr/lib/annexa/plugins/annexa-plugin-encryption": {0o755, "root"},
		"/usr/lib/annexa/plugins/annexa-plugin-models":     {0o755, "root"},
		"/usr/lib/annexa/plugins/annexa-plugin-access":     {0o755, "root"},
		"/usr/share/doc/annexa-agent/operations.md":        {0o644, "root"},
		"/usr/share/doc/annexa-agent/changelog.gz":         {0o644, "root"},
	}
	for path, w := range want {
		fi, err := os.Stat(path)
		if err != nil {
			t.Errorf("after dpkg -i: %v", err)
			continue
		}
		if fi.Mode()&(os.ModeDir|os.ModePerm) != w.mode {
			t.Errorf("%s has mode %v, want %v", path, fi.Mode(), w.mode)
		}
		if got := ownerName(fi); got != w.owner {
			t.Errorf("%s is owned by %s, want %s", path, got, w.owner)
		}
	}
	if fi, err := os.Stat("/etc/annexa/agent.yaml"); err == nil && groupName(fi) != "annexa" {
		t.Errorf("/etc/annexa/agent.yaml has group %s; the service user could not read it", groupName(fi))
	}
	if v := run(t, "/usr/bin/annexa-agent", "version"); !strings.Contains(v, "annexa-agent") {
		t.Errorf("annexa-agent version printed %q", v)
	}
	// As the service user: the config is readable through its group and
	// the shipped manifest pins the shipped plugins.
	if c := run(t, "runuser", "-u", "annexa", "--", "/usr/bin/annexa-agent", "config", "check", "--config", "/etc/annexa/agent.yaml"); !strings.Contains(c, ": ok") {
		t.Errorf("config check as annexa printed %q", c)
	}
	if b, err := os.ReadFile("/usr/lib/annexa/plugins/plugins.sha256"); err != nil || bytes.Count(b, []byte("\n")) != 4 {
		t.Errorf("plugins.sha256 should pin the four built-in plugins: %q %v", b, err)
	}
	// Without systemd (this host), `service install` writes a System V
	// script; removing the package must take it away with the program.
	sysv := false
	if _, err := os.Stat("/run/systemd/system"); err != nil {
		run(t, "/usr/bin/annexa-agent", "service", "install", "--config", "/etc/annexa/agent.yaml")
		_, err := os.Stat("/etc/init.d/annexa-agent")
		sysv = err == nil
		t.Cleanup(func() {
			// The program may be gone by now: take the script and its
			// runlevel links away by hand if the package did not.
			os.Remove("/etc/init.d/annexa-agent")
			links, _ := filepath.Glob("/etc/rc?.d/[SK][0-9][0-9]annexa-agent")
			for _, l := range links {
				os.Remove(l)
			}
		})
	}

	// Under systemd (simulated: PID 1 here is not systemd, so a private
	// mount namespace gets a /run/systemd/system and systemctl only
	// records its calls) the unit is enabled but not started before
	// enrollment, restarted on reconfiguration once enrolled, and stopped
	// and disabled on removal.
	if calls := underSystemd(t, "annexa-agent.postinst", "configure"); !slices.Contains(calls, "enable annexa-agent.service") || containsPrefix(calls, "start") || containsPrefix(calls, "try-restart") {
		t.Errorf("postinst before enrollment called systemctl %q; want enable, no start", calls)
	}

	// An edited config and the state survive an upgrade and a removal;
	// purge takes both.
	if err := os.WriteFile("/etc/annexa/agent.yaml", []byte("# edited\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("/var/lib/annexa/credentials.json", []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	if calls := underSystemd(t, "annexa-agent.postinst", "configure", "1.2.3~test"); !slices.Contains(calls, "try-restart annexa-agent.service") {
		t.Errorf("postinst of an enrolled agent called systemctl %q; want try-restart", calls)
	}
	if calls := underSystemd(t, "annexa-agent.prerm", "upgrade", "1.2.4~test"); len(calls) != 0 {
		t.Errorf("prerm upgrade called systemctl %q; the service should keep running until postinst restarts it", calls)
	}
	if calls := underSystemd(t, "annexa-agent.prerm", "remove"); !slices.Contains(calls, "stop annexa-agent.service") || !slices.Contains(calls, "disable annexa-agent.service") {
		t.Errorf("prerm remove called systemctl %q; want stop and disable", calls)
	}
	dpkg(t, "-i", agentNext)
	if v, _ := exec.Command("dpkg-query", "-W", "-f", "${Version}", "annexa-agent").Output(); string(v) != "1.2.4~test" {
		t.Errorf("after the upgrade dpkg has annexa-agent %q", v)
	}
	if b, err := os.ReadFile("/etc/annexa/agent.yaml"); err != nil || string(b) != "# edited\n" {
		t.Errorf("the upgrade replaced the edited config: %q %v", b, err)
	}
	if fi, err := os.Stat("/etc/annexa/agent.yaml"); err != nil || fi.Mode().Perm() != 0o640 || groupName(fi) != "annexa" {
		t.Errorf("after the upgrade the config is not root:annexa 0640: %v", err)
	}
	if _, err := os.Stat("/var/lib/annexa/credentials.json"); err != nil {
		t.Errorf("the upgrade lost the agent's state: %v", err)
	}
	dpkg(t, "-r", "annexa-agent")
	for _, gone := range []string{"/usr/bin/annexa-agent", "/usr/lib/annexa", "/usr/lib/systemd/system/annexa-agent.service", "/usr/share/doc/annexa-agent"} {
		if _, err := os.Stat(gone); err == nil {
			t.Errorf("%s is still there after dpkg -r", gone)
		}
	}
	if b, err := os.ReadFile("/etc/annexa/agent.yaml"); err != nil || string(b) != "# edited\n" {
		t.Errorf("dpkg -r lost the edited config: %q %v", b, err)
	}
	if _, err := os.Stat("/var/lib/annexa/credentials.json"); err != nil {
		t.Errorf("dpkg -r deleted the agent's state: %v", err)
	}
	if _, err := os.Stat("/etc/init.d/annexa-agent"); sysv && err == nil {
		t.Error("dpkg -r left the System V script of `annexa-agent service install`, which starts a program that is gone")
	}
	dpkg(t, "-P", "annexa-agent")
	for _, gone := range []string{"/etc/annexa", "/var/lib/annexa"} {
		if _, err := os.Stat(gone); err == nil {
			t.Errorf("%s is still there after dpkg -P", gone)
		}
	}
	if installed("annexa-agent") || configFilesLeft("annexa-agent") {
		t.Error("dpkg still knows annexa-agent after purge")
	}

	// The collector: installed, usable, and gone after purge.
	dpkg(t, "-i", collDeb)
	if v := run(t, "/usr/bin/annexa-collector", "--version"); !strings.Contains(v, "annexa-collector") {
		t.Errorf("annexa-collector --version printed %q", v)
	}
	if fi, err := os.Stat("/var/lib/annexa-collector"); err != nil || fi.Mode().Perm() != 0o700 || ownerName(fi) != "annexa" {
		t.Errorf("/var/lib/annexa-collector should be annexa's, mode 0700: %v", err)
	}
	dpkg(t, "-P", "annexa-collector")
	for _, gone := range []string{"/usr/bin/annexa-collector", "/var/lib/annexa-collector", "/usr/lib/systemd/system/annexa-collector.service"} {
		if _, err := os.Stat(gone); err == nil {
			t.Errorf("%s is still there after dpkg -P", gone)
		}
	}
}

// dpkg runs dpkg, waiting while another process (apt on a shared CI
// machine) holds its lock.
func dpkg(t *testing.T, args ...string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		b, err := exec.Command("dpkg", append([]string{"--force-confdef", "--force-confold"}, args...)...).CombinedOutput()
		if err == nil {
			return
		}
		if strings.Contains(string(b), "lock") && time.Now().Before(deadline) {
			time.Sleep(2 * time.Second)
			continue
		}
		t.Fatalf("dpkg %s: %v\n%s", strings.Join(args, " "), err, b)
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	b, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, b)
	}
	return string(b)
}

func installed(pkg string) bool {
	b, err := exec.Command("dpkg-query", "-W", "-f", "${db:Status-Status}", pkg).Output()
	return err == nil && string(b) == "installed"
}

// configFilesLeft is dpkg's state after -r: conffiles kept until a purge.
func configFilesLeft(pkg string) bool {
	b, err := exec.Command("dpkg-query", "-W", "-f", "${db:Status-Status}", pkg).Output()
	return err == nil && string(b) == "config-files"
}

func debArch(t *testing.T) string {
	b, err := exec.Command("dpkg", "--print-architecture").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func ownerName(fi os.FileInfo) string {
	u, err := user.LookupId(strconv.FormatUint(uint64(fi.Sys().(*syscall.Stat_t).Uid), 10))
	if err != nil {
		return "?"
	}
	return u.Username
}

func groupName(fi os.FileInfo) string {
	g, err := user.LookupGroupId(strconv.FormatUint(uint64(fi.Sys().(*syscall.Stat_t).Gid), 10))
	if err != nil {
		return "?"
	}
	return g.Name
}

// underSystemd runs an installed maintainer script as if systemd were
// PID 1 and returns the systemctl calls it made.
func underSystemd(t *testing.T, script string, args ...string) []string {
	t.Helper()
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Fatal("unshare is missing (util-linux)")
	}
	dir := t.TempDir()
	log := filepath.Join(dir, "calls")
	fake := "#!/bin/sh\necho \"$*\" >> " + log + "\n"
	if err := os.WriteFile(filepath.Join(dir, "systemctl"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	sh := `mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/system && PATH="$0:$PATH" exec "$@"`
	cmd := exec.Command("unshare", append([]string{"--mount", "--propagation", "private", "sh", "-c", sh, dir, filepath.Join("/var/lib/dpkg/info", script)}, args...)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %v under simulated systemd: %v\n%s", script, args, err, b)
	}
	b, _ := os.ReadFile(log)
	var calls []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if l != "" {
			calls = append(calls, l)
		}
	}
	return calls
}

func containsPrefix(calls []string, prefix string) bool {
	for _, c := range calls {
		if strings.HasPrefix(c, prefix) {
			return true
		}
	}
	return false
}
