package store

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestOptionalText checks the free-text fields that may be empty: an
// attestation's note and an applicable control's justification.
func TestOptionalText(t *testing.T) {
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	att := func(note string) error {
		n := NewAttestation{ControlID: "iso27001-2022/5.1", DocumentRef: "ISMS-POL-001", Author: "ciso", Note: note, ExpiresAt: now.AddDate(0, 3, 0)}
		return n.Validate(now)
	}
	soa := func(just string) error {
		e := SoAEntry{ControlID: "iso27001-2022/7.4", Applicable: true, Author: "ciso", Justification: just}
		return e.Validate()
	}
	long, bad := strings.Repeat("x", maxText+1), "\xff"
	for _, c := range []struct {
		name, field, msg string
		err              error
	}{
		{"empty note", "", "", att("")},
		{"note", "", "", att("signed by the board")},
		{"long note", "note", "note must be at most 4096 bytes of UTF-8", att(long)},
		{"invalid note", "note", "note must be at most 4096 bytes of UTF-8", att(bad)},
		{"empty justification", "", "", soa("")},
		{"long justification", "justification", "justification must be at most 4096 bytes of UTF-8", soa(long)},
		{"invalid justification", "justification", "justification must be at most 4096 bytes of UTF-8", soa(bad)},
	} {
		var se *Error
		switch {
		case c.msg == "" && c.err != nil:
			t.Errorf("%s: %v", c.name, c.err)
		case c.msg != "" && (!errors.As(c.err, &se) || se.Field != c.field || se.Message != c.msg || se.Code != EINVALID):
			t.Errorf("%s: got %v, want %s: %s", c.name, c.err, c.field, c.msg)
		}
	}
}
