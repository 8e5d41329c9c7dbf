package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

type reportDoc struct {
	Controls []struct {
		ControlID string     `json:"control_id"`
		Status    string     `json:"status"`
		Since     *time.Time `json:"since"`
		Checks    []struct {
			ID               string            `json:"id"`
			FailingSubjects  []json.RawMessage `json:"failing_subjects"`
			ExceptedSubjects []json.RawMessage `json:"excepted_subjects"`
		} `json:"checks"`
		EvidenceRefs []string `json:"evidence_refs"`
	} `json:"controls"`
	Exceptions []struct {
		ID    string `json:"id"`
		State string `json:"state"`
	} `json:"exceptions"`
}

func reportOf(t *testing.T, data string) map[string]string {
	t.Helper()
	out, errs, code := cli(t, "report", "--data", data)
	if code != 0 {
		t.Fatalf("report = %d %s", code, errs)
	}
	var r reportDoc
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	st := map[string]string{}
	for _, c := range r.Controls {
		if c.Since == nil {
			t.Errorf("%s has no since", c.ControlID)
		}
		st[c.ControlID] = c.Status
	}
	return st
}

var idRE = regexp.MustCompile(`(exc|att)_[0-9a-f]{16}`)

func TestDecisionCommands(t *testing.T) {
	data := t.TempDir()
	if _, _, code := cli(t, "token", "create", "--data", data); code != 0 {
		t.Fatal("token create failed")
	}
	expires := time.Now().AddDate(0, 3, 0).UTC().Format("2006-01-02")

	out, errs, code := cli(t, "exceptions", "add", "--data", data, "--check", "datasets.not_world_readable", "--subject", "dataset:/srv/scratch/**",
		"--owner", "ml-platform", "--approver", "ciso", "--reason", "synthetic data only", "--expires", expires, "--by", "alice")
	if code != 0 || !strings.HasPrefix(out, "added exception exc_") {
		t.Fatalf("exceptions add = %d %q %q", code, out, errs)
	}
	excID := idRE.FindString(out)
	out, _, _ = cli(t, "exceptions", "list", "--data", data)
	if !strings.Contains(out, excID) || !strings.Contains(out, "dataset:/srv/scratch/**") || !strings.Contains(out, "active") || !strings.Contains(out, "synthetic data only") {
		t.Errorf("exceptions list:\n%s", out)
	}

	out, errs, code = cli(t, "attest", "--data", data, "--control", "iso27001-2022/5.1", "--document", "ISMS-POL-001 v3", "--author", "ciso", "--expires", "90d")
	if code != 0 || !strings.HasPrefix(out, "added attestation att_") {
		t.Fatalf("attest = %d %q %q", code, out, errs)
	}
	attID := idRE.FindString(out)
	if out, _, _ := cli(t, "attest", "list", "--data", data); !strings.Contains(out, attID) || !strings.Contains(out, "ISMS-POL-001 v3") || !strings.Contains(out, "active") {
		t.Errorf("attest list:\n%s", out)
	}
	if out, errs, code := cli(t, "soa", "set", "--data", data, "--control", "iso27001-2022/7.4", "--not-applicable", "--justification", "no premises of our own"); code != 0 ||
		out != "iso27001-2022/7.4 is not applicable: no premises of our own\n" {
		t.Fatalf("soa set = %d %q %q", code, out, errs)
	}
	// An inclusion without a reason is recorded with a warning on stderr;
	// with one, quietly.
	if out, errs, code := cli(t, "soa", "set", "--data", data, "--control", "iso27001-2022/7.5", "--applicable"); code != 0 ||
		out != "iso27001-2022/7.5 is applicable\n" || !strings.Contains(errs, "warning: saved, but the Statement of Applicability is incomplete until you give a reason for including iso27001-2022/7.5, e.g. the risk it treats or the requirement it meets") ||
		!strings.Contains(errs, "add --justification") {
		t.Fatalf("soa set --applicable = %d %q %q", code, out, errs)
	}
	if out, _, _ := cli(t, "soa", "list", "--data", data); !strings.Contains(out, "(none: give a reason for including it, e.g. the risk it treats or the requirement it meets)") {
		t.Errorf("soa list does not mark the inclusion without a reason:\n%s", out)
	}
	if out, errs, code := cli(t, "soa", "set", "--data", data, "--control", "iso27001-2022/7.5", "--applicable", "--justification", "Risk R-7: visitors on site"); code != 0 ||
		out != "iso27001-2022/7.5 is applicable\n" || errs != "" {
		t.Fatalf("soa set --applicable --justification = %d %q %q", code, out, errs)
	}
	if out, _, _ := cli(t, "soa", "list", "--data", data); !strings.Contains(out, "Risk R-7: visitors on site") || strings.Contains(out, "(none: give a reason") {
		t.Errorf("soa list:\n%s", out)
	}
	st := reportOf(t, data)
	if st["iso27001-2022/5.1"] != "compliant" || st["iso27001-2022/7.4"] != "not_applicable" || st["iso27001-2022/5.2"] != "manual" {
		t.Errorf("statuses 5.1 %s, 7.4 %s, 5.2 %s", st["iso27001-2022/5.1"], st["iso27001-2022/7.4"], st["iso27001-2022/5.2"])
	}

	if out, _, code := cli(t, "attest", "revoke", "--data", data, attID, "--by", "bob"); code != 0 || !strings.Contains(out, "iso27001-2022/5.1 needs a new attestation") {
		t.Fatalf("attest revoke = %d %q", code, out)
	}
	if out, _, _ := cli(t, "attest", "list", "--data", data, "--json"); out != "[]\n" {
		t.Errorf("attest list --json after the only attestation was revoked = %q, want []", out)
	}
	if out, _, _ := cli(t, "attest", "list", "--data", data, "--all"); !strings.Contains(out, attID) || !strings.Contains(out, "revoked") {
		t.Errorf("attest list --all:\n%s", out)
	}
	if out, _, code := cli(t, "exceptions", "revoke", excID, "--data", data); code != 0 || !strings.Contains(out, "count again") {
		t.Fatalf("exceptions revoke = %d %q", code, out)
	}
	if out, _, _ := cli(t, "exceptions", "list", "--data", data); strings.Contains(out, excID) {
		t.Errorf("revoked exception listed without --all:\n%s", out)
	}
	if out, _, _ := cli(t, "exceptions", "list", "--data", data, "--all"); !strings.Contains(out, excID) || !strings.Contains(out, "revoked") {
		t.Errorf("exceptions list --all:\n%s", out)
	}
	if st := reportOf(t, data); st["iso27001-2022/5.1"] != "manual" {
		t.Errorf("5.1 after revocation = %s", st["iso27001-2022/5.1"])
	}
	// Every decision is in the chain that verify checks.
	if out, errs, code := cli(t, "verify", "--data", data); code != 0 || !strings.Contains(out, "7 rows verified") {
		t.Errorf("verify = %d %q %q", code, out, errs)
	}
}

