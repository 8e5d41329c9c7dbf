package access

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/annexa/annexa/plugins/sdk"
)

// logrotate runs the real logrotate on one log with the given
// directives, forced, with its own state file.
type logrotate struct {
	t          testing.TB
	bin        string
	conf, stat string
}

func newLogrotate(t testing.TB, path string, directives ...string) *logrotate {
	t.Helper()
	bin := needTool(t, "logrotate")
	dir := t.TempDir()
	lr := &logrotate{t: t, bin: bin, conf: filepath.Join(dir, "logrotate.conf"), stat: filepath.Join(dir, "state")}
	conf := path + " {\n\t" + strings.Join(directives, "\n\t") + "\n}\n"
	if err := os.WriteFile(lr.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return lr
}

func (lr *logrotate) rotate() {
	lr.t.Helper()
	out, err := exec.Command(lr.bin, "-f", "-s", lr.stat, lr.conf).CombinedOutput()
	if err != nil || len(out) > 0 {
		lr.t.Fatalf("logrotate: %v: %s", err, out)
	}
}

// compressDirectives has logrotate compress with the real tool.
func compressDirectives(t testing.TB, kind string) []string {
	switch kind {
	case "gzip":
		return []string{"compress"}
	case "xz":
		return []string{"compress", "compresscmd " + needTool(t, "xz"), "uncompresscmd " + needTool(t, "unxz"), "compressext .xz"}
	case "zstd":
		return []string{"compress", "compresscmd " + needTool(t, "zstd"), "uncompresscmd " + needTool(t, "unzstd"), "compressext .zst", "compressoptions -q"}
	}
	return nil
}

// untilNextSecond waits for the clock's second to change: dateext names
// a rotation by it (dateformat -%Y%m%d-%s), and logrotate skips a
// rotation whose name is taken.
func untilNextSecond() {
	now := time.Now()
	time.Sleep(now.Truncate(time.Second).Add(time.Second + 10*time.Millisecond).Sub(now))
}

// rotateTwice runs the middle of the two-rotation tests: the first
// collection reads the 20 lines already written, logrotate rotates the log
// twice while 25 more are written, and the second collection must read
// exactly those 25, in order. It returns the second collection's records.
func rotateTwice(t *testing.T, a *fakeAgent, p *Plugin, lr *logrotate, path string, dateext bool, seen map[string]Event) []sdk.Record {
	t.Helper()
	recs, err := a.collect(t, p)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(eventsOf(t, recs, seen)); n != 20 {
		t.Fatalf("first collection: %d events", n)
	}
	appendFile(t, path, sshLines(20, 33))
	lr.rotate()
	appendFile(t, path, sshLines(33, 40))
	if dateext {
		untilNextSecond() // a second dateext rotation in the same second would reuse the name
	}
	lr.rotate()
	appendFile(t, path, sshLines(40, 45))
	if recs, err = a.collect(t, p); err != nil {
		t.Fatal(err)
	}
	if got := actors(eventsOf(t, recs, seen)); !slices.Equal(got, wantActors(20, 45)) {
		t.Fatalf("after two rotations got %v\nwant %v", got, wantActors(20, 45))
	}
	return recs
}

// rotateOnceMore ends the two-rotation tests: one more rotation is
// followed with only the new lines read, and an idle collection reads none.
func rotateOnceMore(t *testing.T, a *fakeAgent, p *Plugin, lr *logrotate, path string, dateext bool, seen map[string]Event) {
	t.Helper()
	appendFile(t, path, sshLines(45, 50))
	if dateext {
		untilNextSecond()
	}
	lr.rotate()
	appendFile(t, path, sshLines(50, 52))
	recs, _ := a.collect(t, p)
	if got := actors(eventsOf(t, recs, seen)); !slices.Equal(got, wantActors(45, 52)) {
		t.Fatalf("after a third rotation got %v", got)
	}
	recs, _ = a.collect(t, p)
	if n := len(eventsOf(t, recs, seen)); n != 0 {
		t.Fatalf("idle collection: %d events", n)
	}
}

// TestLogrotateTwiceBetweenCollections: the real logrotate rotates the
// log twice between two collections (numbered and dateext names, xz,
// zstd and gzip, delaycompress, copytruncate): every line is read once,
// in order, and the summary says how each rotated file was found.
func TestLogrotateTwiceBetweenCollections(t *testing.T) {
	cases := []struct {
		name       string
		directives []string
		compress   string
		dateext    bool
		want       []string
	}{
		{"numbered xz delaycompress", []string{"rotate 5", "delaycompress"}, "xz", false, []string{"xz", "rename"}},
		{"numbered zstd", []string{"rotate 5"}, "zstd", false, []string{"zstd", "zstd"}},
		{"numbered gzip", []string{"rotate 5"}, "gzip", false, []string{"gzip", "gzip"}},
		{"numbered plain", []string{"rotate 5"}, "", false, []string{"rename", "rename"}},
		{"dateext xz delaycompress", []string{"rotate 5", "delaycompress", "dateext", "dateformat -%Y%m%d-%s"}, "xz", true, []string{"xz", "rename"}},
		{"dateext zstd", []string{"rotate 5", "dateext", "dateformat -%Y%m%d-%s"}, "zstd", true, []string{"zstd", "zstd"}},
		{"copytruncate zstd delaycompress", []string{"rotate 5", "copytruncate", "delaycompress"}, "zstd", false, []string{"zstd", "rename"}},
		{"copytruncate plain", []string{"rotate 5", "copytruncate"}, "", false, []string{"copytruncate", "rename"}},
		{"copytruncate xz", []string{"rotate 5", "copytruncate"}, "xz", false, []string{"xz", "xz"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // the dateext cases wait for the clock
			path := logPath(t)
			lr := newLogrotate(t, path, append(tc.directives, compressDirectives(t, tc.compress)...)...)
			appendFile(t, path, sshLines(0, 20))
			p, a := authPlugin(t, path), &fakeAgent{}
			seen := map[string]Event{}
			recs := rotateTwice(t, a, p, lr, path, tc.dateext, seen)
			s := summariesOf(recs)[0]
			if !slices.Equal(s.Rotations, tc.want) || s.Note != "" {
				t.Errorf("rotations %v, note %q; want %v", s.Rotations, s.Note, tc.want)
			}
			rotateOnceMore(t, a, p, lr, path, tc.dateext, seen)
		})
	}
}

// TestLogrotateGap: only when the checkpoint's file is truly gone — the
// rotated copy holding it deleted, or rotated out by logrotate's own
// count — is a gap reported; the newer rotated copy and the live log are
// still read.
func TestLogrotateGap(t *testing.T) {
	for _, how := range []string{"deleted", "rotate 1"} {
		t.Run(how, func(t *testing.T) {
			path := logPath(t)
			keep := "rotate 5"
			if how == "rotate 1" {
				keep = how
			}
			lr := newLogrotate(t, path, append([]string{keep}, compressDirectives(t, "xz")...)...)
			appendFile(t, path, sshLines(0, 10))
			p, a := authPlugin(t, path), &fakeAgent{}
			seen := map[string]Event{}
			recs, _ := a.collect(t, p)
			eventsOf(t, recs, seen)
			appendFile(t, path, sshLines(10, 20)) // lost with its file
			lr.rotate()
			appendFile(t, path, sshLines(20, 30))
			lr.rotate()
			appendFile(t, path, sshLines(30, 35))
			if how == "deleted" {
				if err := os.Remove(path + ".2.xz"); err != nil {
					t.Fatal(err)
				}
			} else if _, err := os.Stat(path + ".2.xz"); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("logrotate kept .2.xz with rotate 1: %v", err)
			}
			recs, err := a.collect(t, p)
			if err != nil {
				t.Fatal(err)
			}
			if got := actors(eventsOf(t, recs, seen)); !slices.Equal(got, wantActors(20, 35)) {
				t.Fatalf("got %v\nwant %v", got, wantActors(20, 35))
			}
			if s := summariesOf(recs)[0]; !slices.Equal(s.Rotations, []string{"gap", "xz"}) {
				t.Errorf("rotations %v, want [gap xz]", s.Rotations)
			}
		})
	}
}

