package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// On a terminal (a real pseudo-terminal from util-linux's script), collect
// --once draws a line per plugin while the evidence goes to a file; piped,
// it stays quiet (TestCollectOnceOutput parses every line as JSON).
func TestCollectOnceProgressOnATerminal(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	scriptCmd, err := exec.LookPath("script")
	if err != nil {
		t.Skip("skipped: util-linux script is missing (Debian's bsdutils has it)")
	}
	root := datasetTree(t)
	a := newAgent(t, "http://127.0.0.1:9", datasetsPlugin(root), counterPlugin(5))
	out := filepath.Join(t.TempDir(), "evidence.jsonl")
	cmdline := filepath.Join(bins, "annexa-agent") + " collect --once --config " + a.config + " --output " + out
	tty, err := exec.Command(scriptCmd, "-qec", cmdline, "/dev/null").CombinedOutput()
	if err != nil {
		t.Fatalf("collect on a terminal: %v\n%q", err, tty)
	}
	for _, want := range []string{"\r\033[K", "datasets     done: 3 records", "counter      done: "} {
		if !strings.Contains(string(tty), want) {
			t.Errorf("terminal output lacks %q:\n%q", want, tty)
		}
	}
	b, _ := os.ReadFile(out)
	if strings.Contains(string(b), "\033") || strings.Count(string(b), `"kind":"dataset"`) != 3 {
		t.Errorf("the evidence file has progress in it or lacks datasets:\n%s", b)
	}
	// Evidence to the same terminal: no bar to tear through it.
	tty, _ = exec.Command(scriptCmd, "-qec", filepath.Join(bins, "annexa-agent")+" collect --once --config "+a.config, "/dev/null").CombinedOutput()
	if strings.Contains(string(tty), "\033[K") || !strings.Contains(string(tty), `"kind":"dataset"`) {
		t.Errorf("with evidence on the terminal, progress should stay off:\n%q", tty)
	}
}
