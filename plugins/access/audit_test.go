package access

import (
	"encoding/csv"
	"errors"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/annexa/annexa/plugins/sdk"
)

// assetTree builds, under a temporary folder, the asset tree that
// testdata/audit/gen.sh had at /srv/ml when it wrote audit.log.
func assetTree(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for name, body := range map[string]string{
		"srv/ml/datasets/iris/dataset_info.json": `{"description":"iris"}`,
		"srv/ml/datasets/iris/train-v1.csv":      "a\n",
		"srv/ml/datasets/pii/customers.csv":      "a\n",
		"srv/ml/datasets/my data/notes.csv":      "a\n",
		"srv/ml/models/llama.safetensors":        "x",
	} {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func auditPlugin(t *testing.T, log string, extra map[string]any) *Plugin {
	t.Helper()
	s := map[string]any{
		"audit_logs":    []string{log},
		"passwd_file":   fixture(t, "audit/passwd"),
		"dataset_roots": []string{"/srv/ml/datasets"},
		"model_roots":   []string{"/srv/ml/models"},
	}
	for k, v := range extra {
		s[k] = v
	}
	p := newPlugin(t, s)
	p.fsRoot = assetTree(t)
	return p
}

// TestAuditEvents pins what the real audit.log (written by the kernel and
// auditd, see testdata/audit/gen.sh) becomes.
func TestAuditEvents(t *testing.T) {
	p := auditPlugin(t, fixture(t, "audit/audit.log"), nil)
	a := &fakeAgent{}
	recs, err := a.collect(t, p)
	if err != nil {
		t.Fatal(err)
	}
	evs := eventsOf(t, recs, map[string]Event{})
	var got []string
	for _, e := range evs {
		got = append(got, strings.Join([]string{e.Action, e.Result, e.Actor, e.By, e.Object, e.Asset, e.Key, e.Syscall, strconv.FormatInt(e.LineNo, 10)}, "|"))
	}
	want := []string{
		"audit_daemon|success|root||start||||1",
		"audit_config|success|root||annexa-datasets||annexa-datasets||4",
		"audit_config|success|root||annexa-models||annexa-models||7",
		"audit_config|success|root||annexa-exec||annexa-exec||13",
		// cat by absolute path, then by a path relative to the CWD record.
		"file_access|success|alice||/srv/ml/datasets/iris/train.csv|dataset:/srv/ml/datasets/iris|annexa-datasets|openat|22",
		"file_access|success|alice||/srv/ml/datasets/iris/train.csv|dataset:/srv/ml/datasets/iris|annexa-datasets|openat|29",
		// The PATH name is hex-encoded (it holds a space).
		"file_access|success|alice||/srv/ml/datasets/my data/notes.csv|dataset:/srv/ml/datasets/my data|annexa-datasets|openat|36",
		"file_access|success|alice||/usr/bin/ls||annexa-exec|execve|43",
		"file_access|failure|alice||/srv/ml/datasets/my data|dataset:/srv/ml/datasets/my data|annexa-datasets|lgetxattr|49",
		"file_access|failure|alice||/srv/ml/datasets/my data|dataset:/srv/ml/datasets/my data|annexa-datasets|getxattr|53",
		"file_access|failure|alice||/srv/ml/datasets/my data|dataset:/srv/ml/datasets/my data|annexa-datasets|getxattr|57",
		"file_access|success|alice||/srv/ml/datasets/my data|dataset:/srv/ml/datasets/my data|annexa-datasets|openat|61",
		"file_access|failure|alice||/srv/ml/datasets/my data/notes.csv|dataset:/srv/ml/datasets/my data|annexa-datasets|lgetxattr|65",
		"file_access|failure|alice||/srv/ml/datasets/my data/notes.csv|dataset:/srv/ml/datasets/my data|annexa-datasets|getxattr|69",
		// mv: the renamed file, not its parent folder, is the object.
		"file_access|success|alice||/srv/ml/datasets/iris/train.csv|dataset:/srv/ml/datasets/iris|annexa-datasets|renameat2|76",
		"file_access|success|alice||/srv/ml/models/llama.safetensors|model:/srv/ml/models/llama.safetensors|annexa-models|openat|86",
		// bob's uid, alice's login: the actor is who logged in.
		"file_access|failure|alice||/srv/ml/datasets/pii/customers.csv|dataset:/srv/ml/datasets/pii|annexa-datasets|openat|93",
		"privilege|success|alice||||||101",
		"session_open|success|bob|alice|sudo||||103",
		"session_close|success|bob|alice|sudo||||104",
		"auth_failure|failure|bob|alice|su||||109",
		"session_open|success|bob|alice|su||||116",
		"session_close|success|bob|alice|su||||117",
		"auth_failure|failure|alice||login||||122",
		"login_failed|failure|alice||login||||123",
		"session_open|success|alice||login||||126",
		"login|success|alice||login||||128",
		"session_close|success|alice||login||||129",
		"audit_config|success|root||annexa-datasets||annexa-datasets||130",
		"audit_config|success|root||annexa-models||annexa-models||134",
		"audit_config|success|root||annexa-exec||annexa-exec||138",
		"audit_daemon|success|root||terminate||||144",
	}
	if !slices.Equal(got, want) {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	byLine := map[int64]Event{}
	for _, e := range evs {
		byLine[e.LineNo] = e
	}
	if e := byLine[43]; e.Command != "ls -l /srv/ml/datasets/my data" || e.Exe != "/usr/bin/ls" || e.AUID != "1001" {
		t.Errorf("execve event: command %q (hex argument decoded from EXECVE), exe %q, auid %q", e.Command, e.Exe, e.AUID)
	}
	if e := byLine[29]; e.PWD != "/srv/ml/datasets/iris" || e.Command != "cat train.csv" {
		t.Errorf("relative open: pwd %q, command %q (PROCTITLE, NULs as spaces)", e.PWD, e.Command)
	}
	if e := byLine[76]; !slices.Equal(e.Paths, []string{"/srv/ml/datasets/iris", "/srv/ml/datasets/iris/train.csv", "/srv/ml/datasets/iris/train-v1.csv"}) || e.Records != 7 {
		t.Errorf("rename: paths %q, records %d", e.Paths, e.Records)
	}
	if e := byLine[101]; e.Command != "true" || e.PWD == "" {
		t.Errorf("sudo USER_CMD: command %q pwd %q", e.Command, e.PWD)
	}
	if e := byLine[22]; e.At != "2026-11-29T06:33:58Z" || !strings.Contains(e.Line, "type=PATH") || e.Source != SourceAudit {
		t.Errorf("at %q, line %q, source %q", e.At, e.Line, e.Source)
	}
	s := summariesOf(recs)
	if len(s) != 1 || s[0].Lines != 144 || s[0].Events != int64(len(want)) || s[0].Skipped != 22 || s[0].Malformed != 0 {
		t.Errorf("summary %+v", s)
	}
}

// stripEnriched turns the ENRICHED log into the RAW format (the same
// records without auditd's \x1d-separated names), as auditd writes with
// log_format = RAW.
func stripEnriched(t *testing.T, dst string) {
	t.Helper()
	b, err := os.ReadFile(fixture(t, "audit/audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	for _, l := range strings.SplitAfter(string(b), "\n") {
		if i := strings.IndexByte(l, 0x1d); i >= 0 {
			l = l[:i] + "\n"
		}
		out.WriteString(l)
	}
	if err := os.WriteFile(dst, []byte(out.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestAuditRawResolvesUsers: without auditd's enrichment, auid and uid are
// resolved through passwd_file; without it, they stay numbers.
func TestAuditRawResolvesUsers(t *testing.T) {
	raw := filepath.Join(t.TempDir(), "audit.log")
	stripEnriched(t, raw)
	for _, tc := range []struct {
		passwd string
		alice  string
	}{{fixture(t, "audit/passwd"), "alice"}, {"/nonexistent/passwd", "1001"}} {
		p := auditPlugin(t, raw, map[string]any{"passwd_file": tc.passwd})
		recs, err := (&fakeAgent{}).collect(t, p)
		if err != nil {
			t.Fatal(err)
		}
		byLine := map[int64]Event{}
		for _, e := range eventsOf(t, recs, map[string]Event{}) {
			byLine[e.LineNo] = e
		}
		if e := byLine[93]; e.Actor != tc.alice || e.UID != "1002" {
			t.Errorf("passwd %s: actor %q uid %q, want %s (auid 1001)", tc.passwd, e.Actor, e.UID, tc.alice)
		}
		if e := byLine[101]; e.Actor != tc.alice || e.Action != ActionPrivilege {
			t.Errorf("passwd %s: sudo by %q (%s)", tc.passwd, e.Actor, e.Action)
		}
		if e := byLine[4]; e.Actor != "root" && tc.alice == "alice" {
			t.Errorf("auditctl by %q, want root", e.Actor)
		}
		if e := byLine[29]; e.Syscall != "257" {
			t.Errorf("raw syscall %q, want the number 257", e.Syscall)
		}
	}
}

// TestAuditEventHeldBack: an event whose last record is not written yet
// is not reported until it is, and then once.
func TestAuditEventHeldBack(t *testing.T) {
	b, err := os.ReadFile(fixture(t, "audit/audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(b), "\n")
	path := filepath.Join(t.TempDir(), "audit.log")
	// Lines 1..24 end inside the event of lines 22..25 (SYSCALL, CWD,
	// PATH; its PROCTITLE is line 25).
	appendFile(t, path, strings.Join(lines[:24], ""))
	p, a := auditPlugin(t, path, nil), &fakeAgent{}
	seen := map[string]Event{}
	recs, err := a.collect(t, p)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range eventsOf(t, recs, seen) {
		if e.Action == ActionFileAccess {
			t.Fatalf("incomplete event reported: %+v", e)
		}
	}
	if s := summariesOf(recs)[0]; s.Lines != 21 {
		t.Errorf("lines counted %d, want 21 (the open event's are not yet)", s.Lines)
	}
	appendFile(t, path, lines[24])
	recs, _ = a.collect(t, p)
	evs := eventsOf(t, recs, seen)
	if len(evs) != 1 || evs[0].Object != "/srv/ml/datasets/iris/train.csv" || evs[0].LineNo != 22 || evs[0].Records != 4 {
		t.Fatalf("completed event: %+v", evs)
	}
	if s := summariesOf(recs)[0]; s.Lines != 4 {
		t.Errorf("lines counted %d, want 4", s.Lines)
	}
}

// TestAuditTooManyRecords: an event over max_audit_records is skipped and
// counted, and the events around it are intact.
func TestAuditTooManyRecords(t *testing.T) {
	// The rename event has 7 records (SYSCALL, CWD, 4 PATH, PROCTITLE);
	// the largest others have 6.
	p := auditPlugin(t, fixture(t, "audit/audit.log"), map[string]any{"max_audit_records": 6})
	recs, err := (&fakeAgent{}).collect(t, p)
	if err != nil {
		t.Fatal(err)
	}
	evs := eventsOf(t, recs, map[string]Event{})
	var syscalls []string
	for _, e := range evs {
		if e.Syscall != "" {
			syscalls = append(syscalls, e.Syscall)
		}
	}
	if slices.Contains(syscalls, "renameat2") || !slices.Contains(syscalls, "execve") {
		t.Errorf("syscalls reported %v: the rename is over the cap, execve (6 records) is not", syscalls)
	}
	s := summariesOf(recs)[0]
	if s.TooManyRecords != 1 || s.Lines != 144 || len(evs) != 31 {
		t.Errorf("too_many_records %d (want 1), lines %d, events %d (want 31)", s.TooManyRecords, s.Lines, len(evs))
	}
}

// TestAuditCrashAnywhere appends the real log in random byte chunks (so
// lines and events are cut anywhere) while the agent "crashes" at random
// checkpoints; every event arrives exactly once, as in one pass.
func TestAuditCrashAnywhere(t *testing.T) {
	b, err := os.ReadFile(fixture(t, "audit/audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	{
		p := auditPlugin(t, fixture(t, "audit/audit.log"), nil)
		recs, err := (&fakeAgent{}).collect(t, p)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.Kind == KindEvent {
				e := r.Attributes.(Event)
				want[strconv.FormatInt(e.Offset, 10)] = e.Action + " " + e.Object
			}
		}
	}
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 11))
		path := filepath.Join(t.TempDir(), "audit.log")
		p := auditPlugin(t, path, map[string]any{"batch_lines": 1 + rng.IntN(20)})
		a := &fakeAgent{}
		seen := map[string]Event{}
		got := map[string]string{}
		written := 0
		for written < len(b) {
			n := min(len(b)-written, rng.IntN(3000))
			appendFile(t, path, string(b[written:written+n]))
			written += n
			a.crashAt = 0
			if rng.IntN(2) == 0 {
				a.crashAt = a.calls + 1 + rng.IntN(4)
			}
			recs, err := a.collect(t, p)
			if err != nil && !errors.Is(err, errCrash) {
				t.Fatal(err)
			}
			for _, e := range eventsOf(t, recs, seen) {
				got[strconv.FormatInt(e.Offset, 10)] = e.Action + " " + e.Object
			}
		}
		a.crashAt = 0
		for range 2 {
			recs, _ := a.collect(t, p)
			for _, e := range eventsOf(t, recs, seen) {
				got[strconv.FormatInt(e.Offset, 10)] = e.Action + " " + e.Object
			}
		}
		// The last event (DAEMON_END) is a whole record; everything is in.
		if !maps.Equal(got, want) {
			t.Fatalf("seed %d: got %d events, want %d\n%v\n%v", seed, len(got), len(want), got, want)
		}
	}
}

// TestAuditRotation: auditd rotates audit.log to audit.log.1 (logrotate may
// gzip it) while an event is half read; the rest of the old file is read
// from where it was left, then the new file, every event once.
func TestAuditRotation(t *testing.T) {
	b, err := os.ReadFile(fixture(t, "audit/audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(b), "\n")
	whole := auditPlugin(t, fixture(t, "audit/audit.log"), nil)
	recs, err := (&fakeAgent{}).collect(t, whole)
	if err != nil {
		t.Fatal(err)
	}
	want := len(eventsOf(t, recs, map[string]Event{}))
	for _, gz := range []bool{false, true} {
		path := filepath.Join(t.TempDir(), "audit.log")
		// Lines 1..24 end inside the event of lines 22..25.
		appendFile(t, path, strings.Join(lines[:24], ""))
		p, a := auditPlugin(t, path, nil), &fakeAgent{}
		seen := map[string]Event{}
		recs, err := a.collect(t, p)
		if err != nil {
			t.Fatal(err)
		}
		n := len(eventsOf(t, recs, seen))
		appendFile(t, path, strings.Join(lines[24:60], ""))
		if err := os.Rename(path, path+".1"); err != nil {
			t.Fatal(err)
		}
		if gz {
			gzipFile(t, path+".1")
		}
		appendFile(t, path, strings.Join(lines[60:], ""))
		recs, err = a.collect(t, p)
		if err != nil {
			t.Fatal(err)
		}
		n += len(eventsOf(t, recs, seen))
		if n != want {
			t.Errorf("gzip %v: %d events over the rotation, want %d", gz, n, want)
		}
		if s := summariesOf(recs)[0]; len(s.Rotations) != 1 {
			t.Errorf("gzip %v: rotations %v", gz, s.Rotations)
		}
	}
}

// TestAuditAgainstAusearch reads the fixture with auditd's own ausearch
// (Debian package auditd) and compares its normalised view of every file
// event of the dataset watch with ours: who (the login user), the result,
// the object (hex names decoded, relative ones resolved) and the program.
func TestAuditAgainstAusearch(t *testing.T) {
	if _, err := exec.LookPath("ausearch"); err != nil {
		t.Skip("ausearch is not installed (Debian package auditd)")
	}
	out, err := exec.Command("ausearch", "--input", fixture(t, "audit/audit.log"), "--key", "annexa-datasets", "--format", "csv").Output()
	if err != nil {
		t.Fatalf("ausearch: %v", err)
	}
	rows, err := csv.NewReader(strings.NewReader(string(out))).ReadAll()
	if err != nil || len(rows) < 2 {
		t.Fatalf("ausearch csv: %v (%d rows)", err, len(rows))
	}
	col := map[string]int{}
	for i, name := range rows[0] {
		col[name] = i
	}
	p := auditPlugin(t, fixture(t, "audit/audit.log"), nil)
	recs, err := (&fakeAgent{}).collect(t, p)
	if err != nil {
		t.Fatal(err)
	}
	bySerial := map[string]Event{}
	keyed := 0
	for _, e := range eventsOf(t, recs, map[string]Event{}) {
		_, serial, _ := strings.Cut(e.AuditID, ":")
		bySerial[serial] = e
		if e.Key == "annexa-datasets" {
			keyed++
		}
	}
	if keyed != len(rows)-1 {
		t.Errorf("%d events with key annexa-datasets, ausearch finds %d", keyed, len(rows)-1)
	}
	files := 0
	for _, r := range rows[1:] {
		e, ok := bySerial[r[col["SERIAL_NUM"]]]
		if !ok {
			t.Errorf("ausearch event %s is not among ours", r[col["SERIAL_NUM"]])
			continue
		}
		result := map[string]string{"success": ResultSuccess, "failed": ResultFailure}[r[col["RESULT"]]]
		if e.Result != result {
			t.Errorf("event %s: result %s, ausearch %s", e.AuditID, e.Result, r[col["RESULT"]])
		}
		if r[col["EVENT"]] != "SYSCALL" || r[col["OBJ_KIND"]] != "file" {
			continue
		}
		files++
		if e.Actor != r[col["SUBJ_PRIME"]] || e.Object != r[col["OBJ_PRIME"]] || e.Exe != r[col["HOW"]] {
			t.Errorf("event %s: actor %q object %q exe %q; ausearch: %q %q %q", e.AuditID, e.Actor, e.Object, e.Exe,
				r[col["SUBJ_PRIME"]], r[col["OBJ_PRIME"]], r[col["HOW"]])
		}
	}
	if files < 5 {
		t.Errorf("only %d file events compared", files)
	}
}

// TestAuditRotatedTwiceBudget: an audit log rotated twice by the real
// logrotate (xz) between collections, with a decompression budget that
// runs out inside the newer copy: every event arrives exactly once, the
// one cut by the budget whole, over two collections.
func TestAuditRotatedTwiceBudget(t *testing.T) {
	b, err := os.ReadFile(fixture(t, "audit/audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(b), "\n")
	whole := eventsOf(t, mustCollect(t, auditPlugin(t, fixture(t, "audit/audit.log"), nil)), map[string]Event{})
	once := len(whole)
	path := filepath.Join(t.TempDir(), "audit.log")
	lr := newLogrotate(t, path, append([]string{"rotate 5"}, compressDirectives(t, "xz")...)...)
	appendFile(t, path, strings.Join(lines[:24], "")) // ends inside an event
	// The budget takes the older copy (4 × the fixture) and the newer one
	// up to inside the second record of an event in its second half.
	cut := 0
	for _, ev := range whole {
		if ev.Offset > int64(len(b)/2) && ev.Records >= 3 {
			cut = int(ev.Offset) + len(ev.Line) + 1 + 5
			break
		}
	}
	if cut == 0 {
		t.Fatal("no event of several records in the fixture's second half")
	}
	budget := 4*len(b) + cut
	p := auditPlugin(t, path, map[string]any{"max_decompressed_per_file": budget, "max_decompressed_per_collection": budget})
	a := &fakeAgent{}
	seen := map[string]Event{}
	recs, err := a.collect(t, p)
	if err != nil {
		t.Fatal(err)
	}
	records := func(evs []Event) (n int) {
		for _, ev := range evs {
			n += ev.Records
		}
		return n
	}
	wantRecords := 6 * records(whole)
	evs := eventsOf(t, recs, seen)
	n, nrec := len(evs), records(evs)
	// Each copy of the fixture in other seconds, as a real log's would be:
	// a new log that reuses the freed inode of one compressed away is
	// told apart by its first bytes.
	copyN := func(k int) string {
		return strings.ReplaceAll(string(b), "msg=audit(17959", "msg=audit(1795"+strconv.Itoa(k))
	}
	appendFile(t, path, strings.Join(lines[24:], "")+copyN(1)+copyN(2)+copyN(3))
	lr.rotate()
	appendFile(t, path, copyN(4))
	lr.rotate()
	appendFile(t, path, copyN(5))
	recs, err = a.collect(t, p)
	if err != nil {
		t.Fatal(err)
	}
	evs = eventsOf(t, recs, seen)
	n, nrec = n+len(evs), nrec+records(evs)
	s := summariesOf(recs)[0]
	if !strings.Contains(s.Note, "max_decompressed_per_collection") || n >= 6*once {
		t.Fatalf("the budget did not stop the first collection: %d events (%d a copy), note %q, rotations %v", n, once, s.Note, s.Rotations)
	}
	recs, err = a.collect(t, p)
	if err != nil {
		t.Fatal(err)
	}
	evs = eventsOf(t, recs, seen)
	n, nrec = n+len(evs), nrec+records(evs)
	// The event the budget cut is sent once, whole: as many events and
	// records as six copies hold.
	if n != 6*once || nrec != wantRecords {
		t.Errorf("%d events of %d records over the rotations, want %d of %d", n, nrec, 6*once, wantRecords)
	}
	if s := summariesOf(recs)[0]; s.Note != "" || !slices.Equal(s.Rotations, []string{"xz"}) {
		t.Errorf("second collection: note %q, rotations %v", s.Note, s.Rotations)
	}
}

func mustCollect(t *testing.T, p *Plugin) []sdk.Record {
	t.Helper()
	recs, err := (&fakeAgent{}).collect(t, p)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}
