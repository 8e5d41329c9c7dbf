package access

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// DefaultMaxLineBytes caps one log line; a longer line is counted and
// skipped, never held in memory whole.
const DefaultMaxLineBytes = 64 << 10

// lineScanner reads newline-terminated lines and tracks byte offsets, so
// that a checkpoint can say exactly where the next unread line starts.
type lineScanner struct {
	br *bufio.Reader
	// off is the offset of the next unread byte, relative to the start of
	// the file (the reader is positioned at the offset it was created with).
	off int64
	// final says the input will not grow: a last line without a newline
	// is complete. Otherwise it is held back until its newline arrives.
	final bool
}

func newLineScanner(r io.Reader, offset int64, maxLine int, final bool) *lineScanner {
	if maxLine <= 0 {
		maxLine = DefaultMaxLineBytes
	}
	if maxLine < 16 {
		maxLine = 16
	}
	return &lineScanner{br: bufio.NewReaderSize(r, maxLine), off: offset, final: final}
}

// errPartial ends a scan at an incomplete last line.
var errPartial = errors.New("partial last line")

// next returns the next line without its line ending and the offset it
// starts at. tooLong lines come back empty. At the end it returns io.EOF,
// or errPartial when an unfinished line remains (not consumed: off stays
// at its start).
func (s *lineScanner) next() (line []byte, start int64, tooLong bool, err error) {
	start = s.off
	buf, err := s.br.ReadSlice('\n')
	switch {
	case err == nil:
		s.off += int64(len(buf))
		return trimEOL(buf), start, false, nil
	case errors.Is(err, io.EOF):
		if len(buf) == 0 {
			return nil, start, false, io.EOF
		}
		if s.final {
			s.off += int64(len(buf))
			return trimEOL(buf), start, false, nil
		}
		return nil, start, false, errPartial
	case errors.Is(err, bufio.ErrBufferFull):
		n := int64(len(buf))
		for {
			buf, err = s.br.ReadSlice('\n')
			n += int64(len(buf))
			switch {
			case err == nil:
				s.off += n
				return nil, start, true, nil
			case errors.Is(err, bufio.ErrBufferFull):
				continue
			case errors.Is(err, io.EOF):
				if s.final {
					s.off += n
					return nil, start, true, nil
				}
				return nil, start, false, errPartial
			case errors.Is(err, errDeferred), errors.Is(err, errCapped):
				return nil, start, false, errPartial
			default:
				return nil, start, false, fmt.Errorf("read log: %w", err)
			}
		}
	case errors.Is(err, errDeferred), errors.Is(err, errCapped):
		// The rest waits for the next collection, or is cut: either way
		// the line is not whole.
		return nil, start, false, errPartial
	default:
		return nil, start, false, fmt.Errorf("read log: %w", err)
	}
}

func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b
}
