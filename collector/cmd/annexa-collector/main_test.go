package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe to read while serve writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func cli(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), args, &out, &errb)
	code := exitCode(err, &errb)
	return out.String(), errb.String(), code
}

var listenRE = regexp.MustCompile(`annexa-collector listening on (http://127\.0\.0\.1:[0-9]+)`)

func TestServeEnrollReportRevoke(t *testing.T) {
	data := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	stderr := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--data", data, "--plain-http"}, io.Discard, stderr)
	}()
	var base string
	for deadline := time.Now().Add(10 * time.Second); base == ""; {
		if m := listenRE.FindStringSubmatch(stderr.String()); m != nil {
			base = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("no listening line; stderr:\n%s", stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}

	tok, errs, code := cli(t, "token", "create", "--data", data, "--ttl", "1h")
	if code != 0 || !strings.HasPrefix(tok, "at_") || strings.Count(tok, "\n") != 1 {
		t.Fatalf("token create = %q %q %d", tok, errs, code)
	}
	resp, err := http.Post(base+"/v1/enroll", "application/json",
		strings.NewReader(`{"token":"`+strings.TrimSpace(tok)+`","host":"gpu1","agent_version":"0.1.0"}`))
	if err != nil {
		t.Fatal(err)
	}
	var enrolled struct{ AgentID, Credential string }
	json.NewDecoder(resp.Body).Decode(&struct {
		AgentID    *string `json:"agent_id"`
		Credential *string `json:"credential"`
	}{&enrolled.AgentID, &enrolled.Credential})
	resp.Body.Close()
	if resp.StatusCode != 200 || enrolled.AgentID == "" {
		t.Fatalf("enroll = %s", resp.Status)
	}
	if strings.Contains(stderr.String(), enrolled.Credential) || strings.Contains(stderr.String(), strings.TrimSpace(tok)) {
		t.Error("a secret appears in the log")
	}

	out, _, code := cli(t, "agents", "list", "--data", data)
	if code != 0 || !strings.Contains(out, enrolled.AgentID) || !strings.Contains(out, "gpu1") || !strings.Contains(out, "ACKED SEQ") {
		t.Errorf("agents list = %d\n%s", code, out)
	}
	reportFile := filepath.Join(t.TempDir(), "r.json")
	if _, errs, code := cli(t, "report", "--data", data, "--format", "json", "--out", reportFile); code != 0 {
		t.Fatalf("report = %d %s", code, errs)
	}
	var rep struct {
		Controls []struct{ Status string } `json:"controls"`
		Hosts    []struct {
			Host string `json:"host"`
		} `json:"hosts"`
	}
	b, _ := os.ReadFile(reportFile)
	if err := json.Unmarshal(b, &rep); err != nil || len(rep.Controls) != 131 || len(rep.Hosts) != 1 {
		t.Errorf("report = %v %s", err, b)
	}
	// --catalog merges a folder of the user's own catalogs and checks.
	catDir := t.TempDir()
	os.WriteFile(filepath.Join(catDir, "acme.yaml"), []byte("framework: acme\ncontrols:\n  - id: \"1\"\n    title: One\n"), 0o600)
	if _, errs, code := cli(t, "report", "--data", data, "--format", "json", "--out", reportFile, "--catalog", catDir); code != 0 {
		t.Fatalf("report --catalog = %d %s", code, errs)
	}
	b, _ = os.ReadFile(reportFile)
	if err := json.Unmarshal(b, &rep); err != nil || len(rep.Controls) != 132 {
		t.Errorf("report with --catalog has %d controls: %v", len(rep.Controls), err)
	}
	os.WriteFile(filepath.Join(catDir, "checks.yaml"), []byte("checks:\n  - id: x\n    title: X\n    kind: dataset\n    assert: attrs.a ==\n    severity: low\n    controls: [acme/1]\n"), 0o600)
	if _, errs, code := cli(t, "report", "--data", data, "--catalog", catDir); code == 0 || !strings.Contains(errs, `checks.yaml:2: check "x": assert:`) {
		t.Errorf("report with a broken check = %d %s", code, errs)
	}
	// serve refuses to start on the same broken check, before it listens.
	if _, errs, code := cli(t, "serve", "--data", data, "--listen", "127.0.0.1:0", "--plain-http", "--catalog", catDir); code == 0 || !strings.Contains(errs, `checks.yaml:2: check "x": assert:`) || strings.Contains(errs, "listening on") {
		t.Errorf("serve with a broken check = %d %s", code, errs)
	}
	if out, _, code := cli(t, "agents", "revoke", enrolled.AgentID, "--data", data); code != 0 || !strings.Contains(out, "revoked") {
		t.Errorf("revoke = %d %s", code, out)
	}
	if out, _, _ := cli(t, "agents", "list", "--data", data); strings.Contains(out, " no\n") {
		t.Errorf("agent still listed as not revoked:\n%s", out)
	}
	if out, errs, code := cli(t, "verify", "--data", data); code != 0 || !strings.Contains(out, "evidence history and the governance log intact") {
		t.Errorf("verify = %d %s %s", code, out, errs)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve returned %v after cancel", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop")
	}
}

func TestVerifyFailsOnTampering(t *testing.T) {
	data := t.TempDir()
	if _, _, code := cli(t, "token", "create", "--data", data); code != 0 {
		t.Fatal("token create failed")
	}
	db, err := sql.Open("sqlite3", filepath.Join(data, dbName))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// A row with a hash that cannot match stands in for an edited one.
	if _, err := db.Exec(`INSERT INTO agents (id, host, credential_hash, enrolled_at) VALUES ('a', 'h', 'x', '2026-01-01T00:00:00.000000000Z');
		INSERT INTO history (agent_id, seq, kind, subject, op, observed_at, attributes, received_at, prev_hash, hash)
		VALUES ('a', 1, 'dataset', 'd', 'upsert', 't', '{}', 't', '', 'forged')`); err != nil {
		t.Fatal(err)
	}
	_, errs, code := cli(t, "verify", "--data", data)
	if code != 1 || !strings.Contains(errs, "history row 1") {
		t.Errorf("verify = %d %q, want exit 1 naming row 1", code, errs)
	}
}

func TestUsageErrors(t *testing.T) {
	data := t.TempDir()
	cli(t, "token", "create", "--data", data)
	for _, tc := range []struct {
		args []string
		code int
		says string
	}{
		{nil, 2, "no command"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"; commands are init, serve,`},
		{[]string{"serve", "--bogus"}, 2, "-bogus"},
		{[]string{"serve"}, 2, "--data DIR is required"},
		{[]string{"token"}, 2, "token create"},
		{[]string{"agents", "delete"}, 2, "agents delete"},
		{[]string{"agents", "revoke", "--data", data}, 2, "exactly one agent ID"},
		{[]string{"report", "--data", data, "--format", "docx"}, 2, "format docx is not supported yet; supported: "},
		{[]string{"report", "--data", filepath.Join(data, "typo")}, 1, "no collector database"},
		{[]string{"agents", "revoke", "--data", data, "nobody"}, 1, "no agent"},
	} {
		_, errs, code := cli(t, tc.args...)
		if code != tc.code || !strings.Contains(errs, tc.says) {
			t.Errorf("%v = exit %d %q, want %d saying %q", tc.args, code, errs, tc.code, tc.says)
		}
	}
	if out, _, code := cli(t, "--version"); code != 0 || !strings.HasPrefix(out, "annexa-collector ") {
		t.Errorf("--version = %d %q", code, out)
	}
}
