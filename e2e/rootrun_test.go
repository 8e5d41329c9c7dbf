package e2e

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A sysadmin tries `sudo annexa-agent run --once` on a packaged host
// before starting the service: the spool, its lock and the plugins' state
// it creates must go to the state folder's owner (the service's user), or
// the service cannot open them afterwards. Doctor names what is left to
// root.
func TestRunAsRootLeavesStateToItsOwner(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to own files as another user")
	}
	const nobody = 65534
	c := newCollector(t, "")
	c.start()
	a := newAgent(t, c.url, datasetsPlugin(datasetTree(t)))
	os.MkdirAll(a.stateDir, 0o700)
	os.Chown(a.stateDir, nobody, nobody)
	a.enroll(c)
	if out, err := a.exec("run", "--once", "--config", a.config); err != nil {
		t.Fatalf("run --once: %v\n%s", err, out)
	}
	var rootOwned []string
	filepath.WalkDir(a.stateDir, func(p string, e fs.DirEntry, err error) error {
		if fi, err := os.Lstat(p); err == nil && fi.Sys().(*syscall.Stat_t).Uid != nobody {
			rootOwned = append(rootOwned, p)
		}
		return nil
	})
	if len(rootOwned) > 0 {
		t.Errorf("run --once as root left to root: %v", rootOwned)
	}

	// What an older agent or a careless cp leaves behind, doctor finds.
	os.WriteFile(filepath.Join(a.stateDir, "stray"), nil, 0o600)
	out, _ := a.exec("doctor", "--config", a.config)
	if !strings.Contains(out, "FAIL  state      1 entries in "+a.stateDir+" belong to root (first: stray)") || !strings.Contains(out, "chown -R nobody:") {
		t.Errorf("doctor does not name the root-owned file:\n%s", out)
	}
}
