package soasheet

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/annexa/annexa/collector/internal/controls"
	"github.com/annexa/annexa/collector/internal/store"
)

func known(t testing.TB) []string {
	t.Helper()
	var ids []string
	for _, c := range controls.Default().ControlList() {
		ids = append(ids, c.ID)
	}
	if len(ids) < 100 {
		t.Fatalf("only %d controls loaded", len(ids))
	}
	return ids
}

func readFile(t *testing.T, name string, f Format) (*Sheet, error) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return Read(bytes.NewReader(b), name, f, known(t))
}

// The rows make_fixtures.py writes, as an import must read them.
var fixtureRows = []Row{
	{ControlID: "iso27001-2022/5.1", Applicable: true, Justification: `Required by the ISMS scope statement; reviewed by the board, "annually".`},
	{ControlID: "iso27001-2022/5.2", Applicable: true, Justification: "Treats risk R-12 (unclear ownership of training data).\nOwner: CISO."},
	{ControlID: "iso27001-2022/7.4", Applicable: false, Justification: "=Hosted in a provider's data centre; physical monitoring is the provider's (contract §4.2)."},
	{ControlID: "iso27001-2022/8.1", Applicable: false, Justification: "No endpoints in scope: training hosts only, administered over SSH — Zugriff nur über Bastion."},
	{ControlID: "iso42001-2023/A.2.2", Applicable: true, Justification: ""},
}

func decisions(rows []Row) []Row {
	out := make([]Row, len(rows))
	for i, r := range rows {
		out[i] = Row{ControlID: r.ControlID, Applicable: r.Applicable, Justification: r.Justification}
	}
	return out
}

func TestReadSpreadsheetFiles(t *testing.T) {
	for _, tc := range []struct {
		file    string
		lines   []int
		ignored []string
	}{
		// BOM, CRLF, a quoted newline (the 5.2 row spans lines 3-4), a
		// doubled quote, TRUE/FALSE, a formula defused with ', an empty
		// trailing row and a notes column.
		{"excel-utf8.csv", []int{2, 3, 5, 6, 7}, []string{"notes"}},
		// Excel in a decimal-comma locale separates with semicolons.
		{"excel-semicolon.csv", []int{2, 3, 5, 6, 7}, []string{"notes"}},
		// LibreOffice: no BOM, LF.
		{"libreoffice.csv", []int{2, 3, 5, 6, 7}, nil},
	} {
		t.Run(tc.file, func(t *testing.T) {
			s, err := readFile(t, tc.file, CSV)
			if err != nil {
				t.Fatal(err)
			}
			if got := decisions(s.Rows); !reflect.DeepEqual(got, fixtureRows) {
				t.Errorf("rows:\n got %+v\nwant %+v", got, fixtureRows)
			}
			var lines []int
			for _, r := range s.Rows {
				lines = append(lines, r.Line)
			}
			if !reflect.DeepEqual(lines, tc.lines) {
				t.Errorf("lines = %v, want %v", lines, tc.lines)
			}
			if !reflect.DeepEqual(s.Ignored, tc.ignored) {
				t.Errorf("ignored = %q, want %q", s.Ignored, tc.ignored)
			}
		})
	}
}

func TestReadYAML(t *testing.T) {
	s, err := readFile(t, "soa.yaml", YAML)
	if err != nil {
		t.Fatal(err)
	}
	want := []Row{
		{ControlID: "iso27001-2022/5.1", Applicable: true, Justification: "Required by the ISMS scope statement.", Line: 3},
		{ControlID: "iso27001-2022/7.4", Applicable: false, Justification: "Hosted in a provider's data centre;\nphysical monitoring is the provider's (contract §4.2).", Line: 7},
		{ControlID: "iso42001-2023/A.2.2", Applicable: true, Justification: "The AI policy is required by clause 5.2 and treats risk R-3.", Line: 12},
		{ControlID: "iso27001-2022/8.1", Applicable: false, Justification: "No endpoints in scope: training hosts only.", Line: 19},
	}
	if !reflect.DeepEqual(s.Rows, want) {
		t.Errorf("rows:\n got %+v\nwant %+v", s.Rows, want)
	}
}

