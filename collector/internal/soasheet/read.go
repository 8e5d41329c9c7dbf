// Package soasheet reads and writes the Statement of Applicability as a
// file a compliance lead edits outside the collector: a CSV sheet (Excel,
// LibreOffice, Google Sheets) or YAML. Export lists every loaded control;
// import reads the decisions back, checks every row against the catalog
// and the store's own rules, and reports every problem with file, line and
// column before anything is written.
package soasheet

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/annexa/annexa/collector/internal/store"
)

// Bounds on an imported file. A Statement of Applicability of the loaded
// ISO/IEC 27001 and 42001 catalogs has about 130 rows of a few hundred
// bytes; the bounds leave room for custom catalogs and long reasons while
// keeping a wrong file (a log, a database) from being read whole.
const (
	MaxBytes = 4 << 20
	MaxRows  = 10_000
	// maxProblems bounds the problems listed; the rest are counted.
	maxProblems = 50
)

// Format is the syntax of a file.
type Format string

// Formats of a Statement of Applicability file.
const (
	CSV  Format = "csv"
	YAML Format = "yaml"
)

// FormatOf returns the format named by flag, else the one of the file
// name's extension.
func FormatOf(name, flag string) (Format, error) {
	switch strings.ToLower(flag) {
	case "csv":
		return CSV, nil
	case "yaml", "yml":
		return YAML, nil
	case "":
	default:
		return "", fmt.Errorf("format %q: want csv or yaml", flag)
	}
	switch strings.ToLower(filepath.Ext(name)) {
	case ".csv", ".txt", ".tsv":
		return CSV, nil
	case ".yaml", ".yml":
		return YAML, nil
	}
	return "", fmt.Errorf("%s: cannot tell the format from the name; give --format csv or --format yaml", name)
}

// Row is one control's decision as the file states it.
type Row struct {
	ControlID     string
	Applicable    bool
	Justification string
	// Line is where the row starts in the file.
	Line int
}

// Sheet is what an import file says.
type Sheet struct {
	Rows []Row
	// Ignored are CSV columns the import does not read (notes a lead
	// added, or columns of another export); title, author and updated_at
	// are informational and not listed.
	Ignored []string
}

