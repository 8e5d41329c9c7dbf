package access

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/annexa/annexa/plugins/sdk"
)

func configureErr(t *testing.T, settings map[string]any) error {
	t.Helper()
	raw, _ := json.Marshal(settings)
	_, err := quiet().Configure(context.Background(), sdk.Config{Raw: raw})
	return err
}

// rulesFired collects once and returns the anomalies of one rule and the
// events by subject.
func rulesFired(t *testing.T, p *Plugin, a *fakeAgent, rule string) ([]Anomaly, map[string]Event) {
	t.Helper()
	recs, err := a.collect(t, p)
	if err != nil {
		t.Fatal(err)
	}
	bySubject := map[string]Event{}
	for _, r := range recs {
		if r.Kind == KindEvent {
			bySubject[r.Subject] = r.Attributes.(Event)
		}
	}
	var out []Anomaly
	for _, s := range summariesOf(recs) {
		for _, an := range s.Anomalies {
			if an.Rule == rule {
				out = append(out, an)
			}
		}
	}
	return out, bySubject
}

func TestRestrictedOutsideHours(t *testing.T) {
	// The fixture was written on Sunday 2026-11-29 at 06:33-06:34 UTC.
	for _, tc := range []struct {
		name  string
		rule  map[string]any
		lines []int64 // line_no of the events named, in order
	}{
		{"weekday office hours", map[string]any{"paths": []string{"/srv/ml/datasets/pii", "/srv/ml/datasets/my*"}}, []int64{36, 93}},
		{"any day, early start", map[string]any{"paths": []string{"/srv/ml/datasets/pii"}, "hours": "06:00-20:00", "days": []string{"sun", "sat"}}, nil},
		{"over midnight", map[string]any{"paths": []string{"/srv/ml/datasets/pii/*.csv"}, "hours": "22:00-07:00", "days": []string{"sat"}}, nil},
		{"over midnight, closed", map[string]any{"paths": []string{"/srv/ml/datasets/pii/*.csv"}, "hours": "22:00-07:00", "days": []string{"fri"}}, []int64{93}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := auditPlugin(t, fixture(t, "audit/audit.log"), map[string]any{"anomalies": map[string]any{"restricted_hours": tc.rule}})
			got, evs := rulesFired(t, p, &fakeAgent{}, RuleRestrictedHours)
			var lines []int64
			for _, a := range got {
				if len(a.Subjects) != 1 || a.Actor != "alice" || a.Window == "" || !strings.Contains(a.Detail, "Sun 06:3") || a.Severity != "high" {
					t.Errorf("anomaly %+v", a)
				}
				lines = append(lines, evs[a.Subjects[0]].LineNo)
			}
			// The "my data" folder is touched by ten events in the hour:
			// one anomaly, on the first.
			if !slices.Equal(lines, tc.lines) {
				t.Errorf("fired on lines %v, want %v (%+v)", lines, tc.lines, got)
			}
		})
	}
}

func TestFirstAccess(t *testing.T) {
	state := t.TempDir()
	run := func(learn string) []string {
		p := auditPlugin(t, fixture(t, "audit/audit.log"), map[string]any{"anomalies": map[string]any{"first_access": map[string]any{"learn": learn}}})
		p.stateDir = state
		got, evs := rulesFired(t, p, &fakeAgent{}, RuleFirstAccess)
		var out []string
		for _, a := range got {
			ev := evs[a.Subjects[0]]
			out = append(out, fmt.Sprintf("%s %s %d", a.Actor, ev.Asset, ev.LineNo))
		}
		return out
	}
	// Learning for a day: the fixture's minute is all learning.
	if got := run("24h"); len(got) != 0 {
		t.Errorf("fired while learning: %v", got)
	}
	state = t.TempDir()
	want := []string{
		"alice dataset:/srv/ml/datasets/iris 22",
		"alice dataset:/srv/ml/datasets/my data 36",
		"alice model:/srv/ml/models/llama.safetensors 86",
		"alice dataset:/srv/ml/datasets/pii 93",
	}
	if got := run("0s"); !slices.Equal(got, want) {
		t.Errorf("first accesses %v, want %v", got, want)
	}
	// Remembered in the state folder: a new plugin (restart) with the
	// same state, reading the same events again, finds nothing new.
	if got := run("0s"); len(got) != 0 {
		t.Errorf("after a restart, fired again: %v", got)
	}
	if _, err := loadAccessors(state); err != nil {
		t.Fatal(err)
	}
	a, _ := loadAccessors(state)
	if len(a.Pairs) != 4 || a.Since == 0 || filepath.Base(a.path) != accessorsFile {
		t.Errorf("state %+v", a)
	}
}

