package access

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ulikunitz/xz"

	"github.com/annexa/annexa/plugins/sdk"
)

var validActions = map[string]bool{
	ActionLogin: true, ActionLoginFailed: true, ActionInvalidUser: true, ActionAuthFailure: true,
	ActionPreauthDisconnect: true, ActionBreakInAttempt: true, ActionPrivilege: true, ActionPrivilegeFailed: true,
	ActionSessionOpen: true, ActionSessionClose: true, ActionHTTPUnauthorized: true, ActionHTTPForbidden: true,
	ActionFileAccess: true, ActionAuditConfig: true, ActionAuditDaemon: true, ActionHTTPRequest: true,
}

func checkEvent(t *testing.T, ev Event) {
	t.Helper()
	if !validActions[ev.Action] || (ev.Result != ResultSuccess && ev.Result != ResultFailure) {
		t.Errorf("event %+v has action %q result %q", ev, ev.Action, ev.Result)
	}
	if _, err := time.Parse(time.RFC3339, ev.At); err != nil {
		t.Errorf("at %q: %v", ev.At, err)
	}
	if len(ev.Line) > maxRawLine {
		t.Errorf("raw line of %d bytes", len(ev.Line))
	}
	if _, err := json.Marshal(ev); err != nil {
		t.Errorf("marshal: %v", err)
	}
}

func fixtureLines(f *testing.F, name string) {
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		f.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		f.Add(l)
	}
}

func FuzzAuthLine(f *testing.F) {
	fixtureLines(f, "auth.log")
	for _, s := range []string{
		"", "Jan  1 00:00:00 h sshd[1]: Accepted password for  from  port x ssh2",
		"Dec 31 23:59:60 h sshd[-1]: Failed none for invalid user  from 1.2.3.4",
		"2024-01-02T03:04:05.123456+01:00 h sudo:  a : TTY=x ; COMMAND=",
		"Feb 30 99:99:99 h x", "Mar  3 09:00:00 h sshd[1]: message repeated 3 times: [ Failed password for a from b port 1 ssh2]",
		"Mar  3 09:00:00 h sshd[1]: message repeated 3 times: [ message repeated 2 times: [ x]]",
		"Mar  3 09:00:00 h sshd[1]: Disconnected from invalid user  port 1 [preauth]",
		"Mar  3 09:00:00 h su[1]: FAILED SU (to root) ",
		"Mar  3 09:00:00 h login[1]: ROOT LOGIN ON", "Mar  3 09:00:00 h x(pam_unix)[1]: session opened for user ",
		"Mar  3 09:00:00 h sshd[1]: reverse mapping checking getaddrinfo for [ - POSSIBLE BREAK-IN ATTEMPT!",
		"Mar  3 09:00:00 h sshd[1]: pam_unix(:auth): authentication failure; =x rhost==",
		"\xff\xfe Mar", "Mar  3 09:00:00 h sshd[1]: Invalid user \xff from \xfe",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		for _, year := range []int{0, 2024} {
			p := newAuthParser(ParseOptions{Year: year, Location: time.UTC, Now: time.Date(2025, 1, 2, 0, 0, 0, 0, time.UTC)}, yearState{})
			ev, res := p.parse([]byte(line))
			if res == lineEvent {
				checkEvent(t, ev)
				if ev.Source != SourceAuthLog {
					t.Errorf("source %q", ev.Source)
				}
			}
		}
	})
}

