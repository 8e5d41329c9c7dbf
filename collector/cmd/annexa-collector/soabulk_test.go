package main

import (
	"bytes"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/annexa/annexa/collector/internal/controls"
)

type logRow struct{ Actor, Action, Ref, Detail string }

// governanceLog reads the log straight from the database file.
func governanceLog(t *testing.T, data string) []logRow {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(data, dbName)+"?mode=ro&_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT actor, action, ref, detail FROM governance_log ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []logRow
	for rows.Next() {
		var r logRow
		if err := rows.Scan(&r.Actor, &r.Action, &r.Ref, &r.Detail); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func readSheet(t *testing.T, path string) [][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("\uFEFF")) {
		t.Errorf("%s does not start with a byte order mark; Excel would read it as Windows-1252", path)
	}
	recs, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(b, []byte("\uFEFF")))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func writeSheet(t *testing.T, path string, recs [][]string) {
	t.Helper()
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.UseCRLF = true
	if err := w.WriteAll(recs); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

func soaListJSON(t *testing.T, data string) map[string]string {
	t.Helper()
	out, errs, code := cli(t, "soa", "list", "--data", data, "--json")
	if code != 0 {
		t.Fatalf("soa list = %d %s", code, errs)
	}
	var list []struct {
		ControlID     string `json:"control_id"`
		Applicable    bool   `json:"applicable"`
		Justification string `json:"justification"`
		Author        string `json:"author"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, e := range list {
		m[e.ControlID] = yesNo(e.Applicable) + " " + e.Author + ": " + e.Justification
	}
	return m
}

func unjustifiedIDs(t *testing.T, data string) map[string]bool {
	t.Helper()
	out, errs, code := cli(t, "report", "--data", data)
	if code != 0 {
		t.Fatalf("report = %d %s", code, errs)
	}
	var r struct {
		Unjustified []struct {
			ControlID string `json:"control_id"`
		} `json:"unjustified_inclusions"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, u := range r.Unjustified {
		ids[u.ControlID] = true
	}
	return ids
}

// TestSoAExportImport is the workflow a compliance lead follows: export
// every control, import it untouched (nothing written), fill in a few
// rows, dry-run, import: one soa.set log entry per changed control, by the
// operator, and the report stops flagging the rows given a reason.
func TestSoAExportImport(t *testing.T) {
	data := t.TempDir()
	if _, _, code := cli(t, "token", "create", "--data", data); code != 0 {
		t.Fatal("token create failed")
	}
	if _, errs, code := cli(t, "soa", "set", "--data", data, "--control", "iso27001-2022/7.4", "--not-applicable",
		"--justification", "provider's data centre", "--author", "alice"); code != 0 {
		t.Fatalf("soa set = %d %s", code, errs)
	}
	catalog := controls.Default().ControlList()
	sheet := filepath.Join(data, "soa.csv")
	if _, errs, code := cli(t, "soa", "export", "--data", data, "--out", sheet); code != 0 {
		t.Fatalf("soa export = %d %s", code, errs)
	}
	recs := readSheet(t, sheet)
	if !reflect.DeepEqual(recs[0], []string{"control_id", "title", "applicable", "justification", "author", "updated_at"}) {
		t.Errorf("header = %q", recs[0])
	}
	if len(recs) != len(catalog)+1 {
		t.Fatalf("export has %d rows, the catalog %d controls", len(recs)-1, len(catalog))
	}
	row := map[string][]string{}
	for i, r := range recs[1:] {
		if r[0] != catalog[i].ID || r[1] != catalog[i].Title {
			t.Errorf("row %d = %q, want %s (%s) in catalog order", i+1, r[:2], catalog[i].ID, catalog[i].Title)
		}
		row[r[0]] = r
	}
	if r := row["iso27001-2022/7.4"]; r[2] != "no" || r[3] != "provider's data centre" || r[4] != "alice" || !strings.HasPrefix(r[5], "20") {
		t.Errorf("7.4 exported as %q", r)
	}
	if r := row["iso27001-2022/5.1"]; r[2] != "yes" || r[3] != "" || r[4] != "" || r[5] != "" {
		t.Errorf("5.1, never decided, exported as %q", r)
	}
	yamlSheet := filepath.Join(data, "soa.yaml")
	if _, errs, code := cli(t, "soa", "export", "--data", data, "--format", "yaml", "--out", yamlSheet); code != 0 {
		t.Fatalf("soa export yaml = %d %s", code, errs)
	}

	// Untouched sheets change nothing and write nothing.
	logBefore := governanceLog(t, data)
	for _, f := range []string{sheet, yamlSheet} {
		out, errs, code := cli(t, "soa", "import", "--data", data, "--author", "bob", f)
		if code != 0 || !strings.Contains(out, "131 rows: 0 added, 0 changed, 131 unchanged\nnothing to change; nothing written\n") {
			t.Errorf("import of the untouched %s = %d\n%s%s", f, code, out, errs)
		}
		if !strings.Contains(errs, "warning: 130 rows include a control with no justification, first iso27001-2022/5.1 (line ") {
			t.Errorf("no warning about the rows still without a reason: %s", errs)
		}
	}
	if got := governanceLog(t, data); len(got) != len(logBefore) {
		t.Fatalf("untouched imports wrote %d log entries", len(got)-len(logBefore))
	}

	// The lead fills in three rows, as a spreadsheet saves them (CRLF).
	for _, r := range recs[1:] {
		switch r[0] {
		case "iso27001-2022/5.1":
			r[3] = "Treats R-1 (no written policy).\nRequired by the board."
		case "iso27001-2022/7.4":
			r[2], r[3] = "yes", "Moved into our own data centre."
		case "iso27001-2022/8.1":
			r[2], r[3] = "no", "No endpoints in scope: training hosts only."
		}
	}
	writeSheet(t, sheet, recs)
	out, errs, code := cli(t, "soa", "import", "--data", data, "--author", "bob", "--dry-run", sheet)
	if code != 0 {
		t.Fatalf("dry run = %d %s", code, errs)
	}
	for _, want := range []string{
		"added     iso27001-2022/5.1 (Policies for information security)\n" +
			"            applicable: yes (before: no entry, applicable by default)\n" +
			"            justification: \"Treats R-1 (no written policy).\\nRequired by the board.\"\n",
		"changed   iso27001-2022/7.4 (Physical security monitoring)\n" +
			"            applicable: no -> yes\n" +
			"            justification: \"provider's data centre\" -> \"Moved into our own data centre.\"\n" +
			"            (before: set by alice at ",
		"added     iso27001-2022/8.1 (User end point devices)\n            applicable: no (before: no entry, applicable by default)\n",
		"unchanged iso27001-2022/5.2\n",
		"131 rows: 2 added, 1 changed, 128 unchanged\ndry run: nothing written; run again without --dry-run to record 3 changes as bob\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, out)
		}
	}
	if got := governanceLog(t, data); len(got) != len(logBefore) {
		t.Fatalf("the dry run wrote %d log entries", len(got)-len(logBefore))
	}
	if got := soaListJSON(t, data); len(got) != 1 {
		t.Fatalf("the dry run changed the SoA: %v", got)
	}

	out, errs, code = cli(t, "soa", "import", "--data", data, "--author", "bob", sheet)
	if code != 0 || !strings.Contains(out, "131 rows: 2 added, 1 changed, 128 unchanged\nrecorded 3 changes as bob") {
		t.Fatalf("import = %d\n%s%s", code, out, errs)
	}
	logAfter := governanceLog(t, data)
	var added []string
	for _, r := range logAfter[len(logBefore):] {
		added = append(added, r.Action+" "+r.Ref+" by "+r.Actor)
	}
	want := []string{"soa.set iso27001-2022/5.1 by bob", "soa.set iso27001-2022/7.4 by bob", "soa.set iso27001-2022/8.1 by bob"}
	if !reflect.DeepEqual(added, want) {
		t.Errorf("log entries of the import = %q, want %q", added, want)
	}
	wantSoA := map[string]string{
		"iso27001-2022/5.1": "yes bob: Treats R-1 (no written policy).\nRequired by the board.",
		"iso27001-2022/7.4": "yes bob: Moved into our own data centre.",
		"iso27001-2022/8.1": "no bob: No endpoints in scope: training hosts only.",
	}
	if got := soaListJSON(t, data); !reflect.DeepEqual(got, wantSoA) {
		t.Errorf("SoA after import = %q, want %q", got, wantSoA)
	}
	u := unjustifiedIDs(t, data)
	if u["iso27001-2022/5.1"] || u["iso27001-2022/7.4"] || !u["iso27001-2022/5.2"] || len(u) != len(catalog)-3 {
		t.Errorf("report still flags %d controls (5.1 %t, 7.4 %t, 5.2 %t); want all but the 2 justified and the 1 excluded", len(u),
			u["iso27001-2022/5.1"], u["iso27001-2022/7.4"], u["iso27001-2022/5.2"])
	}

	// Importing the same sheet again is a no-op.
	if out, _, code := cli(t, "soa", "import", "--data", data, "--author", "carol", sheet); code != 0 || !strings.Contains(out, "nothing written") {
		t.Errorf("re-import = %d %s", code, out)
	}
	if got := governanceLog(t, data); len(got) != len(logAfter) {
		t.Errorf("re-import wrote %d log entries", len(got)-len(logAfter))
	}
	if out, errs, code := cli(t, "verify", "--data", data); code != 0 {
		t.Errorf("verify = %d %s %s", code, out, errs)
	}
}

// TestSoAImportAllOrNothing: one bad row among good ones stops the whole
// sheet, in a dry run too, and the error says where and what to fix.
func TestSoAImportAllOrNothing(t *testing.T) {
	data := t.TempDir()
	if _, _, code := cli(t, "token", "create", "--data", data); code != 0 {
		t.Fatal("token create failed")
	}
	sheet := filepath.Join(data, "soa.csv")
	writeSheet(t, sheet, [][]string{
		{"control_id", "applicable", "justification"},
		{"iso27001-2022/5.1", "yes", "treats R-1"},
		{"iso27001-2022/5.2", "yes", "treats R-2"},
		{"iso27001-2022/7.4", "no", ""},
		{"iso27001-2022/8.1", "no", "no endpoints"},
	})
	for _, args := range [][]string{{"--dry-run"}, {}} {
		out, errs, code := cli(t, append(append([]string{"soa", "import", "--data", data}, args...), sheet)...)
		want := sheet + ": 1 problem; nothing was imported: fix it and run again\n  " +
			sheet + ":4:22: column C (justification): a control marked not applicable needs a justification (why it does not apply)\n"
		if code != 1 || out != "" || !strings.Contains(errs, want) {
			t.Errorf("import %v = %d\nstdout %q\nstderr %s\nwant stderr to contain %s", args, code, out, errs, want)
		}
	}
	if got := governanceLog(t, data); len(got) != 0 {
		t.Errorf("a refused sheet wrote %d log entries", len(got))
	}
	if got := soaListJSON(t, data); len(got) != 0 {
		t.Errorf("a refused sheet changed the SoA: %v", got)
	}
}

// TestSoAImportExcelFile imports the Excel-style sheet of the soasheet
// fixtures (byte order mark, CRLF, a multi-line cell, TRUE/FALSE, a
// defused formula, an empty row, a notes column).
func TestSoAImportExcelFile(t *testing.T) {
	data := t.TempDir()
	if _, _, code := cli(t, "token", "create", "--data", data); code != 0 {
		t.Fatal("token create failed")
	}
	file := filepath.Join("..", "..", "internal", "soasheet", "testdata", "excel-utf8.csv")
	out, errs, code := cli(t, "soa", "import", "--data", data, "--author", "dana", file)
	if code != 0 || !strings.Contains(out, "ignored columns: [\"notes\"]\n") || !strings.Contains(out, "5 rows: 4 added, 0 changed, 1 unchanged") {
		t.Fatalf("import = %d\n%s%s", code, out, errs)
	}
	if !strings.Contains(errs, "warning: 1 row includes a control with no justification, first iso42001-2023/A.2.2 (line 7)") {
		t.Errorf("stderr = %s", errs)
	}
	got := soaListJSON(t, data)
	if got["iso27001-2022/7.4"] != "no dana: =Hosted in a provider's data centre; physical monitoring is the provider's (contract §4.2)." ||
		got["iso27001-2022/5.2"] != "yes dana: Treats risk R-12 (unclear ownership of training data).\nOwner: CISO." {
		t.Errorf("SoA = %q", got)
	}
	if n := len(governanceLog(t, data)); n != 4 {
		t.Errorf("%d log entries, want 4", n)
	}
}

func TestSoAImportUsage(t *testing.T) {
	data := t.TempDir()
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"soa", "import", "--data", data}, 2, "soa import takes exactly one FILE"},
		{[]string{"soa", "import", "--data", data, "soa.xlsx"}, 2, "soa.xlsx: cannot tell the format from the name; give --format csv or --format yaml"},
		{[]string{"soa", "import", "soa.csv"}, 2, "--data DIR is required"},
		{[]string{"soa", "export", "--data", data, "--format", "xlsx"}, 2, `format "xlsx": want csv or yaml`},
		{[]string{"soa", "import", "--data", data, filepath.Join(data, "missing.csv")}, 1, "no such file"},
	} {
		_, errs, code := cli(t, tc.args...)
		if code != tc.code || !strings.Contains(errs, tc.want) {
			t.Errorf("%q = %d %s; want %d and %q", tc.args, code, errs, tc.code, tc.want)
		}
	}
}
