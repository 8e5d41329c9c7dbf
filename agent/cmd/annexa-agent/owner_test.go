package main

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/annexa/annexa/agent/internal/spool"
)

// `sudo annexa-agent status` on a packaged host opens the service user's
// spool as root; SQLite's side files must not be left to root, or the
// service could not open its own spool again.
func TestStatusAsRootLeavesSpoolToItsOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipped: needs root to own files as another user")
	}
	const nobody = 65534
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	os.MkdirAll(state, 0o700)
	sp, err := spool.Open(filepath.Join(state, "spool.db"), spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sp.Close()
	filepath.Walk(state, func(p string, _ os.FileInfo, _ error) error { return os.Chown(p, nobody, nobody) })
	cfg := filepath.Join(dir, "agent.yaml")
	os.WriteFile(cfg, []byte("collector: {url: http://127.0.0.1:1}\nstate_dir: "+state+"\nplugins: {datasets: {}}\n"), 0o644)

	if err := run(context.Background(), []string{"status", "--config", cfg, "--json"}); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(state)
	for _, e := range entries {
		fi, _ := e.Info()
		if fi.Sys().(*syscall.Stat_t).Uid != nobody {
			t.Errorf("%s is owned by uid %d after status as root", e.Name(), fi.Sys().(*syscall.Stat_t).Uid)
		}
	}
}
