package models

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/annexa/annexa/plugins/models/pickle"
)

// TestHostileFiles: files that lie cost bounded time and memory and say
// why in a finding; nothing panics.
func TestHostileFiles(t *testing.T) {
	gguf := func(tensors, kvs uint64) []byte {
		b := []byte("GGUF\x03\x00\x00\x00")
		b = binary.LittleEndian.AppendUint64(b, tensors)
		b = binary.LittleEndian.AppendUint64(b, kvs)
		return append(b, make([]byte, 64)...)
	}
	bomb := func() []byte {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		w, _ := zw.Create("archive/data.pkl")
		w.Write([]byte("\x80\x02}q\x00"))
		w.Write(make([]byte, 32<<20))
		zw.Close()
		return buf.Bytes()
	}
	cases := []struct {
		name   string
		in     []byte
		format string
		rule   string
	}{
		{"safetensors header near 2^64", append([]byte("\xf0\xff\xff\xff\xff\xff\xff\xff{\"a\":"), make([]byte, 32)...), "safetensors", "safetensors.header_length"},
		{"safetensors truncated data", []byte("\x40\x00\x00\x00\x00\x00\x00\x00{\"a\":{\"dtype\":\"F32\",\"shape\":[1000],\"data_offsets\":[0,4000]}}    "), "safetensors", "safetensors.out_of_range"},
		{"gguf with 2^40 tensors", gguf(1<<40, 0), "gguf", "parse.error"},
		{"gguf with 2^40 keys", gguf(0, 1<<40), "gguf", "parse.error"},
		{"gguf truncated", gguf(1, 1)[:30], "gguf", "parse.error"},
		{"npy header 4 GiB", []byte("\x93NUMPY\x02\x00\xff\xff\xff\xff{'descr': '<f4'}"), "numpy", "parse.error"},
		{"pickle nested marks", append([]byte("\x80\x04"), bytes.Repeat([]byte("("), 1<<20)...), "pickle", "pickle.limit"},
		{"pickle 10^7 opcodes", append([]byte("\x80\x04"), append(bytes.Repeat([]byte("N0"), 5_000_000), 'N', '.')...), "pickle", ""},
		{"pickle memo explosion", append([]byte("\x80\x04N"), append(bytes.Repeat([]byte("\x94"), 1<<19), '.')...), "pickle", "pickle.limit.memo"},
		{"pickle huge BINUNICODE8", []byte("\x80\x04\x8d\xff\xff\xff\xff\xff\xff\xff\x7f"), "pickle", "pickle.parse.error"},
		{"zip bomb", bomb(), "pytorch-zip", "scan.limit"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			a, ok := Analyze(bytes.NewReader(c.in), int64(len(c.in)), Limits{MaxScanBytes: 16 << 20})
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v", d)
			}
			if !ok || a.Format != c.format {
				t.Fatalf("ok=%v format %q, want %q", ok, a.Format, c.format)
			}
			if c.rule == "" {
				if len(a.Findings) != 0 {
					t.Errorf("findings %v", a.Findings)
				}
				return
			}
			if !hasRule(a, c.rule, "") {
				t.Errorf("no %s in %v", c.rule, a.Findings)
			}
		})
	}
}

func TestUnknownIsCritical(t *testing.T) {
	// STACK_GLOBAL over a string built by a call: unresolvable.
	in := "\x80\x04\x8c\x08builtins\x8c\x03str\x93\x8c\x02os\x85R\x8c\x06system\x93."
	a, ok := Analyze(strings.NewReader(in), int64(len(in)), Limits{})
	if !ok || !hasRule(a, "pickle.global.unknown", pickle.Critical) || !a.Unsafe() {
		t.Errorf("ok=%v findings %v", ok, a.Findings)
	}
}

// TestTextIsNotPickle: text that starts with a protocol 0 opcode letter is
// not a model.
func TestTextIsNotPickle(t *testing.T) {
	for _, in := range []string{
		"col1,col2\nfoo..bar,1\n2,3\n", "(a, b) = (1, 2)\n", "Some notes\n.", "I like pickles\n.", "]\n", "cmod\n\xf8\n",
	} {
		if a, ok := Analyze(strings.NewReader(in), int64(len(in)), Limits{}); ok {
			t.Errorf("%q reported as %s: %v", in, a.Format, a.Findings)
		}
	}
}

// TestHostileONNX: ModelProtos that lie about lengths, nest subgraphs
// without end, or hide a path traversal deep down are bounded and reported.
func TestHostileONNX(t *testing.T) {
	msg := func(num protowire.Number, body []byte) []byte {
		return protowire.AppendBytes(protowire.AppendTag(nil, num, protowire.BytesType), body)
	}
	model := func(graph []byte) []byte {
		b := protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 8)
		b = append(b, msg(2, []byte("x"))...)
		return append(b, msg(7, graph)...)
	}
	// A node whose If attribute holds a graph holding such a node, n deep,
	// with an initializer at the bottom whose data lives in /etc/shadow.
	nested := func(n int) []byte {
		loc := append(msg(1, []byte("location")), msg(2, []byte("/etc/shadow"))...)
		g := msg(5, append(protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 3), msg(13, loc)...))
		for range n {
			g = msg(1, msg(5, msg(6, g)))
		}
		return g
	}
	lying := model(nil)
	lying = append(lying[:len(lying)-1], 0xff, 0xff, 0xff, 0xff, 0x0f) // graph claims 4 GiB
	cases := []struct {
		name string
		in   []byte
		rule string
		sev  pickle.Severity
	}{
		{"length past the end", lying, "parse.error", pickle.Suspicious},
		{"subgraphs 4 deep", model(nested(4)), "onnx.external_data.path", pickle.High},
		{"subgraphs 1000 deep", model(nested(1000)), "parse.error", pickle.Suspicious},
		{"truncated", model(nested(3))[:40], "parse.error", pickle.Suspicious},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, ok := Analyze(bytes.NewReader(c.in), int64(len(c.in)), Limits{})
			if !ok || a.Format != "onnx" {
				t.Fatalf("ok=%v format %q", ok, a.Format)
			}
			if !hasRule(a, c.rule, c.sev) {
				t.Errorf("no %s %s in %v", c.sev, c.rule, a.Findings)
			}
		})
	}
	// Text or a protobuf that is not a ModelProto is not a model.
	for _, in := range [][]byte{[]byte("\x08\x01\x12\x02hi"), []byte("\x08\x05\x12\x03abc\xf8\x07\x01")} {
		if a, ok := Analyze(bytes.NewReader(in), int64(len(in)), Limits{}); ok {
			t.Errorf("%q reported as %s", in, a.Format)
		}
	}
}

