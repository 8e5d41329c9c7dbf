//go:build linux

package models

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Linux I/O priorities (include/uapi/linux/ioprio.h): the best-effort
// class at its lowest level yields the disk to every other best-effort
// reader (a training job's data loader) yet, unlike the idle class, still
// gets bandwidth on a disk that is never idle.
const (
	ioprioWhoProcess = 1
	ioprioClassBE    = 2
	ioprioClassShift = 13
	ioprioLowest     = ioprioClassBE<<ioprioClassShift | 7
)

// lowerIOPriority sets the lowest best-effort I/O priority on every thread
// of this process. I/O priority is per thread on Linux, and a new thread
// inherits its creator's, so setting it on all present threads covers the
// Go runtime's later ones too.
func lowerIOPriority() error {
	var errs []error
	for range 2 { // a thread started during the first pass gets the second
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return fmt.Errorf("list threads: %w", err)
		}
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil {
				continue
			}
			if _, _, e := unix.Syscall(unix.SYS_IOPRIO_SET, ioprioWhoProcess, uintptr(tid), ioprioLowest); e != 0 && e != unix.ESRCH {
				errs = append(errs, fmt.Errorf("ioprio_set thread %d: %w", tid, e))
			}
		}
	}
	return errors.Join(errs...)
}

// threadIOPriority is the calling thread's I/O priority (for tests).
func threadIOPriority() (int, error) {
	r, _, e := unix.Syscall(unix.SYS_IOPRIO_GET, ioprioWhoProcess, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}
