package models

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"slices"
	"strings"
)

// Keras weights in HDF5: every weight is a dataset (kernel:0, bias:0 in a
// Keras 2 .h5 under model_weights; vars/0, vars/1 in a Keras 3
// model.weights.h5), so the parameter count is the sum of the datasets'
// element counts under the root group, and the dtypes are theirs. The
// optimizer's state (optimizer_weights, optimizer) is not the model's and
// is skipped. Groups are walked through both layouts h5py writes: symbol
// tables (a version 1 B-tree of symbol nodes, names in a local heap) and
// link messages in the object header. Links kept in dense storage (a
// fractal heap: libver="latest" groups with many members) are not read;
// such a file gets no parameter count. Datasets are never read, only
// their headers.

const (
	maxH5Read      = 24 << 20
	maxH5Objects   = 1 << 16
	maxH5Depth     = 32
	maxH5BtreeKids = 1 << 10
)

type h5walk struct {
	h       *h5file
	seen    map[int64]bool
	params  uint64
	dtypes  []string
	dense   bool
	overflw bool
}

// weightsInto sets parameters and dtypes from the weights; a walk that
// fails is a parse.error, and a count that would be wrong is left out.
func (h *h5file) weightsInto(a *Analysis) {
	params, dtypes, ok, err := h.weights()
	if err != nil {
		a.parseError(fmt.Errorf("hdf5 weights: %w", err))
		return
	}
	if ok {
		a.Parameters = &params
		a.Dtypes = dtypes
	}
}

// weights sums the weights' elements; ok is false when the count would be
// wrong (dense links, an overflow) or there are no weights.
func (h *h5file) weights() (params uint64, dtypes []string, ok bool, err error) {
	h.limited, h.budget = true, maxH5Read
	defer func() { h.limited = false }()
	w := &h5walk{h: h, seen: map[int64]bool{}}
	err = w.visit(h.rootAddr, 0)
	ok = err == nil && !w.dense && !w.overflw && len(w.dtypes) > 0
	return w.params, w.dtypes, ok, err
}

type h5link struct {
	name string
	addr int64
}

