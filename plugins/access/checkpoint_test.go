package access

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func authPlugin(t *testing.T, path string) *Plugin {
	return newPlugin(t, map[string]any{"auth_logs": []string{path}, "batch_lines": 7})
}

func TestResumeOnlyNewLines(t *testing.T) {
	path := logPath(t)
	appendFile(t, path, sshLines(0, 30))
	p, a := authPlugin(t, path), &fakeAgent{}
	seen := map[string]Event{}
	recs, err := a.collect(t, p)
	if err != nil {
		t.Fatal(err)
	}
	if evs := eventsOf(t, recs, seen); len(evs) != 30 {
		t.Fatalf("first collection: %d events, want 30", len(evs))
	}
	recs, _ = a.collect(t, p)
	if evs := eventsOf(t, recs, seen); len(evs) != 0 {
		t.Fatalf("nothing appended, yet %d events", len(evs))
	}
	if s := summariesOf(recs); len(s) != 1 || s[0].Lines != 0 {
		t.Errorf("idle summary %+v", s)
	}
	appendFile(t, path, sshLines(30, 45))
	recs, _ = a.collect(t, p)
	evs := eventsOf(t, recs, seen)
	if len(evs) != 15 || evs[0].Actor != "u30" || evs[14].Actor != "u44" {
		t.Fatalf("after append: %v", actors(evs))
	}
	if evs[0].LineNo != 31 {
		t.Errorf("line_no %d, want 31", evs[0].LineNo)
	}
	s := summariesOf(recs)
	if len(s) != 1 || s[0].Lines != 15 || s[0].ByAction[ActionLoginFailed] != 15 || s[0].ByResult[ResultFailure] != 15 {
		t.Errorf("summary %+v", s)
	}
}

func TestPartialLineHeldBack(t *testing.T) {
	path := logPath(t)
	full := sshLine(1)
	appendFile(t, path, sshLine(0)+full[:40])
	p, a := authPlugin(t, path), &fakeAgent{}
	seen := map[string]Event{}
	recs, _ := a.collect(t, p)
	if evs := eventsOf(t, recs, seen); len(evs) != 1 {
		t.Fatalf("%d events; the unfinished line must wait", len(evs))
	}
	recs, _ = a.collect(t, p)
	if evs := eventsOf(t, recs, seen); len(evs) != 0 {
		t.Fatalf("still unfinished, yet %d events", len(evs))
	}
	appendFile(t, path, full[40:])
	recs, _ = a.collect(t, p)
	evs := eventsOf(t, recs, seen)
	if len(evs) != 1 || evs[0].Line+"\n" != full {
		t.Fatalf("completed line: %+v", evs)
	}
}

func TestRotateByRename(t *testing.T) {
	for _, gz := range []bool{false, true} {
		name := "rename"
		if gz {
			name = "rename+gzip"
		}
		t.Run(name, func(t *testing.T) {
			path := logPath(t)
			appendFile(t, path, sshLines(0, 20))
			p, a := authPlugin(t, path), &fakeAgent{}
			seen := map[string]Event{}
			recs, _ := a.collect(t, p)
			eventsOf(t, recs, seen)
			// Lines written after the collection, then rotation, then more.
			appendFile(t, path, sshLines(20, 33))
			if err := os.Rename(path, path+".1"); err != nil {
				t.Fatal(err)
			}
			if gz {
				gzipFile(t, path+".1")
			}
			appendFile(t, path, sshLines(33, 40))
			recs, err := a.collect(t, p)
			if err != nil {
				t.Fatal(err)
			}
			evs := eventsOf(t, recs, seen)
			if got, want := actors(evs), wantActors(20, 40); !slices.Equal(got, want) {
				t.Fatalf("after rotation got %v\nwant %v", got, want)
			}
			s := summariesOf(recs)[0]
			wantHow := "rename"
			if gz {
				wantHow = "gzip"
			}
			if !slices.Equal(s.Rotations, []string{wantHow}) {
				t.Errorf("rotations %v, want [%s]", s.Rotations, wantHow)
			}
			appendFile(t, path, sshLines(40, 42))
			recs, _ = a.collect(t, p)
			if got := actors(eventsOf(t, recs, seen)); !slices.Equal(got, wantActors(40, 42)) {
				t.Errorf("after that: %v", got)
			}
		})
	}
}

