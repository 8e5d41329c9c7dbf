package controls

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/checker"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"go.yaml.in/yaml/v3"

	"github.com/annexa/annexa/collector/controls/catalog"
	"github.com/annexa/annexa/evidence"
)

// CostLimit bounds the work one expression may do on one subject; past it
// the evaluation stops with an error and the subject counts as insufficient.
const CostLimit = 1_000_000

// maxFileSize bounds a catalog or checks file.
const maxFileSize = 4 << 20

// Scopes a check can run at.
const (
	ScopeSubject = "subject"
	ScopeHost    = "host"
	ScopeFleet   = "fleet"
)

// agentPlugin stands for the agent itself: its evidence is trustworthy when
// the host reports.
const agentPlugin = "agent"

// builtinKinds maps each evidence kind of docs/evidence.md and DESIGN.md to
// the plugin that supplies it.
var builtinKinds = map[string]string{
	"host": agentPlugin, "plugin.health": agentPlugin, "scan.complete": agentPlugin,
	"dataset": "datasets", "model": "models",
	"access.event": "access", "access.summary": "access",
	"encryption.volume": "encryption", "encryption.endpoint": "encryption",
}

var severities = []string{"low", "medium", "high", "critical"}

// ControlDef is one control of a catalog file.
type ControlDef struct {
	ID          string `yaml:"id"`
	Title       string `yaml:"title"`
	Theme       string `yaml:"theme"`
	Description string `yaml:"description"`
}

// CheckDef is one check as written in a checks file.
type CheckDef struct {
	ID          string            `yaml:"id"`
	Title       string            `yaml:"title"`
	Kind        string            `yaml:"kind"`
	Plugins     []string          `yaml:"plugins"`
	Scope       string            `yaml:"scope"`
	Applies     string            `yaml:"applies"`
	Assert      string            `yaml:"assert"`
	Observe     map[string]string `yaml:"observe"`
	Severity    string            `yaml:"severity"`
	Freshness   string            `yaml:"freshness"`
	Remediation string            `yaml:"remediation"`
	Controls    []string          `yaml:"controls"`
}

// KindDef declares an evidence kind beyond the built-in ones, for checks
// over a third-party plugin's evidence.
type KindDef struct {
	Name   string `yaml:"name"`
	Plugin string `yaml:"plugin"`
	// Fields are the kind's attributes. When a kind has any, a check that
	// names another (attrs.x, has(attrs.x), attrs["x"]) fails to load:
	// a typo must not be a silent pass or a permanent "no such key".
	// Declaring a known kind again adds fields to it.
	Fields []string `yaml:"fields"`
}

// file is one YAML file: a catalog (framework and controls), checks, or
// both.
type file struct {
	Framework string       `yaml:"framework"`
	Title     string       `yaml:"title"`
	Controls  []ControlDef `yaml:"controls"`
	Kinds     []KindDef    `yaml:"kinds"`
	Checks    []CheckDef   `yaml:"checks"`
}

// Framework is one loaded catalog.
type Framework struct {
	ID       string
	Title    string
	Controls int
}

type control struct {
	ControlDef
	framework string
	checks    []*check
}

func (c *control) controlID() string { return c.framework + "/" + c.ID }

type observer struct {
	name string
	prg  cel.Program
}

type check struct {
	CheckDef
	where     string // file:line, for errors
	freshness time.Duration
	applies   cel.Program // nil: always
	assert    cel.Program
	observe   []observer
	// What applies and assert read beyond the record, so that a kept
	// evaluation (State) knows what to judge again when it changes.
	deps deps
	// fast is a fleet check with its programs planned without runtime
	// cost tracking (whose bookkeeping grows with the square of a
	// comprehension's length: 0.1 s for 10,000 hosts), run when CEL's
	// static estimate for the fleet at hand proves the limit unreachable.
	fast *fastCheck
	// attrs are the attributes a subject check's expressions read.
	attrs attrKeys
}