// Problem is one thing to fix in a file.
type Problem struct {
	File string
	// Line and Col are 1-based; 0 when the problem is the whole file.
	Line, Col int
	// Where names the cell: "column C (applicable)" in a CSV sheet, the
	// key in a YAML file.
	Where string
	Msg   string
}

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
		if p.Col > 0 {
			fmt.Fprintf(&b, ":%d", p.Col)
		}
	}
	b.WriteString(": ")
	if p.Where != "" {
		b.WriteString(p.Where + ": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Error lists the problems of a file; nothing of it may be imported.
type Error struct {
	File     string
	Problems []Problem
	// More is how many problems were found beyond those listed.
	More int
}

func (e *Error) Error() string {
	n := len(e.Problems) + e.More
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d problem%s; nothing was imported: fix %s and run again", e.File, n, plural(n), them(n))
	for _, p := range e.Problems {
		b.WriteString("\n  " + p.String())
	}
	if e.More > 0 {
		fmt.Fprintf(&b, "\n  and %d more", e.More)
	}
	return b.String()
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func them(n int) string {
	if n == 1 {
		return "it"
	}
	return "them"
}

// problems collects what is wrong with one file, up to maxProblems.
type problems struct {
	file string
	list []Problem
	more int
}

func (ps *problems) add(line, col int, where, format string, args ...any) {
	if len(ps.list) >= maxProblems {
		ps.more++
		return
	}
	ps.list = append(ps.list, Problem{File: ps.file, Line: line, Col: col, Where: where, Msg: fmt.Sprintf(format, args...)})
}

func (ps *problems) err() error {
	if len(ps.list) == 0 {
		return nil
	}
	return &Error{File: ps.file, Problems: ps.list, More: ps.more}
}

// cell is one value of the file and where it is.
type cell struct {
	v         string
	line, col int
	where     string
	// bad is set when the parser already reported the cell.
	bad bool
}

// rawRow is a row before it is checked.
type rawRow struct {
	line                          int
	id, applicable, justification cell
}

// Read parses a Statement of Applicability file named name (used in
// messages) of format f from r, reading at most MaxBytes, and checks each
// row: the control is one of known, the applicability is yes or no, an
// exclusion has a justification (the store's own rule), no control twice.
// A *Error lists every problem found.
func Read(r io.Reader, name string, f Format, known []string) (*Sheet, error) {
	ps := &problems{file: name}
	data, err := io.ReadAll(io.LimitReader(r, MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(data) > MaxBytes {
		ps.add(0, 0, "", "the file is larger than %d MiB; a Statement of Applicability is a few hundred rows: is it the right file?", MaxBytes>>20)
		return nil, ps.err()
	}
	if !text(ps, data) {
		return nil, ps.err()
	}
	data = bytes.TrimPrefix(data, []byte("\uFEFF"))
	var rows []rawRow
	sheet := &Sheet{}
	switch f {
	case CSV:
		rows, sheet.Ignored = readCSV(ps, data)
	case YAML:
		rows = readYAML(ps, data)
	default:
		return nil, fmt.Errorf("read %s: unknown format %q", name, f)
	}
	// Rows the parser could read are checked even when others could not,
	// so that one run lists every problem.
	sheet.Rows = check(ps, rows, known)
	if err := ps.err(); err != nil {
		return nil, err
	}
	return sheet, nil
}

// text refuses encodings other than UTF-8, saying how to save the file:
// Excel's "Unicode Text" is UTF-16 and its plain "CSV" on Windows is
// Windows-1252, which would turn every accent into garbage in the record.
func text(ps *problems, data []byte) bool {
	if bytes.HasPrefix(data, []byte{0xFF, 0xFE}) || bytes.HasPrefix(data, []byte{0xFE, 0xFF}) {
		ps.add(0, 0, "", `the file is UTF-16 (Excel's "Unicode Text"); save it as "CSV UTF-8 (Comma delimited)"`)
		return false
	}
	if utf8.Valid(data) {
		if len(bytes.TrimSpace(bytes.TrimPrefix(data, []byte("\uFEFF")))) == 0 {
			ps.add(0, 0, "", "the file is empty; start from `annexa-collector soa export`")
			return false
		}
		return true
	}
	line, col := 1, 1
	for i := 0; i < len(data); {
		r, n := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && n <= 1 {
			break
		}
		if r == '\n' {
			line, col = line+1, 0
		}
		i += n
		col++
	}
	ps.add(line, col, "", `the file is not UTF-8 (Excel's plain "CSV" saves Windows-1252); save it as "CSV UTF-8 (Comma delimited)", or in LibreOffice choose character set "Unicode (UTF-8)"`)
	return false
}

// Columns every import needs; other CSV columns are ignored.
var required = []string{"control_id", "applicable", "justification"}

// informational columns an export writes and an import does not read.
var informational = map[string]bool{"title": true, "author": true, "updated_at": true, "framework": true, "theme": true}

// headerName makes "Control ID" and "control-id" read as control_id.
func headerName(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	return strings.NewReplacer(" ", "_", "-", "_").Replace(s)
}

// colName is a spreadsheet column letter: A, B, …, Z, AA.
func colName(i int) string {
	s := ""
	for i++; i > 0; i = (i - 1) / 26 {
		s = string(rune('A'+(i-1)%26)) + s
	}
	return s
}

// delimiter guesses the separator from the header line: Excel in
// locales with a decimal comma saves CSV with semicolons, and a sheet
// pasted from elsewhere may be tab-separated.
func delimiter(data []byte) rune {
	line, _, _ := bytes.Cut(data, []byte("\n"))
	counts := map[rune]int{}
	quoted := false
	for _, r := range string(line) {
		switch {
		case r == '"':
			quoted = !quoted
		case !quoted && (r == ',' || r == ';' || r == '\t'):
			counts[r]++
		}
	}
	best := ','
	for _, r := range []rune{';', '\t'} {
		if counts[r] > counts[best] {
			best = r
		}
	}
	return best
}

func readCSV(ps *problems, data []byte) ([]rawRow, []string) {
	cr := csv.NewReader(bytes.NewReader(data))
	cr.Comma = delimiter(data)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		csvProblem(ps, err)
		return nil, nil
	}
	hline, _ := cr.FieldPos(0)
	index := map[string]int{}
	var ignored []string
	for i, h := range header {
		n := headerName(h)
		where := fmt.Sprintf("column %s", colName(i))
		switch {
		case n == "":
			continue
		case n == "evidence_summary" || n == "unjustified_inclusion":
			ps.add(hline, 0, where, "this is the report's statement-of-applicability.csv, whose justification column also holds attestation text; start from `annexa-collector soa export --format csv` instead")
			return nil, nil
		}
		if j, dup := index[n]; dup {
			ps.add(hline, 0, where, "column %s is also column %s; keep one", n, colName(j))
			continue
		}
		index[n] = i
		if !informational[n] && !slices.Contains(required, n) {
			ignored = append(ignored, strings.TrimSpace(h))
		}
	}
	for _, n := range required {
		if _, ok := index[n]; !ok {
			ps.add(hline, 0, "header row", "no column %s; the header row needs control_id, applicable and justification (start from `annexa-collector soa export --format csv`)", n)
		}
	}
	if len(ps.list) > 0 {
		return nil, nil
	}
	var rows []rawRow
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			csvProblem(ps, err)
			return nil, nil
		}
		if blank(rec) {
			continue
		}
		if len(rows) == MaxRows {
			line, _ := cr.FieldPos(0)
			ps.add(line, 0, "", "more than %d rows; a Statement of Applicability has one row per control", MaxRows)
			return nil, nil
		}
		line, _ := cr.FieldPos(0)
		get := func(name string) (cell, bool) {
			i := index[name]
			c := cell{line: line, where: fmt.Sprintf("column %s (%s)", colName(i), name)}
			if i >= len(rec) {
				return c, false
			}
			c.v = rec[i]
			c.line, c.col = cr.FieldPos(i)
			return c, true
		}
		r := rawRow{line: line}
		r.id, _ = get("control_id")
		r.applicable, _ = get("applicable")
		r.justification, _ = get("justification")
		rows = append(rows, r)
	}
	return rows, ignored
}

// blank reports a row with nothing in it: spreadsheets keep empty rows
// and trailing separators.
func blank(rec []string) bool {
	for _, v := range rec {
		if strings.TrimSpace(v) != "" {
			return false
		}
	}
	return true
}

func csvProblem(ps *problems, err error) {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		fix := "quote the cell, and double every quote inside it (\"\")"
		if errors.Is(pe.Err, csv.ErrQuote) && pe.StartLine != pe.Line {
			fix = fmt.Sprintf("a quoted cell opened on line %d never closes; close it with \"", pe.StartLine)
		}
		ps.add(pe.Line, pe.Column, "", "%v: %s", pe.Err, fix)
		return
	}
	ps.add(0, 0, "", "%v", err)
}

// yamlLine pulls the line out of a yaml.v3 syntax error ("yaml: line 5: …").
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)