func TestCopyTruncate(t *testing.T) {
	path := logPath(t)
	appendFile(t, path, sshLines(0, 10))
	p, a := authPlugin(t, path), &fakeAgent{}
	seen := map[string]Event{}
	recs, _ := a.collect(t, p)
	eventsOf(t, recs, seen)
	appendFile(t, path, sshLines(10, 25))
	b, _ := os.ReadFile(path)
	if err := os.WriteFile(path+".1", b, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, sshLines(25, 28))
	recs, _ = a.collect(t, p)
	if got := actors(eventsOf(t, recs, seen)); !slices.Equal(got, wantActors(10, 28)) {
		t.Fatalf("got %v", got)
	}
	if s := summariesOf(recs)[0]; !slices.Equal(s.Rotations, []string{"copytruncate"}) {
		t.Errorf("rotations %v", s.Rotations)
	}
}

func TestTruncateRestartsAtZero(t *testing.T) {
	path := logPath(t)
	appendFile(t, path, sshLines(0, 10))
	p, a := authPlugin(t, path), &fakeAgent{}
	seen := map[string]Event{}
	recs, _ := a.collect(t, p)
	eventsOf(t, recs, seen)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, sshLines(100, 103))
	recs, _ = a.collect(t, p)
	evs := eventsOf(t, recs, seen)
	if got := actors(evs); !slices.Equal(got, wantActors(100, 103)) {
		t.Fatalf("got %v", got)
	}
	if evs[0].Offset != 0 || evs[0].LineNo != 1 {
		t.Errorf("restarted at offset %d line %d", evs[0].Offset, evs[0].LineNo)
	}
	if s := summariesOf(recs)[0]; !slices.Equal(s.Rotations, []string{"truncate"}) {
		t.Errorf("rotations %v", s.Rotations)
	}
	// Same inode, same offsets, new content: the subjects must still differ.
	// (eventsOf fails on a repeated subject.)
}