type fastCheck struct {
	env   *cel.Env
	limit uint64
	// The check's applies (nil without one), assert and observe, planned
	// without cost tracking, with their ASTs.
	applies, assert fastProgram
	observe         []fastProgram
}

type fastProgram struct {
	prg cel.Program
	ast *cel.Ast
}

// fits reports whether the expression stays within the cost limit when
// no list, map or string in its input is longer than n.
func (f *fastCheck) fits(p fastProgram, n uint64) bool {
	est, err := f.env.EstimateCost(p.ast, sizeBound(n))
	return err == nil && est.Max <= f.limit
}

// forFleet returns c with each expression that fits a fleet whose values
// are no longer than n planned without cost tracking.
func (f *fastCheck) forFleet(c *check, n uint64) *check {
	cc := *c
	if c.applies != nil && f.fits(f.applies, n) {
		cc.applies = f.applies.prg
	}
	if f.fits(f.assert, n) {
		cc.assert = f.assert.prg
	}
	cc.observe = slices.Clone(c.observe)
	for i, o := range f.observe {
		if f.fits(o, n) {
			cc.observe[i].prg = o.prg
		}
	}
	return &cc
}

// sizeBound sizes every value by one bound.
type sizeBound uint64

func (b sizeBound) EstimateSize(checker.AstNode) *checker.SizeEstimate {
	return &checker.SizeEstimate{Min: 0, Max: uint64(b)}
}

func (sizeBound) EstimateCallCost(string, string, *checker.AstNode, []checker.AstNode) *checker.CallEstimate {
	return nil
}

// untracked plans the fleet check's expressions again without runtime
// cost tracking.
func untracked(env *cel.Env, c *check, limit uint64) (*fastCheck, error) {
	f := &fastCheck{env: env, limit: limit}
	plan := func(expr string) (fastProgram, error) {
		a, iss := env.Compile(expr)
		if iss.Err() != nil {
			return fastProgram{}, iss.Err()
		}
		prg, err := env.Program(a, cel.EvalOptions(cel.OptOptimize))
		return fastProgram{prg, a}, err
	}
	var err error
	if c.applies != nil {
		if f.applies, err = plan(c.Applies); err != nil {
			return nil, err
		}
	}
	if f.assert, err = plan(c.Assert); err != nil {
		return nil, err
	}
	for _, o := range c.observe {
		p, err := plan(c.Observe[o.name])
		if err != nil {
			return nil, err
		}
		f.observe = append(f.observe, p)
	}
	return f, nil
}

// deps is what a check's applies and assert read besides the record.
type deps struct {
	appliesNow, assertNow bool
	// hostFields are the fields of `host` read; hostAll means the whole
	// object (it is used other than by a constant field name).
	hostFields map[string]bool
	hostAll    bool
	// Fleet scope: the fields of the host objects in fleet.hosts that
	// applies and assert read (through comprehension variables), whether
	// they read hosts in any other way (fleetAll), the same for observe
	// (which runs only on a failure), and whether any reads `now`.
	fleetFields, obsFields map[string]bool
	fleetAll, obsAll       bool
	fleetNow               bool
}

// readFleet adds what fleet-scope expression a reads to d. fleet may be
// used only as fleet.hosts and fleet.reporting, and a comprehension
// variable only by field name (h.reporting): host values reach nothing
// else, so the fields named are all of a host that the expression can
// see. Anything else counts as reading every field.
func (d *deps) readFleet(a *cel.Ast, observe bool) {
	if a == nil {
		return
	}
	fields, all := &d.fleetFields, &d.fleetAll
	if observe {
		fields, all = &d.obsFields, &d.obsAll
	}
	root := a.NativeRep().Expr()
	vars := map[string]bool{}
	celast.PreOrderVisit(root, celast.NewExprVisitor(func(e celast.Expr) {
		if e.Kind() == celast.ComprehensionKind {
			c := e.AsComprehension()
			vars[c.IterVar()] = true
			if c.HasIterVar2() {
				vars[c.IterVar2()] = true
			}
		}
	}))
	idents, named := 0, 0
	celast.PreOrderVisit(root, celast.NewExprVisitor(func(e celast.Expr) {
		switch e.Kind() {
		case celast.IdentKind:
			switch n := e.AsIdent(); {
			case n == "now":
				d.fleetNow = true
			case n == "fleet" || vars[n]:
				idents++
			}
		case celast.SelectKind:
			sel := e.AsSelect()
			op := sel.Operand()
			if op.Kind() != celast.IdentKind {
				return
			}
			switch n := op.AsIdent(); {
			case n == "fleet" && (sel.FieldName() == "hosts" || sel.FieldName() == "reporting"):
				named++
			case vars[n]:
				if *fields == nil {
					*fields = map[string]bool{}
				}
				(*fields)[sel.FieldName()] = true
				named++
			}
		}
	}))
	if named < idents {
		*all = true
	}
}