// yamlKeys are the keys of one control in a YAML file; others are typos.
var yamlKeys = map[string]bool{"control_id": true, "applicable": true, "justification": true,
	"title": true, "author": true, "updated_at": true, "framework": true, "theme": true}

func readYAML(ps *problems, data []byte) []rawRow {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		msg := err.Error()
		line := 0
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			line, _ = strconv.Atoi(m[1])
			msg = msg[len(m[0]):]
		}
		ps.add(line, 0, "", "not YAML: %s", strings.TrimPrefix(msg, "yaml: "))
		return nil
	}
	var more yaml.Node
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		ps.add(more.Line, 0, "", "a second YAML document (after ---); keep one")
		return nil
	}
	if len(doc.Content) == 0 {
		ps.add(0, 0, "", "the file is empty; start from `annexa-collector soa export --format yaml`")
		return nil
	}
	root := doc.Content[0]
	list := root
	if root.Kind == yaml.MappingNode {
		list = nil
		for i := 0; i+1 < len(root.Content); i += 2 {
			k := root.Content[i]
			if k.Value == "controls" {
				list = root.Content[i+1]
				continue
			}
			ps.add(k.Line, k.Column, "", "unknown key %q; the file holds one key, controls", k.Value)
		}
		if list == nil {
			ps.add(root.Line, root.Column, "", "no controls: list; start from `annexa-collector soa export --format yaml`")
			return nil
		}
	}
	if list.Kind != yaml.SequenceNode {
		ps.add(list.Line, list.Column, "controls", "want a list of controls (each \"- control_id: …\")")
		return nil
	}
	if len(list.Content) > MaxRows {
		ps.add(list.Content[MaxRows].Line, 0, "", "more than %d controls; a Statement of Applicability has one entry per control", MaxRows)
		return nil
	}
	var rows []rawRow
	for _, item := range list.Content {
		if item.Kind != yaml.MappingNode {
			ps.add(item.Line, item.Column, "", "want a control (control_id, applicable, justification), not %s", kindName(item))
			continue
		}
		r := rawRow{line: item.Line}
		r.id = cell{line: item.Line, col: item.Column, where: "control_id"}
		r.applicable = cell{line: item.Line, col: item.Column, where: "applicable"}
		r.justification = cell{line: item.Line, col: item.Column, where: "justification"}
		seen := map[string]bool{}
		for i := 0; i+1 < len(item.Content); i += 2 {
			k, v := item.Content[i], item.Content[i+1]
			if !yamlKeys[k.Value] {
				ps.add(k.Line, k.Column, "", "unknown key %q; a control has control_id, applicable and justification (title, author and updated_at are ignored)", k.Value)
				continue
			}
			if seen[k.Value] {
				ps.add(k.Line, k.Column, "", "%s is given twice; keep one", k.Value)
				continue
			}
			seen[k.Value] = true
			var c *cell
			switch k.Value {
			case "control_id":
				c = &r.id
			case "applicable":
				c = &r.applicable
			case "justification":
				c = &r.justification
			default:
				continue
			}
			if v.Kind != yaml.ScalarNode {
				ps.add(v.Line, v.Column, k.Value, "want text, not %s", kindName(v))
				c.bad = true
				continue
			}
			*c = cell{v: v.Value, line: v.Line, col: v.Column, where: k.Value}
			if v.Tag == "!!null" {
				c.v = ""
			}
		}
		rows = append(rows, r)
	}
	return rows
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.AliasNode:
		return "an alias (*name)"
	}
	return "text"
}

