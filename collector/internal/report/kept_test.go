package report

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/annexa/annexa/collector/internal/controls"
	"github.com/annexa/annexa/collector/internal/store"
	"github.com/annexa/annexa/collector/internal/store/sqlite"
	"github.com/annexa/annexa/evidence"
)

// TestKeptFollowsStore: a Kept evaluation that reads only the store's
// changes gives, after each change, the same report as one assembled from
// scratch: batches of the real plugins' evidence, a changed and a deleted
// subject, a full scan retiring subjects, an exception, a revocation, and
// hosts going silent as the clock moves.
func TestKeptFollowsStore(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "collector.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	clock := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	db.SetClock(func() time.Time { return clock })
	if err := db.CreateToken(ctx, "tokenhash", clock.Add(time.Hour), 2); err != nil {
		t.Fatal(err)
	}
	for _, a := range []store.NewAgent{{ID: "a1", Host: "gpu1"}, {ID: "a2", Host: "gpu2"}} {
		a.CredentialHash = "cred-" + a.ID
		if err := db.Enroll(ctx, "tokenhash", a); err != nil {
			t.Fatal(err)
		}
	}
	kept := NewKept(db, Options{}, 0)
	if _, err := kept.Full(ctx, clock); err != nil {
		t.Fatal(err)
	}
	same := func(step string) {
		t.Helper()
		got, _, err := kept.Report(ctx, clock)
		if err != nil {
			t.Fatal(err)
		}
		want, err := Assemble(ctx, db, clock, Options{})
		if err != nil {
			t.Fatal(err)
		}
		var g, w bytes.Buffer
		if err := Write(&g, "json", got); err != nil {
			t.Fatal(err)
		}
		if err := Write(&w, "json", want); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(g.Bytes(), w.Bytes()) {
			t.Fatalf("%s: the kept report differs from a full one:\nkept %s\nfull %s", step, firstDiff(g.String(), w.String()), firstDiff(w.String(), g.String()))
		}
	}
	same("empty")

	real := readFleetJSONL(t)
	newest := time.Time{}
	for _, r := range real {
		if r.ObservedAt.After(newest) {
			newest = r.ObservedAt
		}
	}
	seq := uint64(0)
	send := func(agent string, recs ...evidence.Record) {
		t.Helper()
		for i := range recs {
			seq++
			recs[i].Seq = seq
			recs[i].Schema = 1
			if recs[i].Host == "" {
				recs[i].Host = map[string]string{"a1": "gpu1", "a2": "gpu2"}[agent]
			}
		}
		if _, err := db.Ingest(ctx, &store.Batch{AgentID: agent, FirstSeq: recs[0].Seq, LastSeq: seq, Records: recs}); err != nil {
			t.Fatal(err)
		}
	}
	shift := clock.Add(-time.Minute).Sub(newest)
	for i := range real {
		real[i].ObservedAt = real[i].ObservedAt.Add(shift)
		if real[i].Kind == "scan.complete" {
			var a map[string]any
			json.Unmarshal(real[i].Attributes, &a)
			started, _ := time.Parse(time.RFC3339Nano, a["started_at"].(string))
			a["started_at"] = started.Add(shift).Format(time.RFC3339Nano)
			real[i].Attributes, _ = json.Marshal(a)
		}
	}
	send("a1", real...)
	if snap, _ := db.Snapshot(ctx); len(snap.Current) < len(real)/2 {
		t.Fatalf("only %d of %d records live after the first batch", len(snap.Current), len(real))
	}
	same("the real plugins' evidence")

	var dataset, model evidence.Record
	for _, r := range real {
		switch {
		case r.Kind == "dataset" && dataset.Subject == "":
			dataset = r
		case r.Kind == "model" && model.Subject == "":
			model = r
		}
	}
	var attrs map[string]any
	json.Unmarshal(dataset.Attributes, &attrs)
	attrs["world_readable"], attrs["mode"] = true, "0755"
	dataset.Attributes, _ = json.Marshal(attrs)
	dataset.ObservedAt = clock
	model.Op, model.ObservedAt, model.Attributes = evidence.OpDelete, clock, json.RawMessage(`{}`)
	send("a1", dataset, model)
	same("a dataset opened to everyone, a model deleted")

	send("a2", evidence.Record{Kind: "host", Subject: "host:gpu2", Plugin: "agent", Op: evidence.OpUpsert, ObservedAt: clock,
		Attributes: json.RawMessage(`{"hostname":"gpu2","os":"linux","arch":"arm64","kernel":"6.1.0"}`)},
		evidence.Record{Kind: "plugin.health", Subject: "plugin:datasets", Plugin: "agent", Op: evidence.OpEvent, ObservedAt: clock,
			Attributes: json.RawMessage(`{"plugin":"datasets","state":"crashed","error":"exit status 2"}`)})
	same("a second host with a crashed plugin")

	// A full scan on gpu1 that saw only the changed dataset retires the rest.
	clock = clock.Add(time.Minute)
	dataset.ObservedAt = clock
	send("a1", dataset, evidence.Record{Kind: "scan.complete", Subject: "scan:datasets", Plugin: "agent", Op: evidence.OpUpsert, ObservedAt: clock,
		Attributes: json.RawMessage(`{"plugin":"datasets","kinds":["dataset"],"roots":["/"],"started_at":"` + clock.Add(-time.Second).Format(time.RFC3339Nano) + `"}`)})
	same("a full scan retiring datasets")

	if _, err := db.AddException(ctx, store.NewException{CheckID: "datasets.not_world_readable", SubjectPattern: "dataset:/**", Owner: "ml",
		Approver: "ciso", Reason: "test", ExpiresAt: clock.Add(2 * time.Hour), CreatedBy: "test"}); err != nil {
		t.Fatal(err)
	}
	same("an exception")
	clock = clock.Add(3 * time.Hour)
	same("the exception expired")

	if err := db.Revoke(ctx, "a2"); err != nil {
		t.Fatal(err)
	}
	same("a host revoked")
	clock = clock.Add(25 * time.Hour)
	same("every host silent")
	if _, v := kept.Verdicts(); len(v) == 0 {
		t.Fatal("no verdicts kept")
	}
}

