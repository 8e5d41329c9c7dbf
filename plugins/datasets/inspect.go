package datasets

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/annexa/annexa/plugins/datasets/pii"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
)

// Finding is a problem with a dataset's content or a file in it, as the
// models plugin reports them: a stable rule id, a severity and what to do.
type Finding struct {
	Rule     string `json:"rule"`
	Severity string `json:"severity"`
	Detail   string `json:"detail"`
}

// facts are what a file's content says beyond its digest and format.
// They are cached with the digest, so an unchanged file is never read
// again for them.
type facts struct {
	// PII is the personal-data sample (text, tabular and Parquet files).
	PII *pii.Report `json:"pii,omitempty"`
	// Rows, RowGroups and Columns come from a Parquet footer, an npy
	// header (rows = first dimension) or a tar listing (rows = members).
	Rows      int64    `json:"rows,omitempty"`
	RowGroups int      `json:"rg,omitempty"`
	Columns   []string `json:"cols,omitempty"`
	// Encrypted: a Parquet file with an encrypted footer ("PARE") or
	// encrypted columns.
	Encrypted bool `json:"enc,omitempty"`
	// Shape and DType describe an npy array.
	Shape []int64 `json:"shape,omitempty"`
	DType string  `json:"dtype,omitempty"`
	// WebDataset: a tar whose members group into samples by key.
	WebDataset bool      `json:"wds,omitempty"`
	Findings   []Finding `json:"findings,omitempty"`
}

// empty: nothing learnt beyond the format, so nothing to cache.
func (f *facts) empty() bool {
	return f.PII == nil && f.Rows == 0 && f.RowGroups == 0 && len(f.Columns) == 0 && !f.Encrypted &&
		len(f.Shape) == 0 && f.DType == "" && !f.WebDataset && len(f.Findings) == 0
}

// maxFileFindings bounds the findings kept per file (a tar can name a
// hundred thousand bad members); the last says how many more there were.
const maxFileFindings = 10

func (f *facts) find(rule, severity, format string, args ...any) {
	switch n := len(f.Findings); {
	case n < maxFileFindings:
		f.Findings = append(f.Findings, Finding{Rule: rule, Severity: severity, Detail: capString(fmt.Sprintf(format, args...), 400)})
	case n == maxFileFindings:
		f.Findings = append(f.Findings, Finding{Rule: "findings.truncated", Severity: "info", Detail: "more findings in this file are not listed"})
	}
}

// Bounds on what the inspectors read; each comes from the file itself.
const (
	maxParquetFooter = 16 << 20 // bytes of Thrift metadata
	maxParquetChunk  = 64 << 20 // declared bytes of one sampled column chunk
	maxColumnsKept   = 200      // column names kept per file
	maxTarMembers    = 100_000  // headers listed per tar
	maxTarHeaderRead = 64 << 20 // bytes of headers read per tar
	maxNpyHeader     = 64 << 10 // npy header length allowed by the format (v1 caps at 65535)
	// A tar whose members declare more than this many times its size is
	// a bomb (only sparse entries can, and nobody ships a dataset so).
	tarBombRatio = 100
)

// fileReader is an open data file: read at offsets (Parquet, Arrow,
// npy) or from the start (tar).
type fileReader interface {
	io.ReaderAt
	io.ReadSeeker
}

// sampled says whether the personal-data sampler reads this format from
// the bytes streamed for hashing.
func sampledText(format string) bool {
	switch format {
	case "csv", "tsv", "json", "jsonl", "text":
		return true
	}
	return false
}

