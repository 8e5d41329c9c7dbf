package models

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/pierrec/lz4/v4"
	"github.com/ulikunitz/xz/lzma"

	"github.com/annexa/annexa/plugins/models/pickle"
)

// joblib.dump(compress=...) writes the same pickle stream through zlib,
// gzip, bz2, xz, lzma or lz4 (joblib/compressor.py; lz4 frames when the
// lz4 package is installed). joblib before 0.10 wrote "ZF" files: "ZF",
// the uncompressed length in hex padded to 19 bytes, sometimes one more
// space, then a zlib stream (numpy_pickle_compat.read_zfile, which joblib
// still uses to load them). A compressed file is a
// model when what it decompresses to opens like a pickle; a .gz of CSV is
// not. Decompression is streamed and capped: at most max_scan_bytes come
// out, and a stream that would give more is reported, not followed.

// maxLZMADict caps the dictionary an xz or lzma header may ask for: the
// decoder allocates it up front. Python's presets use at most 64 MiB.
const maxLZMADict = 64 << 20

// compression names the compressor by its magic, or "".
func compression(head []byte) string {
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b, 0x08}):
		return "gzip"
	case len(head) >= 10 && bytes.HasPrefix(head, []byte("BZh")) && head[3] >= '1' && head[3] <= '9' &&
		bytes.Equal(head[4:10], []byte{0x31, 0x41, 0x59, 0x26, 0x53, 0x59}):
		return "bz2"
	case bytes.HasPrefix(head, []byte("\xfd7zXZ\x00")):
		return "xz"
	case bytes.HasPrefix(head, []byte{0x04, 0x22, 0x4d, 0x18}):
		return "lz4"
	case zfileHeader(head) > 0:
		return "zfile"
	case len(head) >= 2 && head[0] == 0x78 && (uint16(head[0])<<8|uint16(head[1]))%31 == 0 && head[1]&0x20 == 0:
		return "zlib"
	case len(head) >= 13 && head[0] == 0x5d && head[1] == 0 && head[2] == 0:
		// LZMA "alone": properties 0x5d (lc=3 lp=0 pb=2, the only
		// setting Python's lzma.FORMAT_ALONE writes), then a dictionary size.
		return "lzma"
	}
	return ""
}

// decompressor opens the stream after the magic check.
func decompressor(kind string, r io.Reader) (io.Reader, error) {
	switch kind {
	case "gzip":
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, err
		}
		zr.Multistream(true)
		return zr, nil
	case "bz2":
		return bzip2.NewReader(r), nil
	case "zlib":
		return zlib.NewReader(r)
	case "lzma":
		return lzma.ReaderConfig{DictCap: maxLZMADict}.NewReader(r)
	case "xz":
		return xzFirstBlock(r)
	case "lz4":
		// Frames name a block size of at most 4 MiB, which bounds what
		// the reader allocates; one goroutine, as the rest of a worker.
		zr := lz4.NewReader(r)
		if err := zr.Apply(lz4.ConcurrencyOption(1)); err != nil {
			return nil, err
		}
		return zr, nil
	case "zfile":
		br := bufio.NewReader(r)
		head, _ := br.Peek(zfileHeaderLen + 1)
		n := zfileHeader(head)
		if n == 0 {
			return nil, errors.New("not a joblib ZF header")
		}
		br.Discard(n)
		return zlib.NewReader(br)
	}
	return nil, fmt.Errorf("unknown compression %q", kind)
}

// zfileHeaderLen is "ZF" and the 19 bytes of a padded hex length.
const zfileHeaderLen = 2 + 19

// zfileHeader returns the length of the joblib ZF header that head
// starts with (with the optional extra space old Python 2 joblib wrote),
// or 0 when head does not start with one.
func zfileHeader(head []byte) int {
	if len(head) < zfileHeaderLen || !bytes.HasPrefix(head, []byte("ZF0x")) {
		return 0
	}
	digits := bytes.TrimRight(head[4:zfileHeaderLen], " ")
	if len(digits) == 0 || len(digits) > 17 {
		return 0
	}
	for _, c := range digits {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return 0
		}
	}
	if len(head) > zfileHeaderLen && head[zfileHeaderLen] == ' ' {
		return zfileHeaderLen + 1
	}
	return zfileHeaderLen
}