// firstDiff shows a's text around its first difference from b.
func firstDiff(a, b string) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	return a[max(0, i-300):min(len(a), i+200)]
}

// TestKeptFullPassReportsDrift: a write the change feed misses (here made
// by hand, without stamping change_seq) leaves the kept evaluation
// behind the store; the next full pass finds the difference, reports it,
// and keeps its own verdicts.
func TestKeptFullPassReportsDrift(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "collector.db")
	db, err := sqlite.Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	clock := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	db.SetClock(func() time.Time { return clock })
	if err := db.CreateToken(ctx, "tokenhash", clock.Add(time.Hour), 1); err != nil {
		t.Fatal(err)
	}
	if err := db.Enroll(ctx, "tokenhash", store.NewAgent{ID: "a1", Host: "gpu1", CredentialHash: "c"}); err != nil {
		t.Fatal(err)
	}
	recs := []evidence.Record{
		{Seq: 1, Kind: "dataset", Subject: "dataset:/srv/ml/d", Plugin: "datasets", Op: evidence.OpUpsert, ObservedAt: clock, Host: "gpu1",
			Attributes: json.RawMessage(`{"path":"/srv/ml/d","mode":"0750","world_readable":false}`)},
		{Seq: 2, Kind: "scan.complete", Subject: "scan:datasets", Plugin: "agent", Op: evidence.OpUpsert, ObservedAt: clock, Host: "gpu1",
			Attributes: json.RawMessage(`{"plugin":"datasets","kinds":["dataset"],"roots":["/srv/ml"],"started_at":"2026-03-01T11:59:00Z"}`)},
	}
	if _, err := db.Ingest(ctx, &store.Batch{AgentID: "a1", FirstSeq: 1, LastSeq: 2, Records: recs}); err != nil {
		t.Fatal(err)
	}
	kept := NewKept(db, Options{}, 0)
	if drift, err := kept.Full(ctx, clock); err != nil || len(drift) != 0 {
		t.Fatalf("first pass: drift %v, %v", drift, err)
	}
	if drift, err := kept.Full(ctx, clock); err != nil || len(drift) != 0 {
		t.Fatalf("nothing changed, yet drift %v, %v", drift, err)
	}
	raw, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`UPDATE current SET attributes = '{"path":"/srv/ml/d","mode":"0755","world_readable":true}', seq = 3 WHERE kind = 'dataset'`); err != nil {
		t.Fatal(err)
	}
	drift, err := kept.Full(ctx, clock)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(drift, func(d string) bool {
		return strings.HasPrefix(d, "iso27001-2022/8.3: kept compliant, full pass noncompliant")
	}) {
		t.Errorf("drift = %q, want 8.3 found noncompliant by the full pass", drift)
	}
	if _, v := kept.Verdicts(); v[slices.IndexFunc(v, func(v controls.Verdict) bool { return v.ControlID == "iso27001-2022/8.3" })].Status != controls.Noncompliant {
		t.Error("the full pass's verdict was not kept")
	}
}
