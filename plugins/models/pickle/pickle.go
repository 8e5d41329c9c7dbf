// Package pickle inspects Python pickle streams without executing them. It
// walks the opcodes of protocols 0 to 5, tracks the stack and the memo just
// far enough to resolve which callables a stream imports (GLOBAL, INST,
// STACK_GLOBAL), and rates each import against fixed lists that fail closed:
// anything not on a small exact allowlist is a finding. It is imported only
// by plugins/models.
//
// Every length in the stream is bounded by Limits before anything is
// allocated, so a hostile file costs bounded memory and time.
package pickle

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// Severity ranks a finding. The order matters: higher is worse.
type Severity string

// The severities, from least to most serious.
const (
	Info       Severity = "info"
	Suspicious Severity = "suspicious"
	High       Severity = "high"
	Critical   Severity = "critical"
)

// Rank orders severities; an unknown one ranks as critical (fail closed).
func (s Severity) Rank() int {
	switch s {
	case Info:
		return 0
	case Suspicious:
		return 1
	case High:
		return 2
	}
	return 3
}

// Finding is one thing a scan found worth reporting.
type Finding struct {
	Rule     string   `json:"rule"`
	Severity Severity `json:"severity"`
	Detail   string   `json:"detail"`
}

// Global is one distinct import a stream makes.
type Global struct {
	Module   string   `json:"module"`
	Name     string   `json:"name"`
	Count    int      `json:"count"`
	Severity Severity `json:"severity"`
}

// Limits bound one scan. Zero fields take the defaults.
type Limits struct {
	// MaxBytes is how much of the stream is read at most.
	MaxBytes int64
	// MaxMemo is how many memo entries are kept; later PUTs are dropped,
	// so a GET of them resolves to unknown (fail closed).
	MaxMemo int
	// MaxStack bounds the stack and the mark depth together.
	MaxStack int
	// MaxFindings bounds the distinct findings (globals are deduplicated).
	MaxFindings int
	// MaxPickles bounds how many concatenated pickles are walked.
	MaxPickles int
}

// DefaultLimits are what a zero Limits means.
var DefaultLimits = Limits{MaxBytes: 1 << 30, MaxMemo: 1 << 18, MaxStack: 1 << 17, MaxFindings: 256, MaxPickles: 64}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	if l.MaxBytes > 0 {
		d.MaxBytes = l.MaxBytes
	}
	if l.MaxMemo > 0 {
		d.MaxMemo = l.MaxMemo
	}
	if l.MaxStack > 0 {
		d.MaxStack = l.MaxStack
	}
	if l.MaxFindings > 0 {
		d.MaxFindings = l.MaxFindings
	}
	if l.MaxPickles > 0 {
		d.MaxPickles = l.MaxPickles
	}
	return d
}

// Result is what a scan found.
type Result struct {
	// Pickles is how many pickles ended with STOP.
	Pickles int `json:"pickles"`
	// Protocol is the highest PROTO seen (0 when none).
	Protocol int `json:"protocol"`
	// Globals are the distinct imports, in order of first appearance.
	Globals  []Global  `json:"globals"`
	Findings []Finding `json:"findings"`
	// BytesRead is how much of the stream was consumed.
	BytesRead int64 `json:"bytes_read"`
	// Calls counts REDUCE, OBJ, NEWOBJ, NEWOBJ_EX, INST and BUILD.
	Calls int `json:"calls"`
	// JoblibArrays counts the joblib NumpyArrayWrapper arrays whose raw
	// data was skipped, and ArrayElements their elements.
	JoblibArrays  int    `json:"joblib_arrays,omitempty"`
	ArrayElements uint64 `json:"array_elements,omitempty"`
	// ArrayDtypes are the dtypes of those arrays (at most 32).
	ArrayDtypes []string `json:"array_dtypes,omitempty"`
	// Err is why the walk stopped early, if it did.
	Err error `json:"-"`
}

