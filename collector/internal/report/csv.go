package report

import (
	"encoding/csv"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/annexa/annexa/collector/internal/controls"
)

// The csv format is the Statement of Applicability: one row per control of
// every catalog, for a spreadsheet. Columns are fixed and documented in
// docs/reports.md; a column the engine has nothing for yet stays empty
// rather than being guessed.
func init() {
	RegisterFormat("csv", writeCSV)
}

// SoAColumns is the header row of the csv format.
var SoAColumns = []string{"control_id", "framework", "title", "theme", "applicable", "justification", "status",
	"automated", "evidence_summary", "exceptions", "owner", "evaluated_at"}

// maxSubjectsListed bounds the failing subjects named in one cell, so a
// fleet-wide failure stays readable; the count is always complete.
const maxSubjectsListed = 5

// soaDecision is what a person decided about a control: whether it
// applies and why, the exceptions that accept its failures, and who owns
// it. The engine knows only not_applicable so far; the rest is empty
// until the Statement of Applicability and exceptions are recorded.
func soaDecision(c *controls.Result) (applicable, justification, exceptions, owner string) {
	if c.Status == controls.NotApplicable {
		return "no", "", "", ""
	}
	return "yes", "", "", ""
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
	for i := range r.Controls {
		c := &r.Controls[i]
		applicable, justification, exceptions, owner := soaDecision(c)
		row := []string{c.ControlID, c.Framework, c.Title, c.Theme, applicable, justification, string(c.Status),
			fmt.Sprint(c.Automated), evidenceSummary(c), exceptions, owner, at}
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