// TestLogrotateEmptyThenRotated: the log was empty at the last collection,
// so only the rotated copies made since tell where its lines went.
func TestLogrotateEmptyThenRotated(t *testing.T) {
	path := logPath(t)
	lr := newLogrotate(t, path, append([]string{"rotate 5", "delaycompress"}, compressDirectives(t, "zstd")...)...)
	// History from before the plugin: never read.
	appendFile(t, path, sshLines(900, 905))
	lr.rotate()
	appendFile(t, path, "")
	lr.rotate()
	appendFile(t, path, "")
	p, a := authPlugin(t, path), &fakeAgent{}
	seen := map[string]Event{}
	recs, _ := a.collect(t, p)
	if n := len(eventsOf(t, recs, seen)); n != 0 {
		t.Fatalf("history read: %d events", n)
	}
	appendFile(t, path, sshLines(0, 10))
	lr.rotate()
	appendFile(t, path, sshLines(10, 20))
	lr.rotate()
	appendFile(t, path, sshLines(20, 25))
	recs, _ = a.collect(t, p)
	if got := actors(eventsOf(t, recs, seen)); !slices.Equal(got, wantActors(0, 25)) {
		t.Fatalf("got %v\nwant %v", got, wantActors(0, 25))
	}
}

// TestDecompressionCaps: a compressed rotated file bigger than the
// collection's budget is read over several collections, each line once;
// one bigger than the per-file cap is cut there with a note, and the
// newer files are still read.
func TestDecompressionCaps(t *testing.T) {
	const lines = 3000 // about 300 KB
	t.Run("per collection", func(t *testing.T) {
		// Three generations of about 100 KB through 128 KiB a collection.
		path := logPath(t)
		lr := newLogrotate(t, path, append([]string{"rotate 5"}, compressDirectives(t, "xz")...)...)
		appendFile(t, path, sshLines(0, 1))
		p := newPlugin(t, map[string]any{"auth_logs": []string{path}, "max_decompressed_per_file": 128 << 10, "max_decompressed_per_collection": 128 << 10})
		a := &fakeAgent{}
		seen := map[string]Event{}
		recs, _ := a.collect(t, p)
		eventsOf(t, recs, seen)
		for g := range 3 {
			appendFile(t, path, sshLines(max(1, g*lines/3), (g+1)*lines/3))
			lr.rotate()
		}
		appendFile(t, path, sshLines(lines, lines+10))
		var got []string
		deferrals := 0
		for i := 0; i < 20 && len(got) < lines+9; i++ {
			recs, err := a.collect(t, p)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, actors(eventsOf(t, recs, seen))...)
			if strings.Contains(summariesOf(recs)[0].Note, "max_decompressed_per_collection") {
				deferrals++
			}
		}
		if !slices.Equal(got, wantActors(1, lines+10)) {
			t.Fatalf("%d events over the collections, want %d in order", len(got), lines+9)
		}
		if deferrals < 2 {
			t.Errorf("%d collections said they were cut short by the budget; 300 KB in 128 KiB shares needs at least 2", deferrals)
		}
	})
	t.Run("per file", func(t *testing.T) {
		path := logPath(t)
		lr := newLogrotate(t, path, append([]string{"rotate 5"}, compressDirectives(t, "zstd")...)...)
		appendFile(t, path, sshLines(0, 1))
		p := newPlugin(t, map[string]any{"auth_logs": []string{path}, "max_decompressed_per_file": 64 << 10})
		a := &fakeAgent{}
		seen := map[string]Event{}
		recs, _ := a.collect(t, p)
		eventsOf(t, recs, seen)
		appendFile(t, path, sshLines(1, lines))
		lr.rotate()
		appendFile(t, path, sshLines(lines, lines+5))
		lr.rotate()
		appendFile(t, path, sshLines(lines+5, lines+10))
		recs, err := a.collect(t, p)
		if err != nil {
			t.Fatal(err)
		}
		// The lines wholly inside the first 64 KiB, then the newer files.
		whole, size := 0, 0
		for i := 0; ; i++ {
			if size += len(sshLine(i)); size > 64<<10 {
				break
			}
			whole = i + 1
		}
		want := append(wantActors(1, whole), wantActors(lines, lines+10)...)
		if got := actors(eventsOf(t, recs, seen)); !slices.Equal(got, want) {
			t.Fatalf("got %d events, want %d (%d cut at the cap)", len(got), len(want), lines-whole)
		}
		if s := summariesOf(recs)[0]; !strings.Contains(s.Note, "max_decompressed_per_file (65536 bytes)") {
			t.Errorf("note %q", s.Note)
		}
	})
}