func TestFirstAccessBounded(t *testing.T) {
	a := &accessors{V: 1, Pairs: map[string]int64{}}
	for i := range 1000 {
		a.seen("dataset:/d", fmt.Sprint("u", i), int64(i+1), 100)
	}
	if len(a.Pairs) > 100 {
		t.Fatalf("%d pairs kept, cap 100", len(a.Pairs))
	}
	if _, ok := a.Pairs["dataset:/d\x00u999"]; !ok {
		t.Error("the newest pair was dropped")
	}
	if _, ok := a.Pairs["dataset:/d\x00u0"]; ok {
		t.Error("the oldest pair was kept")
	}
}

// hourLines writes n sshd failures from distinct remotes in the given hour.
func hourLines(hour, n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "Mar  3 %02d:%02d:%02d gpu01 sshd[%d]: Failed password for u%d from 10.%d.%d.%d port 22 ssh2\n", hour, i/60, i%60, 100+i, i, hour, i/250, i%250)
	}
	return b.String()
}

func TestVolumeSpike(t *testing.T) {
	path := logPath(t)
	// Three quiet hours (2, 0 and 4 events: mean 2), then 30 in one hour.
	appendFile(t, path, hourLines(6, 2)+hourLines(8, 4)+hourLines(9, 30))
	p := newPlugin(t, map[string]any{"auth_logs": []string{path}, "anomalies": map[string]any{
		"volume_spike": map[string]any{"factor": 5, "min_events": 8, "baseline_hours": 3},
		"brute_force":  map[string]any{"failures": 0}}})
	got, evs := rulesFired(t, p, &fakeAgent{}, RuleVolumeSpike)
	if len(got) != 1 {
		t.Fatalf("spikes %+v, want one", got)
	}
	a := got[0]
	// 5 x mean 2 = 10 events: the 10th event of 09:00 fires it.
	last := evs[a.Subjects[len(a.Subjects)-1]]
	if a.Count != 10 || a.Severity != "medium" || len(a.Subjects) != 10 || last.LineNo != 16 || a.FirstAt != "2025-03-03T09:00:00Z" || a.Window != "1h" ||
		!strings.Contains(a.Detail, "mean of 2.0 per hour over the 3 hours before") {
		t.Errorf("spike %+v (last event line %d)", a, last.LineNo)
	}
	// Without enough history there is no baseline: no spike.
	path2 := logPath(t)
	appendFile(t, path2, hourLines(8, 1)+hourLines(9, 30))
	p2 := newPlugin(t, map[string]any{"auth_logs": []string{path2}, "anomalies": map[string]any{"volume_spike": map[string]any{"factor": 5, "min_events": 8, "baseline_hours": 3}}})
	if got, _ := rulesFired(t, p2, &fakeAgent{}, RuleVolumeSpike); len(got) != 0 {
		t.Errorf("spike without a baseline: %+v", got)
	}
}

func TestAssetRuleSettingsErrors(t *testing.T) {
	for _, tc := range []struct {
		anomalies map[string]any
		want      string
	}{
		{map[string]any{"restricted_hours": map[string]any{"paths": []string{"data/*"}}}, `anomalies.restricted_hours.paths[0]: "data/*" is not an absolute path`},
		{map[string]any{"restricted_hours": map[string]any{"paths": []string{"/d/["}}}, "is not a valid glob"},
		{map[string]any{"restricted_hours": map[string]any{"paths": []string{"/d"}, "hours": "9-17"}}, `anomalies.restricted_hours.hours: "9-17" is not a span such as 08:00-18:00`},
		{map[string]any{"restricted_hours": map[string]any{"paths": []string{"/d"}, "days": []string{"monday"}}}, `"monday" is not one of mon`},
		{map[string]any{"first_access": map[string]any{"learn": "a week"}}, "anomalies.first_access.learn"},
		{map[string]any{"volume_spike": map[string]any{"factor": 0.5}}, "anomalies.volume_spike.factor: must be 0 (rule off) or at least 1"},
	} {
		err := configureErr(t, map[string]any{"auth_logs": []string{"/var/log/auth.log"}, "anomalies": tc.anomalies})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err %v, want %q", tc.anomalies, err, tc.want)
		}
	}
}

