package api

import (
	"context"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/annexa/annexa/collector/internal/store"
)

func (e *env) postSheet(path, key, contentType, body string) (int, map[string]any) {
	e.t.Helper()
	req, _ := http.NewRequest("POST", e.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	return decode(e.t, resp)
}

func ids(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		if m, ok := x.(map[string]any); ok {
			out = append(out, m["new"].(map[string]any)["control_id"].(string))
			continue
		}
		out = append(out, x.(string))
	}
	return out
}

// TestImportSoA: the API import is the command's: same checks, dry run,
// one soa.set per changed control by the key's name, nothing for a sheet
// with a bad row.
func TestImportSoA(t *testing.T) {
	e := newEnv(t, Limits{})
	admin, auditor := e.apiKey("alice", store.RoleAdmin), e.apiKey("audrey", store.RoleAuditor)
	ctx := context.Background()
	if _, err := e.db.SetSoA(ctx, store.SoAEntry{ControlID: "iso27001-2022/7.4", Applicable: false, Justification: "provider", Author: "bob"}); err != nil {
		t.Fatal(err)
	}
	logged := func() int { return e.count(`SELECT count(*) FROM governance_log WHERE action = 'soa.set'`) }
	sheet := "\uFEFFcontrol_id,title,applicable,justification\r\n" +
		"iso27001-2022/5.1,,yes,\"treats R-1\r\nand R-2\"\r\n" +
		"iso27001-2022/7.4,,no,provider\r\n" +
		"iso27001-2022/7.5,,TRUE,\r\n" +
		"iso27001-2022/8.1,,no,no endpoints\r\n"

	if code, m := e.postSheet("/v1/soa/import", auditor, "text/csv", sheet); code != 403 || !strings.Contains(m["error"].(string), "may only read") {
		t.Errorf("auditor import = %d %v", code, m)
	}
	if code, m := e.postSheet("/v1/soa/import", admin, "application/octet-stream", sheet); code != 415 || !strings.Contains(m["error"].(string), "text/csv or application/yaml") {
		t.Errorf("import of an unknown type = %d %v", code, m)
	}
	if code, m := e.postSheet("/v1/soa/import?dry_run=maybe", admin, "text/csv", sheet); code != 400 || m["field"] != "dry_run" {
		t.Errorf("dry_run=maybe = %d %v", code, m)
	}

	code, m := e.postSheet("/v1/soa/import?dry_run=true", admin, "text/csv; charset=utf-8", sheet)
	if code != 200 || m["dry_run"] != true || m["rows"] != 4.0 || m["added"] != 2.0 || m["changed"] != 0.0 ||
		!reflect.DeepEqual(ids(m["changes"]), []string{"iso27001-2022/5.1", "iso27001-2022/8.1"}) ||
		!reflect.DeepEqual(ids(m["unchanged"]), []string{"iso27001-2022/7.4", "iso27001-2022/7.5"}) ||
		m["unjustified_rows"] != 1.0 || !strings.Contains(m["warning"].(string), "iso27001-2022/7.5 (line 5)") {
		t.Fatalf("dry run = %d %v", code, m)
	}
	if first := m["changes"].([]any)[0].(map[string]any); first["old"] != nil || first["new"].(map[string]any)["justification"] != "treats R-1\nand R-2" ||
		first["new"].(map[string]any)["author"] != "alice" {
		t.Errorf("first change = %v", first)
	}
	if n := logged(); n != 1 {
		t.Fatalf("the dry run wrote %d soa.set entries", n-1)
	}

	// One bad row: 400 with every problem placed, nothing written.
	bad := sheet + "iso27001-2022/5.99,,no,\r\n"
	code, m = e.postSheet("/v1/soa/import", admin, "text/csv", bad)
	if code != 400 || len(m["problems"].([]any)) != 2 {
		t.Fatalf("bad sheet = %d %v", code, m)
	}
	if p := m["problems"].([]any)[0].(map[string]any); p["line"] != 7.0 || p["column"] != 1.0 || p["where"] != "column A (control_id)" ||
		!strings.Contains(p["error"].(string), "did you mean iso27001-2022/5.9?") {
		t.Errorf("problem = %v", p)
	}
	if n := logged(); n != 1 {
		t.Fatalf("a refused sheet wrote %d soa.set entries", n-1)
	}

	code, m = e.postSheet("/v1/soa/import", admin, "text/csv", sheet)
	if code != 200 || m["dry_run"] != false || m["added"] != 2.0 {
		t.Fatalf("import = %d %v", code, m)
	}
	if n := logged(); n != 3 {
		t.Errorf("import wrote %d soa.set entries, want 2", n-1)
	}
	if n := e.count(`SELECT count(*) FROM governance_log WHERE action = 'soa.set' AND actor = 'alice'`); n != 2 {
		t.Errorf("%d entries by alice, want 2", n)
	}

	// YAML by ?format=, and the same sheet again: nothing written.
	yaml := "controls:\n  - control_id: iso27001-2022/5.1\n    applicable: yes\n    justification: \"treats R-1\\nand R-2\"\n"
	if code, m := e.postSheet("/v1/soa/import?format=yaml", admin, "", yaml); code != 200 || m["added"] != 0.0 || m["changed"] != 0.0 || len(m["changes"].([]any)) != 0 {
		t.Errorf("unchanged yaml import = %d %v", code, m)
	}
	if n := logged(); n != 3 {
		t.Errorf("an unchanged import wrote %d entries", n-3)
	}
}
