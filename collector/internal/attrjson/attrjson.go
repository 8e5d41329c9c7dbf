// Package attrjson reads evidence attributes (a JSON object per record)
// faster than encoding/json where only some attributes are needed: the
// controls engine decodes only the attributes its checks read, the lineage
// join only the few it links by. It handles plain input only (no escaped
// or non-ASCII keys, no UTF-16 surrogate escapes or invalid UTF-8 in the
// values decoded, numbers within float64, nesting up to 64) and says so
// with ok false for anything else, so that the caller hands that input to
// encoding/json, which then decides as it always did. FuzzDecodeAttrs
// (controls) and FuzzPick (lineage) hold it to encoding/json's results.
package attrjson

import (
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// Object decodes raw, a JSON object, as encoding/json decodes it into a
// map[string]any, keeping only the top-level keys want accepts. ok is
// false when raw is not plain input or not valid JSON: decode it with
// encoding/json.
func Object(raw []byte, want func(key []byte) bool) (m map[string]any, ok bool) {
	d := decoder{b: raw}
	d.space()
	if m, ok = d.object(0, want); !ok {
		return nil, false
	}
	d.space()
	return m, d.i == len(d.b)
}

// Pick returns the members of raw, a JSON object, whose key want accepts,
// in their order, as a JSON object: decoding it into a struct is decoding
// raw when want accepts every key encoding/json could match to a field
// (it matches case-insensitively). ok is false when raw is not plain input
// or not valid JSON: decode raw itself.
func Pick(raw []byte, want func(key []byte) bool) (out []byte, ok bool) {
	d := decoder{b: raw}
	d.space()
	if !d.eat('{') {
		return nil, false
	}
	out = append(out, '{')
	d.space()
	if !d.eat('}') {
		for {
			d.space()
			start := d.i
			key, ok := d.key()
			if !ok {
				return nil, false
			}
			d.space()
			if !d.eat(':') {
				return nil, false
			}
			d.space()
			vstart := d.i
			if !d.skip(1) {
				return nil, false
			}
			if want(key) {
				if len(out) > 1 {
					out = append(out, ',')
				}
				out = append(out, raw[start:start+len(key)+2]...)
				out = append(out, ':')
				out = append(out, raw[vstart:d.i]...)
			}
			d.space()
			if d.eat('}') {
				break
			}
			if !d.eat(',') {
				return nil, false
			}
		}
	}
	d.space()
	if d.i != len(d.b) {
		return nil, false
	}
	return append(out, '}'), true
}

// maxDepth bounds the scanner's recursion; deeper input goes to
// encoding/json (which refuses beyond 10,000).
const maxDepth = 64

// decoder reads one JSON object. Every method returns false for input
// it does not read exactly as encoding/json would, including invalid JSON:
// the caller then asks encoding/json.
type decoder struct {
	b    []byte
	i    int
	want func(key []byte) bool
}

func (d *decoder) space() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *decoder) eat(c byte) bool {
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

// object reads an object; with want set it keeps only the keys wanted
// (skipping, but still validating, the others), with want nil all of them.
func (d *decoder) object(depth int, want func([]byte) bool) (map[string]any, bool) {
	if depth > maxDepth || !d.eat('{') {
		return nil, false
	}
	m := map[string]any{}
	d.space()
	if d.eat('}') {
		return m, true
	}
	for {
		d.space()
		key, ok := d.key()
		if !ok {
			return nil, false
		}
		d.space()
		if !d.eat(':') {
			return nil, false
		}
		d.space()
		if want == nil || want(key) {
			v, ok := d.value(depth + 1)
			if !ok {
				return nil, false
			}
			m[string(key)] = v
		} else if !d.skip(depth + 1) {
			return nil, false
		}
		d.space()
		if d.eat('}') {
			return m, true
		}
		if !d.eat(',') {
			return nil, false
		}
	}
}

// key reads an object key made of printable ASCII without escapes: any
// other key might unescape to a wanted name, so it goes to encoding/json.
func (d *decoder) key() ([]byte, bool) {
	if !d.eat('"') {
		return nil, false
	}
	start := d.i
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			d.i++
			return d.b[start : d.i-1], true
		case c < 0x20 || c == '\\' || c >= utf8.RuneSelf:
			return nil, false
		}
		d.i++
	}
	return nil, false
}

// value reads and decodes any value as encoding/json does into an any.
func (d *decoder) value(depth int) (any, bool) {
	if d.i >= len(d.b) {
		return nil, false
	}
	switch c := d.b[d.i]; {
	case c == '{':
		return d.object(depth, nil)
	case c == '[':
		if depth > maxDepth {
			return nil, false
		}
		d.i++
		out := make([]any, 0)
		d.space()
		if d.eat(']') {
			return out, true
		}
		for {
			d.space()
			v, ok := d.value(depth + 1)
			if !ok {
				return nil, false
			}
			out = append(out, v)
			d.space()
			if d.eat(']') {
				return out, true
			}
			if !d.eat(',') {
				return nil, false
			}
		}
	case c == '"':
		return d.str()
	case c == 't':
		return true, d.literal("true")
	case c == 'f':
		return false, d.literal("false")
	case c == 'n':
		return nil, d.literal("null")
	}
	return d.number()
}

