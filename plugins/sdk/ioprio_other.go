//go:build !linux

package sdk

import "errors"

// I/O priorities are a Linux matter; elsewhere the SDK sets none.
const (
	ioprioClassShift = 13
	ioprioClassBE    = 2
	ioprioDefault    = 0
)

var errNoIOPriority = errors.New("I/O priorities are only set on Linux")

// liftIOPriority does nothing where the SDK sets no I/O priorities.
func liftIOPriority() (restore func(), err error) { return func() {}, nil }

func setProcessIOPriority(int) error { return errNoIOPriority }

func threadIOPriority() (int, error) { return 0, errNoIOPriority }
