package controls

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func agent(id string, seen time.Duration) Agent {
	return Agent{ID: id, Host: id + ".example", LastSeen: now.Add(-seen)}
}

func rec(agentID, kind, subject string, age time.Duration, attrs string) Record {
	return Record{AgentID: agentID, Host: agentID + ".example", Kind: kind, Subject: subject, Plugin: "datasets",
		Seq: 1, ObservedAt: now.Add(-age), Attributes: json.RawMessage(attrs)}
}

func scan(agentID string, age time.Duration) Record {
	return rec(agentID, "scan.complete", "scan:datasets", age, `{"plugin":"datasets","kinds":["dataset"],"roots":["/srv"],"started_at":"2026-03-01T00:00:00Z"}`)
}

func health(agentID, state string) Record {
	return rec(agentID, "plugin.health", "plugin:datasets", time.Minute, `{"plugin":"datasets","state":"`+state+`"}`)
}

func dataset(agentID, path string, worldReadable bool) Record {
	wr := "false"
	if worldReadable {
		wr = "true"
	}
	return rec(agentID, "dataset", "dataset:"+path, time.Hour, `{"path":"`+path+`","mode":"0755","world_readable":`+wr+`}`)
}

func result(t *testing.T, in Input, controlID string) Result {
	t.Helper()
	for _, r := range Evaluate(in) {
		if r.ControlID == controlID {
			return r
		}
	}
	t.Fatalf("no result for %s", controlID)
	return Result{}
}

func TestInventoryFresh59(t *testing.T) {
	revoked := agent("c", time.Minute)
	revoked.Revoked = true
	cases := []struct {
		name    string
		agents  []Agent
		records []Record
		want    Status
		failing int
	}{
		{"no agents", nil, nil, InsufficientEvidence, 0},
		{"only a host not seen for days", []Agent{agent("a", 72*time.Hour)}, []Record{scan("a", 72*time.Hour)}, InsufficientEvidence, 0},
		{"only a revoked host", []Agent{revoked}, []Record{scan("c", time.Hour)}, InsufficientEvidence, 0},
		{"fresh scan, healthy", []Agent{agent("a", time.Minute)}, []Record{scan("a", time.Hour), health("a", "ok")}, Compliant, 0},
		{"fresh scan, no health record", []Agent{agent("a", time.Minute)}, []Record{scan("a", time.Hour)}, Compliant, 0},
		{"stale scan", []Agent{agent("a", time.Minute)}, []Record{scan("a", 30*time.Hour), health("a", "ok")}, Noncompliant, 1},
		{"no scan at all", []Agent{agent("a", time.Minute)}, nil, Noncompliant, 1},
		{"plugin crashed, no scan", []Agent{agent("a", time.Minute)}, []Record{health("a", "crashed")}, InsufficientEvidence, 1},
		{"plugin timed out despite fresh scan", []Agent{agent("a", time.Minute)}, []Record{scan("a", time.Hour), health("a", "timed_out")}, InsufficientEvidence, 1},
		{"one stale, one crashed", []Agent{agent("a", time.Minute), agent("b", time.Minute)},
			[]Record{scan("a", 48*time.Hour), health("b", "crashed")}, Noncompliant, 2},
		{"one good, one degraded", []Agent{agent("a", time.Minute), agent("b", time.Minute)},
			[]Record{scan("a", time.Hour), scan("b", time.Hour), health("b", "degraded")}, InsufficientEvidence, 1},
		{"scan of another plugin does not count", []Agent{agent("a", time.Minute)},
			[]Record{rec("a", "scan.complete", "scan:models", time.Hour, `{"plugin":"models","kinds":["model"],"started_at":"2026-03-01T00:00:00Z"}`)}, Noncompliant, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := result(t, Input{Agents: tc.agents, Records: tc.records, Now: now}, "iso27001-2022/5.9")
			if r.Status != tc.want {
				t.Errorf("status = %s (%s), want %s", r.Status, r.Explanation, tc.want)
			}
			if got := len(r.Checks[0].Failing); got != tc.failing {
				t.Errorf("failing = %d, want %d: %+v", got, tc.failing, r.Checks[0].Failing)
			}
			if r.Explanation == "" {
				t.Error("no explanation")
			}
		})
	}
}

func TestInventoryFailingObserved(t *testing.T) {
	r := result(t, Input{Agents: []Agent{agent("a", time.Minute)}, Records: []Record{health("a", "crashed")}, Now: now}, "iso27001-2022/5.9")
	f := r.Checks[0].Failing[0]
	if f.Subject != "host:a.example" || f.AgentID != "a" || f.Observed["last_scan"] != nil || f.Observed["plugin_state"] != "crashed" {
		t.Errorf("failing subject = %+v", f)
	}
	if len(r.Evidence) != 1 || r.Evidence[0].Kind != "plugin.health" {
		t.Errorf("evidence = %+v", r.Evidence)
	}
}

