package models

import (
	"errors"
	"fmt"
	"io"
	"math/bits"
	"path"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/annexa/annexa/plugins/models/pickle"
)

// ONNX files are a serialised onnx.ModelProto with no magic number. They
// are decoded field by field with protowire straight from the file: no
// generated onnx package, no runtime, and never the whole file in memory
// (an ONNX file with embedded weights is up to 2 GiB of raw_data, which is
// skipped by offset, not read).
//
// Field numbers are those of onnx/onnx.proto (IR version 10).

// Bounds on what an ONNX file may make us do.
const (
	maxONNXDepth      = 12      // nested subgraphs (If/Loop/Scan bodies)
	maxONNXFields     = 4 << 20 // fields visited in all
	maxONNXString     = 1024    // longest string kept
	maxONNXDims       = 32      // dimensions of one initializer
	maxONNXDomains    = 64
	maxONNXExternal   = 64
	onnxWindow        = 64 << 10
	onnxMaxSmallField = 4 << 10 // a name or dims field longer than this is not read
)

// standardONNXDomains are the operator sets defined by ONNX itself; any
// other domain needs an operator library registered with the runtime.
var standardONNXDomains = []string{"", "ai.onnx", "ai.onnx.ml", "ai.onnx.training", "ai.onnx.preview.training"}

// onnxTypes names TensorProto.DataType values.
var onnxTypes = map[uint64]string{
	1: "FLOAT", 2: "UINT8", 3: "INT8", 4: "UINT16", 5: "INT16", 6: "INT32", 7: "INT64", 8: "STRING", 9: "BOOL",
	10: "FLOAT16", 11: "DOUBLE", 12: "UINT32", 13: "UINT64", 14: "COMPLEX64", 15: "COMPLEX128", 16: "BFLOAT16",
	17: "FLOAT8E4M3FN", 18: "FLOAT8E4M3FNUZ", 19: "FLOAT8E5M2", 20: "FLOAT8E5M2FNUZ", 21: "UINT4", 22: "INT4",
	23: "FLOAT4E2M1", 24: "FLOAT8E8M0", 25: "UINT2", 26: "INT2",
}

// window serves small reads at arbitrary offsets from one buffered block,
// so walking many small fields costs few system calls.
type window struct {
	r    io.ReaderAt
	size int64
	buf  []byte
	off  int64
}

// at returns up to n bytes at off (fewer only at the end of the file).
func (w *window) at(off int64, n int) ([]byte, error) {
	if off < 0 || off >= w.size {
		return nil, io.ErrUnexpectedEOF
	}
	n = int(min(int64(n), w.size-off))
	if off >= w.off && off+int64(n) <= w.off+int64(len(w.buf)) {
		return w.buf[off-w.off : off-w.off+int64(n)], nil
	}
	if w.buf == nil || cap(w.buf) < max(n, onnxWindow) {
		w.buf = make([]byte, max(n, onnxWindow))
	}
	want := int(min(int64(cap(w.buf)), w.size-off))
	w.buf = w.buf[:want]
	m, err := w.r.ReadAt(w.buf, off)
	w.buf, w.off = w.buf[:m], off
	if m < n {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return w.buf[:n], nil
}

// pbField is one field of a message: its number and type, and either its
// varint/fixed value or the [Off, Off+Len) span of its bytes.
type pbField struct {
	Num protowire.Number
	Typ protowire.Type
	Val uint64
	Off int64
	Len int64
}

type onnxDecoder struct {
	w      *window
	fields int
	a      *Analysis
	// results
	params         uint64
	overflow       bool
	initializers   int
	customDomains  []string
	funcDomains    []string
	external       []string
	externalUnsafe int
	nodes          int
	// lastNum is the number of the field being decoded, so a failure can
	// say whether a graph had begun.
	lastNum protowire.Number
}

var errONNXFields = fmt.Errorf("more than %d protobuf fields", maxONNXFields)

// each calls fn for every field of the message in [start, end).
func (d *onnxDecoder) each(start, end int64, fn func(f pbField) error) error {
	for off := start; off < end; {
		d.fields++
		if d.fields > maxONNXFields {
			return errONNXFields
		}
		b, err := d.w.at(off, int(min(end-off, 20)))
		if err != nil {
			return err
		}
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("offset %d: %w", off, protowire.ParseError(n))
		}
		f := pbField{Num: num, Typ: typ}
		d.lastNum = num
		b, off = b[n:], off+int64(n)
		switch typ {
		case protowire.VarintType:
			v, m := protowire.ConsumeVarint(b)
			if m < 0 {
				return fmt.Errorf("offset %d: %w", off, protowire.ParseError(m))
			}
			f.Val, off = v, off+int64(m)
		case protowire.Fixed32Type:
			if len(b) < 4 {
				return io.ErrUnexpectedEOF
			}
			off += 4
		case protowire.Fixed64Type:
			if len(b) < 8 {
				return io.ErrUnexpectedEOF
			}
			off += 8
		case protowire.BytesType:
			l, m := protowire.ConsumeVarint(b)
			if m < 0 {
				return fmt.Errorf("offset %d: %w", off, protowire.ParseError(m))
			}
			off += int64(m)
			if l > uint64(end-off) {
				return fmt.Errorf("offset %d: field %d claims %d bytes, %d are left", off, num, l, end-off)
			}
			f.Off, f.Len = off, int64(l)
			off += int64(l)
		default:
			return fmt.Errorf("offset %d: wire type %d is not used by ONNX", off, typ)
		}
		if off > end {
			return fmt.Errorf("field %d runs past its message", num)
		}
		if err := fn(f); err != nil {
			return err
		}
	}
	return nil
}

