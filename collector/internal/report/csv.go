package report

import (
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/annexa/annexa/collector/internal/controls"
)

// The csv format is the Statement of Applicability: one row per control of
// every catalog, for a spreadsheet. Columns are fixed and documented in
// docs/reports.md; a column nobody has decided anything for stays empty
// rather than being guessed. The last column, appended so that sheets
// reading columns by position keep working, marks an included control that
// gives no reason for its inclusion (soa.go).
func init() {
	RegisterFormat("csv", writeCSV)
}

// SoAColumns is the header row of the csv format.
var SoAColumns = []string{"control_id", "framework", "title", "theme", "applicable", "justification", "status",
	"automated", "evidence_summary", "exceptions", "owner", "evaluated_at", "unjustified_inclusion"}

// maxSubjectsListed bounds the failing subjects named in one cell, so a
// fleet-wide failure stays readable; the count is always complete.
const maxSubjectsListed = 5

// soaDecision is what people decided about a control: whether it applies
// and why (its Statement of Applicability entry, and the attestation a
// manual control rests on), the active exceptions that accept failures of
// its checks, and who answers for it (the authors of those decisions and
// the exceptions' owners). byCheck holds the active exceptions by check.
func soaDecision(c *controls.Result, byCheck map[string][]*Exception) (applicable, justification, exceptions, owner string) {
	applicable = "yes"
	if c.Status == controls.NotApplicable || (c.Applicability != nil && !c.Applicability.Applicable) {
		applicable = "no"
	}
	var owners []string
	addOwner := func(o string) {
		if o = strings.TrimSpace(o); o != "" && !slices.Contains(owners, o) {
			owners = append(owners, o)
		}
	}
	var why []string
	if a := c.Applicability; a != nil {
		if a.Justification != "" {
			why = append(why, a.Justification)
		}
		addOwner(a.Author)
	}
	if a := c.Attestation; a != nil {
		why = append(why, fmt.Sprintf("Attested by %s in %s (attestation %s), valid until %s.", a.Author, a.DocumentRef, a.ID,
			a.ExpiresAt.UTC().Format("2006-01-02")))
		addOwner(a.Author)
	}
	// Subjects each exception covers now, across the control's checks.
	covers := map[string]int{}
	var listed []string
	for _, ch := range c.Checks {
		for _, x := range ch.ExceptedSubjects {
			covers[x.ExceptionID]++
		}
		for _, e := range byCheck[ch.ID] {
			if slices.Contains(listed, e.ID) {
				continue
			}
			listed = append(listed, e.ID)
			scope := e.SubjectPattern
			if e.HostPattern != "" {
				scope += " on hosts " + e.HostPattern
			}
			x := fmt.Sprintf("%s: %s for %s, owner %s, approved by %s, until %s", e.ID, e.CheckID, scope, e.Owner, e.Approver,
				e.ExpiresAt.UTC().Format("2006-01-02"))
			if n := covers[e.ID]; n > 0 {
				x += fmt.Sprintf(", accepts %d failing subjects", n)
			}
			if e.Reason != "" {
				x += " (" + e.Reason + ")"
			}
			exceptions += x + ". "
			addOwner(e.Owner)
		}
	}
	return applicable, strings.Join(why, " "), strings.TrimSpace(exceptions), strings.Join(owners, "; ")
}

// evidenceSummary says in one cell what the status rests on.
func evidenceSummary(c *controls.Result) string {
	if !c.Automated {
		return c.Explanation
	}
	var parts []string
	for _, ch := range c.Checks {
		s := fmt.Sprintf("%s: %s, %d of %d passing", ch.ID, ch.Status, ch.Passing, ch.Applicable)
		if n := len(ch.Failing); n > 0 {
			var names []string
			for i, f := range ch.Failing {
				if i == maxSubjectsListed {
					names = append(names, fmt.Sprintf("and %d more", n-maxSubjectsListed))
					break
				}
				names = append(names, f.Subject+" on "+f.Host)
			}
			s += "; fails: " + strings.Join(names, ", ")
		}
		parts = append(parts, s)
	}
	out := c.Explanation
	if len(parts) > 0 {
		out += " Checks: " + strings.Join(parts, ". ") + "."
	}
	if n := len(c.Evidence); n > 0 {
		latest := c.Evidence[0].ObservedAt
		for _, e := range c.Evidence {
			if e.ObservedAt.After(latest) {
				latest = e.ObservedAt
			}
		}
		out += fmt.Sprintf(" Rests on %d evidence records, the newest observed %s.", n, oscalTime(latest))
	}
	return out
}

// cell defuses spreadsheet formulas: a value that starts with = + - @ or
// a control character would be run by Excel or LibreOffice when the file
// is opened (CSV injection), and evidence names come from the hosts. A
// leading apostrophe makes them text.
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func writeCSV(w io.Writer, r *Report) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(SoAColumns); err != nil {
		return err
	}
	at := r.GeneratedAt.UTC().Format(time.RFC3339)
	byCheck := map[string][]*Exception{}
	for i := range r.Exceptions {
		if e := &r.Exceptions[i]; e.State == StateActive {
			byCheck[e.CheckID] = append(byCheck[e.CheckID], e)
		}
	}
	for i := range r.Controls {
		c := &r.Controls[i]
		applicable, justification, exceptions, owner := soaDecision(c, byCheck)
		row := []string{c.ControlID, c.Framework, c.Title, c.Theme, applicable, justification, string(c.Status),
			fmt.Sprint(c.Automated), evidenceSummary(c), exceptions, owner, at, InclusionToFix(c)}
		for j := range row {
			row[j] = cell(row[j])
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
