package controls

import (
	"bytes"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/annexa/annexa/collector/controls/catalog"
)

func TestEmbeddedCatalogs(t *testing.T) {
	want := map[string]int{"iso27001-2022": 93, "iso42001-2023": 38}
	for _, name := range []string{"iso27001-2022.yaml", "iso42001-2023.yaml"} {
		b, err := fs.ReadFile(catalog.FS, name)
		if err != nil {
			t.Fatal(err)
		}
		var f file
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&f); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(f.Controls) != want[f.Framework] {
			t.Errorf("%s: %d controls, want %d", name, len(f.Controls), want[f.Framework])
		}
		ids := map[string]bool{}
		for _, c := range f.Controls {
			if ids[c.ID] {
				t.Errorf("%s: control %s twice", name, c.ID)
			}
			ids[c.ID] = true
			if c.Title == "" || c.Theme == "" || len(c.Description) < 20 {
				t.Errorf("%s: control %s lacks title, theme or description", name, c.ID)
			}
		}
	}
	e, err := Load(nil) // fails if checks.yaml names a control no catalog has
	if err != nil {
		t.Fatal(err)
	}
	fws := e.Frameworks()
	if len(fws) != 2 || fws[0].Controls != 93 || fws[1].Controls != 38 {
		t.Errorf("frameworks = %+v", fws)
	}
	results := e.Evaluate(Input{Now: now})
	if len(results) != 131 {
		t.Errorf("%d results, want 131", len(results))
	}
	checks, automated := map[string]bool{}, map[string]int{}
	for _, r := range results {
		if r.Automated {
			automated[r.Framework]++
		} else if r.Status != Manual {
			t.Errorf("%s has no check but status %s", r.ControlID, r.Status)
		}
		for _, c := range r.Checks {
			checks[c.ID] = true
		}
	}
	if e.Checks() < 40 || len(checks) != e.Checks() {
		t.Errorf("%d checks loaded, %d ran", e.Checks(), len(checks))
	}
	if automated["iso27001-2022"]+automated["iso42001-2023"] < 30 || automated["iso42001-2023"] < 10 {
		t.Errorf("automated controls = %v", automated)
	}
	t.Logf("%d checks; automated controls %v", e.Checks(), automated)
}

func TestOverride(t *testing.T) {
	dir := fstest.MapFS{
		"mine.yaml": {Data: []byte(`
framework: acme-2026
title: ACME internal controls
controls:
  - id: "1"
    title: GPU hosts are labelled
kinds:
  - name: gpu.driver
    plugin: gpus
checks:
  - id: datasets.not_world_readable
    title: Replaced check that passes everything
    kind: dataset
    assert: "true"
    severity: low
    controls: [iso27001-2022/8.3]
  - id: gpu.driver.current
    title: GPU drivers are current
    kind: gpu.driver
    assert: attrs.version >= "550"
    severity: medium
    controls: [acme-2026/1, iso27001-2022/8.8]
`)},
		"27001.yaml": {Data: []byte(`
framework: iso27001-2022
controls:
  - id: "8.3"
    title: Our access restriction
`)},
	}
	e, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	in := Input{Agents: []Agent{agent("a", time.Minute)}, Now: now,
		Records: []Record{scan("a", time.Hour), dataset("a", "/srv/x", true),
			anyRec("a", "gpu.driver", "gpu:0", "gpus", time.Hour, `{"version":"535"}`), pluginScan("a", "gpus", time.Hour)}}
	got := map[string]Result{}
	for _, r := range e.Evaluate(in) {
		got[r.ControlID] = r
	}
	if len(got) != 132 {
		t.Errorf("%d controls, want 131 + 1", len(got))
	}
	if r := got["iso27001-2022/8.3"]; r.Status != Compliant || r.Title != "Our access restriction" || r.Checks[0].Title != "Replaced check that passes everything" {
		t.Errorf("8.3 = %s %q %+v", r.Status, r.Title, r.Checks)
	}
	if r := got["acme-2026/1"]; r.Status != Noncompliant {
		t.Errorf("acme-2026/1 = %s (%s)", r.Status, r.Explanation)
	}
	if r := got["iso27001-2022/8.8"]; !r.Automated || r.Status != Noncompliant {
		t.Errorf("8.8 = %+v", r)
	}
	if e.Version == Default().Version || !strings.HasPrefix(e.Version, "sha256:") {
		t.Errorf("version %q does not reflect the override", e.Version)
	}
}

