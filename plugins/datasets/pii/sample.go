package pii

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strconv"
	"unicode/utf8"
)

// Limits bound one file's sample.
type Limits struct {
	// MaxRows is how many rows (CSV records, JSON Lines, top-level array
	// elements, text lines) are looked at.
	MaxRows int
	// MaxBytes is how many bytes of the file are read.
	MaxBytes int64
}

// DefaultLimits are the plugin's defaults: enough rows for a rare kind
// to show, little enough to read on every changed file.
var DefaultLimits = Limits{MaxRows: 1000, MaxBytes: 1 << 20}

// maxColumns bounds the column hints cached per file; maxReportColumns
// the columns reported per entity kind, and maxColumnLen their names: all
// come from the file.
const (
	maxColumns       = 256
	maxReportColumns = 32
	maxColumnLen     = 64
)

// Report is what one file's sample held. It never carries values.
type Report struct {
	// Counts are entity kind → number of occurrences in the sample.
	Counts map[Entity]int `json:"counts,omitempty"`
	// Columns are entity kind → columns (or JSON keys) where it was seen.
	Columns map[Entity][]string `json:"columns,omitempty"`
	// Rows and Bytes are what was sampled.
	Rows  int   `json:"rows"`
	Bytes int64 `json:"bytes"`
	// Complete: the sample reached the end of the file.
	Complete bool `json:"complete"`
	// InvalidUTF8 counts values that were not valid UTF-8.
	InvalidUTF8 int `json:"invalid_utf8,omitempty"`
}

// Sampler accumulates a Report value by value; the tabular readers of
// other packages (Parquet) feed it.
type Sampler struct {
	lim  Limits
	rep  Report
	cols map[Entity]map[string]bool
	// hints caches each column's hint: a column is named once per file
	// but holds a value in every row.
	hints map[string]columnInfo
}

type columnInfo struct {
	hint hint
	// label is how the column is reported: its name, unless the name
	// itself holds personal data (a JSON object keyed by e-mail address).
	label string
}

// withheld replaces a column name that is itself personal data: evidence
// never carries values, not even as names.
const withheld = "(name withheld: holds personal data)"

// NewSampler starts a report under the given limits (zero fields take
// the defaults).
func NewSampler(lim Limits) *Sampler {
	if lim.MaxRows <= 0 {
		lim.MaxRows = DefaultLimits.MaxRows
	}
	if lim.MaxBytes <= 0 {
		lim.MaxBytes = DefaultLimits.MaxBytes
	}
	return &Sampler{lim: lim, rep: Report{Counts: map[Entity]int{}}, cols: map[Entity]map[string]bool{}, hints: map[string]columnInfo{}}
}

// Value looks at one value of column ("" for free text).
func (s *Sampler) Value(column, value string) {
	if !utf8.ValidString(value) {
		s.rep.InvalidUTF8++
		value = string(bytes.ToValidUTF8([]byte(value), []byte("\uFFFD")))
	}
	ci, ok := s.hints[column]
	if !ok {
		ci = columnInfo{hint: columnHint(column), label: column}
		if column != "" && len(detect(hintNone, column)) > 0 {
			ci.label = withheld
		}
		if len(s.hints) < maxColumns {
			s.hints[column] = ci
		}
	}
	column = ci.label
	for e, n := range detect(ci.hint, value) {
		s.rep.Counts[e] += n
		if column == "" {
			continue
		}
		if len(column) > maxColumnLen {
			column = column[:maxColumnLen]
		}
		set := s.cols[e]
		if set == nil {
			set = map[string]bool{}
			s.cols[e] = set
		}
		if len(set) < maxReportColumns {
			set[column] = true
		}
	}
}

// Row ends a row; false means the row limit is reached.
func (s *Sampler) Row() bool {
	s.rep.Rows++
	return s.rep.Rows < s.lim.MaxRows
}

// AddRows counts rows read column by column (Parquet), where Row is not
// called per row.
func (s *Sampler) AddRows(n int) { s.rep.Rows += n }

// Limits returns the limits in force.
func (s *Sampler) Limits() Limits { return s.lim }

// Report finishes the sample. bytes is how much of the file was read and
// complete whether that was all of it.
func (s *Sampler) Report(bytes int64, complete bool) Report {
	r := s.rep
	r.Bytes, r.Complete = bytes, complete
	for e, set := range s.cols {
		if r.Columns == nil {
			r.Columns = map[Entity][]string{}
		}
		cols := make([]string, 0, len(set))
		for c := range set {
			cols = append(cols, c)
		}
		slices.Sort(cols)
		r.Columns[e] = cols
	}
	for e, n := range r.Counts {
		if n == 0 {
			delete(r.Counts, e)
		}
	}
	return r
}

// countingReader counts what a parser took from the file.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// bounded wraps r so at most lim.MaxBytes are read; the returned func
// says how much was read and whether the end of the input was reached.
func bounded(r io.Reader, lim Limits) (io.Reader, func() (int64, bool)) {
	cr := &countingReader{r: r}
	lr := &io.LimitedReader{R: cr, N: lim.MaxBytes + 1}
	return lr, func() (int64, bool) {
		if cr.n > lim.MaxBytes {
			return lim.MaxBytes, false
		}
		// Reaching the byte limit exactly leaves the end unknown.
		return cr.n, lr.N > 0 && cr.n < lim.MaxBytes+1
	}
}

