package report

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/annexa/annexa/collector/internal/controls"
	"github.com/annexa/annexa/collector/internal/store"
	"github.com/annexa/annexa/collector/internal/store/sqlite"
)

func control(t *testing.T, r *Report, id string) controls.Result {
	t.Helper()
	for _, c := range r.Controls {
		if c.ControlID == id {
			return c
		}
	}
	t.Fatalf("no control %s", id)
	return controls.Result{}
}

// TestRecordKeepsSince runs passes over a real store: "since" stays at the
// first pass that saw a status, moves when the status changes, and the
// decisions show in the report with their state.
func TestRecordKeepsSince(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "collector.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	clock := now
	db.SetClock(func() time.Time { return clock })
	const policy = "iso27001-2022/5.1"

	r, err := Record(ctx, db, now, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c := control(t, r, policy); c.Status != controls.Manual || c.Since == nil || !c.Since.Equal(now) {
		t.Fatalf("first pass: %s since %v", c.Status, c.Since)
	}
	r, _ = Record(ctx, db, now.Add(time.Hour), Options{})
	if c := control(t, r, policy); c.Since == nil || !c.Since.Equal(now) {
		t.Fatalf("second pass: since %v, want the first pass", c.Since)
	}

	clock = now.Add(2 * time.Hour)
	a, err := db.AddAttestation(ctx, store.NewAttestation{ControlID: policy, DocumentRef: "ISMS-POL-001", Author: "ciso",
		ExpiresAt: now.Add(30 * 24 * time.Hour), CreatedBy: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.AddException(ctx, store.NewException{CheckID: "datasets.not_world_readable", SubjectPattern: "**", Owner: "o",
		Approver: "p", Reason: "r", ExpiresAt: now.Add(3 * time.Hour), CreatedBy: "alice"}); err != nil {
		t.Fatal(err)
	}
	// Assemble does not record: since is generated_at for a changed status.
	r, _ = Assemble(ctx, db, now.Add(150*time.Minute), Options{})
	if c := control(t, r, policy); c.Status != controls.Compliant || !c.Since.Equal(now.Add(150*time.Minute)) {
		t.Fatalf("assembled: %s since %v", c.Status, c.Since)
	}
	r, _ = Record(ctx, db, now.Add(3*time.Hour), Options{})
	c := control(t, r, policy)
	if c.Status != controls.Compliant || !c.Since.Equal(now.Add(3*time.Hour)) || c.Attestation == nil || c.Attestation.ID != a.ID {
		t.Fatalf("attested: %s since %v %+v", c.Status, c.Since, c.Attestation)
	}
	if len(r.Attestations) != 1 || r.Attestations[0].State != StateActive || len(r.Exceptions) != 1 || r.Exceptions[0].State != StateExpired {
		t.Fatalf("decisions: %+v %+v", r.Attestations, r.Exceptions)
	}
	h, err := db.ControlHistory(ctx, policy)
	if err != nil || len(h) != 2 || h[0].Status != "manual" || h[1].Status != "compliant" {
		t.Fatalf("history = %+v, %v", h, err)
	}
	tr, err := db.EvaluationTrend(ctx, time.Time{}, 0)
	if err != nil || len(tr) != 3 || tr[2].Counts["iso27001-2022"]["compliant"] != 1 {
		t.Fatalf("trend = %+v, %v", tr, err)
	}
}

func TestSummaryShowsExcepted(t *testing.T) {
	g := &Governance{Exceptions: []store.Exception{{ID: "exc_9", CheckID: "datasets.not_world_readable", SubjectPattern: "dataset:/srv/ml/datasets/public",
		Owner: "o", Approver: "a", Reason: "r", ExpiresAt: now.Add(48 * time.Hour)}}}
	var buf strings.Builder
	if err := Write(&buf, "summary", Build(fleet(), now, Options{Governance: g})); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"decisions: 1 active exceptions, 0 active attestations",
		"within 30 days: exception exc_9 (datasets.not_world_readable on dataset:/srv/ml/datasets/public) expires 2026-03-03"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("summary lacks %q", want)
		}
	}
	if want := "excepted: dataset:/srv/ml/datasets/public on gpu1 (datasets.not_world_readable, exc_9 until 2026-03-03)"; !strings.Contains(buf.String(), want) {
		t.Errorf("summary lacks %q:\n%s", want, buf.String())
	}
	if strings.Contains(buf.String(), "fails: dataset:/srv/ml/datasets/public on gpu1 (datasets.not_world_readable)") {
		t.Errorf("an excepted subject is still listed as failing:\n%s", buf.String())
	}
}

// TestDecodeCache: a second Build reuses the decoded attributes of records
// whose seq did not change, and never serves stale ones for a record that
// changed.
func TestDecodeCache(t *testing.T) {
	cache := new(DecodeCache)
	snap := fleet()
	first := Build(snap, now, Options{Cache: cache})
	if cache.Len() == 0 {
		t.Fatal("nothing cached")
	}
	if control(t, first, "iso27001-2022/8.3").Status != controls.Noncompliant {
		t.Fatal("8.3 should fail on the public dataset")
	}
	// The public dataset is fixed: new content, new seq.
	for i := range snap.Current {
		if snap.Current[i].Subject == "dataset:/srv/ml/datasets/public" {
			snap.Current[i].Seq = 99
			snap.Current[i].Attributes = []byte(`{"path":"/srv/ml/datasets/public","mode":"0750","world_readable":false}`)
		}
	}
	second := Build(snap, now, Options{Cache: cache})
	if c := control(t, second, "iso27001-2022/8.3"); len(c.Checks[0].FailingSubjects) != 0 {
		t.Fatalf("stale attributes served from the cache: %+v", c.Checks[0].FailingSubjects)
	}
	// Unchanged content with the same seq but different bytes would be a
	// store bug; the cache trusts seq, so it shows the decoded old value.
	for i := range snap.Current {
		if snap.Current[i].Subject == "dataset:/srv/ml/datasets/iris" {
			snap.Current[i].Attributes = []byte(`{"path":"/srv/ml/datasets/iris","mode":"0755","world_readable":true}`)
		}
	}
	if c := control(t, Build(snap, now, Options{Cache: cache}), "iso27001-2022/8.3"); len(c.Checks[0].FailingSubjects) != 0 {
		t.Fatalf("the cache was not used for an unchanged seq: %+v", c.Checks[0].FailingSubjects)
	}
}