// str reads a string field, clipped to maxONNXString.
func (d *onnxDecoder) str(f pbField) (string, error) {
	if f.Typ != protowire.BytesType {
		return "", fmt.Errorf("field %d is not a string", f.Num)
	}
	b, err := d.w.at(f.Off, int(min(f.Len, maxONNXString)))
	if err != nil {
		return "", err
	}
	return clip(string(b), maxONNXString), nil
}

// sniffONNX says whether head can open a ModelProto: field 1 (ir_version)
// as a varint comes first, since every protobuf writer emits fields in
// number order and ir_version is required.
func sniffONNX(head []byte) bool {
	return len(head) >= 4 && head[0] == 0x08 && head[1] >= 1 && head[1] <= 30 &&
		(head[2] == 0x12 || head[2] == 0x1a || head[2] == 0x22 || head[2] == 0x28 || head[2] == 0x32 ||
			head[2] == 0x3a || head[2] == 0x42 || head[2] == 0x72)
}

// analyzeONNX decodes a ModelProto. ok is false when the top level is not
// one (so a file that merely starts like one is not called a model).
func analyzeONNX(a *Analysis, r io.ReaderAt, size int64) bool {
	d := &onnxDecoder{w: &window{r: r, size: size}, a: a}
	a.Format = "onnx"
	var graph *pbField
	sawOpset := false
	opsets := map[string]int64{}
	var funcs []pbField
	err := d.each(0, size, func(f pbField) error {
		switch {
		case f.Num == 1 && f.Typ == protowire.VarintType:
			v := int64(f.Val)
			a.IRVersion = &v
		case f.Num == 2 && f.Typ == protowire.BytesType:
			s, err := d.str(f)
			a.Producer = s
			return err
		case f.Num == 3 && f.Typ == protowire.BytesType:
			s, err := d.str(f)
			a.ProducerVersion = s
			return err
		case f.Num == 7 && f.Typ == protowire.BytesType:
			g := f
			graph = &g
		case f.Num == 8 && f.Typ == protowire.BytesType:
			sawOpset = true
			var dom string
			var ver int64
			err := d.each(f.Off, f.Off+f.Len, func(g pbField) error {
				switch {
				case g.Num == 1 && g.Typ == protowire.BytesType:
					s, err := d.str(g)
					dom = s
					return err
				case g.Num == 2 && g.Typ == protowire.VarintType:
					ver = int64(g.Val)
				}
				return nil
			})
			if err != nil {
				return fmt.Errorf("opset_import: %w", err)
			}
			if dom == "" {
				dom = "ai.onnx"
			}
			if len(opsets) < maxONNXDomains {
				opsets[dom] = ver
			}
			d.domain(dom)
		case f.Num == 14 && f.Typ == protowire.BytesType:
			k, v, err := d.entry(f)
			if err != nil {
				return fmt.Errorf("metadata_props: %w", err)
			}
			if len(a.Metadata) < maxMetadataEntries {
				if a.Metadata == nil {
					a.Metadata = map[string]string{}
				}
				a.Metadata[clip(k, maxMetadataValue)] = clip(v, maxMetadataValue)
			}
			if strings.EqualFold(k, "license") && a.License == "" {
				a.License = clip(v, 128)
			}
		case f.Num == 25 && f.Typ == protowire.BytesType:
			if len(funcs) < 1024 {
				funcs = append(funcs, f)
			}
		case f.Num == 4, f.Num == 5, f.Num == 6, f.Num == 20:
			// domain, model_version, doc_string, training_info
		case f.Num > 30 || f.Num == 0:
			return fmt.Errorf("field %d is not a ModelProto field", f.Num)
		}
		return nil
	})
	graphBegun := err != nil && (d.lastNum == 7 || d.lastNum == 8)
	if a.IRVersion == nil || (graph == nil && !sawOpset && !graphBegun) {
		// Not a model: nothing a ModelProto must have was found.
		return false
	}
	if err != nil {
		a.parseError(err)
	}
	if len(opsets) > 0 {
		a.Opsets = opsets
	}
	for _, f := range funcs {
		if err := d.function(f); err != nil {
			a.parseError(fmt.Errorf("function: %w", err))
			break
		}
	}
	if graph != nil {
		if err := d.graph(*graph, 0); err != nil {
			a.parseError(fmt.Errorf("graph: %w", err))
		}
	}
	n := d.initializers
	a.TensorCount = &n
	if d.overflow {
		a.add("onnx.shape", pickle.Suspicious, "parameter count overflows 64 bits")
	} else {
		p := d.params
		a.Parameters = &p
	}
	for _, dom := range d.customDomains {
		if slices.Contains(d.funcDomains, dom) {
			continue
		}
		a.CustomDomains = append(a.CustomDomains, dom)
	}
	if len(a.CustomDomains) > 0 {
		a.add("onnx.custom_domain", pickle.Suspicious, "operators from non-standard domains %s: the runtime must load an operator library (native code) to run them", strings.Join(a.CustomDomains, ", "))
	}
	a.ExternalData = d.external
	return true
}

