package models

import (
	"slices"
	"strings"
)

// quickSafetensorsHeader reads the header every safetensors writer
// makes: one object whose keys are plain names, each a tensor with
// exactly "dtype", "shape" and "data_offsets" (two offsets), plus an
// optional "__metadata__" of plain strings. On a tree of small models the
// header's encoding/json decode was a sixth of the inventory's CPU.
//
// It answers only when its reading is certainly encoding/json's, and
// otherwise says !ok for the caller to use encoding/json: on any escape
// or byte outside printable ASCII in a string (encoding/json unescapes
// and repairs those), a duplicate or differently cased key (it keeps the
// last, and matches fields regardless of case), null, a number that is
// not a plain unsigned integer, or anything unexpected. FuzzQuickSafetensors
// holds it to that.
func quickSafetensorsHeader(hdr []byte) (entries []stEntry, md map[string]string, ok bool) {
	p := quickParser{b: hdr}
	if !p.byte('{') {
		return nil, nil, false
	}
	seenMD := false
	for first := true; ; first = false {
		if p.byte('}') {
			break
		}
		if !first && !p.byte(',') {
			return nil, nil, false
		}
		name, ok := p.str()
		if !ok || !p.byte(':') {
			return nil, nil, false
		}
		if name == "__metadata__" {
			if seenMD {
				return nil, nil, false
			}
			seenMD = true
			if md, ok = p.metadata(); !ok {
				return nil, nil, false
			}
			continue
		}
		t, ok := p.tensor()
		if !ok {
			return nil, nil, false
		}
		entries = append(entries, stEntry{name: name, t: t})
	}
	p.space()
	if p.i != len(p.b) {
		return nil, nil, false
	}
	slices.SortFunc(entries, func(x, y stEntry) int { return strings.Compare(x.name, y.name) })
	for i := 1; i < len(entries); i++ {
		if entries[i].name == entries[i-1].name {
			return nil, nil, false
		}
	}
	return entries, md, true
}

type quickParser struct {
	b []byte
	i int
}

func (p *quickParser) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// byte skips space and then c, if c is next.
func (p *quickParser) byte(c byte) bool {
	p.space()
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// str reads a string of printable ASCII without escapes.
func (p *quickParser) str() (string, bool) {
	if !p.byte('"') {
		return "", false
	}
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			s := string(p.b[start:p.i])
			p.i++
			return s, true
		case c == '\\' || c < 0x20 || c >= 0x7f:
			return "", false
		}
		p.i++
	}
	return "", false
}

// uint reads a JSON number that is a plain unsigned integer within 64 bits.
func (p *quickParser) uint() (uint64, bool) {
	p.space()
	start := p.i
	var v uint64
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		d := uint64(p.b[p.i] - '0')
		if v > (1<<64-1-d)/10 {
			return 0, false
		}
		v = v*10 + d
		p.i++
	}
	n := p.i - start
	if n == 0 || n > 1 && p.b[start] == '0' {
		return 0, false
	}
	if p.i < len(p.b) {
		switch p.b[p.i] {
		case '.', 'e', 'E', '-', '+':
			return 0, false
		}
	}
	return v, true
}

// uints reads an array of plain unsigned integers (never null).
func (p *quickParser) uints() ([]uint64, bool) {
	if !p.byte('[') {
		return nil, false
	}
	out := []uint64{}
	if p.byte(']') {
		return out, true
	}
	for {
		v, ok := p.uint()
		if !ok {
			return nil, false
		}
		out = append(out, v)
		if p.byte(']') {
			return out, true
		}
		if !p.byte(',') {
			return nil, false
		}
	}
}

func (p *quickParser) tensor() (stTensor, bool) {
	var t stTensor
	if !p.byte('{') {
		return t, false
	}
	var have [3]bool
	for i := 0; ; i++ {
		if i == 3 {
			if !p.byte('}') {
				return t, false
			}
			break
		}
		if i > 0 && !p.byte(',') {
			return t, false
		}
		key, ok := p.str()
		if !ok || !p.byte(':') {
			return t, false
		}
		switch key {
		case "dtype":
			if have[0] {
				return t, false
			}
			have[0] = true
			t.Dtype, ok = p.str()
		case "shape":
			if have[1] {
				return t, false
			}
			have[1] = true
			t.Shape, ok = p.uints()
		case "data_offsets":
			if have[2] {
				return t, false
			}
			have[2] = true
			t.DataOffsets, ok = p.uints()
			ok = ok && len(t.DataOffsets) == 2
		default:
			return t, false
		}
		if !ok {
			return t, false
		}
	}
	return t, true
}

func (p *quickParser) metadata() (map[string]string, bool) {
	if !p.byte('{') {
		return nil, false
	}
	md := map[string]string{}
	if p.byte('}') {
		return md, true
	}
	for {
		k, ok := p.str()
		if !ok || !p.byte(':') {
			return nil, false
		}
		v, ok := p.str()
		if !ok {
			return nil, false
		}
		if _, dup := md[k]; dup {
			return nil, false
		}
		md[k] = v
		if p.byte('}') {
			return md, true
		}
		if !p.byte(',') {
			return nil, false
		}
	}
}
