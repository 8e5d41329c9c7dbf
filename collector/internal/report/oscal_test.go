package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/annexa/annexa/collector/internal/controls"
	"github.com/annexa/annexa/collector/internal/store"
)

func writeFormat(t *testing.T, format string, r *Report) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, format, r); err != nil {
		t.Fatalf("write %s: %v", format, err)
	}
	return buf.Bytes()
}

func TestOSCALValidatesAgainstSchema(t *testing.T) {
	sch := oscalSchema(t)
	cases := map[string]*Report{
		"empty store": Build(&store.Snapshot{}, now, Options{}),
		"small fleet": Build(fleet(), now, Options{}),
		"real fleet":  realFleet(t),
	}
	for name, r := range cases {
		t.Run(name, func(t *testing.T) {
			doc := writeFormat(t, "oscal", r)
			if err := validate(t, sch, doc); err != nil {
				t.Fatalf("the OSCAL export breaks the schema:\n%v", err)
			}
		})
	}
}

// TestOSCALSchemaRejects proves the validation is not vacuous: the same
// document with a wrong state, a wrong UUID or a control id that is no
// token fails.
func TestOSCALSchemaRejects(t *testing.T) {
	sch := oscalSchema(t)
	doc := writeFormat(t, "oscal", Build(fleet(), now, Options{}))
	for name, mutate := range map[string]func(ar map[string]any){
		"state": func(ar map[string]any) {
			finding0(ar)["target"].(map[string]any)["status"].(map[string]any)["state"] = "compliant"
		},
		"uuid":     func(ar map[string]any) { ar["uuid"] = "not-a-uuid" },
		"token":    func(ar map[string]any) { finding0(ar)["target"].(map[string]any)["target-id"] = "iso27001-2022/5.9" },
		"datetime": func(ar map[string]any) { ar["metadata"].(map[string]any)["last-modified"] = "2026-03-01 12:00" },
		"required": func(ar map[string]any) { delete(ar, "import-ap") },
	} {
		t.Run(name, func(t *testing.T) {
			var m map[string]any
			if err := json.Unmarshal(doc, &m); err != nil {
				t.Fatal(err)
			}
			mutate(m["assessment-results"].(map[string]any))
			bad, _ := json.Marshal(m)
			if err := validate(t, sch, bad); err == nil {
				t.Error("the schema accepted a broken document")
			}
		})
	}
}

func finding0(ar map[string]any) map[string]any {
	return ar["results"].([]any)[0].(map[string]any)["findings"].([]any)[0].(map[string]any)
}