// inspect reads what the format tells about a file after it was hashed.
// sample holds the file's first bytes (up to the PII byte limit) for text
// formats. It never fails: whatever goes wrong is a finding.
func (p *Plugin) inspect(f fileReader, size int64, format, rel string, sample []byte) (out *facts) {
	out = &facts{}
	defer func() {
		// A library parser meeting a hostile file must not take the
		// plugin down with it.
		if r := recover(); r != nil {
			out.find("file.unparseable", "medium", "%s: the %s parser failed: %v", rel, format, r)
		}
	}()
	lim := p.piiLimits()
	complete := int64(len(sample)) >= size
	if !complete && format != "json" {
		// The sample ends mid-line: drop the cut line, so no value is
		// judged by half of it.
		if i := bytes.LastIndexByte(sample, '\n'); i >= 0 {
			sample = sample[:i+1]
		}
		if bytes.Count(sample, []byte("\n")) <= 1 && (format == "csv" || format == "tsv") {
			out.find("csv.long_record", "medium", "%s: no complete record in the first %d bytes; a line this long cannot be sampled for personal data", rel, lim.MaxBytes)
		}
	}
	switch format {
	case "csv", "tsv":
		if !p.set.PersonalData.enabled() {
			break
		}
		comma := ','
		if format == "tsv" {
			comma = '\t'
		} else if d := sniffDialect(sample); d != 0 {
			comma = d
		}
		rep, err := pii.ScanCSV(bytes.NewReader(sample), comma, lim)
		rep.Complete = rep.Complete && complete
		out.PII = &rep
		if err != nil {
			out.find("csv.malformed", "low", "%s: %v", rel, err)
		}
	case "json", "jsonl":
		if !p.set.PersonalData.enabled() {
			break
		}
		rep, err := pii.ScanJSON(bytes.NewReader(sample), lim)
		rep.Complete = rep.Complete && complete
		out.PII = &rep
		if err != nil {
			out.find("json.malformed", "low", "%s: %v", rel, err)
		}
	case "text":
		if !p.set.PersonalData.enabled() {
			break
		}
		rep, _ := pii.ScanText(bytes.NewReader(sample), lim)
		rep.Complete = rep.Complete && complete
		out.PII = &rep
	case "parquet":
		p.inspectParquet(f, size, rel, out)
	case "arrow":
		info, err := ReadArrowInfo(f, size)
		out.Rows, out.RowGroups, out.Columns = info.Rows, info.Batches, info.Columns
		if err != nil {
			out.find("arrow.invalid", "medium", "%s: %v", rel, err)
		}
	case "npy":
		inspectNpy(f, rel, out)
	case "npz":
		inspectNpz(f, size, rel, out)
	case "tfrecord":
		inspectTFRecord(f, size, rel, out)
	case "gzip":
		if l := strings.ToLower(rel); strings.HasSuffix(l, ".tar.gz") || strings.HasSuffix(l, ".tgz") {
			inspectTarGz(f, size, rel, out)
		}
	case "tar":
		inspectTar(f, size, rel, out)
	}
	if out.PII != nil && out.PII.InvalidUTF8 > 0 {
		out.find("content.invalid_utf8", "low", "%s: %d sampled value(s) are not valid UTF-8 (wrong encoding declared, or binary data in a text file)", rel, out.PII.InvalidUTF8)
	}
	return out
}

// sniffDialect picks the delimiter of delimited text from its first
// complete lines: the candidate found the same non-zero number of times
// on each line wins, ',' first.
func sniffDialect(b []byte) rune {
	if len(b) > 64<<10 {
		b = b[:64<<10]
	}
	lines := bytes.Split(b, []byte("\n"))
	if len(lines) > 1 {
		lines = lines[:len(lines)-1] // the last may be cut
	}
	if len(lines) > 20 {
		lines = lines[:20]
	}
	for _, sep := range []byte{',', '\t', ';', '|'} {
		want := bytes.Count(lines[0], []byte{sep})
		if want == 0 {
			continue
		}
		ok := true
		for _, l := range lines[1:] {
			if len(bytes.TrimSpace(l)) > 0 && bytes.Count(l, []byte{sep}) != want {
				ok = false
				break
			}
		}
		if ok {
			return rune(sep)
		}
	}
	return 0
}