// problemsOf returns the problems of a failed read as strings.
func problemsOf(t *testing.T, err error) []string {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v, want a *soasheet.Error", err)
	}
	var out []string
	for _, p := range e.Problems {
		out = append(out, p.String())
	}
	return out
}

func TestReadRefusesBadFiles(t *testing.T) {
	for _, tc := range []struct {
		file string
		f    Format
		want []string
	}{
		{"bad.csv", CSV, []string{
			`bad.csv:3:1: column A (control_id): control "iso27001-2022/5.99" is not in any loaded catalog; did you mean iso27001-2022/5.9?`,
			`bad.csv:4:23: column D (justification): a control marked not applicable needs a justification (why it does not apply)`,
			`bad.csv:5:20: column C (applicable): "maybe": write yes or no (true and false also work)`,
			`bad.csv:6:1: column A (control_id): iso27001-2022/5.1 is also on line 2; keep one row per control`,
		}},
		{"excel-cp1252.csv", CSV, []string{
			`excel-cp1252.csv:5:137: the file is not UTF-8 (Excel's plain "CSV" saves Windows-1252); save it as "CSV UTF-8 (Comma delimited)", or in LibreOffice choose character set "Unicode (UTF-8)"`,
		}},
		{"excel-unicode.txt", CSV, []string{
			`excel-unicode.txt: the file is UTF-16 (Excel's "Unicode Text"); save it as "CSV UTF-8 (Comma delimited)"`,
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			_, err := readFile(t, tc.file, tc.f)
			if got := problemsOf(t, err); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("problems:\n got %q\nwant %q", got, tc.want)
			}
			if !strings.Contains(err.Error(), "nothing was imported") {
				t.Errorf("error does not say nothing was imported: %v", err)
			}
		})
	}
}

