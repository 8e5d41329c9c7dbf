//go:build !linux

package models

import "errors"

func lowerIOPriority() error { return errors.New("I/O priorities are only set on Linux") }

func threadIOPriority() (int, error) { return 0, errors.New("not Linux") }
