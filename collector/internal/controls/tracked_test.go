package controls

import "testing"

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