// TestHTTPAssets: with assets configured, requests under a mapped URL
// prefix are events naming the asset they reached, whatever their status;
// others stay skipped; "../" cannot leave the folder.
func TestHTTPAssets(t *testing.T) {
	log := filepath.Join(t.TempDir(), "access.log")
	appendFile(t, log, `198.51.100.4 - alice [29/Nov/2026:06:33:58 +0000] "GET /files/iris/train-v1.csv HTTP/1.1" 200 10 "-" "curl/8"
198.51.100.4 - - [29/Nov/2026:06:34:00 +0000] "GET /files/pii/customers.csv?x=1 HTTP/1.1" 403 0 "-" "curl/8"
198.51.100.4 - bob [29/Nov/2026:06:34:01 +0000] "GET /models/llama.safetensors HTTP/1.1" 206 10 "-" "curl/8"
198.51.100.4 - bob [29/Nov/2026:06:34:02 +0000] "GET /files/../../etc/passwd HTTP/1.1" 404 0 "-" "curl/8"
198.51.100.4 - bob [29/Nov/2026:06:34:03 +0000] "POST /v1/completions HTTP/1.1" 200 10 "-" "curl/8"
198.51.100.4 - bob [29/Nov/2026:06:34:04 +0000] "GET /files/my%20data/notes.csv HTTP/1.1" 200 10 "-" "curl/8"
`)
	p := newPlugin(t, map[string]any{
		"http_logs":     []map[string]any{{"path": log, "assets": map[string]string{"/files/": "/srv/ml/datasets", "/models/": "/srv/ml/models/"}}},
		"dataset_roots": []string{"/srv/ml/datasets"}, "model_roots": []string{"/srv/ml/models"},
	})
	p.fsRoot = assetTree(t)
	recs, err := (&fakeAgent{}).collect(t, p)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range eventsOf(t, recs, map[string]Event{}) {
		got = append(got, fmt.Sprintf("%s %s %s %v %s", e.Action, e.Result, e.Actor, e.Paths, e.Asset))
	}
	want := []string{
		"http_request success alice [/srv/ml/datasets/iris/train-v1.csv] dataset:/srv/ml/datasets/iris",
		"http_forbidden failure  [/srv/ml/datasets/pii/customers.csv] dataset:/srv/ml/datasets/pii",
		"http_request success bob [/srv/ml/models/llama.safetensors] model:/srv/ml/models/llama.safetensors",
		"http_request success bob [/srv/ml/datasets/my data/notes.csv] dataset:/srv/ml/datasets/my data",
	}
	if !slices.Equal(got, want) {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if s := summariesOf(recs)[0]; s.Skipped != 2 || s.Lines != 6 {
		t.Errorf("summary: skipped %d lines %d, want 2 and 6", s.Skipped, s.Lines)
	}
}

// TestFirstAccessAnonymousHTTP: requests without a user to the files an
// inference server serves are first accesses of their client address.
func TestFirstAccessAnonymousHTTP(t *testing.T) {
	log := filepath.Join(t.TempDir(), "access.log")
	lines := `203.0.113.7 - - [03/Mar/2025:09:00:01 +0000] "GET /files/iris/train-v1.csv HTTP/1.1" 200 2 "-" "curl/8.5"
203.0.113.7 - - [03/Mar/2025:09:00:02 +0000] "GET /files/iris/train-v1.csv HTTP/1.1" 200 2 "-" "curl/8.5"
198.51.100.4 - - [03/Mar/2025:09:00:03 +0000] "GET /files/iris/train-v1.csv HTTP/1.1" 200 2 "-" "curl/8.5"
`
	if err := os.WriteFile(log, []byte(lines), 0o640); err != nil {
		t.Fatal(err)
	}
	p := newPlugin(t, map[string]any{
		"http_logs":     []map[string]any{{"path": log, "assets": map[string]string{"/files/": "/srv/ml/datasets"}}},
		"dataset_roots": []string{"/srv/ml/datasets"},
		"anomalies":     map[string]any{"first_access": map[string]any{"learn": "0s"}},
	})
	p.fsRoot = assetTree(t)
	got, _ := rulesFired(t, p, &fakeAgent{}, RuleFirstAccess)
	var remotes []string
	for _, a := range got {
		remotes = append(remotes, a.Remote)
		if a.Actor != "" || !strings.HasPrefix(a.Detail, a.Remote+" accessed dataset:/srv/ml/datasets/iris") {
			t.Errorf("anomaly %+v", a)
		}
	}
	if !slices.Equal(remotes, []string{"203.0.113.7", "198.51.100.4"}) {
		t.Errorf("first accesses from %v, want one per client address", remotes)
	}
}
