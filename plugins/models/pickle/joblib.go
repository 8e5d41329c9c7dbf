package pickle

import (
	"errors"
	"fmt"
	"math/bits"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// joblib.dump writes each NumPy array as a NumpyArrayWrapper object whose
// state (shape, dtype, alignment) is pickled as usual, and then, right
// after the BUILD opcode and outside any pickle opcode, the array's raw
// bytes: joblib's unpickler reads them in its load_build. A plain opcode
// walker would take those bytes for opcodes. So the scanner tracks just
// enough values (small ints, small tuples, string-keyed dicts, numpy
// dtypes) to size the raw data from the wrapper's state, skips exactly
// that many bytes, and goes on walking. An object-dtype array is written
// instead as a whole nested pickle, which is walked like any other (its
// imports are what make an object array dangerous). A wrapper whose array
// cannot be sized stops the walk with an error: guessing could skip over
// opcodes an attacker placed there.

// Bounds on the values tracked for sizing. maxTracked caps the values
// copied into tuples and dicts over a whole scan, so a stream of nothing
// but small tuples costs at most a few tens of MiB; past it, tuples and
// dicts are opaque and a later wrapper cannot be sized (an error, not a
// guess).
const (
	maxTupleItems = 64
	maxTracked    = 1 << 20
)

// wrapperKeys are the only dict keys kept: those of a wrapper's state.
var wrapperKeys = []string{"dtype", "shape", "numpy_array_alignment_bytes"}

type compound struct {
	items []value  // a tuple's items
	keys  []string // a dict's string keys, beside vals
	vals  []value
}

func (s *scanner) pushInt(v uint64, n int, signed bool) error {
	x := int64(v)
	if signed && n < 8 && v&(1<<(uint(n)*8-1)) != 0 {
		x = int64(v) - int64(1)<<(uint(n)*8)
	}
	return s.push(value{kind: kInt, i: x})
}

func (s *scanner) tupleOf(items []value) value {
	if len(items) > maxTupleItems || s.tracked+len(items)+1 > maxTracked {
		return value{kind: kOther}
	}
	s.tracked += len(items) + 1
	return value{kind: kTuple, c: &compound{items: slices.Clone(items)}}
}

func (s *scanner) newDict() value {
	if s.tracked+1 > maxTracked {
		return value{kind: kOther}
	}
	s.tracked++
	return value{kind: kDict, c: &compound{}}
}

// setItems adds key, value pairs to a tracked dict, keeping only the keys
// a wrapper's state needs.
func (s *scanner) setItems(d *value, kv []value) {
	if d.kind != kDict || d.c == nil {
		return
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i].kind != kStr || !slices.Contains(wrapperKeys, kv[i].s) {
			continue
		}
		if j := slices.Index(d.c.keys, kv[i].s); j >= 0 {
			d.c.vals[j] = kv[i+1]
			continue
		}
		d.c.keys = append(d.c.keys, kv[i].s)
		d.c.vals = append(d.c.vals, kv[i+1])
	}
}

func (v value) get(key string) (value, bool) {
	if v.kind != kDict || v.c == nil {
		return value{}, false
	}
	if j := slices.Index(v.c.keys, key); j >= 0 {
		return v.c.vals[j], true
	}
	return value{}, false
}

func isWrapperClass(v value) bool {
	if v.kind != kGlobal {
		return false
	}
	mod, name, _ := strings.Cut(v.s, ".numpy_pickle.")
	return name == "NumpyArrayWrapper" && (mod == "joblib" || strings.HasSuffix(mod, ".joblib"))
}

// instance is what NEWOBJ makes of cls.
func instance(cls value) value {
	if isWrapperClass(cls) {
		return value{kind: kWrapper}
	}
	return value{kind: kOther}
}

// reduced is what REDUCE makes of fn(*args): a dtype for numpy.dtype, a
// wrapper for copyreg._reconstructor(NumpyArrayWrapper, ...) (protocols
// 0 and 1), anything else is opaque.
func reduced(fn, args value) value {
	if fn.kind != kGlobal || args.kind != kTuple || len(args.c.items) == 0 {
		return value{kind: kOther}
	}
	first := args.c.items[0]
	switch fn.s {
	case "numpy.dtype", "numpy.core.multiarray.dtype", "numpy._core.multiarray.dtype":
		if first.kind == kStr {
			if size, ok := dtypeSize(first.s); ok {
				return value{kind: kDtype, i: size, s: first.s}
			}
		}
	case "copyreg._reconstructor":
		if isWrapperClass(first) {
			return value{kind: kWrapper}
		}
	}
	return value{kind: kOther}
}

var dtypeStr = regexp.MustCompile(`^[<>|=]?([?bBhHiIlLqQpPefdgFDGSaUVOMmiufc])(\d*)$`)