// Worst is the most serious severity among the findings, "" when none.
func (r *Result) Worst() Severity {
	var w Severity
	for _, f := range r.Findings {
		if w == "" || f.Severity.Rank() > w.Rank() {
			w = f.Severity
		}
	}
	return w
}

// value kinds on the simulated stack.
const (
	kOther uint8 = iota
	kStr
	kMark
	kGlobal
	// The kinds below exist to size joblib's raw array data (joblib.go).
	kInt
	kTuple
	kDict
	kDtype   // i is the item size; -1 for the object dtype
	kWrapper // a joblib NumpyArrayWrapper awaiting its state
)

// maxKeptString is the longest string kept as a possible module or name;
// a longer one cannot name a module anyone imports, and is unknown.
const maxKeptString = 1024

// maxLine bounds a text argument (protocol 0 opcodes end at a newline).
const maxLine = 64 << 10

type value struct {
	kind uint8
	s    string
	i    int64
	// c holds a small tuple's items or a small dict's string-keyed
	// entries; shared by the copies on the stack and in the memo, as the
	// Python object would be.
	c *compound
}

// errStop ends one pickle.
var errStop = errors.New("stop")

// ErrLimit is wrapped by errors from a limit being reached.
var ErrLimit = errors.New("limit reached")

type scanner struct {
	lim   Limits
	r     *bufio.Reader
	n     int64 // bytes consumed
	stack []value
	marks []int
	// memo holds entries below MaxMemo by index (pickles number them
	// 0, 1, 2, ...) and any others in memoMap; memoN counts both.
	memo     []value
	memoSet  []bool
	memoMap  map[uint32]value
	memoN    int
	memoFull bool
	res      Result
	globals  map[string]int // key → index in res.Globals
	findings map[string]int // rule → index in res.Findings
	dropped  int
	op       int64 // offset of the current opcode
	// nested is set while walking the pickle of a joblib object array,
	// which plain pickle.load reads: no raw array data follows there.
	nested bool
	// tracked counts values copied into tuples and dicts (maxTracked).
	tracked int
}

// Scan walks every pickle in r. It never returns an error: what stopped
// the walk is in Result.Err and as a finding, and what was found before
// stays in the result.
func Scan(r io.Reader, lim Limits) Result {
	lim = lim.withDefaults()
	s := &scanner{
		lim: lim, r: bufio.NewReaderSize(io.LimitReader(r, lim.MaxBytes), 64<<10),
		globals: map[string]int{}, findings: map[string]int{},
	}
	s.run()
	s.res.BytesRead = s.n
	if s.dropped > 0 {
		s.res.Findings = append(s.res.Findings, Finding{Rule: "pickle.findings.truncated", Severity: Suspicious,
			Detail: fmt.Sprintf("%d more findings were not recorded (limit %d)", s.dropped, lim.MaxFindings)})
	}
	return s.res
}

func (s *scanner) run() {
	for i := 0; i < s.lim.MaxPickles; i++ {
		start := s.n
		first, err := s.r.Peek(2)
		if len(first) == 0 {
			if i == 0 {
				s.fail(fmt.Errorf("empty stream: %w", io.ErrUnexpectedEOF))
			}
			return
		}
		if i > 0 && !startsPickle(first) {
			// What follows the last pickle is someone else's data (a
			// legacy PyTorch file's storages); Python never unpickles it.
			s.info("pickle.trailing_data", fmt.Sprintf("data after pickle %d at offset %d is not a pickle; not scanned", i, start))
			return
		}
		s.stack, s.marks, s.memo, s.memoSet, s.memoMap, s.memoN, s.memoFull = s.stack[:0], s.marks[:0], s.memo[:0], s.memoSet[:0], nil, 0, false
		err = s.one()
		if errors.Is(err, errStop) {
			s.res.Pickles++
			if _, err := s.r.Peek(1); err != nil {
				return
			}
			continue
		}
		if i > 0 && s.n == start+1 {
			s.info("pickle.trailing_data", fmt.Sprintf("data after pickle %d at offset %d is not a pickle; not scanned", i, start))
			return
		}
		s.fail(err)
		return
	}
	if _, err := s.r.Peek(1); err == nil {
		s.add("pickle.limit.pickles", Suspicious, fmt.Sprintf("more than %d pickles in one stream; the rest was not scanned", s.lim.MaxPickles))
	}
}

