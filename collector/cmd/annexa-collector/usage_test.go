package main

import (
	"regexp"
	"strings"
	"testing"
)

// TestUsageNamesEveryFlag: `annexa-collector --help` is what an operator
// reads first, so every flag a command accepts must appear in its entry
// there. The flags come from each command's own --help answer, so a flag
// added to a command without a word in the usage fails this test.
func TestUsageNamesEveryFlag(t *testing.T) {
	flagName := regexp.MustCompile(`--([a-z][a-z-]*) \(`)
	for _, c := range [][]string{
		{"init"}, {"serve"}, {"token", "create"}, {"report"}, {"agents", "list"}, {"agents", "revoke"},
		{"users", "add"}, {"users", "list"}, {"verify"}, {"service", "install"},
		{"ca", "status"}, {"ca", "rotate"}, {"ca", "promote"}, {"ca", "retire"},
		{"exceptions", "add"}, {"exceptions", "list"}, {"exceptions", "revoke"},
		{"attest"}, {"attest", "list"}, {"attest", "revoke"},
		{"soa", "set"}, {"soa", "list"}, {"soa", "export"}, {"soa", "import"},
		{"apikey", "create"}, {"apikey", "list"}, {"apikey", "revoke"},
		{"controls", "lint"}, {"controls", "checks"},
	} {
		_, errs, code := cli(t, append(c, "--help")...)
		flags := flagName.FindAllStringSubmatch(errs, -1)
		if code != 2 || len(flags) == 0 {
			t.Errorf("%v --help = exit %d %q, want 2 listing the flags", c, code, errs)
			continue
		}
		name := strings.Join(c, " ")
		if c[0] == "service" { // one entry for every action
			name = "service"
		}
		entry := collectorUsageEntry(t, name)
		for _, f := range flags {
			if !strings.Contains(entry, "--"+f[1]) {
				t.Errorf("usage of %q does not name --%s:\n%s", strings.Join(c, " "), f[1], entry)
			}
		}
	}
}

// collectorUsageEntry is the usage line that starts with the command and
// the more deeply indented lines that continue it.
func collectorUsageEntry(t *testing.T, cmd string) string {
	t.Helper()
	lines := strings.Split(usage, "\n")
	for i, l := range lines {
		if l != "  "+cmd && !strings.HasPrefix(l, "  "+cmd+" ") {
			continue
		}
		entry := l
		for _, next := range lines[i+1:] {
			if !strings.HasPrefix(next, "    ") {
				break
			}
			entry += "\n" + next
		}
		return entry
	}
	t.Fatalf("usage has no entry for %q", cmd)
	return ""
}
