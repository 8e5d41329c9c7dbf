package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/annexa/annexa/collector/internal/auth"
	"github.com/annexa/annexa/collector/internal/store"
)

// apiKey creates a key with a role in the env's store.
func (e *env) apiKey(name, role string) string {
	e.t.Helper()
	key, id, hash := auth.NewAPIKey()
	if _, err := e.db.CreateAPIKey(context.Background(), store.APIKey{ID: id, Name: name, Role: role, SecretHash: hash}, "test"); err != nil {
		e.t.Fatal(err)
	}
	return key
}

func (e *env) call(method, path, key string, body any) (int, map[string]any) {
	e.t.Helper()
	var rd *bytes.Reader
	if s, ok := body.(string); ok {
		rd = bytes.NewReader([]byte(s))
	} else {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, rd)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	return decode(e.t, resp)
}

func TestGovernanceAuth(t *testing.T) {
	e := newEnv(t, Limits{})
	admin, auditor := e.apiKey("alice", store.RoleAdmin), e.apiKey("audrey", store.RoleAuditor)
	_, agentCred := e.agent()
	body := map[string]any{"check_id": "datasets.not_world_readable", "subject_pattern": "**", "owner": "o", "approver": "a", "reason": "r",
		"expires_at": time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)}
	cases := []struct {
		name, method, path, key string
		want                    int
		msg                     string
	}{
		{"no key", "GET", "/v1/exceptions", "", 401, "missing header Authorization: Bearer <API key>"},
		{"agent credential", "GET", "/v1/exceptions", agentCred, 401, "API key is not of the form ok_<id>_<secret>"},
		{"wrong secret", "GET", "/v1/exceptions", admin[:len(admin)-4] + "0000", 401, "the API key is not known to this collector"},
		{"auditor reads", "GET", "/v1/exceptions", auditor, 200, ""},
		{"auditor may not write", "POST", "/v1/exceptions", auditor, 403, "audrey is an auditor and may only read"},
		{"auditor may not revoke", "POST", "/v1/attestations/att_x/revoke", auditor, 403, "may only read"},
		{"auditor may not set SoA", "POST", "/v1/soa", auditor, 403, "may only read"},
		{"admin writes", "POST", "/v1/exceptions", admin, 201, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, m := e.call(c.method, c.path, c.key, body)
			if code != c.want || (c.msg != "" && !strings.Contains(m["error"].(string), c.msg)) {
				t.Errorf("%s %s = %d %v, want %d %q", c.method, c.path, code, m, c.want, c.msg)
			}
		})
	}
	if n := e.count(`SELECT count(*) FROM exceptions`); n != 1 {
		t.Errorf("%d exceptions stored, want only the admin's", n)
	}

	// A revoked key stops working at once.
	keys, _ := e.db.APIKeys(context.Background())
	if err := e.db.RevokeAPIKey(context.Background(), keys[0].ID, "test"); err != nil {
		t.Fatal(err)
	}
	if code, m := e.call("GET", "/v1/exceptions", admin, nil); code != 401 || !strings.Contains(m["error"].(string), "was revoked") {
		t.Errorf("revoked key = %d %v", code, m)
	}
}

