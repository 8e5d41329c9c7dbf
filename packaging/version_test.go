package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// semver is the grammar of semver.org 2.0.0, so that what the binaries
// report orders as a version and not as "unknown version".
var semver = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)` +
	`(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?` +
	`(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`)

// TestVersionScheme runs packaging/version.sh in a real git checkout
// before and after a release tag, the way make build and package.sh do.
func TestVersionScheme(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git is missing: sudo apt-get install -y git")
	}
	repo := t.TempDir()
	// The script finds the checkout from its own location.
	if err := os.MkdirAll(filepath.Join(repo, "packaging"), 0o755); err != nil {
		t.Fatal(err)
	}
	script, err := os.ReadFile("version.sh")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(repo, "packaging", "version.sh"), script, 0o755); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.org", "GIT_COMMITTER_NAME=t",
		"GIT_COMMITTER_EMAIL=t@example.org", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir, cmd.Env = repo, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	version := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(filepath.Join(repo, "packaging", "version.sh"), args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("version.sh %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q")
	git("add", ".")
	git("commit", "-q", "-m", "first")
	hash := git("rev-parse", "--short", "HEAD")

	untagged := version()
	if !regexp.MustCompile(`^0\.0\.0-git\.\d{14}\.g` + hash + `$`).MatchString(untagged) {
		t.Errorf("untagged version = %q, want 0.0.0-git.DATE.g%s", untagged, hash)
	}
	git("tag", "v1.2.0")
	if v := version(); v != "1.2.0" {
		t.Errorf("version on tag v1.2.0 = %q, want 1.2.0", v)
	}
	if err := os.WriteFile(filepath.Join(repo, "README"), []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git("add", "README")
	git("commit", "-q", "-m", "second")
	after := version()
	if want := "1.2.0+1.g" + git("rev-parse", "--short", "HEAD"); after != want {
		t.Errorf("version one commit after v1.2.0 = %q, want %q", after, want)
	}
	if err := os.WriteFile(filepath.Join(repo, "README"), []byte("y\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dirty := version()
	if dirty != after+".dirty" {
		t.Errorf("version with uncommitted changes = %q, want %q", dirty, after+".dirty")
	}
	for _, v := range []string{untagged, after, dirty} {
		if !semver.MatchString(v) {
			t.Errorf("%q is not a semantic version", v)
		}
	}

	// Package form: the pre-release hyphen becomes ~, and dpkg then orders
	// a development build before every release, as semver does.
	pkg := version("--package", untagged)
	if want := strings.Replace(untagged, "-", "~", 1); pkg != want {
		t.Errorf("package form of %q = %q, want %q", untagged, pkg, want)
	}
	if v := version("--package", "1.2.0+1.gab-c"); v != "1.2.0+1.gab-c" {
		t.Errorf("package form of a release = %q, want it unchanged", v)
	}
	if dpkg, err := exec.LookPath("dpkg"); err == nil {
		for _, pair := range [][2]string{{pkg, "0.0.1"}, {pkg, "1.2.0"}, {"1.2.0", version("--package", after)}} {
			if err := exec.Command(dpkg, "--compare-versions", pair[0], "lt", pair[1]).Run(); err != nil {
				t.Errorf("dpkg does not order %s before %s", pair[0], pair[1])
			}
		}
	}
	cmd := exec.Command(filepath.Join(repo, "packaging", "version.sh"), "--package", "dev")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "does not start with a digit") {
		t.Errorf("version.sh --package dev = %v %q, want a refusal", err, out)
	}
}

// TestMakefileVersion checks that make build stamps the binaries with the
// scheme above, not a bare commit hash that no version comparison reads.
func TestMakefileVersion(t *testing.T) {
	cmd := exec.Command("make", "-s", "--no-print-directory", "-C", "..", "--eval", "print-version: ; @echo $(VERSION)", "print-version")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make print-version: %v\n%s", err, out)
	}
	want, err := exec.Command("./version.sh").Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(out)); got != strings.TrimSpace(string(want)) || !semver.MatchString(got) {
		t.Errorf("Makefile VERSION = %q, want packaging/version.sh's %q", got, strings.TrimSpace(string(want)))
	}
}
