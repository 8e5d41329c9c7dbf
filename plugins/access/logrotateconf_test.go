package access

import (
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// memLR reads a logrotate configuration from files in memory (name →
// text), starting at start.
func memLR(files map[string]string, start ...string) *lrConfig {
	r := newLRReader()
	r.open = func(name string) (io.ReadCloser, error) {
		s, ok := files[name]
		if !ok {
			return nil, fs.ErrNotExist
		}
		return io.NopCloser(strings.NewReader(s)), nil
	}
	r.list = func(name string) ([]string, bool, error) {
		if _, ok := files[name]; ok {
			return nil, false, nil
		}
		var out []string
		for k := range files {
			if filepath.Dir(k) == name {
				out = append(out, filepath.Base(k))
			}
		}
		if out == nil {
			return nil, false, fs.ErrNotExist
		}
		slices.Sort(out)
		return out, true, nil
	}
	r.resolve = func(name string) string { return name }
	r.isDir = nil // every folder is there
	global := &lrSettings{}
	for _, p := range start {
		r.include(p, "", 0, global, nil)
	}
	return r.cfg
}

// olddirOf is what lookup says of log: "olddir@at", "bad: why", or
// "none" when no block names it.
func olddirOf(c *lrConfig, log string) string {
	rule, ok := c.find(log, true)
	switch {
	case !ok:
		return "none"
	case rule.Bad != "":
		return "bad: " + rule.Bad
	}
	return rule.Olddir + "@" + rule.At
}

// TestLogrotateConfigSamples: the committed samples, read as
// /etc/logrotate.conf including /etc/logrotate.d.
func TestLogrotateConfigSamples(t *testing.T) {
	files := map[string]string{}
	for name, as := range map[string]string{"logrotate.conf": "/etc/logrotate.conf", "syslog": "/etc/logrotate.d/syslog",
		"web": "/etc/logrotate.d/web", "audit": "/etc/logrotate.d/audit"} {
		b, err := os.ReadFile(filepath.Join("testdata", "logrotate", name))
		if err != nil {
			t.Fatal(err)
		}
		files[as] = string(b)
	}
	files["/etc/logrotate.d/web.dpkg-old"] = "/var/log/nginx/access.log {\n olddir taboo\n}\n"
	cfg := memLR(files, "/etc/logrotate.conf")
	if len(cfg.Errors) > 0 || cfg.Files != 4 {
		t.Fatalf("%d files, errors %q", cfg.Files, cfg.Errors)
	}
	for log, want := range map[string]string{
		"/var/log/auth.log":              "old@/etc/logrotate.d/syslog:15",
		"/var/log/cron.log":              "old@/etc/logrotate.d/syslog:15",
		"/var/log/web server/access.log": "/var/log/archive@/etc/logrotate.conf:11",
		"/var/log/nginx/access.log":      "/var/log/archive@/etc/logrotate.conf:11",
		"/var/log/nginx/sub/access.log":  "none", // * does not cross /
		"/var/log/audit/audit.log":       "/srv/logs/audit@/etc/logrotate.d/audit:5",
		"/var/log/wtmp":                  "@/etc/logrotate.conf:21",
		"/var/log/dpkg.log":              "none",
	} {
		if got := olddirOf(cfg, log); got != want {
			t.Errorf("%s: %s; want %s", log, got, want)
		}
	}
}

// TestLogrotateConfigParse: how each construct is read, and the errors
// (file:line) that say what logrotate will refuse.
func TestLogrotateConfigParse(t *testing.T) {
	cases := []struct {
		name   string
		files  map[string]string
		want   map[string]string // log → olddirOf
		errors []string          // substrings, in order
	}{
		{"global before and after a block", map[string]string{"/c": "olddir a\n/l/x {\n}\nolddir b\n/l/y {\n}\nnoolddir\n/l/z {\n}\n"},
			map[string]string{"/l/x": "a@/c:1", "/l/y": "b@/c:4", "/l/z": "@/c:7"}, nil},
		{"block overrides, not leaking", map[string]string{"/c": "olddir a\n/l/x {\n  olddir=/abs\n}\n/l/y {\n  noolddir\n}\n/l/z {}\n"},
			map[string]string{"/l/x": "/abs@/c:3", "/l/y": "@/c:6", "/l/z": "a@/c:1"}, nil},
		{"quotes are kept in olddir, as logrotate does", map[string]string{"/c": "/l/x {\n olddir \"q\"\n}\n"},
			map[string]string{"/l/x": "\"q\"@/c:2"}, nil},
		{"blank in olddir", map[string]string{"/c": "/l/x {\n olddir old # keep\n}\n/l/y {\n}\n"},
			map[string]string{"/l/x": `bad: /c:2: olddir "old # keep" holds a blank`, "/l/y": "@"},
			[]string{`/c:2: olddir "old # keep" holds a blank`}},
		{"blank in a global olddir: the rest of the file is dropped, and its globals", map[string]string{
			"/c": "include /d\n/l/z {\n}\n", "/d/1": "olddir kept\n", "/d/2": "olddir dropped\n/l/w {\n}\nolddir a b\n/l/x {\n}\n", "/d/3": "/l/y {\n}\n"},
			map[string]string{"/l/w": "dropped@/d/2:1", "/l/x": "none", "/l/y": "kept@/d/1:1", "/l/z": "kept@/d/1:1"},
			[]string{`/d/2:4: olddir "a b" holds a blank; logrotate refuses it (bad olddir path); logrotate skips the rest of this file`}},
		{"headers: quoted, escaped, several lines, brace alone, same line", map[string]string{"/c": "\"/l/a b\" '/l/c d' /l/e\\ f\n/l/g # the g log\n{\n olddir o\n}\n/l/h { olddir p\n}\n"},
			map[string]string{"/l/a b": "o@/c:4", "/l/c d": "o@/c:4", "/l/e f": "o@/c:4", "/l/g": "o@/c:4", "/l/h": "p@/c:6"}, nil},
		{"first block naming a log wins", map[string]string{"/c": "/l/*.log {\n olddir glob\n}\n/l/a.log {\n olddir exact\n}\n"},
			map[string]string{"/l/a.log": "glob@/c:2", "/l/b.log": "glob@/c:2", "/l/b.txt": "none"}, nil},
		{"scripts are skipped", map[string]string{"/c": "/l/x {\n postrotate\n  olddir /wrong\n  }\n  /l/y {\n endscript\n olddir right\n}\n"},
			map[string]string{"/l/x": "right@/c:7", "/l/y": "none"}, nil},
		{"include of a folder: order, taboo names, leaking globals", map[string]string{
			"/c": "include /d\n/l/z {\n}\n", "/d/b": "/l/y {\n}\n", "/d/a": "olddir from-a\n/l/x {\n}\n",
			"/d/a~": "olddir taboo\n", "/d/c.rpmsave": "/l/z {\n olddir taboo\n}\n"},
			map[string]string{"/l/x": "from-a@/d/a:1", "/l/y": "from-a@/d/a:1", "/l/z": "from-a@/d/a:1"}, nil},
		{"tabooext and taboopat", map[string]string{
			"/c": "tabooext + .bak\ntaboopat conf-*\ninclude /d\n", "/d/x.bak": "/l/x {\n}\n", "/d/conf-y": "/l/y {\n}\n", "/d/z": "/l/z {\n}\n"},
			map[string]string{"/l/x": "none", "/l/y": "none", "/l/z": "@"}, nil},
		{"include inside a block applies to it", map[string]string{"/c": "/l/x {\n include /inc\n}\n/l/y {\n}\n", "/inc": "olddir inner\n"},
			map[string]string{"/l/x": "inner@/inc:1", "/l/y": "@"}, nil},
		{"a block in a file included in a block", map[string]string{"/c": "/l/x {\n include /inc\n}\n", "/inc": "/l/y {\n}\n"},
			map[string]string{"/l/y": "bad: nested block"}, []string{"/inc:1: a log block inside another"}},
		{"include cycle", map[string]string{"/c": "include /d\n", "/d": "include /c\n/l/x {\n}\n"},
			map[string]string{"/l/x": "@"}, []string{"/c: includes itself (through /c → /d)"}},
		{"include errors", map[string]string{"/c": "include etc/x\ninclude /missing\ninclude\n"}, nil,
			[]string{`/c:1: include "etc/x" is not an absolute path`, "/c:2: include /missing: file does not exist", "/c:3: include needs a file or folder"}},
		{"unclosed things", map[string]string{"/c": "/l/x {\n olddir a\n", "/d": "/l/y\n", "/e": "/l/z {\n postrotate\n  true\n}\n", "/f": "}\n\"/l/q {\n}\n"},
			map[string]string{"/l/x": "bad: /c:1: block not closed", "/l/y": "none", "/l/z": "bad: /e:2: script without endscript"},
			[]string{"/c:1: block not closed with }", "/d:1: log file names without a { block", "/e:2: postrotate without endscript", "/e:1: block not closed",
				"/f:1: } without a block", "/f:2: unterminated \" quote"}},
		{"long line, big file", map[string]string{"/c": "/l/x {\n# " + strings.Repeat("x", lrMaxLineBytes) + "\n}\n", "/d": strings.Repeat("# filler\n", lrMaxFileBytes/9+1) + "/l/y {\n}\n"},
			map[string]string{"/l/x": "bad: /c:1: block not closed", "/l/y": "none"},
			[]string{"/c:2: bufio.Scanner: token too long", "/c:1: block not closed", "/d: longer than 1048576 bytes"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := []string{"/c"}
			if tc.name == "unclosed things" || tc.name == "long line, big file" {
				// Each file read on its own, as logrotate's arguments.
				start = slices.Sorted(maps.Keys(tc.files))
			}
			cfg := memLR(tc.files, start...)
			for log, want := range tc.want {
				got := olddirOf(cfg, log)
				if !strings.HasPrefix(got, want) {
					t.Errorf("%s: %s; want %s…", log, got, want)
				}
			}
			k := 0
			for _, e := range cfg.Errors {
				if k < len(tc.errors) && strings.Contains(e, tc.errors[k]) {
					k++
				}
			}
			if k < len(tc.errors) || (len(tc.errors) == 0 && len(cfg.Errors) > 0) {
				t.Errorf("errors %q\nwant, in order, %q", cfg.Errors, tc.errors)
			}
		})
	}
}

// TestLogrotateConfigBounds: nested includes, files and blocks stop at
// their limits with an error naming where.
func TestLogrotateConfigBounds(t *testing.T) {
	files := map[string]string{}
	for i := range lrMaxDepth + 3 {
		files[fmt.Sprintf("/c%d", i)] = fmt.Sprintf("include /c%d\n/l/%d {\n}\n", i+1, i)
	}
	cfg := memLR(files, "/c0")
	if olddirOf(cfg, "/l/0") == "none" || olddirOf(cfg, fmt.Sprintf("/l/%d", lrMaxDepth)) == "none" || olddirOf(cfg, fmt.Sprintf("/l/%d", lrMaxDepth+1)) != "none" {
		t.Errorf("depth: %d rules", len(cfg.Rules))
	}
	if len(cfg.Errors) != 1 || !strings.Contains(cfg.Errors[0], fmt.Sprintf("/c%d:1: includes nested deeper than %d", lrMaxDepth, lrMaxDepth)) {
		t.Errorf("depth errors %q", cfg.Errors)
	}
	var b strings.Builder
	for i := range lrMaxBlocks + 5 {
		fmt.Fprintf(&b, "/l/%d {\n}\n", i)
	}
	cfg = memLR(map[string]string{"/c": b.String()}, "/c")
	if len(cfg.Rules) != lrMaxBlocks || len(cfg.Errors) != 1 || !strings.Contains(cfg.Errors[0], "more than 10000 log blocks") {
		t.Errorf("%d rules, errors %q", len(cfg.Rules), cfg.Errors)
	}
	files = map[string]string{}
	for i := range lrMaxFiles + 5 {
		files[fmt.Sprintf("/d/%04d", i)] = ""
	}
	cfg = memLR(files, "/d")
	if cfg.Files != lrMaxFiles || len(cfg.Errors) == 0 || !strings.Contains(cfg.Errors[0], "more than 512 configuration files") {
		t.Errorf("%d files, errors %q", cfg.Files, cfg.Errors)
	}
}

// TestLogrotateConfigFiles: on disk, a configuration file writable by
// group or others is left out, as logrotate leaves it out; links are
// followed; a folder's non-regular entries are passed over.
func TestLogrotateConfigFiles(t *testing.T) {
	dir := t.TempDir()
	d := filepath.Join(dir, "logrotate.d")
	if err := os.Mkdir(d, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, text string, mode os.FileMode) {
		if err := os.WriteFile(name, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(name, mode); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(dir, "logrotate.conf"), "include "+d+"\n", 0o644)
	write(filepath.Join(d, "open"), "/l/open {\n missingok\n}\n", 0o666)
	write(filepath.Join(dir, "target"), "/l/linked {\n missingok\n olddir /\n}\n", 0o644)
	if err := os.Symlink(filepath.Join(dir, "target"), filepath.Join(d, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(d, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := readLogrotateConfig([]string{filepath.Join(dir, "logrotate.conf")})
	if olddirOf(cfg, "/l/open") != "none" || !strings.HasPrefix(olddirOf(cfg, "/l/linked"), "/@") {
		t.Errorf("open: %s, linked: %s", olddirOf(cfg, "/l/open"), olddirOf(cfg, "/l/linked"))
	}
	if len(cfg.Errors) != 1 || !strings.Contains(cfg.Errors[0], filepath.Join(d, "open")+": writable by group or others") {
		t.Errorf("errors %q", cfg.Errors)
	}
}

// logrotateDebug runs the real logrotate -d (which reads and prints,
// rotating nothing) on a configuration and returns, per block it
// accepted in order, the olddir it will use ("" for none).
func logrotateDebug(t *testing.T, conf string) []string {
	t.Helper()
	bin := needTool(t, "logrotate")
	out, _ := exec.Command(bin, "-d", "-s", filepath.Join(t.TempDir(), "state"), conf).CombinedOutput()
	var olddirs []string
	in := false
	olddirRE := regexp.MustCompile(`^olddir is (.*?), `)
	for _, l := range strings.Split(string(out), "\n") {
		switch {
		case strings.HasPrefix(l, "rotating pattern: "):
			olddirs = append(olddirs, "")
			in = true
		case strings.HasPrefix(l, "considering log "):
			in = false
		case in && olddirRE.MatchString(l):
			olddirs[len(olddirs)-1] = olddirRE.FindStringSubmatch(l)[1]
			in = false
		}
	}
	return olddirs
}

// ourOlddirs is what the parser says of the same blocks: those
// logrotate accepts, in order.
func ourOlddirs(cfg *lrConfig) []string {
	var out []string
	for _, r := range cfg.Rules {
		if r.Bad == "" {
			out = append(out, r.Olddir)
		}
	}
	return out
}

// TestLogrotateConfigAgreesWithLogrotate: the real logrotate -d and the
// parser find the same blocks with the same olddir, for the committed
// samples (moved under a temporary folder, whose olddirs exist, as
// logrotate checks) and for this machine's own configuration.
func TestLogrotateConfigAgreesWithLogrotate(t *testing.T) {
	needTool(t, "logrotate")
	root := t.TempDir()
	fix := func(s string) string {
		for _, p := range []string{"/etc/", "/var/", "/srv/"} {
			s = strings.ReplaceAll(s, p, root+p)
		}
		return s
	}
	// logrotate refuses a block whose log folder or absolute olddir is
	// not there.
	for _, d := range []string{"etc/logrotate.d", "var/log/archive", "srv/logs/audit", "var/log/old", "var/log/audit", "var/log/nginx", "var/log/web server", "x"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, as := range map[string]string{"logrotate.conf": "etc/logrotate.conf", "syslog": "etc/logrotate.d/syslog",
		"web": "etc/logrotate.d/web", "audit": "etc/logrotate.d/audit"} {
		b, err := os.ReadFile(filepath.Join("testdata", "logrotate", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, as), []byte(fix(string(b))), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// And the constructs logrotate refuses or reads oddly.
	odd := strings.ReplaceAll("olddir ROOT/var/log/old\nROOT/x/a {\n olddir bad path\n}\nROOT/x/b {\n noolddir\n}\nROOT/x/c {\n olddir \"q\"\n}\nROOT/x/d\n{ olddir=rel\n}\nROOT/x/e {\n}\n", "ROOT", root)
	if err := os.WriteFile(filepath.Join(root, "etc/logrotate.d/odd"), []byte(odd), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := strings.ReplaceAll("olddir ROOT/var/log/old\nROOT/x/g1 {\n}\nolddir a b\nROOT/x/g2 {\n}\n", "ROOT", root)
	if err := os.WriteFile(filepath.Join(root, "etc/logrotate.d/audit2"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	more := strings.ReplaceAll("ROOT/y/a {\n missingok\n olddir old\n}\nROOT/x/f {\n createolddir 0755 root root\n olddir nothere\n}\nROOT/y/b {\n}\nROOT/x/g {\n}\n", "ROOT", root)
	if err := os.WriteFile(filepath.Join(root, "etc/logrotate.d/zz-more"), []byte(more), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(root, "etc/logrotate.conf")
	cfg := readLogrotateConfig([]string{conf})
	want := logrotateDebug(t, conf)
	if got := ourOlddirs(cfg); len(want) == 0 || !slices.Equal(got, want) {
		t.Errorf("samples: parser %q\nlogrotate -d %q", got, want)
	}
	if _, err := os.Stat(DefaultLogrotateConfig); err != nil {
		t.Logf("no %s here: the machine's own configuration is not compared", DefaultLogrotateConfig)
		return
	}
	cfg = readLogrotateConfig([]string{DefaultLogrotateConfig})
	if len(cfg.Errors) > 0 {
		t.Errorf("%s: %q", DefaultLogrotateConfig, cfg.Errors)
	}
	if got, want := ourOlddirs(cfg), logrotateDebug(t, DefaultLogrotateConfig); !slices.Equal(got, want) {
		t.Errorf("%s: parser %q\nlogrotate -d %q", DefaultLogrotateConfig, got, want)
	}
}

// TestLogrotateConfigProblemsLogged: the configuration's problems are
// logged with FILE:LINE once, not on every collection, and again when
// they change; a missing configuration (no logrotate here) is none.
func TestLogrotateConfigProblemsLogged(t *testing.T) {
	if cfg := readLogrotateConfig([]string{"/nonexistent/logrotate.conf"}); len(cfg.Errors) > 0 || cfg.Files != 0 {
		t.Errorf("missing configuration: %q", cfg.Errors)
	}
	dir := t.TempDir()
	conf, path := filepath.Join(dir, "logrotate.conf"), filepath.Join(dir, "auth.log")
	write := func(text string) {
		if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(path + " {\n  olddir old # keep\n}\n")
	appendFile(t, path, sshLines(0, 1))
	p := newPlugin(t, map[string]any{"auth_logs": []string{path}, "logrotate_config": []string{conf}})
	var buf strings.Builder
	p.log = slog.New(slog.NewTextHandler(&buf, nil))
	a := &fakeAgent{}
	for range 3 {
		if _, err := a.collect(t, p); err != nil {
			t.Fatal(err)
		}
	}
	if n := strings.Count(buf.String(), conf+":2: olddir"); n != 1 {
		t.Errorf("logged %d times:\n%s", n, buf.String())
	}
	write(path + " {\n}\ninclude relative\n")
	a.collect(t, p)
	if !strings.Contains(buf.String(), conf+`:3: include \"relative\" is not an absolute path`) {
		t.Errorf("the changed problem is not logged:\n%s", buf.String())
	}
}
