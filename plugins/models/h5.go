package models

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// A Keras .h5 file keeps its architecture in attributes of the HDF5 root
// group: model_config (JSON), keras_version and backend, and layer_names
// for weights-only files. This is not an HDF5 parser: it reads the
// superblock (versions 0 to 3), the root group's object header (version 1
// or 2, with its continuation blocks) and the attribute messages in it,
// whose values are either inline fixed-length strings (what Keras 2
// writes, from bytes) or variable-length strings in a global heap
// collection (what h5py writes from str). Attributes kept in dense storage
// (a fractal heap, only for files written with libver="latest" and many or
// large attributes) are not read: such a file is reported with a
// parse.error saying model_config was not found. Every read is bounded.
//
// Layouts are from the HDF5 File Format Specification version 3.0.

var hdf5Magic = []byte("\x89HDF\r\n\x1a\n")

const (
	maxH5Messages     = 4096
	maxH5Continuation = 64
	maxH5Block        = 1 << 20
)

type h5file struct {
	r          io.ReaderAt
	size       int64
	offSize    int // size of offsets (addresses)
	lenSize    int // size of lengths
	base       int64
	attrs      map[string][]byte
	nmsgs      int
	denseAttrs bool
	// budget, when set, is what may still be read: walking a file of
	// many objects must cost bounded time (h5weights.go).
	budget  int64
	limited bool
	// rootAddr is the root group's object header.
	rootAddr int64
}

func (h *h5file) read(off int64, n int) ([]byte, error) {
	if off < 0 || n < 0 || off+int64(n) > h.size || n > maxKerasConfig+64 {
		return nil, fmt.Errorf("%d bytes at %d are outside the %d-byte file", n, off, h.size)
	}
	if h.limited {
		if h.budget -= int64(n); h.budget < 0 {
			return nil, fmt.Errorf("read more than %d bytes of HDF5 metadata", maxH5Read)
		}
	}
	b := make([]byte, n)
	if _, err := h.r.ReadAt(b, off); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return b, nil
}

