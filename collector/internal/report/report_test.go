package report

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/annexa/annexa/collector/internal/store"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func cur(agent, host, kind, subject, plugin string, age time.Duration, seq uint64, attrs string) store.Current {
	return store.Current{AgentID: agent, Host: host, Kind: kind, Subject: subject, Plugin: plugin, Op: "upsert",
		ObservedAt: now.Add(-age), Attributes: json.RawMessage(attrs), Seq: seq, UpdatedAt: now.Add(-age)}
}

// fleet is two reporting hosts (one with a world-readable dataset, one whose
// plugin crashed) and a revoked one with a dataset of its own.
func fleet() *store.Snapshot {
	sent := now.Add(-time.Minute)
	return &store.Snapshot{
		Agents: []store.Agent{
			{ID: "a1", Host: "gpu1", AgentVersion: "0.1.0", EnrolledAt: now.Add(-72 * time.Hour), LastSeenAt: now.Add(-time.Minute), AckedThrough: 42,
				Status: &store.AgentStatus{Host: "gpu1", Version: "0.1.0", SpoolRecords: 2, SpoolBytes: 512, OldestUnsentSeconds: 3,
					Plugins: []store.PluginStatus{{Name: "datasets", State: "ok"}}, SentAt: &sent}},
			{ID: "a2", Host: "gpu2", AgentVersion: "0.1.0", EnrolledAt: now.Add(-48 * time.Hour), LastSeenAt: now.Add(-2 * time.Minute), AckedThrough: 7,
				Status: &store.AgentStatus{Host: "gpu2", Version: "0.1.0", Plugins: []store.PluginStatus{{Name: "datasets", State: "crashed", Error: "exit status 2"}}}},
			{ID: "a3", Host: "old", EnrolledAt: now.Add(-96 * time.Hour), RevokedAt: now.Add(-24 * time.Hour)},
		},
		Current: []store.Current{
			cur("a1", "gpu1", "dataset", "dataset:/srv/ml/datasets/iris", "datasets", time.Hour, 10, `{"path":"/srv/ml/datasets/iris","mode":"0750","world_readable":false,"name":"iris","names":["iris"]}`),
			cur("a1", "gpu1", "dataset", "dataset:/srv/ml/datasets/public", "datasets", time.Hour, 11, `{"path":"/srv/ml/datasets/public","mode":"0755","world_readable":true}`),
			cur("a1", "gpu1", "host", "host:gpu1", "agent", 2*time.Hour, 1, `{"hostname":"gpu1"}`),
			cur("a1", "gpu1", "model", "model:/srv/ml/models/x.safetensors", "models", time.Hour, 12, `{"format":"safetensors","datasets":["Iris","org/elsewhere"]}`),
			cur("a1", "gpu1", "plugin.health", "plugin:datasets", "datasets", time.Hour, 13, `{"plugin":"datasets","state":"ok"}`),
			cur("a1", "gpu1", "scan.complete", "scan:datasets", "datasets", time.Hour, 14, `{"plugin":"datasets","kinds":["dataset"],"roots":["/srv/ml/datasets"],"started_at":"2026-03-01T10:59:00Z"}`),
			cur("a2", "gpu2", "plugin.health", "plugin:datasets", "datasets", 5*time.Minute, 7, `{"plugin":"datasets","state":"crashed","error":"exit status 2"}`),
			// The revoked agent's last state is history: in no export.
			cur("a3", "old", "dataset", "dataset:/srv/old/leaked", "datasets", 25*time.Hour, 3, `{"path":"/srv/old/leaked","mode":"0777","world_readable":true}`),
		},
	}
}

func TestGolden(t *testing.T) {
	cases := map[string]*store.Snapshot{"empty": {}, "fleet": fleet()}
	for name, snap := range cases {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := Write(&buf, "json", Build(snap, now, Options{})); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", name+".golden.json")
			if *update {
				if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				t.Errorf("report differs from %s (run go test -update after checking the change):\n%s", path, buf.String())
			}
		})
	}
}

func TestFleetVerdicts(t *testing.T) {
	r := Build(fleet(), now, Options{})
	got := map[string]string{}
	for _, c := range r.Controls {
		got[c.ControlID] = string(c.Status)
	}
	// gpu2's crashed plugin makes 5.9 insufficient; gpu1's public dataset
	// makes 8.3 noncompliant.
	if got["iso27001-2022/5.9"] != "insufficient_evidence" || got["iso27001-2022/8.3"] != "noncompliant" {
		t.Errorf("verdicts = %v", got)
	}
	s := r.Summary
	if s.Total != 131 || s.Automated < 30 || s.Manual != s.Total-s.Automated ||
		s.Compliant+s.Noncompliant+s.InsufficientEvidence != s.Automated || s.Coverage != float64(s.Automated)/131 {
		t.Errorf("summary = %+v", s)
	}
	if len(r.Frameworks) != 2 || r.Frameworks[0].ID != "iso27001-2022" || r.Frameworks[0].ControlsTotal != 93 ||
		r.Frameworks[1].ID != "iso42001-2023" || r.Frameworks[1].ControlsTotal != 38 ||
		r.Frameworks[0].Automated+r.Frameworks[1].Automated != s.Automated {
		t.Errorf("frameworks = %+v", r.Frameworks)
	}
	if len(r.Controls) != 131 || r.CatalogVersion == "" {
		t.Errorf("%d controls, catalog version %q", len(r.Controls), r.CatalogVersion)
	}
	if len(r.Assets) != 3 || r.EvidenceCounts["dataset"] != 2 {
		t.Errorf("assets = %d, counts = %v", len(r.Assets), r.EvidenceCounts)
	}
}

// The error lists what is supported, so a typo is fixed without the docs.
func TestUnknownFormat(t *testing.T) {
	err := Write(&bytes.Buffer{}, "docx", Build(&store.Snapshot{}, now, Options{}))
	if err == nil || !strings.Contains(err.Error(), "format docx is not supported yet; supported: "+strings.Join(Formats(), ", ")) {
		t.Errorf("err = %v", err)
	}
	for _, f := range []string{"json", "summary", "oscal"} {
		if !slices.Contains(Formats(), f) {
			t.Errorf("format %s is not registered: %v", f, Formats())
		}
	}
}

func TestSummaryFormat(t *testing.T) {
	var buf bytes.Buffer
	if err := Write(&buf, "summary", Build(fleet(), now, Options{})); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"controls: 0 compliant, 8 noncompliant, 29 insufficient evidence, 94 manual, 0 not applicable (of 131; 37 automated, 28% coverage)",
		"iso27001-2022: 0 compliant, 4 noncompliant, 19 insufficient evidence, 70 manual (23 of 93 automated)",
		"94 controls have no automated check yet and need an attestation",
		"statement of applicability incomplete: 131 of 131 included controls give no reason for inclusion (0 recorded as applicable without one, 131 with no entry)",
		"iso27001-2022/8.3", "noncompliant",
		"fails: dataset:/srv/ml/datasets/public on gpu1",
		"iso27001-2022/5.9", "insufficient_evidence",
		"gpu1", "gpu2",
		"lineage: 1 models name their training datasets (0 trained on personal data), 0 name none",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
}

func TestFormatInfo(t *testing.T) {
	for _, f := range Formats() {
		fi, ok := Info(f)
		if !ok || fi.Name != f || fi.MediaType == "application/octet-stream" || fi.FileName == "" || fi.Title == f {
			t.Errorf("format %s has no description: %+v", f, fi)
		}
	}
	if _, ok := Info("docx"); ok {
		t.Error("an unknown format has an Info")
	}
}