// TestLogrotateCrashAnywhere: the real logrotate rotates a real sshd log
// (numbered, xz/zstd/gzip or none, delaycompress or not, copytruncate or
// not, into an olddir or not) zero to three times between collections, keeping a hundred, while the "agent"
// crashes at random checkpoints; every line arrives exactly once.
func TestLogrotateCrashAnywhere(t *testing.T) {
	needTool(t, "logrotate")
	src := loghub(t, "OpenSSH_2k.log")
	raw, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(strings.TrimRight(string(raw), "\r\n")+"\r\n", "\n")
	lines = lines[:len(lines)-1]
	_, wantCounts, _ := parseFile(t, src, 2024)
	seeds := uint64(8)
	if n, err := strconv.Atoi(os.Getenv("ACCESS_CRASH_SEEDS")); err == nil && n > 0 {
		seeds = uint64(n) // a longer soak, as for TestCrashAnywhere
	}
	for seed := range seeds {
		if s := os.Getenv("ACCESS_SEED"); s != "" && s != fmt.Sprint(seed) {
			continue
		}
		rng := rand.New(rand.NewPCG(seed, 11))
		path := logPath(t)
		directives := []string{"rotate 100"} // none deleted: a crash-looping agent may fall far behind
		if rng.IntN(2) == 0 {
			directives = append(directives, "delaycompress")
		}
		if rng.IntN(3) == 0 {
			directives = append(directives, "copytruncate")
		}
		kind := []string{"", "gzip", "xz", "zstd"}[rng.IntN(4)]
		if seed%2 == 1 {
			// Odd seeds rotate into an olddir, learnt from the
			// configuration (not drawn from rng: the seeds stay as they were).
			if err := os.Mkdir(filepath.Join(filepath.Dir(path), "old"), 0o755); err != nil {
				t.Fatal(err)
			}
			directives = append(directives, "olddir old")
		}
		lr := newLogrotate(t, path, append(directives, compressDirectives(t, kind)...)...)
		p := newPlugin(t, map[string]any{"auth_logs": []string{path}, "batch_lines": 1 + rng.IntN(60), "year": 2024, "logrotate_config": []string{lr.conf}})
		a := &fakeAgent{}
		seen := map[string]Event{}
		got := map[string]int{}
		written := 0
		for written < len(lines) || a.cp == nil {
			for range rng.IntN(4) {
				n := min(len(lines)-written, rng.IntN(200))
				appendFile(t, path, strings.Join(lines[written:written+n], ""))
				written += n
				if a.cp != nil {
					lr.rotate()
				}
			}
			a.crashAt = 0
			if rng.IntN(2) == 0 {
				a.crashAt = a.calls + 1 + rng.IntN(5)
			}
			recs, err := a.collect(t, p)
			if err != nil && !errors.Is(err, errCrash) {
				t.Fatal(err)
			}
			for _, ev := range eventsOf(t, recs, seen) {
				got[ev.Action]++
			}
			if os.Getenv("ACCESS_DEBUG") != "" {
				ls, _ := exec.Command("ls", "-liR", filepath.Dir(path)).Output()
				t.Logf("seed %d written=%d crashAt=%d err=%v events=%d cp=%s\n%s", seed, written, a.crashAt, err, len(eventsOf(t, recs, map[string]Event{})), a.cp, ls)
			}
			if written == len(lines) && err == nil {
				break
			}
		}
		a.crashAt = 0
		for range 3 {
			recs, _ := a.collect(t, p)
			for _, ev := range eventsOf(t, recs, seen) {
				got[ev.Action]++
			}
		}
		if !mapsEqual(got, wantCounts) {
			t.Fatalf("seed %d (%v %s): collected %v\nwant %v", seed, directives, kind, got, wantCounts)
		}
	}
}

