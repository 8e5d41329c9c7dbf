package main

import (
	"strings"
	"testing"
)

// TestArgumentErrors pins the usage errors the shared flag helpers
// (parseNoArgs, parseWithData, openForCommand, openForID) give for each
// command: they name the command as the user typed it.
func TestArgumentErrors(t *testing.T) {
	data := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"verify", "extra", "--data", data}, `verify takes no arguments, got ["extra"]`},
		{[]string{"verify"}, "verify: --data DIR is required (the folder holding " + dbName + ")"},
		{[]string{"users", "list"}, "users list: --data DIR is required"},
		{[]string{"report", "x"}, `report takes no arguments, got ["x"]`},
		{[]string{"token", "create"}, "token create: --data DIR is required"},
		{[]string{"agents", "list", "a", "b"}, `agents list takes no arguments, got ["a" "b"]`},
		{[]string{"agents", "revoke", "--data", data}, "agents revoke takes exactly one agent ID (see `annexa-collector agents list`), got 0"},
		{[]string{"agents", "revoke", "agt_1"}, "agents revoke: --data DIR is required"},
		{[]string{"exceptions", "add", "x"}, `exceptions add takes no arguments, got ["x"]`},
		{[]string{"exceptions", "list"}, "exceptions list: --data DIR is required"},
		{[]string{"exceptions", "revoke", "a", "b", "--data", data}, "exceptions revoke takes exactly one ID, got 2"},
		{[]string{"attest", "--control", "c"}, "attest: --data DIR is required"},
		{[]string{"attest", "revoke"}, "attest revoke takes exactly one ID, got 0"},
		{[]string{"soa", "set", "x"}, `soa set takes no arguments, got ["x"]`},
		{[]string{"apikey", "create"}, "apikey create: --data DIR is required"},
		{[]string{"apikey", "revoke", "k"}, "apikey revoke: --data DIR is required"},
		{[]string{"controls", "checks", "x"}, `controls checks takes no arguments, got ["x"]`},
		{[]string{"init", "x"}, `init takes no arguments, got ["x"]`},
		{[]string{"verify", "--nope"}, "verify: flag provided but not defined: -nope"},
	} {
		_, errs, code := cli(t, c.args...)
		if code != 2 || !strings.Contains(errs, "annexa-collector: "+c.want) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", c.args, code, errs, c.want)
		}
	}
}
