package encryption

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/annexa/annexa/plugins/sdk"
)

// KeyEmbedded is the encryption.key type of a file that is not a key file
// but holds credentials in its text (a .env, a notebook, a script).
const KeyEmbedded = "embedded_secret"

// Defaults of the content scan, per root and collection.
const (
	defaultSecretMaxFileBytes = 16 << 20
	defaultSecretMaxFiles     = 20000
	defaultSecretMaxBytes     = 512 << 20
	defaultSecretTimeout      = 2 * time.Minute
)

// DefaultSecretScanExclude is what secret_scan_exclude is when not set:
// third-party code (whose test fixtures are full of sample keys) and
// tokenizer vocabularies (large, and data).
var DefaultSecretScanExclude = []string{
	".git", "node_modules", "__pycache__", "site-packages", "dist-packages", ".venv", "venv", ".tox", ".mypy_cache",
	"tokenizer.json", "vocab.json", "*.min.js",
}

// secretExts are the extensions of files the content scan reads:
// configuration, scripts and notebooks, where people paste credentials
// (not .ts: video datasets hold MPEG transport streams by the million).
var secretExts = map[string]bool{
	".env": true, ".ipynb": true, ".py": true, ".sh": true, ".bash": true, ".zsh": true, ".ksh": true,
	".yaml": true, ".yml": true, ".toml": true, ".ini": true, ".cfg": true, ".conf": true, ".cnf": true,
	".properties": true, ".r": true, ".jl": true, ".js": true, ".tf": true, ".tfvars": true,
}

// secretNames are file names read whatever their extension.
var secretNames = map[string]bool{
	".env": true, ".netrc": true, "_netrc": true, "netrc": true, ".npmrc": true, ".pypirc": true, ".git-credentials": true,
	".dockercfg": true, ".bashrc": true, ".bash_profile": true, ".profile": true, ".zshrc": true, ".zprofile": true,
	"dockerfile": true, "containerfile": true, "makefile": true,
	// huggingface_hub keeps the login token in ~/.cache/huggingface/token.
	"token": true, "stored_tokens": true,
}

// jsonWords: JSON is read only when its name says configuration or
// credentials; datasets hold millions of JSON records not worth reading.
var jsonWords = []string{"config", "setting", "secret", "credential", "token", "auth", "key", "env", "account", "service"}

// secretCandidate says, from its name alone, whether the content scan
// reads a file.
func secretCandidate(name string, include []string) bool {
	base := strings.ToLower(name)
	if secretNames[base] || strings.HasPrefix(base, ".env.") || strings.HasSuffix(base, ".env") {
		return true
	}
	ext := filepath.Ext(base)
	if secretExts[ext] {
		return true
	}
	if ext == ".json" {
		for _, w := range jsonWords {
			if strings.Contains(base, w) {
				return true
			}
		}
	}
	for _, pat := range include {
		if ok, _ := filepath.Match(pat, name); ok {
			return true
		}
	}
	return false
}

// SecretScan is the content scan's part of encryption.keyscan: how much
// of a root it read, so a clean result can be told from a cut-short one.
type SecretScan struct {
	// Files and Bytes are the files covered (read now, or unchanged since
	// read) and their sizes: state, the same for an unchanged tree.
	Files            int    `json:"files"`
	Bytes            int64  `json:"bytes"`
	Secrets          int    `json:"secrets"` // findings
	FilesWithSecrets int    `json:"files_with_secrets"`
	SkippedBinary    int    `json:"skipped_binary"`
	SkippedLarge     int    `json:"skipped_large"`
	Errors           int    `json:"errors"`
	Truncated        bool   `json:"truncated"`
	TruncatedBy      string `json:"truncated_by,omitempty"` // max_files, max_bytes, timeout
	// Fingerprints is "host" (the HMAC key is kept in the state folder)
	// or "process" (no state folder: fingerprints hold for this run).
	Fingerprints string `json:"fingerprints"`
	// The work of this collection, logged rather than sent: evidence of
	// an unchanged tree must not change from one collection to the next.
	Read      int           `json:"-"`
	BytesRead int64         `json:"-"`
	Duration  time.Duration `json:"-"`
}

// secretOpts are the content scan's settings.
type secretOpts struct {
	scanner      *secretScanner
	scope        string
	include      []string
	exclude      []string
	maxFileBytes int64
	maxFiles     int
	maxBytes     int64
	timeout      time.Duration
	cache        *secretCache // nil: read every candidate
}

