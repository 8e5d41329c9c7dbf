package controls

import (
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"

	"github.com/google/cel-go/cel"
)

// attrKeys says which top-level attributes of one kind the subject checks
// can see: decoding only those is a third of a one-shot pass's decoding
// saved, and keeps the other attributes (nested format counts, file lists)
// out of the heap for as long as the evaluation lives. A nil *attrKeys
// means every attribute.
type attrKeys struct {
	// all: some expression uses attrs other than by a constant name
	// (size(attrs), attrs.exists(...), attrs[k]), so every key is read.
	all bool
	// names are read by constant name: attrs.x, has(attrs.x), attrs["x"],
	// "x" in attrs.
	names map[string]bool
	// after are the texts that follow each "attrs." in the checks'
	// applies and assert: observe without observe expressions shows every
	// attribute k for which "attrs."+k appears in them (observe), so any
	// k that starts one of these is kept too.
	after []string
}

// wants reports whether the attribute named key is decoded.
func (k *attrKeys) wants(key []byte) bool {
	if k == nil || k.all {
		return true
	}
	if k.names[string(key)] {
		return true
	}
	for _, a := range k.after {
		if len(a) >= len(key) && a[:len(key)] == string(key) {
			return true
		}
	}
	return false
}

// read adds what expression a reads of attrs; a nil a reads nothing.
func (k *attrKeys) read(a *cel.Ast) {
	if a == nil || k.all {
		return
	}
	if k.names == nil {
		k.names = map[string]bool{}
	}
	isAttrs := func(e celast.Expr) bool { return e.Kind() == celast.IdentKind && e.AsIdent() == "attrs" }
	idents, named := 0, 0
	celast.PreOrderVisit(a.NativeRep().Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		switch e.Kind() {
		case celast.IdentKind:
			if isAttrs(e) {
				idents++
			}
		case celast.SelectKind:
			if sel := e.AsSelect(); isAttrs(sel.Operand()) {
				k.names[sel.FieldName()] = true
				named++
			}
		case celast.CallKind:
			call := e.AsCall()
			args := call.Args()
			if len(args) != 2 {
				return
			}
			lit, obj := args[1], args[0] // attrs["x"]
			if call.FunctionName() == operators.In {
				lit, obj = args[0], args[1] // "x" in attrs
			} else if call.FunctionName() != operators.Index {
				return
			}
			if isAttrs(obj) && lit.Kind() == celast.LiteralKind {
				if s, ok := lit.AsLiteral().Value().(string); ok {
					k.names[s] = true
					named++
				}
			}
		}
	}))
	// A comprehension variable named attrs shadows the record's: counted
	// here as a use of the whole, which only decodes more.
	if named < idents {
		k.all = true
	}
}

// readText adds the texts after each "attrs." of an applies or assert.
func (k *attrKeys) readText(expr string) {
	for i := strings.Index(expr, "attrs."); i >= 0; {
		expr = expr[i+len("attrs."):]
		k.after = append(k.after, expr)
		i = strings.Index(expr, "attrs.")
	}
}

// subjectAttrKeys merges, per kind, the attributes the subject checks
// read; a kind some check reads as a whole gets nil (every attribute).
func subjectAttrKeys(checks []*check) map[string]*attrKeys {
	byKind := map[string]*attrKeys{}
	for _, c := range checks {
		if c.Scope != ScopeSubject {
			continue
		}
		k, seen := byKind[c.Kind]
		if !seen {
			k = &attrKeys{names: map[string]bool{}}
			byKind[c.Kind] = k
		}
		if k == nil || c.attrs.all {
			byKind[c.Kind] = nil
			continue
		}
		for n := range c.attrs.names {
			k.names[n] = true
		}
		k.after = append(k.after, c.attrs.after...)
	}
	return byKind
}

// decodeAttrs decodes a record's attributes into what encoding/json makes
// of them as a map[string]any, keeping only the top-level attributes keys
// wants; attributes that do not decode (not a JSON object) are an empty
// object, so that every attribute is "no such key". Plain input (no
// escapes in the strings decoded, numbers in range, modest nesting) is read
// by a small scanner that allocates only the values kept; anything else
// goes to encoding/json, which then decides. FuzzDecodeAttrs holds the two
// to the same result.
func decodeAttrs(raw []byte, keys *attrKeys) map[string]any {
	if keys != nil {
		d := attrDecoder{b: raw, keys: keys}
		if m, ok := d.top(); ok {
			return m
		}
	}
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil || m == nil {
		return map[string]any{}
	}
	if keys != nil {
		for k := range m {
			if !keys.wants([]byte(k)) {
				delete(m, k)
			}
		}
	}
	return m
}

// maxAttrDepth bounds the scanner's recursion; deeper input goes to
// encoding/json (which refuses beyond 10,000).
const maxAttrDepth = 64

// attrDecoder reads one JSON object. Every method returns false for input
// it does not read exactly as encoding/json would, including invalid JSON:
// the caller then asks encoding/json.
type attrDecoder struct {
	b    []byte
	i    int
	keys *attrKeys
}

func (d *attrDecoder) space() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *attrDecoder) eat(c byte) bool {
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

// top reads the whole input: one object, keeping the keys wanted, and
// nothing but white space after it.
func (d *attrDecoder) top() (map[string]any, bool) {
	d.space()
	m, ok := d.object(0, d.keys)
	if !ok {
		return nil, false
	}
	d.space()
	return m, d.i == len(d.b)
}

// object reads an object; with keys set it keeps only the keys wanted
// (skipping, but still validating, the others), with keys nil all of them.
func (d *attrDecoder) object(depth int, keys *attrKeys) (map[string]any, bool) {
	if depth > maxAttrDepth || !d.eat('{') {
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
		if keys == nil || keys.wants(key) {
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
func (d *attrDecoder) key() ([]byte, bool) {
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
func (d *attrDecoder) value(depth int) (any, bool) {
	if d.i >= len(d.b) {
		return nil, false
	}
	switch c := d.b[d.i]; {
	case c == '{':
		return d.object(depth, nil)
	case c == '[':
		if depth > maxAttrDepth {
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
func (d *attrDecoder) str() (any, bool) {
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

func (d *attrDecoder) literal(s string) bool {
	if len(d.b)-d.i >= len(s) && string(d.b[d.i:d.i+len(s)]) == s {
		d.i += len(s)
		return true
	}
	return false
}

// number reads a JSON number as a float64; one out of float64's range
// fails (encoding/json refuses the whole object for it).
func (d *attrDecoder) number() (any, bool) {
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
func (d *attrDecoder) digits() bool {
	start := d.i
	for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
		d.i++
	}
	return d.i > start
}

// skip reads a value without keeping it, held to the same rules: an
// attribute no check reads still makes the whole record undecodable when
// encoding/json would refuse it.
func (d *attrDecoder) skip(depth int) bool {
	if d.i >= len(d.b) {
		return false
	}
	switch c := d.b[d.i]; {
	case c == '{':
		if depth > maxAttrDepth {
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
		if depth > maxAttrDepth {
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
func (d *attrDecoder) skipString() bool {
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
