package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/annexa/annexa/collector/internal/controls"
)

var (
	baseOnce                                 sync.Once
	base                                     *Report
	schemasOnce                              sync.Once
	fuzzObservation, fuzzItem, fuzzComponent *jsonschema.Schema
)

// FuzzExports feeds the exports hosts' data as an agent may send it (any
// subject a record may carry, any attributes object) and requires the
// OSCAL and CycloneDX exports to stay valid against the official schemas,
// and the HTML to stay free of markup from the evidence. Seeds are real
// plugin records from testdata/fleet.jsonl.
func FuzzExports(f *testing.F) {
	for _, r := range readFleetJSONL(f) {
		if r.Kind == "dataset" || r.Kind == "model" {
			f.Add(r.Kind, strings.TrimPrefix(r.Subject, r.Kind+":"), []byte(r.Attributes))
		}
	}
	f.Add("dataset", " /srv/ml/x\u2028y ", []byte(`{"license":" ","sha256":"ABCDEF","pii":{"email":"x","phone":-1,"ssn":{"count":2}},"classification":"\n"}`))
	f.Add("model", "=cmd|' /C calc'!A0", []byte(`{"license":"Apache-2.0 OR MIT","findings":[{"rule":"","severity":"","detail":"\u0000"}],"datasets":["=x"]}`))
	f.Fuzz(func(t *testing.T, kind, subject string, attrs []byte) {
		if kind != "dataset" && kind != "model" {
			kind = "dataset"
		}
		// The collector accepts only what evidence.Record.Validate allows;
		// the exports need not do better than the store.
		if subject == "" || strings.ContainsAny(subject, "\x00\n") || len(subject) > 4096 || !utf8.ValidString(subject) {
			t.Skip()
		}
		var obj map[string]any
		if json.Unmarshal(attrs, &obj) != nil || obj == nil {
			attrs, obj = []byte(`{}`), map[string]any{}
		}
		// The report is built once; each input becomes an asset, a record
		// and a failing subject of a check, which is where the exports
		// write evidence, without paying for the controls engine per run.
		baseOnce.Do(func() { base = Build(fleet(), now, Options{}) })
		r := *base
		full := kind + ":" + subject
		r.Assets = append(slices.Clip(r.Assets), Asset{Kind: kind, Subject: full, Host: "gpu1", AgentID: "a1", Plugin: kind + "s", ObservedAt: now, Attributes: attrs})
		r.Records = append(slices.Clip(r.Records), Record{AgentID: "a1", Host: "gpu1", Kind: kind, Subject: full, Plugin: kind + "s", Op: "upsert", Seq: 99, ObservedAt: now, UpdatedAt: now, Attributes: attrs})
		r.Controls = slices.Clone(r.Controls)
		c := &r.Controls[slices.IndexFunc(r.Controls, func(c controls.Result) bool { return c.ControlID == "iso27001-2022/8.3" })]
		c.Checks = slices.Clone(c.Checks)
		ch := &c.Checks[0]
		ch.Failing = append(slices.Clip(ch.Failing), controls.Subject{Subject: full, Host: "gpu1", AgentID: "a1", Observed: obj})
		ch.Evidence = append(slices.Clip(ch.Evidence), controls.Evidence{AgentID: "a1", Host: "gpu1", Kind: kind, Subject: full, Seq: 99, ObservedAt: now})
		rp := &r
		schemasOnce.Do(func() {
			fuzzObservation = compileSchemaAt(t, "oscal-1.1.3", "oscal_complete_schema.json", "/definitions/oscal-complete-oscal-assessment-common:observation")
			fuzzItem = compileSchemaAt(t, "oscal-1.1.3", "oscal_complete_schema.json", "/definitions/oscal-complete-oscal-implementation-common:inventory-item")
			fuzzComponent = compileSchemaAt(t, "cyclonedx-1.6", "bom-1.6.schema.json", "/definitions/component", "spdx.schema.json", "jsf-0.82.schema.json")
		})
		// Whole documents are validated by the other tests; here only the
		// parts the input reaches, since validating 300 KB of OSCAL per run
		// would leave the fuzzer a few runs a minute.
		check := func(what string, sch *jsonschema.Schema, v any) {
			t.Helper()
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			if err := sch.Validate(inst); err != nil {
				t.Fatalf("%s breaks the schema for subject %q attributes %s:\n%v\n%s", what, subject, attrs, err, b)
			}
		}
		doc, err := buildOSCAL(rp)
		if err != nil {
			t.Fatal(err)
		}
		res := doc.AssessmentResults.Results[0]
		item := assetUUID("a1", kind, full)
		found := 0
		for _, it := range res.LocalDefinitions.InventoryItems {
			if it.UUID == item {
				check("OSCAL inventory item", fuzzItem, it)
				found++
			}
		}
		for _, o := range res.Observations {
			mine := slices.ContainsFunc(o.Subjects, func(s oscalSubjectRef) bool { return s.SubjectUUID == item }) ||
				slices.ContainsFunc(o.RelevantEvidence, func(e oscalEvidenceLink) bool { return strings.Contains(e.Description, "seq 99)") })
			if mine {
				check("OSCAL observation", fuzzObservation, o)
				found++
			}
		}
		bom, err := buildCycloneDX(rp)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range bom.Components {
			if c.BOMRef == "a1/"+full {
				check("CycloneDX component", fuzzComponent, c)
				found++
			}
		}
		if found < 4 {
			t.Fatalf("the input reached %d of the item, two observations and the component", found)
		}
		var buf bytes.Buffer
		if err := Write(&buf, "html", rp); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(strings.ToLower(buf.String()), "<script") {
			t.Fatal("markup from the evidence reached the page")
		}
		if err := Write(&bytes.Buffer{}, "csv", rp); err != nil {
			t.Fatal(err)
		}
	})
}

// A check over more records than maxEvidenceLinks points at the evidence
// file with the count instead of listing each, and the document stays
// valid.
func TestOSCALBoundsEvidenceLinks(t *testing.T) {
	r := Build(largeFleet(20), now, Options{})
	raw := writeFormat(t, "oscal", r)
	if err := validate(t, oscalSchema(t), raw); err != nil {
		t.Fatal(err)
	}
	var doc oscalDoc
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	big := map[string]int{} // check → records its status rests on
	for _, c := range r.Controls {
		for _, ch := range c.Checks {
			if len(ch.Evidence) > maxEvidenceLinks {
				big[ch.ID] = len(ch.Evidence)
			}
		}
	}
	if len(big) == 0 {
		t.Fatal("no check rests on more records than the bound; the test proves nothing")
	}
	for _, o := range doc.AssessmentResults.Results[0].Observations {
		if len(o.RelevantEvidence) > maxEvidenceLinks {
			t.Errorf("%s lists %d records", o.Title, len(o.RelevantEvidence))
		}
		id, _, _ := strings.Cut(strings.TrimPrefix(o.Title, "Check "), ":")
		if n, ok := big[id]; ok {
			ev := o.RelevantEvidence
			if len(ev) != 1 || !strings.HasPrefix(ev[0].Description, fmt.Sprintf("%d records from 20 hosts (", n)) {
				t.Errorf("%s: bounded evidence = %+v", id, ev)
			}
			delete(big, id)
		}
	}
	if len(big) > 0 {
		t.Errorf("no observation for checks %v", big)
	}
}