// secretWalk is the content scan's state during one walk of a root.
type secretWalk struct {
	o       *secretOpts
	ctx     context.Context
	cancel  context.CancelFunc
	start   time.Time
	sum     SecretScan
	skipDir string // an excluded folder being walked (for the key scan)
	done    bool
}

func (o *secretOpts) start(ctx context.Context) *secretWalk {
	w := &secretWalk{o: o, start: time.Now(), sum: SecretScan{Fingerprints: o.scope}}
	w.ctx, w.cancel = context.WithTimeout(ctx, o.timeout)
	return w
}

func (w *secretWalk) stop() {
	w.cancel()
	w.sum.Duration = time.Since(w.start)
}

// enterDir notes an excluded folder; true when dir is excluded.
func (w *secretWalk) enterDir(path, name string) bool {
	if w.skipDir != "" && sdk.Within(path, w.skipDir) {
		return true
	}
	w.skipDir = ""
	if sdk.Excluded(w.o.exclude, name, path) {
		w.skipDir = path
		return true
	}
	return false
}

// wants says whether the content scan reads this file.
func (w *secretWalk) wants(path, name string) bool {
	if w.skipDir != "" && sdk.Within(path, w.skipDir) {
		return false
	}
	return !sdk.Excluded(w.o.exclude, name, path) && secretCandidate(name, w.o.include)
}

func (w *secretWalk) truncate(by string) {
	w.done, w.sum.Truncated, w.sum.TruncatedBy = true, true, by
}

// scan reads one candidate file within the caps; found is set when it
// holds secrets, and k is then its encryption.key record.
func (w *secretWalk) scan(path string, fi fs.FileInfo, source string, owners *sdk.Owners) (k Key, found bool) {
	if e, ok := w.o.cache.lookup(path, fi); ok {
		if e.Binary {
			w.sum.SkippedBinary++
			return k, false
		}
		w.sum.Files++
		w.sum.Bytes += fi.Size()
		if e.Total == 0 {
			return k, false
		}
		w.sum.Secrets += e.Total
		w.sum.FilesWithSecrets++
		return embeddedKey(path, source, fi, fileScan{Secrets: e.Secrets, Total: e.Total}, owners), true
	}
	switch {
	case w.done:
		// Past a cap only unchanged files are covered, from the cache.
		return k, false
	case fi.Size() > w.o.maxFileBytes:
		w.sum.SkippedLarge++
		return k, false
	case w.sum.Read >= w.o.maxFiles:
		w.truncate("max_files")
		return k, false
	case w.sum.BytesRead+fi.Size() > w.o.maxBytes:
		w.truncate("max_bytes")
		return k, false
	}
	res, binary, err := w.o.scanner.scanFile(w.ctx, path, w.o.maxFileBytes)
	w.sum.BytesRead += res.Bytes
	switch {
	case binary:
		w.sum.SkippedBinary++
		w.sum.Read++ // opened: counts against the file cap
		w.o.cache.keep(path, fi, true, res)
		return k, false
	case err != nil && w.ctx.Err() != nil:
		if errors.Is(w.ctx.Err(), context.DeadlineExceeded) {
			w.truncate("timeout")
		} else {
			w.done = true // cancelled: the walk stops on its own
		}
		return k, false
	case err != nil:
		w.sum.Errors++
		return k, false
	}
	w.sum.Files++
	w.sum.Read++
	w.sum.Bytes += fi.Size()
	w.o.cache.keep(path, fi, false, res)
	if res.Total == 0 {
		return k, false
	}
	w.sum.Secrets += res.Total
	w.sum.FilesWithSecrets++
	return embeddedKey(path, source, fi, res, owners), true
}

// embeddedKey makes the encryption.key record of a file holding secrets.
func embeddedKey(path, source string, fi fs.FileInfo, res fileScan, owners *sdk.Owners) Key {
	k := Key{Path: path, Source: source, Type: KeyEmbedded, PassphraseProtected: boolp(false), Findings: []string{},
		Secrets: res.Secrets, SecretsTotal: res.Total}
	fillStat(&k, fi, owners)
	k.findings()
	return k
}

// keyFile content-scans a key_files entry that holds no key: named by
// the operator, it is read whatever its name, within the per-file cap.
func (o *secretOpts) keyFile(ctx context.Context, path string, k Key, owners *sdk.Owners) Key {
	w := o.start(ctx)
	defer w.stop()
	fi, err := os.Lstat(path)
	if err != nil || !fi.Mode().IsRegular() {
		return k
	}
	if sk, found := w.scan(path, fi, k.Source, owners); found {
		return sk
	}
	if w.sum.Errors > 0 {
		k.Error = "content scan: cannot read the file"
	}
	return k
}
