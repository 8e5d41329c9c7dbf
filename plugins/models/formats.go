package models

import (
	"archive/zip"
	"bufio"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"math/bits"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/annexa/annexa/plugins/models/pickle"
)

// analyzerVersion changes whenever Analyze would say something different
// about the same bytes; it invalidates cached analyses.
const analyzerVersion = 7

// Limits bound the analysis of one file.
type Limits struct {
	// MaxScanBytes caps the bytes of pickle data walked per file (over all
	// its pickles and zip members).
	MaxScanBytes int64
}

// Bounds on what a header may claim before we refuse to believe it.
const (
	maxSafetensorsHeader = 32 << 20
	maxNpyHeader         = 1 << 20
	maxGGUFCount         = 1 << 20
	maxGGUFKey           = 64 << 10
	maxGGUFMeta          = 256 << 20
	maxGGUFDims          = 8
	maxZipMembers        = 1 << 16
	maxMetadataEntries   = 64
	maxMetadataValue     = 256
	maxDtypes            = 32
	maxListed            = 64
)

// Analysis is what the content of one file says. Its fields become the
// format-specific attributes of the model evidence.
type Analysis struct {
	Format        string            `json:"format"`
	Parameters    *uint64           `json:"parameters,omitempty"`
	Dtypes        []string          `json:"dtypes"`
	Architecture  string            `json:"architecture,omitempty"`
	License       string            `json:"license"`
	Findings      []pickle.Finding  `json:"findings"`
	Globals       []pickle.Global   `json:"globals,omitempty"`
	TensorCount   *int              `json:"tensor_count,omitempty"`
	Metadata      map[string]string `json:"metadata,omitempty"`
	ModelName     string            `json:"model_name,omitempty"`
	GGUFVersion   int               `json:"gguf_version,omitempty"`
	FileType      string            `json:"file_type,omitempty"`
	ContextLength uint64            `json:"context_length,omitempty"`
	ChatTemplate  *bool             `json:"has_chat_template,omitempty"`
	Shape         []uint64          `json:"shape,omitempty"`
	PickleMembers []string          `json:"pickle_members,omitempty"`
	Protocol      *int              `json:"pickle_protocol,omitempty"`
	Compression   string            `json:"compression,omitempty"`
	// Datasets are the names of the datasets the model was trained on, as
	// GGUF general.datasets or the model card's front matter give them.
	Datasets []string `json:"datasets,omitempty"`
	// ONNX
	IRVersion       *int64           `json:"ir_version,omitempty"`
	Producer        string           `json:"producer,omitempty"`
	ProducerVersion string           `json:"producer_version,omitempty"`
	Opsets          map[string]int64 `json:"opsets,omitempty"`
	CustomDomains   []string         `json:"custom_op_domains,omitempty"`
	ExternalData    []string         `json:"external_data,omitempty"`
	// Keras
	KerasVersion string `json:"keras_version,omitempty"`
	Backend      string `json:"backend,omitempty"`
}

func (a *Analysis) add(rule string, sev pickle.Severity, format string, args ...any) {
	a.Findings = append(a.Findings, pickle.Finding{Rule: rule, Severity: sev, Detail: fmt.Sprintf(format, args...)})
}

func (a *Analysis) parseError(err error) {
	a.add("parse.error", pickle.Suspicious, "%s: %v", a.Format, err)
}

func (a *Analysis) dtype(d string) {
	if !slices.Contains(a.Dtypes, d) && len(a.Dtypes) < maxDtypes {
		a.Dtypes = append(a.Dtypes, d)
	}
}

// Unsafe says whether any finding is critical or high.
func (a *Analysis) Unsafe() bool {
	for _, f := range a.Findings {
		if f.Severity.Rank() >= pickle.High.Rank() {
			return true
		}
	}
	return false
}

// mergePickle adds a pickle scan's globals and findings, prefixing where
// they came from.
func (a *Analysis) mergePickle(where string, res pickle.Result) {
	for _, g := range res.Globals {
		if d, ok := torchStorageDtypes[g.Module+"."+g.Name]; ok {
			a.dtype(d)
		}
		i := slices.IndexFunc(a.Globals, func(h pickle.Global) bool { return h.Module == g.Module && h.Name == g.Name })
		if i >= 0 {
			a.Globals[i].Count += g.Count
		} else if len(a.Globals) < 4*maxListed {
			a.Globals = append(a.Globals, g)
		}
	}
	for _, f := range res.Findings {
		if where != "" {
			f.Detail = where + ": " + f.Detail
		}
		a.Findings = append(a.Findings, f)
	}
	if a.Protocol == nil || res.Protocol > *a.Protocol {
		p := res.Protocol
		a.Protocol = &p
	}
}

