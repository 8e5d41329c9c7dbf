package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// handBack gives root's files in a foreign state folder to its owner, but
// never a file outside it reached through a symlink, nor a hard link
// (which the folder's owner could point at any file of root's).
func TestHandBackStaysInsideTheStateFolder(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipped: needs root to own files as another user")
	}
	const nobody = 65534
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	outside := filepath.Join(dir, "outside")
	os.MkdirAll(filepath.Join(state, "plugins", "datasets"), 0o700)
	os.MkdirAll(outside, 0o700)
	os.WriteFile(filepath.Join(state, "spool.db"), nil, 0o600)
	os.WriteFile(filepath.Join(state, "plugins", "datasets", "cache"), nil, 0o600)
	os.WriteFile(filepath.Join(outside, "secret"), nil, 0o600)
	os.Symlink(outside, filepath.Join(state, "plugins", "link"))
	os.Link(filepath.Join(outside, "secret"), filepath.Join(state, "hardlink"))
	os.Chown(state, nobody, nobody)

	if n := handBack(state); n != 4 {
		t.Errorf("handed back %d entries, want 4 (spool.db, plugins, plugins/datasets, its cache)", n)
	}
	uid := func(p string) uint32 {
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Sys().(*syscall.Stat_t).Uid
	}
	for _, p := range []string{"spool.db", "plugins", "plugins/datasets", "plugins/datasets/cache"} {
		if got := uid(filepath.Join(state, p)); got != nobody {
			t.Errorf("%s is owned by %d, want %d", p, got, nobody)
		}
	}
	for _, p := range []string{filepath.Join(outside, "secret"), outside, filepath.Join(state, "plugins", "link")} {
		if got := uid(p); got != 0 {
			t.Errorf("%s was handed to %d; it must stay root's", p, got)
		}
	}
}
