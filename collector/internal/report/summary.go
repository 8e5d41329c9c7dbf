package report

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/annexa/annexa/collector/internal/controls"
)

// The summary format is for a terminal: one line per control and its
// failing subjects, then the hosts. Scripts should read the JSON.
func init() {
	RegisterFormat("summary", writeSummary)
}

func writeSummary(w io.Writer, r *Report) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	s := r.Summary
	fmt.Fprintf(tw, "controls: %d compliant, %d noncompliant, %d insufficient evidence, %d manual, %d not applicable (of %d; %d automated, %.0f%% coverage)\n",
		s.Compliant, s.Noncompliant, s.InsufficientEvidence, s.Manual, s.NotApplicable, s.Total, s.Automated, 100*s.Coverage)
	for _, f := range r.Frameworks {
		fmt.Fprintf(tw, "  %s: %d compliant, %d noncompliant, %d insufficient evidence, %d manual (%d of %d automated)\n",
			f.ID, f.Compliant, f.Noncompliant, f.InsufficientEvidence, f.Manual, f.Automated, f.ControlsTotal)
	}
	if s.Manual > 0 {
		fmt.Fprintf(tw, "  %d controls have no automated check yet and need an attestation; the JSON report lists them\n", s.Manual)
	}
	writeDecisions(tw, r)
	writeUnjustified(tw, r)
	writeLineage(tw, r)
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "CONTROL\tSTATUS\tTITLE")
	for _, c := range r.Controls {
		if c.Status == controls.Manual {
			continue // listed in the JSON; here they would bury the findings
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.ControlID, c.Status, c.Title)
		fmt.Fprintf(tw, "\t\t%s\n", c.Explanation)
		writeCheckFailures(tw, c)
		for _, ch := range c.Checks {
			for _, x := range ch.ExceptedSubjects {
				fmt.Fprintf(tw, "\t\t  excepted: %s on %s (%s, %s until %s)\n", x.Subject.Subject, x.Host, ch.ID, x.ExceptionID,
					x.ExpiresAt.Format("2006-01-02"))
			}
		}
	}
	fmt.Fprintf(tw, "\nHOST\tLAST SEEN\tASSETS\n")
	assets := map[string]int{}
	for _, a := range r.Assets {
		assets[a.AgentID]++
	}
	for _, h := range r.Hosts {
		seen := "never"
		if h.LastSeenAt != nil {
			seen = h.LastSeenAt.UTC().Format("2006-01-02 15:04:05Z")
		}
		if h.RevokedAt != nil {
			// Its evidence is history; its assets are not counted.
			seen = "revoked " + h.RevokedAt.UTC().Format("2006-01-02 15:04:05Z")
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\n", h.Host, seen, assets[h.AgentID])
	}
	return tw.Flush()
}

// soon is how far ahead the summary warns of expiring decisions.
const soon = 30 * 24 * time.Hour

// writeDecisions counts active exceptions and attestations and names the
// ones that lapse within 30 days, so that they are renewed or let go on
// purpose rather than by surprise.
func writeDecisions(w io.Writer, r *Report) {
	var active, attested int
	var expiring []string
	for _, e := range r.Exceptions {
		if e.State != StateActive {
			continue
		}
		active++
		if e.ExpiresAt.Sub(r.GeneratedAt) <= soon {
			expiring = append(expiring, fmt.Sprintf("exception %s (%s on %s) expires %s", e.ID, e.CheckID, e.SubjectPattern, e.ExpiresAt.Format("2006-01-02")))
		}
	}
	for _, a := range r.Attestations {
		if a.State != StateActive {
			continue
		}
		attested++
		if a.ExpiresAt.Sub(r.GeneratedAt) <= soon {
			expiring = append(expiring, fmt.Sprintf("attestation %s of %s expires %s", a.ID, a.ControlID, a.ExpiresAt.Format("2006-01-02")))
		}
	}
	if active+attested == 0 {
		return
	}
	fmt.Fprintf(w, "  decisions: %d active exceptions, %d active attestations\n", active, attested)
	for _, x := range expiring {
		fmt.Fprintf(w, "    within 30 days: %s\n", x)
	}
}

// writeLineage names the models trained on personal data, the question a
// data protection officer asks first; the JSON report has the whole join.
func writeLineage(w io.Writer, r *Report) {
	l := r.Lineage
	if l == nil || len(l.Models) == 0 {
		return
	}
	pd := l.TrainedOnPersonalData()
	fmt.Fprintf(w, "  lineage: %d models name their training datasets (%d trained on personal data), %d name none\n",
		len(l.Models), len(pd), l.ModelsWithoutDatasets)
	for _, m := range pd {
		var ds []string
		for _, d := range m.PersonalData {
			ds = append(ds, fmt.Sprintf("%s on %s (%s)", d.Subject, d.Host, strings.Join(d.PII, ", ")))
		}
		fmt.Fprintf(w, "    trained on personal data: %s on %s: %s\n", m.Subject, m.Host, strings.Join(ds, "; "))
	}
}

// writeCheckFailures lists a control's failing subjects under the check
// that failed them. The control's explanation is its worst check's, so
// that check's failures come first, right under it; every other check that
// did not pass gets its own explanation line, so a reader never sees a
// model listed under a sentence about datasets. Subjects that could not
// be judged are in the explanations; only real failures are listed.
func writeCheckFailures(tw io.Writer, c controls.Result) {
	first := slices.IndexFunc(c.Checks, func(ch controls.CheckResult) bool { return ch.Explanation == c.Explanation })
	order := make([]int, 0, len(c.Checks))
	if first >= 0 {
		order = append(order, first)
	}
	for i := range c.Checks {
		if i != first {
			order = append(order, i)
		}
	}
	for _, i := range order {
		ch := c.Checks[i]
		if ch.Status != controls.Noncompliant && ch.Status != controls.InsufficientEvidence {
			continue
		}
		if i != first {
			fmt.Fprintf(tw, "\t\t%s (%s)\n", ch.Explanation, ch.ID)
		}
		if ch.Status != controls.Noncompliant {
			continue
		}
		for _, f := range ch.Failing {
			fmt.Fprintf(tw, "\t\t  fails: %s on %s (%s)\n", f.Subject, f.Host, ch.ID)
		}
	}
}