// readDeps adds what expression a reads to d.
func (d *deps) read(a *cel.Ast, applies bool) {
	if a == nil {
		return
	}
	field := func(f string) {
		if d.hostFields == nil {
			d.hostFields = map[string]bool{}
		}
		d.hostFields[f] = true
	}
	ident := func(id string) {
		if id == "now" {
			if applies {
				d.appliesNow = true
			} else {
				d.assertNow = true
			}
		}
	}
	if fieldsRead(a, "host", field, ident) {
		d.hostAll = true
	}
}

// fieldsRead walks expression a: each field of the variable v it reads by
// constant name (v.x, has(v.x), v["x"], "x" in v) goes to field, every
// other identifier to ident (when not nil). It reports whether v is also
// used otherwise (size(v), v[k], v.exists(...)), so that any field may be
// read.
func fieldsRead(a *cel.Ast, v string, field, ident func(string)) (whole bool) {
	isVar := func(e celast.Expr) bool { return e.Kind() == celast.IdentKind && e.AsIdent() == v }
	idents, named := 0, 0
	celast.PreOrderVisit(a.NativeRep().Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		switch e.Kind() {
		case celast.IdentKind:
			if isVar(e) {
				idents++
			} else if ident != nil {
				ident(e.AsIdent())
			}
		case celast.SelectKind:
			if sel := e.AsSelect(); isVar(sel.Operand()) {
				field(sel.FieldName())
				named++
			}
		case celast.CallKind:
			call := e.AsCall()
			args := call.Args()
			if len(args) != 2 {
				return
			}
			lit, obj := args[1], args[0] // v["x"]
			if call.FunctionName() == operators.In {
				lit, obj = args[0], args[1] // "x" in v
			} else if call.FunctionName() != operators.Index {
				return
			}
			if isVar(obj) && lit.Kind() == celast.LiteralKind {
				if s, ok := lit.AsLiteral().Value().(string); ok {
					field(s)
					named++
				}
			}
		}
	}))
	return named < idents
}

// Engine is a loaded, compiled set of catalogs and checks. It is safe for
// concurrent use.
type Engine struct {
	// Version identifies the catalog and check files that produced it: a
	// digest of their names and contents.
	Version    string
	frameworks []Framework
	controls   []*control
	checks     []*check
	// attrKeys are, by kind in subjectKinds, the attributes decoded (nil:
	// all of them).
	attrKeys map[string]*attrKeys
	// subjectKinds are the kinds some subject-scope check reads, whose
	// attributes are decoded for evaluation.
	subjectKinds map[string]bool
}

// Frameworks lists the loaded catalogs, sorted by id.
func (e *Engine) Frameworks() []Framework { return slices.Clone(e.frameworks) }

// Checks returns the number of loaded checks.
func (e *Engine) Checks() int { return len(e.checks) }

type source struct {
	name string
	fsys fs.FS
}

