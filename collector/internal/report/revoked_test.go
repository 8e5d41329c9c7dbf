package report

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/annexa/annexa/collector/internal/store"
)

// reenrolled is one host, gpu1, whose first agent was revoked after it
// reported two datasets and a model, and which enrolled again and reported
// the same three assets under its new agent.
func reenrolled() *store.Snapshot {
	assets := func(agent string, seq uint64) []store.Current {
		return []store.Current{
			cur(agent, "gpu1", "dataset", "dataset:/srv/ml/datasets/iris", "datasets", time.Hour, seq, `{"path":"/srv/ml/datasets/iris","mode":"0750","world_readable":false,"name":"iris","names":["iris"]}`),
			cur(agent, "gpu1", "dataset", "dataset:/srv/ml/datasets/public", "datasets", time.Hour, seq+1, `{"path":"/srv/ml/datasets/public","mode":"0755","world_readable":true}`),
			cur(agent, "gpu1", "model", "model:/srv/ml/models/x.safetensors", "models", time.Hour, seq+2, `{"format":"safetensors","datasets":["iris"]}`),
			cur(agent, "gpu1", "host", "host:gpu1", "agent", time.Hour, seq+3, `{"hostname":"gpu1"}`),
		}
	}
	return &store.Snapshot{
		Agents: []store.Agent{
			{ID: "old", Host: "gpu1", EnrolledAt: now.Add(-96 * time.Hour), LastSeenAt: now.Add(-25 * time.Hour), RevokedAt: now.Add(-24 * time.Hour)},
			{ID: "new", Host: "gpu1", EnrolledAt: now.Add(-23 * time.Hour), LastSeenAt: now.Add(-time.Minute)},
		},
		Current: append(assets("old", 1), assets("new", 1)...),
	}
}

// TestRevokedAgentIsHistory: a revoked agent's evidence is history. The
// host that enrolled again is listed once in the inventory, counts and
// lineage, while the revoked agent stays in the host list as revoked.
func TestRevokedAgentIsHistory(t *testing.T) {
	r := Build(reenrolled(), now, Options{})
	if len(r.Hosts) != 2 || r.ActiveHosts() != 1 {
		t.Errorf("hosts = %d (%d active), want the revoked agent listed and 1 active", len(r.Hosts), r.ActiveHosts())
	}
	for _, h := range r.Hosts {
		if (h.AgentID == "old") != (h.RevokedAt != nil) {
			t.Errorf("host %s revoked_at %v", h.AgentID, h.RevokedAt)
		}
	}
	if len(r.Assets) != 3 {
		t.Errorf("assets = %d, want the 3 of the new agent", len(r.Assets))
	}
	for _, a := range r.Assets {
		if a.AgentID != "new" {
			t.Errorf("asset %s of revoked agent %s listed", a.Subject, a.AgentID)
		}
	}
	if r.EvidenceCounts["dataset"] != 2 || r.EvidenceCounts["model"] != 1 || r.EvidenceCounts["host"] != 1 {
		t.Errorf("evidence counts = %v, want each of the new agent's records once", r.EvidenceCounts)
	}
	for _, rec := range r.Records {
		if rec.AgentID == "old" {
			t.Errorf("record %s %s of the revoked agent listed as current", rec.Kind, rec.Subject)
		}
	}
	if g := r.Lineage; g == nil || len(g.Models) != 1 || len(g.Datasets) != 1 || g.Models[0].AgentID != "new" || g.Datasets[0].AgentID != "new" ||
		g.Models[0].Datasets[0].MatchedTotal != 1 {
		t.Errorf("lineage = %+v, want the new agent's model trained on its one iris", g)
	}
	// Verdicts never counted the revoked agent; they still do not.
	for _, c := range r.Controls {
		for _, ch := range c.Checks {
			for _, f := range ch.Failing {
				if f.AgentID == "old" {
					t.Errorf("%s fails on the revoked agent's %s", ch.ID, f.Subject)
				}
			}
		}
	}

	var buf bytes.Buffer
	if err := Write(&buf, "summary", r); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^gpu1\s+revoked 2026-02-28 12:00:00Z\s+0$`).MatchString(buf.String()) {
		t.Errorf("summary does not show the revoked agent as revoked with no assets:\n%s", buf.String())
	}
	for format, want := range map[string]string{
		"oscal":     "judged from the evidence of 1 hosts",
		"cyclonedx": "live on 1 hosts",
	} {
		out := string(writeFormat(t, format, r))
		if !strings.Contains(out, want) {
			t.Errorf("%s does not say %q", format, want)
		}
		if strings.Contains(out, `"agent_id","value":"old"`) || strings.Contains(out, "agent old, seq") {
			t.Errorf("%s still refers to the revoked agent's evidence", format)
		}
	}
	csv := string(writeFormat(t, "csv", r))
	if strings.Contains(csv, ",old,") {
		t.Errorf("csv lists the revoked agent's evidence:\n%s", csv)
	}
}