func TestDecisionCommandErrors(t *testing.T) {
	data := t.TempDir()
	cli(t, "token", "create", "--data", data)
	far := time.Now().AddDate(1, 1, 0).UTC().Format("2006-01-02")
	base := []string{"exceptions", "add", "--data", data, "--check", "datasets.not_world_readable", "--subject", "**", "--owner", "o", "--approver", "a", "--reason", "r"}
	for _, tc := range []struct {
		args []string
		code int
		says string
	}{
		{base, 2, "--expires is required"},
		{append(base[:len(base):len(base)], "--expires", "soon"), 2, `--expires "soon": want a date (2027-01-31), an RFC 3339 time, or a span such as 90d`},
		{append(base[:len(base):len(base)], "--expires", far), 1, "--expires: expires_at " + far + "T00:00:00Z is more than 12 months ahead"},
		{[]string{"exceptions", "add", "--data", data, "--check", "nope", "--subject", "**", "--owner", "o", "--approver", "a", "--reason", "r", "--expires", "30d"}, 1,
			`--check: check "nope" is not loaded`},
		{[]string{"exceptions", "add", "--data", data, "--check", "x"}, 2, "--subject, --owner, --approver, --reason required"},
		{[]string{"attest", "--data", data, "--control", "iso27001-2022/8.3", "--document", "d", "--author", "a", "--expires", "30d"}, 1,
			"--control: control iso27001-2022/8.3 has automated checks"},
		{[]string{"attest", "--data", data, "--control", "5.1", "--document", "d", "--author", "a", "--expires", "30d"}, 1, `control "5.1" is not in any loaded catalog`},
		{[]string{"soa", "set", "--data", data, "--control", "iso27001-2022/7.4", "--not-applicable"}, 1,
			"--justification: a control marked not applicable needs a justification"},
		{[]string{"soa", "set", "--data", data, "--control", "iso27001-2022/7.4"}, 2, "exactly one of --not-applicable"},
		{[]string{"exceptions", "revoke", "--data", data, "exc_0"}, 1, `no exception with id "exc_0"`},
		{[]string{"exceptions"}, 2, "exceptions needs a subcommand: add, list, revoke"},
		{[]string{"apikey", "create", "--data", data, "--name", "x", "--role", "root"}, 2, `--role "root": want admin or auditor`},
	} {
		_, errs, code := cli(t, tc.args...)
		if code != tc.code || !strings.Contains(errs, tc.says) {
			t.Errorf("%v = exit %d %q, want %d saying %q", tc.args, code, errs, tc.code, tc.says)
		}
	}
}

