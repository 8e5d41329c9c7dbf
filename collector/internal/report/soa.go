package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/annexa/annexa/collector/internal/controls"
)

// ISO/IEC 27001:2022 clause 6.1.3 d) wants the Statement of Applicability
// to justify every control it includes, not only the ones it excludes.
// The store has always refused an exclusion without a reason but accepts an
// inclusion without one (and a control nobody decided on is included), so
// recorded statements can lack reasons. Refusing them now would lose what
// was accepted; instead every view and export marks such a line as
// incomplete, counts them, and says what to write.

// UnjustifiedInclusion is an included control whose Statement of
// Applicability line gives no reason for including it.
type UnjustifiedInclusion struct {
	ControlID string `json:"control_id"`
	// Recorded is true when an entry says "applicable" without a
	// justification, false when nobody recorded an entry at all.
	Recorded bool `json:"recorded"`
	// ToFix says what to write, for a person.
	ToFix string `json:"to_fix"`
}

// Excluded reports whether the Statement of Applicability excludes c.
func Excluded(c *controls.Result) bool {
	return c.Status == controls.NotApplicable || (c.Applicability != nil && !c.Applicability.Applicable)
}

// InclusionUnjustified reports whether c is included (explicitly, or by
// having no entry) with no reason given. Blank text is no reason.
func InclusionUnjustified(c *controls.Result) bool {
	if Excluded(c) {
		return false
	}
	return c.Applicability == nil || strings.TrimSpace(c.Applicability.Justification) == ""
}

// InclusionToFix is the sentence that tells a compliance lead what the
// line of c lacks, or "" when it lacks nothing.
func InclusionToFix(c *controls.Result) string {
	if !InclusionUnjustified(c) {
		return ""
	}
	how := "record it as applicable with a justification"
	if c.Applicability != nil {
		how = "its entry says applicable without one"
	}
	return fmt.Sprintf("give a reason for including %s (%s), e.g. the risk it treats or the requirement it meets; %s",
		c.ControlID, c.Title, how)
}

// Included is how many controls the Statement of Applicability includes.
func (s Summary) Included() int { return s.Total - s.NotApplicable }

// unjustifiedInclusions lists the incomplete lines of the report's
// controls, in catalog order.
func unjustifiedInclusions(cs []controls.Result) []UnjustifiedInclusion {
	out := []UnjustifiedInclusion{}
	for i := range cs {
		if c := &cs[i]; InclusionUnjustified(c) {
			out = append(out, UnjustifiedInclusion{ControlID: c.ControlID, Recorded: c.Applicability != nil, ToFix: InclusionToFix(c)})
		}
	}
	return out
}

// maxUnjustifiedNamed bounds the controls the summary names: on a fresh
// collector every control lacks a reason, and the csv export and the web
// UI's /soa page list them all.
const maxUnjustifiedNamed = 5

// writeUnjustified counts the included controls that give no reason for
// their inclusion, per framework, and names the first few, so that an
// incomplete Statement of Applicability is seen before an auditor sees it.
func writeUnjustified(w io.Writer, r *Report) {
	u := r.UnjustifiedInclusions
	if len(u) == 0 {
		return
	}
	recorded := 0
	var names []string
	for i, x := range u {
		if x.Recorded {
			recorded++
		}
		if i < maxUnjustifiedNamed {
			names = append(names, x.ControlID)
		}
	}
	fmt.Fprintf(w, "  statement of applicability incomplete: %d of %d included controls give no reason for inclusion (%d recorded as applicable without one, %d with no entry)\n",
		len(u), r.Summary.Included(), recorded, len(u)-recorded)
	var per []string
	for _, f := range r.Frameworks {
		if f.UnjustifiedInclusions > 0 {
			per = append(per, fmt.Sprintf("%s %d of %d", f.ID, f.UnjustifiedInclusions, f.Included()))
		}
	}
	fmt.Fprintf(w, "    per framework: %s\n", strings.Join(per, ", "))
	list, it := strings.Join(names, ", "), "it"
	if n := len(u) - len(names); n > 0 {
		list += fmt.Sprintf(" and %d more", n)
	}
	if len(u) > 1 {
		it = "each"
	}
	fmt.Fprintf(w, "    give a reason for including %s, e.g. the risk %s treats or the requirement it meets: annexa-collector soa set --data DIR --control ID --applicable --justification TEXT\n", list, it)
	fmt.Fprintf(w, "    the csv export (column unjustified_inclusion) and the web UI's /soa?justified=no list them all\n")
	fmt.Fprintf(w, "    or fill them all in a spreadsheet: annexa-collector soa export --data DIR --out soa.csv, then soa import --data DIR --dry-run soa.csv, then without --dry-run (or the web UI's /soa/import)\n")
}