// startsPickle says whether b can begin a further pickle in a stream.
func startsPickle(b []byte) bool {
	if b[0] == 0x80 {
		return len(b) > 1 && b[1] <= 5
	}
	return strings.IndexByte("(cI]}NSVLF)KJUTXG.i", b[0]) >= 0
}

func (s *scanner) fail(err error) {
	s.res.Err = err
	rule := "pickle.parse.error"
	if errors.Is(err, ErrLimit) {
		rule = "pickle.limit"
	}
	s.add(rule, Suspicious, fmt.Sprintf("at offset %d: %v; findings before it are kept", s.op, err))
}

func (s *scanner) info(rule, detail string) { s.add(rule, Info, detail) }

func (s *scanner) add(rule string, sev Severity, detail string) {
	if i, ok := s.findings[rule]; ok {
		if sev.Rank() > s.res.Findings[i].Severity.Rank() {
			s.res.Findings[i].Severity = sev
		}
		return
	}
	if len(s.res.Findings) >= s.lim.MaxFindings {
		s.dropped++
		return
	}
	s.findings[rule] = len(s.res.Findings)
	s.res.Findings = append(s.res.Findings, Finding{Rule: rule, Severity: sev, Detail: detail})
}

// global records an import resolved (or not) at the current opcode.
func (s *scanner) global(op string, module, name string, ok bool) error {
	if !ok {
		s.add("pickle.global.unknown", Critical, fmt.Sprintf("%s at offset %d imports a callable whose module or name cannot be resolved without executing the pickle", op, s.op))
		return s.push(value{kind: kGlobal, s: "?"})
	}
	module = fixImports(module)
	key := module + "\x00" + name
	sev, why := Classify(module, name)
	if i, ok := s.globals[key]; ok {
		s.res.Globals[i].Count++
	} else {
		s.globals[key] = len(s.res.Globals)
		s.res.Globals = append(s.res.Globals, Global{Module: module, Name: name, Count: 1, Severity: sev})
	}
	if sev != Info {
		s.add(Rule(module, name), sev, fmt.Sprintf("%s at offset %d imports %s.%s: %s", op, s.op, module, name, why))
	}
	return s.push(value{kind: kGlobal, s: module + "." + name})
}

// Rule names the finding for an import: pickle.global.<module>.<name>.
func Rule(module, name string) string {
	clean := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r == '.' || r == '_' || r == '-' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
				return r
			}
			return '?'
		}, s)
	}
	m, n := clean(module), clean(name)
	if len(m) > 200 {
		m = m[:200]
	}
	if len(n) > 200 {
		n = n[:200]
	}
	return "pickle.global." + m + "." + n
}

// fixImports maps Python 2 module names the way Python 3's unpickler does
// for protocols below 3, so `__builtin__.eval` is rated as builtins.eval.
func fixImports(m string) string {
	switch m {
	case "__builtin__", "exceptions":
		return "builtins"
	case "copy_reg":
		return "copyreg"
	case "cPickle":
		return "pickle"
	case "commands":
		return "commands"
	case "urllib2":
		return "urllib2"
	}
	return m
}

func (s *scanner) push(v value) error {
	if len(s.stack)+len(s.marks) >= s.lim.MaxStack {
		return fmt.Errorf("stack deeper than %d: %w", s.lim.MaxStack, ErrLimit)
	}
	s.stack = append(s.stack, v)
	return nil
}

