//go:build linux

package sdk

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Linux I/O priorities (include/uapi/linux/ioprio.h). Priority 0 is class
// "none": the kernel derives best-effort level 4 from the CPU nice value,
// which is what a process gets unless it asks otherwise.
const (
	ioprioWhoProcess = 1
	ioprioClassShift = 13
	ioprioClassBE    = 2
	ioprioClassIdle  = 3
	ioprioDefault    = 0
)

// liftIOPriority undoes a lowered I/O priority (the idle class, or a
// best-effort level below the default) for an unthrottled collection, and
// returns what puts it back. A plugin lowers its priority once at start
// for unattended scans; when a person waits, reading at the host's
// normal priority is what they asked for. Failures leave the priority as
// it was: a slower scan, never a failed one.
func liftIOPriority() (restore func(), err error) {
	cur, err := threadIOPriority()
	if err != nil || !lowered(cur) {
		return func() {}, err
	}
	if err := setProcessIOPriority(ioprioDefault); err != nil {
		_ = setProcessIOPriority(cur)
		return func() {}, err
	}
	return func() { _ = setProcessIOPriority(cur) }, nil
}

func lowered(prio int) bool {
	class, level := prio>>ioprioClassShift, prio&(1<<ioprioClassShift-1)
	return class == ioprioClassIdle || (class == ioprioClassBE && level > 4)
}

// setProcessIOPriority sets prio on every thread: the priority is per
// thread on Linux and a new thread inherits its creator's, so covering
// the present threads covers the Go runtime's later ones too.
func setProcessIOPriority(prio int) error {
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
			if _, _, e := unix.Syscall(unix.SYS_IOPRIO_SET, ioprioWhoProcess, uintptr(tid), uintptr(prio)); e != 0 && e != unix.ESRCH {
				errs = append(errs, fmt.Errorf("ioprio_set thread %d: %w", tid, e))
			}
		}
	}
	return errors.Join(errs...)
}

// threadIOPriority is the calling thread's I/O priority.
func threadIOPriority() (int, error) {
	r, _, e := unix.Syscall(unix.SYS_IOPRIO_GET, ioprioWhoProcess, 0, 0)
	if e != 0 {
		return 0, fmt.Errorf("ioprio_get: %w", e)
	}
	return int(r), nil
}