// Load reads the embedded catalogs and checks and then every *.yaml file
// at the top of fsys (nil for none). A control of an overriding catalog
// replaces the embedded control with the same id, or is added; an
// overriding check replaces the embedded check with the same id, or is
// added. Every expression is compiled and type-checked; all problems are
// returned together, each naming file, line and check.
func Load(fsys fs.FS, opts ...LoadOption) (*Engine, error) {
	l := &loader{frameworks: map[string]*Framework{}, controls: map[string]*control{},
		checkIdx: map[string]int{}, kinds: map[string]string{}, fields: map[string]map[string]bool{}, costLimit: CostLimit}
	for _, o := range opts {
		o(l)
	}
	srcs := []source{{"catalog", catalog.FS}}
	if fsys != nil {
		srcs = append(srcs, source{l.srcName, fsys})
	}
	for k, p := range builtinKinds {
		l.kinds[k] = p
	}
	h := sha256.New()
	for si, src := range srcs {
		names, err := fs.Glob(src.fsys, "*.yaml")
		if err != nil {
			return nil, fmt.Errorf("list catalog files: %w", err)
		}
		yml, _ := fs.Glob(src.fsys, "*.yml")
		names = append(names, yml...)
		slices.Sort(names)
		seen := map[string]string{} // check id → where, within this source
		for _, name := range names {
			b, err := readLimited(src.fsys, name)
			if err != nil {
				return nil, err
			}
			fmt.Fprintf(h, "%d:%s:%d\n", si, name, len(b))
			h.Write(b)
			l.errs = append(l.errs, l.addFile(path.Join(src.name, name), b, seen)...)
		}
	}
	if len(l.errs) == 0 {
		l.compile()
	}
	if len(l.errs) > 0 {
		return nil, errors.Join(l.errs...)
	}
	e := &Engine{Version: "sha256:" + hex.EncodeToString(h.Sum(nil))[:16]}
	for _, f := range l.frameworks {
		e.frameworks = append(e.frameworks, *f)
	}
	slices.SortFunc(e.frameworks, func(a, b Framework) int { return strings.Compare(a.ID, b.ID) })
	for _, f := range e.frameworks {
		for _, id := range l.order[f.ID] {
			e.controls = append(e.controls, l.controls[f.ID+"/"+id])
		}
	}
	e.checks = l.checks
	e.subjectKinds = map[string]bool{}
	for _, c := range e.checks {
		if c.Scope == ScopeSubject {
			e.subjectKinds[c.Kind] = true
		}
	}
	e.attrKeys = subjectAttrKeys(e.checks)
	for _, c := range e.checks {
		for _, id := range c.Controls {
			ctl := l.controls[id]
			ctl.checks = append(ctl.checks, c)
		}
	}
	return e, nil
}

func readLimited(fsys fs.FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, fmt.Errorf("open catalog file %s: %w", name, err)
	}
	defer f.Close()
	var buf bytes.Buffer
	n, err := buf.ReadFrom(limitReader{f, maxFileSize + 1})
	if err != nil {
		return nil, fmt.Errorf("read catalog file %s: %w", name, err)
	}
	if n > maxFileSize {
		return nil, fmt.Errorf("catalog file %s: larger than %d bytes", name, maxFileSize)
	}
	return buf.Bytes(), nil
}

type limitReader struct {
	r interface{ Read([]byte) (int, error) }
	n int64
}

func (l limitReader) Read(p []byte) (int, error) {
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	return l.r.Read(p)
}

// LoadOption tunes Load.
type LoadOption func(*loader)

// WithCostLimit replaces CostLimit for every expression.
func WithCostLimit(n uint64) LoadOption { return func(l *loader) { l.costLimit = n } }

// WithSourceName prefixes the names of the files of Load's folder in
// errors, e.g. with the folder's path, so that they can be opened as given.
func WithSourceName(name string) LoadOption { return func(l *loader) { l.srcName = name } }

type loader struct {
	srcName    string
	costLimit  uint64
	frameworks map[string]*Framework
	controls   map[string]*control // by namespaced id
	order      map[string][]string // framework → control ids in catalog order
	checks     []*check
	checkIdx   map[string]int
	kinds      map[string]string
	fields     map[string]map[string]bool // kind → attribute names
	errs       []error
}

