package controls

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// checkResult evaluates in with e and returns the result of one check.
func checkResult(t *testing.T, e *Engine, id string, in Input) CheckResult {
	t.Helper()
	for _, r := range e.Evaluate(in) {
		for _, c := range r.Checks {
			if c.ID == id {
				return c
			}
		}
	}
	t.Fatalf("check %s ran for no control", id)
	return CheckResult{}
}

func anyRec(agentID, kind, subject, plugin string, age time.Duration, attrs string) Record {
	return Record{AgentID: agentID, Host: agentID + ".example", Kind: kind, Subject: subject, Plugin: plugin,
		Seq: 1, ObservedAt: now.Add(-age), Attributes: json.RawMessage(attrs)}
}

func pluginScan(agentID, plugin string, age time.Duration) Record {
	return anyRec(agentID, "scan.complete", "scan:"+plugin, plugin, age, `{"plugin":"`+plugin+`","kinds":[],"started_at":"2026-03-01T00:00:00Z"}`)
}

func pluginHealth(agentID, plugin, state string) Record {
	return anyRec(agentID, "plugin.health", "plugin:"+plugin, plugin, time.Minute, `{"plugin":"`+plugin+`","state":"`+state+`"}`)
}

func volume(encrypted bool) Record {
	e := "false"
	if encrypted {
		e = "true"
	}
	return anyRec("a", "encryption.volume", "volume:/dev/nvme0n1p2", "encryption", time.Hour,
		`{"device":"/dev/nvme0n1p2","covers":["/srv/ml"],"encrypted":`+e+`,"scheme":"luks2"}`)
}

