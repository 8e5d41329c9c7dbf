package access

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestGlobLogs: a pattern reads each live log it matches, never the
// rotated ones beside them; a matched log rotated away is finished from
// its .1; one that is gone for good leaves the checkpoint.
func TestGlobLogs(t *testing.T) {
	dir := t.TempDir()
	for name, text := range map[string]string{
		"a.log": sshLines(0, 3), "b.log": sshLines(3, 5),
		"a.log.1": sshLines(100, 110), "b.log.2.gz": "x", "c.log-20250303": sshLines(200, 210), "d.log.old": sshLines(300, 301),
		"e.log-20250303-1741000000": sshLines(400, 402), "f.log-2025-03-03": sshLines(410, 412), "g.log.3.zst": "x", "h.log.tmp": sshLines(420, 421),
	} {
		appendFile(t, filepath.Join(dir, name), text)
	}
	pattern := filepath.Join(dir, "*.log*")
	p := newPlugin(t, map[string]any{"auth_logs": []string{pattern, filepath.Join(dir, "a.log")}})
	a := &fakeAgent{}
	seen := map[string]Event{}
	recs, err := a.collect(t, p)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, s := range summariesOf(recs) {
		paths = append(paths, filepath.Base(s.Path))
	}
	if evs := eventsOf(t, recs, seen); len(evs) != 5 || !slices.Equal(paths, []string{"a.log", "b.log"}) {
		t.Fatalf("%d events from %v; want 5 from a.log and b.log once each", len(evs), paths)
	}
	// a.log gets two lines and is rotated; b.log is deleted.
	appendFile(t, filepath.Join(dir, "a.log"), sshLines(3, 5))
	os.Remove(filepath.Join(dir, "a.log.1"))
	if err := os.Rename(filepath.Join(dir, "a.log"), filepath.Join(dir, "a.log.1")); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "b.log"))
	recs, err = a.collect(t, p)
	if err != nil {
		t.Fatal(err)
	}
	if evs := eventsOf(t, recs, seen); len(evs) != 2 || evs[0].Actor != "u3" {
		t.Errorf("after rotation: %v, want u3 u4 from a.log.1", actors(evs))
	}
	cp, err := decodeCheckpoint(a.cp)
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for path := range cp.Logs {
		kept = append(kept, filepath.Base(path))
	}
	slices.Sort(kept)
	// a.log is configured by name too, so it stays; b.log is gone: after
	// its gap is noted it is forgotten on the next collection.
	if _, err := a.collect(t, p); err != nil {
		t.Fatal(err)
	}
	cp, _ = decodeCheckpoint(a.cp)
	if _, ok := cp.Logs[filepath.Join(dir, "b.log")]; ok || cp.Logs[filepath.Join(dir, "a.log")] == nil {
		t.Errorf("checkpoint logs after b.log went away: %v (before: %v)", cp.Logs, kept)
	}
}

func TestGlobSettings(t *testing.T) {
	for _, tc := range []struct{ path, want string }{
		{"/var/log/[a-", "is not a valid glob"},
		{"/var/*/auth.log", "only the file name may be a pattern"},
	} {
		err := configureErr(t, map[string]any{"auth_logs": []string{tc.path}})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.path, err, tc.want)
		}
	}
	if err := configureErr(t, map[string]any{"audit_logs": []string{"/var/log/audit/audit*.log"}}); err != nil {
		t.Errorf("a valid pattern refused: %v", err)
	}
}
