//go:build !linux

package sdk

// liftIOPriority does nothing where the SDK sets no I/O priorities.
func liftIOPriority() (restore func(), err error) { return func() {}, nil }
