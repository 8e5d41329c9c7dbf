package daemon

import (
	"os"
	"path/filepath"
	"testing"
)

func TestRunningCreatesNothing(t *testing.T) {
	dir := t.TempDir()
	if Running(dir) {
		t.Error("running without a lock file")
	}
	if _, err := os.Stat(filepath.Join(dir, "agent.lock")); err == nil {
		t.Error("Running created the lock file")
	}
	unlock, err := lockStateDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !Running(dir) {
		t.Error("not running while the state folder is locked")
	}
	unlock()
	if Running(dir) {
		t.Error("running after unlock")
	}
}