// torchStorageDtypes names the dtype each legacy storage class holds, so
// a PyTorch checkpoint's dtypes come from the storages it rebuilds.
var torchStorageDtypes = map[string]string{
	"torch.FloatStorage": "float32", "torch.HalfStorage": "float16", "torch.BFloat16Storage": "bfloat16",
	"torch.DoubleStorage": "float64", "torch.LongStorage": "int64", "torch.IntStorage": "int32",
	"torch.ShortStorage": "int16", "torch.CharStorage": "int8", "torch.ByteStorage": "uint8",
	"torch.BoolStorage": "bool", "torch.ComplexFloatStorage": "complex64", "torch.ComplexDoubleStorage": "complex128",
}

var torchDtypeSize = map[string]uint64{
	"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8, "int64": 8, "int32": 4, "int16": 2, "int8": 1,
	"uint8": 1, "bool": 1, "complex64": 8, "complex128": 16,
}

// sniffLen is how much of a file's start Sniff and compression read: the
// longest magic is a joblib ZF header (22 bytes).
const sniffLen = 32

// Sniff names the container by its first bytes, or "" when it is none of
// ours. "pickle0" is a maybe: a protocol 0 or 1 pickle has no magic, so
// only walking it decides.
func Sniff(head []byte) string {
	switch {
	case bytes.HasPrefix(head, []byte("GGUF")):
		return "gguf"
	case bytes.HasPrefix(head, []byte("\x93NUMPY")):
		return "numpy"
	case bytes.HasPrefix(head, []byte("PK\x03\x04")), bytes.HasPrefix(head, []byte("PK\x05\x06")):
		return "zip"
	case sniffONNX(head):
		return "onnx"
	case bytes.HasPrefix(head, hdf5Magic):
		return "hdf5"
	case len(head) >= 10 && head[8] == '{' && (head[9] == '"' || head[9] == '}' || head[9] == ' ' || head[9] == '\n'):
		return "safetensors"
	case len(head) >= 2 && head[0] == 0x80 && head[1] <= 5:
		return "pickle"
	case len(head) >= 1 && strings.IndexByte("(c]})SVi", head[0]) >= 0:
		return "pickle0"
	}
	return ""
}

// legacyTorchMagic opens a PyTorch file saved with
// _use_new_zipfile_serialization=False: protocol 2, LONG1 of the magic number.
var legacyTorchMagic = []byte("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19")

// Analyze reads what a model file says about itself. ok is false when the
// content is not a model format we know.
func Analyze(r io.ReaderAt, size int64, lim Limits) (a Analysis, ok bool) {
	if lim.MaxScanBytes <= 0 {
		lim.MaxScanBytes = 1 << 30
	}
	head := make([]byte, sniffLen)
	n, _ := r.ReadAt(head, 0)
	head = head[:n]
	a.Dtypes = []string{}
	a.Findings = []pickle.Finding{}
	if c := compression(head); c != "" {
		if ca, ok := analyzeCompressed(c, io.NewSectionReader(r, 0, size), lim); ok {
			return ca, true
		}
	}
	kind := Sniff(head)
	if kind == "safetensors" && head[0] == 0x80 && head[1] <= 5 &&
		binary.LittleEndian.Uint64(head[:8]) > uint64(max(size-8, 0)) {
		// Both magics fit; a header longer than the file settles it.
		kind = "pickle"
	}
	switch kind {
	case "gguf":
		a.Format = "gguf"
		analyzeGGUF(&a, io.NewSectionReader(r, 0, size), size)
	case "numpy":
		a.Format = "numpy"
		analyzeNpy(&a, "", io.NewSectionReader(r, 0, size), size, lim.MaxScanBytes)
	case "zip":
		return analyzeZip(a, r, size, lim)
	case "onnx":
		if !analyzeONNX(&a, r, size) {
			return Analysis{}, false
		}
	case "hdf5":
		if !analyzeH5(&a, r, size) {
			return Analysis{}, false
		}
	case "safetensors":
		a.Format = "safetensors"
		analyzeSafetensors(&a, r, size)
	case "pickle", "pickle0":
		res := pickle.Scan(io.NewSectionReader(r, 0, size), pickle.Limits{MaxBytes: lim.MaxScanBytes})
		if head[0] != 0x80 && !isPickle0(res) {
			return a, false
		}
		a.Format = "pickle"
		if bytes.HasPrefix(head, legacyTorchMagic[:min(len(head), len(legacyTorchMagic))]) && len(head) >= len(legacyTorchMagic) {
			a.Format = "pytorch-legacy"
		}
		a.mergePickle("", res)
		if a.Format == "pickle" {
			joblibFormat(&a, res)
		}
		if a.Format == "pytorch-legacy" && res.Err == nil {
			legacyTorchParameters(&a, r, res.BytesRead, size)
		}
	default:
		return a, false
	}
	return a, true
}

// maxLegacyStorages bounds the walk over a legacy file's storages.
const maxLegacyStorages = 1 << 20

