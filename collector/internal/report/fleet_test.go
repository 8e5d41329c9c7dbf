package report

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/annexa/annexa/collector/internal/controls"
	"github.com/annexa/annexa/collector/internal/store"
	"github.com/annexa/annexa/collector/internal/store/sqlite"
	"github.com/annexa/annexa/evidence"
)

// allKinds are the evidence kinds of DESIGN.md; the export tests run on a
// fleet that has every one of them.
var allKinds = []string{"dataset", "model", "access.event", "access.summary", "encryption.volume",
	"encryption.endpoint", "host", "plugin.health", "scan.complete"}

// readFleetJSONL reads testdata/fleet.jsonl: what the real agent and the
// four built-in plugins printed for a small ML host (make_fleet.sh).
func readFleetJSONL(t testing.TB) []evidence.Record {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "fleet.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []evidence.Record
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r evidence.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("fleet.jsonl: %v", err)
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// realFleet stores a two-host fleet in a real SQLite store and builds the
// report from its snapshot. gpu1 carries the real plugin output (a
// world-readable customer dataset, an unsafe pickle, a brute-force
// attempt, an unencrypted volume, an unreachable endpoint, a dataset named
// <script>); gpu2 carries records written the way docs/evidence.md
// describes them, with personal data, a classification and a crashed
// models plugin. Timestamps are moved so the newest record is a minute
// old: the report is built at the real time, since the store stamps
// last_seen_at with its own clock.
func realFleet(t testing.TB) *Report {
	t.Helper()
	return realFleetWith(t, nil)
}

// realFleetWith is realFleet with the decisions g applies (nil for none).
func realFleetWith(t testing.TB, g *Governance) *Report {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "collector.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.CreateToken(ctx, "tokenhash", time.Now().Add(time.Hour), 2); err != nil {
		t.Fatal(err)
	}
	for _, a := range []store.NewAgent{{ID: "a1", Host: "gpu1", AgentVersion: "0.1.0"}, {ID: "a2", Host: "gpu2", AgentVersion: "0.1.0"}} {
		a.CredentialHash = "cred-" + a.ID
		if err := db.Enroll(ctx, "tokenhash", a); err != nil {
			t.Fatal(err)
		}
	}

	now := time.Now().UTC()
	real := readFleetJSONL(t)
	newest := time.Time{}
	for _, r := range real {
		if r.ObservedAt.After(newest) {
			newest = r.ObservedAt
		}
	}
	// Never backwards: a fixture regenerated a moment ago would move its
	// records before the scans' started_at (an attribute, not shifted),
	// and the store would sweep them as unseen.
	shift := max(now.Add(-time.Minute).Sub(newest), 0)
	gpu1 := []evidence.Record{{Kind: "host", Schema: 1, Subject: "host:gpu1", Op: evidence.OpUpsert, ObservedAt: newest.Add(-time.Second),
		Plugin: "agent", Attributes: json.RawMessage(`{"hostname":"gpu1","os":"linux","arch":"amd64","kernel":"6.12.0","cpus":8,"agent_version":"0.1.0"}`)}}
	gpu1 = append(gpu1, real...)
	for i := range gpu1 {
		gpu1[i].ObservedAt = gpu1[i].ObservedAt.Add(shift)
		gpu1[i].Host = "gpu1"
	}
	at := func(ago time.Duration) time.Time { return now.Add(-ago) }
	gpu2 := []evidence.Record{
		{Kind: "host", Subject: "host:gpu2", Plugin: "agent", ObservedAt: at(3 * time.Minute),
			Attributes: json.RawMessage(`{"hostname":"gpu2","os":"linux","arch":"arm64","kernel":"6.1.0","cpus":64,"agent_version":"0.1.0"}`)},
		{Kind: "dataset", Subject: "dataset:/srv/ml/datasets/patients", Plugin: "datasets", ObservedAt: at(2 * time.Minute),
			Attributes: json.RawMessage(`{"path":"/srv/ml/datasets/patients","size_bytes":73400320,"file_count":12,"formats":{"parquet":12},"owner":"ml","group":"ml","mode":"0750","world_readable":false,"has_datasheet":true,"datasheet":"DATASHEET.md","license":"proprietary","name":"hospital/patients","names":["hospital/patients","patients"],"personal_data":true,"pii":{"email":41,"person_name":40,"date_of_birth":38},"classification":"confidential","sha256":"5b0f3a6c2d1e4f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c","hash_status":"complete","modified_at":"2026-01-05T10:00:00Z"}`)},
		{Kind: "model", Subject: "model:/srv/ml/models/triage.onnx", Plugin: "models", ObservedAt: at(2 * time.Minute),
			Attributes: json.RawMessage(`{"path":"/srv/ml/models/triage.onnx","format":"onnx","size_bytes":4096,"sha256":"0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9","hash_status":"ok","parameters":1200000,"dtypes":["F32"],"architecture":"resnet","license":"apache-2.0","has_model_card":true,"datasets":["https://huggingface.co/datasets/Hospital/Patients@v2"],"unsafe":false,"findings":[],"owner":"ml","mode":"0640"}`)},
		{Kind: "scan.complete", Subject: "scan:datasets", Plugin: "agent", ObservedAt: at(2 * time.Minute),
			Attributes: json.RawMessage(`{"plugin":"datasets","kinds":["dataset"],"roots":["/srv/ml/datasets"],"started_at":"` + at(3*time.Minute).Format(time.RFC3339Nano) + `"}`)},
		{Kind: "plugin.health", Subject: "plugin:datasets", Plugin: "agent", ObservedAt: at(2 * time.Minute),
			Attributes: json.RawMessage(`{"plugin":"datasets","version":"0.1.0","state":"ok","at":"` + at(2*time.Minute).Format(time.RFC3339Nano) + `"}`)},
		{Kind: "plugin.health", Subject: "plugin:models", Plugin: "agent", ObservedAt: at(2 * time.Minute),
			Attributes: json.RawMessage(`{"plugin":"models","version":"0.1.0","state":"crashed","error":"exit status 2","at":"` + at(2*time.Minute).Format(time.RFC3339Nano) + `"}`)},
	}
	for i := range gpu2 {
		gpu2[i].Schema, gpu2[i].Op, gpu2[i].Host = 1, evidence.OpUpsert, "gpu2"
	}
	ok := func(names ...string) []store.PluginStatus {
		var out []store.PluginStatus
		for _, n := range names {
			out = append(out, store.PluginStatus{Name: n, State: "ok"})
		}
		return out
	}
	for _, b := range []struct {
		agent   string
		recs    []evidence.Record
		plugins []store.PluginStatus
	}{
		{"a1", gpu1, ok("datasets", "models", "access", "encryption")},
		{"a2", gpu2, append(ok("datasets"), store.PluginStatus{Name: "models", State: "crashed", Error: "exit status 2"})},
	} {
		for i := range b.recs {
			b.recs[i].Seq = uint64(i + 1)
			if err := b.recs[i].Validate(); err != nil {
				t.Fatalf("%s record %d: %v", b.agent, i, err)
			}
		}
		st := &store.AgentStatus{Host: b.recs[0].Host, Version: "0.1.0", Plugins: b.plugins}
		if _, err := db.Ingest(ctx, &store.Batch{AgentID: b.agent, FirstSeq: 1, LastSeq: uint64(len(b.recs)), Records: b.recs, Status: st}); err != nil {
			t.Fatal(err)
		}
	}
	snap, err := db.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r := Build(snap, time.Now(), Options{CollectorVersion: "0.1.0-test", Governance: g})
	for _, k := range allKinds {
		if r.EvidenceCounts[k] == 0 {
			t.Fatalf("the test fleet lacks evidence kind %s: %v", k, r.EvidenceCounts)
		}
	}
	if !slices.ContainsFunc(r.Controls, func(c controls.Result) bool { return c.Status == controls.Noncompliant }) {
		t.Fatal("the test fleet has no noncompliant control; the exports would not show a failure")
	}
	return r
}