func TestOSCALContent(t *testing.T) {
	r := realFleet(t)
	raw := writeFormat(t, "oscal", r)
	var doc oscalDoc
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	ar := doc.AssessmentResults
	if ar.Metadata.OSCALVersion != "1.1.3" || len(ar.Results) != 1 {
		t.Fatalf("metadata %+v, %d results", ar.Metadata, len(ar.Results))
	}
	res := ar.Results[0]
	if !strings.HasPrefix(ar.ImportAP.Href, "#") || ar.BackMatter == nil || ar.ImportAP.Href != "#"+ar.BackMatter.Resources[0].UUID {
		t.Errorf("import-ap %q does not point at the plan in the back matter", ar.ImportAP.Href)
	}

	// Every UUID is unique, and every reference resolves.
	uuids := map[string]string{}
	defined := func(id, what string) {
		if prev, dup := uuids[id]; dup {
			t.Errorf("uuid %s used by %s and %s", id, prev, what)
		}
		uuids[id] = what
	}
	defined(ar.UUID, "document")
	defined(res.UUID, "result")
	for _, c := range res.LocalDefinitions.Components {
		defined(c.UUID, "component "+c.Title)
	}
	for _, c := range res.LocalDefinitions.AssessmentAssets.Components {
		defined(c.UUID, "tool "+c.Title)
	}
	for _, it := range res.LocalDefinitions.InventoryItems {
		defined(it.UUID, "item "+it.Description)
	}
	obs := map[string]oscalObservation{}
	for _, o := range res.Observations {
		defined(o.UUID, "observation "+o.Title)
		obs[o.UUID] = o
		for _, s := range o.Subjects {
			if _, ok := uuids[s.SubjectUUID]; !ok {
				t.Errorf("observation %q names subject %s that is not defined", o.Title, s.SubjectUUID)
			}
		}
	}
	// Findings: one per control, with the control's status.
	if len(res.Findings) != len(r.Controls) {
		t.Errorf("%d findings for %d controls", len(res.Findings), len(r.Controls))
	}
	byTarget := map[string]oscalFinding{}
	for _, f := range res.Findings {
		defined(f.UUID, "finding "+f.Title)
		byTarget[f.Target.TargetID] = f
		for _, ro := range f.RelatedObservations {
			if _, ok := obs[ro.ObservationUUID]; !ok {
				t.Errorf("finding %q relates to unknown observation %s", f.Title, ro.ObservationUUID)
			}
		}
	}
	if n := len(res.ReviewedControls.ControlSelections[0].IncludeControls); n != len(r.Controls) {
		t.Errorf("%d reviewed controls, want %d", n, len(r.Controls))
	}
	for _, c := range r.Controls {
		f, ok := byTarget[ControlToken(c.ControlID)]
		if !ok {
			t.Errorf("no finding for %s", c.ControlID)
			continue
		}
		want := map[controls.Status]string{controls.Compliant: "satisfied"}[c.Status]
		if want == "" {
			want = "not-satisfied"
		}
		if f.Target.Status.State != want {
			t.Errorf("%s is %s but its finding says %s", c.ControlID, c.Status, f.Target.Status.State)
		}
	}

	// 8.3 fails on gpu1's world-readable customer dataset: its finding
	// leads to an observation about that dataset, with the asset as
	// subject and the record (agent, seq) as relevant evidence.
	f := byTarget["iso27001-2022_8.3"]
	if f.Target.Status.Reason != "fail" {
		t.Fatalf("8.3 finding = %+v", f.Target.Status)
	}
	var rec Record
	for _, x := range r.Records {
		if x.Subject == "dataset:/fleet/srv/ml/datasets/customers" {
			rec = x
		}
	}
	found := false
	for _, ro := range f.RelatedObservations {
		o := obs[ro.ObservationUUID]
		if !strings.Contains(o.Title, "dataset:/fleet/srv/ml/datasets/customers") {
			continue
		}
		found = true
		if len(o.Subjects) != 1 || o.Subjects[0].Type != "inventory-item" || o.Subjects[0].SubjectUUID != assetUUID("a1", "dataset", rec.Subject) {
			t.Errorf("subjects = %+v", o.Subjects)
		}
		if !strings.Contains(o.Description, "world_readable = true") {
			t.Errorf("observation does not say what was observed: %s", o.Description)
		}
		ev := o.RelevantEvidence
		if len(ev) == 0 || ev[0].Href != EvidenceFile || !strings.Contains(ev[0].Description, "seq "+itoa(rec.Seq)) {
			t.Errorf("relevant evidence = %+v, want the record seq %d", ev, rec.Seq)
		}
	}
	if !found {
		t.Error("the 8.3 finding has no observation of the customers dataset")
	}

	// Deterministic: the same report gives the same bytes; hosts and
	// assets keep their UUIDs in a different report.
	if again := writeFormat(t, "oscal", r); !bytes.Equal(raw, again) {
		t.Error("two exports of one report differ")
	}
	other := Build(fleet(), now, Options{})
	var doc2 oscalDoc
	if err := json.Unmarshal(writeFormat(t, "oscal", other), &doc2); err != nil {
		t.Fatal(err)
	}
	if doc2.AssessmentResults.UUID == ar.UUID {
		t.Error("two different reports share a document UUID")
	}
	if res.LocalDefinitions.Components[0].UUID != doc2.AssessmentResults.Results[0].LocalDefinitions.Components[0].UUID {
		t.Error("agent a1 has a different component UUID in another report")
	}
}

func itoa(n uint64) string { b, _ := json.Marshal(n); return string(b) }

// A control excluded in the Statement of Applicability is listed as
// excluded, has no finding, and is "no" in the CSV.
func TestNotApplicableControl(t *testing.T) {
	r := Build(fleet(), now, Options{})
	r.Controls[0].Status = controls.NotApplicable
	id := r.Controls[0].ControlID
	raw := writeFormat(t, "oscal", r)
	if err := validate(t, oscalSchema(t), raw); err != nil {
		t.Fatal(err)
	}
	var doc oscalDoc
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	res := doc.AssessmentResults.Results[0]
	sel := res.ReviewedControls.ControlSelections[0]
	if len(sel.ExcludeControls) != 1 || sel.ExcludeControls[0].ControlID != ControlToken(id) || len(sel.IncludeControls) != len(r.Controls)-1 {
		t.Errorf("selection = %d included, excluded %+v", len(sel.IncludeControls), sel.ExcludeControls)
	}
	for _, f := range res.Findings {
		if f.Target.TargetID == ControlToken(id) {
			t.Errorf("excluded control %s has a finding", id)
		}
	}
	byID, _ := readCSV(t, writeFormat(t, "csv", r))
	if byID[id]["applicable"] != "no" || byID[id]["status"] != "not_applicable" {
		t.Errorf("csv row = %v", byID[id])
	}
}
