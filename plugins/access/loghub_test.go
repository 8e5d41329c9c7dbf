package access

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The real sshd and Linux auth logs of the loghub collection, read in
// place and never copied into the repository.
var loghubDir = filepath.Join("..", "..", "..", "shared", "testdata", "loghub")

func loghub(t testing.TB, name string) string {
	t.Helper()
	path, _ := filepath.Abs(filepath.Join(loghubDir, name))
	if _, err := os.Stat(path); err != nil {
		t.Skipf("real log %s is not there (%v); it lives in /work/shared/testdata/loghub beside the repository", path, err)
	}
	return path
}

// grepCount counts matching lines with grep -cE, the tool an operator
// would use, so the expectation does not come from the parser under test.
func grepCount(t *testing.T, pattern, path string) int {
	t.Helper()
	if _, err := exec.LookPath("grep"); err != nil {
		b, _ := os.ReadFile(path)
		re := regexp.MustCompile(pattern)
		n := 0
		for _, l := range strings.Split(string(b), "\n") {
			if re.MatchString(l) {
				n++
			}
		}
		return n
	}
	out, _ := exec.Command("grep", "-cE", pattern, path).Output()
	n, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("grep -cE %q %s: %q", pattern, path, out)
	}
	return n
}

// physicalLines counts lines the way wc -l does, plus an unterminated last one.
func physicalLines(t *testing.T, path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := int64(bytes.Count(b, []byte("\n")))
	if len(b) > 0 && b[len(b)-1] != '\n' {
		n++
	}
	return n
}

func parseFile(t *testing.T, path string, year int) (Stats, map[string]int, []Event) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	counts := map[string]int{}
	var evs []Event
	st, err := ParseAuthLog(f, ParseOptions{Year: year, Location: time.UTC}, func(ev Event) error {
		counts[ev.Action]++
		evs = append(evs, ev)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return st, counts, evs
}

func TestLoghubOpenSSH(t *testing.T) {
	path := loghub(t, "OpenSSH_2k.log")
	st, counts, evs := parseFile(t, path, 2024)
	if want := physicalLines(t, path); st.Lines != want || st.Lines != 2000 {
		t.Errorf("parsed %d lines, the file has %d (want 2000)", st.Lines, want)
	}
	if st.Malformed != 0 || st.TooLong != 0 {
		t.Errorf("stats %+v: no line of a real sshd log should be malformed", st)
	}
	want := map[string]int{
		ActionLoginFailed:       grepCount(t, `sshd\[[0-9]+\]: (message repeated [0-9]+ times: \[ )?Failed [a-z-]+ for `, path),
		ActionLogin:             grepCount(t, `sshd\[[0-9]+\]: Accepted [a-z-]+ for `, path),
		ActionInvalidUser:       grepCount(t, `sshd\[[0-9]+\]: Invalid user `, path),
		ActionAuthFailure:       grepCount(t, `pam_unix\([a-z-]+:auth\): authentication failure;`, path),
		ActionBreakInAttempt:    grepCount(t, `POSSIBLE BREAK-IN ATTEMPT!`, path),
		ActionPreauthDisconnect: grepCount(t, `(Connection closed by|Disconnected from) (authenticating|invalid) user `, path),
		ActionSessionOpen:       grepCount(t, `session opened for user `, path),
		ActionSessionClose:      grepCount(t, `session closed for user `, path),
	}
	// Guard against a vacuous test: the file is known to hold these.
	if want[ActionLoginFailed] < 400 || want[ActionAuthFailure] < 400 || want[ActionLogin] < 1 {
		t.Fatalf("grep found too little, is this the loghub file? %v", want)
	}
	total := 0
	for action, n := range want {
		total += n
		if counts[action] != n {
			t.Errorf("%s: parsed %d events, grep counts %d lines", action, counts[action], n)
		}
	}
	if int(st.Events) != total || len(counts) != len(nonZero(want)) {
		t.Errorf("events %d by action %v; grep expects %d as %v", st.Events, counts, total, want)
	}
	t.Logf("OpenSSH_2k: %d lines, %d events %v, %d skipped", st.Lines, st.Events, counts, st.Skipped)
	// Spot-check one real line end to end.
	for _, ev := range evs {
		if ev.Action == ActionLogin {
			if ev.Actor != "fztu" || ev.Remote != "119.137.62.142" || ev.Port != 49116 || ev.Method != "password" ||
				ev.At != "2024-12-10T09:32:20Z" || ev.Program != "sshd" || ev.PID != 24680 || ev.Result != ResultSuccess {
				t.Errorf("accepted line parsed as %+v", ev)
			}
		}
	}
	failedRoot := grepCount(t, `Failed password for root from`, path)
	n := 0
	for _, ev := range evs {
		if ev.Action == ActionLoginFailed && ev.Actor == "root" && !ev.InvalidUser && ev.Method == "password" {
			n++
		}
	}
	if n != failedRoot {
		t.Errorf("failed logins as root: %d, grep %d", n, failedRoot)
	}
}

func TestLoghubLinux(t *testing.T) {
	path := loghub(t, "Linux_2k.log")
	st, counts, _ := parseFile(t, path, 2005)
	if want := physicalLines(t, path); st.Lines != want || st.Lines != 2000 {
		t.Errorf("parsed %d lines, the file has %d (want 2000)", st.Lines, want)
	}
	want := map[string]int{
		ActionAuthFailure:  grepCount(t, `\(pam_unix\)\[[0-9]+\]: authentication failure;`, path),
		ActionSessionOpen:  grepCount(t, `\(pam_unix\)\[[0-9]+\]: session opened for user `, path),
		ActionSessionClose: grepCount(t, `\(pam_unix\)\[[0-9]+\]: session closed for user `, path),
		ActionLoginFailed:  grepCount(t, `klogind\[[0-9]+\]: Authentication failed from `, path),
	}
	if want[ActionAuthFailure] < 400 || want[ActionSessionOpen] < 100 {
		t.Fatalf("grep found too little, is this the loghub file? %v", want)
	}
	total := 0
	for action, n := range want {
		total += n
		if counts[action] != n {
			t.Errorf("%s: parsed %d events, grep counts %d lines", action, counts[action], n)
		}
	}
	if int(st.Events) != total {
		t.Errorf("events %d by action %v; grep expects %d as %v", st.Events, counts, total, want)
	}
	t.Logf("Linux_2k: %d lines, %d events %v, %d skipped, %d malformed", st.Lines, st.Events, counts, st.Skipped, st.Malformed)
}

func nonZero(m map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range m {
		if v > 0 {
			out[k] = v
		}
	}
	return out
}