// inspectParquet reads the footer (bounded), and samples the first row
// group for personal data when its declared chunk sizes fit the budget.
func (p *Plugin) inspectParquet(f io.ReaderAt, size int64, rel string, out *facts) {
	var tail [8]byte
	if size < 12 {
		out.find("parquet.truncated", "medium", "%s: %d bytes is too short for a Parquet file", rel, size)
		return
	}
	if _, err := f.ReadAt(tail[:], size-8); err != nil {
		out.find("parquet.unreadable", "medium", "%s: read footer: %v", rel, err)
		return
	}
	magic := string(tail[4:])
	footer := int64(binary.LittleEndian.Uint32(tail[:4]))
	switch {
	case magic == "PARE":
		// The footer itself is encrypted: without the key only the fact
		// of encryption is known, and that is evidence in itself.
		out.Encrypted = true
		return
	case magic != "PAR1":
		out.find("parquet.truncated", "medium", "%s: no Parquet footer magic at the end (the file is cut short or still being written)", rel)
		return
	case footer+12 > size:
		out.find("parquet.truncated", "medium", "%s: footer of %d bytes does not fit in a %d-byte file", rel, footer, size)
		return
	case footer > maxParquetFooter:
		out.find("parquet.footer_too_large", "low", "%s: footer of %d bytes is over the %d-byte limit; schema not read", rel, footer, maxParquetFooter)
		return
	}
	pf, err := parquet.OpenFile(f, size, parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true), parquet.ReadBufferSize(64<<10))
	if err != nil {
		if strings.Contains(err.Error(), "signed footer") || strings.Contains(err.Error(), "DecryptionConfig") {
			// Plaintext footer with encrypted columns.
			out.Encrypted = true
			return
		}
		out.find("parquet.invalid", "medium", "%s: %v", rel, err)
		return
	}
	md := pf.Metadata()
	out.Rows, out.RowGroups = pf.NumRows(), len(md.RowGroups)
	if md.EncryptionAlgorithm.Value != nil {
		out.Encrypted = true
	}
	var names []string
	for _, path := range pf.Schema().Columns() {
		names = append(names, strings.Join(path, "."))
	}
	out.Columns = capList(names, maxColumnsKept)
	if p.set.PersonalData.enabled() && !out.Encrypted && len(pf.RowGroups()) > 0 {
		p.sampleParquet(pf, names, rel, out)
	}
}

// sampleParquet reads up to max_rows values of each leaf column of the
// first row group, skipping columns whose chunk declares more bytes than
// the budget (the page reader would have to hold a page of them).
func (p *Plugin) sampleParquet(pf *parquet.File, names []string, rel string, out *facts) {
	lim := p.piiLimits()
	s := pii.NewSampler(lim)
	rg := pf.RowGroups()[0]
	md := pf.Metadata().RowGroups[0]
	var read int64
	rows := int64(0)
	skipped := 0
	buf := make([]parquet.Value, 256)
	for i, chunk := range rg.ColumnChunks() {
		if i >= len(md.Columns) || i >= len(names) {
			break
		}
		meta := md.Columns[i].MetaData
		if meta.TotalUncompressedSize > maxParquetChunk || meta.TotalCompressedSize > maxParquetChunk {
			skipped++
			continue
		}
		k := chunk.Type().Kind()
		if k != parquet.ByteArray && k != parquet.FixedLenByteArray && k != parquet.Int64 && k != parquet.Int32 {
			continue
		}
		if err := checkPages(pf, meta, int64(lim.MaxRows)); err != nil {
			out.find("parquet.not_sampled", "medium", "%s: column %s: %v", rel, names[i], err)
			skipped++
			continue
		}
		n, err := sampleColumn(chunk, names[i], int64(lim.MaxRows), s, buf)
		if err != nil {
			out.find("parquet.invalid", "medium", "%s: column %s: %v", rel, names[i], err)
			break
		}
		rows = max(rows, n)
		read += min(meta.TotalCompressedSize, lim.MaxBytes)
	}
	s.AddRows(int(rows))
	rep := s.Report(read, rows >= pf.NumRows() && skipped == 0)
	out.PII = &rep
	if skipped > 0 {
		out.find("parquet.not_sampled", "low", "%s: %d column(s) have chunks over %d MiB and were not sampled for personal data", rel, skipped, maxParquetChunk>>20)
	}
}

// maxPageHeader bounds the Thrift page header read while checking pages.
const maxPageHeader = 64 << 10