func (d *onnxDecoder) domain(dom string) {
	if slices.Contains(standardONNXDomains, dom) || slices.Contains(d.customDomains, dom) || len(d.customDomains) >= maxONNXDomains {
		return
	}
	d.customDomains = append(d.customDomains, dom)
}

// entry reads a StringStringEntryProto.
func (d *onnxDecoder) entry(f pbField) (k, v string, err error) {
	err = d.each(f.Off, f.Off+f.Len, func(g pbField) error {
		var e error
		switch {
		case g.Num == 1 && g.Typ == protowire.BytesType:
			k, e = d.str(g)
		case g.Num == 2 && g.Typ == protowire.BytesType:
			v, e = d.str(g)
		}
		return e
	})
	return k, v, err
}

// function walks a FunctionProto: its domain is defined in the file (not
// native code), its nodes may still call custom operators.
func (d *onnxDecoder) function(f pbField) error {
	return d.each(f.Off, f.Off+f.Len, func(g pbField) error {
		switch {
		case g.Num == 10 && g.Typ == protowire.BytesType:
			s, err := d.str(g)
			if err == nil && !slices.Contains(d.funcDomains, s) && len(d.funcDomains) < maxONNXDomains {
				d.funcDomains = append(d.funcDomains, s)
			}
			return err
		case g.Num == 7 && g.Typ == protowire.BytesType:
			return d.node(g, 1)
		}
		return nil
	})
}

// graph walks a GraphProto: nodes (and the subgraphs in their
// attributes) and initializers.
func (d *onnxDecoder) graph(f pbField, depth int) error {
	if depth > maxONNXDepth {
		return fmt.Errorf("subgraphs nested deeper than %d", maxONNXDepth)
	}
	return d.each(f.Off, f.Off+f.Len, func(g pbField) error {
		if g.Typ != protowire.BytesType {
			return nil
		}
		switch g.Num {
		case 1:
			return d.node(g, depth)
		case 2:
			if depth == 0 && d.a.ModelName == "" {
				s, err := d.str(g)
				d.a.ModelName = s
				return err
			}
		case 5:
			if err := d.tensor(g, true); err != nil {
				return fmt.Errorf("initializer: %w", err)
			}
		case 15:
			if err := d.sparse(g); err != nil {
				return fmt.Errorf("sparse_initializer: %w", err)
			}
		}
		return nil
	})
}

func (d *onnxDecoder) node(f pbField, depth int) error {
	d.nodes++
	return d.each(f.Off, f.Off+f.Len, func(g pbField) error {
		switch {
		case g.Num == 7 && g.Typ == protowire.BytesType:
			s, err := d.str(g)
			if err == nil {
				d.domain(s)
			}
			return err
		case g.Num == 5 && g.Typ == protowire.BytesType:
			return d.attribute(g, depth)
		}
		return nil
	})
}