// TestLogrotateAbsentAtFirst: a log not there at the first collection is
// watched from then on: written and rotated twice before the next one,
// its lines are read, not taken as history.
func TestLogrotateAbsentAtFirst(t *testing.T) {
	path := logPath(t)
	lr := newLogrotate(t, path, append([]string{"rotate 5", "missingok"}, compressDirectives(t, "xz")...)...)
	p, a := authPlugin(t, path), &fakeAgent{}
	seen := map[string]Event{}
	recs, _ := a.collect(t, p)
	if n := len(eventsOf(t, recs, seen)); n != 0 {
		t.Fatalf("%d events from no log", n)
	}
	appendFile(t, path, sshLines(0, 10))
	lr.rotate()
	appendFile(t, path, sshLines(10, 20))
	lr.rotate()
	recs, _ = a.collect(t, p)
	if got := actors(eventsOf(t, recs, seen)); !slices.Equal(got, wantActors(0, 20)) {
		t.Fatalf("got %v\nwant %v", got, wantActors(0, 20))
	}
	if s := summariesOf(recs)[0]; !slices.Equal(s.Rotations, []string{"missed", "missed"}) {
		t.Errorf("rotations %v", s.Rotations)
	}
}

// TestRotatedCopyOverLimit: a rotated copy whose xz dictionary is over
// the limit is not decompressed; the followed file it holds is then a gap,
// and the summary's note says why.
func TestRotatedCopyOverLimit(t *testing.T) {
	path := logPath(t)
	appendFile(t, path, sshLines(0, 5))
	p, a := authPlugin(t, path), &fakeAgent{}
	seen := map[string]Event{}
	recs, _ := a.collect(t, p)
	eventsOf(t, recs, seen)
	appendFile(t, path, sshLines(5, 10))
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".1.xz", compressWith(t, b, "xz", "-c", "--lzma2=dict=256MiB"), 0o640); err != nil {
		t.Fatal(err)
	}
	os.Remove(path)
	appendFile(t, path, sshLines(10, 12))
	recs, err = a.collect(t, p)
	if err != nil {
		t.Fatal(err)
	}
	if got := actors(eventsOf(t, recs, seen)); !slices.Equal(got, wantActors(10, 12)) {
		t.Fatalf("got %v", got)
	}
	s := summariesOf(recs)[0]
	if !slices.Equal(s.Rotations, []string{"gap"}) || !strings.Contains(s.Note, "auth.log.1.xz: xz: a block needs a 256 MiB dictionary, over the 64 MiB limit") {
		t.Errorf("rotations %v, note %q", s.Rotations, s.Note)
	}
}
