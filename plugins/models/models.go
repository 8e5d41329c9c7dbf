// Package models is Annexa's built-in model inventory plugin. It finds the
// model files under configured roots by their content (never their names),
// reports for each its format, size, digest, parameters, dtypes and
// provenance fields, and says without loading or executing anything
// whether it is unsafe: pickles are walked opcode by opcode (package
// models/pickle) and every import they make is rated against fixed lists
// that fail closed. Digests and analyses are cached by inode and times so
// an unchanged tree costs a stat per file per scan.
package models

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"

	"os"
	"path/filepath"
	"runtime/debug"
	"slices"

	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/annexa/annexa/plugins/sdk"
)

// Name and Version identify the plugin to the agent.
const (
	Name    = "models"
	Version = "0.1.0"
)

// Kind is the one evidence kind this plugin emits.
const Kind = "model"

// SampleConfig is the plugin's section of agent.yaml, as shipped.
//
//go:embed sample.yaml
var SampleConfig string

const configSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "additionalProperties": false,
  "required": ["roots"],
  "properties": {
    "roots": {"type": "array", "minItems": 1, "items": {"type": "string", "pattern": "^/"},
      "description": "Absolute folders that hold model files."},
    "exclude": {"type": "array", "items": {"type": "string"},
      "description": "Glob patterns: without a slash they match any file or folder name; with one, an absolute path."},
    "max_hash_bytes_per_second": {"type": "integer", "minimum": 0,
      "description": "Hashing rate limit; 0 means unlimited."},
    "max_scan_bytes": {"type": "integer", "minimum": 0,
      "description": "Most pickle bytes walked per file; 0 means 1 GiB."},
    "workers": {"type": "integer", "minimum": 0, "description": "Files analysed in parallel; 0 means one per CPU."},
    "io_priority": {"enum": ["low", "normal"], "description": "low (default): the lowest best-effort Linux I/O priority for the plugin's reads."},
    "sources": {"type": "object", "additionalProperties": {"type": "string"},
      "description": "Absolute folder → where its models came from (\"internal\", \"huggingface:org/name\", \"vendor:acme\")."},
    "pinned_digests_file": {"type": "string", "pattern": "^/", "description": "Approved model digests, in sha256sum's format."},
    "pinned_digests": {"type": "array", "items": {"type": "string"}, "description": "Approved model digests (SHA-256, hex)."},
    "deployed_roots": {"type": "array", "items": {"type": "string", "pattern": "^/"}, "description": "Folders an inference server loads models from."},
    "signing_keys": {"type": "array", "items": {"type": "string", "pattern": "^/"}, "description": "PEM public keys trusted to sign models (model_signing key method)."},
    "signing_ca_certs": {"type": "array", "items": {"type": "string", "pattern": "^/"}, "description": "PEM CA certificates trusted for certificate-signed models."},
    "signing_identities": {"type": "array", "items": {"type": "string"}, "description": "When set, the only certificate signers (e-mail, URI or DNS name) trusted."},
    "rekor_keys": {"type": "array", "items": {"type": "string", "pattern": "^/"}, "description": "PEM public keys (ECDSA, or Ed25519 for Rekor v2) of the transparency logs (Rekor) trusted to vouch for Sigstore keyless signatures (signed entry timestamps and inclusion-proof checkpoints)."},
    "timestamp_authority_certs": {"type": "array", "items": {"type": "string", "pattern": "^/"}, "description": "PEM certificates of the RFC 3161 timestamp authorities trusted to date Sigstore keyless signatures (the root and intermediates of timestampAuthorities[].certChain in trusted_root.json)."},
    "scan_dataset_roots": {"type": "boolean", "description": "Also report model files under the datasets plugin's roots (the agent passes them as dataset_roots)."},
    "dataset_roots": {"type": "array", "items": {"type": "string", "pattern": "^/"}, "description": "Filled in by the agent when scan_dataset_roots is true."},
    "resend_every": {"type": "string", "description": "How often a full collection sends every model again rather than confirming unchanged ones (a Go duration, default 12h; 0s always sends all)."}
  }
}`

// Settings is the plugin's section of the agent config.
type Settings struct {
	Roots                 []string `json:"roots"`
	Exclude               []string `json:"exclude"`
	MaxHashBytesPerSecond int64    `json:"max_hash_bytes_per_second"`
	MaxScanBytes          int64    `json:"max_scan_bytes"`
	Workers               int      `json:"workers"`
	IOPriority            string   `json:"io_priority"`
	// Provenance and trust (provenance.go, verify.go, datasetroots.go).
	Sources           map[string]string `json:"sources"`
	PinnedDigestsFile string            `json:"pinned_digests_file"`
	PinnedDigests     []string          `json:"pinned_digests"`
	DeployedRoots     []string          `json:"deployed_roots"`
	SigningKeys       []string          `json:"signing_keys"`
	SigningCACerts    []string          `json:"signing_ca_certs"`
	SigningIdentities []string          `json:"signing_identities"`
	RekorKeys         []string          `json:"rekor_keys"`
	// TimestampAuthorityCerts: the RFC 3161 TSAs trusted (tsa.go).
	TimestampAuthorityCerts []string `json:"timestamp_authority_certs"`
	ScanDatasetRoots        bool     `json:"scan_dataset_roots"`
	DatasetRoots            []string `json:"dataset_roots"`
	// ResendEvery bounds how long unchanged models go unsent (Collect).
	ResendEvery string `json:"resend_every"`
	resendEvery time.Duration
}

// Attributes are the model evidence of one file.
type Attributes struct {
	Path       string `json:"path"`
	SizeBytes  int64  `json:"size_bytes"`
	SHA256     string `json:"sha256,omitempty"`
	HashStatus string `json:"hash_status"`
	HashError  string `json:"hash_error,omitempty"`
	Unsafe     bool   `json:"unsafe"`
	Owner      string `json:"owner,omitempty"`
	Group      string `json:"group,omitempty"`
	Mode       string `json:"mode"`
	ModifiedAt string `json:"modified_at"`
	// From the model's folder (folder.go): a model card README.md (or
	// MODEL_CARD.md) beside the file, and the base models its front
	// matter names.
	HasModelCard bool     `json:"has_model_card"`
	BaseModel    []string `json:"base_model,omitempty"`
	// Signed: a signature that verifies with the operator's trust covers
	// the file's current digest (signing.go, verify.go).
	Signed    bool       `json:"signed"`
	SignedBy  string     `json:"signed_by,omitempty"`
	Signature *Signature `json:"signature,omitempty"`
	// Provenance (provenance.go): where it came from, whether its digest
	// is approved, whether it is served.
	Source     string `json:"source"`
	SourceFrom string `json:"source_from,omitempty"`
	ThirdParty bool   `json:"third_party"`
	Pinned     bool   `json:"pinned"`
	Deployed   bool   `json:"deployed"`
	Analysis
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
	// excludeByPath: some exclude pattern matches whole paths.
	excludeByPath bool
	// state holds digests, analyses and the evidence last sent, per file
	// (state.go); nil without a state folder.
	state *stateDB
	stats stats
	prov  *provenance
	trust *trust
}

type stats struct {
	filesHashed atomic.Int64
	bytesHashed atomic.Int64
	cacheHits   atomic.Int64
	// storedSent counts models sent with their stored evidence as it was.
	storedSent atomic.Int64
	// foldersSkipped counts folders whose print matched: their rows
	// were not even read.
	foldersSkipped atomic.Int64
}

// New returns an unconfigured plugin; it touches nothing until Configure.
func New() *Plugin {
	return &Plugin{log: sdk.Logger(Name), users: sdk.NewOwners()}
}

// Info describes the plugin.
func (p *Plugin) Info() sdk.Info {
	return sdk.Info{
		Name: Name, Version: Version, Kinds: []string{Kind},
		ConfigSchema: configSchema, DefaultInterval: time.Hour,
	}
}

// Configure validates settings and returns the roots to watch.
func (p *Plugin) Configure(_ context.Context, cfg sdk.Config) ([]string, error) {
	var s Settings
	if err := cfg.Decode(&s); err != nil {
		return nil, err
	}
	if err := validate(&s); err != nil {
		return nil, err
	}
	prov, trust, err := configureEvidence(&s)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.set, p.stateDir, p.configured = s, cfg.StateDir, true
	p.excludeByPath = slices.ContainsFunc(s.Exclude, func(pat string) bool { return strings.Contains(pat, "/") })
	p.prov, p.trust = prov, trust
	p.pacer = sdk.NewByteRate(s.MaxHashBytesPerSecond)
	if s.IOPriority == "low" {
		// Best effort: a host without the syscall still gets an inventory.
		if err := lowerIOPriority(); err != nil {
			p.log.Warn("cannot lower the I/O priority; reading at normal priority", "err", err)
		}
	}
	p.state.close()
	p.state = openState(cfg.StateDir, p.log)
	if cfg.StateDir == "" {
		p.log.Warn("no state folder: every scan rehashes every file")
	}
	for _, r := range s.Roots {
		if fi, err := os.Stat(r); err != nil || !fi.IsDir() {
			p.log.Warn("root is not a folder yet; it yields no models until it is", "root", r, "err", err)
		}
	}
	return s.Roots, nil
}

func validate(s *Settings) error {
	var fe sdk.FieldErrors
	fe = append(fe, sdk.CheckRoots("roots", s.Roots, "models")...)
	fe = append(fe, sdk.CheckGlobs("exclude", s.Exclude)...)
	if s.MaxHashBytesPerSecond < 0 {
		fe = append(fe, sdk.FieldError{Field: "max_hash_bytes_per_second", Message: "must be 0 (unlimited) or more"})
	}
	if s.MaxScanBytes < 0 {
		fe = append(fe, sdk.FieldError{Field: "max_scan_bytes", Message: "must be 0 (the default, 1 GiB) or more"})
	}
	switch s.IOPriority {
	case "":
		s.IOPriority = "low"
	case "low", "normal":
	default:
		fe = append(fe, sdk.FieldError{Field: "io_priority", Message: fmt.Sprintf("%q is neither low nor normal", s.IOPriority)})
	}
	s.resendEvery = defaultResendEvery
	if s.ResendEvery != "" {
		d, err := time.ParseDuration(s.ResendEvery)
		if err != nil || d < 0 {
			fe = append(fe, sdk.FieldError{Field: "resend_every", Message: fmt.Sprintf("%q is not a duration such as 24h, 12h or 0s", s.ResendEvery)})
		}
		s.resendEvery = d
	}
	if s.Workers < 0 || s.Workers > 256 {
		fe = append(fe, sdk.FieldError{Field: "workers", Message: "must be between 0 (one per CPU) and 256"})
	}
	if len(fe) > 0 {
		return fe
	}
	return nil
}

func (p *Plugin) excluded(name, abs string) bool {
	return sdk.Excluded(p.set.Exclude, name, abs)
}

// excludedIn is excluded for name in dir, joining the path only for
// patterns that need it: the walk asks for every file.
func (p *Plugin) excludedIn(dir, name string) bool {
	if len(p.set.Exclude) == 0 {
		return false
	}
	abs := ""
	if p.excludeByPath {
		abs = filepath.Join(dir, name)
	}
	return sdk.Excluded(p.set.Exclude, name, abs)
}

// inScope says whether a full walk of root would reach path: no folder on
// the way is excluded or a symlink (the walk follows neither).
func (p *Plugin) inScope(path, root string) bool {
	rel, err := filepath.Rel(root, path)
	if err != nil || rel == "." {
		return err == nil
	}
	cur := root
	parts := strings.Split(rel, string(filepath.Separator))
	for i, part := range parts {
		cur = filepath.Join(cur, part)
		if p.excluded(part, cur) {
			return false
		}
		if i < len(parts)-1 {
			if fi, err := os.Lstat(cur); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
				return false
			}
		}
	}
	return true
}

// Collect reports model files: all of them on a full request, else those
// under the changed paths, with deletes for known ones that are gone.
func (p *Plugin) Collect(ctx context.Context, req sdk.Request, out sdk.Emitter) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.configured {
		return errors.New("collect before configure")
	}
	c := &collection{p: p, ctx: ctx, folders: &folders{roots: p.set.Roots}, full: req.Full}
	c.folders.hash = func(path string) (string, bool, error) { return p.signedFileDigest(c, path) }
	c.folders.trust = p.trust
	// Pins are reread every collection; an unchanged model's evidence
	// follows them through filePrint (walk.go).
	p.prov.refresh(p.log)
	var regions []string
	if req.Full {
		regions = p.set.Roots
	} else {
		for _, ch := range req.Changed {
			if !filepath.IsAbs(ch) {
				p.log.Warn("ignoring relative changed path", "path", ch)
				continue
			}
			ch = filepath.Clean(ch)
			if isFolderFile(filepath.Base(ch)) {
				// A card, config or signature changes the view of every
				// model beside it.
				ch = filepath.Dir(ch)
			}
			ch = hubRegion(ch)
			for _, root := range p.set.Roots {
				if sdk.Within(ch, root) {
					if p.inScope(ch, root) {
						regions = append(regions, ch)
					}
					break
				}
			}
		}
		regions = outermost(regions)
	}
	for _, root := range p.set.Roots {
		if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
			// An unmounted share is not a deleted one: keep what we knew.
			p.log.Warn("root is not a folder; no models from it", "root", root, "err", err)
			c.unsure = append(c.unsure, root)
		}
	}
	if req.Unthrottled {
		// A person waits: give them exact totals, and so an ETA, early.
		defer p.countAhead(ctx, regions)()
	}
	c.scratch = req.ScratchState
	next, basis := p.begin(ctx, c, req)
	err := c.run(regions, out)
	p.state = p.state.finish()
	if err == nil && next > 0 {
		err = out.Checkpoint(sdk.GenerationCheckpoint(Name, next))
	}
	if err == nil && c.delta {
		err = sdk.ReportUnchanged(out, basis, int(c.unchanged.Load()))
	}
	return err
}

// defaultResendEvery is resend_every's default: a collector that lost
// evidence (restored from a backup) has it again within half a day, and no
// model's record is older than the collector's default freshness window
// (24 h) when it is next sent.
const defaultResendEvery = 12 * time.Hour

// begin decides whether a collection may confirm unchanged models rather
// than send them (delta), and numbers it. Every collection that writes
// the state takes the next generation number, stored before anything is
// sent and checkpointed after everything is: the checkpoint the agent
// hands back equals the stored number only if the agent committed every
// record of every collection so far. Anything else (a collection cut
// short, a lost spool, a new agent identity, collect --once, a rebuilt
// state) and the full collection sends every model again, and becomes
// the basis the later ones confirm against. next is 0 when the state
// cannot be written (nothing is checkpointed then).
func (p *Plugin) begin(ctx context.Context, c *collection, req sdk.Request) (next int64, basis time.Time) {
	c.fresh = p.state.empty(ctx)
	if c.scratch || !p.state.usable() {
		return 0, time.Time{}
	}
	c.global = p.globalPrint()
	gen := p.state.meta(ctx, metaGeneration)
	basisNs := p.state.meta(ctx, metaBasis)
	basis = time.Unix(0, basisNs)
	start := time.Now()
	// New settings (a root dropped, say) send everything again: the models
	// they no longer cover get no delete, and only a full collection that
	// sends everything retires them.
	settings := p.settingsPrint()
	c.delta = req.Full && req.AcceptsUnchanged && !c.fresh && gen > 0 && basisNs > 0 &&
		sdk.ParseGenerationCheckpoint(Name, req.Checkpoint) == gen && start.Sub(basis) < p.set.resendEvery &&
		p.state.meta(ctx, metaSettings) == settings
	next = gen + 1
	kv := map[string]int64{metaGeneration: next}
	if req.Full && !c.delta {
		kv[metaBasis], kv[metaSettings] = start.UnixNano(), settings
	}
	if err := p.state.setMeta(ctx, kv); err != nil {
		p.log.Warn("cannot number the collection; every model is sent", "err", err)
		c.delta = false
		return 0, time.Time{}
	}
	return next, basis
}

const (
	metaGeneration = "generation"
	metaBasis      = "basis_ns"
	metaSettings   = "settings"
)

// settingsPrint fingerprints the settings, for begin.
func (p *Plugin) settingsPrint() int64 {
	b, _ := json.Marshal(p.set)
	sum := sha256.Sum256(b)
	return int64(binary.LittleEndian.Uint64(sum[:]))
}

// globalPrint fingerprints what every model's evidence takes from the
// settings and the approved-digest list, for folder prints: a change to
// either sends each folder through its files again.
func (p *Plugin) globalPrint() []byte {
	h := sha256.New()
	b, _ := json.Marshal(p.set)
	h.Write(b)
	fmt.Fprintf(h, "\x00analyzer %d\x00", analyzerVersion)
	p.prov.print(h)
	return h.Sum(nil)
}

// outermost drops regions inside others, so no folder is walked twice.
func outermost(regions []string) []string {
	slices.Sort(regions)
	var out []string
	for _, r := range regions {
		if len(out) > 0 && sdk.Within(r, out[len(out)-1]) {
			continue
		}
		out = append(out, r)
	}
	return out
}

// baseAttributes are the attributes a stat gives.
func (p *Plugin) baseAttributes(path string, st fileStat) *Attributes {
	a := &Attributes{Path: path, SizeBytes: st.Key.Size, Mode: fmt.Sprintf("%04o", st.Info.Mode&0o7777),
		ModifiedAt: time.Unix(0, st.Key.MtimeNs).UTC().Format(time.RFC3339Nano)}
	a.Owner, a.Group = p.users.Of(st.Info)
	return a
}

// examine reads, analyses and hashes one file the walk saw as st. It
// returns nil for a file that is no model; read is false when the file
// could not be read (logged), which says nothing about what it is.
//
// dir, when not nil, is the open folder of path: the file is opened
// relative to it.
func (p *Plugin) examine(ctx context.Context, dir *os.File, f fileHandle, path string, st fileStat) (a *Attributes, read bool) {
	key := st.Key
	a = p.baseAttributes(path, st)
	var err error
	switch {
	case f != nil:
	case dir != nil:
		f, err = openAt(dir, filepath.Base(path))
	default:
		var of *os.File
		of, err = sdk.OpenNoFollow(path)
		f = osFile{of}
	}
	if err != nil {
		p.log.Warn("cannot open", "path", path, "err", err)
		return nil, false
	}
	defer f.Close()
	var r io.ReaderAt = ctxReaderAt{ctx, f}
	// A small file is read once, with one system call, and analysed and
	// hashed from that buffer: on a tree of many small models the reads,
	// not the parsing, are the cost.
	var whole []byte
	if key.Size <= smallFile {
		bp := smallPool.Get().(*[]byte)
		defer smallPool.Put(bp)
		if err := p.pacer.Wait(ctx, int(key.Size)); err != nil {
			return nil, false
		}
		if n, err := f.ReadAt((*bp)[:key.Size], 0); int64(n) == key.Size && (err == nil || errors.Is(err, io.EOF)) {
			whole = (*bp)[:n]
			r = wholeFile(whole)
		}
	}
	an, ok := Analyze(r, key.Size, Limits{MaxScanBytes: p.set.MaxScanBytes})
	if ctx.Err() != nil {
		return nil, false
	}
	if !ok {
		return nil, true
	}
	a.Analysis = an
	a.Unsafe = an.Unsafe()
	var sum string
	if whole != nil {
		sum, err = p.hashRead(f, whole, key)
		sdk.ProgressFrom(ctx).Hashed(int64(len(whole)))
	} else {
		sum, err = p.hash(ctx, f, key)
	}
	switch {
	case err != nil && ctx.Err() != nil:
		return nil, false
	case errors.Is(err, errChanged):
		// Being written (a checkpoint being saved): no digest yet, none
		// cached, so the next collection hashes it again.
		a.HashStatus, a.HashError = "pending", err.Error()
	case err != nil:
		a.HashStatus, a.HashError = "error", err.Error()
	default:
		a.SHA256, a.HashStatus = sum, "ok"
	}
	return a, true
}

// signedFileDigest gives a file a signature lists: its digest, or that it
// is (by its first bytes) a model, whose digest the inventory computes
// anyway. Digests of other files are kept in the state like a model's.
func (p *Plugin) signedFileDigest(c *collection, path string) (string, bool, error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, errMissing
	}
	if err != nil {
		return "", false, err
	}
	if !fi.Mode().IsRegular() {
		return "", false, errors.New("not a regular file")
	}
	key := keyOf(fi, sdk.StatOf(fi))
	if r := p.state.fileRow(c.ctx, path); r != nil && r.Key == key {
		if r.Model {
			return "", true, nil
		}
		if r.SHA256 != "" {
			return r.SHA256, false, nil
		}
	}
	f, err := sdk.OpenNoFollow(path)
	if err != nil {
		return "", false, err
	}
	defer f.Close()
	head := make([]byte, sniffLen)
	n, _ := f.ReadAt(head, 0)
	if compression(head[:n]) != "" || Sniff(head[:n]) != "" {
		return "", true, nil
	}
	sum, err := p.hash(c.ctx, osFile{f}, key)
	if err != nil {
		return "", false, err
	}
	// Analyze would call these bytes no model, so the row says so too.
	c.send(op{dir: filepath.Dir(path), name: filepath.Base(path), put: &row{Name: filepath.Base(path), Key: key, SHA256: sum}})
	return sum, false, nil
}

// fileHandle is an open file being examined.
type fileHandle interface {
	io.ReaderAt
	io.Closer
	// key stats the open file, to see whether it changed while read.
	key() (fileKey, error)
}

type osFile struct{ *os.File }

func (f osFile) key() (fileKey, error) {
	fi, err := f.Stat()
	if err != nil {
		return fileKey{}, err
	}
	return keyOf(fi, sdk.StatOf(fi)), nil
}

// ctxReaderAt fails reads once the collection is cancelled, so a long
// pickle walk ends promptly too.
type ctxReaderAt struct {
	ctx context.Context
	r   io.ReaderAt
}

func (c ctxReaderAt) ReadAt(b []byte, off int64) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.ReadAt(b, off)
}

// smallFile is the size up to which a file is read in one call.
const smallFile = 64 << 10

var smallPool = sync.Pool{New: func() any { b := make([]byte, smallFile); return &b }}

// wholeFile serves reads from a file read whole; reads past it get EOF.
type wholeFile []byte

func (w wholeFile) ReadAt(b []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	if off >= int64(len(w)) {
		return 0, io.EOF
	}
	n := copy(b, w[off:])
	if n < len(b) {
		return n, io.EOF
	}
	return n, nil
}

// hashRead digests a file already read whole, and refuses the digest when
// the file changed meanwhile, as hash does.
func (p *Plugin) hashRead(f fileHandle, data []byte, key fileKey) (string, error) {
	sum := sha256.Sum256(data)
	after, err := f.key()
	if err != nil {
		return "", fmt.Errorf("stat: %w", err)
	}
	if after != key || int64(len(data)) != after.Size {
		return "", errChanged
	}
	p.stats.filesHashed.Add(1)
	p.stats.bytesHashed.Add(int64(len(data)))
	return hex.EncodeToString(sum[:]), nil
}

// errChanged says a file changed while it was hashed.
var errChanged = errors.New("the file changed while it was read; the digest follows when it is stable")

// hashBlock is the read size for hashing: large blocks for large files.
const hashBlock = 1 << 20

var blockPool = sync.Pool{New: func() any { b := make([]byte, hashBlock); return &b }}

// hash streams the file through SHA-256 at the configured rate and
// refuses a digest when the file changed while being read.
func (p *Plugin) hash(ctx context.Context, f fileHandle, key fileKey) (string, error) {
	bp := blockPool.Get().(*[]byte)
	defer blockPool.Put(bp)
	buf := *bp
	sum := sha256.New()
	var total int64
	for {
		if err := p.pacer.Wait(ctx, len(buf)); err != nil {
			return "", err
		}
		n, err := f.ReadAt(buf, total)
		sum.Write(buf[:n])
		sdk.ProgressFrom(ctx).Hashed(int64(n))
		total += int64(n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", fmt.Errorf("read: %w", err)
		}
	}
	after, err := f.key()
	if err != nil {
		return "", fmt.Errorf("stat: %w", err)
	}
	if after != key || total != after.Size {
		return "", errChanged
	}
	p.stats.filesHashed.Add(1)
	p.stats.bytesHashed.Add(total)
	return hex.EncodeToString(sum.Sum(nil)), nil
}

var _ sdk.Plugin = (*Plugin)(nil)

// TuneGC sets the plugin process's garbage collection, unless GOGC is in
// the environment. The live heap stays small (a few folders' rows and
// buffers) while a scan allocates briskly: collecting at five times the
// live heap rather than twice takes a fifth off a rescan's CPU, and the
// peak stays near 60 MiB. The agent's GOMEMLIMIT still bounds it.
func TuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
}