// legacyTorchParameters counts a legacy PyTorch file's parameters from
// the storages after its pickles: torch's _legacy_save writes each as its
// element count (int64, little-endian) and then its bytes. With one dtype
// the element size is known, and the count stands only if the walk ends
// exactly at the end of the file. Like the zip format's count, it is exact
// for a state_dict whose tensors do not share storage.
func legacyTorchParameters(a *Analysis, r io.ReaderAt, off, size int64) {
	if len(a.Dtypes) != 1 {
		return
	}
	es, ok := torchDtypeSize[a.Dtypes[0]]
	if !ok {
		return
	}
	var total uint64
	var n [8]byte
	for i := 0; off < size; i++ {
		if i == maxLegacyStorages || size-off < 8 {
			return
		}
		if _, err := r.ReadAt(n[:], off); err != nil {
			return
		}
		numel := binary.LittleEndian.Uint64(n[:])
		hi, bytes := bits.Mul64(numel, es)
		if hi != 0 || bytes > uint64(size-off-8) {
			return
		}
		off += 8 + int64(bytes)
		total += numel // cannot overflow: numel*es fits in the file
	}
	a.Parameters = &total
}

// isPickle0 decides whether a stream without PROTO is a pickle: it ended
// one cleanly, or it imported something and called it before failing
// (Python would have run that call before raising), or it names a critical
// or high import at all (fail closed: a broken bomb is still a bomb).
func isPickle0(res pickle.Result) bool {
	unknown := slices.ContainsFunc(res.Findings, func(f pickle.Finding) bool { return f.Rule == "pickle.global.unknown" })
	return res.Pickles > 0 || ((len(res.Globals) > 0 || unknown) && res.Calls > 0) ||
		slices.ContainsFunc(res.Globals, func(g pickle.Global) bool { return g.Severity.Rank() >= pickle.High.Rank() })
}

// --- safetensors ---

var safetensorsDtypeSize = map[string]uint64{
	"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "F8_E8M0": 1,
	"I16": 2, "U16": 2, "F16": 2, "BF16": 2,
	"I32": 4, "U32": 4, "F32": 4,
	"I64": 8, "U64": 8, "F64": 8,
}

type stTensor struct {
	Dtype       string   `json:"dtype"`
	Shape       []uint64 `json:"shape"`
	DataOffsets []uint64 `json:"data_offsets"`
}

// stEntry is one tensor of a safetensors header; bad when its value is
// not a tensor description.
type stEntry struct {
	name string
	t    stTensor
	bad  bool
}

// decodeSafetensorsHeader reads a header into its tensors, sorted by name,
// and its __metadata__ (mdErr when that is not a map of strings). A plain
// header, as every writer makes it, takes the quick reader
// (safetensors_fast.go); anything else encoding/json, whose reading the
// quick one matches wherever it answers.
func decodeSafetensorsHeader(hdr []byte) (entries []stEntry, md map[string]string, mdErr, err error) {
	if entries, md, ok := quickSafetensorsHeader(hdr); ok {
		return entries, md, nil, nil
	}
	return slowSafetensorsHeader(hdr)
}

func slowSafetensorsHeader(hdr []byte) (entries []stEntry, md map[string]string, mdErr, err error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(hdr, &raw); err != nil {
		return nil, nil, nil, err
	}
	for _, name := range slices.Sorted(maps.Keys(raw)) {
		v := raw[name]
		if name == "__metadata__" {
			if err := json.Unmarshal(v, &md); err != nil {
				md, mdErr = nil, err
			}
			continue
		}
		var t stTensor
		err := json.Unmarshal(v, &t)
		entries = append(entries, stEntry{name: name, t: t, bad: err != nil || len(t.DataOffsets) != 2})
	}
	return entries, md, mdErr, nil
}