func (l *loader) addFile(name string, b []byte, seen map[string]string) []error {
	var f file
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, errEOF) {
		return []error{fmt.Errorf("%s: %w", name, err)}
	}
	lines := checkLines(b)
	var errs []error
	if f.Framework == "" && len(f.Controls) > 0 {
		errs = append(errs, fmt.Errorf("%s: controls without a framework", name))
	}
	if f.Framework != "" {
		if strings.ContainsAny(f.Framework, "/ ") {
			errs = append(errs, fmt.Errorf("%s: framework %q: must not contain '/' or spaces", name, f.Framework))
		}
		fw := l.frameworks[f.Framework]
		if fw == nil {
			fw = &Framework{ID: f.Framework}
			l.frameworks[f.Framework] = fw
		}
		if f.Title != "" {
			fw.Title = f.Title
		}
		if l.order == nil {
			l.order = map[string][]string{}
		}
		inFile := map[string]bool{}
		for _, c := range f.Controls {
			if c.ID == "" || c.Title == "" {
				errs = append(errs, fmt.Errorf("%s: control %q: id and title are required", name, c.ID))
				continue
			}
			if inFile[c.ID] {
				errs = append(errs, fmt.Errorf("%s: control %q: defined twice", name, c.ID))
				continue
			}
			inFile[c.ID] = true
			key := f.Framework + "/" + c.ID
			if _, ok := l.controls[key]; !ok {
				l.order[f.Framework] = append(l.order[f.Framework], c.ID)
				fw.Controls++
			}
			l.controls[key] = &control{ControlDef: c, framework: f.Framework}
		}
	}
	for _, k := range f.Kinds {
		if k.Name == "" || k.Plugin == "" {
			errs = append(errs, fmt.Errorf("%s: kind %q: name and plugin are required", name, k.Name))
			continue
		}
		l.kinds[k.Name] = k.Plugin
		for _, fld := range k.Fields {
			if l.fields[k.Name] == nil {
				l.fields[k.Name] = map[string]bool{}
			}
			l.fields[k.Name][fld] = true
		}
	}
	for i, d := range f.Checks {
		where := name
		if i < len(lines) {
			where = fmt.Sprintf("%s:%d", name, lines[i])
		}
		if d.ID == "" {
			errs = append(errs, fmt.Errorf("%s: check without an id", where))
			continue
		}
		if prev, dup := seen[d.ID]; dup {
			errs = append(errs, fmt.Errorf("%s: check %q: already defined at %s", where, d.ID, prev))
			continue
		}
		seen[d.ID] = where
		c := &check{CheckDef: d, where: where}
		if i, ok := l.checkIdx[d.ID]; ok {
			l.checks[i] = c // an override replaces the embedded check
		} else {
			l.checkIdx[d.ID] = len(l.checks)
			l.checks = append(l.checks, c)
		}
	}
	return errs
}

var errEOF = errorsEOF()

func errorsEOF() error {
	var f file
	return yaml.NewDecoder(bytes.NewReader(nil)).Decode(&f)
}

// checkLines returns the line of each item of the top-level checks list.
func checkLines(b []byte) []int {
	var doc yaml.Node
	if yaml.Unmarshal(b, &doc) != nil || len(doc.Content) == 0 {
		return nil
	}
	m := doc.Content[0]
	if m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == "checks" && m.Content[i+1].Kind == yaml.SequenceNode {
			var out []int
			for _, it := range m.Content[i+1].Content {
				out = append(out, it.Line)
			}
			return out
		}
	}
	return nil
}