func FuzzHTTPLine(f *testing.F) {
	fixtureLines(f, "access.log")
	fixtureLines(f, "access.jsonl")
	for _, s := range []string{
		`1 - - [01/Jan/2000:00:00:00 +0000] "\" 401 0`, `1 - - [] "" 403`, `{"status":401,"ts":1e300}`,
		`{"status":"403","time":"x"}`, `{"status":401,"ts":-1,"request":"GET"}`, `{"status":4.01e2,"time":"2000-01-01T00:00:00Z"}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		for _, format := range []string{FormatCombined, FormatJSON} {
			ev, res := httpParser(format)([]byte(line))
			if res == lineEvent {
				checkEvent(t, ev)
				// Other statuses are http_request, kept only for assets.
				if (ev.Status == 401 || ev.Status == 403) == (ev.Action == ActionHTTPRequest) {
					t.Errorf("status %d became %s", ev.Status, ev.Action)
				}
			}
			for prefix, dir := range map[string]string{"/": "/srv/ml/models", "/files/": "/srv/ml/datasets"} {
				if p := httpAssetPath(map[string]string{prefix: dir}, ev.Object); p != "" && !under(p, dir) {
					t.Errorf("request %q mapped outside %s: %q", ev.Object, dir, p)
				}
			}
		}
	})
}

func FuzzLineScanner(f *testing.F) {
	for _, s := range []string{"", "a\n", "a\r\nb", "\n\n\n", strings.Repeat("x", 100) + "\nshort\n", strings.Repeat("y", 40)} {
		f.Add([]byte(s), 16, false)
		f.Add([]byte(s), 32, true)
	}
	f.Fuzz(func(t *testing.T, in []byte, maxLine int, final bool) {
		maxLine = max(16, min(maxLine, 1024))
		sc := newLineScanner(bytes.NewReader(in), 0, maxLine, final)
		prev := int64(0)
		for {
			line, start, tooLong, err := sc.next()
			if err != nil {
				break
			}
			if start != prev || sc.off <= start || sc.off > int64(len(in)) {
				t.Fatalf("offsets: start %d prev %d off %d len %d", start, prev, sc.off, len(in))
			}
			if len(line) > maxLine || (tooLong && len(line) != 0) {
				t.Fatalf("line of %d bytes, cap %d", len(line), maxLine)
			}
			prev = sc.off
		}
		if final && prev != int64(len(in)) {
			t.Fatalf("final scan stopped at %d of %d", prev, len(in))
		}
		if !final && prev != int64(bytes.LastIndexByte(in, '\n')+1) {
			t.Fatalf("scan stopped at %d, the last newline ends at %d", prev, bytes.LastIndexByte(in, '\n')+1)
		}
	})
}

// FuzzCheckpoint feeds arbitrary checkpoints to a collection: they come
// from the agent's store, but a bad one must be refused, not crash.
func FuzzCheckpoint(f *testing.F) {
	f.Add([]byte(`{"v":1,"logs":{"PATH":{"offset":5,"head_len":10,"head":"00","tracking":true,"ino":1}}}`))
	f.Add([]byte(`{"v":1,"logs":{"PATH":{"offset":999999,"tracking":true,"started":true}}}`))
	f.Add([]byte(`{"v":1,"logs":{"PATH":null}}`))
	f.Add([]byte(`{"v":2}`))
	f.Add([]byte(`{"v":1,"logs":{"PATH":{"head_len":-1}}}`))
	f.Add([]byte(`{"v":1,"logs":{"PATH":{"det":{"recent":[{"r":"x","t":-9223372036854775808}],"fired":{"a":1}},"win":{"by_action":{"x":1}}}}}`))
	dir := f.TempDir()
	path := filepath.Join(dir, "auth.log")
	if err := os.WriteFile(path, []byte("Mar  3 09:00:05 h sshd[1]: Failed password for root from 203.0.113.7 port 1 ssh2\n"), 0o640); err != nil {
		f.Fatal(err)
	}
	p := newPlugin(f, map[string]any{"auth_logs": []string{path}})
	f.Fuzz(func(t *testing.T, cp []byte) {
		cp = bytes.ReplaceAll(cp, []byte("PATH"), []byte(path))
		a := &fakeAgent{}
		err := p.Collect(context.Background(), sdk.Request{Checkpoint: cp}, a)
		if err != nil && !strings.Contains(err.Error(), "checkpoint") {
			t.Errorf("collect: %v", err)
		}
		for _, r := range a.committed {
			if !utf8.ValidString(r.Subject) {
				t.Errorf("subject %q", r.Subject)
			}
		}
	})
}

// FuzzAuditRecords feeds lines through the audit parser, the grouping by
// event and the event reader: no panic, bounded output, valid events.
func FuzzAuditRecords(f *testing.F) {
	b, err := os.ReadFile(filepath.Join("testdata", "audit", "audit.log"))
	if err != nil {
		f.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	// Seeds: each event's lines together, so grouping is exercised.
	for i := 0; i+4 <= len(lines); i += 4 {
		f.Add(strings.Join(lines[i:i+4], "\n"))
	}
	for _, s := range []string{
		"", "type= msg=audit(:)", "type=X msg=audit(1.2:3):", "node=n type=PATH msg=audit(1.000:1): name=4",
		"type=EXECVE msg=audit(1.1:1): argc=99999999 a0[0]=41 a0[1]=42",
		"type=USER_LOGIN msg=audit(1.1:1): msg='acct=\"x res=success",
		"type=SYSCALL msg=audit(99999999999999.1:1): key=", "type=PATH msg=audit(1.1:1): name=\"unterminated",
	} {
		f.Add(s)
	}
	u := users{"0": "root", "1001": "alice"}
	f.Fuzz(func(t *testing.T, in string) {
		g := &auditGrouper{max: 8}
		var groups []*auditGroup
		for i, l := range strings.Split(in, "\n") {
			rec, ok := parseAuditLine(l)
			if !ok {
				g.stray(true, false)
				continue
			}
			if len(rec.Fields) > maxAuditFields || (rec.Enriched != nil && len(rec.Enriched) > maxAuditFields) {
				t.Fatalf("%d fields", len(rec.Fields))
			}
			groups = append(groups, g.add(rec, l, int64(i))...)
		}
		if open := g.flush(); open != nil {
			groups = append(groups, open)
		}
		for _, grp := range groups {
			if len(grp.records) > 8 {
				t.Fatalf("group of %d records over the cap", len(grp.records))
			}
			ev, res := auditEvent(grp, u, func(p string) bool { return strings.HasPrefix(p, "/srv") })
			if res == lineEvent {
				checkEvent(t, ev)
				if len(ev.Paths) > maxEventPaths || len(ev.Command) > maxRawLine {
					t.Fatalf("unbounded event: %d paths, command of %d bytes", len(ev.Paths), len(ev.Command))
				}
			}
		}
	})
}

// FuzzAssetOf maps arbitrary paths to assets on a real tree: no panic,
// and an asset is always a dataset: or model: subject under its root.
func FuzzAssetOf(f *testing.F) {
	for _, s := range []string{"/srv/ml/datasets/iris/x.csv", "/srv/ml/models/a.safetensors", "/srv/ml/datasets", "/srv/ml/datasets/../models/x", "relative", "/srv/ml/datasets/.hidden/x", "/srv/ml/datasets/a/b/c/d"} {
		f.Add(s)
	}
	root := f.TempDir()
	os.MkdirAll(filepath.Join(root, "srv/ml/datasets/iris"), 0o755)
	os.WriteFile(filepath.Join(root, "srv/ml/datasets/iris/dataset_info.json"), []byte("{}"), 0o644)
	f.Fuzz(func(t *testing.T, p string) {
		m := newAssetMapper([]string{"/srv/ml/datasets"}, []string{"/srv/ml/models"}, root)
		a := m.assetOf(p)
		switch {
		case a == "":
		case strings.HasPrefix(a, "dataset:/srv/ml/datasets"), strings.HasPrefix(a, "model:/srv/ml/models/"):
		default:
			t.Fatalf("assetOf(%q) = %q", p, a)
		}
	})
}

// FuzzJournalLine feeds `journalctl -o json` lines to the journal parser.
func FuzzJournalLine(f *testing.F) {
	fixtureLines(f, "journal/auth.jsonl")
	for _, s := range []string{
		`{"__CURSOR":"s=a;i=1","__REALTIME_TIMESTAMP":"1740992401000000","SYSLOG_IDENTIFIER":"sshd","SYSLOG_PID":"1","_HOSTNAME":"h","MESSAGE":"Failed password for root from 203.0.113.7 port 1 ssh2"}`,
		`{"__CURSOR":"s=a;i=2","__REALTIME_TIMESTAMP":"1740992401000000","_COMM":"sshd","_PID":"1","MESSAGE":[70,97,105,108,101,100,255]}`,
		`{"__CURSOR":"x","__REALTIME_TIMESTAMP":"-1","MESSAGE":null}`,
		`{"__REALTIME_TIMESTAMP":"99999999999999999999","MESSAGE":[256]}`,
		`{"MESSAGE":{}}`, `[]`, ``,
		`{"__CURSOR":"s=a;i=3","__REALTIME_TIMESTAMP":"1","SYSLOG_IDENTIFIER":"sudo","MESSAGE":"  a : TTY=x ; PWD=/ ; USER=root ; COMMAND=/bin/sh"}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		ev, cursor, res := parseJournalLine([]byte(line))
		if res == lineEvent {
			checkEvent(t, ev)
			if ev.Cursor != cursor || !strings.HasPrefix(journalSubject(cursor), "access:journal:") {
				t.Errorf("cursor %q, subject %q", cursor, journalSubject(cursor))
			}
		}
	})
}