func analyzeSafetensors(a *Analysis, r io.ReaderAt, size int64) {
	var lenb [8]byte
	if _, err := r.ReadAt(lenb[:], 0); err != nil {
		a.parseError(fmt.Errorf("read header length: %w", err))
		return
	}
	hlen := binary.LittleEndian.Uint64(lenb[:])
	if hlen > maxSafetensorsHeader || hlen > uint64(size-8) {
		a.add("safetensors.header_length", pickle.Suspicious, "header length %d is larger than the file (%d bytes) or the %d-byte limit", hlen, size, maxSafetensorsHeader)
		return
	}
	hdr := make([]byte, hlen)
	if _, err := r.ReadAt(hdr, 8); err != nil {
		a.parseError(fmt.Errorf("read header: %w", err))
		return
	}
	entries, md, mdErr, err := decodeSafetensorsHeader(hdr)
	if err != nil {
		a.parseError(fmt.Errorf("header is not a JSON object: %w", err))
		return
	}
	type span struct {
		name       string
		begin, end uint64
	}
	var spans []span
	var params uint64
	overflow := false
	if mdErr != nil {
		a.add("safetensors.metadata", pickle.Suspicious, "__metadata__ is not a map of strings: %v", mdErr)
	}
	if md != nil {
		for _, k := range slices.Sorted(maps.Keys(md)) {
			if len(a.Metadata) >= maxMetadataEntries {
				break
			}
			if a.Metadata == nil {
				a.Metadata = map[string]string{}
			}
			a.Metadata[clip(k, maxMetadataValue)] = clip(md[k], maxMetadataValue)
		}
		if l := md["license"]; l != "" {
			a.License = clip(l, 128)
		}
	}
	for _, en := range entries {
		name, t := en.name, en.t
		if en.bad {
			a.add("safetensors.tensor", pickle.Suspicious, "tensor %q has no valid dtype, shape and data_offsets", clip(name, 128))
			continue
		}
		a.dtype(t.Dtype)
		numel := uint64(1)
		for _, d := range t.Shape {
			hi, lo := bits.Mul64(numel, d)
			if hi != 0 {
				overflow = true
			}
			numel = lo
		}
		var carry uint64
		params, carry = bits.Add64(params, numel, 0)
		overflow = overflow || carry != 0
		b, e := t.DataOffsets[0], t.DataOffsets[1]
		if b > e {
			a.add("safetensors.range", pickle.Suspicious, "tensor %q ends (%d) before it begins (%d)", clip(name, 128), e, b)
			continue
		}
		if es, ok := safetensorsDtypeSize[t.Dtype]; ok {
			hi, want := bits.Mul64(numel, es)
			if hi != 0 || want != e-b {
				a.add("safetensors.size_mismatch", pickle.Suspicious, "tensor %q: shape %v of %s needs %d bytes, data_offsets give %d", clip(name, 128), t.Shape, t.Dtype, want, e-b)
			}
		} else {
			a.add("safetensors.dtype", pickle.Suspicious, "tensor %q has unknown dtype %q", clip(name, 128), clip(t.Dtype, 32))
		}
		spans = append(spans, span{name, b, e})
	}
	n := len(spans)
	a.TensorCount = &n
	if !overflow {
		a.Parameters = &params
	} else {
		a.add("safetensors.shape", pickle.Suspicious, "parameter count overflows 64 bits")
	}
	slices.SortFunc(spans, func(x, y span) int {
		if x.begin != y.begin {
			if x.begin < y.begin {
				return -1
			}
			return 1
		}
		return strings.Compare(x.name, y.name)
	})
	dataLen := uint64(size) - 8 - hlen
	var at uint64
	overlaps, gaps := 0, 0
	for _, s := range spans {
		switch {
		case s.begin < at:
			if overlaps == 0 {
				a.add("safetensors.overlap", pickle.Suspicious, "tensor %q [%d,%d) overlaps the tensor before it", clip(s.name, 128), s.begin, s.end)
			}
			overlaps++
		case s.begin > at:
			if gaps == 0 {
				a.add("safetensors.gap", pickle.Suspicious, "bytes [%d,%d) before tensor %q belong to no tensor", at, s.begin, clip(s.name, 128))
			}
			gaps++
		}
		at = max(at, s.end)
	}
	switch {
	case at > dataLen:
		a.add("safetensors.out_of_range", pickle.Suspicious, "tensors need %d data bytes; the file has %d", at, dataLen)
	case at < dataLen:
		a.add("safetensors.trailing_data", pickle.Suspicious, "%d data bytes after the last tensor belong to no tensor", dataLen-at)
	}
}

func clip(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	return strings.ToValidUTF8(s, "?")
}

// --- GGUF ---

// countingReader counts bytes and stops at a budget.
type countingReader struct {
	r      *bufio.Reader
	n, max int64
}

var errBudget = errors.New("metadata larger than the limit")