// checkPages walks the page headers the sample will read (those holding
// the first want values) before parquet-go does: each page's declared
// sizes must stay inside the chunk and the budget, since the reader
// allocates what a page header claims. A hostile header is refused here
// instead of becoming a gigabyte allocation there.
func checkPages(pf *parquet.File, meta format.ColumnMetaData, want int64) error {
	start := meta.DataPageOffset
	if meta.DictionaryPageOffset > 0 && meta.DictionaryPageOffset < start {
		start = meta.DictionaryPageOffset
	}
	end := start + meta.TotalCompressedSize
	if start < 4 || meta.TotalCompressedSize < 0 || end > pf.Size() {
		return fmt.Errorf("column chunk at %d+%d lies outside the file", start, meta.TotalCompressedSize)
	}
	var proto thrift.CompactProtocol
	buf := make([]byte, maxPageHeader)
	var values int64
	for off := start; off < end && values < want; {
		n, err := pf.ReadAt(buf[:min(int64(len(buf)), end-off)], off)
		if n == 0 && err != nil {
			return fmt.Errorf("page header at %d: %w", off, err)
		}
		br := proto.NewReaderFromBytes(buf[:n])
		var h format.PageHeader
		if err := thrift.NewDecoder(br).Decode(&h); err != nil {
			return fmt.Errorf("page header at %d: %w", off, err)
		}
		if h.CompressedPageSize < 0 || h.UncompressedPageSize < 0 ||
			int64(h.CompressedPageSize) > maxParquetChunk || int64(h.UncompressedPageSize) > maxParquetChunk {
			return fmt.Errorf("page at %d declares %d bytes (%d uncompressed), over the %d MiB sampling budget", off, h.CompressedPageSize, h.UncompressedPageSize, maxParquetChunk>>20)
		}
		off += int64(br.BytesRead()) + int64(h.CompressedPageSize)
		if off > end {
			return fmt.Errorf("page runs past its column chunk")
		}
		switch {
		case h.DataPageHeader.Valid:
			values += int64(h.DataPageHeader.V.NumValues)
		case h.DataPageHeaderV2.Valid:
			values += int64(h.DataPageHeaderV2.V.NumValues)
		}
	}
	return nil
}

func sampleColumn(chunk parquet.ColumnChunk, name string, maxRows int64, s *pii.Sampler, buf []parquet.Value) (int64, error) {
	pages := chunk.Pages()
	defer pages.Close()
	var n int64
	for n < maxRows {
		page, err := pages.ReadPage()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		vr := page.Values()
		for n < maxRows {
			m, err := vr.ReadValues(buf[:min(int64(len(buf)), maxRows-n)])
			for _, v := range buf[:m] {
				if !v.IsNull() {
					s.Value(name, v.String())
				}
			}
			n += int64(m)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				parquet.Release(page)
				return n, err
			}
		}
		parquet.Release(page)
	}
	return n, nil
}

// maxTFRecords bounds the records counted per TFRecord file; each costs
// one 12-byte read.
const maxTFRecords = 1_000_000

// inspectTFRecord counts records by their framing (length, masked CRC of
// the length, data, masked CRC of the data), seeking over the data.
func inspectTFRecord(f io.ReaderAt, size int64, rel string, out *facts) {
	var hdr [12]byte
	off := int64(0)
	n := int64(0)
	for off < size {
		if n >= maxTFRecords {
			out.find("tfrecord.not_counted", "low", "%s: more than %d records; counting stopped", rel, maxTFRecords)
			break
		}
		if _, err := f.ReadAt(hdr[:], off); err != nil || binary.LittleEndian.Uint32(hdr[8:]) != maskedCRC(hdr[:8]) {
			out.find("tfrecord.invalid", "medium", "%s: record %d at byte %d has no valid header (truncated, or not TFRecord)", rel, n, off)
			break
		}
		l := binary.LittleEndian.Uint64(hdr[:8])
		next := off + 12 + int64(l) + 4
		if l > uint64(size) || next > size {
			out.find("tfrecord.invalid", "medium", "%s: record %d at byte %d runs past the end of the file (truncated)", rel, n, off)
			break
		}
		n++
		off = next
	}
	out.Rows = n
}

// maxNpzMembers bounds the arrays listed in an npz.
const maxNpzMembers = 1000