func TestControlsLint(t *testing.T) {
	dir := t.TempDir()
	good := "checks:\n  - id: my.check\n    title: Mine\n    kind: dataset\n    severity: low\n    assert: 'attrs.world_readable == false'\n    controls: [iso27001-2022/8.3]\n"
	if err := os.WriteFile(filepath.Join(dir, "mine.yaml"), []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	// The folder's check comes on top of every built-in one.
	builtin, _, _ := cli(t, "controls", "checks")
	wantOK := fmt.Sprintf(": ok (%d checks", len(strings.Fields(builtin))+1)
	if out, errs, code := cli(t, "controls", "lint", "--dir", dir); code != 0 || !strings.Contains(out, wantOK) {
		t.Fatalf("good = %d %q %q", code, out, errs)
	}
	bad := strings.Replace(good, "attrs.world_readable == false", "attrs.world_readable ==", 1)
	if err := os.WriteFile(filepath.Join(dir, "mine.yaml"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errs, code := cli(t, "controls", "lint", "--dir", dir)
	want := filepath.Join(dir, "mine.yaml") + `:2: check "my.check": assert: ERROR: <input>:1:24: Syntax error: mismatched input '<EOF>'`
	if code != 1 || !strings.HasPrefix(out, want) || !strings.Contains(errs, "has problems") {
		t.Errorf("bad = %d\n%s\nwant prefix\n%s\nstderr %q", code, out, want, errs)
	}
}

// TestServeRecordsPasses: serve records a pass at start and on its
// interval, so "since" and trends exist without anyone running a report.
func TestServeRecordsPasses(t *testing.T) {
	data := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	stderr := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--data", data, "--evaluate-every", "100ms", "--plain-http"}, io.Discard, stderr)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(data, dbName)+"?mode=ro&_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var n int
		if db.QueryRow(`SELECT count(*) FROM evaluations`).Scan(&n) == nil && n >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("fewer than 2 evaluation passes recorded; stderr:\n%s", stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var changes int
	if err := db.QueryRow(`SELECT count(*) FROM status_changes`).Scan(&changes); err != nil || changes != 131 {
		t.Errorf("status_changes = %d, %v; want one per control (131): later passes change nothing", changes, err)
	}
}

// API keys decide who may record decisions, so their creation and
// revocation name the person as every other command-line decision does.
func TestAPIKeyActor(t *testing.T) {
	data := t.TempDir()
	if _, errs, code := cli(t, "apikey", "create", "--data", data, "--name", "ci", "--role", "auditor", "--by", "alice"); code != 0 {
		t.Fatalf("apikey create = %d %s", code, errs)
	}
	if _, errs, code := cli(t, "apikey", "create", "--data", data, "--name", "ops", "--role", "admin"); code != 0 {
		t.Fatalf("apikey create = %d %s", code, errs)
	}
	out, _, _ := cli(t, "apikey", "list", "--data", data)
	id := regexp.MustCompile(`(?m)^(\S+)\s+ci\s`).FindStringSubmatch(out)
	if id == nil {
		t.Fatalf("apikey list has no key ci:\n%s", out)
	}
	if _, errs, code := cli(t, "apikey", "revoke", "--data", data, id[1], "--by", "bob"); code != 0 {
		t.Fatalf("apikey revoke = %d %s", code, errs)
	}
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(data, dbName)+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT actor, action FROM governance_log ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var actor, action string
		if err := rows.Scan(&actor, &action); err != nil {
			t.Fatal(err)
		}
		got = append(got, action+" by "+actor)
	}
	want := []string{"apikey.create by alice", "apikey.create by " + actor(""), "apikey.revoke by bob"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("governance log = %q, want %q", got, want)
	}
	if !strings.HasPrefix(actor(""), "cli:") {
		t.Errorf("default actor %q lacks the cli: prefix", actor(""))
	}
}