// TestHostileJoblib: arrays that claim more data than there is, arrays
// that cannot be sized, and decompression bombs stop with a reason.
func TestHostileJoblib(t *testing.T) {
	// A protocol 4 wrapper with the given shape and dtype operands.
	wrapper := func(shape, dtype string) []byte {
		b := "\x80\x04\x8c\x13joblib.numpy_pickle\x8c\x11NumpyArrayWrapper\x93)\x81}(" +
			"\x8c\x05shape" + shape + "\x8c\x05dtype" + dtype + "u" + "b"
		return []byte(b)
	}
	f8 := "\x8c\x05numpy\x8c\x05dtype\x93\x8c\x02f8\x89\x88\x87R"
	gz := func(parts ...[]byte) []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		for _, p := range parts {
			zw.Write(p)
		}
		zw.Close()
		return buf.Bytes()
	}
	cases := []struct {
		name, format, rule string
		in                 []byte
	}{
		// 2^40 doubles claimed, 16 bytes present: the skip runs out.
		{"array past the end", "joblib", "pickle.parse.error", append(wrapper("\x8a\x06\x00\x00\x00\x00\x00\x01\x85", f8), make([]byte, 16)...)},
		// A dtype built by a call the scanner cannot follow.
		{"unsizable dtype", "joblib", "pickle.parse.error", wrapper("K\x02\x85", "N")},
		// A shape that overflows 64 bits.
		{"shape overflow", "joblib", "pickle.parse.error", wrapper("\x8a\x08\xff\xff\xff\xff\xff\xff\xff\x7f\x8a\x08\xff\xff\xff\xff\xff\xff\xff\x7f\x86", f8)},
		// 64 pickled MiB of zeros, each pushed and popped, gzip-compressed
		// to about 64 KiB: more than the 16 MiB cap of this test.
		{"gzip bomb", "pickle", "parse.error", gz(append([]byte("\x80\x04"), bytes.Repeat(append(append([]byte("B\x00\x00\x10\x00"), make([]byte, 1<<20)...), '0'), 64)...))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, ok := Analyze(bytes.NewReader(c.in), int64(len(c.in)), Limits{MaxScanBytes: 16 << 20})
			if !ok || a.Format != c.format {
				t.Fatalf("ok=%v format %q, want %q", ok, a.Format, c.format)
			}
			if !hasRule(a, c.rule, pickle.Suspicious) {
				t.Errorf("no %s in %v", c.rule, a.Findings)
			}
		})
	}
	// A gzipped CSV is not a model.
	in := gz([]byte("a,b\n1,2\n"))
	if a, ok := Analyze(bytes.NewReader(in), int64(len(in)), Limits{}); ok {
		t.Errorf("gzipped text reported as %s", a.Format)
	}
}

// TestHostileH5: HDF5 files whose root header lies are bounded; one with
// no Keras attributes is not a model.
func TestHostileH5(t *testing.T) {
	good, err := os.ReadFile(filepath.Join("testdata", "fixtures", "dense.h5"))
	if err != nil {
		t.Fatal(err)
	}
	// Superblock 0 with 8-byte offsets: the root object header address is
	// at 24 + 5*8.
	moved := bytes.Clone(good)
	binary.LittleEndian.PutUint64(moved[64:], 1<<40)
	loop := bytes.Clone(good)
	root := binary.LittleEndian.Uint64(good[64:])
	// A version 1 header whose only message is a continuation to itself.
	hdr := []byte{1, 0, 1, 0, 1, 0, 0, 0, 24, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 16, 0, 0, 0, 0, 0}
	hdr = binary.LittleEndian.AppendUint64(hdr, root)
	hdr = binary.LittleEndian.AppendUint64(hdr, 24)
	copy(loop[root:], hdr)
	for name, in := range map[string][]byte{"root far away": moved, "continuation loop": loop, "superblock only": good[:96]} {
		t.Run(name, func(t *testing.T) {
			var a Analysis
			if analyzeH5(&a, bytes.NewReader(in), int64(len(in))) {
				t.Errorf("reported as %s with findings %v: the Keras attributes cannot have been read", a.Format, a.Findings)
			}
		})
	}
	if a, ok := analyzeFile(t, filepath.Join("testdata", "fixtures", "data.h5")); ok {
		t.Errorf("an HDF5 data file reported as %s", a.Format)
	}
}
