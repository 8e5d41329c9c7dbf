package access

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz/lzma"
)

// Rotated logs are read through a decompressor chosen by the file name's
// extension, as logrotate names them (compressext). Memory is bounded by
// the decoders' windows, checked before anything is allocated; time by
// the decompressed bytes a file and a collection may give (capReader).

// compressions maps a rotated name's extension to its format.
var compressions = map[string]string{".gz": "gzip", ".xz": "xz", ".zst": "zstd", ".bz2": "bzip2"}

// compressionOf names the compression of a rotated file, "" when plain.
func compressionOf(name string) string {
	for ext, kind := range compressions {
		if strings.HasSuffix(name, ext) {
			return kind
		}
	}
	return ""
}

// maxDecoderWindow caps the history a zstd frame or an xz block may ask
// the decoder to keep. xz's presets use at most 64 MiB (-9); zstd's
// levels up to 19 use 8 MiB, --ultra -22 and --long=27 128 MiB.
const maxDecoderWindow = 64 << 20

// decompressor opens kind's decoder on r; close releases it.
func decompressor(kind string, r io.Reader) (rd io.Reader, closeFn func(), err error) {
	switch kind {
	case "gzip":
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, nil, fmt.Errorf("gzip: %w", err)
		}
		return zr, func() { zr.Close() }, nil
	case "bzip2":
		return bzip2.NewReader(r), func() {}, nil
	case "xz":
		zr, err := newXZReader(r, maxDecoderWindow)
		if err != nil {
			return nil, nil, err
		}
		return zr, func() {}, nil
	case "zstd":
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(maxDecoderWindow), zstd.WithDecoderMaxMemory(maxDecoderWindow))
		if err != nil {
			return nil, nil, fmt.Errorf("zstd: %w", err)
		}
		return zr, zr.Close, nil
	}
	return nil, nil, fmt.Errorf("unknown compression %q", kind)
}

// errDeferred ends a read when the collection's decompression budget is
// spent: the rest waits for the next collection, like a partial line.
var errDeferred = errors.New("decompression budget of this collection spent")

// errCapped ends a compressed file at max_decompressed_per_file: a line
// it cuts is not taken whole.
var errCapped = errors.New("decompressed size cap of a file reached")

// capReader bounds what a decompressor gives: at most fileCap bytes
// from the start of the file (the rest is skipped, and said so), and at
// most what is left of the collection's budget (the rest is read next
// time). A decoding error ends the file like EOF, kept in err.
type capReader struct {
	r       io.Reader
	pos     int64
	fileCap int64
	budget  *int64
	// capped is "file" or "collection" once a cap stopped the reading.
	capped string
	err    error
}

func (z *capReader) Read(p []byte) (int, error) {
	if z.err != nil {
		return 0, io.EOF
	}
	if z.pos >= z.fileCap {
		z.capped = "file"
		return 0, errCapped
	}
	if *z.budget <= 0 {
		z.capped = "collection"
		return 0, errDeferred
	}
	if lim := min(z.fileCap-z.pos, *z.budget); int64(len(p)) > lim {
		p = p[:lim]
	}
	n, err := z.r.Read(p)
	z.pos += int64(n)
	*z.budget -= int64(n)
	if err != nil && !errors.Is(err, io.EOF) {
		z.err = err
		return n, io.EOF
	}
	return n, err
}

// deferred says whether r stopped for the collection's budget.
func deferred(r io.Reader) bool {
	z, ok := r.(*capReader)
	return ok && z.capped == "collection"
}

// xzReader decodes an xz file — every stream and block, with padding —
// through lzma's LZMA2 decoder. ulikunitz/xz's own reader allocates the
// dictionary a block header asks for (up to 4 GiB) before reading a byte
// of data; here each header is checked against maxDict first. Blocks
// with filters other than LZMA2 alone (BCJ, delta: not used for text)
// are refused. The integrity check of each block is verified.
type xzReader struct {
	br      *bufio.Reader
	n       int64 // bytes consumed from br
	maxDict int64
	check   byte
	// The block being decoded: its LZMA2 reader, header size and the
	// offset its data started at, and the hash of what it gave.
	cur      io.Reader
	curStart int64
	curHdr   int64
	sum      hash.Hash
	inStream bool
	err      error
}