func TestReadProblems(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		f        Format
		want     []string
	}{
		{"missing column", "control_id,applicable\niso27001-2022/5.1,yes\n", CSV,
			[]string{"f:1: header row: no column justification; the header row needs control_id, applicable and justification (start from `annexa-collector soa export --format csv`)"}},
		{"report csv", "control_id,framework,title,theme,applicable,justification,status,automated,evidence_summary\n", CSV,
			[]string{"f:1: column I: this is the report's statement-of-applicability.csv, whose justification column also holds attestation text; start from `annexa-collector soa export --format csv` instead"}},
		{"duplicate column", "control_id,applicable,justification,Applicable\n", CSV,
			[]string{"f:1: column D: column applicable is also column B; keep one"}},
		{"unclosed quote", "control_id,applicable,justification\niso27001-2022/5.1,yes,\"open\nstill open\n", CSV,
			[]string{"f:3:12: extraneous or missing \" in quoted-field: a quoted cell opened on line 2 never closes; close it with \""}},
		{"bare quote", "control_id,applicable,justification\niso27001-2022/5.1,yes,a \"b\" c\n", CSV,
			[]string{"f:2:25: bare \" in non-quoted-field: quote the cell, and double every quote inside it (\"\")"}},
		{"short row", "control_id,applicable,justification\niso27001-2022/5.1\n", CSV,
			[]string{"f:2: column B (applicable): empty; write yes (the control applies) or no (it does not, and justification says why)"}},
		{"empty id", "control_id,applicable,justification\n ,yes,x\n", CSV,
			[]string{"f:2:1: column A (control_id): no control id; write one such as iso27001-2022/5.1, or delete the row"}},
		{"bare id", "control_id,applicable,justification\n5.1,yes,x\n", CSV,
			[]string{`f:2:1: column A (control_id): control "5.1" is not in any loaded catalog; did you mean iso27001-2022/5.1?`}},
		{"case", "control_id,applicable,justification\nISO27001-2022/A.5.1,yes,x\niso42001-2023/a.2.2,yes,x\n", CSV,
			[]string{
				`f:2:1: column A (control_id): control "ISO27001-2022/A.5.1" is not in any loaded catalog; did you mean iso27001-2022/5.1?`,
				`f:3:1: column A (control_id): control "iso42001-2023/a.2.2" is not in any loaded catalog; did you mean iso42001-2023/A.2.2?`,
			}},
		{"nothing close", "control_id,applicable,justification\nnist-800-53/ac-2,yes,x\n", CSV,
			[]string{`f:2:1: column A (control_id): control "nist-800-53/ac-2" is not in any loaded catalog (ids are namespaced: iso27001-2022/5.1, iso42001-2023/A.2.2; ` + "`annexa-collector soa export` lists them all)"}},
		{"too long", "control_id,applicable,justification\niso27001-2022/5.1,no," + strings.Repeat("x", 4097) + "\n", CSV,
			[]string{"f:2:22: column C (justification): justification is longer than 4096 bytes"}},
		{"two problems on a row", "control_id,applicable,justification\niso27001-2022/5.99,no,\n", CSV, []string{
			`f:2:1: column A (control_id): control "iso27001-2022/5.99" is not in any loaded catalog; did you mean iso27001-2022/5.9?`,
			"f:2:23: column C (justification): a control marked not applicable needs a justification (why it does not apply)",
		}},
		{"empty", "\uFEFF \r\n", CSV, []string{"f: the file is empty; start from `annexa-collector soa export`"}},
		{"yaml syntax", "controls:\n  - control_id: [\n", YAML, []string{"f:2: not YAML: did not find expected node content"}},
		{"yaml typo", "controls:\n  - control_id: iso27001-2022/5.1\n    applicable: no\n    justificaton: x\n", YAML, []string{
			"f:4:5: unknown key \"justificaton\"; a control has control_id, applicable and justification (title, author and updated_at are ignored)",
			"f:2:5: justification: a control marked not applicable needs a justification (why it does not apply)",
		}},
		{"yaml alias", "controls:\n  - control_id: iso27001-2022/5.1\n    applicable: yes\n    justification: &j x\n  - control_id: iso27001-2022/5.2\n    applicable: yes\n    justification: *j\n", YAML,
			[]string{"f:7:20: justification: want text, not an alias (*name)"}},
		{"yaml two docs", "controls: []\n---\ncontrols: []\n", YAML, []string{"f:2: a second YAML document (after ---); keep one"}},
		{"yaml not a list", "controls: {control_id: x}\n", YAML, []string{"f:1:11: controls: want a list of controls (each \"- control_id: …\")"}},
		{"yaml other key", "control: []\n", YAML, []string{
			"f:1:1: unknown key \"control\"; the file holds one key, controls",
			"f:1:1: no controls: list; start from `annexa-collector soa export --format yaml`",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read(strings.NewReader(tc.in), "f", tc.f, known(t))
			if got := problemsOf(t, err); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("problems:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestReadBounds(t *testing.T) {
	big := "control_id,applicable,justification\n" + strings.Repeat("x", MaxBytes)
	_, err := Read(strings.NewReader(big), "big.csv", CSV, known(t))
	if got := problemsOf(t, err); len(got) != 1 || !strings.Contains(got[0], "larger than 4 MiB") {
		t.Errorf("a file over the size bound: %q", got)
	}
	var b strings.Builder
	b.WriteString("control_id,applicable,justification\n")
	for range MaxRows + 1 {
		b.WriteString("iso27001-2022/5.1,yes,x\n")
	}
	_, err = Read(strings.NewReader(b.String()), "many.csv", CSV, known(t))
	if got := problemsOf(t, err); len(got) != 1 || got[0] != "many.csv:10002: more than 10000 rows; a Statement of Applicability has one row per control" {
		t.Errorf("a file over the row bound: %q", got)
	}
	// Problems beyond the listed ones are counted, not dropped silently.
	b.Reset()
	b.WriteString("control_id,applicable,justification\n")
	for range 60 {
		b.WriteString("iso27001-2022/5.1,maybe,x\n")
	}
	_, err = Read(strings.NewReader(b.String()), "f.csv", CSV, known(t))
	var e *Error
	if !errors.As(err, &e) || len(e.Problems) != maxProblems || e.More != 60+59-maxProblems || !strings.Contains(e.Error(), "f.csv: 119 problems") ||
		!strings.HasSuffix(e.Error(), "and 69 more") {
		t.Errorf("many problems: %v", err)
	}
}

func TestFormatOf(t *testing.T) {
	for _, tc := range []struct{ name, flag, want, err string }{
		{"soa.csv", "", "csv", ""}, {"SOA.YML", "", "yaml", ""}, {"soa.yaml", "", "yaml", ""},
		{"soa.xlsx", "", "", "soa.xlsx: cannot tell the format from the name; give --format csv or --format yaml"},
		{"soa.xlsx", "csv", "csv", ""}, {"x", "json", "", `format "json": want csv or yaml`},
	} {
		f, err := FormatOf(tc.name, tc.flag)
		if string(f) != tc.want || (err == nil) != (tc.err == "") || (err != nil && err.Error() != tc.err) {
			t.Errorf("FormatOf(%q, %q) = %q, %v; want %q, %s", tc.name, tc.flag, f, err, tc.want, tc.err)
		}
	}
}

// TestWriteReadRoundTrip: what export writes, import reads back as the
// same decisions, in both formats, formulas and newlines included.
func TestWriteReadRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	entries := []store.SoAEntry{
		{ControlID: "iso27001-2022/7.4", Applicable: false, Justification: "=HYPERLINK(\"http://x\")\nsecond line, with \"quotes\"", Author: "@alice", SetAt: at},
		{ControlID: "iso27001-2022/5.1", Applicable: true, Justification: "-5 risk score; treats R-1", Author: "bob", SetAt: at},
		{ControlID: "retired-2019/1.1", Applicable: false, Justification: "gone", Author: "carol", SetAt: at},
	}
	lines, orphans := Lines(controls.Default().ControlList(), entries)
	if len(lines) != len(known(t)) || len(orphans) != 1 || orphans[0].ControlID != "retired-2019/1.1" {
		t.Fatalf("%d lines, orphans %v", len(lines), orphans)
	}
	for _, f := range []Format{CSV, YAML} {
		var buf bytes.Buffer
		if err := Write(&buf, f, lines, at); err != nil {
			t.Fatal(err)
		}
		if f == CSV {
			if !bytes.HasPrefix(buf.Bytes(), []byte("\uFEFFcontrol_id,title,applicable,justification,author,updated_at\n")) {
				t.Errorf("csv header: %q", buf.String()[:80])
			}
			if !strings.Contains(buf.String(), "\niso27001-2022/5.1,Policies for information security,yes,'-5 risk score; treats R-1,bob,2026-11-02T09:00:00Z\n") {
				t.Errorf("a cell starting with - is not defused, or the line is not as documented:\n%s", buf.String()[:400])
			}
			if strings.Contains(buf.String(), ",=") || strings.Contains(buf.String(), ",@") {
				t.Errorf("a formula cell is not defused")
			}
		}
		s, err := Read(&buf, "x", f, known(t))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if len(s.Rows) != len(lines) {
			t.Fatalf("%s: %d rows, want %d", f, len(s.Rows), len(lines))
		}
		for i, r := range s.Rows {
			l := lines[i]
			if r.ControlID != l.ControlID || r.Applicable != l.Applicable || r.Justification != l.Justification {
				t.Errorf("%s: row %d = %+v, want %+v", f, i, r, l)
			}
		}
	}
}