func le(b []byte) uint64 {
	var v uint64
	for i := len(b) - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

// analyzeH5 reads the root group's attributes; ok is false when the file
// is HDF5 but not a Keras one (a scientific data file, say).
func analyzeH5(a *Analysis, r io.ReaderAt, size int64) bool {
	h := &h5file{r: r, size: size, attrs: map[string][]byte{}}
	err := h.root()
	cfg, hasCfg := h.attrs["model_config"]
	_, hasLayers := h.attrs["layer_names"]
	kv, hasVer := h.attrs["keras_version"]
	if !hasCfg && !hasLayers && !hasVer {
		return false
	}
	a.Format = "keras-h5"
	if hasVer {
		a.KerasVersion = clip(string(kv), 64)
	}
	if b, ok := h.attrs["backend"]; ok {
		a.Backend = clip(string(b), 64)
	}
	if err != nil {
		a.parseError(fmt.Errorf("hdf5: %w", err))
	}
	// Weights-only files (layer_names, no model_config) say nothing about
	// how to build the model, so there is nothing more to check.
	if hasCfg {
		analyzeKerasConfig(a, "model_config", cfg)
	}
	if err == nil {
		h.weightsInto(a)
	}
	return true
}

// root finds the root group's object header from the superblock and reads
// its attributes.
func (h *h5file) root() error {
	sb, err := h.read(0, min(int(h.size), 256))
	if err != nil || !bytes.HasPrefix(sb, hdf5Magic) || len(sb) < 48 {
		return errors.New("no superblock")
	}
	var rootAddr uint64
	switch v := sb[8]; v {
	case 0, 1:
		h.offSize, h.lenSize = int(sb[13]), int(sb[14])
		if !h.sizesOK() {
			return fmt.Errorf("superblock sizes %d/%d", h.offSize, h.lenSize)
		}
		start := 24
		if v == 1 {
			start = 28
		}
		o := h.offSize
		// base, free-space, end-of-file and driver addresses, then the
		// root symbol table entry: link name offset, object header address.
		if len(sb) < start+6*o {
			return errors.New("short superblock")
		}
		h.base = int64(le(sb[start : start+o]))
		rootAddr = le(sb[start+5*o : start+6*o])
	case 2, 3:
		h.offSize, h.lenSize = int(sb[9]), int(sb[10])
		if !h.sizesOK() {
			return fmt.Errorf("superblock sizes %d/%d", h.offSize, h.lenSize)
		}
		o := h.offSize
		if len(sb) < 12+4*o {
			return errors.New("short superblock")
		}
		h.base = int64(le(sb[12 : 12+o]))
		rootAddr = le(sb[12+3*o : 12+4*o])
	default:
		return fmt.Errorf("superblock version %d", v)
	}
	if h.base < 0 || h.base > h.size || rootAddr > uint64(h.size) {
		return errors.New("root group address outside the file")
	}
	h.rootAddr = h.base + int64(rootAddr)
	return h.objectHeader(h.rootAddr)
}

func (h *h5file) sizesOK() bool {
	ok := func(n int) bool { return n == 2 || n == 4 || n == 8 }
	return ok(h.offSize) && ok(h.lenSize)
}

// block is a run of messages to read: where, how long, and whether it is
// a version 2 header's (message headers of 4 or 6 bytes, no padding).
type h5block struct {
	off, n int64
	v2     bool
}

func (h *h5file) objectHeader(addr int64) error {
	return h.object(addr, func(typ int, body []byte) error {
		switch typ {
		case 0x0C: // attribute
			if err := h.attribute(body); err != nil {
				return fmt.Errorf("attribute: %w", err)
			}
		case 0x15: // attribute info: attributes in dense storage
			h.denseAttrs = true
		}
		return nil
	})
}

// object reads an object header's messages, following continuation
// blocks, and hands every other message to visit.
func (h *h5file) object(addr int64, visit func(typ int, body []byte) error) error {
	h.nmsgs = 0
	if addr < 0 || addr >= h.size {
		return errors.New("object header outside the file")
	}
	pre, err := h.read(addr, int(min(40, h.size-addr)))
	if err != nil {
		return err
	}
	var blocks []h5block
	trackOrder := false
	switch {
	case len(pre) >= 16 && pre[0] == 1:
		n := int64(binary.LittleEndian.Uint32(pre[8:12]))
		blocks = append(blocks, h5block{addr + 16, n, false})
	case bytes.HasPrefix(pre, []byte("OHDR")) && len(pre) >= 7 && pre[4] == 2:
		flags := pre[5]
		p := 6
		if flags&0x20 != 0 {
			p += 16
		}
		if flags&0x10 != 0 {
			p += 4
		}
		trackOrder = flags&0x04 != 0
		w := 1 << (flags & 0x03)
		if len(pre) < p+w {
			return errors.New("short object header")
		}
		n := int64(le(pre[p : p+w]))
		blocks = append(blocks, h5block{addr + int64(p+w), n, true})
	default:
		return errors.New("object header is neither version 1 nor 2")
	}
	for i := 0; i < len(blocks); i++ {
		if i > maxH5Continuation {
			return fmt.Errorf("more than %d continuation blocks", maxH5Continuation)
		}
		b := blocks[i]
		if b.n < 0 || b.n > maxH5Block {
			return fmt.Errorf("header block of %d bytes", b.n)
		}
		data, err := h.read(b.off, int(b.n))
		if err != nil {
			return err
		}
		if b.v2 && i > 0 {
			if !bytes.HasPrefix(data, []byte("OCHK")) {
				return errors.New("continuation block without OCHK")
			}
			data = data[4:]
		}
		more, err := h.messages(data, b.v2, trackOrder, visit)
		if err != nil {
			return err
		}
		for _, m := range more {
			m.v2 = b.v2
			blocks = append(blocks, m)
		}
	}
	return nil
}

// messages reads one block's messages: continuation messages are
// returned, the others handed to visit.
func (h *h5file) messages(data []byte, v2, trackOrder bool, visit func(int, []byte) error) ([]h5block, error) {
	var cont []h5block
	for len(data) > 0 {
		h.nmsgs++
		if h.nmsgs > maxH5Messages {
			return nil, fmt.Errorf("more than %d header messages", maxH5Messages)
		}
		var typ, size int
		if v2 {
			hl := 4
			if trackOrder {
				hl = 6
			}
			if len(data) < hl {
				return cont, nil // the gap before the checksum
			}
			typ, size = int(data[0]), int(binary.LittleEndian.Uint16(data[1:3]))
			data = data[hl:]
		} else {
			if len(data) < 8 {
				return cont, nil
			}
			typ, size = int(binary.LittleEndian.Uint16(data[0:2])), int(binary.LittleEndian.Uint16(data[2:4]))
			data = data[8:]
		}
		if size > len(data) {
			if v2 && len(data) <= 4 {
				return cont, nil // checksum
			}
			return nil, fmt.Errorf("message of %d bytes in %d", size, len(data))
		}
		body := data[:size]
		data = data[size:]
		if typ == 0x10 { // continuation: offset, length
			o, l := h.offSize, h.lenSize
			if len(body) < o+l {
				return nil, errors.New("short continuation message")
			}
			cont = append(cont, h5block{off: h.base + int64(le(body[:o])), n: int64(le(body[o : o+l]))})
		} else if err := visit(typ, body); err != nil {
			return nil, err
		}
	}
	return cont, nil
}

func pad8(n int) int { return (n + 7) &^ 7 }

// attribute keeps the value of a string attribute of interest.
func (h *h5file) attribute(b []byte) error {
	if len(b) < 8 {
		return errors.New("short")
	}
	ver := b[0]
	nameLen := int(binary.LittleEndian.Uint16(b[2:4]))
	dtLen := int(binary.LittleEndian.Uint16(b[4:6]))
	dsLen := int(binary.LittleEndian.Uint16(b[6:8]))
	p := 8
	pad := func(n int) int { return n }
	switch ver {
	case 1:
		pad = pad8
	case 2:
	case 3:
		p = 9
	default:
		return fmt.Errorf("version %d", ver)
	}
	if len(b) < p+pad(nameLen)+pad(dtLen)+pad(dsLen) || nameLen == 0 {
		return errors.New("short")
	}
	name := strings.TrimRight(string(b[p:p+nameLen]), "\x00")
	p += pad(nameLen)
	dt := b[p : p+dtLen]
	p += pad(dtLen)
	ds := b[p : p+dsLen]
	p += pad(dsLen)
	switch name {
	case "model_config", "keras_version", "backend", "layer_names", "training_config":
	default:
		return nil
	}
	if name == "layer_names" {
		h.attrs[name] = nil
		return nil
	}
	if n, ok := h.elements(ds); !ok || n != 1 {
		return fmt.Errorf("%s is not a scalar", name)
	}
	if len(dt) < 8 {
		return errors.New("short datatype")
	}
	class := dt[0] & 0x0f
	elem := int(binary.LittleEndian.Uint32(dt[4:8]))
	data := b[p:]
	switch {
	case class == 3: // fixed-length string, inline
		if elem > len(data) {
			return fmt.Errorf("%s: string of %d bytes in %d", name, elem, len(data))
		}
		h.attrs[name] = bytes.TrimRight(data[:elem], "\x00 ")
	case class == 9 && dt[1]&0x0f == 1: // variable-length string: global heap
		v, err := h.globalHeap(data)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		h.attrs[name] = v
	default:
		return fmt.Errorf("%s has datatype class %d, not a string", name, class)
	}
	return nil
}

// elements counts a dataspace's elements (scalar is 1).
func (h *h5file) elements(ds []byte) (uint64, bool) {
	if len(ds) < 4 {
		return 0, false
	}
	ver, rank := ds[0], int(ds[1])
	p := 8
	if ver == 2 {
		p = 4
		if ds[3] == 0 {
			return 1, true
		}
	}
	n := uint64(1)
	for i := 0; i < rank; i++ {
		if len(ds) < p+h.lenSize {
			return 0, false
		}
		n *= le(ds[p : p+h.lenSize])
		p += h.lenSize
	}
	return n, n <= 1<<20
}

// globalHeap resolves a variable-length element: length, collection
// address, object index.
func (h *h5file) globalHeap(id []byte) ([]byte, error) {
	o := h.offSize
	if len(id) < 4+o+4 {
		return nil, errors.New("short heap id")
	}
	addr := h.base + int64(le(id[4:4+o]))
	index := binary.LittleEndian.Uint32(id[4+o : 8+o])
	hdr, err := h.read(addr, 8+h.lenSize)
	if err != nil {
		return nil, err
	}
	if !bytes.HasPrefix(hdr, []byte("GCOL")) {
		return nil, errors.New("no global heap collection at its address")
	}
	csize := int64(le(hdr[8 : 8+h.lenSize]))
	if csize < 0 || csize > maxKerasConfig+4096 {
		return nil, fmt.Errorf("global heap collection of %d bytes", csize)
	}
	col, err := h.read(addr, int(min(csize, h.size-addr)))
	if err != nil {
		return nil, err
	}
	p := 8 + h.lenSize
	for i := 0; i < 1<<16 && p+8+h.lenSize <= len(col); i++ {
		idx := binary.LittleEndian.Uint16(col[p:])
		osize := int(le(col[p+8 : p+8+h.lenSize]))
		p += 8 + h.lenSize
		if idx == 0 || osize < 0 || osize > len(col)-p {
			break
		}
		if uint32(idx) == index {
			return col[p : p+osize], nil
		}
		p += pad8(osize)
	}
	return nil, fmt.Errorf("object %d not in its global heap collection", index)
}
