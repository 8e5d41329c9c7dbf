package access

import (
	"compress/gzip"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// journalDir unpacks the real journal file (testdata/journal/gen.py) into
// a temporary folder for journalctl --directory.
func journalDir(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("journalctl"); err != nil {
		t.Skip("journalctl is not installed (Debian package systemd): the journal source is untested here")
	}
	f, err := os.Open(fixture(t, "journal/auth.journal.gz"))
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
	if _, err := io.Copy(out, zr); err != nil {
		t.Fatal(err)
	}
	out.Close()
	return dir
}

func TestJournal(t *testing.T) {
	dir := journalDir(t)
	p := newPlugin(t, map[string]any{"journal": true, "journal_directory": dir, "batch_lines": 4, "dataset_roots": []string{"/srv/ml/datasets"}})
	p.fsRoot = assetTree(t)
	a := &fakeAgent{}
	seen := map[string]Event{}
	recs, err := a.collect(t, p)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range eventsOf(t, recs, seen) {
		got = append(got, strings.Join([]string{e.Source, e.Action, e.Result, e.Actor, e.Object, e.Remote, e.At, e.Program}, " "))
		if !strings.HasPrefix(e.Cursor, "s=") || e.Host != "gpu01" || e.PID == 0 {
			t.Errorf("event %+v lacks cursor, host or pid", e)
		}
	}
	want := []string{
		"journald invalid_user failure admin ssh 203.0.113.7 2025-03-03T09:00:01Z sshd",
		"journald login_failed failure admin ssh 203.0.113.7 2025-03-03T09:00:03Z sshd",
		"journald login_failed failure root ssh 203.0.113.7 2025-03-03T09:00:05Z sshd",
		"journald login_failed failure root ssh 203.0.113.7 2025-03-03T09:00:07Z sshd",
		"journald login_failed failure root ssh 203.0.113.7 2025-03-03T09:00:09Z sshd",
		"journald login_failed failure alice ssh 203.0.113.7 2025-03-03T09:00:11Z sshd",
		"journald login success alice ssh 203.0.113.7 2025-03-03T09:00:13Z sshd",
		"journald session_open success alice sshd  2025-03-03T09:00:15Z sshd",
		"journald privilege success alice root  2025-03-03T09:00:17Z sudo",
		"journald privilege_failed failure bob root  2025-03-03T09:00:19Z sudo",
		"journald privilege success alice root  2025-03-03T09:00:21Z su",
		// The binary MESSAGE (an array of bytes in -o json) is read too.
		"journald login_failed failure \xff\xfe ssh 198.51.100.9 2025-03-03T09:00:25Z sshd",
		"journald session_close success alice sshd  2025-03-03T09:00:27Z sshd",
	}
	if !slices.Equal(got, want) {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// sudo run inside a dataset folder names the dataset.
	var assets []string
	for _, e := range seen {
		if e.Asset != "" {
			assets = append(assets, e.Actor+" "+e.Action+" "+e.Asset)
		}
	}
	if !slices.Equal(assets, []string{"alice privilege dataset:/srv/ml/datasets/iris"}) {
		t.Errorf("assets %v", assets)
	}
	s := summariesOf(recs)
	// 14 auth entries; the daemon-facility one is not selected.
	if len(s) != 1 || s[0].Lines != 14 || s[0].Skipped != 1 || s[0].Source != SourceJournal || s[0].Note != "" {
		t.Errorf("summary %+v", s)
	}
	if len(s[0].Anomalies) == 0 || s[0].Anomalies[0].Rule != RuleBruteForce {
		t.Errorf("anomalies %+v, want brute_force first", s[0].Anomalies)
	}
	// Resumed after the cursor: nothing again.
	recs, err = a.collect(t, p)
	if err != nil {
		t.Fatal(err)
	}
	if evs := eventsOf(t, recs, seen); len(evs) != 0 {
		t.Errorf("%d events read again after the cursor", len(evs))
	}
}

// TestJournalCrash: the agent dies at each checkpoint in turn; every
// entry still arrives exactly once.
func TestJournalCrash(t *testing.T) {
	dir := journalDir(t)
	for crashAt := 1; crashAt <= 5; crashAt++ {
		p := newPlugin(t, map[string]any{"journal": true, "journal_directory": dir, "batch_lines": 3})
		a := &fakeAgent{crashAt: crashAt}
		seen := map[string]Event{}
		n := 0
		for range 3 {
			recs, err := a.collect(t, p)
			if err != nil && !errors.Is(err, errCrash) {
				t.Fatal(err)
			}
			n += len(eventsOf(t, recs, seen))
		}
		if n != 13 {
			t.Errorf("crash at checkpoint %d: %d events, want 13", crashAt, n)
		}
	}
}

func TestJournalAbsent(t *testing.T) {
	p := newPlugin(t, map[string]any{"journal": true, "journalctl": "/nonexistent/journalctl"})
	recs, err := (&fakeAgent{}).collect(t, p)
	if err != nil {
		t.Fatalf("a missing journalctl must not fail the collection: %v", err)
	}
	s := summariesOf(recs)
	if len(s) != 1 || !strings.Contains(s[0].Note, "journal not read: /nonexistent/journalctl not found") {
		t.Errorf("summary %+v: want a note that says journalctl is missing", s)
	}
}

func TestJournalFails(t *testing.T) {
	if _, err := exec.LookPath("journalctl"); err != nil {
		t.Skip("journalctl is not installed")
	}
	p := newPlugin(t, map[string]any{"journal": true, "journal_directory": t.TempDir()})
	// A cursor journalctl cannot parse makes it fail.
	a := &fakeAgent{cp: []byte(`{"v":1,"logs":{"journal":{"offset":0,"size":0,"lines":0,"cursor":"not-a-cursor","year":{},"det":{},"vol":{},"win":{}}}}`)}
	recs, err := a.collect(t, p)
	if err != nil {
		t.Fatal(err)
	}
	s := summariesOf(recs)
	if len(s) != 1 || !strings.Contains(s[0].Note, "journalctl failed") {
		t.Errorf("summary %+v: want a note that journalctl failed", s)
	}
}

// TestJournalJSONLines parses what journalctl -o json printed for the
// fixture journal (testdata/journal/auth.jsonl), with no journalctl needed.
func TestJournalJSONLines(t *testing.T) {
	b, err := os.ReadFile(fixture(t, "journal/auth.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var events, skipped int
	var binary Event
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		ev, cursor, res := parseJournalLine([]byte(l))
		if cursor == "" {
			t.Errorf("no cursor from %q", l)
		}
		switch res {
		case lineEvent:
			events++
			if strings.Contains(ev.Line, "\xff") {
				binary = ev
			}
		case lineSkipped:
			skipped++
		default:
			t.Errorf("malformed: %q", l)
		}
	}
	if events != 13 || skipped != 2 {
		t.Errorf("%d events, %d skipped; want 13 and 2 (a disconnect, a daemon message)", events, skipped)
	}
	if binary.Remote != "198.51.100.9" || binary.Action != ActionLoginFailed {
		t.Errorf("the byte-array MESSAGE: %+v", binary)
	}
}
