package controls

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

// TestStaticCostBound: expressions over one record with a bounded worst
// case run without cost tracking; comprehensions and host or fleet
// expressions keep the runtime limit.
func TestStaticCostBound(t *testing.T) {
	env, err := newEnv(ScopeSubject)
	if err != nil {
		t.Fatal(err)
	}
	for expr, tracked := range map[string]bool{
		`!attrs.world_readable`:                          false,
		`attrs.license != ""`:                            false,
		`host.encrypted_roots.exists(r, r == "/")`:       true,
		`attrs.xs.all(a, attrs.xs.all(b, a + b >= 0.0))`: true,
	} {
		ast, iss := env.Compile(expr)
		if iss.Err() != nil {
			t.Fatal(iss.Err())
		}
		untracked := false
		if readsOnlyRecord(ast) {
			if est, err := env.EstimateCost(ast, recordBound{}); err == nil && est.Max <= CostLimit {
				untracked = true
			}
		}
		if untracked == tracked {
			t.Errorf("%s: tracked = %t, want %t", expr, !untracked, tracked)
		}
	}
}

// TestFleetCostBound: a fleet expression runs without cost tracking only
// while the static estimate for the fleet at hand stays within the limit;
// on a fleet too large for that, the limit still stops it with an error.
func TestFleetCostBound(t *testing.T) {
	e, err := Load(fstest.MapFS{"fleet.yaml": {Data: []byte(`
checks:
  - id: pairs
    title: Every pair of hosts differs by name
    kind: host
    scope: fleet
    assert: fleet.hosts.all(a, fleet.hosts.all(b, a.name != b.name || a.agent_id == b.agent_id))
    severity: low
    controls: [iso27001-2022/8.6]
`)}}, WithCostLimit(50_000))
	if err != nil {
		t.Fatal(err)
	}
	var c *check
	for _, x := range e.checks {
		if x.ID == "pairs" {
			c = x
		}
	}
	if c.fast == nil || !c.fast.fits(c.fast.assert, 20) || c.fast.fits(c.fast.assert, 1000) {
		t.Fatalf("the quadratic expression should fit a 20-host fleet and not a 1,000-host one")
	}
	fleet := func(n int) Input {
		in := Input{Now: now}
		for i := range n {
			in.Agents = append(in.Agents, agent(fmt.Sprintf("h%03d", i), time.Minute))
		}
		return in
	}
	if r := checkResult(t, e, "pairs", fleet(20)); r.Status != Compliant {
		t.Errorf("20 hosts: %s %v", r.Status, r.Errors)
	}
	if r := checkResult(t, e, "pairs", fleet(400)); r.Status != InsufficientEvidence || len(r.Errors) != 1 || !strings.Contains(r.Errors[0], "cost limit exceeded") {
		t.Errorf("400 hosts: status %s, errors %v; want the cost limit", r.Status, r.Errors)
	}
	d := Default()
	f := d.checks[slices.IndexFunc(d.checks, func(c *check) bool { return c.ID == "agents.reporting" })].fast
	if !f.fits(f.assert, 100_000) || !f.fits(f.observe[0], 10_000) {
		t.Error("agents.reporting should run untracked on a fleet of 10,000 hosts, and its assert on 100,000")
	}
}
