package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/annexa/annexa/collector/internal/soasheet"
	"github.com/annexa/annexa/collector/internal/store"
)

// soaExport writes every loaded control with its decision, so that a
// compliance lead fills in a complete sheet rather than a blank one.
func (e *env) soaExport(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("soa export", flag.ContinueOnError)
	data := dataFlag(fs)
	format := fs.String("format", "csv", "csv (for a spreadsheet) or yaml")
	out := fs.String("out", "", "write to this file instead of stdout")
	catalogDir := fs.String("catalog", "", "folder of extra or replacing catalog and check YAML files")
	if err := parseWithData(fs, data, args); err != nil {
		return err
	}
	f, err := soasheet.FormatOf("", *format)
	if err != nil {
		return usagef("soa export: --%v", err)
	}
	engine, err := engineFor(*catalogDir)
	if err != nil {
		return err
	}
	st, err := e.openStore(ctx, *data, false)
	if err != nil {
		return err
	}
	defer st.Close()
	entries, err := st.SoA(ctx)
	if err != nil {
		return err
	}
	lines, orphans := soasheet.Lines(engine.ControlList(), entries)
	for _, o := range orphans {
		fmt.Fprintf(e.stderr, "note: not exported: the entry of %s (set by %s at %s), a control no loaded catalog has; give --catalog to include it\n",
			o.ControlID, o.Author, o.SetAt.UTC().Format(time.RFC3339))
	}
	now := time.Now()
	if *out == "" {
		return soasheet.Write(e.stdout, f, lines, now)
	}
	// Beside the target and renamed, so a half-written sheet is never left
	// where a lead would open it.
	tmp, err := os.CreateTemp(filepath.Dir(*out), ".soa-*")
	if err != nil {
		return fmt.Errorf("soa export: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := soasheet.Write(tmp, f, lines, now); err != nil {
		tmp.Close()
		return fmt.Errorf("soa export %s: %w", *out, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("soa export %s: %w", *out, err)
	}
	if err := os.Rename(tmp.Name(), *out); err != nil {
		return fmt.Errorf("soa export %s: %w", *out, err)
	}
	fmt.Fprintf(e.stderr, "wrote %d controls to %s\n", len(lines), *out)
	return nil
}

// soaImport applies a sheet: every row is checked before anything is
// written, the changed rows are written in one transaction with one
// soa.set log entry each (as `soa set` would write them), and unchanged
// rows write nothing.
func (e *env) soaImport(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("soa import", flag.ContinueOnError)
	data := dataFlag(fs)
	format := fs.String("format", "", "csv or yaml (default: from the file's extension)")
	dryRun := fs.Bool("dry-run", false, "print what would change and change nothing")
	author := fs.String("author", "", "who decides (default: the OS user); recorded on every changed entry")
	catalogDir := fs.String("catalog", "", "folder of extra or replacing catalog and check YAML files")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("soa import takes exactly one FILE (a CSV sheet or YAML file; - for stdin), got %d", len(pos))
	}
	if err := needData(fs.Name(), *data); err != nil {
		return err
	}
	name := pos[0]
	f, err := soasheet.FormatOf(name, *format)
	if err != nil {
		return usagef("soa import: %v", err)
	}
	engine, err := engineFor(*catalogDir)
	if err != nil {
		return err
	}
	var known []string
	titles := map[string]string{}
	for _, c := range engine.ControlList() {
		known = append(known, c.ID)
		titles[c.ID] = c.Title
	}
	var r io.Reader = os.Stdin
	if name != "-" {
		file, err := os.Open(name)
		if err != nil {
			return fmt.Errorf("soa import: %w", err)
		}
		defer file.Close()
		r = file
	} else {
		name = "stdin"
	}
	sheet, err := soasheet.Read(r, name, f, known)
	if err != nil {
		return err
	}
	st, err := e.openStore(ctx, *data, false)
	if err != nil {
		return err
	}
	defer st.Close()
	who := actor(*author)
	current, err := st.SoA(ctx)
	if err != nil {
		return err
	}
	plan, err := soasheet.NewPlan(sheet, current, who)
	if err != nil {
		return fmt.Errorf("soa import: %w", describe(err))
	}
	if len(sheet.Ignored) > 0 {
		fmt.Fprintf(e.stdout, "ignored columns: %q\n", sheet.Ignored)
	}
	rows := len(plan.Entries)
	if *dryRun || len(plan.Changes) == 0 {
		e.printPlan(plan.Changes, titles)
		for _, id := range plan.Unchanged {
			fmt.Fprintf(e.stdout, "unchanged %s\n", id)
		}
		fmt.Fprintf(e.stdout, "%s: %d rows: %s, %d unchanged\n", name, rows, countChanges(plan.Changes), len(plan.Unchanged))
		if len(plan.Changes) == 0 {
			fmt.Fprintln(e.stdout, "nothing to change; nothing written")
		} else {
			fmt.Fprintf(e.stdout, "dry run: nothing written; run again without --dry-run to record %d change%s as %s\n", len(plan.Changes), plural(len(plan.Changes)), who)
		}
		e.warnUnjustified(plan)
		return nil
	}
	made, err := st.ImportSoA(ctx, plan.Entries)
	if err != nil {
		return fmt.Errorf("soa import %s: nothing written: %w", name, err)
	}
	e.printPlan(made, titles)
	fmt.Fprintf(e.stdout, "%s: %d rows: %s, %d unchanged\n", name, rows, countChanges(made), rows-len(made))
	if len(made) == 0 {
		fmt.Fprintln(e.stdout, "nothing to change; nothing written")
	} else {
		fmt.Fprintf(e.stdout, "recorded %d change%s as %s, each with its own soa.set entry in the governance log\n", len(made), plural(len(made)), who)
	}
	e.warnUnjustified(plan)
	return nil
}

func (e *env) printPlan(changes []store.SoAChange, titles map[string]string) {
	for _, c := range changes {
		n := c.New
		if c.Added() {
			fmt.Fprintf(e.stdout, "added     %s (%s)\n", n.ControlID, titles[n.ControlID])
			fmt.Fprintf(e.stdout, "            applicable: %s (before: no entry, applicable by default)\n", yesNo(n.Applicable))
			fmt.Fprintf(e.stdout, "            justification: %s\n", quoted(n.Justification))
			continue
		}
		o := c.Old
		fmt.Fprintf(e.stdout, "changed   %s (%s)\n", n.ControlID, titles[n.ControlID])
		if o.Applicable != n.Applicable {
			fmt.Fprintf(e.stdout, "            applicable: %s -> %s\n", yesNo(o.Applicable), yesNo(n.Applicable))
		} else {
			fmt.Fprintf(e.stdout, "            applicable: %s (unchanged)\n", yesNo(n.Applicable))
		}
		fmt.Fprintf(e.stdout, "            justification: %s -> %s\n", quoted(o.Justification), quoted(n.Justification))
		fmt.Fprintf(e.stdout, "            (before: set by %s at %s)\n", o.Author, o.SetAt.UTC().Format(time.RFC3339))
	}
}

// warnUnjustified says how many rows still include a control with no
// reason: importing them is allowed (as `soa set --applicable` is) but
// leaves the Statement of Applicability incomplete.
func (e *env) warnUnjustified(p *soasheet.Plan) {
	n, first := p.Unjustified()
	if n == 0 {
		return
	}
	verb := "rows include"
	if n == 1 {
		verb = "row includes"
	}
	fmt.Fprintf(e.stderr, "warning: %d %s a control with no justification, first %s (line %d); the Statement of Applicability is incomplete until each gives a reason, e.g. the risk it treats or the requirement it meets (ISO/IEC 27001:2022 6.1.3 d)\n",
		n, verb, first.ControlID, first.Line)
}

func countChanges(changes []store.SoAChange) string {
	added := soasheet.Added(changes)
	return fmt.Sprintf("%d added, %d changed", added, len(changes)-added)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// quoted shows a justification on one line, newlines escaped.
func quoted(s string) string {
	if s == "" {
		return "(none)"
	}
	return fmt.Sprintf("%q", s)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