// xzFirstBlock reads the xz container far enough to check the first
// block's one LZMA2 filter and its dictionary size before anything is
// allocated, then decodes that block. joblib (Python's lzma module)
// writes a single block; data after the first block is not read.
func xzFirstBlock(r io.Reader) (io.Reader, error) {
	br := bufio.NewReader(r)
	var hdr [12]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return nil, fmt.Errorf("xz stream header: %w", err)
	}
	size, err := br.ReadByte()
	if err != nil || size == 0 {
		return nil, errors.New("xz: no block (empty stream or index first)")
	}
	bh := make([]byte, (int(size)+1)*4-1)
	if _, err := io.ReadFull(br, bh); err != nil {
		return nil, fmt.Errorf("xz block header: %w", err)
	}
	flags := bh[0]
	if flags&0x03 != 0 {
		return nil, errors.New("xz: filter chains other than LZMA2 alone are not read")
	}
	p := bh[1:]
	varint := func() (uint64, error) {
		v, n := binary.Uvarint(p)
		if n <= 0 {
			return 0, errors.New("xz: bad block header")
		}
		p = p[n:]
		return v, nil
	}
	if flags&0x40 != 0 {
		if _, err := varint(); err != nil {
			return nil, err
		}
	}
	if flags&0x80 != 0 {
		if _, err := varint(); err != nil {
			return nil, err
		}
	}
	id, err := varint()
	if err != nil {
		return nil, err
	}
	plen, err := varint()
	if err != nil {
		return nil, err
	}
	if id != 0x21 || plen != 1 || len(p) < 1 {
		return nil, fmt.Errorf("xz: filter 0x%x is not LZMA2", id)
	}
	dict, err := lzma.DecodeDictCap(p[0])
	if err != nil {
		return nil, fmt.Errorf("xz: %w", err)
	}
	if dict > maxLZMADict {
		return nil, fmt.Errorf("xz: dictionary of %d bytes is larger than the %d-byte limit", dict, maxLZMADict)
	}
	return lzma.Reader2Config{DictCap: int(max(dict, lzma.MinDictCap))}.NewReader2(br)
}

// analyzeCompressed decides whether a compressed file holds a pickle and
// scans it. ok is false when it does not (or cannot be opened at all).
func analyzeCompressed(kind string, r io.Reader, lim Limits) (Analysis, bool) {
	var a Analysis
	a.Dtypes, a.Findings = []string{}, []pickle.Finding{}
	dr, err := decompressor(kind, r)
	if err != nil {
		return a, false
	}
	lr := &io.LimitedReader{R: dr, N: lim.MaxScanBytes}
	br := bufio.NewReaderSize(lr, 64<<10)
	head, _ := br.Peek(2)
	if len(head) < 2 || head[0] != 0x80 || head[1] > 5 {
		return a, false
	}
	a.Format, a.Compression = "pickle", kind
	res := pickle.Scan(br, pickle.Limits{MaxBytes: lim.MaxScanBytes})
	a.mergePickle("", res)
	joblibFormat(&a, res)
	if kind == "zfile" {
		// Only joblib wrote ZF files, whatever the pickle inside holds.
		a.Format = "joblib"
	}
	if lr.N <= 0 {
		// The cap was reached: tell whether more was to come.
		if n, _ := dr.Read(make([]byte, 1)); n > 0 {
			a.add("parse.error", pickle.Suspicious, "%s: decompresses to more than %d bytes (a decompression bomb, or a model larger than max_scan_bytes); the rest was not inspected", kind, lim.MaxScanBytes)
		}
	}
	return a, true
}

// joblibFormat calls a pickle joblib's when it holds joblib's arrays or
// imports from joblib, and takes parameters and dtypes from the arrays.
func joblibFormat(a *Analysis, res pickle.Result) {
	isJoblib := res.JoblibArrays > 0 || slices.ContainsFunc(res.Globals, func(g pickle.Global) bool {
		return g.Module == "joblib" || strings.HasPrefix(g.Module, "joblib.") || strings.Contains(g.Module, ".joblib.")
	})
	if !isJoblib {
		return
	}
	a.Format = "joblib"
	n := res.ArrayElements
	a.Parameters = &n
	for _, d := range res.ArrayDtypes {
		a.dtype(d)
	}
}
