package access_test

import (
	"compress/gzip"
	"encoding/json"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/annexa/annexa/evidence"
	"github.com/annexa/annexa/plugins/access"
	"github.com/annexa/annexa/plugins/plugintest"
	"github.com/annexa/annexa/plugins/sdk"
)

const pkg = "github.com/annexa/annexa/plugins/access/cmd/annexa-plugin-access"

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	plugintest.Cleanup()
	os.Exit(code)
}

// logs copies the fixture logs into a fresh folder the test may append to.
func logs(t *testing.T) (auth, httpLog string) {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"auth.log", "access.log"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "auth.log"), filepath.Join(dir, "access.log")
}

// TestExecutable builds the real plugin and drives it over go-plugin, as
// the agent does: the conformance suite, then checkpoint resume.
func TestExecutable(t *testing.T) {
	exe := plugintest.Build(t, pkg)
	auth, httpLog := logs(t)
	settings, _ := json.Marshal(map[string]any{
		"auth_logs": []string{auth}, "http_logs": []map[string]string{{"path": httpLog}}, "year": 2025,
	})

	t.Run("conformance", func(t *testing.T) {
		plugintest.Conformance(t, exe, string(settings))
	})

	t.Run("checkpoint resume", func(t *testing.T) {
		h := plugintest.Start(t, exe)
		if _, err := h.Configure(t, string(settings), t.TempDir()); err != nil {
			t.Fatal(err)
		}
		if kinds := h.Info().Kinds; len(kinds) != 2 || kinds[0] != access.KindEvent || kinds[1] != access.KindSummary {
			t.Errorf("kinds %v", kinds)
		}
		seen := map[string]bool{}
		count := func(recs []evidence.Record) (events, summaries int) {
			t.Helper()
			for _, r := range recs {
				switch r.Kind {
				case access.KindEvent:
					if seen[r.Subject] {
						t.Errorf("event %s delivered twice", r.Subject)
					}
					seen[r.Subject] = true
					events++
				case access.KindSummary:
					summaries++
				}
			}
			return
		}
		recs, cps, err := h.Collect(t, sdk.Request{Full: true})
		if err != nil {
			t.Fatal(err)
		}
		if ev, sum := count(recs); ev != 23 || sum != 2 || len(cps) == 0 {
			t.Fatalf("first collection: %d events, %d summaries, %d checkpoints", ev, sum, len(cps))
		}
		if recs[len(recs)-1].Kind != access.KindSummary {
			t.Error("the last record is not a summary: something was sent after the last checkpoint")
		}
		last := cps[len(cps)-1]
		recs, cps, err = h.Collect(t, sdk.Request{Full: true, Checkpoint: last})
		if err != nil {
			t.Fatal(err)
		}
		if ev, _ := count(recs); ev != 0 {
			t.Fatalf("resumed with nothing new: %d events repeated", ev)
		}
		last = cps[len(cps)-1]
		f, _ := os.OpenFile(auth, os.O_APPEND|os.O_WRONLY, 0)
		f.WriteString("Mar  3 10:00:00 gpu01 sshd[9]: Accepted publickey for erin from 192.0.2.50 port 4242 ssh2\n")
		f.Close()
		recs, _, err = h.Collect(t, sdk.Request{Checkpoint: last})
		if err != nil {
			t.Fatal(err)
		}
		if ev, _ := count(recs); ev != 1 {
			t.Fatalf("after one appended line: %d events", ev)
		}
		var a access.Event
		for _, r := range recs {
			if r.Kind == access.KindEvent {
				json.Unmarshal(r.Attributes, &a)
			}
		}
		if a.Actor != "erin" || a.Action != access.ActionLogin || a.Remote != "192.0.2.50" || a.At == "" {
			t.Errorf("appended event %+v", a)
		}
	})
}