// dtypeSize is the item size of a NumPy dtype string as numpy.dtype
// pickles it ('f8', 'U2', 'V16', 'O8', 'M8'); -1 means object.
func dtypeSize(d string) (int64, bool) {
	m := dtypeStr.FindStringSubmatch(d)
	if m == nil {
		return 0, false
	}
	kind, digits := m[1], m[2]
	if kind == "O" {
		return -1, true
	}
	if digits == "" {
		switch kind {
		case "?", "b", "B":
			return 1, true
		case "h", "H", "e":
			return 2, true
		case "i", "I", "f":
			return 4, true
		case "l", "L", "q", "Q", "p", "P", "d":
			return 8, true
		case "F":
			return 8, true
		case "D":
			return 16, true
		}
		return 0, false
	}
	n, err := strconv.ParseInt(digits, 10, 32)
	if err != nil || n <= 0 {
		return 0, false
	}
	if kind == "U" {
		n *= 4
	}
	return n, true
}

// joblibArray consumes what joblib wrote after a wrapper's BUILD.
func (s *scanner) joblibArray(state value) error {
	dt, ok := state.get("dtype")
	if !ok || dt.kind != kDtype {
		return fmt.Errorf("joblib NumpyArrayWrapper at offset %d: its dtype cannot be read without executing the pickle, so the raw array data after it cannot be skipped", s.op)
	}
	if s.res.JoblibArrays == 0 || !slices.Contains(s.res.ArrayDtypes, dt.s) && len(s.res.ArrayDtypes) < 32 {
		s.res.ArrayDtypes = append(s.res.ArrayDtypes, dt.s)
	}
	if dt.i < 0 {
		// Object arrays: pickle.dump(array) follows; walk it.
		s.res.JoblibArrays++
		return s.nestedPickle()
	}
	shape, ok := state.get("shape")
	if !ok || shape.kind != kTuple {
		return fmt.Errorf("joblib NumpyArrayWrapper at offset %d: its shape cannot be read without executing the pickle", s.op)
	}
	numel := uint64(1)
	for _, d := range shape.c.items {
		if d.kind != kInt || d.i < 0 {
			return fmt.Errorf("joblib NumpyArrayWrapper at offset %d: shape is not a tuple of non-negative ints", s.op)
		}
		hi, lo := bits.Mul64(numel, uint64(d.i))
		if hi != 0 {
			return fmt.Errorf("joblib NumpyArrayWrapper at offset %d: shape overflows", s.op)
		}
		numel = lo
	}
	hi, n := bits.Mul64(numel, uint64(dt.i))
	if hi != 0 {
		return fmt.Errorf("joblib NumpyArrayWrapper at offset %d: array size overflows", s.op)
	}
	if align, ok := state.get("numpy_array_alignment_bytes"); ok && align.kind == kInt {
		// One byte says how many 0xff padding bytes follow.
		pad, err := s.byte1()
		if err != nil {
			return err
		}
		if int64(pad) > align.i {
			return fmt.Errorf("joblib array at offset %d: padding of %d bytes for an alignment of %d", s.op, pad, align.i)
		}
		if err := s.skip(uint64(pad)); err != nil {
			return err
		}
	} else if ok && align.s != "None" {
		return fmt.Errorf("joblib NumpyArrayWrapper at offset %d: numpy_array_alignment_bytes is neither an int nor None", s.op)
	}
	if err := s.skip(n); err != nil {
		return fmt.Errorf("joblib array of %d bytes: %w", n, err)
	}
	s.res.JoblibArrays++
	s.res.ArrayElements += numel
	return nil
}

// nestedPickle walks one complete pickle in the middle of the stream with
// a fresh stack and memo, then resumes the outer one.
func (s *scanner) nestedPickle() error {
	if s.nested {
		return fmt.Errorf("nested pickle inside a nested pickle at offset %d", s.op)
	}
	stack, marks, memo, memoSet, memoMap, memoN, memoFull := s.stack, s.marks, s.memo, s.memoSet, s.memoMap, s.memoN, s.memoFull
	s.stack, s.marks, s.memo, s.memoSet, s.memoMap, s.memoN, s.memoFull = nil, nil, nil, nil, nil, 0, false
	s.nested = true
	err := s.one()
	s.nested = false
	s.stack, s.marks, s.memo, s.memoSet, s.memoMap, s.memoN, s.memoFull = stack, marks, memo, memoSet, memoMap, memoN, memoFull
	if errors.Is(err, errStop) {
		return nil
	}
	if err == nil {
		err = fmt.Errorf("object array pickle did not end")
	}
	return fmt.Errorf("object array pickle: %w", err)
}