var errUnderflow = errors.New("stack underflow")

func (s *scanner) pop() (value, error) {
	base := 0
	if len(s.marks) > 0 {
		base = s.marks[len(s.marks)-1]
	}
	if len(s.stack) <= base {
		return value{}, errUnderflow
	}
	v := s.stack[len(s.stack)-1]
	s.stack = s.stack[:len(s.stack)-1]
	return v, nil
}

func (s *scanner) popN(n int) error {
	for range n {
		if _, err := s.pop(); err != nil {
			return err
		}
	}
	return nil
}

// popMark removes everything down to the last mark and the mark itself.
func (s *scanner) popMark() ([]value, error) {
	if len(s.marks) == 0 {
		return nil, errors.New("no mark on the stack")
	}
	m := s.marks[len(s.marks)-1]
	s.marks = s.marks[:len(s.marks)-1]
	items := s.stack[m:]
	s.stack = s.stack[:m]
	return items, nil
}

func (s *scanner) top() (*value, error) {
	base := 0
	if len(s.marks) > 0 {
		base = s.marks[len(s.marks)-1]
	}
	if len(s.stack) <= base {
		return nil, errUnderflow
	}
	return &s.stack[len(s.stack)-1], nil
}

// --- reading arguments ---

func (s *scanner) byte1() (byte, error) {
	b, err := s.r.ReadByte()
	if err != nil {
		return 0, eof(err)
	}
	s.n++
	return b, nil
}