// inspectNpz lists an npz (a zip of npy files) by its central directory
// and reads each member's npy header: names become columns, the first
// member's first dimension the rows. Compressed members are inflated only
// as far as the header.
func inspectNpz(f io.ReaderAt, size int64, rel string, out *facts) {
	zr, err := zip.NewReader(f, size)
	if err != nil {
		out.find("npz.invalid", "medium", "%s: %v", rel, err)
		return
	}
	for i, m := range zr.File {
		if i >= maxNpzMembers {
			out.find("npz.not_listed", "low", "%s: more than %d members; listing stopped", rel, maxNpzMembers)
			break
		}
		name := strings.TrimSuffix(m.Name, ".npy")
		out.Columns = append(out.Columns, capString(name, 128))
		rc, err := m.Open()
		if err != nil {
			out.find("npz.invalid", "medium", "%s: member %s: %v", rel, capString(m.Name, 100), err)
			continue
		}
		head, err := io.ReadAll(io.LimitReader(rc, maxNpyHeader+12))
		rc.Close()
		if err != nil && len(head) == 0 {
			out.find("npz.invalid", "medium", "%s: member %s: %v", rel, capString(m.Name, 100), err)
			continue
		}
		var member facts
		inspectNpy(bytes.NewReader(head), rel+":"+m.Name, &member)
		for _, fd := range member.Findings {
			out.find(fd.Rule, fd.Severity, "%s", fd.Detail)
		}
		if i == 0 {
			out.Rows, out.Shape, out.DType = member.Rows, member.Shape, member.DType
		}
	}
	out.Columns = capList(out.Columns, maxColumnsKept)
}

var (
	npyDescrRE = regexp.MustCompile(`'descr'\s*:\s*'([^']{1,32})'`)
	npyShapeRE = regexp.MustCompile(`'shape'\s*:\s*\(([0-9,\s]{0,256})\)`)
)

// inspectNpy reads an npy header: its dtype and shape, never the array.
func inspectNpy(f io.ReaderAt, rel string, out *facts) {
	var pre [12]byte
	if _, err := f.ReadAt(pre[:], 0); err != nil {
		out.find("npy.truncated", "medium", "%s: header cut short", rel)
		return
	}
	var hlen, off int64
	switch pre[6] {
	case 1:
		hlen, off = int64(binary.LittleEndian.Uint16(pre[8:10])), 10
	case 2, 3:
		hlen, off = int64(binary.LittleEndian.Uint32(pre[8:12])), 12
	default:
		out.find("npy.invalid", "low", "%s: unknown npy version %d", rel, pre[6])
		return
	}
	if hlen > maxNpyHeader {
		out.find("npy.invalid", "low", "%s: header of %d bytes is over the limit", rel, hlen)
		return
	}
	h := make([]byte, hlen)
	if _, err := f.ReadAt(h, off); err != nil {
		out.find("npy.truncated", "medium", "%s: header cut short", rel)
		return
	}
	if m := npyDescrRE.FindSubmatch(h); m != nil {
		out.DType = string(m[1])
	}
	m := npyShapeRE.FindSubmatch(h)
	if m == nil || out.DType == "" {
		out.find("npy.invalid", "low", "%s: header has no dtype or shape", rel)
		return
	}
	for _, d := range strings.Split(string(m[1]), ",") {
		if d = strings.TrimSpace(d); d != "" {
			n, err := strconv.ParseInt(d, 10, 64)
			if err != nil {
				out.find("npy.invalid", "low", "%s: shape %q", rel, m[1])
				return
			}
			out.Shape = append(out.Shape, n)
		}
	}
	if len(out.Shape) > 0 {
		out.Rows = out.Shape[0]
	}
}

