package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"github.com/annexa/annexa/evidence"
)

// lineWriter prints records as JSON lines, byte for byte as
// json.Encoder.Encode would, without its cost: the encoder re-scans and
// compacts every record's attributes (a json.RawMessage), a third of the
// agent's CPU in `collect --once` over 100k records, and reflects over the
// envelope. Attributes that are compact already and hold nothing the
// encoder escapes are copied as they are into an envelope written by
// hand; the few others take the encoder's own path. Records must be valid
// (evidence.Record.Validate), as everything a plugin sends is.
type lineWriter struct {
	w   io.Writer
	buf []byte
}

func (lw *lineWriter) write(r evidence.Record) error {
	if !copyable(r.Attributes) {
		return lw.encode(r)
	}
	// The envelope in evidence.Record's field order, as its JSON tags
	// name and omit them.
	b := append(lw.buf[:0], `{"kind":`...)
	b = appendString(b, r.Kind)
	b = append(b, `,"schema":`...)
	b = strconv.AppendUint(b, uint64(r.Schema), 10)
	b = append(b, `,"subject":`...)
	b = appendString(b, r.Subject)
	b = append(b, `,"op":`...)
	b = appendString(b, string(r.Op))
	b = append(b, `,"observed_at":`...)
	b, err := r.ObservedAt.AppendText(append(b, '"'))
	if err != nil {
		return fmt.Errorf("observed_at: %w", err)
	}
	b = append(b, `","attributes":`...)
	b = append(b, r.Attributes...)
	if r.Host != "" {
		b = append(b, `,"host":`...)
		b = appendString(b, r.Host)
	}
	if r.Plugin != "" {
		b = append(b, `,"plugin":`...)
		b = appendString(b, r.Plugin)
	}
	if r.Seq != 0 {
		b = append(b, `,"seq":`...)
		b = strconv.AppendUint(b, r.Seq, 10)
	}
	b = append(b, '}', '\n')
	lw.buf = b
	_, err = lw.w.Write(b)
	return err
}

// appendString quotes s as encoding/json does: plain printable ASCII as
// it is, anything it would escape (quotes, backslashes, control
// characters, <, >, &) or check (non-ASCII) by json.Marshal itself.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

func (lw *lineWriter) encode(r evidence.Record) error {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(r); err != nil {
		return err
	}
	_, err := lw.w.Write(buf.Bytes())
	return err
}

// copyable says whether json.Encoder would print attributes unchanged:
// they must be valid JSON (the caller's record passed
// evidence.ValidAttributes), hold no whitespace outside strings, which the
// encoder drops, and none of what it escapes by default: <, > and &
// anywhere, and U+2028 and U+2029 (E2 80 A8, E2 80 A9). A raw newline can
// only be such whitespace, so a copied line never breaks in two.
func copyable(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	in := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c == '<' || c == '>' || c == '&':
			return false
		case c == 0xE2:
			if i+2 < len(b) && b[i+1] == 0x80 && b[i+2]&^1 == 0xA8 {
				return false
			}
		case in:
			if c == '\\' {
				i++ // the escaped byte is never a quote that ends the string
			} else if c == '"' {
				in = false
			}
		case c == '"':
			in = true
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			return false
		}
	}
	return true
}
