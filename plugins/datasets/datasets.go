// Package datasets is Annexa's built-in dataset inventory plugin. It finds
// the datasets under configured roots by a fixed rule (see README.md),
// and reports for each its size, formats, ownership and exposure, its
// datasheet and license, and a manifest digest an auditor can recompute
// with standard tools. Digests are cached by inode and times so that a
// quiet multi-terabyte tree costs a stat per file per scan, not a read.
package datasets

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/annexa/annexa/plugins/sdk"
)

// Name and Version identify the plugin to the agent.
const (
	Name    = "datasets"
	Version = "0.2.0"
)

// Kind is the one evidence kind this plugin emits.
const Kind = "dataset"

// SampleConfig is the plugin's section of agent.yaml, as shipped.
//
//go:embed sample.yaml
var SampleConfig string

// configSchema documents the settings for tooling; Configure is what
// enforces them.
const configSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "additionalProperties": false,
  "required": ["roots"],
  "properties": {
    "roots": {"type": "array", "minItems": 1, "items": {"type": "string", "pattern": "^/"},
      "description": "Absolute folders that hold datasets."},
    "exclude": {"type": "array", "items": {"type": "string"},
      "description": "Glob patterns: without a slash they match any file or folder name; with one, an absolute path."},
    "max_hash_bytes_per_second": {"type": "integer", "minimum": 0,
      "description": "Hashing rate limit; 0 means unlimited."},
    "follow_symlinks": {"type": "boolean", "default": false},
    "resend_every": {"type": "string", "default": "12h",
      "description": "How often a full collection sends every dataset again rather than confirming unchanged ones (a Go duration; 0s always sends all)."},
    "personal_data": {"type": "object", "additionalProperties": false,
      "description": "Personal-data sampling of CSV, TSV, JSON, JSON Lines, text and Parquet files.",
      "properties": {
        "enabled": {"type": "boolean", "default": true},
        "max_rows": {"type": "integer", "minimum": 0, "maximum": 1000000, "default": 1000},
        "max_bytes": {"type": "integer", "minimum": 0, "maximum": 67108864, "default": 1048576}
      }},
    "classification": {"type": "object", "additionalProperties": false,
      "properties": {
        "default": {"enum": ["public", "internal", "confidential", "restricted"], "default": "internal"},
        "rules": {"type": "array", "items": {"type": "object", "additionalProperties": false,
          "required": ["level"],
          "properties": {
            "name": {"type": "string"},
            "level": {"enum": ["public", "internal", "confidential", "restricted"]},
            "pii": {"type": "array", "items": {"type": "string"}},
            "paths": {"type": "array", "items": {"type": "string", "pattern": "^/"}},
            "findings": {"type": "array", "items": {"type": "string"}}
          }}}
      }}
  }
}`

// Settings is the plugin's section of the agent config.
type Settings struct {
	Roots                 []string `json:"roots"`
	Exclude               []string `json:"exclude"`
	MaxHashBytesPerSecond int64    `json:"max_hash_bytes_per_second"`
	FollowSymlinks        bool     `json:"follow_symlinks"`
	// ResendEvery bounds how long unchanged datasets go unsent (begin).
	ResendEvery string `json:"resend_every"`
	resendEvery time.Duration
	// PersonalData bounds the personal-data sample of each file.
	PersonalData PersonalDataSettings `json:"personal_data"`
	// Classification maps findings and paths to levels.
	Classification ClassificationSettings `json:"classification"`
}

// Plugin implements sdk.Plugin. Construct it with New.
type Plugin struct {
	// mu serialises Configure and Collect: both own the caches on disk.
	mu         sync.Mutex
	configured bool
	set        Settings
	stateDir   string
	log        *slog.Logger
	pacer      *sdk.ByteRate
	users      *sdk.Owners
	workers    int
	// known are the datasets last reported, so an incremental collection
	// can say which of them are gone.
	known map[string]bool
	stats stats
}

// stats count work done; tests read them to prove the cache is used.
type stats struct {
	filesHashed   atomic.Int64
	bytesHashed   atomic.Int64
	cacheHits     atomic.Int64
	cacheRejected atomic.Int64
}

// New returns an unconfigured plugin; it touches nothing until Configure.
func New() *Plugin {
	return &Plugin{log: sdk.Logger(Name), users: sdk.NewOwners(), workers: defaultWorkers()}
}

// Info describes the plugin.
func (p *Plugin) Info() sdk.Info {
	return sdk.Info{
		Name: Name, Version: Version, Kinds: []string{Kind},
		ConfigSchema: configSchema, DefaultInterval: time.Hour,
	}
}

// Configure validates settings and returns the roots to watch. A root
// that does not exist is accepted: it may be a mount that comes later.
func (p *Plugin) Configure(_ context.Context, cfg sdk.Config) ([]string, error) {
	var s Settings
	if err := cfg.Decode(&s); err != nil {
		return nil, err
	}
	if err := validate(&s); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.set, p.stateDir, p.configured = s, cfg.StateDir, true
	p.pacer = sdk.NewByteRate(s.MaxHashBytesPerSecond)
	p.known = p.loadKnown()
	if cfg.StateDir == "" {
		p.log.Warn("no state folder: every scan rehashes every file")
	}
	for _, r := range s.Roots {
		if fi, err := os.Stat(r); err != nil || !fi.IsDir() {
			p.log.Warn("root is not a folder yet; it yields no datasets until it is", "root", r, "err", err)
		}
	}
	return s.Roots, nil
}

func validate(s *Settings) error {
	var fe sdk.FieldErrors
	fe = append(fe, sdk.CheckRoots("roots", s.Roots, "datasets")...)
	fe = append(fe, sdk.CheckGlobs("exclude", s.Exclude)...)
	fe = append(fe, validateExtra(s)...)
	if s.MaxHashBytesPerSecond < 0 {
		fe = append(fe, sdk.FieldError{Field: "max_hash_bytes_per_second", Message: "must be 0 (unlimited) or more"})
	}
	s.resendEvery = defaultResendEvery
	if s.ResendEvery != "" {
		d, err := time.ParseDuration(s.ResendEvery)
		if err != nil || d < 0 {
			fe = append(fe, sdk.FieldError{Field: "resend_every", Message: fmt.Sprintf("%q is not a duration such as 24h, 12h or 0s", s.ResendEvery)})
		}
		s.resendEvery = d
	}
	if len(fe) > 0 {
		return fe
	}
	return nil
}

// excluded applies the exclude globs to a file or folder.
func (p *Plugin) excluded(name, abs string) bool {
	return sdk.Excluded(p.set.Exclude, name, abs)
}

// Collect reports datasets: all of them on a full request, else those the
// changed paths touch, with deletes for those that are gone.
func (p *Plugin) Collect(ctx context.Context, req sdk.Request, out sdk.Emitter) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.configured {
		return errors.New("collect before configure")
	}
	if req.ScratchState {
		// The folder is removed after this collection: write nothing to
		// it (no caches, no known list, no generation, no checkpoint).
		dir := p.stateDir
		p.stateDir = ""
		defer func() { p.stateDir = dir }()
	}
	c := &collection{p: p, ctx: ctx, out: out, seen: map[string]bool{}, upserted: map[string]bool{},
		unsure: map[string]bool{}, sent: map[string]string{}}
	next := p.begin(c, req)
	var err error
	if req.Full {
		if req.Unthrottled {
			// A person waits: give them exact totals, and so an ETA, early.
			defer p.countAhead(ctx)()
		}
		err = c.full()
		if err == nil && c.delta {
			err = c.deleteGone()
		}
	} else {
		err = c.incremental(req.Changed)
	}
	sdk.ProgressFrom(ctx).FoundAll()
	p.remember(c, req.Full && err == nil)
	return p.finish(c, next, err)
}

// collection is the state of one Collect call.
type collection struct {
	p   *Plugin
	ctx context.Context
	out sdk.Emitter
	// seen are folders already scanned in this collection.
	seen map[string]bool
	// upserted and deleted are what was reported.
	upserted map[string]bool
	deleted  []string
	unsure   map[string]bool
	// under limits which nested datasets an incremental scan follows.
	under []string
	// deliv is the delivery record (nil when nothing is written); sent
	// the digests of the attributes this collection sent.
	deliv *delivery
	sent  map[string]string
	// delta: datasets found as they were last sent are not sent again,
	// only counted in unchanged (begin).
	delta     bool
	unchanged int
}

func (c *collection) full() error {
	for _, root := range c.p.set.Roots {
		if err := c.scanRoot(root); err != nil {
			return err
		}
	}
	return nil
}

// scanRoot queues a root's candidates and scans them.
func (c *collection) scanRoot(root string) error {
	fi, err := os.Stat(root)
	if err != nil || !fi.IsDir() {
		c.p.log.Warn("root is not a folder; no datasets from it", "root", root, "err", err)
		return nil
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		c.p.log.Warn("cannot list root", "root", root, "err", err)
	}
	return c.drain(c.p.rootTargets(root, entries))
}

// rootTargets are a root's candidates: the root if marked, otherwise the
// root (for its own files) and each visible child folder.
func (p *Plugin) rootTargets(root string, entries []fs.DirEntry) []target {
	queue := []target{{path: root, root: root}}
	if marker(root, entries) == "" {
		for _, e := range entries {
			abs := filepath.Join(root, e.Name())
			if p.candidateDir(e, abs) {
				queue = append(queue, target{path: abs, root: root})
			}
		}
	}
	return queue
}

// candidateDir says whether a listed entry is a folder the rule looks at.
func (p *Plugin) candidateDir(e fs.DirEntry, abs string) bool {
	if isHidden(e.Name()) || p.excluded(e.Name(), abs) {
		return false
	}
	if e.Type()&fs.ModeSymlink != 0 {
		if !p.set.FollowSymlinks {
			return false
		}
		fi, err := os.Stat(abs)
		return err == nil && fi.IsDir()
	}
	return e.IsDir()
}

// drain scans targets, adding the marked subfolders each scan finds.
func (c *collection) drain(queue []target) error {
	for len(queue) > 0 {
		t := queue[0]
		queue = queue[1:]
		if c.seen[t.path] {
			continue
		}
		c.seen[t.path] = true
		res, err := c.p.scan(c.ctx, t)
		if ctxErr := c.ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, errNotDir) {
				// It may well still be there: never report it deleted.
				c.unsure[t.path] = true
				c.p.log.Warn("cannot scan folder", "path", t.path, "err", err)
			}
			continue
		}
		for _, n := range res.nested {
			if c.follows(n) {
				queue = append(queue, target{path: n, root: t.root, needMarker: true})
			}
		}
		if !res.qualifies {
			continue
		}
		if err := c.emit(res.attrs); err != nil {
			return err
		}
	}
	return nil
}

// follows says whether a nested dataset is in this collection's scope.
func (c *collection) follows(path string) bool {
	if c.under == nil {
		return true
	}
	for _, u := range c.under {
		if sdk.Within(path, u) {
			return true
		}
	}
	return false
}

func (c *collection) emit(a Attributes) error {
	subject := "dataset:" + a.Path
	if !utf8.ValidString(a.Path) || strings.ContainsAny(a.Path, "\x00\n") {
		// The evidence envelope cannot carry such a subject; say so
		// rather than fail the whole collection.
		c.p.log.Warn("dataset path is not valid UTF-8 or holds a newline; not reported", "path", strconv.Quote(a.Path))
		return nil
	}
	digest, err := attrsDigest(&a)
	if err != nil {
		return fmt.Errorf("encode %s: %w", subject, err)
	}
	if c.delta && c.deliv.Sent[a.Path] == digest {
		// Confirmed, not sent: upserted holds every dataset found.
		c.upserted[a.Path] = true
		c.unchanged++
		return nil
	}
	if err := c.out.Emit(sdk.Upsert(Kind, subject, a)); err != nil {
		return fmt.Errorf("emit %s: %w", subject, err)
	}
	c.upserted[a.Path] = true
	c.sent[a.Path] = digest
	return nil
}

// incremental rescans what the changed paths can affect: every folder on
// the way from the path up to its root (any of them may be the dataset
// that owns it, or may have gained or lost a marker), and the datasets
// beneath the path. Known datasets in that region that are no longer
// found are reported deleted.
func (c *collection) incremental(changed []string) error {
	type region struct{ path, root string }
	var regions []region
	for _, ch := range changed {
		if !filepath.IsAbs(ch) {
			c.p.log.Warn("ignoring relative changed path", "path", ch)
			continue
		}
		ch = filepath.Clean(ch)
		for _, root := range c.p.set.Roots {
			if sdk.Within(ch, root) {
				regions = append(regions, region{ch, root})
				c.under = append(c.under, ch)
				break
			}
		}
	}
	// A changed root puts all of it in question; do those first, following
	// every nested dataset, so the narrower regions find them seen.
	for _, r := range regions {
		if r.path == r.root {
			under := c.under
			c.under = nil
			err := c.scanRoot(r.root)
			c.under = under
			if err != nil {
				return err
			}
		}
	}
	for _, r := range regions {
		if r.path != r.root {
			if err := c.drain(c.p.ancestorTargets(r.path, r.root)); err != nil {
				return err
			}
		}
	}
	for k := range c.p.known {
		if c.upserted[k] || c.unsure[k] {
			continue
		}
		for _, r := range regions {
			// Beneath the path everything was looked at; above it, every
			// folder was either scanned or is no longer a folder in scope,
			// except an unmarked root, which is only scanned when its own
			// files are in question.
			if sdk.Within(k, r.path) || (sdk.Within(r.path, k) && (k != r.root || c.seen[k])) {
				if err := c.out.Emit(sdk.Delete(Kind, "dataset:"+k)); err != nil {
					return fmt.Errorf("emit delete of %s: %w", k, err)
				}
				c.deleted = append(c.deleted, k)
				break
			}
		}
	}
	return nil
}

// ancestorTargets lists the folders from path up to root that could be a
// dataset owning path, outermost first. A hidden, excluded or (without
// follow_symlinks) symlinked folder on the way puts everything beneath
// it out of scope.
func (p *Plugin) ancestorTargets(path, root string) []target {
	rel, err := filepath.Rel(root, path)
	if err != nil {
		return nil
	}
	parts := strings.Split(filepath.ToSlash(rel), "/")
	rootMarked := false
	if entries, err := os.ReadDir(root); err == nil {
		rootMarked = marker(root, entries) != ""
	}
	var ts []target
	// An unmarked root's dataset is only its own files: deeper changes
	// cannot touch it.
	rootFI, rootErr := os.Stat(root)
	direct := false
	if len(parts) == 1 {
		// A file directly in the root changes the root's own dataset; a
		// folder there does not. What was deleted we cannot tell apart,
		// so ask again if the root had files of its own.
		fi, err := os.Lstat(path)
		direct = (err == nil && !fi.IsDir()) || (err != nil && p.known[root])
	}
	if rootMarked || direct || rootErr != nil || !rootFI.IsDir() {
		ts = append(ts, target{path: root, root: root})
	}
	cur := root
	for i, part := range parts {
		cur = filepath.Join(cur, part)
		if isHidden(part) || p.excluded(part, cur) {
			break
		}
		fi, err := os.Lstat(cur)
		if err != nil {
			break
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			if !p.set.FollowSymlinks {
				break
			}
			if fi, err = os.Stat(cur); err != nil {
				break
			}
		}
		if !fi.IsDir() {
			break
		}
		ts = append(ts, target{path: cur, root: root, needMarker: i > 0 || rootMarked})
	}
	return ts
}

// remember updates the list of reported datasets. After a successful full
// collection it is exactly what was reported; otherwise it only grows by
// what was reported and shrinks by what was deleted, so a cancelled scan
// never forgets a dataset whose delete is still owed.
func (p *Plugin) remember(c *collection, replace bool) {
	if replace {
		p.known = c.upserted
		for k := range c.unsure {
			p.known[k] = true
		}
		p.pruneCaches()
	} else {
		for k := range c.upserted {
			p.known[k] = true
		}
		for _, k := range c.deleted {
			delete(p.known, k)
		}
	}
	p.saveKnown()
}

var _ sdk.Plugin = (*Plugin)(nil)