func TestLoadErrors(t *testing.T) {
	check := func(body string) string {
		return "checks:\n  - id: bad\n    title: Bad\n    kind: dataset\n    severity: low\n    controls: [iso27001-2022/8.3]\n" + body
	}
	cases := []struct {
		name, yaml string
		want       []string
	}{
		{"syntax", check("    assert: 'attrs.mode ==' \n"), []string{"checks.yaml:2", `check "bad"`, "assert", "Syntax error"}},
		{"not bool", check("    assert: 'attrs.mode + 1'\n"), []string{"checks.yaml:2", `check "bad"`, "assert"}},
		{"int not bool", check("    assert: '1 + 1'\n"), []string{"yields int, want bool"}},
		{"undeclared variable", check("    assert: 'atrs.mode == \"0750\"'\n"), []string{`check "bad"`, "undeclared reference to 'atrs'"}},
		{"attrs in host scope", check("    scope: host\n    assert: 'attrs.x'\n"), []string{"undeclared reference to 'attrs'"}},
		{"bad applies", check("    applies: 'has('\n    assert: 'true'\n"), []string{"applies:"}},
		{"bad observe", check("    assert: 'true'\n    observe:\n      m: 'nope.x'\n"), []string{"observe m:", "undeclared reference to 'nope'"}},
		{"unknown kind", strings.Replace(check("    assert: 'true'\n"), "kind: dataset", "kind: datset", 1), []string{`kind "datset" is not a known evidence kind`}},
		{"unknown control", strings.Replace(check("    assert: 'true'\n"), "iso27001-2022/8.3", "iso27001-2022/9.9", 1), []string{`control "iso27001-2022/9.9" is in no loaded catalog`}},
		{"unknown field", check("    assert: 'true'\n    asert: 'false'\n"), []string{"field asert not found"}},
		{"bad scope", check("    assert: 'true'\n    scope: galaxy\n"), []string{`scope "galaxy"`}},
		{"bad severity", strings.Replace(check("    assert: 'true'\n"), "severity: low", "severity: dire", 1), []string{`severity "dire"`}},
		{"bad freshness", check("    assert: 'true'\n    freshness: soon\n"), []string{`freshness "soon"`}},
		{"no assert", check(""), []string{"assert is required"}},
		{"duplicate", check("    assert: 'true'\n") + "  - id: bad\n    title: x\n", []string{`checks.yaml:8: check "bad": already defined at checks.yaml:2`}},
		{"not yaml", "checks: [", []string{"checks.yaml"}},
		{"unknown attribute", check("    assert: '!attrs.wrld_readable'\n"), []string{`checks.yaml:2: check "bad": assert: kind dataset has no attribute wrld_readable (known: `}},
		{"unknown attribute in has", check("    assert: 'true'\n    applies: 'has(attrs.licence)'\n"), []string{`check "bad": applies: kind dataset has no attribute licence`}},
		{"unknown attribute by index", check("    assert: 'attrs[\"ownr\"] == \"x\"'\n"), []string{"kind dataset has no attribute ownr"}},
		{"unknown attribute with in", check("    assert: '\"licence\" in attrs'\n"), []string{"kind dataset has no attribute licence"}},
		{"unknown attribute in observe", check("    assert: 'true'\n    observe:\n      m: 'attrs.mod'\n"), []string{"observe m: kind dataset has no attribute mod"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(fstest.MapFS{"checks.yaml": {Data: []byte(tc.yaml)}})
			if err == nil {
				t.Fatal("loaded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestCostLimit(t *testing.T) {
	e, err := Load(fstest.MapFS{"slow.yaml": {Data: []byte(`
kinds:
  - name: dataset
    plugin: datasets
    fields: [xs]
checks:
  - id: slow
    title: Quadratic over a long list
    kind: dataset
    assert: attrs.xs.all(a, attrs.xs.all(b, attrs.xs.all(c, a + b + c >= 0.0)))
    severity: low
    controls: [iso27001-2022/8.6]
`)}}, WithCostLimit(20_000))
	if err != nil {
		t.Fatal(err)
	}
	xs := strings.Repeat("1,", 299) + "1"
	in := Input{Agents: []Agent{agent("a", time.Minute)}, Now: now,
		Records: []Record{scan("a", time.Hour), rec("a", "dataset", "dataset:/srv/x", time.Hour, `{"xs":[`+xs+`]}`)}}
	start := time.Now()
	r := checkResult(t, e, "slow", in)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("cost limit did not stop the evaluation early: %s", took)
	}
	if r.Status != InsufficientEvidence || len(r.Errors) != 1 || !strings.Contains(r.Errors[0], "cost limit exceeded") ||
		!strings.Contains(r.Errors[0], "dataset:/srv/x") {
		t.Errorf("status %s, errors %v", r.Status, r.Errors)
	}
}

// FuzzLoadChecks feeds user-supplied checks files to the loader: it must
// return an engine or an error, never panic or hang.
func FuzzLoadChecks(f *testing.F) {
	f.Add([]byte("checks:\n  - id: x\n    title: X\n    kind: dataset\n    assert: attrs.a == 1\n    severity: low\n    controls: [iso27001-2022/8.3]\n"))
	f.Add([]byte("framework: x\ncontrols:\n  - id: \"1\"\n    title: One\n"))
	f.Add([]byte("checks: [{id: y, kind: model, scope: host, assert: 'host.kinds.size() > 0'}]"))
	f.Add([]byte("a: &a [*a, *a]"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 4096 {
			t.Skip()
		}
		e, err := Load(fstest.MapFS{"user.yaml": {Data: b}})
		if err == nil {
			_ = e.Evaluate(Input{Agents: []Agent{agent("a", time.Minute)}, Now: now,
				Records: []Record{scan("a", time.Hour), dataset("a", "/srv/x", true)}})
		}
	})
}

// TestDeclaredFields: a folder may declare a third-party kind with fields,
// which then guard its checks, or add fields to a built-in kind.
func TestDeclaredFields(t *testing.T) {
	kinds := "kinds:\n  - name: gpu.driver\n    plugin: gpus\n    fields: [version]\n  - name: dataset\n    plugin: datasets\n    fields: [steward]\n"
	chk := func(kind, expr string) string {
		return "checks:\n  - id: c\n    title: C\n    kind: " + kind + "\n    severity: low\n    controls: [iso27001-2022/8.3]\n    assert: '" + expr + "'\n"
	}
	if _, err := Load(fstest.MapFS{"k.yaml": {Data: []byte(kinds)}, "c.yaml": {Data: []byte(chk("gpu.driver", `attrs.version != ""`))}}); err != nil {
		t.Errorf("declared field refused: %v", err)
	}
	if _, err := Load(fstest.MapFS{"k.yaml": {Data: []byte(kinds)}, "c.yaml": {Data: []byte(chk("dataset", `attrs.steward != ""`))}}); err != nil {
		t.Errorf("field added to a built-in kind refused: %v", err)
	}
	_, err := Load(fstest.MapFS{"k.yaml": {Data: []byte(kinds)}, "c.yaml": {Data: []byte(chk("gpu.driver", `attrs.versoin != ""`))}})
	if want := `c.yaml:2: check "c": assert: kind gpu.driver has no attribute versoin (known: version; a plugin's new attribute is declared under kinds: fields:)`; err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant %s", err, want)
	}
	// A kind declared without fields is not checked: nothing is known.
	if _, err := Load(fstest.MapFS{"k.yaml": {Data: []byte("kinds:\n  - name: x.y\n    plugin: p\n")}, "c.yaml": {Data: []byte(chk("x.y", `attrs.anything`))}}); err != nil {
		t.Errorf("kind without fields: %v", err)
	}
}
