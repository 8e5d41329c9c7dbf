package report

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// The summary format is for a terminal: one line per control and its
// failing subjects, then the hosts. Scripts should read the JSON.
func init() {
	RegisterFormat("summary", writeSummary)
}

func writeSummary(w io.Writer, r *Report) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "controls: %d compliant, %d noncompliant, %d insufficient evidence (of %d evaluated)\n\n",
		r.Summary.Compliant, r.Summary.Noncompliant, r.Summary.InsufficientEvidence, r.Summary.Total)
	fmt.Fprintln(tw, "CONTROL\tSTATUS\tTITLE")
	for _, c := range r.Controls {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.ControlID, c.Status, c.Title)
		fmt.Fprintf(tw, "\t\t%s\n", c.Explanation)
		for _, ch := range c.Checks {
			for _, f := range ch.Failing {
				fmt.Fprintf(tw, "\t\t  fails: %s on %s\n", f.Subject, f.Host)
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
		fmt.Fprintf(tw, "%s\t%s\t%d\n", h.Host, seen, assets[h.AgentID])
	}
	return tw.Flush()
}
