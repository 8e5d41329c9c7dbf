package store

import (
	"errors"
	"fmt"
)

// Application error codes. The API maps them to HTTP status in one place;
// everything else only needs to pick the right code.
const (
	ECONFLICT      = "conflict"
	EINTERNAL      = "internal"
	EINVALID       = "invalid"
	EUNPROCESSABLE = "unprocessable"
	ENOTFOUND      = "not_found"
	EUNAUTHORIZED  = "unauthorized"
	EFORBIDDEN     = "forbidden"
	ETOOLARGE      = "too_large"
	EUNSUPPORTED   = "unsupported"
)

// Error is an error meant for the caller: Message says what to fix. Record,
// Seq and Field locate a bad record in an ingest batch.
type Error struct {
	Code    string
	Message string
	Record  *int
	Seq     *uint64
	Field   string
}

func (e *Error) Error() string { return e.Message }

// Errorf returns an *Error with the given code.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, or
// EINTERNAL for anything else: unknown errors are never shown to callers.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}
