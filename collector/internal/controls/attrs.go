package controls

import (
	"encoding/json"
	"strings"

	"github.com/google/cel-go/cel"

	"github.com/annexa/annexa/collector/internal/attrjson"
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
	// A comprehension variable named attrs shadows the record's: counted
	// as a use of the whole, which only decodes more.
	if fieldsRead(a, "attrs", func(f string) { k.names[f] = true }, nil) {
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
		if m, ok := attrjson.Object(raw, keys.wants); ok {
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