// check turns raw rows into decisions, adding a problem for each bad cell.
func check(ps *problems, rows []rawRow, known []string) []Row {
	isKnown := make(map[string]bool, len(known))
	for _, id := range known {
		isKnown[id] = true
	}
	firstLine := map[string]int{}
	out := make([]Row, 0, len(rows))
	for _, r := range rows {
		ok := !r.id.bad && !r.applicable.bad && !r.justification.bad
		id := strings.TrimSpace(r.id.v)
		switch {
		case r.id.bad:
		case id == "":
			ps.add(r.id.line, r.id.col, r.id.where, "no control id; write one such as iso27001-2022/5.1, or delete the row")
			ok = false
		case !isKnown[id]:
			ps.add(r.id.line, r.id.col, r.id.where, "%s", unknownControl(id, known))
			ok = false
		case firstLine[id] != 0:
			ps.add(r.id.line, r.id.col, r.id.where, "%s is also on line %d; keep one row per control", id, firstLine[id])
			ok = false
		default:
			firstLine[id] = r.line
		}
		applicable, err := parseApplicable(r.applicable.v)
		if err != nil && !r.applicable.bad {
			ps.add(r.applicable.line, r.applicable.col, r.applicable.where, "%v", err)
		}
		j := strings.TrimSpace(Undefuse(r.justification.v))
		if err == nil && !r.applicable.bad && !r.justification.bad {
			// The store's rules on the reason are checked whatever is wrong
			// with the id, so that one run lists both problems.
			e := store.SoAEntry{ControlID: "any/control", Applicable: applicable, Justification: j, Author: "import"}
			if err := e.Validate(); err != nil {
				ps.add(r.justification.line, r.justification.col, r.justification.where, "%s", errMessage(err))
				ok = false
			}
		}
		if err != nil || !ok {
			continue
		}
		e := store.SoAEntry{ControlID: id, Applicable: applicable, Justification: j, Author: "import"}
		if err := e.Validate(); err != nil {
			ps.add(r.id.line, r.id.col, r.id.where, "%s", errMessage(err))
			continue
		}
		out = append(out, Row{ControlID: id, Applicable: applicable, Justification: j, Line: r.line})
	}
	return out
}

func errMessage(err error) string {
	var se *store.Error
	if errors.As(err, &se) {
		return se.Message
	}
	return err.Error()
}

// parseApplicable reads a cell of the applicable column. Spreadsheets turn
// true into TRUE, so case does not matter.
func parseApplicable(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "yes", "y", "true":
		return true, nil
	case "no", "n", "false":
		return false, nil
	case "":
		return false, errors.New("empty; write yes (the control applies) or no (it does not, and justification says why)")
	}
	return false, fmt.Errorf("%q: write yes or no (true and false also work)", s)
}

// Undefuse removes the apostrophe an export puts before a cell that a
// spreadsheet would otherwise run as a formula (see Write), so that
// export and import round-trip.
func Undefuse(s string) string {
	if len(s) >= 2 && s[0] == '\'' && strings.ContainsRune(formulaStarts, rune(s[1])) {
		return s[1:]
	}
	return s
}

// unknownControl says a control id is not loaded and suggests the closest
// one that is.
func unknownControl(id string, known []string) string {
	msg := fmt.Sprintf("control %q is not in any loaded catalog", id)
	if s := closest(id, known); s != "" {
		return msg + fmt.Sprintf("; did you mean %s?", s)
	}
	return msg + " (ids are namespaced: iso27001-2022/5.1, iso42001-2023/A.2.2; `annexa-collector soa export` lists them all)"
}

// closest returns the known id nearest to id: the same id in another case
// or without its framework, else the one at the smallest edit distance if
// that is small enough to be a typo.
func closest(id string, known []string) string {
	var suffix []string
	for _, k := range known {
		if strings.EqualFold(k, id) {
			return k
		}
		if _, c, _ := strings.Cut(k, "/"); strings.EqualFold(c, id) {
			suffix = append(suffix, k)
		}
	}
	if len(suffix) > 0 {
		return strings.Join(suffix, " or ")
	}
	if len(id) > 64 {
		return ""
	}
	best, bestD := "", len(id)/3+2
	for _, k := range known {
		if d := distance(strings.ToLower(id), strings.ToLower(k)); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// distance is the Levenshtein distance of a and b, by bytes.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
