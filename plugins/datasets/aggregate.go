package datasets

import (
	"math"
	"slices"
)

// maxPIIColumns bounds the "file:column" entries listed per entity kind.
const maxPIIColumns = 20

// content sums the per-file facts into the dataset's attributes.
type content struct {
	a       *Attributes
	columns map[string]bool
	// For the sampled fraction: bytes of files of sampled formats, and
	// those bytes weighted by how much of each file was sampled.
	sampleable, covered float64
}

func newContent(a *Attributes) *content {
	c := &content{a: a, columns: map[string]bool{}}
	for _, col := range a.Columns {
		c.columns[col] = true
	}
	return c
}

// add takes one file's facts and returns the format it counts as.
func (c *content) add(h hashedFile) string {
	format := h.format
	f := h.facts
	if f == nil {
		if sampledText(format) || format == "parquet" {
			c.sampleable += float64(h.size)
		}
		return format
	}
	a := c.a
	if f.WebDataset {
		format = "webdataset"
	}
	if f.Encrypted {
		a.EncryptedFiles++
	}
	if format == "parquet" || format == "arrow" || format == "tfrecord" {
		a.Rows += f.Rows
	}
	for _, col := range f.Columns {
		if len(c.columns) < maxColumnsKept {
			c.columns[col] = true
		}
	}
	for _, fd := range f.Findings {
		a.addFinding(fd)
	}
	if sampledText(format) || (format == "parquet" && !f.Encrypted) {
		c.sampleable += float64(h.size)
	}
	r := f.PII
	if r == nil {
		return format
	}
	a.PIIFilesSampled++
	a.PIIRowsSampled += int64(r.Rows)
	frac := 1.0
	switch {
	case r.Complete:
	case format == "parquet" && f.Rows > 0:
		frac = math.Min(1, float64(r.Rows)/float64(f.Rows))
	case h.size > 0:
		frac = math.Min(1, float64(r.Bytes)/float64(h.size))
	}
	c.covered += frac * float64(h.size)
	for e, n := range r.Counts {
		a.PII[string(e)] += n
	}
	for e, cols := range r.Columns {
		for _, col := range cols {
			// Paths and column names come from the files: capped so the
			// record stays far below the 256 KiB attribute limit.
			entry := capString(h.rel, 150) + ":" + capString(col, 64)
			if l := a.PIIColumns[string(e)]; len(l) < maxPIIColumns && !slices.Contains(l, entry) {
				a.PIIColumns[string(e)] = append(l, entry)
			}
		}
	}
	return format
}

func (c *content) finish() {
	a := c.a
	a.Columns = make([]string, 0, len(c.columns))
	for col := range c.columns {
		a.Columns = append(a.Columns, col)
	}
	slices.Sort(a.Columns)
	for _, cols := range a.PIIColumns {
		slices.Sort(cols)
	}
	if c.sampleable > 0 {
		a.PIISampledFraction = math.Round(c.covered/c.sampleable*1e4) / 1e4
	}
	a.PersonalData = len(a.PII) > 0
	if a.Rows == 0 && a.DeclaredRows > 0 {
		a.Rows = a.DeclaredRows
	}
}
