package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"slices"
)

// writeJSON writes r as json.Encoder with SetIndent("", "  ") writes it,
// byte for byte, without holding the whole document twice in memory: the
// encoder marshals everything into one buffer and indents it into a
// second, which at 10,000 hosts (a 1.5 GB report) is gigabytes of heap
// and more time than the evaluation. The long lists (controls, hosts,
// assets) are marshalled one element at a time; the rest as one value
// with those lists left null, which marks where they go.
func writeJSON(w io.Writer, r *Report) error {
	cp := *r
	cp.Controls, cp.Hosts, cp.Assets = nil, nil, nil
	rest, err := json.MarshalIndent(&cp, "", "  ")
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	for _, l := range []struct {
		key  string
		list any
	}{{"controls", r.Controls}, {"hosts", r.Hosts}, {"assets", r.Assets}} {
		mark := []byte("\n  \"" + l.key + "\": null")
		i := bytes.Index(rest, mark)
		if i < 0 {
			return fmt.Errorf("report: json: no %s in the report", l.key)
		}
		bw.Write(rest[:i+len(mark)-len("null")])
		if err := writeList(bw, reflect.ValueOf(l.list)); err != nil {
			return err
		}
		rest = rest[i+len(mark):]
	}
	bw.Write(rest)
	bw.WriteByte('\n')
	return bw.Flush()
}

// writeList writes a list of the report's top level as MarshalIndent would
// inside it: null for nil, [] when empty, else one element per line block.
// (Marshalling runs of elements in parallel was tried: no faster on the
// shared 2-core machine, and 1.5 GB more resident at 10,000 hosts.)
func writeList(bw *bufio.Writer, list reflect.Value) error {
	switch {
	case list.IsNil():
		_, err := bw.WriteString("null")
		return err
	case list.Len() == 0:
		_, err := bw.WriteString("[]")
		return err
	}
	bw.WriteByte('[')
	var buf []byte
	for i := range list.Len() {
		if i > 0 {
			bw.WriteByte(',')
		}
		bw.WriteString("\n    ")
		// By address, as the encoder reaches elements: a MarshalJSON on
		// the pointer is called the same.
		b, err := json.Marshal(list.Index(i).Addr().Interface())
		if err != nil {
			return err
		}
		buf = appendIndented(buf[:0], b, "    ", "  ")
		if _, err := bw.Write(buf); err != nil {
			return err
		}
	}
	_, err := bw.WriteString("\n  ]")
	return err
}

// appendIndented appends src, compact JSON as json.Marshal writes it, as
// json.Indent would indent it with prefix and indent, five times faster:
// json.Indent runs its validating scanner over every byte, which was half
// of writing a report at 10,000 hosts, and Marshal's output needs none.
// FuzzAppendIndented holds it to json.Indent.
func appendIndented(dst, src []byte, prefix, indent string) []byte {
	// Indented, a report's controls are about two and a half times as
	// long as compact (short values, deep): room for that up front
	// instead of growing through copies.
	dst = slices.Grow(dst, len(src)*5/2)
	depth := 0
	open := false // after { or [: indent only if the next byte does not close it
	newline := func() {
		dst = append(dst, '\n')
		dst = append(dst, prefix...)
		for range depth {
			dst = append(dst, indent...)
		}
	}
	for i := 0; i < len(src); i++ {
		c := src[i]
		if open && c != '}' && c != ']' {
			open = false
			depth++
			newline()
		}
		switch c {
		case '"':
			// Copy the string whole: up to the first quote not escaped.
			j := i + 1
			for j < len(src) && src[j] != '"' {
				if src[j] == '\\' {
					j++
				}
				j++
			}
			j = min(j+1, len(src))
			dst = append(dst, src[i:j]...)
			i = j - 1
		case '{', '[':
			open = true
			dst = append(dst, c)
		case ',':
			dst = append(dst, c)
			newline()
		case ':':
			dst = append(dst, c, ' ')
		case '}', ']':
			if open {
				open = false
			} else {
				depth--
				newline()
			}
			dst = append(dst, c)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}