// TestCrashAnywhere appends to and rotates a real sshd log while the
// "agent" crashes at random checkpoints; every line must arrive exactly
// once.
func TestCrashAnywhere(t *testing.T) {
	src := loghub(t, "OpenSSH_2k.log")
	raw, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(strings.TrimRight(string(raw), "\r\n")+"\r\n", "\n")
	lines = lines[:len(lines)-1]
	_, wantCounts, _ := parseFile(t, src, 2024)
	seeds := uint64(30)
	if n, err := strconv.Atoi(os.Getenv("ACCESS_CRASH_SEEDS")); err == nil && n > 0 {
		seeds = uint64(n) // a longer soak: ACCESS_CRASH_SEEDS=500 go test -run CrashAnywhere
	}
	for seed := range seeds {
		if s := os.Getenv("ACCESS_SEED"); s != "" && s != strconv.FormatUint(seed, 10) {
			continue
		}
		rng := rand.New(rand.NewPCG(seed, 7))
		path := logPath(t)
		p := newPlugin(t, map[string]any{"auth_logs": []string{path}, "batch_lines": 1 + rng.IntN(60), "year": 2024})
		a := &fakeAgent{}
		seen := map[string]Event{}
		got := map[string]int{}
		written, lastOK := 0, true
		for written < len(lines) || a.cp == nil {
			n := min(len(lines)-written, rng.IntN(400))
			appendFile(t, path, strings.Join(lines[written:written+n], ""))
			written += n
			// Rotate only once the last rotated file was read: this
			// rotation keeps a single old copy, so a second one would
			// delete the first (TestLogrotateCrashAnywhere keeps ten).
			rot := rng.IntN(6)
			if !lastOK || a.cp == nil {
				// (Rotated files that predate the first collection are
				// history the plugin does not read.)
				rot = -1
			}
			switch rot {
			case 0:
				os.Remove(path + ".1")
				os.Remove(path + ".1.gz")
				if err := os.Rename(path, path+".1"); err != nil {
					t.Fatal(err)
				}
				if rng.IntN(2) == 0 {
					gzipFile(t, path+".1")
				}
			case 1:
				b, _ := os.ReadFile(path)
				os.Remove(path + ".1.gz")
				os.WriteFile(path+".1", b, 0o640)
				os.Truncate(path, 0)
			}
			a.crashAt = 0
			if rng.IntN(2) == 0 {
				a.crashAt = a.calls + 1 + rng.IntN(5)
			}
			recs, err := a.collect(t, p)
			if err != nil && !errors.Is(err, errCrash) {
				t.Fatal(err)
			}
			lastOK = err == nil
			for _, ev := range eventsOf(t, recs, seen) {
				got[ev.Action]++
			}
			if os.Getenv("ACCESS_DEBUG") != "" {
				// ACCESS_DEBUG=1 traces each step with its checkpoint.
				t.Logf("seed %d n=%d written=%d rot=%d crashAt=%d err=%v events=%d cp=%s", seed, n, written, rot, a.crashAt, err, len(eventsOf(t, recs, map[string]Event{})), a.cp)
			}
			if written == len(lines) && err == nil {
				break
			}
		}
		// Drain: collect until nothing new arrives.
		a.crashAt = 0
		for range 3 {
			recs, _ := a.collect(t, p)
			for _, ev := range eventsOf(t, recs, seen) {
				got[ev.Action]++
			}
		}
		if !mapsEqual(got, wantCounts) {
			t.Fatalf("seed %d: collected %v\nwant %v", seed, got, wantCounts)
		}
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func wantActors(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, "u"+itoa(i))
	}
	return out
}

func gzipFile(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path + ".gz")
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	os.Remove(path)
}

// TestRotateDateext: logrotate's dateext (RHEL's /var/log/secure-20250303)
// names each rotated copy by its date; renames, gzip and copytruncate are
// followed there as with <path>.1, every line once.
func TestRotateDateext(t *testing.T) {
	path := logPath(t)
	appendFile(t, path, sshLines(0, 10))
	p, a := authPlugin(t, path), &fakeAgent{}
	seen := map[string]Event{}
	recs, _ := a.collect(t, p)
	eventsOf(t, recs, seen)

	// An old rotation that predates the plugin must not be taken as new.
	appendFile(t, path+"-20250101", sshLines(900, 905))
	appendFile(t, path, sshLines(10, 15))
	if err := os.Rename(path, path+"-20260301"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, sshLines(15, 20))
	recs, _ = a.collect(t, p)
	if got := actors(eventsOf(t, recs, seen)); !slices.Equal(got, wantActors(10, 20)) {
		t.Fatalf("after a dateext rename: %v", got)
	}
	if s := summariesOf(recs)[0]; !slices.Equal(s.Rotations, []string{"rename"}) {
		t.Errorf("rotations %v, want [rename]", s.Rotations)
	}

	// compress without delaycompress: only the .gz of the next date is left.
	appendFile(t, path, sshLines(20, 24))
	if err := os.Rename(path, path+"-20260302"); err != nil {
		t.Fatal(err)
	}
	gzipFile(t, path+"-20260302")
	appendFile(t, path, sshLines(24, 26))
	recs, _ = a.collect(t, p)
	if got := actors(eventsOf(t, recs, seen)); !slices.Equal(got, wantActors(20, 26)) {
		t.Fatalf("after a dateext rename+gzip: %v", got)
	}
	if s := summariesOf(recs)[0]; !slices.Equal(s.Rotations, []string{"gzip"}) {
		t.Errorf("rotations %v, want [gzip]", s.Rotations)
	}

	// copytruncate with dateext.
	appendFile(t, path, sshLines(26, 30))
	b, _ := os.ReadFile(path)
	if err := os.WriteFile(path+"-20260303", b, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, sshLines(30, 31))
	recs, _ = a.collect(t, p)
	if got := actors(eventsOf(t, recs, seen)); !slices.Equal(got, wantActors(26, 31)) {
		t.Fatalf("after a dateext copytruncate: %v", got)
	}
	if s := summariesOf(recs)[0]; !slices.Equal(s.Rotations, []string{"copytruncate"}) {
		t.Errorf("rotations %v, want [copytruncate]", s.Rotations)
	}
}