// attribute looks into an AttributeProto for subgraphs and tensors.
func (d *onnxDecoder) attribute(f pbField, depth int) error {
	return d.each(f.Off, f.Off+f.Len, func(g pbField) error {
		if g.Typ != protowire.BytesType {
			return nil
		}
		switch g.Num {
		case 6, 11: // g, graphs
			return d.graph(g, depth+1)
		case 5, 10: // t, tensors: constants, whose external data is read too
			return d.tensor(g, false)
		}
		return nil
	})
}

// tensor reads a TensorProto's dims, type and external data location,
// never its data. Initializers count towards the parameters.
func (d *onnxDecoder) tensor(f pbField, initializer bool) error {
	numel := uint64(1)
	overflow := false
	ndims := 0
	dim := func(v uint64) error {
		ndims++
		if ndims > maxONNXDims {
			return fmt.Errorf("more than %d dimensions", maxONNXDims)
		}
		if int64(v) < 0 {
			return fmt.Errorf("negative dimension %d", int64(v))
		}
		hi, lo := bits.Mul64(numel, v)
		overflow = overflow || hi != 0
		numel = lo
		return nil
	}
	var typ uint64
	err := d.each(f.Off, f.Off+f.Len, func(g pbField) error {
		switch {
		case g.Num == 1 && g.Typ == protowire.VarintType:
			return dim(g.Val)
		case g.Num == 1 && g.Typ == protowire.BytesType: // packed dims
			if g.Len > onnxMaxSmallField {
				return fmt.Errorf("packed dims of %d bytes", g.Len)
			}
			b, err := d.w.at(g.Off, int(g.Len))
			if err != nil {
				return err
			}
			for len(b) > 0 {
				v, n := protowire.ConsumeVarint(b)
				if n < 0 {
					return protowire.ParseError(n)
				}
				if err := dim(v); err != nil {
					return err
				}
				b = b[n:]
			}
		case g.Num == 2 && g.Typ == protowire.VarintType:
			typ = g.Val
		case g.Num == 13 && g.Typ == protowire.BytesType:
			k, v, err := d.entry(g)
			if err != nil {
				return fmt.Errorf("external_data: %w", err)
			}
			if k == "location" {
				d.externalLocation(v)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if initializer {
		d.initializers++
		if name, ok := onnxTypes[typ]; ok {
			d.a.dtype(name)
		} else {
			d.a.dtype("type" + strconv.FormatUint(typ, 10))
		}
		var carry uint64
		d.params, carry = bits.Add64(d.params, numel, 0)
		d.overflow = d.overflow || overflow || carry != 0
	}
	return nil
}

// sparse counts a SparseTensorProto by its dense shape and reads the
// external data of its values and indices.
func (d *onnxDecoder) sparse(f pbField) error {
	numel := uint64(1)
	overflow := false
	var values *pbField
	err := d.each(f.Off, f.Off+f.Len, func(g pbField) error {
		switch {
		case (g.Num == 1 || g.Num == 2) && g.Typ == protowire.BytesType:
			if g.Num == 1 {
				v := g
				values = &v
			}
			return d.tensor(g, false)
		case g.Num == 3 && g.Typ == protowire.VarintType:
			hi, lo := bits.Mul64(numel, g.Val)
			overflow = overflow || hi != 0 || int64(g.Val) < 0
			numel = lo
		}
		return nil
	})
	if err != nil {
		return err
	}
	d.initializers++
	if values != nil {
		d.each(values.Off, values.Off+values.Len, func(g pbField) error {
			if g.Num == 2 && g.Typ == protowire.VarintType {
				if name, ok := onnxTypes[g.Val]; ok {
					d.a.dtype(name)
				}
			}
			return nil
		})
	}
	var carry uint64
	d.params, carry = bits.Add64(d.params, numel, 0)
	d.overflow = d.overflow || overflow || carry != 0
	return nil
}

// externalLocation records where a tensor's data lives. The runtime opens
// that path relative to the model's folder, so an absolute path or one
// that climbs out with ".." reads any file the loading process can.
func (d *onnxDecoder) externalLocation(loc string) {
	if slices.Contains(d.external, loc) {
		return
	}
	if len(d.external) < maxONNXExternal {
		d.external = append(d.external, loc)
	}
	clean := strings.ReplaceAll(loc, `\`, "/")
	escapes := path.IsAbs(clean) || (len(clean) > 1 && clean[1] == ':') ||
		slices.Contains(strings.Split(clean, "/"), "..")
	if escapes && d.externalUnsafe < maxListed {
		d.externalUnsafe++
		d.a.add("onnx.external_data.path", pickle.High, "a tensor's external data location %q is absolute or leaves the model's folder: loading the model reads that file", clip(loc, 256))
	}
}
