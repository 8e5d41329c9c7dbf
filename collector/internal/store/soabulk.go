package store

import (
	"context"
	"strings"
)

// A Statement of Applicability lives in a spreadsheet as often as in the
// collector: a compliance lead exports it, fills in ~130 reasons, and
// imports it back. The import must leave the same audit trail as the same
// edits made one by one (one soa.set log entry per changed control, none
// for an unchanged one), and must not half-apply a sheet with a bad row.

// SoAChange is one entry an import adds or changes.
type SoAChange struct {
	// Old is the entry before, nil when the control had none (it was
	// applicable by default, without a justification).
	Old *SoAEntry `json:"old"`
	New SoAEntry  `json:"new"`
}

// Added reports whether the control had no entry before.
func (c *SoAChange) Added() bool { return c.Old == nil }

// SoAUnchanged reports whether writing next over cur (nil: no entry)
// would change nothing a reader of the Statement of Applicability sees:
// the same applicability and the same justification, ignoring surrounding
// blanks. A control with no entry is applicable without a justification,
// so a row saying just that changes nothing either. Author and time are
// not compared: re-importing an unedited sheet must write nothing.
func SoAUnchanged(cur *SoAEntry, next SoAEntry) bool {
	j := strings.TrimSpace(next.Justification)
	if cur == nil {
		return next.Applicable && j == ""
	}
	return cur.Applicable == next.Applicable && strings.TrimSpace(cur.Justification) == j
}

// SoAChanges lists, in the order of next, the entries of next that would
// change current; unchanged is how many would not.
func SoAChanges(current []SoAEntry, next []SoAEntry) (changes []SoAChange, unchanged int) {
	byID := make(map[string]*SoAEntry, len(current))
	for i := range current {
		byID[current[i].ControlID] = &current[i]
	}
	for _, n := range next {
		cur := byID[n.ControlID]
		if SoAUnchanged(cur, n) {
			unchanged++
			continue
		}
		c := SoAChange{New: n}
		if cur != nil {
			old := *cur
			c.Old = &old
		}
		changes = append(changes, c)
	}
	return changes, unchanged
}

// SoABulk records many Statement of Applicability entries at once.
type SoABulk interface {
	// ImportSoA validates every entry (EINVALID naming the first bad one,
	// and nothing written), then, in one transaction, records each entry
	// that SoAChanges says differs from the current one exactly as SetSoA
	// would, with its own soa.set log entry. Entries that change nothing
	// write nothing. It returns the changes made. Control ids must be
	// unique (EINVALID otherwise).
	ImportSoA(ctx context.Context, entries []SoAEntry) ([]SoAChange, error)
}