func TestGovernanceEndpoints(t *testing.T) {
	e := newEnv(t, Limits{})
	admin := e.apiKey("alice", store.RoleAdmin)
	exp := time.Now().Add(30 * 24 * time.Hour).UTC().Format(time.RFC3339)

	// Bad input names the field and what to fix.
	for _, c := range []struct {
		name  string
		body  any
		field string
		msg   string
	}{
		{"unknown check", map[string]any{"check_id": "datasets.nope", "subject_pattern": "**", "owner": "o", "approver": "a", "reason": "r", "expires_at": exp},
			"check_id", `check "datasets.nope" is not loaded`},
		{"too long", map[string]any{"check_id": "datasets.not_world_readable", "subject_pattern": "**", "owner": "o", "approver": "a", "reason": "r",
			"expires_at": time.Now().AddDate(1, 1, 0).UTC().Format(time.RFC3339)}, "expires_at", "more than 12 months ahead"},
		{"misspelt field", `{"check": "x"}`, "", `unknown field "check"`},
	} {
		code, m := e.call("POST", "/v1/exceptions", admin, c.body)
		if code != 400 || !strings.Contains(m["error"].(string), c.msg) || (c.field != "" && m["field"] != c.field) {
			t.Errorf("%s: %d %v, want 400 on %s saying %q", c.name, code, m, c.field, c.msg)
		}
	}

	code, m := e.call("POST", "/v1/exceptions", admin, map[string]any{"check_id": "datasets.not_world_readable",
		"subject_pattern": "dataset:/srv/scratch/**", "owner": "ml", "approver": "ciso", "reason": "synthetic data", "expires_at": exp})
	if code != 201 || m["created_by"] != "alice" || !strings.HasPrefix(m["id"].(string), "exc_") {
		t.Fatalf("add exception = %d %v", code, m)
	}
	id := m["id"].(string)
	if code, m := e.call("POST", "/v1/exceptions/"+id+"/revoke", admin, nil); code != 200 || m["revoked_by"] != "alice" {
		t.Errorf("revoke = %d %v", code, m)
	}
	if code, m := e.call("POST", "/v1/exceptions/"+id+"/revoke", admin, nil); code != 409 {
		t.Errorf("second revoke = %d %v, want 409", code, m)
	}

	// Attestations only for manual controls.
	if code, m := e.call("POST", "/v1/attestations", admin, map[string]any{"control_id": "iso27001-2022/8.3", "document_ref": "d", "author": "x", "expires_at": exp}); code != 400 ||
		!strings.Contains(m["error"].(string), "has automated checks") {
		t.Errorf("attest automated = %d %v", code, m)
	}
	if code, m := e.call("POST", "/v1/attestations", admin, map[string]any{"control_id": "iso27001-2022/5.1", "document_ref": "ISMS-POL-001", "author": "ciso", "expires_at": exp}); code != 201 {
		t.Errorf("attest = %d %v", code, m)
	}
	if code, m := e.call("POST", "/v1/soa", admin, map[string]any{"control_id": "iso27001-2022/7.4", "justification": "x"}); code != 400 || m["field"] != "applicable" {
		t.Errorf("soa without applicable = %d %v", code, m)
	}
	if code, m := e.call("POST", "/v1/soa", admin, map[string]any{"control_id": "iso27001-2022/7.4", "applicable": false, "justification": "no premises"}); code != 200 || m["author"] != "alice" {
		t.Errorf("soa = %d %v", code, m)
	}
	// An inclusion without a reason is recorded, as it always was, with a
	// warning saying what to add; one with a reason has no warning.
	if code, m := e.call("POST", "/v1/soa", admin, map[string]any{"control_id": "iso27001-2022/7.5", "applicable": true}); code != 200 || m["applicable"] != true ||
		!strings.Contains(fmt.Sprint(m["warning"]), "give a reason for including iso27001-2022/7.5, e.g. the risk it treats or the requirement it meets") {
		t.Errorf("soa inclusion without a reason = %d %v", code, m)
	}
	if code, m := e.call("POST", "/v1/soa", admin, map[string]any{"control_id": "iso27001-2022/7.6", "applicable": true, "justification": "Risk R-3"}); code != 200 || m["warning"] != nil || m["justification"] != "Risk R-3" {
		t.Errorf("soa inclusion with a reason = %d %v", code, m)
	}

	// The report applies the decisions.
	code, rep := e.call("GET", "/v1/report", admin, nil)
	if code != 200 {
		t.Fatalf("report = %d", code)
	}
	status := map[string]string{}
	for _, c := range rep["controls"].([]any) {
		c := c.(map[string]any)
		status[c["control_id"].(string)] = c["status"].(string)
	}
	if status["iso27001-2022/5.1"] != "compliant" || status["iso27001-2022/7.4"] != "not_applicable" {
		t.Errorf("report statuses 5.1 = %s, 7.4 = %s", status["iso27001-2022/5.1"], status["iso27001-2022/7.4"])
	}
	if n := len(rep["exceptions"].([]any)); n != 1 {
		t.Errorf("report lists %d exceptions", n)
	}

	code, m = e.call("GET", "/v1/governance/log", admin, nil)
	evs := m["events"].([]any)
	var actions []string
	for _, ev := range evs {
		actions = append(actions, ev.(map[string]any)["action"].(string))
	}
	if code != 200 || strings.Join(actions, ",") != "apikey.create,exception.add,exception.revoke,attestation.add,soa.set,soa.set,soa.set" {
		t.Errorf("log = %d %v", code, actions)
	}
	if code, m := e.call("GET", "/v1/governance/log?after=x", admin, nil); code != 400 || m["field"] != "after" {
		t.Errorf("bad after = %d %v", code, m)
	}
	if code, m := e.call("GET", "/v1/controls/history?control=iso27001-2022/5.1", admin, nil); code != 200 || m["control_id"] != "iso27001-2022/5.1" {
		t.Errorf("history = %d %v", code, m)
	}
	if code, m := e.call("DELETE", "/v1/exceptions", admin, nil); code != 405 || !strings.Contains(m["error"].(string), "use GET, POST") {
		t.Errorf("DELETE = %d %v", code, m)
	}
}

// The report names every host, asset and failing subject: it is read with
// the governance readers' credentials, and a caller without them is told
// how to get one.
func TestReportNeedsAPIKey(t *testing.T) {
	e := newEnv(t, Limits{})
	admin, auditor := e.apiKey("alice", store.RoleAdmin), e.apiKey("audrey", store.RoleAuditor)
	revoked := e.apiKey("gone", store.RoleAuditor)
	id, _, _ := auth.ParseAPIKey(revoked)
	if err := e.db.RevokeAPIKey(context.Background(), id, "test"); err != nil {
		t.Fatal(err)
	}
	_, agentCred := e.agent()
	for _, c := range []struct {
		name, key string
		want      int
		msg       string
	}{
		{"no key", "", 401, "missing header Authorization: Bearer <API key>; an administrator creates one on the collector host with `annexa-collector apikey create --data DIR --name NAME --role auditor|admin`"},
		{"agent credential", agentCred, 401, "annexa-collector apikey create"},
		{"revoked key", revoked, 401, "was revoked"},
		{"auditor", auditor, 200, ""},
		{"admin", admin, 200, ""},
	} {
		code, m := e.call("GET", "/v1/report", c.key, nil)
		if code != c.want {
			t.Errorf("%s: %d %v, want %d", c.name, code, m, c.want)
			continue
		}
		if c.want == 200 {
			if _, ok := m["controls"].([]any); !ok {
				t.Errorf("%s: not a report: %v", c.name, m)
			}
			continue
		}
		if msg, _ := m["error"].(string); !strings.Contains(msg, c.msg) {
			t.Errorf("%s: error %q, want it to say %q", c.name, msg, c.msg)
		}
	}
}