func eof(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

func (s *scanner) fixed(n int) ([]byte, error) {
	b, err := s.r.Peek(n)
	if err != nil {
		return nil, eof(err)
	}
	s.r.Discard(n)
	s.n += int64(n)
	return b, nil
}

func (s *scanner) uint(n int) (uint64, error) {
	b, err := s.fixed(n)
	if err != nil {
		return 0, err
	}
	var v uint64
	for i := n - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v, nil
}

// data reads a length-prefixed argument of n bytes: the bytes are kept only
// when short enough to be a name, the rest is skipped without allocating.
func (s *scanner) data(n uint64) (string, bool, error) {
	if n > uint64(s.lim.MaxBytes) {
		return "", false, fmt.Errorf("argument of %d bytes is longer than the scan limit: %w", n, io.ErrUnexpectedEOF)
	}
	if n <= maxKeptString {
		b, err := s.r.Peek(int(n))
		if err != nil {
			d, _ := s.r.Discard(len(b))
			s.n += int64(d)
			return "", false, eof(err)
		}
		str := string(b)
		s.r.Discard(int(n))
		s.n += int64(n)
		return str, true, nil
	}
	d, err := s.r.Discard(int(min(n, 1<<62)))
	s.n += int64(d)
	if err != nil {
		return "", false, eof(err)
	}
	return "", false, nil
}

func (s *scanner) skip(n uint64) error {
	_, _, err := s.data(n)
	return err
}

// line reads a newline-terminated argument without the newline.
func (s *scanner) line() (string, error) {
	var b []byte
	for {
		chunk, err := s.r.ReadSlice('\n')
		s.n += int64(len(chunk))
		if len(b)+len(chunk) > maxLine {
			return "", fmt.Errorf("text argument longer than %d bytes: %w", maxLine, ErrLimit)
		}
		b = append(b, chunk...)
		if err == nil {
			return string(b[:len(b)-1]), nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return "", eof(err)
		}
	}
}

// pyString decodes a protocol 0 STRING argument: a quoted Python literal.
func pyString(arg string) (string, error) {
	if len(arg) >= 2 && (arg[0] == '\'' || arg[0] == '"') && arg[len(arg)-1] == arg[0] {
		body := arg[1 : len(arg)-1]
		if !strings.Contains(body, `\`) {
			return body, nil
		}
		if u, err := strconv.Unquote(`"` + strings.ReplaceAll(body, `"`, `\"`) + `"`); err == nil {
			return u, nil
		}
		return "", errors.New("STRING argument has escapes this scanner does not decode")
	}
	return "", errors.New("STRING argument is not quoted")
}

// rawUnicode decodes a protocol 0 UNICODE argument (raw-unicode-escape).
func rawUnicode(arg string) (string, bool) {
	if !strings.Contains(arg, `\u`) && !strings.Contains(arg, `\U`) {
		// Latin-1 bytes to runes.
		var sb strings.Builder
		for i := 0; i < len(arg); i++ {
			sb.WriteRune(rune(arg[i]))
		}
		return sb.String(), true
	}
	return "", false
}

// --- the walk ---

// one walks a pickle until STOP (returns errStop) or an error.
func (s *scanner) one() error {
	for {
		s.op = s.n
		code, err := s.byte1()
		if err != nil {
			return err
		}
		if err := s.step(code); err != nil {
			return err
		}
	}
}

func (s *scanner) step(code byte) error {
	other := value{kind: kOther}
	switch code {
	// --- integers, floats, constants ---
	case 'I', 'L', 'F': // INT, LONG, FLOAT: decimal text
		arg, err := s.line()
		if err != nil {
			return err
		}
		if !numeric(code, arg) {
			return fmt.Errorf("%c argument %q is not a number", code, clip(arg))
		}
		return s.push(other)
	case 'J': // BININT
		v, err := s.uint(4)
		if err != nil {
			return err
		}
		return s.pushInt(v, 4, true)
	case 'K': // BININT1
		v, err := s.uint(1)
		if err != nil {
			return err
		}
		return s.pushInt(v, 1, false)
	case 'M': // BININT2
		v, err := s.uint(2)
		if err != nil {
			return err
		}
		return s.pushInt(v, 2, false)
	case 0x8a: // LONG1: little-endian two's complement
		n, err := s.uint(1)
		if err != nil {
			return err
		}
		if n == 0 || n > 8 {
			if err := s.skip(n); err != nil {
				return err
			}
			return s.push(other)
		}
		v, err := s.uint(int(n))
		if err != nil {
			return err
		}
		return s.pushInt(v, int(n), true)
	case 0x8b: // LONG4: signed length
		n, err := s.uint(4)
		if err != nil {
			return err
		}
		if int32(n) < 0 {
			return errors.New("LONG4 with a negative length")
		}
		if err := s.skip(n); err != nil {
			return err
		}
		return s.push(other)
	case 'G': // BINFLOAT
		if _, err := s.fixed(8); err != nil {
			return err
		}
		return s.push(other)
	case 'N': // NONE
		return s.push(value{kind: kOther, s: "None"})
	case 0x88, 0x89: // NEWTRUE, NEWFALSE
		return s.push(other)

	// --- strings and bytes ---
	case 'S': // STRING
		arg, err := s.line()
		if err != nil {
			return err
		}
		str, err := pyString(arg)
		if err != nil {
			return err
		}
		return s.pushStr(str, true)
	case 'T': // BINSTRING: signed 4-byte length
		n, err := s.uint(4)
		if err != nil {
			return err
		}
		if int32(n) < 0 {
			return errors.New("BINSTRING with a negative length")
		}
		return s.lenStr(n, true)
	case 'U': // SHORT_BINSTRING
		n, err := s.uint(1)
		if err != nil {
			return err
		}
		return s.lenStr(n, true)
	case 'V': // UNICODE: raw-unicode-escape text
		arg, err := s.line()
		if err != nil {
			return err
		}
		str, ok := rawUnicode(arg)
		return s.pushStr(str, ok)
	case 0x8c: // SHORT_BINUNICODE
		n, err := s.uint(1)
		if err != nil {
			return err
		}
		return s.lenStr(n, true)
	case 'X': // BINUNICODE
		n, err := s.uint(4)
		if err != nil {
			return err
		}
		return s.lenStr(n, true)
	case 0x8d: // BINUNICODE8
		n, err := s.uint(8)
		if err != nil {
			return err
		}
		return s.lenStr(n, true)
	case 'C': // SHORT_BINBYTES: bytes are never a module name
		n, err := s.uint(1)
		if err != nil {
			return err
		}
		return s.lenStr(n, false)
	case 'B': // BINBYTES
		n, err := s.uint(4)
		if err != nil {
			return err
		}
		return s.lenStr(n, false)
	case 0x8e, 0x96: // BINBYTES8, BYTEARRAY8
		n, err := s.uint(8)
		if err != nil {
			return err
		}
		return s.lenStr(n, false)
	case 0x97: // NEXT_BUFFER: out-of-band buffer
		s.info("pickle.out_of_band_buffer", "protocol 5 out-of-band buffers are referenced; their content is not in the file")
		return s.push(other)
	case 0x98: // READONLY_BUFFER
		_, err := s.top()
		return err

	// --- containers ---
	case ']', 0x8f: // EMPTY_LIST, EMPTY_SET
		return s.push(other)
	case ')': // EMPTY_TUPLE
		return s.push(s.tupleOf(nil))
	case '}': // EMPTY_DICT
		return s.push(s.newDict())
	case 'a': // APPEND
		if _, err := s.pop(); err != nil {
			return err
		}
		_, err := s.top()
		return err
	case 'e', 0x90: // APPENDS, ADDITEMS
		if _, err := s.popMark(); err != nil {
			return err
		}
		_, err := s.top()
		return err
	case 'u': // SETITEMS
		items, err := s.popMark()
		if err != nil {
			return err
		}
		d, err := s.top()
		if err != nil {
			return err
		}
		s.setItems(d, items)
		return nil
	case 's': // SETITEM
		v, err := s.pop()
		if err != nil {
			return err
		}
		k, err := s.pop()
		if err != nil {
			return err
		}
		d, err := s.top()
		if err != nil {
			return err
		}
		s.setItems(d, []value{k, v})
		return nil
	case 't': // TUPLE
		items, err := s.popMark()
		if err != nil {
			return err
		}
		return s.push(s.tupleOf(items))
	case 'd': // DICT
		items, err := s.popMark()
		if err != nil {
			return err
		}
		d := s.newDict()
		s.setItems(&d, items)
		return s.push(d)
	case 'l', 0x91: // LIST, FROZENSET
		if _, err := s.popMark(); err != nil {
			return err
		}
		return s.push(other)
	case 0x85: // TUPLE1
		return s.tupleN(1)
	case 0x86: // TUPLE2
		return s.tupleN(2)
	case 0x87: // TUPLE3
		return s.tupleN(3)

	// --- stack manipulation ---
	case '(': // MARK
		if len(s.stack)+len(s.marks) >= s.lim.MaxStack {
			return fmt.Errorf("stack deeper than %d: %w", s.lim.MaxStack, ErrLimit)
		}
		s.marks = append(s.marks, len(s.stack))
		return nil
	case '0': // POP: pops the top item, or a mark if nothing is above it
		if len(s.marks) > 0 && s.marks[len(s.marks)-1] == len(s.stack) {
			s.marks = s.marks[:len(s.marks)-1]
			return nil
		}
		_, err := s.pop()
		return err
	case '1': // POP_MARK
		_, err := s.popMark()
		return err
	case '2': // DUP
		v, err := s.top()
		if err != nil {
			return err
		}
		return s.push(*v)

	// --- memo ---
	case 'g': // GET
		arg, err := s.line()
		if err != nil {
			return err
		}
		i, err := strconv.ParseUint(strings.TrimSpace(arg), 10, 32)
		if err != nil {
			return fmt.Errorf("GET index %q: %w", arg, err)
		}
		return s.get(uint32(i))
	case 'h': // BINGET
		i, err := s.uint(1)
		if err != nil {
			return err
		}
		return s.get(uint32(i))
	case 'j': // LONG_BINGET
		i, err := s.uint(4)
		if err != nil {
			return err
		}
		return s.get(uint32(i))
	case 'p': // PUT
		arg, err := s.line()
		if err != nil {
			return err
		}
		i, err := strconv.ParseUint(strings.TrimSpace(arg), 10, 32)
		if err != nil {
			return fmt.Errorf("PUT index %q: %w", arg, err)
		}
		return s.put(uint32(i))
	case 'q': // BINPUT
		i, err := s.uint(1)
		if err != nil {
			return err
		}
		return s.put(uint32(i))
	case 'r': // LONG_BINPUT
		i, err := s.uint(4)
		if err != nil {
			return err
		}
		return s.put(uint32(i))
	case 0x94: // MEMOIZE
		return s.put(uint32(s.memoN))

	// --- imports and calls ---
	case 'c': // GLOBAL: module and name on two lines
		module, err := s.line()
		if err != nil {
			return err
		}
		name, err := s.line()
		if err != nil {
			return err
		}
		return s.global("GLOBAL", module, name, validName(module) && validName(name))
	case 0x93: // STACK_GLOBAL
		name, err := s.pop()
		if err != nil {
			return err
		}
		module, err := s.pop()
		if err != nil {
			return err
		}
		ok := name.kind == kStr && module.kind == kStr
		return s.global("STACK_GLOBAL", module.s, name.s, ok && validName(module.s) && validName(name.s))
	case 'i': // INST: GLOBAL and OBJ in one
		module, err := s.line()
		if err != nil {
			return err
		}
		name, err := s.line()
		if err != nil {
			return err
		}
		if _, err := s.popMark(); err != nil {
			return err
		}
		if err := s.global("INST", module, name, validName(module) && validName(name)); err != nil {
			return err
		}
		s.res.Calls++
		s.stack[len(s.stack)-1] = other
		return nil
	case 0x82, 0x83, 0x84: // EXT1, EXT2, EXT4: the copyreg extension registry
		n := map[byte]int{0x82: 1, 0x83: 2, 0x84: 4}[code]
		if _, err := s.fixed(n); err != nil {
			return err
		}
		return s.global("EXT", "", "", false)
	case 'R': // REDUCE: callable(*args)
		args, err := s.pop()
		if err != nil {
			return err
		}
		fn, err := s.pop()
		if err != nil {
			return err
		}
		s.res.Calls++
		return s.push(reduced(fn, args))
	case 'o': // OBJ: class and args above a mark
		items, err := s.popMark()
		if err != nil {
			return err
		}
		if len(items) == 0 {
			return errors.New("OBJ without a class")
		}
		s.res.Calls++
		return s.push(other)
	case 0x81, 0x92: // NEWOBJ: cls.__new__(cls, *args); NEWOBJ_EX adds kwargs
		if code == 0x92 {
			if _, err := s.pop(); err != nil {
				return err
			}
		}
		if _, err := s.pop(); err != nil {
			return err
		}
		cls, err := s.pop()
		if err != nil {
			return err
		}
		s.res.Calls++
		return s.push(instance(cls))
	case 'b': // BUILD: __setstate__ or dict update
		state, err := s.pop()
		if err != nil {
			return err
		}
		s.res.Calls++
		obj, err := s.top()
		if err != nil {
			return err
		}
		if obj.kind == kWrapper && !s.nested {
			// joblib's unpickler reads the array's raw bytes right here.
			*obj = other
			return s.joblibArray(state)
		}
		return nil
	case 'P': // PERSID
		if _, err := s.line(); err != nil {
			return err
		}
		return s.push(other)
	case 'Q': // BINPERSID
		if _, err := s.pop(); err != nil {
			return err
		}
		return s.push(other)

	// --- framing ---
	case 0x80: // PROTO
		v, err := s.byte1()
		if err != nil {
			return err
		}
		if v > 5 {
			return fmt.Errorf("unsupported protocol %d", v)
		}
		s.res.Protocol = max(s.res.Protocol, int(v))
		return nil
	case 0x95: // FRAME: an 8-byte length the walk does not need
		_, err := s.fixed(8)
		return err
	case '.': // STOP
		if _, err := s.pop(); err != nil {
			return fmt.Errorf("STOP with an empty stack: %w", err)
		}
		return errStop
	}
	return fmt.Errorf("invalid opcode 0x%02x", code)
}

func (s *scanner) tupleN(n int) error {
	if len(s.stack) < n {
		return errUnderflow
	}
	items := slices.Clone(s.stack[len(s.stack)-n:])
	if err := s.popN(n); err != nil {
		return err
	}
	return s.push(s.tupleOf(items))
}

func (s *scanner) lenStr(n uint64, isStr bool) error {
	str, kept, err := s.data(n)
	if err != nil {
		return err
	}
	return s.pushStr(str, kept && isStr)
}

func (s *scanner) pushStr(str string, ok bool) error {
	if !ok || len(str) > maxKeptString {
		return s.push(value{kind: kOther})
	}
	return s.push(value{kind: kStr, s: str})
}

func (s *scanner) get(i uint32) error {
	var v value
	var ok bool
	if int(i) < len(s.memo) {
		v, ok = s.memo[i], s.memoSet[i]
	} else {
		v, ok = s.memoMap[i]
	}
	if !ok {
		if s.memoFull {
			// Dropped for the limit: fail closed, it may be a name.
			return s.push(value{kind: kOther})
		}
		return fmt.Errorf("memo key %d was never stored", i)
	}
	return s.push(v)
}

func (s *scanner) put(i uint32) error {
	v, err := s.top()
	if err != nil {
		return err
	}
	exists := (int(i) < len(s.memo) && s.memoSet[i]) || s.memoMap != nil && func() bool { _, ok := s.memoMap[i]; return ok }()
	if !exists && s.memoN >= s.lim.MaxMemo {
		if !s.memoFull {
			s.add("pickle.limit.memo", Suspicious, fmt.Sprintf("more than %d memo entries; later ones are treated as unknown", s.lim.MaxMemo))
		}
		s.memoFull = true
		return nil
	}
	if !exists {
		s.memoN++
	}
	if int(i) < s.lim.MaxMemo {
		if grow := int(i) + 1 - len(s.memo); grow > 0 {
			s.memo = append(s.memo, make([]value, grow)...)
			s.memoSet = append(s.memoSet, make([]bool, grow)...)
		}
		s.memo[i], s.memoSet[i] = *v, true
		return nil
	}
	if s.memoMap == nil {
		s.memoMap = map[uint32]value{}
	}
	s.memoMap[i] = *v
	return nil
}

// validName accepts what Python's import and getattr could resolve: dotted
// identifiers. Anything else can only fail to import, or be a trick.
func validName(n string) bool {
	if n == "" || len(n) > maxKeptString {
		return false
	}
	return !strings.ContainsAny(n, "\x00\n\r") && !slices.Contains(strings.Split(n, "."), "")
}

// numeric checks a protocol 0 number argument as Python parses it, so that
// text which merely starts like a pickle is not walked far.
func numeric(code byte, arg string) bool {
	switch code {
	case 'F':
		_, err := strconv.ParseFloat(strings.TrimSpace(arg), 64)
		return err == nil
	case 'L':
		arg = strings.TrimSuffix(arg, "L")
	}
	arg = strings.TrimSpace(arg)
	arg = strings.TrimLeft(arg, "+-")
	if arg == "" || len(arg) > 4096 {
		return false
	}
	for i := 0; i < len(arg); i++ {
		if arg[i] < '0' || arg[i] > '9' {
			return false
		}
	}
	return true
}

func clip(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}
