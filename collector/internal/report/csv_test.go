package report

import (
	"bytes"
	"encoding/csv"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/annexa/annexa/collector/internal/store"
)

func readCSV(t *testing.T, b []byte) (map[string]map[string]string, [][]string) {
	t.Helper()
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatalf("the export is not CSV: %v", err)
	}
	if !slices.Equal(rows[0], SoAColumns) {
		t.Fatalf("header = %v", rows[0])
	}
	byID := map[string]map[string]string{}
	for _, row := range rows[1:] {
		m := map[string]string{}
		for i, col := range SoAColumns {
			m[col] = row[i]
		}
		byID[m["control_id"]] = m
	}
	return byID, rows
}

func TestCSVStatementOfApplicability(t *testing.T) {
	r := realFleet(t)
	byID, rows := readCSV(t, writeFormat(t, "csv", r))
	if len(rows) != 1+len(r.Controls) || len(r.Controls) != 131 {
		t.Fatalf("%d rows for %d controls", len(rows), len(r.Controls))
	}
	at := r.GeneratedAt.Format("2006-01-02T15:04:05")
	for _, c := range r.Controls {
		row := byID[c.ControlID]
		if row == nil {
			t.Errorf("no row for %s", c.ControlID)
			continue
		}
		if row["status"] != string(c.Status) || row["title"] != c.Title || row["framework"] != c.Framework ||
			row["applicable"] != "yes" || !strings.HasPrefix(row["evaluated_at"], at) {
			t.Errorf("row %v does not match control %s (%s)", row, c.ControlID, c.Status)
		}
	}
	// 8.3 fails on the world-readable customers dataset of gpu1; the cell
	// names the check, the subject and the host.
	s := byID["iso27001-2022/8.3"]["evidence_summary"]
	if byID["iso27001-2022/8.3"]["status"] != "noncompliant" || !strings.Contains(s, "datasets.not_world_readable: noncompliant") ||
		!strings.Contains(s, "dataset:/fleet/srv/ml/datasets/customers on gpu1") || !strings.Contains(s, "evidence records, the newest observed") {
		t.Errorf("8.3 evidence summary = %q", s)
	}
	// A manual control says it needs an attestation.
	for id, row := range byID {
		if row["status"] == "manual" && (row["automated"] != "false" || !strings.Contains(row["evidence_summary"], "attestation")) {
			t.Errorf("%s: %v", id, row)
		}
	}
}

// A catalog title (users may add their own catalogs) or an evidence name
// that starts like a formula stays text in a spreadsheet.
func TestCSVDefusesFormulas(t *testing.T) {
	r := Build(fleet(), now, Options{})
	r.Controls[0].Title = `=HYPERLINK("http://attacker.example/","click")`
	r.Controls[1].Title = "@SUM(1)"
	r.Controls[2].Title = "-2+3"
	byID, _ := readCSV(t, writeFormat(t, "csv", r))
	for i, want := range []string{`'=HYPERLINK("http://attacker.example/","click")`, "'@SUM(1)", "'-2+3"} {
		if got := byID[r.Controls[i].ControlID]["title"]; got != want {
			t.Errorf("title %d = %q, want %q", i, got, want)
		}
	}
}

// TestCSVDecisions fills the decision columns from what people recorded:
// an exclusion with its justification, an inclusion with its author, an
// attestation, and an exception that accepts a real failure.
func TestCSVDecisions(t *testing.T) {
	at := time.Now().UTC()
	until := at.Add(30 * 24 * time.Hour)
	g := &Governance{
		SoA: []store.SoAEntry{
			{ControlID: "iso27001-2022/7.4", Applicable: false, Justification: "No premises of our own: the hosts run in a colocation facility (contract COLO-7).", Author: "ciso"},
			{ControlID: "iso27001-2022/8.3", Applicable: true, Justification: "Datasets hold customer records.", Author: "dpo"},
		},
		Attestations: []store.Attestation{{ID: "att-1", ControlID: "iso27001-2022/5.1", DocumentRef: "ISMS-POL-001", Author: "ciso", ExpiresAt: until}},
		Exceptions: []store.Exception{
			{ID: "exc-1", CheckID: "datasets.not_world_readable", SubjectPattern: "dataset:/fleet/srv/ml/datasets/customers", Owner: "data-team",
				Approver: "ciso", Reason: "moving to a restricted share", ExpiresAt: until},
			// Lapsed and revoked exceptions are no decision in force.
			{ID: "exc-old", CheckID: "datasets.not_world_readable", SubjectPattern: "**", Owner: "old-owner", Approver: "x", ExpiresAt: at.Add(-time.Hour)},
			{ID: "exc-rev", CheckID: "datasets.not_world_readable", SubjectPattern: "**", Owner: "gone", Approver: "x", ExpiresAt: until, RevokedAt: at.Add(-time.Minute)},
		},
	}
	r := realFleetWith(t, g)
	byID, _ := readCSV(t, writeFormat(t, "csv", r))
	day := until.Format("2006-01-02")
	for _, c := range []struct {
		id   string
		want map[string]string // column → exact value, or "~text" for a substring
	}{
		{"iso27001-2022/7.4", map[string]string{"applicable": "no", "status": "not_applicable", "owner": "ciso",
			"justification": "No premises of our own: the hosts run in a colocation facility (contract COLO-7).", "exceptions": ""}},
		{"iso27001-2022/8.3", map[string]string{"applicable": "yes", "justification": "Datasets hold customer records.", "owner": "dpo; data-team",
			"exceptions": "~exc-1: datasets.not_world_readable for dataset:/fleet/srv/ml/datasets/customers, owner data-team, approved by ciso, until " + day +
				", accepts 1 failing subjects (moving to a restricted share)."}},
		{"iso27001-2022/5.1", map[string]string{"applicable": "yes", "status": "compliant", "owner": "ciso",
			"justification": "Attested by ciso in ISMS-POL-001 (attestation att-1), valid until " + day + "."}},
		{"iso27001-2022/5.2", map[string]string{"applicable": "yes", "justification": "", "exceptions": "", "owner": ""}},
	} {
		row := byID[c.id]
		for col, want := range c.want {
			got := row[col]
			if sub, ok := strings.CutPrefix(want, "~"); ok {
				if !strings.Contains(got, sub) {
					t.Errorf("%s %s = %q, want it to contain %q", c.id, col, got, sub)
				}
			} else if got != want {
				t.Errorf("%s %s = %q, want %q", c.id, col, got, want)
			}
		}
		if strings.Contains(row["exceptions"], "exc-old") || strings.Contains(row["exceptions"], "exc-rev") {
			t.Errorf("%s lists an exception not in force: %q", c.id, row["exceptions"])
		}
	}
}
