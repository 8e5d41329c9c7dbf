package soasheet

import (
	"github.com/annexa/annexa/collector/internal/store"
)

// Plan is what importing a sheet would do to the recorded statement: the
// same answer for a dry run and for the import itself, whether it comes
// from the command line, the API or the web UI.
type Plan struct {
	Sheet *Sheet
	// Entries are the sheet's rows as the store would record them, with
	// the importing operator as author.
	Entries []store.SoAEntry
	// Changes are the entries that add or change something; Unchanged the
	// ids of the others, in file order.
	Changes   []store.SoAChange
	Unchanged []string
}

// NewPlan compares the sheet with the current entries. author is who
// imports it; an author the store would refuse is an error here, before
// a plan that could not be applied is shown.
func NewPlan(sheet *Sheet, current []store.SoAEntry, author string) (*Plan, error) {
	p := &Plan{Sheet: sheet, Entries: make([]store.SoAEntry, len(sheet.Rows))}
	for i, r := range sheet.Rows {
		p.Entries[i] = store.SoAEntry{ControlID: r.ControlID, Applicable: r.Applicable, Justification: r.Justification, Author: author}
		if err := p.Entries[i].Validate(); err != nil {
			return nil, err
		}
	}
	p.Changes, _ = store.SoAChanges(current, p.Entries)
	changed := make(map[string]bool, len(p.Changes))
	for _, c := range p.Changes {
		changed[c.New.ControlID] = true
	}
	for _, e := range p.Entries {
		if !changed[e.ControlID] {
			p.Unchanged = append(p.Unchanged, e.ControlID)
		}
	}
	return p, nil
}

// Added counts the changes that create an entry.
func (p *Plan) Added() int { return Added(p.Changes) }

// Added counts the changes that create an entry.
func Added(changes []store.SoAChange) int {
	n := 0
	for i := range changes {
		if changes[i].Added() {
			n++
		}
	}
	return n
}

// Unjustified counts the rows that include a control with no reason:
// they may be imported (as `soa set --applicable` may record them) but
// leave the statement incomplete. first is the first such row.
func (p *Plan) Unjustified() (n int, first Row) {
	for _, r := range p.Sheet.Rows {
		if r.Applicable && r.Justification == "" {
			if n == 0 {
				first = r
			}
			n++
		}
	}
	return n, first
}