// TestExecutableAuditJournal runs the real executable on the real audit
// log and journal with every newer setting, as the agent would (schema
// included).
func TestExecutableAuditJournal(t *testing.T) {
	exe := plugintest.Build(t, pkg)
	dir := t.TempDir()
	b, err := os.ReadFile(filepath.Join("testdata", "audit", "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	auditLog := filepath.Join(dir, "audit.log")
	os.WriteFile(auditLog, b, 0o640)
	passwd, _ := filepath.Abs(filepath.Join("testdata", "audit", "passwd"))
	s := map[string]any{
		"audit_logs": []string{auditLog}, "passwd_file": passwd,
		"dataset_roots": []string{"/srv/ml/datasets"}, "model_roots": []string{"/srv/ml/models"},
		"anomalies": map[string]any{
			"restricted_hours": map[string]any{"paths": []string{"/srv/ml/datasets/pii"}, "hours": "08:00-18:00", "days": []string{"mon"}},
			"first_access":     map[string]any{"enabled": true, "learn": "0s", "max_pairs": 1000},
			"volume_spike":     map[string]any{"factor": 5, "min_events": 100, "baseline_hours": 24},
		},
	}
	wantEvents, wantSummaries := 32, 1
	if journal, err := exec.LookPath("journalctl"); err == nil {
		s["journal"], s["journalctl"] = true, journal
		s["journal_directory"] = unpackJournal(t)
		wantEvents, wantSummaries = 32+13, 2
	}
	settings, _ := json.Marshal(s)
	h := plugintest.Start(t, exe)
	if _, err := h.Configure(t, string(settings), t.TempDir()); err != nil {
		t.Fatal(err)
	}
	recs, _, err := h.Collect(t, sdk.Request{Full: true})
	if err != nil {
		t.Fatal(err)
	}
	events, assets := 0, map[string]bool{}
	rules := map[string]int{}
	for _, r := range recs {
		switch r.Kind {
		case access.KindEvent:
			events++
			var e access.Event
			json.Unmarshal(r.Attributes, &e)
			if e.Asset != "" {
				assets[e.Asset] = true
			}
		case access.KindSummary:
			wantSummaries--
			var sum access.Summary
			json.Unmarshal(r.Attributes, &sum)
			for _, a := range sum.Anomalies {
				rules[a.Rule]++
			}
		}
	}
	if events != wantEvents || wantSummaries != 0 {
		t.Errorf("%d events (want %d), %d summaries missing", events, wantEvents, wantSummaries)
	}
	for _, a := range []string{"dataset:/srv/ml/datasets/iris", "dataset:/srv/ml/datasets/pii", "dataset:/srv/ml/datasets/my data", "model:/srv/ml/models/llama.safetensors"} {
		if !assets[a] {
			t.Errorf("no event names asset %s (got %v)", a, assets)
		}
	}
	if rules["first_access"] != 4 || rules["restricted_outside_hours"] != 1 {
		t.Errorf("anomalies by rule %v, want 4 first_access and 1 restricted_outside_hours", rules)
	}
}

func unpackJournal(t *testing.T) string {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "journal", "auth.journal.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out, err := os.Create(filepath.Join(dir, "auth.journal"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if _, err := io.Copy(out, zr); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestExecutableOlddir: the real executable over go-plugin, the real
// logrotate rotating the auth log twice into an olddir (learnt from its
// configuration) between collections: every new line arrives once, and
// the summary names the folder and the configuration line.
func TestExecutableOlddir(t *testing.T) {
	bin, err := exec.LookPath("logrotate")
	if err != nil {
		t.Skip("logrotate not installed (apt-get install logrotate)")
	}
	exe := plugintest.Build(t, pkg)
	auth, _ := logs(t)
	archive := filepath.Join(t.TempDir(), "archive")
	if err := os.Mkdir(archive, 0o755); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(t.TempDir(), "logrotate.conf")
	if err := os.WriteFile(conf, []byte(auth+" {\n  rotate 3\n  compress\n  olddir "+archive+"\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	settings, _ := json.Marshal(map[string]any{"auth_logs": []string{auth}, "year": 2025, "logrotate_config": []string{conf}})
	h := plugintest.Start(t, exe)
	if _, err := h.Configure(t, string(settings), t.TempDir()); err != nil {
		t.Fatal(err)
	}
	_, cps, err := h.Collect(t, sdk.Request{Full: true})
	if err != nil || len(cps) == 0 {
		t.Fatalf("first collection: %v", err)
	}
	state := filepath.Join(t.TempDir(), "state")
	for _, user := range []string{"erin", "frank"} {
		f, err := os.OpenFile(auth, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o640)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString("Mar  3 10:00:00 gpu01 sshd[9]: Accepted publickey for " + user + " from 192.0.2.50 port 4242 ssh2\n")
		f.Close()
		if out, err := exec.Command(bin, "-f", "-s", state, conf).CombinedOutput(); err != nil {
			t.Fatalf("logrotate: %v: %s", err, out)
		}
	}
	recs, _, err := h.Collect(t, sdk.Request{Full: true, Checkpoint: cps[len(cps)-1]})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	var sum access.Summary
	for _, r := range recs {
		switch r.Kind {
		case access.KindEvent:
			var e access.Event
			json.Unmarshal(r.Attributes, &e)
			got = append(got, e.Actor)
		case access.KindSummary:
			json.Unmarshal(r.Attributes, &sum)
		}
	}
	if len(got) != 2 || got[0] != "erin" || got[1] != "frank" {
		t.Errorf("after two rotations into the olddir: %v, want [erin frank]", got)
	}
	if sum.Olddir != archive || sum.OlddirSource != "logrotate "+conf+":4" || len(sum.Rotations) != 2 || sum.Rotations[0] != "gzip" {
		t.Errorf("summary olddir %q from %q, rotations %v", sum.Olddir, sum.OlddirSource, sum.Rotations)
	}
}
