package access

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/annexa/annexa/plugins/sdk"
)

func fixture(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestFixtureEvents pins what each kind of auth line becomes.
func TestFixtureEvents(t *testing.T) {
	path := fixture(t, "auth.log")
	p := newPlugin(t, map[string]any{"auth_logs": []string{path}, "watched_paths": []string{"/srv/ml/datasets"}})
	a := &fakeAgent{}
	recs, err := a.collect(t, p)
	if err != nil {
		t.Fatal(err)
	}
	evs := eventsOf(t, recs, map[string]Event{})
	var got []string
	for _, e := range evs {
		got = append(got, strings.Join([]string{e.Action, e.Result, e.Actor, e.Object, e.Remote, e.At}, " "))
	}
	want := []string{
		"invalid_user failure admin ssh 203.0.113.7 2025-03-03T09:00:01Z",
		"auth_failure failure  sshd 203.0.113.7 2025-03-03T09:00:01Z",
		"login_failed failure admin ssh 203.0.113.7 2025-03-03T09:00:03Z",
		"login_failed failure root ssh 203.0.113.7 2025-03-03T09:00:05Z",
		"login_failed failure root ssh 203.0.113.7 2025-03-03T09:00:07Z",
		"login_failed failure root ssh 203.0.113.7 2025-03-03T09:00:09Z",
		"login_failed failure alice ssh 203.0.113.7 2025-03-03T09:00:11Z",
		"login success alice ssh 203.0.113.7 2025-03-03T09:00:13Z",
		"session_open success alice sshd  2025-03-03T09:00:13Z",
		"privilege success alice root  2025-03-03T09:01:00Z",
		"privilege_failed failure bob root  2025-03-03T09:01:30Z",
		"privilege success alice root  2025-03-03T09:02:00Z",
		"privilege_failed failure bob root  2025-03-03T09:02:10Z",
		"login success root ssh 198.51.100.4 2025-03-03T09:03:00Z",
		"break_in_attempt failure  ssh 192.0.2.9 2025-03-03T09:03:30Z",
		"preauth_disconnect failure carol ssh 192.0.2.9 2025-03-03T09:03:31Z",
		"login_failed failure dave login  2025-03-03T09:04:00Z",
		"login success root login  2025-03-03T09:04:10Z",
		"session_close success root cron  2025-03-03T09:05:00Z",
		"session_close success alice sshd  2025-03-03T09:05:01Z",
	}
	if !slices.Equal(got, want) {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	sudo := evs[9]
	if sudo.Command != "/usr/bin/cat /srv/ml/datasets/iris/iris.csv" || sudo.TTY != "pts/0" || sudo.PWD != "/home/alice" ||
		!slices.Equal(sudo.Watched, []string{"/srv/ml/datasets"}) {
		t.Errorf("sudo event %+v", sudo)
	}
	if evs[10].Reason != "3 incorrect password attempts" {
		t.Errorf("sudo refusal reason %q", evs[10].Reason)
	}
	if evs[8].By != "uid=0" {
		t.Errorf("session by %q", evs[8].By)
	}
	s := summariesOf(recs)
	if len(s) != 1 {
		t.Fatalf("%d summaries", len(s))
	}
	sum := s[0]
	if sum.Lines != 22 || sum.Events != 20 || sum.Skipped != 1 || sum.Malformed != 1 || sum.ByResult[ResultFailure] != 12 {
		t.Errorf("summary counts %+v", sum)
	}
	var rules []string
	for _, an := range sum.Anomalies {
		rules = append(rules, an.Rule+" "+an.Remote+" "+an.Actor)
	}
	wantRules := []string{
		"brute_force 203.0.113.7 ",
		"success_after_failures 203.0.113.7 alice",
		"root_login 198.51.100.4 root",
		"root_login  root",
	}
	if !slices.Equal(rules, wantRules) {
		t.Errorf("anomalies %q, want %q", rules, wantRules)
	}
	bf := sum.Anomalies[0]
	// The pam line of pid 1001 is not counted beside sshd's own line for
	// that process: 5 attempts, the 5th (09:00:11) fires the rule.
	if bf.Count != 5 || bf.Window != "10m0s" || len(bf.Subjects) != 5 || bf.FirstAt != "2025-03-03T09:00:03Z" || bf.LastAt != "2025-03-03T09:00:11Z" {
		t.Errorf("brute force %+v", bf)
	}
	for _, sub := range bf.Subjects {
		if _, ok := eventBySubject(recs, sub); !ok {
			t.Errorf("anomaly names %s, which is no emitted event", sub)
		}
	}
	saf := sum.Anomalies[1]
	if saf.Count != 5 || saf.Subjects[len(saf.Subjects)-1] != subjectOf(recs, 7) {
		t.Errorf("success after failures %+v", saf)
	}
}

func eventBySubject(recs []sdk.Record, subject string) (Event, bool) {
	for _, r := range recs {
		if r.Kind == KindEvent && r.Subject == subject {
			return r.Attributes.(Event), true
		}
	}
	return Event{}, false
}

// subjectOf returns the subject of the i-th event.
func subjectOf(recs []sdk.Record, i int) string {
	for _, r := range recs {
		if r.Kind == KindEvent {
			if i == 0 {
				return r.Subject
			}
			i--
		}
	}
	return ""
}

func TestBruteForceAcrossCollections(t *testing.T) {
	path := logPath(t)
	line := func(sec int) string {
		return "Mar  3 09:00:" + two(sec) + " h sshd[" + itoa(100+sec) + "]: Failed password for root from 203.0.113.9 port 1 ssh2\n"
	}
	p := newPlugin(t, map[string]any{"auth_logs": []string{path}, "anomalies": map[string]any{"brute_force": map[string]any{"failures": 4, "window": "1m"}}})
	a := &fakeAgent{}
	var fired []Anomaly
	for sec := range 10 {
		appendFile(t, path, line(sec))
		recs, err := a.collect(t, p)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range summariesOf(recs) {
			fired = append(fired, s.Anomalies...)
		}
	}
	// Four failures, one per collection, make one anomaly; the burst goes
	// on within the window and raises no second one.
	if len(fired) != 1 || fired[0].Rule != RuleBruteForce || fired[0].Count != 4 || fired[0].LastAt != "2025-03-03T09:00:03Z" {
		t.Fatalf("anomalies %+v", fired)
	}
}

func TestRulesOff(t *testing.T) {
	p := newPlugin(t, map[string]any{"auth_logs": []string{fixture(t, "auth.log")}, "anomalies": map[string]any{
		"brute_force": map[string]any{"failures": 0}, "success_after_failures": map[string]any{"failures": 0}, "root_login": false,
	}})
	recs, err := (&fakeAgent{}).collect(t, p)
	if err != nil {
		t.Fatal(err)
	}
	if s := summariesOf(recs); len(s[0].Anomalies) != 0 {
		t.Errorf("rules are off, yet %+v", s[0].Anomalies)
	}
}

func TestHTTPLogs(t *testing.T) {
	p := newPlugin(t, map[string]any{"http_logs": []map[string]any{
		{"path": fixture(t, "access.log")},
		{"path": fixture(t, "access.jsonl"), "format": "json"},
	}})
	recs, err := (&fakeAgent{}).collect(t, p)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range eventsOf(t, recs, map[string]Event{}) {
		got = append(got, strings.Join([]string{e.Source, e.Action, e.Actor, e.HTTPMethod, e.Object, e.Remote, e.At}, " "))
	}
	want := []string{
		"http http_unauthorized  POST /v1/completions 203.0.113.7 2025-03-03T09:00:01Z",
		"http http_forbidden mallory GET /admin 203.0.113.7 2025-03-03T09:00:02Z",
		`http http_unauthorized  GET /say 198.51.100.4 2025-03-03T09:00:04Z`,
		"http http_unauthorized  POST /v1/chat 203.0.113.7 2025-03-03T09:00:01Z",
		"http http_forbidden eve GET /models 203.0.113.8 2025-03-03T11:06:40Z",
	}
	if !slices.Equal(got, want) {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	s := summariesOf(recs)
	if len(s) != 2 || s[0].Source != SourceHTTP || s[0].Malformed != 1 || s[0].Skipped != 1 || s[1].Malformed != 1 {
		t.Errorf("summaries %+v", s)
	}
}

func TestSettingsErrors(t *testing.T) {
	for _, c := range []struct {
		settings string
		field    string
	}{
		{`{}`, "auth_logs"},
		{`{"auth_logs": ["var/log/auth.log"]}`, "auth_logs[0]"},
		{`{"auth_logs": ["/a", "/a/"]}`, "auth_logs[1]"},
		{`{"auth_logs": ["/a"], "http_logs": [{"path": "/b", "format": "xml"}]}`, "http_logs[0].format"},
		{`{"http_logs": [{"path": ""}]}`, "http_logs[0].path"},
		{`{"auth_logs": ["/a"], "watched_paths": ["rel"]}`, "watched_paths[0]"},
		{`{"auth_logs": ["/a"], "anomalies": {"brute_force": {"window": "soon"}}}`, "anomalies.brute_force.window"},
		{`{"auth_logs": ["/a"], "anomalies": {"success_after_failures": {"failures": -1}}}`, "anomalies.success_after_failures.failures"},
		{`{"auth_logs": ["/a"], "year": 95}`, "year"},
		{`{"auth_logs": ["/a"], "batch_lines": 1000}`, "batch_lines"},
		{`{"auth_logs": ["/a"], "max_line_bytes": 10}`, "max_line_bytes"},
		{`{"auth_logs": ["/a"], "max_decompressed_per_file": 1000}`, "max_decompressed_per_file"},
		{`{"auth_logs": ["/a"], "max_decompressed_per_file": 1048576, "max_decompressed_per_collection": 65536}`, "max_decompressed_per_collection"},
		{`{"auth_logs": ["/a"], "anomalies": {"brute": {}}}`, "brute"},
		{`{"auth_logs": "/a"}`, "auth_logs"},
	} {
		_, err := quiet().Configure(context.Background(), sdk.Config{Raw: json.RawMessage(c.settings)})
		fe, ok := err.(sdk.FieldErrors)
		if !ok || !slices.ContainsFunc(fe, func(e sdk.FieldError) bool { return e.Field == c.field }) {
			t.Errorf("Configure(%s) = %v; want a field error on %s", c.settings, err, c.field)
		}
	}
}

func TestSampleConfigIsValid(t *testing.T) {
	// The sample is YAML; its settings are mirrored here as JSON so the
	// test needs no YAML parser. Keep the two in step.
	settings := `{"auth_logs": ["/var/log/auth.log", "/var/log/secure"],
		"audit_logs": ["/var/log/audit/audit.log"], "passwd_file": "/etc/passwd", "journal": false,
		"dataset_roots": ["/srv/ml/datasets"], "model_roots": ["/srv/ml/models"],
		"http_logs": [{"path": "/var/log/nginx/access.log", "format": "combined", "assets": {"/files/": "/srv/ml/datasets"}}],
		"watched_paths": ["/srv/ml/datasets", "/srv/ml/models"],
		"anomalies": {"brute_force": {"failures": 5, "window": "10m"}, "success_after_failures": {"failures": 3, "window": "10m"}, "root_login": true,
			"restricted_hours": {"paths": ["/srv/ml/datasets/pii*"], "hours": "08:00-18:00", "days": ["mon", "tue", "wed", "thu", "fri"]},
			"first_access": {"enabled": true, "learn": "24h", "max_pairs": 50000},
			"volume_spike": {"factor": 5, "min_events": 100, "baseline_hours": 24}},
		"year": 0, "batch_lines": 200, "max_decompressed_per_file": 1073741824, "max_decompressed_per_collection": 4294967296,
		"olddirs": {"/var/log/secure": "/var/log/archive"}, "logrotate_config": ["/etc/logrotate.conf"]}`
	if _, err := quiet().Configure(context.Background(), sdk.Config{Raw: json.RawMessage(settings)}); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"auth_logs:", "http_logs:", "watched_paths:", "brute_force:", "success_after_failures:", "root_login:", "year:", "batch_lines:",
		"audit_logs:", "passwd_file:", "journal:", "dataset_roots:", "model_roots:", "assets:", "restricted_hours:", "first_access:", "volume_spike:",
		"max_decompressed_per_file:", "max_decompressed_per_collection:", "olddirs:", "logrotate_config:"} {
		if !strings.Contains(SampleConfig, key) {
			t.Errorf("sample.yaml lacks %s", key)
		}
	}
}

func TestCorruptCheckpointIsAnError(t *testing.T) {
	p := newPlugin(t, map[string]any{"auth_logs": []string{fixture(t, "auth.log")}})
	err := p.Collect(context.Background(), sdk.Request{Checkpoint: []byte("{not json")}, &fakeAgent{})
	if err == nil || !strings.Contains(err.Error(), "checkpoint") {
		t.Errorf("corrupt checkpoint: %v", err)
	}
}

func TestMissingLogIsQuiet(t *testing.T) {
	p := newPlugin(t, map[string]any{"auth_logs": []string{filepath.Join(t.TempDir(), "none.log")}})
	recs, err := (&fakeAgent{}).collect(t, p)
	if err != nil || len(eventsOf(t, recs, map[string]Event{})) != 0 {
		t.Errorf("missing log: %v %v", recs, err)
	}
	_ = os.Remove
}

func TestParseHTTPLogCommon(t *testing.T) {
	in := "10.0.0.1 - - [03/Mar/2025:09:00:01 +0100] \"GET /x HTTP/1.0\" 401 5\n10.0.0.1 - - [03/Mar/2025:09:00:02 +0100] \"GET /x HTTP/1.0\" 200 5"
	var evs []Event
	st, err := ParseHTTPLog(strings.NewReader(in), FormatCommon, ParseOptions{}, func(e Event) error { evs = append(evs, e); return nil })
	if err != nil || st.Lines != 2 || st.Events != 1 || st.Skipped != 1 || evs[0].At != "2025-03-03T08:00:01Z" || evs[0].LineNo != 1 {
		t.Errorf("stats %+v events %+v err %v", st, evs, err)
	}
}

func TestUnreadableLogKeepsCheckpoint(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads everything")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "auth.log")
	appendFile(t, path, sshLines(0, 3))
	p, a := newPlugin(t, map[string]any{"auth_logs": []string{path}}), &fakeAgent{}
	seen := map[string]Event{}
	recs, _ := a.collect(t, p)
	eventsOf(t, recs, seen)
	appendFile(t, path, sshLines(3, 5))
	os.Chmod(dir, 0)
	recs, err := a.collect(t, p)
	os.Chmod(dir, 0o700)
	if err != nil || len(eventsOf(t, recs, seen)) != 0 {
		t.Fatalf("unreadable: %v", err)
	}
	recs, _ = a.collect(t, p)
	if got := actors(eventsOf(t, recs, seen)); !slices.Equal(got, wantActors(3, 5)) {
		t.Errorf("after it is readable again: %v", got)
	}
}
