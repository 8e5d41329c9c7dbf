package main

import (
	"os"
	"syscall"
)

// keepDataOwner gives the store's files to the data folder's owner when
// root opens a store in a folder that belongs to someone else (the
// packages' `annexa`): `sudo annexa-collector serve` or `token create` on a
// fresh folder would otherwise leave collector.db to root, and the
// service could not write it. SQLite, run by root, gives the -wal and
// -shm files it makes later the database file's owner; the ones made at
// open are handed over here. Symlinks and hard links are left alone: the
// folder's owner could point those at any file of root's.
func keepDataOwner(dir, db string) {
	if os.Geteuid() != 0 {
		return
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return
	}
	owner, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || owner.Uid == 0 {
		return
	}
	for _, p := range []string{db, db + "-wal", db + "-shm"} {
		fi, err := os.Lstat(p)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid == 0 && st.Nlink == 1 {
			_ = os.Lchown(p, int(owner.Uid), int(owner.Gid))
		}
	}
}
