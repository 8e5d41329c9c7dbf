package access

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/annexa/annexa/plugins/sdk"
)

// newLogrotateConf runs the real logrotate on a whole configuration
// file, written as given, with its own state file.
func newLogrotateConf(t testing.TB, conf string) *logrotate {
	t.Helper()
	bin := needTool(t, "logrotate")
	dir := t.TempDir()
	lr := &logrotate{t: t, bin: bin, conf: filepath.Join(dir, "logrotate.conf"), stat: filepath.Join(dir, "state")}
	if err := os.WriteFile(lr.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return lr
}

// otherFilesystem is a folder on another filesystem than t.TempDir()'s
// (/dev/shm, a tmpfs), or "" where there is none to write to.
func otherFilesystem(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/dev/shm", "annexa-olddir-")
	if err != nil {
		return ""
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	a, errA := os.Stat(dir)
	b, errB := os.Stat(t.TempDir())
	if errA != nil || errB != nil {
		return ""
	}
	if da, _ := fileID(a); da != 0 {
		if db, _ := fileID(b); da != db {
			return dir
		}
	}
	return ""
}

// TestLogrotateOlddir: the real logrotate moves rotated copies into an
// olddir (relative to the log's folder or absolute, on the same or
// another filesystem, numbered or dateext, compressed or not) twice
// between two collections; every line arrives once, in order, whether
// the folder comes from the olddirs setting or from logrotate's own
// configuration, and the summary says which.
func TestLogrotateOlddir(t *testing.T) {
	cases := []struct {
		name       string
		olddir     string // "ABS" → an absolute folder; "OTHERFS" → one on another filesystem
		directives []string
		compress   string
		dateext    bool
		setting    bool // olddirs setting, not discovery
		want       []string
	}{
		{"relative plain discovered", "old", []string{"rotate 5"}, "", false, false, []string{"rename", "rename"}},
		{"relative nested xz setting", "archive/auth", []string{"rotate 5"}, "xz", false, true, []string{"xz", "xz"}},
		{"absolute gzip delaycompress discovered", "ABS", []string{"rotate 5", "delaycompress"}, "gzip", false, false, []string{"gzip", "rename"}},
		{"absolute zstd setting", "ABS", []string{"rotate 5"}, "zstd", false, true, []string{"zstd", "zstd"}},
		{"dateext relative gzip discovered", "old", []string{"rotate 5", "dateext", "dateformat -%Y%m%d-%s"}, "gzip", true, false, []string{"gzip", "gzip"}},
		{"dateext absolute plain setting", "ABS", []string{"rotate 5", "dateext", "dateformat -%Y%m%d-%s"}, "", true, true, []string{"rename", "rename"}},
		{"copytruncate relative discovered", "old", []string{"rotate 5", "copytruncate"}, "", false, false, []string{"copytruncate", "rename"}},
		{"other filesystem copytruncate xz discovered", "OTHERFS", []string{"rotate 5", "copytruncate"}, "xz", false, false, []string{"xz", "xz"}},
		// copy leaves the log as it is: the copies are never read.
		{"other filesystem copy discovered", "OTHERFS", []string{"rotate 5", "copy"}, "gzip", false, false, nil},
		// The new log may reuse the inode renamecopy freed: then the copy
		// looks like a copytruncate's.
		{"other filesystem renamecopy discovered", "OTHERFS", []string{"rotate 5", "renamecopy"}, "", false, false, []string{"copy|copytruncate", "rename"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // the dateext cases wait for the clock
			path := logPath(t)
			olddir, abs := tc.olddir, ""
			switch tc.olddir {
			case "ABS":
				olddir = t.TempDir()
				abs = olddir
			case "OTHERFS":
				if olddir = otherFilesystem(t); olddir == "" {
					t.Skip("no writable folder on another filesystem (/dev/shm)")
				}
				abs = olddir
			default:
				abs = filepath.Join(filepath.Dir(path), olddir)
			}
			if err := os.MkdirAll(abs, 0o755); err != nil {
				t.Fatal(err)
			}
			directives := append(append([]string{"olddir " + olddir}, tc.directives...), compressDirectives(t, tc.compress)...)
			lr := newLogrotate(t, path, directives...)
			settings := map[string]any{"auth_logs": []string{path}, "batch_lines": 7, "logrotate_config": []string{lr.conf}}
			if tc.setting {
				settings["olddirs"] = map[string]string{path: olddir}
				settings["logrotate_config"] = []string{}
			}
			appendFile(t, path, sshLines(0, 20))
			p, a := newPlugin(t, settings), &fakeAgent{}
			seen := map[string]Event{}
			recs := rotateTwice(t, a, p, lr, path, tc.dateext, seen)
			if ents, _ := os.ReadDir(abs); len(ents) < 2 {
				t.Fatalf("logrotate put %d rotated copies in %s", len(ents), abs)
			}
			s := summariesOf(recs)[0]
			if !slices.EqualFunc(s.Rotations, tc.want, func(got, want string) bool { return slices.Contains(strings.Split(want, "|"), got) }) || s.Note != "" {
				t.Errorf("rotations %v, note %q; want %v", s.Rotations, s.Note, tc.want)
			}
			wantFrom := "logrotate " + lr.conf + ":2"
			if tc.setting {
				wantFrom = "setting olddirs"
			}
			if s.Olddir != filepath.Clean(abs) || s.OlddirSource != wantFrom {
				t.Errorf("summary olddir %q from %q; want %q from %q", s.Olddir, s.OlddirSource, abs, wantFrom)
			}
			rotateOnceMore(t, a, p, lr, path, tc.dateext, seen)
		})
	}
}

// TestLogrotateOlddirGap: with olddir known, a followed file that
// logrotate rotated out of the olddir (rotate 1) is still a gap, and the
// newer copy and the live log are read.
func TestLogrotateOlddirGap(t *testing.T) {
	path := logPath(t)
	old := filepath.Join(filepath.Dir(path), "old")
	if err := os.Mkdir(old, 0o755); err != nil {
		t.Fatal(err)
	}
	lr := newLogrotate(t, path, append([]string{"olddir old", "rotate 1"}, compressDirectives(t, "xz")...)...)
	appendFile(t, path, sshLines(0, 10))
	p, a := newPlugin(t, map[string]any{"auth_logs": []string{path}, "logrotate_config": []string{lr.conf}}), &fakeAgent{}
	seen := map[string]Event{}
	recs, _ := a.collect(t, p)
	eventsOf(t, recs, seen)
	appendFile(t, path, sshLines(10, 20)) // lost with its file
	lr.rotate()
	appendFile(t, path, sshLines(20, 30))
	lr.rotate()
	appendFile(t, path, sshLines(30, 35))
	if _, err := os.Stat(filepath.Join(old, "auth.log.2.xz")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("logrotate kept .2.xz with rotate 1: %v", err)
	}
	recs, err := a.collect(t, p)
	if err != nil {
		t.Fatal(err)
	}
	if got := actors(eventsOf(t, recs, seen)); !slices.Equal(got, wantActors(20, 35)) {
		t.Fatalf("got %v\nwant %v", got, wantActors(20, 35))
	}
	if s := summariesOf(recs)[0]; !slices.Equal(s.Rotations, []string{"gap", "xz"}) || s.Olddir != old {
		t.Errorf("rotations %v in %q, want [gap xz] in %s", s.Rotations, s.Olddir, old)
	}
}

// TestLogrotateOlddirDiscovery: logrotate.conf including a folder of
// files (as /etc/logrotate.d): a global olddir set in an included file
// applies to the blocks after it, also back in the including file; a
// quoted name with a blank, a name over several lines, a glob with
// noolddir, an absolute olddir, a script holding olddir-like text, and
// a taboo file (.dpkg-old) that logrotate does not read. The real
// logrotate rotates them all twice by that configuration; the plugin,
// told only where the configuration starts, reads every line once.
func TestLogrotateOlddirDiscovery(t *testing.T) {
	needTool(t, "logrotate")
	logs := t.TempDir()
	abs := t.TempDir()
	confd := filepath.Join(t.TempDir(), "logrotate.d")
	for _, d := range []string{confd, filepath.Join(logs, "archive")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		"00-global":     "# site defaults\nolddir archive\n",
		"10-a":          "\"" + logs + "/a log.log\" {\n  rotate 5\n  # olddir elsewhere\n  postrotate\n    : olddir /nowhere { }\n  endscript\n}\n",
		"20-glob":       logs + "/*.app {\n  rotate 5\n  noolddir\n}\n",
		"25-d.dpkg-old": logs + "/d.log {\n  olddir " + t.TempDir() + "\n}\n",
		"30-abs":        logs + "/d.log\n\n{\n  rotate 5\n  olddir = " + abs + "\n  compress\n}\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(confd, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	lr := newLogrotateConf(t, "weekly\ninclude "+confd+"\n"+logs+"/c.log {\n  rotate 5\n}\n")
	names := []string{"a log.log", "b.app", "c.log", "d.log"}
	var paths []string
	for _, n := range names {
		paths = append(paths, filepath.Join(logs, n))
	}
	// Where logrotate's configuration puts each log's copies, and the
	// line that says so.
	wantDir := []string{filepath.Join(logs, "archive"), "", filepath.Join(logs, "archive"), abs}
	wantFrom := []string{"logrotate " + filepath.Join(confd, "00-global") + ":2", "",
		"logrotate " + filepath.Join(confd, "00-global") + ":2", "logrotate " + filepath.Join(confd, "30-abs") + ":5"}
	lines := func(i, from, to int) string { return sshLines(i*1000+from, i*1000+to) }
	for i, p := range paths {
		appendFile(t, p, lines(i, 0, 5))
	}
	p, a := newPlugin(t, map[string]any{"auth_logs": paths, "logrotate_config": []string{lr.conf}}), &fakeAgent{}
	seen := map[string]Event{}
	recs, err := a.collect(t, p)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(eventsOf(t, recs, seen)); n != 20 {
		t.Fatalf("first collection: %d events", n)
	}
	for i, p := range paths {
		appendFile(t, p, lines(i, 5, 10))
	}
	lr.rotate()
	for i, p := range paths {
		appendFile(t, p, lines(i, 10, 15))
	}
	lr.rotate()
	for i, p := range paths {
		appendFile(t, p, lines(i, 15, 17))
	}
	for i, d := range wantDir {
		if d == "" {
			d = logs
		}
		if m, _ := filepath.Glob(filepath.Join(d, names[i]+".2*")); len(m) != 1 {
			t.Fatalf("logrotate did not put %s's copies in %s (the test's premise): %v", names[i], d, m)
		}
	}
	recs, err = a.collect(t, p)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, ev := range eventsOf(t, recs, seen) {
		got[filepath.Base(ev.File)[:1]] = append(got[filepath.Base(ev.File)[:1]], ev.Actor)
	}
	sums := summariesOf(recs)
	for i, n := range names {
		var want []string
		for k := 5; k < 17; k++ {
			want = append(want, "u"+itoa(i*1000+k))
		}
		if !slices.Equal(got[n[:1]], want) {
			t.Errorf("%s: got %v\nwant %v", n, got[n[:1]], want)
		}
		s := sums[i]
		if s.Path != paths[i] || s.Olddir != wantDir[i] || s.OlddirSource != wantFrom[i] || slices.Contains(s.Rotations, "gap") {
			t.Errorf("%s: summary olddir %q from %q, rotations %v; want %q from %q", n, s.Olddir, s.OlddirSource, s.Rotations, wantDir[i], wantFrom[i])
		}
	}
}

// TestLogrotateRenamecopyUnderWay: logrotate's renamecopy with an olddir
// on another filesystem renames the log to <path>.tmp, runs postrotate,
// then copies it to the olddir. A collection in between (postrotate
// held here until it is done) neither reports a gap nor reads the .tmp;
// the next one reads the rest of the lines from the copy, once.
func TestLogrotateRenamecopyUnderWay(t *testing.T) {
	path := logPath(t)
	other := otherFilesystem(t)
	if other == "" {
		t.Skip("no writable folder on another filesystem (/dev/shm)")
	}
	flags := t.TempDir()
	started, release := filepath.Join(flags, "started"), filepath.Join(flags, "release")
	lr := newLogrotate(t, path, "olddir "+other, "rotate 5", "renamecopy", "create",
		"postrotate\n\t\ttouch "+started+"\n\t\tfor i in $(seq 300); do [ -e "+release+" ] && exit 0; sleep 0.05; done\n\tendscript")
	appendFile(t, path, sshLines(0, 10))
	p, a := newPlugin(t, map[string]any{"auth_logs": []string{path}, "logrotate_config": []string{lr.conf}}), &fakeAgent{}
	seen := map[string]Event{}
	recs, _ := a.collect(t, p)
	eventsOf(t, recs, seen)
	appendFile(t, path, sshLines(10, 20))
	cmd := exec.Command(lr.bin, "-f", "-s", lr.stat, lr.conf)
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(started); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("logrotate's postrotate did not start: %s", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := os.Stat(path + ".tmp"); err != nil {
		t.Fatalf("renamecopy left no %s.tmp during postrotate: %v", path, err)
	}
	appendFile(t, path, sshLines(20, 25)) // the new log, created by logrotate
	recs, err := a.collect(t, p)
	if err != nil {
		t.Fatal(err)
	}
	if evs := eventsOf(t, recs, seen); len(evs) != 0 || slices.Contains(summariesOf(recs)[0].Rotations, "gap") {
		t.Fatalf("during the copy: %v, rotations %v; want nothing yet", actors(evs), summariesOf(recs)[0].Rotations)
	}
	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := <-waited; err != nil || out.Len() > 0 {
		t.Fatalf("logrotate: %v: %s", err, out)
	}
	recs, err = a.collect(t, p)
	if err != nil {
		t.Fatal(err)
	}
	if got := actors(eventsOf(t, recs, seen)); !slices.Equal(got, wantActors(10, 25)) {
		t.Fatalf("after the copy got %v\nwant %v", got, wantActors(10, 25))
	}
	if s := summariesOf(recs)[0]; !slices.Equal(s.Rotations, []string{"copy"}) {
		t.Errorf("rotations %v, want [copy]", s.Rotations)
	}
}

// TestOlddirSettingWins: where the olddirs setting and logrotate's
// configuration disagree, the setting is used (an exact key before a
// pattern), and the summary says so; a log neither names is looked for
// beside itself.
func TestOlddirSettingWins(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "logrotate.conf")
	if err := os.Mkdir(filepath.Join(dir, "from-logrotate"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, []byte(dir+"/*.log {\n  olddir from-logrotate\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	a, b, c := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log"), filepath.Join(dir, "c.txt")
	p := newPlugin(t, map[string]any{"auth_logs": []string{a, b, c}, "logrotate_config": []string{conf},
		"olddirs": map[string]string{a: "/srv/old", dir + "/*.log": "pattern", dir + "/a*.log": "other"}})
	col := &collection{p: p, logrotate: p.discoverOlddirs()}
	for _, tc := range []struct{ path, dir, from string }{
		{a, "/srv/old", "setting olddirs"},
		{b, filepath.Join(dir, "pattern"), "setting olddirs"},
		{c, dir, ""},
	} {
		if d, from := col.rotatedDir(tc.path); d != tc.dir || from != tc.from {
			t.Errorf("%s: %q from %q; want %q from %q", tc.path, d, from, tc.dir, tc.from)
		}
	}
	p = newPlugin(t, map[string]any{"auth_logs": []string{a}, "logrotate_config": []string{conf}})
	col = &collection{p: p, logrotate: p.discoverOlddirs()}
	if d, from := col.rotatedDir(a); d != filepath.Join(dir, "from-logrotate") || from != "logrotate "+conf+":2" {
		t.Errorf("without the setting: %q from %q", d, from)
	}
}

func TestOlddirSettingsErrors(t *testing.T) {
	for _, tc := range []struct {
		settings map[string]any
		want     string
	}{
		{map[string]any{"auth_logs": []string{"/var/log/auth.log"}, "olddirs": map[string]string{"/var/log/secure": "old"}},
			`olddirs["/var/log/secure"]: names no log listed in auth_logs, audit_logs or http_logs`},
		{map[string]any{"auth_logs": []string{"/var/log/auth.log"}, "olddirs": map[string]string{"auth.log": "old"}},
			`olddirs["auth.log"]: the key must be the absolute path of a log`},
		{map[string]any{"auth_logs": []string{"/var/log/auth.log"}, "olddirs": map[string]string{"/var/log/auth.log": ""}},
			`olddirs["/var/log/auth.log"]: is empty`},
		{map[string]any{"auth_logs": []string{"/var/log/auth.log"}, "logrotate_config": []string{"etc/logrotate.conf"}},
			`logrotate_config[0]: "etc/logrotate.conf" is not an absolute path`},
	} {
		raw, _ := json.Marshal(tc.settings)
		_, err := quiet().Configure(t.Context(), sdk.Config{Raw: raw})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v; want %q", tc.settings, err, tc.want)
		}
	}
	// Accepted: a log matched by a listed pattern, a pattern over listed
	// logs, an HTTP log.
	newPlugin(t, map[string]any{"auth_logs": []string{"/var/log/auth*.log", "/var/log/secure"},
		"http_logs": []map[string]any{{"path": "/var/log/nginx/access.log"}},
		"olddirs":   map[string]string{"/var/log/auth.log": "old", "/var/log/sec*": "/var/old", "/var/log/nginx/access.log": "."}})
}

// TestLogrotateOlddirChanged: olddir set where copies used to be beside
// the log, then taken away again, in logrotate's configuration; the
// plugin re-reads it each collection, and every line still arrives once
// across each change (the mark, left in the other folder, is then placed
// by time).
func TestLogrotateOlddirChanged(t *testing.T) {
	path := logPath(t)
	old := filepath.Join(filepath.Dir(path), "old")
	if err := os.Mkdir(old, 0o755); err != nil {
		t.Fatal(err)
	}
	lr := newLogrotate(t, path, "rotate 5", "compress", "delaycompress")
	setConf := func(directives ...string) {
		conf := path + " {\n\t" + strings.Join(directives, "\n\t") + "\n}\n"
		if err := os.WriteFile(lr.conf, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p, a := newPlugin(t, map[string]any{"auth_logs": []string{path}, "logrotate_config": []string{lr.conf}}), &fakeAgent{}
	seen := map[string]Event{}
	n := 0
	step := func(rotations int, where string) {
		t.Helper()
		for range rotations {
			appendFile(t, path, sshLines(n, n+5))
			n += 5
			lr.rotate()
		}
		appendFile(t, path, sshLines(n, n+2))
		n += 2
		recs, err := a.collect(t, p)
		if err != nil {
			t.Fatal(err)
		}
		s := summariesOf(recs)[0]
		if got := actors(eventsOf(t, recs, seen)); len(seen) != n || slices.Contains(s.Rotations, "gap") {
			t.Fatalf("%s: got %v (%d of %d so far), rotations %v", where, got, len(seen), n, s.Rotations)
		}
	}
	step(0, "first")
	step(2, "beside the log")
	setConf("rotate 5", "compress", "delaycompress", "olddir old")
	step(2, "olddir set")
	if m, _ := filepath.Glob(filepath.Join(old, "auth.log.*")); len(m) != 2 {
		t.Fatalf("logrotate's copies in the olddir: %v", m)
	}
	step(1, "olddir kept")
	setConf("rotate 5", "compress", "delaycompress")
	step(2, "olddir taken away")
}