// visit reads one object: a dataset adds its elements, a group its
// members.
func (w *h5walk) visit(addr int64, depth int) error {
	if w.seen[addr] {
		return nil // a hard link to an object already counted
	}
	if len(w.seen) >= maxH5Objects {
		return fmt.Errorf("more than %d objects", maxH5Objects)
	}
	if depth > maxH5Depth {
		return fmt.Errorf("groups nested more than %d deep", maxH5Depth)
	}
	w.seen[addr] = true
	var space, dtype []byte
	var links []h5link
	var btree, heap int64 = -1, -1
	h := w.h
	o := h.offSize
	err := h.object(addr, func(typ int, body []byte) error {
		switch typ {
		case 0x01:
			space = slices.Clone(body)
		case 0x03:
			dtype = slices.Clone(body)
		case 0x06:
			if l, ok := h.link(body); ok {
				links = append(links, l)
			}
		case 0x02: // link info: a fractal heap address means dense links
			if len(body) >= 2 {
				p := 2
				if body[1]&0x01 != 0 {
					p += 8
				}
				if len(body) >= p+o && !h.undefined(body[p:p+o]) {
					w.dense = true
				}
			}
		case 0x11: // symbol table: B-tree and local heap addresses
			if len(body) < 2*o {
				return errors.New("short symbol table message")
			}
			btree, heap = h.base+int64(le(body[:o])), h.base+int64(le(body[o:2*o]))
		}
		return nil
	})
	if err != nil {
		return err
	}
	if space != nil && dtype != nil {
		w.dataset(space, dtype)
		return nil
	}
	if btree >= 0 {
		kids, err := h.symbolTable(btree, heap)
		if err != nil {
			return err
		}
		links = append(links, kids...)
	}
	if depth == 0 {
		links = kerasWeightGroups(links)
	}
	for _, l := range links {
		if err := w.visit(l.addr, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// kerasWeightGroups keeps the root's members that hold the model's
// weights: model_weights when there is one (a full Keras 2 model file),
// else everything but the optimizer's state.
func kerasWeightGroups(links []h5link) []h5link {
	if i := slices.IndexFunc(links, func(l h5link) bool { return l.name == "model_weights" }); i >= 0 {
		return links[i : i+1]
	}
	return slices.DeleteFunc(links, func(l h5link) bool { return l.name == "optimizer_weights" || l.name == "optimizer" })
}

func (w *h5walk) dataset(space, dtype []byte) {
	n, ok := w.h.extent(space)
	if !ok {
		w.overflw = true
		return
	}
	sum, carry := bits.Add64(w.params, n, 0)
	if carry != 0 {
		w.overflw = true
		return
	}
	w.params = sum
	if d := h5DtypeName(dtype); !slices.Contains(w.dtypes, d) && len(w.dtypes) < maxListed {
		w.dtypes = append(w.dtypes, d)
	}
}

// extent is a dataspace's element count, checked for overflow.
func (h *h5file) extent(ds []byte) (uint64, bool) {
	if len(ds) < 4 {
		return 0, false
	}
	ver, rank := ds[0], int(ds[1])
	p := 8
	if ver == 2 {
		p = 4
		switch ds[3] {
		case 0:
			return 1, true
		case 2:
			return 0, true
		}
	}
	n := uint64(1)
	for range rank {
		if len(ds) < p+h.lenSize {
			return 0, false
		}
		hi, lo := bits.Mul64(n, le(ds[p:p+h.lenSize]))
		if hi != 0 {
			return 0, false
		}
		n = lo
		p += h.lenSize
	}
	return n, true
}

// h5DtypeName names a datatype message the way NumPy would.
func h5DtypeName(dt []byte) string {
	if len(dt) < 8 {
		return "unknown"
	}
	class, size := dt[0]&0x0f, binary.LittleEndian.Uint32(dt[4:8])
	switch class {
	case 0:
		if dt[1]&0x08 != 0 {
			return fmt.Sprintf("int%d", size*8)
		}
		return fmt.Sprintf("uint%d", size*8)
	case 1:
		return fmt.Sprintf("float%d", size*8)
	case 8:
		return "enum" // h5py stores bool as an enum
	}
	return fmt.Sprintf("hdf5-class-%d", class)
}

func (h *h5file) undefined(b []byte) bool {
	return !slices.ContainsFunc(b, func(c byte) bool { return c != 0xff })
}

// link reads a link message; only hard links lead to objects.
func (h *h5file) link(b []byte) (h5link, bool) {
	if len(b) < 2 || b[0] != 1 {
		return h5link{}, false
	}
	flags, p := b[1], 2
	typ := byte(0)
	if flags&0x08 != 0 {
		if len(b) <= p {
			return h5link{}, false
		}
		typ = b[p]
		p++
	}
	if flags&0x04 != 0 {
		p += 8
	}
	if flags&0x10 != 0 {
		p++
	}
	lw := 1 << (flags & 0x03)
	if len(b) < p+lw {
		return h5link{}, false
	}
	nl := int(le(b[p : p+lw]))
	p += lw
	if nl < 0 || len(b) < p+nl+h.offSize || typ != 0 {
		return h5link{}, false
	}
	return h5link{name: string(b[p : p+nl]), addr: h.base + int64(le(b[p+nl:p+nl+h.offSize]))}, true
}

// symbolTable lists a version 1 group's members: the B-tree's leaves
// point at symbol nodes, whose entries name the members by an offset into
// the local heap.
func (h *h5file) symbolTable(btree, heap int64) ([]h5link, error) {
	hh, err := h.read(heap, 8+2*h.lenSize+h.offSize)
	if err != nil || !bytes.HasPrefix(hh, []byte("HEAP")) {
		return nil, errors.New("no local heap at its address")
	}
	segSize := int64(le(hh[8 : 8+h.lenSize]))
	segAddr := h.base + int64(le(hh[8+2*h.lenSize:]))
	if segSize < 0 || segSize > maxH5Block {
		return nil, fmt.Errorf("local heap of %d bytes", segSize)
	}
	seg, err := h.read(segAddr, int(segSize))
	if err != nil {
		return nil, err
	}
	var out []h5link
	var walk func(addr int64, depth int) error
	walk = func(addr int64, depth int) error {
		if depth > maxH5Depth {
			return errors.New("B-tree too deep")
		}
		o, l := h.offSize, h.lenSize
		hdr, err := h.read(addr, 8+2*o)
		if err != nil || !bytes.HasPrefix(hdr, []byte("TREE")) || hdr[4] != 0 {
			return errors.New("no group B-tree node at its address")
		}
		level, used := hdr[5], int(binary.LittleEndian.Uint16(hdr[6:8]))
		if used > maxH5BtreeKids {
			return fmt.Errorf("B-tree node with %d children", used)
		}
		body, err := h.read(addr+8+int64(2*o), used*(l+o)+l)
		if err != nil {
			return err
		}
		for i := range used {
			child := h.base + int64(le(body[i*(l+o)+l:i*(l+o)+l+o]))
			if level > 0 {
				if err := walk(child, depth+1); err != nil {
					return err
				}
				continue
			}
			kids, err := h.symbolNode(child, seg)
			if err != nil {
				return err
			}
			out = append(out, kids...)
			if len(out) > maxH5Objects {
				return fmt.Errorf("more than %d group members", maxH5Objects)
			}
		}
		return nil
	}
	return out, walk(btree, 0)
}

func (h *h5file) symbolNode(addr int64, heap []byte) ([]h5link, error) {
	hdr, err := h.read(addr, 8)
	if err != nil || !bytes.HasPrefix(hdr, []byte("SNOD")) {
		return nil, errors.New("no symbol node at its address")
	}
	n := int(binary.LittleEndian.Uint16(hdr[6:8]))
	es := 2*h.offSize + 24
	if n > maxH5BtreeKids {
		return nil, fmt.Errorf("symbol node with %d entries", n)
	}
	body, err := h.read(addr+8, n*es)
	if err != nil {
		return nil, err
	}
	out := make([]h5link, 0, n)
	for i := range n {
		e := body[i*es:]
		off := int(le(e[:h.offSize]))
		name := ""
		if off >= 0 && off < len(heap) {
			name, _, _ = strings.Cut(string(heap[off:min(len(heap), off+256)]), "\x00")
		}
		out = append(out, h5link{name: name, addr: h.base + int64(le(e[h.offSize:2*h.offSize]))})
	}
	return out, nil
}

// kerasZipWeights counts the weights of a .keras file from its
// model.weights.h5, read in place when stored (Keras writes it so); a
// compressed one would have to be inflated whole, so it is left uncounted.
func kerasZipWeights(a *Analysis, r io.ReaderAt, size int64, zr *zip.Reader) {
	for _, f := range zr.File {
		if f.Name != "model.weights.h5" || f.Method != zip.Store {
			continue
		}
		off, err := f.DataOffset()
		n := int64(f.UncompressedSize64)
		if err != nil || off < 0 || n < 0 || off > size || n > size-off {
			return
		}
		h := &h5file{r: io.NewSectionReader(r, off, n), size: n, attrs: map[string][]byte{}}
		if err := h.root(); err != nil {
			a.parseError(fmt.Errorf("model.weights.h5: %w", err))
			return
		}
		h.weightsInto(a)
		return
	}
}