// ScanCSV samples delimited text: the first record is the header (its
// names are the columns), each later record a row. comma is ',' or '\t'
// or whatever the dialect sniffer found.
func ScanCSV(r io.Reader, comma rune, lim Limits) (Report, error) {
	s := NewSampler(lim)
	br, done := bounded(r, s.lim)
	cr := csv.NewReader(br)
	cr.Comma = comma
	cr.FieldsPerRecord = -1
	cr.LazyQuotes = true
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		n, _ := done()
		if errors.Is(err, io.EOF) {
			return s.Report(n, true), nil
		}
		return s.Report(n, false), err
	}
	names := slices.Clone(header)
	// A first record holding personal data is data, not a header: the
	// file has none, and its values must not become column names.
	if slices.ContainsFunc(names, func(n string) bool { return len(detect(hintNone, n)) > 0 }) {
		for i := range names {
			names[i] = ""
		}
		for i, v := range header {
			s.Value("column "+strconv.Itoa(i+1), v)
		}
		if !s.Row() {
			return s.Report(cr.InputOffset(), false), nil
		}
	}
	complete := false
	var rerr error
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			_, complete = done()
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) && !errors.Is(pe.Err, csv.ErrQuote) {
				rerr = err
			}
			break
		}
		for i, v := range rec {
			col := "column " + strconv.Itoa(i+1)
			if i < len(names) && names[i] != "" {
				col = names[i]
			}
			s.Value(col, v)
		}
		if !s.Row() {
			// What the parser buffered beyond the last row was not looked at.
			n := cr.InputOffset()
			return s.Report(n, false), nil
		}
	}
	n, _ := done()
	return s.Report(n, complete), rerr
}

// ScanJSON samples JSON and JSON Lines alike: a stream of values, each
// of which (or, for a top-level array, each element of which) is a row.
// Object keys name columns (nested keys as "a.b"); strings and numbers
// are the values. The sample may end mid-document: what was read counts.
func ScanJSON(r io.Reader, lim Limits) (Report, error) {
	s := NewSampler(lim)
	br, done := bounded(r, s.lim)
	dec := json.NewDecoder(br)
	dec.UseNumber()
	// path holds the keys down to the current value; depth counts arrays
	// and objects open.
	type frame struct {
		object bool
		key    string
		// expectKey: in an object, the next string is a key.
		expectKey bool
	}
	var stack []frame
	topArray := false
	column := func() string {
		var b []byte
		for _, f := range stack {
			if f.object && f.key != "" {
				if len(b) > 0 {
					b = append(b, '.')
				}
				b = append(b, f.key...)
			}
		}
		return string(b)
	}
	endValue := func() bool {
		// A row ends when a top-level value (or top-level array element)
		// does.
		if len(stack) == 0 || (topArray && len(stack) == 1) {
			return s.Row()
		}
		if top := &stack[len(stack)-1]; top.object {
			top.expectKey = true
		}
		return true
	}
	var rerr error
	complete := false
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			_, complete = done()
			if len(stack) > 0 {
				complete = false
			}
			break
		}
		if err != nil {
			if _, full := done(); full {
				rerr = err
			}
			break
		}
		more := true
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				if len(stack) == 0 && t == '[' {
					topArray = true
				}
				stack = append(stack, frame{object: t == '{', expectKey: t == '{'})
			case '}', ']':
				stack = stack[:len(stack)-1]
				more = endValue()
			}
		case string:
			if n := len(stack); n > 0 && stack[n-1].object && stack[n-1].expectKey {
				stack[n-1].key, stack[n-1].expectKey = t, false
				// Keys can be data too (objects keyed by user or address).
				if _, seen := s.hints[t]; !seen {
					s.Value("", t)
				}
				continue
			}
			s.Value(column(), t)
			more = endValue()
		case json.Number:
			s.Value(column(), t.String())
			more = endValue()
		default:
			more = endValue()
		}
		if !more {
			return s.Report(dec.InputOffset(), false), nil
		}
	}
	n, _ := done()
	return s.Report(n, complete), rerr
}

// ScanText samples plain text line by line. A line longer than the byte
// limit is cut, not refused.
func ScanText(r io.Reader, lim Limits) (Report, error) {
	s := NewSampler(lim)
	br, done := bounded(r, s.lim)
	sc := bufio.NewScanner(br)
	sc.Buffer(make([]byte, 0, 64<<10), int(min(s.lim.MaxBytes+1, maxValueLen)))
	sc.Split(scanLinesCut)
	complete := false
	var used int64
	for sc.Scan() {
		s.Value("", sc.Text())
		used += int64(len(sc.Bytes())) + 1
		if !s.Row() {
			return s.Report(used, false), nil
		}
	}
	if sc.Err() == nil {
		_, complete = done()
	}
	n, _ := done()
	return s.Report(n, complete), nil
}

// scanLinesCut splits lines, handing out an over-long line in pieces
// rather than failing on it.
func scanLinesCut(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		return i + 1, bytes.TrimRight(data[:i], "\r"), nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	if len(data) >= maxValueLen {
		return len(data), data, nil
	}
	return 0, nil, nil
}
