package report

import (
	"bytes"
	"encoding/csv"
	"slices"
	"strings"
	"testing"
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
