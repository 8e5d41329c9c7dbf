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

// TestValidateReportsFirstField checks that a form with several faults is
// refused naming the first field in form order.
func TestValidateReportsFirstField(t *testing.T) {
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	exc := NewException{CheckID: "datasets.not_world_readable", SubjectPattern: "dataset:/srv/**", Owner: "o", Approver: "a", Reason: "r", ExpiresAt: now.AddDate(0, 1, 0)}
	excWith := func(f func(*NewException)) error { n := exc; f(&n); return n.Validate(now) }
	att := NewAttestation{ControlID: "iso27001-2022/5.1", DocumentRef: "d", Author: "a", ExpiresAt: now.AddDate(0, 1, 0)}
	attWith := func(f func(*NewAttestation)) error { n := att; f(&n); return n.Validate(now) }
	soaWith := func(f func(*SoAEntry)) error {
		e := SoAEntry{ControlID: "iso27001-2022/7.4", Author: "a", Justification: "j"}
		f(&e)
		return e.Validate()
	}
	for _, c := range []struct {
		name, field string
		err         error
	}{
		{"valid exception", "", excWith(func(*NewException) {})},
		{"no check, no owner", "check_id", excWith(func(n *NewException) { n.CheckID, n.Owner = "", "" })},
		{"bad subject glob, no owner", "subject_pattern", excWith(func(n *NewException) { n.SubjectPattern, n.Owner = "[", "" })},
		{"bad host glob, no reason", "host_pattern", excWith(func(n *NewException) { n.HostPattern, n.Reason = "{", "" })},
		{"no approver, no reason, no expiry", "approver", excWith(func(n *NewException) { n.Approver, n.Reason, n.ExpiresAt = "", "", time.Time{} })},
		{"past expiry", "expires_at", excWith(func(n *NewException) { n.ExpiresAt = now.Add(-time.Hour) })},
		{"valid attestation", "", attWith(func(*NewAttestation) {})},
		{"unnamespaced control, no author", "control_id", attWith(func(n *NewAttestation) { n.ControlID, n.Author = "5.1", "" })},
		{"no document, no author", "document_ref", attWith(func(n *NewAttestation) { n.DocumentRef, n.Author = "", "" })},
		{"no author, expiry too far", "author", attWith(func(n *NewAttestation) { n.Author, n.ExpiresAt = "", now.AddDate(2, 0, 0) })},
		{"expiry too far", "expires_at", attWith(func(n *NewAttestation) { n.ExpiresAt = now.AddDate(2, 0, 0) })},
		{"valid exclusion", "", soaWith(func(*SoAEntry) {})},
		{"soa no control, no author", "control_id", soaWith(func(e *SoAEntry) { e.ControlID, e.Author = "", "" })},
		{"soa no author, no justification", "author", soaWith(func(e *SoAEntry) { e.Author, e.Justification = "", "" })},
		{"soa exclusion without justification", "justification", soaWith(func(e *SoAEntry) { e.Justification = " " })},
	} {
		var se *Error
		switch {
		case c.field == "" && c.err != nil:
			t.Errorf("%s: %v", c.name, c.err)
		case c.field != "" && (!errors.As(c.err, &se) || se.Field != c.field):
			t.Errorf("%s: got %v, want an error on %s", c.name, c.err, c.field)
		}
	}
}
