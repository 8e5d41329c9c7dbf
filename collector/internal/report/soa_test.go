package report

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/annexa/annexa/collector/internal/controls"
	"github.com/annexa/annexa/collector/internal/store"
	"github.com/annexa/annexa/collector/internal/store/sqlite"
)

// soaStore is a real store with four Statement of Applicability lines:
// 5.1 included with a reason, 5.2 included without one (as the store has
// always accepted), 5.3 included with only blanks, and 7.4 excluded.
// Every other control has no entry.
func soaStore(t *testing.T) *sqlite.DB {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "collector.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, e := range []store.SoAEntry{
		{ControlID: "iso27001-2022/5.1", Applicable: true, Justification: "Risk R-12: no common policy; ISMS scope statement", Author: "lea"},
		{ControlID: "iso27001-2022/5.2", Applicable: true, Author: "lea"},
		{ControlID: "iso27001-2022/5.3", Applicable: true, Justification: " \n\t", Author: "lea"},
		{ControlID: "iso27001-2022/7.4", Applicable: false, Justification: "no premises of our own", Author: "lea"},
	} {
		if _, err := db.SetSoA(ctx, e); err != nil {
			t.Fatalf("the store refuses %+v: %v", e, err)
		}
	}
	return db
}

// TestUnjustifiedInclusionsCounted: inclusions the store accepted without a
// reason stay readable and are counted and listed as incomplete, with what
// to write; a justified inclusion and an exclusion are not.
func TestUnjustifiedInclusionsCounted(t *testing.T) {
	db := soaStore(t)
	r, err := Assemble(context.Background(), db, now, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.SoA) != 4 {
		t.Fatalf("the stored lines are not all in the report: %+v", r.SoA)
	}
	// 131 controls, one excluded, one justified.
	if r.Summary.UnjustifiedInclusions != 129 {
		t.Errorf("summary counts %d unjustified inclusions, want 129", r.Summary.UnjustifiedInclusions)
	}
	for _, f := range r.Frameworks {
		want := map[string]int{"iso27001-2022": 91, "iso42001-2023": 38}[f.ID]
		if f.UnjustifiedInclusions != want {
			t.Errorf("%s counts %d, want %d", f.ID, f.UnjustifiedInclusions, want)
		}
	}
	got := map[string]UnjustifiedInclusion{}
	for _, u := range r.UnjustifiedInclusions {
		got[u.ControlID] = u
	}
	if len(got) != 129 || len(r.UnjustifiedInclusions) != 129 {
		t.Fatalf("%d listed", len(r.UnjustifiedInclusions))
	}
	for _, id := range []string{"iso27001-2022/5.1", "iso27001-2022/7.4"} {
		if _, ok := got[id]; ok {
			t.Errorf("%s is listed as unjustified", id)
		}
	}
	for id, recorded := range map[string]bool{"iso27001-2022/5.2": true, "iso27001-2022/5.3": true, "iso27001-2022/5.9": false, "iso42001-2023/A.7.5": false} {
		u, ok := got[id]
		if !ok {
			t.Errorf("%s is not listed", id)
			continue
		}
		if u.Recorded != recorded || !strings.HasPrefix(u.ToFix, "give a reason for including "+id+" (") ||
			!strings.Contains(u.ToFix, "e.g. the risk it treats or the requirement it meets") {
			t.Errorf("%s: %+v", id, u)
		}
	}
	if u := got["iso27001-2022/5.2"]; !strings.HasSuffix(u.ToFix, "its entry says applicable without one") {
		t.Errorf("5.2 to fix: %q", u.ToFix)
	}
	if u := got["iso27001-2022/5.9"]; !strings.HasSuffix(u.ToFix, "record it as applicable with a justification") {
		t.Errorf("5.9 to fix: %q", u.ToFix)
	}

	// The JSON report carries the count and the list under the
	// documented names.
	var doc struct {
		Summary struct {
			Unjustified int `json:"unjustified_inclusions"`
		} `json:"summary"`
		List []map[string]any `json:"unjustified_inclusions"`
	}
	if err := json.Unmarshal(writeFormat(t, "json", r), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Summary.Unjustified != 129 || len(doc.List) != 129 || doc.List[0]["control_id"] != "iso27001-2022/5.2" || doc.List[0]["recorded"] != true {
		t.Errorf("json: %d, %d listed, first %v", doc.Summary.Unjustified, len(doc.List), doc.List[0])
	}

	summary := string(writeFormat(t, "summary", r))
	for _, want := range []string{
		"statement of applicability incomplete: 129 of 130 included controls give no reason for inclusion (2 recorded as applicable without one, 127 with no entry)",
		"per framework: iso27001-2022 91 of 92, iso42001-2023 38 of 38",
		"give a reason for including iso27001-2022/5.2, iso27001-2022/5.3, iso27001-2022/5.4, iso27001-2022/5.5, iso27001-2022/5.6 and 124 more, e.g. the risk each treats or the requirement it meets",
		"or fill them all in a spreadsheet: annexa-collector soa export --data DIR --out soa.csv, then soa import --data DIR --dry-run soa.csv",
	} {
		if !strings.Contains(summary, want) {
			t.Errorf("summary lacks %q:\n%s", want, summary)
		}
	}

	if h := string(writeFormat(t, "html", r)); !strings.Contains(h, "<b>The Statement of Applicability is incomplete:</b> 129 of 130 included\ncontrols give no reason") {
		t.Error("the HTML report does not say the Statement of Applicability is incomplete")
	}

	byID, _ := readCSV(t, writeFormat(t, "csv", r))
	for id, want := range map[string]string{
		"iso27001-2022/5.1": "", "iso27001-2022/7.4": "",
		"iso27001-2022/5.2": got["iso27001-2022/5.2"].ToFix, "iso27001-2022/5.9": got["iso27001-2022/5.9"].ToFix,
	} {
		if row := byID[id]; row["unjustified_inclusion"] != want {
			t.Errorf("csv %s unjustified_inclusion = %q, want %q", id, row["unjustified_inclusion"], want)
		}
	}
	if j := byID["iso27001-2022/5.1"]["justification"]; j != "Risk R-12: no common policy; ISMS scope statement" {
		t.Errorf("csv 5.1 justification = %q", j)
	}
}

// TestUnjustifiedInclusionsInOSCAL: every finding says whether its
// control's inclusion is justified, with the reason or what to record,
// and the document stays valid.
func TestUnjustifiedInclusionsInOSCAL(t *testing.T) {
	r, err := Assemble(context.Background(), soaStore(t), now, Options{})
	if err != nil {
		t.Fatal(err)
	}
	raw := writeFormat(t, "oscal", r)
	if err := validate(t, oscalSchema(t), raw); err != nil {
		t.Fatalf("the OSCAL export breaks the schema:\n%v", err)
	}
	var doc struct {
		AR struct {
			Results []struct {
				Reviewed struct {
					Remarks string `json:"remarks"`
				} `json:"reviewed-controls"`
				Findings []struct {
					Target struct {
						ID string `json:"target-id"`
					} `json:"target"`
					Props   []oscalProp `json:"props"`
					Remarks string      `json:"remarks"`
				} `json:"findings"`
			} `json:"results"`
		} `json:"assessment-results"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	res := doc.AR.Results[0]
	if !strings.Contains(res.Reviewed.Remarks, "The Statement of Applicability is incomplete: 129 of 130 included controls give no reason") {
		t.Errorf("reviewed-controls remarks: %q", res.Reviewed.Remarks)
	}
	seen := 0
	for _, f := range res.Findings {
		justified := ""
		for _, p := range f.Props {
			if p.Name == "inclusion-justified" {
				justified = p.Value
			}
		}
		if justified == "" {
			t.Errorf("finding %s has no inclusion-justified prop", f.Target.ID)
		}
		switch f.Target.ID {
		case "iso27001-2022_5.1":
			seen++
			if justified != "true" || f.Remarks != "Included in the Statement of Applicability by lea: Risk R-12: no common policy; ISMS scope statement" {
				t.Errorf("5.1: %s %q", justified, f.Remarks)
			}
		case "iso27001-2022_5.2", "iso27001-2022_5.9":
			seen++
			if justified != "false" || !strings.HasPrefix(f.Remarks, "Statement of Applicability incomplete: give a reason for including iso27001-2022/5.") {
				t.Errorf("%s: %s %q", f.Target.ID, justified, f.Remarks)
			}
		case "iso27001-2022_7.4":
			t.Error("the excluded control has a finding")
		}
	}
	if seen != 3 {
		t.Errorf("%d of the 3 findings looked at were found", seen)
	}
}

// TestCompleteSoAHasNoGap: once every included control gives a reason,
// nothing is counted, listed or marked, and the summary says nothing.
func TestCompleteSoAHasNoGap(t *testing.T) {
	g := &Governance{}
	for _, c := range controls.Default().Evaluate(controls.Input{Now: now}) {
		g.SoA = append(g.SoA, store.SoAEntry{ControlID: c.ControlID, Applicable: true, Justification: "treats risk R-1", Author: "lea"})
	}
	r := Build(fleet(), now, Options{Governance: g})
	if r.Summary.UnjustifiedInclusions != 0 || len(r.UnjustifiedInclusions) != 0 {
		t.Fatalf("%d counted, %d listed", r.Summary.UnjustifiedInclusions, len(r.UnjustifiedInclusions))
	}
	if s := string(writeFormat(t, "summary", r)); strings.Contains(s, "statement of applicability") {
		t.Errorf("the summary reports a gap:\n%s", s)
	}
	byID, _ := readCSV(t, writeFormat(t, "csv", r))
	for id, row := range byID {
		if row["unjustified_inclusion"] != "" {
			t.Errorf("%s marked: %q", id, row["unjustified_inclusion"])
		}
	}
	if h := string(writeFormat(t, "html", r)); strings.Contains(h, "soa-incomplete") {
		t.Error("the HTML report reports a gap")
	}
	if o := string(writeFormat(t, "oscal", r)); strings.Contains(o, "incomplete") || strings.Contains(o, "give a reason") {
		t.Error("the OSCAL export reports a gap")
	}
}