func (c *countingReader) read(b []byte) error {
	if c.n+int64(len(b)) > c.max {
		return errBudget
	}
	m, err := io.ReadFull(c.r, b)
	c.n += int64(m)
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

func (c *countingReader) skip(n uint64) error {
	if n > uint64(c.max-c.n) {
		return errBudget
	}
	m, err := c.r.Discard(int(n))
	c.n += int64(m)
	if err != nil {
		return io.ErrUnexpectedEOF
	}
	return nil
}

func (c *countingReader) u32() (uint32, error) {
	var b [4]byte
	err := c.read(b[:])
	return binary.LittleEndian.Uint32(b[:]), err
}

func (c *countingReader) u64() (uint64, error) {
	var b [8]byte
	err := c.read(b[:])
	return binary.LittleEndian.Uint64(b[:]), err
}

// str reads a GGUF string: kept when at most keep bytes, else skipped.
func (c *countingReader) str(keep uint64) (string, uint64, error) {
	n, err := c.u64()
	if err != nil {
		return "", 0, err
	}
	if n > keep {
		return "", n, c.skip(n)
	}
	b := make([]byte, n)
	err = c.read(b)
	return string(b), n, err
}

var ggufScalarSize = map[uint32]uint64{0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}

var ggmlTypes = map[uint32]string{
	0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1", 8: "Q8_0", 9: "Q8_1", 10: "Q2_K", 11: "Q3_K",
	12: "Q4_K", 13: "Q5_K", 14: "Q6_K", 15: "Q8_K", 16: "IQ2_XXS", 17: "IQ2_XS", 18: "IQ3_XXS", 19: "IQ1_S",
	20: "IQ4_NL", 21: "IQ3_S", 22: "IQ2_S", 23: "IQ4_XS", 24: "I8", 25: "I16", 26: "I32", 27: "I64", 28: "F64",
	29: "IQ1_M", 30: "BF16", 34: "TQ1_0", 35: "TQ2_0", 39: "MXFP4",
}

var ggufFileTypes = map[uint64]string{
	0: "ALL_F32", 1: "MOSTLY_F16", 2: "MOSTLY_Q4_0", 3: "MOSTLY_Q4_1", 7: "MOSTLY_Q8_0", 8: "MOSTLY_Q5_0",
	9: "MOSTLY_Q5_1", 10: "MOSTLY_Q2_K", 11: "MOSTLY_Q3_K_S", 12: "MOSTLY_Q3_K_M", 13: "MOSTLY_Q3_K_L",
	14: "MOSTLY_Q4_K_S", 15: "MOSTLY_Q4_K_M", 16: "MOSTLY_Q5_K_S", 17: "MOSTLY_Q5_K_M", 18: "MOSTLY_Q6_K",
	19: "MOSTLY_IQ2_XXS", 20: "MOSTLY_IQ2_XS", 24: "MOSTLY_IQ1_S", 25: "MOSTLY_IQ4_NL", 26: "MOSTLY_IQ3_S",
	30: "MOSTLY_IQ4_XS", 32: "MOSTLY_BF16",
}

func analyzeGGUF(a *Analysis, r io.Reader, size int64) {
	c := &countingReader{r: bufio.NewReaderSize(r, 64<<10), max: min(size, maxGGUFMeta)}
	if err := c.skip(4); err != nil {
		a.parseError(err)
		return
	}
	ver, err := c.u32()
	if err != nil {
		a.parseError(err)
		return
	}
	a.GGUFVersion = int(ver)
	if ver != 2 && ver != 3 {
		a.parseError(fmt.Errorf("version %d is not supported (2 and 3 are)", ver))
		return
	}
	nt, err := c.u64()
	if err != nil {
		a.parseError(err)
		return
	}
	nkv, err := c.u64()
	if err != nil {
		a.parseError(err)
		return
	}
	if nt > maxGGUFCount || nkv > maxGGUFCount || nt*24 > uint64(size) || nkv*12 > uint64(size) {
		a.parseError(fmt.Errorf("header claims %d tensors and %d metadata keys, more than a %d-byte file can hold or the limit %d", nt, nkv, size, maxGGUFCount))
		return
	}
	for range nkv {
		key, kl, err := c.str(maxGGUFKey)
		if err == nil && kl > maxGGUFKey {
			err = fmt.Errorf("metadata key of %d bytes", kl)
		}
		if err != nil {
			a.parseError(fmt.Errorf("metadata key: %w", err))
			return
		}
		typ, err := c.u32()
		if err != nil {
			a.parseError(err)
			return
		}
		if err := ggufValue(a, c, key, typ, 0); err != nil {
			a.parseError(fmt.Errorf("metadata %q: %w", clip(key, 128), err))
			return
		}
	}
	var params uint64
	overflow := false
	for i := range nt {
		_, nl, err := c.str(0)
		if err == nil && nl > maxGGUFKey {
			err = fmt.Errorf("tensor name of %d bytes", nl)
		}
		if err != nil {
			a.parseError(fmt.Errorf("tensor %d: %w", i, err))
			return
		}
		nd, err := c.u32()
		if err == nil && nd > maxGGUFDims {
			err = fmt.Errorf("%d dimensions", nd)
		}
		if err != nil {
			a.parseError(fmt.Errorf("tensor %d: %w", i, err))
			return
		}
		numel := uint64(1)
		for range nd {
			d, err := c.u64()
			if err != nil {
				a.parseError(fmt.Errorf("tensor %d: %w", i, err))
				return
			}
			hi, lo := bits.Mul64(numel, d)
			overflow = overflow || hi != 0
			numel = lo
		}
		typ, err := c.u32()
		if err != nil {
			a.parseError(err)
			return
		}
		if _, err := c.u64(); err != nil { // offset
			a.parseError(err)
			return
		}
		if name, ok := ggmlTypes[typ]; ok {
			a.dtype(name)
		} else {
			a.dtype("type" + strconv.FormatUint(uint64(typ), 10))
		}
		var carry uint64
		params, carry = bits.Add64(params, numel, 0)
		overflow = overflow || carry != 0
	}
	n := int(nt)
	a.TensorCount = &n
	if !overflow {
		a.Parameters = &params
	} else {
		a.add("gguf.shape", pickle.Suspicious, "parameter count overflows 64 bits")
	}
	if a.ChatTemplate == nil {
		f := false
		a.ChatTemplate = &f
	}
}

func ggufValue(a *Analysis, c *countingReader, key string, typ uint32, depth int) error {
	if sz, ok := ggufScalarSize[typ]; ok {
		var b [8]byte
		if err := c.read(b[:sz]); err != nil {
			return err
		}
		v := binary.LittleEndian.Uint64(b[:])
		switch {
		case key == "general.file_type":
			if s, ok := ggufFileTypes[v]; ok {
				a.FileType = s
			} else {
				a.FileType = "type" + strconv.FormatUint(v, 10)
			}
		case strings.HasSuffix(key, ".context_length") && depth == 0:
			a.ContextLength = v
		}
		return nil
	}
	switch typ {
	case 8: // string
		s, n, err := c.str(1024)
		if err != nil {
			return err
		}
		switch {
		case key == "tokenizer.chat_template" || strings.HasPrefix(key, "tokenizer.chat_template."):
			t := n > 0
			a.ChatTemplate = &t // presence only: never rendered, never stored
		case key == "general.datasets" && depth == 1 && n <= 1024:
			if len(a.Datasets) < maxListed && s != "" {
				a.Datasets = append(a.Datasets, clip(s, 256))
			}
		case depth > 0:
		case key == "general.architecture":
			a.Architecture = clip(s, 128)
		case key == "general.name":
			a.ModelName = clip(s, 256)
		case key == "general.license":
			a.License = clip(s, 128)
		}
		return nil
	case 9: // array
		if depth >= 3 {
			return errors.New("arrays nested too deep")
		}
		et, err := c.u32()
		if err != nil {
			return err
		}
		count, err := c.u64()
		if err != nil {
			return err
		}
		if count > uint64(c.max-c.n) {
			return fmt.Errorf("array of %d elements cannot fit in the file", count)
		}
		if sz, ok := ggufScalarSize[et]; ok {
			return c.skip(count * sz)
		}
		for range count {
			if err := ggufValue(a, c, key, et, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("unknown value type %d", typ)
}

// --- NumPy ---

var (
	npyDescr  = regexp.MustCompile(`['"]descr['"]\s*:\s*(?:'([^']*)'|"([^"]*)"|(\[))`)
	npyShape  = regexp.MustCompile(`['"]shape['"]\s*:\s*\(([^)]*)\)`)
	npyObject = regexp.MustCompile(`['"][|<>=]?O\d*['"]`)
)

func analyzeNpy(a *Analysis, where string, r io.Reader, size int64, maxScan int64) {
	br := bufio.NewReader(r)
	pre := make([]byte, 8)
	if _, err := io.ReadFull(br, pre); err != nil {
		a.parseError(fmt.Errorf("%snpy preamble: %w", where, err))
		return
	}
	var hlen uint64
	off := int64(10)
	switch pre[6] {
	case 1:
		var b [2]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			a.parseError(fmt.Errorf("%snpy header length: %w", where, err))
			return
		}
		hlen = uint64(binary.LittleEndian.Uint16(b[:]))
	case 2, 3:
		var b [4]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			a.parseError(fmt.Errorf("%snpy header length: %w", where, err))
			return
		}
		hlen = uint64(binary.LittleEndian.Uint32(b[:]))
		off = 12
	default:
		a.parseError(fmt.Errorf("%snpy version %d is not supported", where, pre[6]))
		return
	}
	if hlen > maxNpyHeader || (size >= 0 && int64(hlen) > size-off) {
		a.parseError(fmt.Errorf("%snpy header of %d bytes is longer than the file or the %d-byte limit", where, hlen, maxNpyHeader))
		return
	}
	hdr := make([]byte, hlen)
	if _, err := io.ReadFull(br, hdr); err != nil {
		a.parseError(fmt.Errorf("%snpy header: %w", where, err))
		return
	}
	m := npyDescr.FindSubmatch(hdr)
	if m == nil {
		a.parseError(fmt.Errorf("%snpy header has no descr", where))
		return
	}
	descr := string(m[1]) + string(m[2])
	if len(m[3]) > 0 {
		descr = "structured"
	}
	a.dtype(clip(descr, 64))
	if sm := npyShape.FindSubmatch(hdr); sm != nil {
		numel := uint64(1)
		var shape []uint64
		ok := true
		for _, p := range strings.Split(string(sm[1]), ",") {
			p = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(p), "L"))
			if p == "" {
				continue
			}
			d, err := strconv.ParseUint(p, 10, 64)
			if err != nil {
				ok = false
				break
			}
			if len(shape) < 32 {
				shape = append(shape, d)
			}
			hi, lo := bits.Mul64(numel, d)
			ok = ok && hi == 0
			numel = lo
		}
		if ok && where == "" {
			a.Shape = shape
		}
		if ok {
			if a.Parameters == nil {
				a.Parameters = new(uint64)
			}
			*a.Parameters += numel
		}
	}
	if npyObject.Match(hdr) {
		// An object array is a pickle after the header: np.load with
		// allow_pickle=True unpickles it.
		a.add("numpy.object_dtype", pickle.Suspicious, "%sobject dtype: the array data is a pickle, loaded only with allow_pickle=True", where)
		res := pickle.Scan(br, pickle.Limits{MaxBytes: maxScan})
		a.mergePickle(strings.TrimSuffix(where, ": "), res)
	}
}