// str reads and decodes a string. Go's encoders escape <, > and & by
// default (\u003c), so escapes are decoded here; only UTF-16 surrogates
// (for which encoding/json has rules of its own about invalid pairs) and
// invalid UTF-8 (which it replaces) are left to encoding/json.
func (d *decoder) str() (any, bool) {
	if !d.eat('"') {
		return nil, false
	}
	start := d.i
	var buf []byte // the decoded string, once an escape is met
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			s := d.b[start:d.i]
			d.i++
			if !utf8.Valid(s) {
				return nil, false
			}
			if buf == nil {
				return string(s), true
			}
			return string(append(buf, s...)), true
		case c < 0x20:
			return nil, false
		case c == '\\':
			buf = append(buf, d.b[start:d.i]...)
			if !utf8.Valid(buf) || len(d.b)-d.i < 2 {
				return nil, false
			}
			e := d.b[d.i+1]
			d.i += 2
			switch e {
			case '"', '\\', '/':
				buf = append(buf, e)
			case 'b':
				buf = append(buf, '\b')
			case 'f':
				buf = append(buf, '\f')
			case 'n':
				buf = append(buf, '\n')
			case 'r':
				buf = append(buf, '\r')
			case 't':
				buf = append(buf, '\t')
			case 'u':
				if len(d.b)-d.i < 4 {
					return nil, false
				}
				r, err := strconv.ParseUint(string(d.b[d.i:d.i+4]), 16, 16)
				if err != nil || utf16.IsSurrogate(rune(r)) {
					return nil, false
				}
				buf = utf8.AppendRune(buf, rune(r))
				d.i += 4
			default:
				return nil, false
			}
			start = d.i
			continue
		}
		d.i++
	}
	return nil, false
}

func (d *decoder) literal(s string) bool {
	if len(d.b)-d.i >= len(s) && string(d.b[d.i:d.i+len(s)]) == s {
		d.i += len(s)
		return true
	}
	return false
}

// number reads a JSON number as a float64; one out of float64's range
// fails (encoding/json refuses the whole object for it).
func (d *decoder) number() (any, bool) {
	start := d.i
	d.eat('-')
	switch {
	case d.eat('0'):
	case d.i < len(d.b) && d.b[d.i] >= '1' && d.b[d.i] <= '9':
		d.digits()
	default:
		return nil, false
	}
	if d.eat('.') {
		if !d.digits() {
			return nil, false
		}
	}
	if d.i < len(d.b) && (d.b[d.i] == 'e' || d.b[d.i] == 'E') {
		d.i++
		if !d.eat('+') {
			d.eat('-')
		}
		if !d.digits() {
			return nil, false
		}
	}
	f, err := strconv.ParseFloat(string(d.b[start:d.i]), 64)
	if err != nil {
		return nil, false
	}
	return f, true
}

// digits reads one or more decimal digits.
func (d *decoder) digits() bool {
	start := d.i
	for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
		d.i++
	}
	return d.i > start
}

// skip reads a value without keeping it, held to the same rules: an
// attribute no check reads still makes the whole record undecodable when
// encoding/json would refuse it.
func (d *decoder) skip(depth int) bool {
	if d.i >= len(d.b) {
		return false
	}
	switch c := d.b[d.i]; {
	case c == '{':
		if depth > maxDepth {
			return false
		}
		d.i++
		d.space()
		if d.eat('}') {
			return true
		}
		for {
			d.space()
			if !d.skipString() {
				return false
			}
			d.space()
			if !d.eat(':') {
				return false
			}
			d.space()
			if !d.skip(depth + 1) {
				return false
			}
			d.space()
			if d.eat('}') {
				return true
			}
			if !d.eat(',') {
				return false
			}
		}
	case c == '[':
		if depth > maxDepth {
			return false
		}
		d.i++
		d.space()
		if d.eat(']') {
			return true
		}
		for {
			d.space()
			if !d.skip(depth + 1) {
				return false
			}
			d.space()
			if d.eat(']') {
				return true
			}
			if !d.eat(',') {
				return false
			}
		}
	case c == '"':
		return d.skipString()
	case c == 't':
		return d.literal("true")
	case c == 'f':
		return d.literal("false")
	case c == 'n':
		return d.literal("null")
	}
	_, ok := d.number()
	return ok
}

// skipString reads a string with valid escapes; its content is not kept,
// so invalid UTF-8 (which encoding/json replaces) does not matter.
func (d *decoder) skipString() bool {
	if !d.eat('"') {
		return false
	}
	for d.i < len(d.b) {
		c := d.b[d.i]
		d.i++
		switch {
		case c == '"':
			return true
		case c < 0x20:
			return false
		case c == '\\':
			if d.i >= len(d.b) {
				return false
			}
			e := d.b[d.i]
			d.i++
			switch e {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if len(d.b)-d.i < 4 {
					return false
				}
				for _, h := range d.b[d.i : d.i+4] {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return false
					}
				}
				d.i += 4
			default:
				return false
			}
		}
	}
	return false
}
