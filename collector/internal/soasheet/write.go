package soasheet

import (
	"encoding/csv"
	"fmt"
	"io"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/annexa/annexa/collector/internal/controls"
	"github.com/annexa/annexa/collector/internal/store"
)

// Columns of an exported CSV sheet, in order. Import reads columns by
// name, so a lead may reorder them or add notes; title, author and
// updated_at are there to read, and import ignores them.
var Columns = []string{"control_id", "title", "applicable", "justification", "author", "updated_at"}

// Line is one control's line of an export.
type Line struct {
	ControlID     string
	Title         string
	Applicable    bool
	Justification string
	// Author and UpdatedAt are empty and zero for a control nobody decided
	// on (applicable by default).
	Author    string
	UpdatedAt time.Time
}

// Lines joins the loaded controls with the recorded entries: one line per
// control, in catalog order. Orphans are the entries of controls no loaded
// catalog has (a catalog was removed); they cannot be imported back.
func Lines(list []controls.ControlInfo, entries []store.SoAEntry) (lines []Line, orphans []store.SoAEntry) {
	byID := make(map[string]*store.SoAEntry, len(entries))
	for i := range entries {
		byID[entries[i].ControlID] = &entries[i]
	}
	lines = make([]Line, 0, len(list))
	for _, c := range list {
		l := Line{ControlID: c.ID, Title: c.Title, Applicable: true}
		if e := byID[c.ID]; e != nil {
			l.Applicable, l.Justification, l.Author, l.UpdatedAt = e.Applicable, e.Justification, e.Author, e.SetAt
			delete(byID, c.ID)
		}
		lines = append(lines, l)
	}
	for _, e := range entries {
		if byID[e.ControlID] != nil {
			orphans = append(orphans, e)
		}
	}
	return lines, orphans
}

// formulaStarts are the first characters that make Excel or LibreOffice
// run a cell as a formula when the sheet is opened (CSV injection).
const formulaStarts = "=+-@\t\r"

// defuse puts an apostrophe before such a cell, as the report's CSV does;
// Undefuse takes it off again on import.
func defuse(s string) string {
	if s != "" && strings.ContainsRune(formulaStarts, rune(s[0])) {
		return "'" + s
	}
	return s
}

// Write writes lines as format f. A CSV sheet starts with a UTF-8 byte
// order mark: without it Excel reads UTF-8 as Windows-1252 and turns
// accented reasons into garbage, and Excel's own "CSV UTF-8" writes one.
func Write(w io.Writer, f Format, lines []Line, at time.Time) error {
	switch f {
	case CSV:
		if _, err := io.WriteString(w, "\uFEFF"); err != nil {
			return err
		}
		cw := csv.NewWriter(w)
		if err := cw.Write(Columns); err != nil {
			return err
		}
		for _, l := range lines {
			if err := cw.Write([]string{l.ControlID, defuse(l.Title), yesNo(l.Applicable), defuse(l.Justification),
				defuse(l.Author), timeOf(l.UpdatedAt)}); err != nil {
				return err
			}
		}
		cw.Flush()
		return cw.Error()
	case YAML:
		type entry struct {
			ControlID     string `yaml:"control_id"`
			Title         string `yaml:"title"`
			Applicable    bool   `yaml:"applicable"`
			Justification string `yaml:"justification"`
			Author        string `yaml:"author"`
			UpdatedAt     string `yaml:"updated_at"`
		}
		doc := struct {
			Controls []entry `yaml:"controls"`
		}{Controls: make([]entry, 0, len(lines))}
		for _, l := range lines {
			doc.Controls = append(doc.Controls, entry{l.ControlID, l.Title, l.Applicable, l.Justification, l.Author, timeOf(l.UpdatedAt)})
		}
		fmt.Fprintf(w, "# Statement of Applicability, exported by annexa-collector at %s.\n", at.UTC().Format(time.RFC3339))
		fmt.Fprintf(w, "# Edit applicable (true or false) and justification; title, author and updated_at are ignored on import.\n")
		fmt.Fprintf(w, "# Then: annexa-collector soa import --data DIR --dry-run FILE, and again without --dry-run.\n")
		enc := yaml.NewEncoder(w)
		enc.SetIndent(2)
		if err := enc.Encode(doc); err != nil {
			return err
		}
		return enc.Close()
	}
	return fmt.Errorf("write SoA: unknown format %q", f)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func timeOf(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