// --- zip (PyTorch, NumPy .npz) ---

// storageMember matches the raw tensor storages of a PyTorch zip
// (<prefix>/data/<key>): PyTorch reads them as bytes, never unpickles them.
var storageMember = regexp.MustCompile(`(^|/)data/\d+$`)

func analyzeZip(a Analysis, r io.ReaderAt, size int64, lim Limits) (Analysis, bool) {
	zr, err := zip.NewReader(r, size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		// Not a zip a loader can read; say nothing rather than guess.
		return a, false
	}
	if len(zr.File) > maxZipMembers {
		a.Format = "zip"
		a.parseError(fmt.Errorf("%d members, more than the limit %d", len(zr.File), maxZipMembers))
		return a, true
	}
	budget := lim.MaxScanBytes
	torch, torchscript, npz := false, false, 0
	var pickles int
	encrypted := 0
	var kerasConfig, kerasMeta *zip.File
	for _, f := range zr.File {
		name := f.Name
		switch name {
		case "config.json":
			kerasConfig = f
		case "metadata.json":
			kerasMeta = f
		}
		if path.Base(name) == "data.pkl" {
			torch = true
		}
		if strings.HasSuffix(name, ".py") && strings.Contains(name, "/code/") {
			torchscript = true
		}
		if f.Flags&0x1 != 0 {
			encrypted++
		}
		if storageMember.MatchString(name) || f.FileInfo().IsDir() || budget <= 0 {
			continue
		}
		rc, err := openMember(f)
		if err != nil {
			a.add("zip.member", pickle.Suspicious, "member %q cannot be read: %v", clip(name, 256), err)
			continue
		}
		crc := crc32.NewIEEE()
		lr := &io.LimitedReader{R: io.TeeReader(rc, crc), N: budget}
		br := bufio.NewReaderSize(lr, 64<<10)
		head, _ := br.Peek(16)
		kind := Sniff(head)
		switch {
		case kind == "numpy":
			npz++
			analyzeNpy(&a, fmt.Sprintf("member %s: ", clip(name, 256)), br, -1, budget)
		case kind == "pickle" || strings.HasSuffix(name, ".pkl") || (kind == "pickle0" && strings.HasSuffix(name, ".pickle")):
			if f.Flags&0x1 != 0 && kind != "pickle" {
				a.add("zip.encrypted", pickle.Suspicious, "member %q is encrypted; its content cannot be inspected", clip(name, 256))
				break
			}
			pickles++
			if len(a.PickleMembers) < maxListed {
				a.PickleMembers = append(a.PickleMembers, clip(name, 256))
			}
			res := pickle.Scan(br, pickle.Limits{MaxBytes: budget})
			a.mergePickle("member "+clip(name, 256), res)
		}
		// Read the rest so the CRC covers the member, within the budget.
		io.Copy(io.Discard, br)
		budget = lr.N
		rc.Close()
		if lr.N > 0 && crc.Sum32() != f.CRC32 && f.Flags&0x1 == 0 {
			a.add("zip.crc_mismatch", pickle.Suspicious, "member %q does not match its CRC-32 (PyTorch ignores it; other tools may read different bytes)", clip(name, 256))
		}
	}
	for _, m := range localNameMismatches(r, size) {
		a.add("zip.name_mismatch", pickle.Suspicious, "%s", m)
	}
	if torch && len(a.Dtypes) == 1 {
		// Parameters from the storages' sizes: exact for a state_dict whose
		// tensors do not share storage, which is the usual case.
		if es, ok := torchDtypeSize[a.Dtypes[0]]; ok {
			var total uint64
			for _, f := range zr.File {
				if storageMember.MatchString(f.Name) {
					total += f.UncompressedSize64
				}
			}
			n := total / es
			a.Parameters = &n
		}
	}
	switch {
	case kerasConfig != nil && kerasMeta != nil && !torch:
		a.Format = "keras-v3"
		if raw, err := readKerasMember(func() (io.ReadCloser, error) { return openMember(kerasMeta) }); err == nil {
			kerasMetadata(&a, raw)
		}
		raw, err := readKerasMember(func() (io.ReadCloser, error) { return openMember(kerasConfig) })
		if err != nil {
			a.parseError(fmt.Errorf("config.json: %w", err))
		} else {
			analyzeKerasConfig(&a, "config.json", raw)
		}
		kerasZipWeights(&a, r, size, zr)
	case torchscript:
		a.Format = "torchscript"
		a.add("torchscript.code", pickle.High, "the archive bundles TorchScript code, which torch.jit.load runs")
	case torch:
		a.Format = "pytorch-zip"
	case npz > 0 && pickles == 0:
		a.Format = "numpy-npz"
	case pickles > 0:
		a.Format = "pickle-zip"
	case encrypted > 0:
		a.Format = "zip"
		a.add("zip.encrypted", pickle.Suspicious, "%d encrypted members; their content cannot be inspected", encrypted)
		return a, true
	default:
		return a, false
	}
	if encrypted > 0 && !slices.ContainsFunc(a.Findings, func(f pickle.Finding) bool { return f.Rule == "zip.encrypted" }) {
		a.add("zip.encrypted_flag", pickle.Suspicious, "%d members are flagged encrypted but hold plain data (PyTorch ignores the flag; some scanners skip them)", encrypted)
	}
	if budget <= 0 {
		a.add("scan.limit", pickle.Suspicious, "stopped after %d bytes of members; the rest was not inspected", lim.MaxScanBytes)
	}
	return a, true
}

