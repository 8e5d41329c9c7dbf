package sqlite

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/annexa/annexa/collector/internal/store"
)

func newException(expires time.Time) store.NewException {
	return store.NewException{CheckID: "datasets.not_world_readable", SubjectPattern: "dataset:/srv/ml/scratch/**",
		Owner: "ml-platform", Approver: "ciso", Reason: "scratch data is synthetic", ExpiresAt: expires, CreatedBy: "alice"}
}

func TestExceptionLifecycle(t *testing.T) {
	db := openTest(t)
	db.SetClock(func() time.Time { return t0 })
	ctx := context.Background()
	e, err := db.AddException(ctx, newException(t0.AddDate(0, 6, 0)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(e.ID, "exc_") || !e.CreatedAt.Equal(t0) || e.CreatedBy != "alice" {
		t.Fatalf("added %+v", e)
	}
	list, err := db.Exceptions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != e.ID || list[0].SubjectPattern != "dataset:/srv/ml/scratch/**" || !list[0].ExpiresAt.Equal(t0.AddDate(0, 6, 0)) {
		t.Fatalf("list = %+v", list)
	}
	if !list[0].Active(t0) || list[0].Active(t0.AddDate(0, 6, 0)) {
		t.Error("an exception must be active before its expiry and not at it")
	}
	if !list[0].Matches("dataset:/srv/ml/scratch/a/b", "gpu-1") || list[0].Matches("dataset:/srv/ml/prod/a", "gpu-1") {
		t.Error("pattern matching is wrong")
	}

	db.SetClock(func() time.Time { return t0.Add(time.Hour) })
	r, err := db.RevokeException(ctx, e.ID, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if r.RevokedBy != "bob" || !r.RevokedAt.Equal(t0.Add(time.Hour)) || r.Active(t0.Add(2*time.Hour)) {
		t.Fatalf("revoked %+v", r)
	}
	_, err = db.RevokeException(ctx, e.ID, "bob")
	if store.ErrorCode(err) != store.ECONFLICT {
		t.Fatalf("second revoke: %v", err)
	}
	_, err = db.RevokeException(ctx, "exc_nope", "bob")
	if store.ErrorCode(err) != store.ENOTFOUND {
		t.Fatalf("unknown revoke: %v", err)
	}
	list, _ = db.Exceptions(ctx)
	if list[0].RevokedBy != "bob" {
		t.Fatalf("revocation not stored: %+v", list[0])
	}

	log, err := db.GovernanceLog(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != 2 || log[0].Action != store.ActionExceptionAdd || log[0].Actor != "alice" || log[1].Action != store.ActionExceptionRevoke ||
		log[1].Actor != "bob" || log[1].Ref != e.ID {
		t.Fatalf("log = %+v", log)
	}
	var logged store.Exception
	if err := json.Unmarshal(log[0].Detail, &logged); err != nil || logged.Reason != "scratch data is synthetic" {
		t.Fatalf("logged detail %s: %v", log[0].Detail, err)
	}
	if n, err := db.Verify(ctx); err != nil || n != 2 {
		t.Fatalf("verify = %d, %v", n, err)
	}
}

func TestExceptionValidation(t *testing.T) {
	db := openTest(t)
	db.SetClock(func() time.Time { return t0 })
	ctx := context.Background()
	cases := []struct {
		name  string
		edit  func(*store.NewException)
		field string
		msg   string
	}{
		{"no expiry", func(n *store.NewException) { n.ExpiresAt = time.Time{} }, "expires_at", "expires_at is required (at most 12 months ahead)"},
		{"past expiry", func(n *store.NewException) { n.ExpiresAt = t0.Add(-time.Second) }, "expires_at", "expires_at 2026-03-01T11:59:59Z is not in the future"},
		{"over a year", func(n *store.NewException) { n.ExpiresAt = t0.AddDate(1, 0, 1) }, "expires_at",
			"expires_at 2027-03-02T12:00:00Z is more than 12 months ahead; the latest allowed is 2027-03-01T12:00:00Z"},
		{"no owner", func(n *store.NewException) { n.Owner = " " }, "owner", "owner is required"},
		{"no approver", func(n *store.NewException) { n.Approver = "" }, "approver", "approver is required"},
		{"no reason", func(n *store.NewException) { n.Reason = "" }, "reason", "reason is required"},
		{"no check", func(n *store.NewException) { n.CheckID = "" }, "check_id", "check_id is required"},
		{"bad glob", func(n *store.NewException) { n.SubjectPattern = "dataset:[abc" }, "subject_pattern", `subject_pattern "dataset:[abc" is not a valid glob (check brackets and braces)`},
		{"bad host glob", func(n *store.NewException) { n.HostPattern = "gpu-{1" }, "host_pattern", `host_pattern "gpu-{1" is not a valid glob`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := newException(t0.AddDate(0, 1, 0))
			c.edit(&n)
			_, err := db.AddException(ctx, n)
			var se *store.Error
			if !errors.As(err, &se) || se.Code != store.EINVALID || se.Field != c.field || se.Message != c.msg {
				t.Fatalf("err = %#v, want field %s message %q", err, c.field, c.msg)
			}
		})
	}
	// Exactly twelve months is allowed.
	if _, err := db.AddException(ctx, newException(t0.AddDate(1, 0, 0))); err != nil {
		t.Fatalf("12 months: %v", err)
	}
	if list, _ := db.Exceptions(ctx); len(list) != 1 {
		t.Fatalf("refused exceptions were stored: %d", len(list))
	}
}

func TestAttestationsAndSoA(t *testing.T) {
	db := openTest(t)
	db.SetClock(func() time.Time { return t0 })
	ctx := context.Background()
	_, err := db.AddAttestation(ctx, store.NewAttestation{ControlID: "5.1", DocumentRef: "doc", Author: "a", ExpiresAt: t0.AddDate(0, 1, 0), CreatedBy: "a"})
	if se := (*store.Error)(nil); !errors.As(err, &se) || se.Field != "control_id" {
		t.Fatalf("un-namespaced control: %v", err)
	}
	a, err := db.AddAttestation(ctx, store.NewAttestation{ControlID: "iso27001-2022/5.1", DocumentRef: "https://wiki/policies/infosec-v3.pdf",
		Author: "ciso", Note: "approved by the board", ExpiresAt: t0.AddDate(0, 11, 0), CreatedBy: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	list, err := db.Attestations(ctx)
	if err != nil || len(list) != 1 || list[0].DocumentRef != "https://wiki/policies/infosec-v3.pdf" || list[0].Note != "approved by the board" {
		t.Fatalf("list = %+v, %v", list, err)
	}
	if _, err := db.RevokeAttestation(ctx, a.ID, "bob"); err != nil {
		t.Fatal(err)
	}
	if list, _ = db.Attestations(ctx); list[0].Active(t0) {
		t.Fatal("revoked attestation still active")
	}

	_, err = db.SetSoA(ctx, store.SoAEntry{ControlID: "iso27001-2022/7.5", Applicable: false, Author: "ciso"})
	if se := (*store.Error)(nil); !errors.As(err, &se) || se.Field != "justification" ||
		se.Message != "a control marked not applicable needs a justification (why it does not apply)" {
		t.Fatalf("no justification: %v", err)
	}
	if _, err := db.SetSoA(ctx, store.SoAEntry{ControlID: "iso27001-2022/7.5", Justification: "no premises of our own", Author: "ciso"}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SetSoA(ctx, store.SoAEntry{ControlID: "iso27001-2022/7.6", Justification: "cloud only", Author: "ciso"}); err != nil {
		t.Fatal(err)
	}
	// Back to applicable: the current entry changes, the log keeps both.
	if _, err := db.SetSoA(ctx, store.SoAEntry{ControlID: "iso27001-2022/7.5", Applicable: true, Author: "dpo"}); err != nil {
		t.Fatal(err)
	}
	soa, err := db.SoA(ctx)
	if err != nil || len(soa) != 2 || !soa[0].Applicable || soa[0].Author != "dpo" || soa[1].Applicable || soa[1].Justification != "cloud only" {
		t.Fatalf("soa = %+v, %v", soa, err)
	}
	log, _ := db.GovernanceLog(ctx, 2, 0)
	if len(log) != 3 || log[0].Action != store.ActionSoASet || log[0].Ref != "iso27001-2022/7.5" {
		t.Fatalf("log after 2 = %+v", log)
	}
	if log, _ := db.GovernanceLog(ctx, 0, 1); len(log) != 1 || log[0].Action != store.ActionAttestationAdd {
		t.Fatalf("limit 1 = %+v", log)
	}
}

func TestGovernanceLogTamperingIsFound(t *testing.T) {
	path := filepath.Join(t.TempDir(), "collector.db")
	ctx := context.Background()
	db, err := Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.SetClock(func() time.Time { return t0 })
	for i := 0; i < 3; i++ {
		if _, err := db.AddException(ctx, newException(t0.AddDate(0, 1, 0))); err != nil {
			t.Fatal(err)
		}
	}
	// The triggers refuse edits through SQL...
	if _, err := db.write.Exec(`UPDATE governance_log SET actor = 'mallory' WHERE id = 2`); err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Fatalf("update allowed: %v", err)
	}
	// ...and someone who drops them is still caught by the hash chain.
	if _, err := db.write.Exec(`DROP TRIGGER governance_log_no_update`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.write.Exec(`UPDATE governance_log SET actor = 'mallory' WHERE id = 2`); err != nil {
		t.Fatal(err)
	}
	_, err = db.Verify(ctx)
	var ce *store.ChainError
	if !errors.As(err, &ce) || ce.Log != "governance_log" || ce.RowID != 2 ||
		err.Error() != "governance_log row 2: content does not match its hash: the entry was changed after it was written" {
		t.Fatalf("verify = %v", err)
	}
	db.Close()
}

func TestEvaluationsKeepChangesOnly(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	pass := func(at time.Time, st map[string]string) {
		t.Helper()
		if _, err := db.RecordEvaluation(ctx, store.Evaluation{At: at, CatalogVersion: "sha256:x", Statuses: st,
			Counts: map[string]map[string]int{"iso27001-2022": {"compliant": len(st)}}}); err != nil {
			t.Fatal(err)
		}
	}
	pass(t0, map[string]string{"a/1": "compliant", "a/2": "noncompliant"})
	pass(t0.Add(time.Hour), map[string]string{"a/1": "compliant", "a/2": "compliant"})
	pass(t0.Add(2*time.Hour), map[string]string{"a/1": "compliant", "a/2": "compliant"})
	cur, err := db.CurrentStatuses(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cur["a/1"].Status != "compliant" || !cur["a/1"].Since.Equal(t0) || cur["a/2"].Status != "compliant" || !cur["a/2"].Since.Equal(t0.Add(time.Hour)) {
		t.Fatalf("current = %+v", cur)
	}
	if n := count(t, db, `SELECT count(*) FROM status_changes`); n != 3 {
		t.Fatalf("status_changes rows = %d, want 3 (two first sightings and one change)", n)
	}
	h, err := db.ControlHistory(ctx, "a/2")
	if err != nil || len(h) != 2 || h[0].Status != "noncompliant" || h[1].Status != "compliant" {
		t.Fatalf("history = %+v, %v", h, err)
	}
	tr, err := db.EvaluationTrend(ctx, t0.Add(time.Minute), 0)
	if err != nil || len(tr) != 2 || !tr[0].At.Equal(t0.Add(time.Hour)) || tr[1].Counts["iso27001-2022"]["compliant"] != 2 {
		t.Fatalf("trend = %+v, %v", tr, err)
	}
	if tr, _ := db.EvaluationTrend(ctx, t0, 1); len(tr) != 1 || !tr[0].At.Equal(t0.Add(2*time.Hour)) {
		t.Fatalf("trend limit 1 = %+v (want the newest)", tr)
	}
}