// subjectCases gives, for every subject-scope check, attributes that pass
// and attributes that fail, plus records the check also reads.
var subjectCases = map[string]struct {
	good, bad           string
	goodExtra, badExtra []Record
}{
	"hosts.described":                      {good: `{"os":"linux","arch":"amd64","kernel":"6.1.0"}`, bad: `{"os":"","arch":"amd64","kernel":"6.1.0"}`},
	"plugins.healthy":                      {good: `{"plugin":"x","state":"ok"}`, bad: `{"plugin":"x","state":"crashed","error":"exit status 2"}`},
	"datasets.not_world_readable":          {good: `{"world_readable":false,"mode":"0750"}`, bad: `{"world_readable":true,"mode":"0755"}`},
	"datasets.personal.not_world_readable": {good: `{"world_readable":true,"pii":{}}`, bad: `{"world_readable":true,"pii":{"email":3}}`},
	"datasets.not_world_writable":          {good: `{"mode":"0750"}`, bad: `{"mode":"0777"}`},
	"datasets.classified":                  {good: `{"classification":"internal"}`, bad: `{"classification":""}`},
	"datasets.personal.classified":         {good: `{"pii":{"email":1},"classification":"confidential"}`, bad: `{"pii":{"email":1},"classification":"public"}`},
	"datasets.owned":                       {good: `{"owner":"alice"}`, bad: `{"owner":""}`},
	"datasets.licensed":                    {good: `{"license":"CC-BY-4.0"}`, bad: `{"license":""}`},
	"datasets.datasheet":                   {good: `{"has_datasheet":true}`, bad: `{"has_datasheet":false}`},
	"datasets.manifest_complete":           {good: `{"hash_status":"complete","sha256":"ab12"}`, bad: `{"hash_status":"partial","sha256":"","hash_error":"permission denied"}`},
	"datasets.source_recorded":             {good: `{"source":"https://example.org/iris"}`, bad: `{"source":""}`},
	"datasets.preparation_recorded":        {good: `{"derived_from":"/srv/raw","preparation":"prep.py"}`, bad: `{"derived_from":"/srv/raw"}`},
	"datasets.quality_recorded":            {good: `{"quality":{"duplicates":0}}`, bad: `{}`},
	"datasets.personal.not_in_scratch":     {good: `{"pii":{"email":1},"path":"/srv/ml/x"}`, bad: `{"pii":{"email":1},"path":"/tmp/x"}`},
	"datasets.personal.masked":             {good: `{"pii":{"email":1},"masked":true}`, bad: `{"pii":{"email":1},"masked":false}`},
	"datasets.retention_documented":        {good: `{"retention_days":365}`, bad: `{"datasheet":"README.md"}`},
	"datasets.within_retention":            {good: `{"retention_days":30,"modified_at":"2026-02-20T00:00:00Z"}`, bad: `{"retention_days":30,"modified_at":"2025-01-01T00:00:00Z"}`},
	"datasets.sensitive.encrypted": {good: `{"classification":"restricted","path":"/srv/ml/x"}`, bad: `{"classification":"restricted","path":"/srv/ml/x"}`,
		goodExtra: []Record{volume(true)}, badExtra: []Record{volume(false)}},
	"models.no_critical_findings":         {good: `{"unsafe":false,"findings":[{"rule":"x","severity":"low"}]}`, bad: `{"unsafe":true,"findings":[{"rule":"pickle.global.os.system","severity":"critical"}]}`},
	"models.safe_format":                  {good: `{"format":"pickle","signed":true}`, bad: `{"format":"pickle","signed":false}`},
	"models.licensed":                     {good: `{"license":"apache-2.0"}`, bad: `{"license":""}`},
	"models.model_card":                   {good: `{"has_model_card":true}`, bad: `{"has_model_card":false}`},
	"models.owned":                        {good: `{"owner":"alice"}`, bad: `{"owner":""}`},
	"models.third_party.signed_or_pinned": {good: `{"third_party":true,"source":"huggingface","pinned":true}`, bad: `{"third_party":true,"source":"huggingface","sha256":"ab12"}`},
	"models.source_known":                 {good: `{"source":"internal"}`, bad: `{"source":""}`},
	"models.deployed.signed":              {good: `{"deployed":true,"signed":true}`, bad: `{"deployed":true,"signed":false,"pinned":false,"sha256":"ab12"}`},
	"models.digest_recorded":              {good: `{"sha256":"ab12"}`, bad: `{"sha256":""}`},
	"models.not_world_writable":           {good: `{"mode":"0640"}`, bad: `{"mode":"0666"}`},
	"models.encrypted": {good: `{"path":"/srv/ml/m.safetensors"}`, bad: `{"path":"/opt/m.safetensors"}`,
		goodExtra: []Record{volume(true)}, badExtra: []Record{volume(true)}},
	"volumes.encrypted":           {good: `{"device":"/dev/x","covers":["/srv"],"encrypted":true}`, bad: `{"device":"/dev/x","covers":["/srv"],"encrypted":false}`},
	"volumes.modern_scheme":       {good: `{"encrypted":true,"scheme":"luks2"}`, bad: `{"encrypted":true,"scheme":"luks1"}`},
	"endpoints.not_plaintext":     {good: `{"address":"10.0.0.5:8443","tls_version":"1.3"}`, bad: `{"address":"10.0.0.5:8080","tls_version":"none"}`},
	"endpoints.tls_modern":        {good: `{"tls_version":"1.2"}`, bad: `{"tls_version":"1.0"}`},
	"endpoints.certificate_valid": {good: `{"tls_version":"1.3","verified":true,"self_signed":false,"cert_not_after":"2027-01-01T00:00:00Z"}`, bad: `{"tls_version":"1.3","verified":true,"self_signed":false,"cert_not_after":"2026-03-05T00:00:00Z"}`},
	"access.no_open_auth_anomaly": {good: `{"anomalies":[{"rule":"brute_force","resolved":true}]}`, bad: `{"anomalies":[{"rule":"brute_force","resolved":false}]}`},
	"access.no_open_high_anomaly": {good: `{"anomalies":[{"severity":"low"}]}`, bad: `{"anomalies":[{"severity":"high"}]}`},
	"access.no_root_login":        {good: `{"action":"login","result":"success","actor":"alice","source":"auth.log"}`, bad: `{"action":"login","result":"success","actor":"root","source":"auth.log","remote":"203.0.113.9"}`},

	// Datasets issue: personal data, content and documentation.
	"datasets.personal.documented": {good: `{"personal_data":true,"pii":{"email":2},"datasheet_missing":["source"]}`, bad: `{"personal_data":true,"pii":{"email":2},"datasheet_missing":["personal_data"]}`},
	"datasets.content_intact":      {good: `{"findings":[{"rule":"content.invalid_utf8","severity":"low","detail":"x"}]}`, bad: `{"findings":[{"rule":"tar.bomb","severity":"high","detail":"x"}]}`},
	"datasets.datasheet_complete":  {good: `{"has_datasheet":true,"datasheet_missing":[]}`, bad: `{"has_datasheet":true,"datasheet_missing":["intended_use"]}`},
}

// hostCases and fleetCases are tested below; every loaded check must be in
// one of the tables.
var (
	hostChecks  = []string{"inventory.datasets.fresh", "inventory.models.fresh", "access.logs.collected"}
	fleetChecks = []string{"agents.reporting"}
)