func TestWorldReadable83(t *testing.T) {
	a := []Agent{agent("a", time.Minute)}
	cases := []struct {
		name      string
		records   []Record
		freshness time.Duration
		want      Status
		failing   int
	}{
		{"no inventory", nil, 0, InsufficientEvidence, 0},
		{"datasets but stale inventory", []Record{scan("a", 48*time.Hour), dataset("a", "/srv/x", false)}, 0, InsufficientEvidence, 0},
		{"world readable but stale inventory still listed", []Record{scan("a", 48*time.Hour), dataset("a", "/srv/x", true)}, 0, InsufficientEvidence, 1},
		{"fresh inventory, nothing found", []Record{scan("a", time.Hour)}, 0, Compliant, 0},
		{"fresh inventory, private datasets", []Record{scan("a", time.Hour), dataset("a", "/srv/x", false), dataset("a", "/srv/y", false)}, 0, Compliant, 0},
		{"fresh inventory, one world readable", []Record{scan("a", time.Hour), dataset("a", "/srv/x", false), dataset("a", "/srv/y", true)}, 0, Noncompliant, 1},
		{"longer freshness makes an old scan count", []Record{scan("a", 48*time.Hour), dataset("a", "/srv/y", true)}, 72 * time.Hour, Noncompliant, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := result(t, Input{Agents: a, Records: tc.records, Now: now, Options: Options{Freshness: tc.freshness}}, "iso27001-2022/8.3")
			if r.Status != tc.want {
				t.Errorf("status = %s (%s), want %s", r.Status, r.Explanation, tc.want)
			}
			if got := len(r.Checks[0].Failing); got != tc.failing {
				t.Fatalf("failing = %d, want %d", got, tc.failing)
			}
			if tc.failing > 0 {
				f := r.Checks[0].Failing[0]
				if f.Observed["world_readable"] != true || f.Observed["mode"] != "0755" || f.Host != "a.example" {
					t.Errorf("failing = %+v", f)
				}
			}
		})
	}
}

func TestScore(t *testing.T) {
	in := Input{Agents: []Agent{agent("a", time.Minute)}, Now: now,
		Records: []Record{scan("a", time.Hour), dataset("a", "/1", true), dataset("a", "/2", false), dataset("a", "/3", false), dataset("a", "/4", false)}}
	r := result(t, in, "iso27001-2022/8.3")
	if r.Score == nil || *r.Score != 0.75 {
		t.Errorf("score = %v, want 0.75", r.Score)
	}
	if r := result(t, Input{Now: now}, "iso27001-2022/5.9"); r.Score != nil {
		t.Errorf("score with nothing applicable = %v, want nil", *r.Score)
	}
}

// TestPassingExplanationCounts: a passing check says how many hosts it
// judged, in words a report can print as they are.
func TestPassingExplanationCounts(t *testing.T) {
	one := result(t, Input{Agents: []Agent{agent("a", time.Minute)}, Records: []Record{scan("a", time.Hour), health("a", "ok")}, Now: now}, "iso27001-2022/5.9")
	two := result(t, Input{Agents: []Agent{agent("a", time.Minute), agent("b", time.Minute)},
		Records: []Record{scan("a", time.Hour), scan("b", time.Hour)}, Now: now}, "iso27001-2022/5.9")
	for _, tc := range []struct {
		r    Result
		want string
	}{{one, "The one reporting host passes within "}, {two, "All 2 reporting hosts pass within "}} {
		if tc.r.Status != Compliant || !strings.HasPrefix(tc.r.Checks[0].Explanation, tc.want) {
			t.Errorf("%s: %q, want it to start %q", tc.r.Status, tc.r.Checks[0].Explanation, tc.want)
		}
	}
}

// TestPassingOnNothingSaysSo: a fresh, healthy scan that found no
// datasets passes the classification check, and the explanation says it
// passed on nothing rather than "All 0 records pass".
func TestPassingOnNothingSaysSo(t *testing.T) {
	r := result(t, Input{Agents: []Agent{agent("a", time.Minute)}, Records: []Record{scan("a", time.Hour), health("a", "ok")}, Now: now}, "iso27001-2022/5.12")
	if r.Status != Compliant || r.Checks[0].Applicable != 0 ||
		!strings.HasPrefix(r.Checks[0].Explanation, "No dataset record within 24h0m0s is one this check applies to, so nothing fails") {
		t.Errorf("%s, %d applicable: %q", r.Status, r.Checks[0].Applicable, r.Checks[0].Explanation)
	}
}