var xzMagic = []byte{0xfd, '7', 'z', 'X', 'Z', 0}

func newXZReader(r io.Reader, maxDict int64) (*xzReader, error) {
	z := &xzReader{br: bufio.NewReader(r), maxDict: maxDict}
	if err := z.streamHeader(); err != nil {
		return nil, err
	}
	return z, nil
}

// Read and ReadByte count what the decoder takes, so block padding can
// be found after LZMA2's end marker.
func (z *xzReader) read(p []byte) (int, error) {
	n, err := z.br.Read(p)
	z.n += int64(n)
	return n, err
}

type xzCounted struct{ z *xzReader }

func (c xzCounted) Read(p []byte) (int, error) { return c.z.read(p) }

func (z *xzReader) full(p []byte) error {
	_, err := io.ReadFull(xzCounted{z}, p)
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return err
}

func (z *xzReader) uvarint() (uint64, error) {
	var v uint64
	for i := 0; i < 9; i++ {
		var b [1]byte
		if err := z.full(b[:]); err != nil {
			return 0, err
		}
		v |= uint64(b[0]&0x7f) << (7 * i)
		if b[0]&0x80 == 0 {
			return v, nil
		}
	}
	return 0, errors.New("xz: bad variable-length integer")
}

func (z *xzReader) streamHeader() error {
	var h [12]byte
	if err := z.full(h[:]); err != nil {
		return fmt.Errorf("xz stream header: %w", err)
	}
	if !bytes.Equal(h[:6], xzMagic) || h[6] != 0 || h[7] > 0x0f {
		return errors.New("xz: not an xz stream header")
	}
	if crc32.ChecksumIEEE(h[6:8]) != binary.LittleEndian.Uint32(h[8:]) {
		return errors.New("xz: stream header CRC mismatch")
	}
	z.check, z.inStream = h[7], true
	return nil
}

// checkSize is the size of a block's integrity check by check ID.
func checkSize(id byte) int {
	if id == 0 {
		return 0
	}
	return 4 << ((id - 1) / 3)
}

func newCheck(id byte) hash.Hash {
	switch id {
	case 1:
		return crc32.NewIEEE()
	case 4:
		return crc64.New(crc64.MakeTable(crc64.ECMA))
	case 10:
		return sha256.New()
	}
	return nil
}

func (z *xzReader) Read(p []byte) (int, error) {
	for {
		if z.err != nil {
			return 0, z.err
		}
		if z.cur != nil {
			n, err := z.cur.Read(p)
			if z.sum != nil {
				z.sum.Write(p[:n])
			}
			switch {
			case errors.Is(err, io.EOF):
				z.cur = nil
				if err := z.endBlock(); err != nil {
					z.err = err
				}
			case err != nil:
				z.err = fmt.Errorf("xz: %w", err)
			}
			if n > 0 {
				return n, nil
			}
			continue
		}
		if err := z.next(); err != nil {
			z.err = err
		}
	}
}

// endBlock skips the block's padding and verifies its check.
func (z *xzReader) endBlock() error {
	pad := (4 - (z.n-z.curStart+z.curHdr)%4) % 4
	var b [64]byte
	if err := z.full(b[:pad]); err != nil {
		return fmt.Errorf("xz block padding: %w", err)
	}
	if !bytes.Equal(b[:pad], make([]byte, pad)) {
		return errors.New("xz: non-zero block padding")
	}
	n := checkSize(z.check)
	if err := z.full(b[:n]); err != nil {
		return fmt.Errorf("xz block check: %w", err)
	}
	if z.sum != nil {
		got := z.sum.Sum(nil)
		if z.check != 10 {
			// CRC32 and CRC64 are stored little-endian.
			for i, j := 0, len(got)-1; i < j; i, j = i+1, j-1 {
				got[i], got[j] = got[j], got[i]
			}
		}
		if !bytes.Equal(got, b[:n]) {
			return errors.New("xz: block check mismatch (corrupt data)")
		}
	}
	return nil
}

