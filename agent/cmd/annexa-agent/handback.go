package main

import (
	"io/fs"
	"os"
	"os/user"
	"strconv"
	"syscall"

	"github.com/annexa/annexa/agent/internal/config"
)

// handBack gives what a root `run` created in a state folder that belongs
// to another user (the packages' `annexa`) to that user: the spool, its
// lock and the plugins' state. Without it, `sudo annexa-agent run --once`
// to try things leaves files the service can no longer open, and the
// service fails at its next start. It returns how many entries it handed
// back.
//
// The folder's owner can change it under us, so the walk goes through
// os.Root (no symlink leads out of it), never follows or changes a
// symlink, and leaves alone any file with more than one link: a hard
// link could be someone else's file.
func handBack(dir string) int {
	if os.Geteuid() != 0 {
		return 0
	}
	uid, gid, ok := foreignOwner(dir)
	if !ok {
		return 0
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return 0
	}
	defer root.Close()
	n := 0
	_ = fs.WalkDir(root.FS(), ".", func(p string, e fs.DirEntry, err error) error {
		if err != nil || p == "." || e.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		fi, err := e.Info()
		if err != nil {
			return nil
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok || st.Uid != 0 || (!e.IsDir() && st.Nlink != 1) {
			return nil
		}
		if root.Lchown(p, uid, gid) == nil {
			n++
		}
		return nil
	})
	return n
}

// foreignOwner is the owner of dir when that is not root.
func foreignOwner(dir string) (uid, gid int, ok bool) {
	fi, err := os.Stat(dir)
	if err != nil {
		return 0, 0, false
	}
	st, isUnix := fi.Sys().(*syscall.Stat_t)
	if !isUnix || st.Uid == 0 {
		return 0, 0, false
	}
	return int(st.Uid), int(st.Gid), true
}

// stateOwnership is doctor's check that the service's user can open
// everything in its state folder: a root run of an older agent, or a
// `cp` as root, leaves files it cannot.
func (d *doctor) stateOwnership(cfg *config.Config) {
	uid, gid, ok := foreignOwner(cfg.StateDir)
	if !ok || os.Geteuid() != 0 {
		return
	}
	var rootOwned []string
	_ = fs.WalkDir(os.DirFS(cfg.StateDir), ".", func(p string, e fs.DirEntry, err error) error {
		if err != nil || p == "." {
			return nil
		}
		if fi, err := e.Info(); err == nil {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid == 0 {
				rootOwned = append(rootOwned, p)
			}
		}
		return nil
	})
	if len(rootOwned) == 0 {
		return
	}
	name := strconv.Itoa(uid)
	if u, err := user.LookupId(name); err == nil {
		name = u.Username
	}
	group := strconv.Itoa(gid)
	if g, err := user.LookupGroupId(group); err == nil {
		group = g.Name
	}
	d.fail("state", "%d entries in %s belong to root (first: %s), so the service, which runs as %s, cannot open them; chown -R %s:%s %s",
		len(rootOwned), cfg.StateDir, rootOwned[0], name, name, group, cfg.StateDir)
}