// FuzzDecompress feeds the decompressors of rotated logs (xz, zstd, gzip,
// bzip2), seeded with files the real tools wrote: whatever comes in,
// they end (by EOF, an error or a cap) without a panic, never give more
// than the file cap, and never take more than the collection's budget.
// xz is also held to ulikunitz/xz's own reader: where both read a file
// whole, they give the same bytes.
func FuzzDecompress(f *testing.F) {
	kinds := []string{"xz", "zstd", "gzip", "bzip2"}
	text := []byte(sshLines(0, 40))
	for _, c := range realCompressed(f, text) {
		f.Add(uint8(slices.Index(kinds, c.kind)), c.data)
	}
	f.Add(uint8(0), compressWith(f, nil, "xz", "-c"))
	f.Add(uint8(1), compressWith(f, nil, "zstd", "-c", "-q"))
	f.Fuzz(func(t *testing.T, k uint8, data []byte) {
		kind := kinds[int(k)%len(kinds)]
		hang := time.AfterFunc(10*time.Second, func() { panic("decompressing " + kind + " took over 10 s") })
		defer hang.Stop()
		const fileCap, budget = 1 << 20, 768 << 10
		out, z, err := decompressAll(kind, data, fileCap, budget)
		if z == nil {
			return // refused at the header
		}
		if len(out) > fileCap || z.pos > budget {
			t.Fatalf("%s gave %d bytes (read %d) past the caps", kind, len(out), z.pos)
		}
		if err != nil && !errors.Is(err, errCapped) && !errors.Is(err, errDeferred) {
			t.Fatalf("%s: error %v escaped the cap reader", kind, err)
		}
		if kind != "xz" || err != nil || z.err != nil || z.capped != "" {
			return
		}
		ref, rerr := xz.NewReader(bytes.NewReader(data))
		if rerr != nil {
			return
		}
		want, rerr := io.ReadAll(io.LimitReader(ref, fileCap+1))
		if rerr == nil && !bytes.Equal(out, want) {
			t.Fatalf("xz: %d bytes, ulikunitz/xz %d", len(out), len(want))
		}
	})
}