// inspectTar lists a tar's headers without reading member contents (the
// reader seeks over them), up to a member and byte budget. WebDataset
// shards are told by their member names: samples keyed by the part before
// the first dot, several extensions per key.
func inspectTar(f io.ReadSeeker, size int64, rel string, out *facts) {
	// The file was just read to its end for the digest.
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		out.find("tar.unreadable", "medium", "%s: %v", rel, err)
		return
	}
	tr := tar.NewReader(&seekLimiter{f: f, limit: maxTarHeaderRead})
	var declared int64
	keys := map[string]int{}
	exts := map[string]bool{}
	members := 0
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if errors.Is(err, errHeaderBudget) {
				out.find("tar.not_listed", "low", "%s: listing stopped after %d MiB of headers", rel, maxTarHeaderRead>>20)
			} else {
				out.find("tar.invalid", "medium", "%s: after %d member(s): %v", rel, members, err)
			}
			break
		}
		members++
		if members > maxTarMembers {
			out.find("tar.not_listed", "low", "%s: more than %d members; listing stopped", rel, maxTarMembers)
			break
		}
		if h.Typeflag == tar.TypeReg || h.Typeflag == tar.TypeGNUSparse {
			declared += max(h.Size, 0)
			base := filepath.Base(h.Name)
			if key, ext, ok := strings.Cut(base, "."); ok && key != "" {
				keys[filepath.Join(filepath.Dir(h.Name), key)]++
				exts[strings.ToLower(ext)] = true
			}
		}
		if strings.HasPrefix(h.Name, "/") || strings.Contains("/"+h.Name+"/", "/../") {
			out.find("tar.unsafe_path", "high", "%s: member %q would be written outside the extraction folder", rel, capString(h.Name, 200))
		}
		if declared > size*tarBombRatio && declared > 1<<30 {
			out.find("tar.bomb", "high", "%s: members declare %d bytes, %d times the archive's %d bytes; extracting it could fill the disk", rel, declared, declared/max(size, 1), size)
			break
		}
	}
	out.Rows = int64(members)
	multi := 0
	for _, n := range keys {
		if n > 1 {
			multi++
		}
	}
	out.WebDataset = len(keys) > 0 && multi*2 >= len(keys) && len(exts) >= 2
}

// Bounds for compressed tars: members cannot be skipped without
// decompressing them, so a budget of output caps the work.
const (
	maxTarGzOutput = 256 << 20
	gzipBombRatio  = 200
)

// inspectTarGz lists a gzip-compressed tar within maxTarGzOutput bytes
// of decompressed output. Reaching that budget at more than gzipBombRatio
// times the compressed bytes consumed is a decompression bomb: real data
// compresses a few times, not hundreds.
func inspectTarGz(f io.ReadSeeker, size int64, rel string, out *facts) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		out.find("tar.unreadable", "medium", "%s: %v", rel, err)
		return
	}
	in := &countingFile{f: f}
	zr, err := gzip.NewReader(in)
	if err != nil {
		out.find("tar.invalid", "medium", "%s: %v", rel, err)
		return
	}
	defer zr.Close()
	lr := &io.LimitedReader{R: zr, N: maxTarGzOutput}
	tr := tar.NewReader(lr)
	members := 0
	for members < maxTarMembers {
		_, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if lr.N > 0 {
				out.find("tar.invalid", "medium", "%s: after %d member(s): %v", rel, members, err)
			}
			break
		}
		members++
	}
	out.Rows = int64(members)
	if lr.N <= 0 {
		produced := int64(maxTarGzOutput)
		if in.n > 0 && produced/in.n >= gzipBombRatio {
			out.find("tar.bomb", "high", "%s: %d compressed bytes expanded to more than %d bytes (over %d:1); extracting it could fill the disk", rel, in.n, produced, gzipBombRatio)
		} else {
			out.find("tar.not_listed", "low", "%s: listing stopped after %d MiB of decompressed data", rel, maxTarGzOutput>>20)
		}
	}
}

type countingFile struct {
	f io.Reader
	n int64
}

func (c *countingFile) Read(p []byte) (int, error) {
	n, err := c.f.Read(p)
	c.n += int64(n)
	return n, err
}

var errHeaderBudget = errors.New("header budget spent")

// seekLimiter lets archive/tar seek over member bodies (so they are not
// read) while counting what it does read against a budget.
type seekLimiter struct {
	f     io.ReadSeeker
	limit int64
	read  int64
}

func (s *seekLimiter) Read(p []byte) (int, error) {
	if s.read >= s.limit {
		return 0, errHeaderBudget
	}
	if int64(len(p)) > s.limit-s.read {
		p = p[:s.limit-s.read]
	}
	n, err := s.f.Read(p)
	s.read += int64(n)
	return n, err
}

func (s *seekLimiter) Seek(off int64, whence int) (int64, error) { return s.f.Seek(off, whence) }

func capList(xs []string, n int) []string {
	if len(xs) > n {
		xs = xs[:n]
	}
	for i, x := range xs {
		xs[i] = capString(x, 128)
	}
	return xs
}

func capString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
