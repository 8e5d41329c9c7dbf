package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// `sudo annexa-collector token create` (or serve, users add) on the
// packages' data folder must leave the store to the folder's owner, the
// service's user, or the service can no longer write it.
func TestRootLeavesStoreToDataOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipped: needs root to own files as another user")
	}
	const nobody = 65534
	data := filepath.Join(t.TempDir(), "data")
	os.Mkdir(data, 0o700)
	os.Chown(data, nobody, nobody)
	if _, errs, code := cli(t, "token", "create", "--data", data); code != 0 {
		t.Fatalf("token create: %s", errs)
	}
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte("a long enough password\n"), 0o600)
	if _, errs, code := cli(t, "users", "add", "--data", data, "--password-file", pw, "lea"); code != 0 {
		t.Fatalf("users add: %s", errs)
	}
	entries, _ := os.ReadDir(data)
	if len(entries) == 0 {
		t.Fatal("no store was made")
	}
	for _, e := range entries {
		fi, _ := e.Info()
		if uid := fi.Sys().(*syscall.Stat_t).Uid; uid != nobody {
			t.Errorf("%s is owned by uid %d, want the data folder's owner %d", e.Name(), uid, nobody)
		}
	}
}
