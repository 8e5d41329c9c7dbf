package store

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestSoAChanges(t *testing.T) {
	at := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	current := []SoAEntry{
		{ControlID: "f/1", Applicable: true, Justification: "", Author: "alice", SetAt: at},
		{ControlID: "f/2", Applicable: false, Justification: "provider's", Author: "alice", SetAt: at},
		{ControlID: "f/3", Applicable: true, Justification: "risk R-1", Author: "alice", SetAt: at},
	}
	next := []SoAEntry{
		{ControlID: "f/1", Applicable: true, Justification: "risk R-2", Author: "bob"},       // reason given
		{ControlID: "f/2", Applicable: false, Justification: " provider's\n", Author: "bob"}, // blanks only
		{ControlID: "f/3", Applicable: false, Justification: "risk R-1", Author: "bob"},      // excluded now
		{ControlID: "f/4", Applicable: true, Justification: "", Author: "bob"},               // the default
		{ControlID: "f/5", Applicable: true, Justification: "why", Author: "bob"},            // new reason
		{ControlID: "f/6", Applicable: false, Justification: "n/a", Author: "bob"},           // new exclusion
	}
	changes, unchanged := SoAChanges(current, next)
	if unchanged != 2 {
		t.Errorf("unchanged = %d, want 2 (blanks around a reason, and a default row for a control without an entry)", unchanged)
	}
	var got []string
	for _, c := range changes {
		s := c.New.ControlID + " added"
		if !c.Added() {
			s = c.New.ControlID + " was " + c.Old.Justification + " by " + c.Old.Author
		}
		got = append(got, s)
	}
	want := []string{"f/1 was  by alice", "f/3 was risk R-1 by alice", "f/5 added", "f/6 added"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("changes = %q, want %q", got, want)
	}
	// The old entry is a copy: changing current afterwards does not change it.
	current[0].Author = "mallory"
	if changes[0].Old.Author != "alice" {
		t.Errorf("Old aliases the current entry")
	}
}

func TestSoAValidateTooLongExclusion(t *testing.T) {
	e := SoAEntry{ControlID: "f/1", Applicable: false, Justification: strings.Repeat("x", maxText+1), Author: "a"}
	if err := e.Validate(); err == nil || err.Error() != "justification is longer than 4096 bytes" {
		t.Errorf("an over-long exclusion reason: %v", err)
	}
}