// openMember reads a member as PyTorch's reader does: by the central
// directory's offsets, ignoring flag bits and the CRC.
func openMember(f *zip.File) (io.ReadCloser, error) {
	raw, err := f.OpenRaw()
	if err != nil {
		return nil, err
	}
	switch f.Method {
	case zip.Store:
		return io.NopCloser(raw), nil
	case zip.Deflate:
		return flate.NewReader(raw), nil
	}
	return nil, fmt.Errorf("compression method %d", f.Method)
}

// localNameMismatches reads the central directory itself and compares each
// entry's name with its local header's: PyTorch goes by the central
// directory, a streaming reader by the local headers, so a difference means
// two tools see two different archives.
func localNameMismatches(r io.ReaderAt, size int64) []string {
	tail := min(size, 22+65535)
	buf := make([]byte, tail)
	if _, err := r.ReadAt(buf, size-tail); err != nil && !errors.Is(err, io.EOF) {
		return nil
	}
	eocd := bytes.LastIndex(buf, []byte("PK\x05\x06"))
	if eocd < 0 || len(buf)-eocd < 22 {
		return nil
	}
	e := buf[eocd:]
	count := int(binary.LittleEndian.Uint16(e[10:]))
	cdSize := int64(binary.LittleEndian.Uint32(e[12:]))
	cdOff := int64(binary.LittleEndian.Uint32(e[16:]))
	if count == 0xffff || cdOff == 0xffffffff || cdOff+cdSize > size || cdSize > 64<<20 {
		return nil // zip64: not compared yet
	}
	cd := make([]byte, cdSize)
	if _, err := r.ReadAt(cd, cdOff); err != nil {
		return nil
	}
	var out []string
	for i := 0; i < count && i < maxZipMembers && len(cd) >= 46; i++ {
		if !bytes.HasPrefix(cd, []byte("PK\x01\x02")) {
			break
		}
		nl := int(binary.LittleEndian.Uint16(cd[28:]))
		xl := int(binary.LittleEndian.Uint16(cd[30:]))
		cl := int(binary.LittleEndian.Uint16(cd[32:]))
		off := int64(binary.LittleEndian.Uint32(cd[42:]))
		if len(cd) < 46+nl+xl+cl {
			break
		}
		name := string(cd[46 : 46+nl])
		cd = cd[46+nl+xl+cl:]
		var lh [30]byte
		if off == 0xffffffff || off+30 > size {
			continue
		}
		if _, err := r.ReadAt(lh[:], off); err != nil || !bytes.HasPrefix(lh[:], []byte("PK\x03\x04")) {
			out = append(out, fmt.Sprintf("member %q has no local header at offset %d", clip(name, 256), off))
			continue
		}
		lnl := int64(binary.LittleEndian.Uint16(lh[26:]))
		local := make([]byte, lnl)
		if _, err := r.ReadAt(local, off+30); err != nil {
			continue
		}
		if string(local) != name && len(out) < maxListed {
			out = append(out, fmt.Sprintf("central directory names %q, the local header %q", clip(name, 256), clip(string(local), 256)))
		}
	}
	return out
}