// compile validates and compiles every check, collecting all errors.
func (l *loader) compile() {
	envs := map[string]*cel.Env{}
	for _, scope := range []string{ScopeSubject, ScopeHost, ScopeFleet} {
		env, err := newEnv(scope)
		if err != nil {
			l.errs = append(l.errs, fmt.Errorf("build CEL environment for scope %s: %w", scope, err))
			return
		}
		envs[scope] = env
	}
	for _, c := range l.checks {
		fail := func(format string, args ...any) {
			l.errs = append(l.errs, fmt.Errorf("%s: check %q: %s", c.where, c.ID, fmt.Sprintf(format, args...)))
		}
		if c.Scope == "" {
			c.Scope = ScopeSubject
		}
		env := envs[c.Scope]
		if env == nil {
			fail("scope %q: want subject, host or fleet", c.Scope)
			continue
		}
		if c.Title == "" {
			fail("title is required")
		}
		plugin, ok := l.kinds[c.Kind]
		if !ok {
			fail("kind %q is not a known evidence kind (declare it under kinds: with its plugin)", c.Kind)
		}
		if len(c.Plugins) == 0 && ok {
			c.Plugins = []string{plugin}
		}
		if !slices.Contains(severities, c.Severity) {
			fail("severity %q: want one of %s", c.Severity, strings.Join(severities, ", "))
		}
		if c.Freshness != "" {
			d, err := time.ParseDuration(c.Freshness)
			if err != nil || d <= 0 {
				fail("freshness %q: want a positive duration such as 24h", c.Freshness)
			}
			c.freshness = d
		}
		if len(c.Controls) == 0 {
			fail("supports no control")
		}
		for _, id := range c.Controls {
			if _, ok := l.controls[id]; !ok {
				fail("control %q is in no loaded catalog (ids are namespaced: iso27001-2022/8.24)", id)
			}
		}
		if slices.Contains(c.Controls, "") || hasDup(c.Controls) {
			fail("controls list has an empty or repeated id")
		}
		var err error
		var ast *cel.Ast
		known := l.fields[c.Kind]
		if strings.TrimSpace(c.Assert) == "" {
			fail("assert is required")
		} else if c.assert, ast, err = compileBool(env, c.Assert, l.costLimit); err != nil {
			fail("assert: %v", err)
		} else if err := checkFields(ast, c.Kind, known); err != nil {
			fail("assert: %v", err)
		} else {
			c.deps.read(ast, false)
			c.deps.readFleet(ast, false)
			c.attrs.read(ast)
			c.attrs.readText(c.Assert)
		}
		if strings.TrimSpace(c.Applies) != "" {
			if c.applies, ast, err = compileBool(env, c.Applies, l.costLimit); err != nil {
				fail("applies: %v", err)
			} else if err := checkFields(ast, c.Kind, known); err != nil {
				fail("applies: %v", err)
			} else {
				c.deps.read(ast, true)
				c.deps.readFleet(ast, false)
				c.attrs.read(ast)
				c.attrs.readText(c.Applies)
			}
		}
		names := make([]string, 0, len(c.Observe))
		for n := range c.Observe {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			prg, ast, err := compileAny(env, c.Observe[n], l.costLimit)
			if err == nil {
				err = checkFields(ast, c.Kind, known)
			}
			if err != nil {
				fail("observe %s: %v", n, err)
				continue
			}
			c.deps.readFleet(ast, true)
			c.attrs.read(ast)
			c.observe = append(c.observe, observer{n, prg})
		}
		if c.Scope == ScopeFleet && c.assert != nil {
			if c.fast, err = untracked(env, c, l.costLimit); err != nil {
				fail("plan: %v", err)
			}
		}
	}
}

func hasDup(s []string) bool {
	seen := map[string]bool{}
	for _, v := range s {
		if seen[v] {
			return true
		}
		seen[v] = true
	}
	return false
}

// newEnv declares the variables a scope's expressions may use; using any
// other is a compile error.
func newEnv(scope string) (*cel.Env, error) {
	obj := cel.MapType(cel.StringType, cel.DynType)
	opts := []cel.EnvOption{cel.Variable("now", cel.TimestampType)}
	switch scope {
	case ScopeSubject:
		opts = append(opts,
			cel.Variable("attrs", obj),
			cel.Variable("subject", cel.StringType),
			cel.Variable("kind", cel.StringType),
			cel.Variable("plugin", cel.StringType),
			cel.Variable("observed_at", cel.TimestampType),
			cel.Variable("host", obj))
	case ScopeHost:
		opts = append(opts, cel.Variable("host", obj))
	case ScopeFleet:
		opts = append(opts, cel.Variable("fleet", obj))
	}
	return cel.NewEnv(opts...)
}