// FuzzLogrotateConfig reads a logrotate.conf and one file of the folder
// it may include (/etc/logrotate.d), seeded with the committed samples
// and this machine's own configuration where there is one: nothing
// panics, the bounds hold, errors name a file (and line), every block
// kept names its logs so that lookup finds it, and a second read gives
// the same answer.
func FuzzLogrotateConfig(f *testing.F) {
	add := func(conf, inc []byte) { f.Add(conf, inc) }
	samples, _ := filepath.Glob(filepath.Join("testdata", "logrotate", "*"))
	var conf []byte
	for _, s := range samples {
		b, err := os.ReadFile(s)
		if err != nil || filepath.Ext(s) == ".md" {
			continue
		}
		if filepath.Base(s) == "logrotate.conf" {
			conf = b
		}
		add(b, nil)
	}
	for _, s := range samples {
		if b, err := os.ReadFile(s); err == nil && filepath.Ext(s) != ".md" {
			add(conf, b)
		}
	}
	if b, err := os.ReadFile(DefaultLogrotateConfig); err == nil {
		sys, _ := filepath.Glob("/etc/logrotate.d/*")
		for _, s := range sys {
			if inc, err := os.ReadFile(s); err == nil && len(inc) < 64<<10 {
				add(b, inc)
			}
		}
	}
	add([]byte("include /etc/logrotate.conf\nolddir a\n/l/x { include /etc/logrotate.d\n}\n"), []byte("/l/y {\n postrotate\n"))
	f.Fuzz(func(t *testing.T, conf, inc []byte) {
		files := map[string]string{"/etc/logrotate.conf": string(conf), "/etc/logrotate.d/x": string(inc)}
		cfg := memLR(files, "/etc/logrotate.conf")
		again := memLR(files, "/etc/logrotate.conf")
		if len(cfg.Rules) > lrMaxBlocks || len(cfg.Errors) > lrMaxErrors || cfg.Files > lrMaxFiles {
			t.Fatalf("%d rules, %d errors, %d files", len(cfg.Rules), len(cfg.Errors), cfg.Files)
		}
		for _, e := range cfg.Errors {
			if !strings.HasPrefix(e, "/etc/logrotate") && !strings.HasPrefix(e, "include") {
				t.Errorf("error names no file: %q", e)
			}
		}
		for i, r := range cfg.Rules {
			if !strings.HasPrefix(r.Where, "/etc/logrotate") || strings.ContainsAny(r.Olddir, " \t") {
				t.Errorf("rule %+v", r)
			}
			if r.Bad != "" || i >= 200 { // lookup is checked on the first blocks: it is linear
				continue
			}
			for _, p := range r.Patterns[:min(len(r.Patterns), 20)] {
				if !filepath.IsAbs(p) || filepath.Clean(p) != p || isGlob(p) {
					continue
				}
				got, ok := cfg.lookup(p)
				if !ok || slices.IndexFunc(cfg.Rules[:i+1], func(x lrRule) bool { return x.Where == got.Where && slices.Equal(x.Patterns, got.Patterns) }) < 0 {
					t.Errorf("%s: found %v, %v; its block is %+v", p, got, ok, r)
				}
			}
		}
		if len(again.Rules) != len(cfg.Rules) || !slices.Equal(again.Errors, cfg.Errors) {
			t.Errorf("a second read differs")
		}
	})
}