func TestRotatedChain(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "secure")
	touch := func(names ...string) {
		for _, n := range names {
			if err := os.WriteFile(filepath.Join(dir, n), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	check := func(want ...string) {
		t.Helper()
		var got []string
		for _, g := range rotatedChain(path, dir) {
			var names []string
			for _, n := range g {
				names = append(names, filepath.Base(n))
			}
			got = append(got, strings.Join(names, "+"))
		}
		if !slices.Equal(got, want) {
			t.Errorf("rotatedChain = %v; want %v", got, want)
		}
	}
	check() // nothing rotated yet
	touch("secure-20260301", "secure-20260302.gz", "secure-backup", "secure-2026030", "secure-20260303.xz", "secure-20260304.zst")
	check("secure-20260304.zst", "secure-20260303.xz", "secure-20260302.gz", "secure-20260301")
	touch("secure-20260304") // being compressed: the plain file is whole
	check("secure-20260304+secure-20260304.zst", "secure-20260303.xz", "secure-20260302.gz", "secure-20260301")
	touch("secure.1", "secure.2.gz", "secure.10.bz2", "secure.3.xz", "secure.03", "secure.0", "secure.1.old", "secure.4.zst")
	// Numbered names win where both exist; by number, not by name.
	check("secure.1", "secure.2.gz", "secure.3.xz", "secure.4.zst", "secure.10.bz2")
}

// TestCheckpointBeforeMark: a checkpoint written before the rotation mark
// existed (its <path>.1 recorded as "sibling") still tells history from
// lines written since.
func TestCheckpointBeforeMark(t *testing.T) {
	path := logPath(t)
	appendFile(t, path+".1", sshLines(900, 905)) // history
	appendFile(t, path, "")                      // empty: only the mark can tell
	p, a := authPlugin(t, path), &fakeAgent{}
	seen := map[string]Event{}
	recs, _ := a.collect(t, p)
	eventsOf(t, recs, seen)
	var cp map[string]any
	dec := json.NewDecoder(bytes.NewReader(a.cp))
	dec.UseNumber() // nanosecond times do not survive a float64
	if err := dec.Decode(&cp); err != nil {
		t.Fatal(err)
	}
	st := cp["logs"].(map[string]any)[path].(map[string]any)
	mark := st["mark"].(map[string]any)
	delete(mark, "head")
	delete(mark, "head_len")
	st["sibling"] = mark
	delete(st, "mark")
	a.cp, _ = json.Marshal(cp)
	// The log is written, then rotated the numbered way.
	appendFile(t, path, sshLines(0, 10))
	if err := os.Rename(path+".1", path+".2"); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, sshLines(10, 12))
	recs, err := a.collect(t, p)
	if err != nil {
		t.Fatal(err)
	}
	if got := actors(eventsOf(t, recs, seen)); !slices.Equal(got, wantActors(0, 12)) {
		t.Fatalf("got %v\nwant %v", got, wantActors(0, 12))
	}
	if strings.Contains(string(a.cp), `"sibling"`) {
		t.Errorf("the old field is written again: %s", a.cp)
	}
}