func compileBool(env *cel.Env, expr string, limit uint64) (cel.Program, *cel.Ast, error) {
	ast, iss := env.Compile(expr)
	if iss.Err() != nil {
		return nil, nil, iss.Err()
	}
	if t := ast.OutputType(); !t.IsExactType(cel.BoolType) && !t.IsExactType(cel.DynType) {
		return nil, nil, fmt.Errorf("expression yields %s, want bool", t)
	}
	prg, err := program(env, ast, limit)
	return prg, ast, err
}

func compileAny(env *cel.Env, expr string, limit uint64) (cel.Program, *cel.Ast, error) {
	ast, iss := env.Compile(expr)
	if iss.Err() != nil {
		return nil, nil, iss.Err()
	}
	prg, err := program(env, ast, limit)
	return prg, ast, err
}

// program plans an expression. Tracking cost at run time costs about a
// fifth of the evaluation, so it is left out where the cost is bounded
// statically: an expression that reads only one record (attrs, subject,
// kind, plugin, observed_at, now) sees at most evidence.MaxAttributesLen
// bytes, which bounds every string and list in it; if CEL's worst-case
// estimate under that bound stays within the limit, the limit cannot be
// reached. Anything reading host or fleet, whose size the collector does
// not bound, is always tracked.
func program(env *cel.Env, ast *cel.Ast, limit uint64) (cel.Program, error) {
	opts := []cel.ProgramOption{cel.EvalOptions(cel.OptOptimize)}
	if readsOnlyRecord(ast) {
		if est, err := env.EstimateCost(ast, recordBound{}); err == nil && est.Max <= limit {
			return env.Program(ast, opts...)
		}
	}
	return env.Program(ast, append(opts, cel.CostLimit(limit))...)
}

func readsOnlyRecord(a *cel.Ast) bool {
	only := true
	celast.PreOrderVisit(a.NativeRep().Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		if e.Kind() == celast.IdentKind && (e.AsIdent() == "host" || e.AsIdent() == "fleet") {
			only = false
		}
	}))
	return only
}

// recordBound sizes every value of one record by the record's own limit.
type recordBound struct{}

func (recordBound) EstimateSize(checker.AstNode) *checker.SizeEstimate {
	return &checker.SizeEstimate{Min: 0, Max: evidence.MaxAttributesLen}
}

func (recordBound) EstimateCallCost(string, string, *checker.AstNode, []checker.AstNode) *checker.CallEstimate {
	return nil
}

// checkFields returns an error naming the first attribute the expression
// reads that the kind does not have: attrs.x, has(attrs.x), attrs["x"],
// "x" in attrs. Nothing is checked for a kind without declared fields.
func checkFields(a *cel.Ast, kind string, known map[string]bool) error {
	if len(known) == 0 || a == nil {
		return nil
	}
	var unknown []string
	isAttrs := func(e celast.Expr) bool { return e.Kind() == celast.IdentKind && e.AsIdent() == "attrs" }
	note := func(name string) {
		if !known[name] && !slices.Contains(unknown, name) {
			unknown = append(unknown, name)
		}
	}
	celast.PreOrderVisit(a.NativeRep().Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		switch e.Kind() {
		case celast.SelectKind:
			if sel := e.AsSelect(); isAttrs(sel.Operand()) {
				note(sel.FieldName())
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
					note(s)
				}
			}
		}
	}))
	if len(unknown) == 0 {
		return nil
	}
	names := make([]string, 0, len(known))
	for n := range known {
		names = append(names, n)
	}
	slices.Sort(names)
	return fmt.Errorf("kind %s has no attribute %s (known: %s; a plugin's new attribute is declared under kinds: fields:)",
		kind, strings.Join(unknown, ", "), strings.Join(names, ", "))
}
