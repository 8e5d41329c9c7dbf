package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// serveLockName is the file in the data folder that serve holds an
// exclusive flock on for its whole life. Two serve processes on one folder
// would each keep an evaluation of their own, both record passes and both
// answer agents; the commands that read, or write through SQLite
// transactions (token create, agents revoke, exceptions, report, ...),
// take no lock and keep working beside serve.
const serveLockName = "serve.lock"

// lockServe takes the data folder's serve lock, or says which process
// holds it. The lock goes with the process (the kernel drops it on exit,
// crash included), so a stale file never blocks a restart; release closes
// it early.
func lockServe(dir string) (release func(), err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data folder: %w", err)
	}
	path := filepath.Join(dir, serveLockName)
	// O_NOFOLLOW: serve may run as root over a folder another user owns,
	// who must not point the lock at a file of root's.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o644)
	if errors.Is(err, os.ErrPermission) {
		// Made by another user (root before the service user): a lock
		// needs only a descriptor, not the right to write the pid.
		f, err = os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
	}
	if err != nil {
		return nil, fmt.Errorf("open serve lock %s: %w", path, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			who := "another annexa-collector serve"
			if b, _ := io.ReadAll(io.LimitReader(f, 32)); len(b) > 0 {
				if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
					who += " (pid " + strconv.Itoa(pid) + ")"
				}
			}
			return nil, fmt.Errorf("data folder %s is in use by %s, which holds %s; stop it first (`systemctl stop annexa-collector` for the service) or give this one another --data", dir, who, path)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	// The pid is for the message above; only a plain file of our own with
	// no other name gets it.
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink == 1 && int(st.Uid) == os.Geteuid() {
			if f.Truncate(0) == nil {
				_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
			}
		}
	}
	return func() { f.Close() }, nil
}
