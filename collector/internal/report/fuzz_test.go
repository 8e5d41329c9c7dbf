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
	baseOnce             sync.Once
	base                 *Report
	schemasOnce          sync.Once
	fuzzOSCAL, fuzzCycDX *jsonschema.Schema
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
		schemasOnce.Do(func() {
			fuzzOSCAL = oscalSchema(t)
			fuzzCycDX = cyclonedxSchema(t)
		})
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
		for _, c := range []struct {
			format string
			sch    *jsonschema.Schema
		}{{"oscal", fuzzOSCAL}, {"cyclonedx", fuzzCycDX}} {
			var buf bytes.Buffer
			if err := Write(&buf, c.format, rp); err != nil {
				t.Fatalf("%s: %v", c.format, err)
			}
			inst, err := jsonschema.UnmarshalJSON(&buf)
			if err != nil {
				t.Fatalf("%s is not JSON: %v", c.format, err)
			}
			if err := c.sch.Validate(inst); err != nil {
				t.Fatalf("%s breaks the schema for subject %q attributes %s:\n%v", c.format, subject, attrs, err)
			}
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