func TestEveryCheckIsTested(t *testing.T) {
	e := Default()
	for _, c := range e.checks {
		_, sub := subjectCases[c.ID]
		if !sub && !contains(hostChecks, c.ID) && !contains(fleetChecks, c.ID) {
			t.Errorf("check %s (scope %s) has no table test", c.ID, c.Scope)
		}
		if sub && c.Scope != ScopeSubject {
			t.Errorf("check %s is in the subject table but has scope %s", c.ID, c.Scope)
		}
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestSubjectChecks(t *testing.T) {
	e := Default()
	for _, c := range e.checks {
		tc, ok := subjectCases[c.ID]
		if !ok {
			continue
		}
		agentOnly := len(c.Plugins) == 1 && c.Plugins[0] == agentPlugin
		// snapshot builds a fleet of one host whose plugins scanned
		// scanAge ago and report state.
		snapshot := func(attrs string, extra []Record, seen, scanAge time.Duration, state string) Input {
			recs := []Record{anyRec("a", c.Kind, "x:1", c.Plugins[0], time.Hour, attrs)}
			recs = append(recs, extra...)
			for _, p := range c.Plugins {
				if p != agentPlugin {
					recs = append(recs, pluginScan("a", p, scanAge), pluginHealth("a", p, state))
				}
			}
			return Input{Agents: []Agent{agent("a", seen)}, Records: recs, Now: now}
		}
		cases := []struct {
			name string
			in   Input
			want Status
			fail int
		}{
			{"pass", snapshot(tc.good, tc.goodExtra, time.Minute, time.Hour, "ok"), Compliant, 0},
			{"fail", snapshot(tc.bad, tc.badExtra, time.Minute, time.Hour, "ok"), Noncompliant, 1},
			{"no evidence", Input{Agents: []Agent{agent("a", time.Minute)}, Now: now}, InsufficientEvidence, 0},
		}
		if agentOnly {
			cases = append(cases, struct {
				name string
				in   Input
				want Status
				fail int
			}{"stale: host silent", snapshot(tc.bad, tc.badExtra, 48*time.Hour, time.Hour, "ok"), InsufficientEvidence, 1})
		} else {
			cases = append(cases, []struct {
				name string
				in   Input
				want Status
				fail int
			}{
				{"stale scan hides a failure", snapshot(tc.bad, tc.badExtra, time.Minute, 48*time.Hour, "ok"), InsufficientEvidence, 1},
				{"stale scan is no pass", snapshot(tc.good, tc.goodExtra, time.Minute, 48*time.Hour, "ok"), InsufficientEvidence, 0},
				{"unhealthy plugin is no pass", snapshot(tc.good, tc.goodExtra, time.Minute, time.Hour, "crashed"), InsufficientEvidence, 0},
				{"unhealthy plugin hides a failure", snapshot(tc.bad, tc.badExtra, time.Minute, time.Hour, "timed_out"), InsufficientEvidence, 1},
			}...)
		}
		for _, k := range cases {
			t.Run(c.ID+"/"+k.name, func(t *testing.T) {
				r := checkResult(t, e, c.ID, k.in)
				if r.Status != k.want || len(r.Failing) != k.fail {
					t.Errorf("status = %s with %d failing (%s; errors %v), want %s with %d", r.Status, len(r.Failing), r.Explanation, r.Errors, k.want, k.fail)
				}
				if len(r.Errors) > 0 {
					t.Errorf("expression errors: %v", r.Errors)
				}
				if r.Explanation == "" || r.Severity == "" || r.Remediation == "" {
					t.Errorf("explanation %q, severity %q, remediation %q", r.Explanation, r.Severity, r.Remediation)
				}
				if k.want == Noncompliant && len(r.Failing[0].Observed) == 0 {
					t.Errorf("failing subject shows no observed values")
				}
			})
		}
	}
}

func TestMissingAttributeIsInsufficient(t *testing.T) {
	in := Input{Agents: []Agent{agent("a", time.Minute)}, Now: now,
		Records: []Record{scan("a", time.Hour), rec("a", "dataset", "dataset:/srv/x", time.Hour, `{"path":"/srv/x"}`)}}
	r := checkResult(t, Default(), "datasets.classified", in)
	if r.Status != InsufficientEvidence || len(r.Errors) != 1 || !strings.Contains(r.Errors[0], "no such key") {
		t.Errorf("status = %s, errors = %v", r.Status, r.Errors)
	}
}

func TestHostChecks(t *testing.T) {
	e := Default()
	summary := anyRec("a", "access.summary", "access:auth.log", "access", time.Hour, `{"source":"auth.log"}`)
	cases := []struct {
		check   string
		name    string
		agents  []Agent
		records []Record
		want    Status
		fail    int
	}{
		{"inventory.models.fresh", "pass", []Agent{agent("a", time.Minute)}, []Record{pluginScan("a", "models", time.Hour), pluginHealth("a", "models", "ok")}, Compliant, 0},
		{"inventory.models.fresh", "fail: no scan", []Agent{agent("a", time.Minute)}, []Record{pluginHealth("a", "models", "ok")}, Noncompliant, 1},
		{"inventory.models.fresh", "fail: stale scan", []Agent{agent("a", time.Minute)}, []Record{pluginScan("a", "models", 30*time.Hour)}, Noncompliant, 1},
		{"inventory.models.fresh", "stale: host silent", []Agent{agent("a", 30*time.Hour)}, []Record{pluginScan("a", "models", time.Hour)}, InsufficientEvidence, 0},
		{"inventory.models.fresh", "unhealthy", []Agent{agent("a", time.Minute)}, []Record{pluginScan("a", "models", time.Hour), pluginHealth("a", "models", "degraded")}, InsufficientEvidence, 1},
		{"access.logs.collected", "pass", []Agent{agent("a", time.Minute)}, []Record{summary, pluginHealth("a", "access", "ok")}, Compliant, 0},
		{"access.logs.collected", "fail", []Agent{agent("a", time.Minute)}, []Record{pluginHealth("a", "access", "ok")}, Noncompliant, 1},
		{"access.logs.collected", "stale: host silent", []Agent{agent("a", 30*time.Hour)}, []Record{summary}, InsufficientEvidence, 0},
		{"access.logs.collected", "unhealthy", []Agent{agent("a", time.Minute)}, []Record{summary, pluginHealth("a", "access", "crashed")}, InsufficientEvidence, 1},
	}
	for _, tc := range cases {
		t.Run(tc.check+"/"+tc.name, func(t *testing.T) {
			r := checkResult(t, e, tc.check, Input{Agents: tc.agents, Records: tc.records, Now: now})
			if r.Status != tc.want || len(r.Failing) != tc.fail {
				t.Errorf("status = %s with %d failing (%s), want %s with %d", r.Status, len(r.Failing), r.Explanation, tc.want, tc.fail)
			}
		})
	}
}

func TestFleetChecks(t *testing.T) {
	revoked := agent("r", 72*time.Hour)
	revoked.Revoked = true
	cases := []struct {
		name   string
		agents []Agent
		want   Status
	}{
		{"pass", []Agent{agent("a", time.Minute), agent("b", time.Hour)}, Compliant},
		{"revoked silent host does not count", []Agent{agent("a", time.Minute), revoked}, Compliant},
		{"fail: one silent host", []Agent{agent("a", time.Minute), agent("b", 72*time.Hour)}, Noncompliant},
		{"stale: every host silent", []Agent{agent("a", 72*time.Hour)}, InsufficientEvidence},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := checkResult(t, Default(), "agents.reporting", Input{Agents: tc.agents, Now: now})
			if r.Status != tc.want {
				t.Errorf("status = %s (%s), want %s", r.Status, r.Explanation, tc.want)
			}
			if tc.want == Noncompliant {
				silent, _ := r.Failing[0].Observed["silent"].([]any)
				if len(silent) != 1 || silent[0] != "b.example" {
					t.Errorf("observed = %v", r.Failing[0].Observed)
				}
			}
		})
	}
}

// A volume the encryption plugin could not judge (encrypted: null) is
// insufficient evidence, neither a failure nor a pass.
func TestUndeterminedVolumeIsInsufficient(t *testing.T) {
	in := Input{Agents: []Agent{agent("a", time.Minute)}, Now: now,
		Records: []Record{pluginScan("a", "encryption", time.Hour),
			anyRec("a", "encryption.volume", "volume:/dev/sdz", "encryption", time.Hour,
				`{"device":"/dev/sdz","covers":["/srv/ml"],"encrypted":null,"scheme":"unknown"}`)}}
	r := checkResult(t, Default(), "volumes.encrypted", in)
	if r.Status != InsufficientEvidence || len(r.Errors) != 1 || !strings.Contains(r.Errors[0], "encryption_undetermined") {
		t.Errorf("status = %s, failing = %v, errors = %v", r.Status, r.Failing, r.Errors)
	}
}