// next starts the next block, or reads past an index, footer and stream
// padding to the next stream or the end.
func (z *xzReader) next() error {
	if !z.inStream {
		// Stream padding (zeros), then another stream or the end.
		for {
			b, err := z.br.Peek(1)
			if len(b) == 0 {
				if errors.Is(err, io.EOF) {
					return io.EOF
				}
				return fmt.Errorf("xz: %w", err)
			}
			if b[0] != 0 {
				return z.streamHeader()
			}
			z.br.Discard(1)
			z.n++
		}
	}
	var size [1]byte
	if err := z.full(size[:]); err != nil {
		return fmt.Errorf("xz block header: %w", err)
	}
	if size[0] == 0 {
		return z.index()
	}
	hdrLen := (int(size[0]) + 1) * 4
	h := make([]byte, hdrLen)
	h[0] = size[0]
	if err := z.full(h[1:]); err != nil {
		return fmt.Errorf("xz block header: %w", err)
	}
	if crc32.ChecksumIEEE(h[:hdrLen-4]) != binary.LittleEndian.Uint32(h[hdrLen-4:]) {
		return errors.New("xz: block header CRC mismatch")
	}
	flags := h[1]
	if flags&0x3c != 0 {
		return errors.New("xz: reserved block header flags set")
	}
	p := h[2 : hdrLen-4]
	varint := func() (uint64, error) {
		v, n := binary.Uvarint(p)
		if n <= 0 {
			return 0, errors.New("xz: bad block header")
		}
		p = p[n:]
		return v, nil
	}
	for _, bit := range []byte{0x40, 0x80} { // compressed, uncompressed size
		if flags&bit != 0 {
			if _, err := varint(); err != nil {
				return err
			}
		}
	}
	if flags&0x03 != 0 {
		return errors.New("xz: filter chains other than LZMA2 alone (BCJ, delta) are not read")
	}
	id, err := varint()
	if err != nil {
		return err
	}
	plen, err := varint()
	if err != nil {
		return err
	}
	if id != 0x21 || plen != 1 || len(p) < 1 {
		return fmt.Errorf("xz: filter 0x%x is not LZMA2", id)
	}
	dict, err := lzma.DecodeDictCap(p[0])
	if err != nil {
		return fmt.Errorf("xz: %w", err)
	}
	if dict > z.maxDict {
		return fmt.Errorf("xz: a block needs a %d MiB dictionary, over the %d MiB limit", dict>>20, z.maxDict>>20)
	}
	z.curStart, z.curHdr = z.n, int64(hdrLen)
	r, err := lzma.Reader2Config{DictCap: int(max(dict, lzma.MinDictCap))}.NewReader2(xzCounted{z})
	if err != nil {
		return fmt.Errorf("xz: %w", err)
	}
	z.cur, z.sum = r, newCheck(z.check)
	return nil
}

// index skips a stream's index (its 0x00 indicator already read) and
// footer.
func (z *xzReader) index() error {
	start := z.n - 1
	count, err := z.uvarint()
	if err != nil {
		return fmt.Errorf("xz index: %w", err)
	}
	for i := uint64(0); i < 2*count; i++ {
		if _, err := z.uvarint(); err != nil {
			return fmt.Errorf("xz index: %w", err)
		}
	}
	var b [16]byte
	if err := z.full(b[:(4-(z.n-start)%4)%4+4]); err != nil { // padding, CRC32
		return fmt.Errorf("xz index: %w", err)
	}
	if err := z.full(b[:12]); err != nil {
		return fmt.Errorf("xz stream footer: %w", err)
	}
	if b[10] != 'Y' || b[11] != 'Z' {
		return errors.New("xz: bad stream footer")
	}
	z.inStream = false
	return nil
}
