package datasets

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Arrow IPC (the stream format Hugging Face save_to_disk writes, and the
// file format, which wraps a stream in "ARROW1" and a footer) is read by
// hand, metadata only: the schema message for column names, then each
// record batch message for its row count, seeking over the bodies. The
// arrow-go reader would load every batch body into memory to count rows
// (a shard holds gigabytes) and brings a large dependency tree; the
// metadata is a handful of FlatBuffers tables, read here with bounds
// checks on every offset.

// ArrowInfo is what an Arrow IPC file's metadata says.
type ArrowInfo struct {
	Columns []string
	Rows    int64
	Batches int
}

// Bounds on hostile metadata.
const (
	maxArrowMeta     = 1 << 20 // one message's FlatBuffer
	maxArrowMessages = 1 << 20 // messages walked per file
)

// Arrow message header types (Schema.fbs / Message.fbs).
const (
	arrowHeaderSchema      = 1
	arrowHeaderDictBatch   = 2
	arrowHeaderRecordBatch = 3
)

var errArrowTruncated = errors.New("arrow: truncated")

// ReadArrowInfo walks the IPC messages of an Arrow stream or file of the
// given size through r, reading at most maxArrowMeta bytes of metadata
// per message and never a body.
func ReadArrowInfo(r io.ReaderAt, size int64) (ArrowInfo, error) {
	var info ArrowInfo
	off := int64(0)
	var magic [8]byte
	if n, _ := r.ReadAt(magic[:], 0); n >= 6 && string(magic[:6]) == "ARROW1" {
		off = 8 // magic plus padding; the stream follows
	}
	var pre [8]byte
	sawSchema := false
	for i := 0; i < maxArrowMessages; i++ {
		if off+4 > size {
			break
		}
		if _, err := r.ReadAt(pre[:4], off); err != nil {
			return info, fmt.Errorf("arrow: message at %d: %w", off, errArrowTruncated)
		}
		metaLen := int64(int32(binary.LittleEndian.Uint32(pre[:4])))
		off += 4
		if uint32(metaLen) == 0xFFFFFFFF {
			// Continuation marker (format 0.15+); the length follows.
			if _, err := r.ReadAt(pre[:4], off); err != nil {
				return info, fmt.Errorf("arrow: message at %d: %w", off, errArrowTruncated)
			}
			metaLen = int64(int32(binary.LittleEndian.Uint32(pre[:4])))
			off += 4
		}
		if metaLen == 0 {
			// End of stream; an Arrow file's footer follows.
			break
		}
		if metaLen < 0 || metaLen > maxArrowMeta || off+metaLen > size {
			return info, fmt.Errorf("arrow: message at %d declares %d bytes of metadata: %w", off, metaLen, errArrowTruncated)
		}
		meta := make([]byte, metaLen)
		if _, err := r.ReadAt(meta, off); err != nil {
			return info, fmt.Errorf("arrow: message at %d: %w", off, errArrowTruncated)
		}
		off += metaLen
		msg, err := fbRoot(meta)
		if err != nil {
			return info, fmt.Errorf("arrow: message at %d: %w", off-metaLen, err)
		}
		htype := msg.u8(1)
		body := msg.i64(3)
		if body < 0 || off+body > size {
			return info, fmt.Errorf("arrow: body of %d bytes at %d: %w", body, off, errArrowTruncated)
		}
		header, ok := msg.table(2)
		switch {
		case !ok:
			return info, fmt.Errorf("arrow: message at %d has no header", off-metaLen)
		case htype == arrowHeaderSchema && !sawSchema:
			sawSchema = true
			fields, _ := header.vector(1)
			for j := 0; j < fields.n && len(info.Columns) < maxColumnsKept; j++ {
				if f, ok := fields.table(j); ok {
					info.Columns = append(info.Columns, capString(f.str(0), 128))
				}
			}
		case htype == arrowHeaderRecordBatch:
			n := header.i64(0)
			if n < 0 {
				return info, fmt.Errorf("arrow: record batch of %d rows", n)
			}
			info.Rows += n
			info.Batches++
		}
		off += body
	}
	if !sawSchema {
		return info, errors.New("arrow: no schema message")
	}
	return info, nil
}

// fbTable is a FlatBuffers table: its buffer and position. Every read is
// checked against the buffer; a bad offset reads as absent.
type fbTable struct {
	b   []byte
	pos int
}

func fbRoot(b []byte) (fbTable, error) {
	if len(b) < 4 {
		return fbTable{}, errArrowTruncated
	}
	pos := int(binary.LittleEndian.Uint32(b))
	t := fbTable{b, pos}
	if _, ok := t.vtable(); !ok {
		return fbTable{}, errors.New("arrow: bad FlatBuffer root")
	}
	return t, nil
}

func (t fbTable) ok(at, n int) bool { return at >= 0 && n >= 0 && at <= len(t.b)-n }

// vtable returns the vtable's position.
func (t fbTable) vtable() (int, bool) {
	if !t.ok(t.pos, 4) {
		return 0, false
	}
	vt := t.pos - int(int32(binary.LittleEndian.Uint32(t.b[t.pos:])))
	if !t.ok(vt, 4) {
		return 0, false
	}
	return vt, true
}

// field returns the absolute position of field i, or false if absent.
func (t fbTable) field(i int) (int, bool) {
	vt, ok := t.vtable()
	if !ok {
		return 0, false
	}
	vlen := int(binary.LittleEndian.Uint16(t.b[vt:]))
	slot := 4 + 2*i
	if slot+2 > vlen || !t.ok(vt+slot, 2) {
		return 0, false
	}
	o := int(binary.LittleEndian.Uint16(t.b[vt+slot:]))
	if o == 0 {
		return 0, false
	}
	return t.pos + o, true
}

func (t fbTable) u8(i int) byte {
	p, ok := t.field(i)
	if !ok || !t.ok(p, 1) {
		return 0
	}
	return t.b[p]
}

func (t fbTable) i64(i int) int64 {
	p, ok := t.field(i)
	if !ok || !t.ok(p, 8) {
		return 0
	}
	return int64(binary.LittleEndian.Uint64(t.b[p:]))
}

// deref follows the uoffset stored at p.
func (t fbTable) deref(p int) (int, bool) {
	if !t.ok(p, 4) {
		return 0, false
	}
	q := p + int(binary.LittleEndian.Uint32(t.b[p:]))
	return q, t.ok(q, 4)
}

func (t fbTable) table(i int) (fbTable, bool) {
	p, ok := t.field(i)
	if !ok {
		return fbTable{}, false
	}
	q, ok := t.deref(p)
	return fbTable{t.b, q}, ok
}

func (t fbTable) str(i int) string {
	p, ok := t.field(i)
	if !ok {
		return ""
	}
	q, ok := t.deref(p)
	if !ok {
		return ""
	}
	n := int(binary.LittleEndian.Uint32(t.b[q:]))
	if !t.ok(q+4, n) {
		return ""
	}
	return string(t.b[q+4 : q+4+n])
}

// fbVector is a vector of tables.
type fbVector struct {
	b   []byte
	pos int // first element
	n   int
}

func (t fbTable) vector(i int) (fbVector, bool) {
	p, ok := t.field(i)
	if !ok {
		return fbVector{}, false
	}
	q, ok := t.deref(p)
	if !ok {
		return fbVector{}, false
	}
	n := int(binary.LittleEndian.Uint32(t.b[q:]))
	if n < 0 || !t.ok(q+4, 4*n) {
		return fbVector{}, false
	}
	return fbVector{t.b, q + 4, n}, true
}

func (v fbVector) table(j int) (fbTable, bool) {
	t := fbTable{v.b, 0}
	q, ok := t.deref(v.pos + 4*j)
	return fbTable{v.b, q}, ok
}
