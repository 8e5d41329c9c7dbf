// Package encryption is Annexa's built-in encryption-state plugin. It
// reports whether the volumes backing the dataset and model roots are
// encrypted (dm-crypt/LUKS1/LUKS2, plain dm-crypt, eCryptfs), with the
// cipher read from the LUKS header, and how the configured TLS endpoints
// (inference servers, collectors) and the inference servers found
// listening on the host negotiate: version, cipher, certificate,
// verification, legacy TLS. See README.md.
package encryption

import (
	"context"
	"crypto/x509"
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/annexa/annexa/plugins/sdk"
)

// Name and Version identify the plugin to the agent.
const (
	Name    = "encryption"
	Version = "0.1.0"
)

// The evidence kinds this plugin emits.
const (
	KindVolume   = "encryption.volume"
	KindEndpoint = "encryption.endpoint"
	KindSwap     = "encryption.swap"
	KindKey      = "encryption.key"
	KindKeyScan  = "encryption.keyscan"
)

// SampleConfig is the plugin's section of agent.yaml, as shipped.
//
//go:embed sample.yaml
var SampleConfig string

const configSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "roots": {"type": "array", "items": {"type": "string", "pattern": "^/"}},
    "asset_roots": {"type": "array", "items": {"type": "string", "pattern": "^/"}},
    "devices": {"type": "array", "items": {"type": "string", "pattern": "^/"}},
    "endpoints": {"type": "array", "items": {"type": "string"}},
    "discover_endpoints": {"type": "boolean"},
    "discover_names": {"type": "array", "items": {"type": "string"}},
    "ca_file": {"type": "string"},
    "key_files": {"type": "array", "items": {"type": "string", "pattern": "^/"}},
    "key_scan": {"type": "boolean"},
    "key_scan_max_files": {"type": "integer", "minimum": 1},
    "scan_roots": {"type": "array", "items": {"type": "string", "pattern": "^/"}},
    "secret_scan": {"type": "boolean"},
    "secret_scan_include": {"type": "array", "items": {"type": "string"}},
    "secret_scan_exclude": {"type": "array", "items": {"type": "string"}},
    "secret_scan_max_file_bytes": {"type": "integer", "minimum": 1},
    "secret_scan_max_files": {"type": "integer", "minimum": 1},
    "secret_scan_max_bytes": {"type": "integer", "minimum": 1},
    "secret_scan_timeout": {"type": "string"},
    "timeout": {"type": "string"},
    "proc_root": {"type": "string", "pattern": "^/"},
    "sys_root": {"type": "string", "pattern": "^/"},
    "dev_root": {"type": "string", "pattern": "^/"}
  }
}`

// Settings is the plugin's section of the agent config.
type Settings struct {
	// Roots are the dataset and model roots, as in the datasets and
	// models plugins; asset_roots is the older spelling, still accepted.
	Roots      []string `json:"roots"`
	AssetRoots []string `json:"asset_roots"`
	Devices    []string `json:"devices"`
	Endpoints  []string `json:"endpoints"`
	// DiscoverEndpoints probes the TCP ports inference servers listen
	// on (default true); DiscoverNames adds process names to
	// DefaultDiscoverNames.
	DiscoverEndpoints *bool    `json:"discover_endpoints"`
	DiscoverNames     []string `json:"discover_names"`
	CAFile            string   `json:"ca_file"`
	KeyFiles          []string `json:"key_files"`
	// KeyScan walks the asset roots for key and credential files
	// (default true); KeyScanMaxFiles bounds each walk (default 200000).
	KeyScan         *bool `json:"key_scan"`
	KeyScanMaxFiles int   `json:"key_scan_max_files"`
	// ScanRoots are more folders for the key and secret scans only (home
	// folders, code checkouts): no volume is judged for them.
	ScanRoots []string `json:"scan_roots"`
	// SecretScan reads configuration files, scripts and notebooks under
	// the roots for embedded credentials (default true), within the
	// bounds below (per root and collection).
	SecretScan             *bool    `json:"secret_scan"`
	SecretScanInclude      []string `json:"secret_scan_include"`
	SecretScanExclude      []string `json:"secret_scan_exclude"`
	SecretScanMaxFileBytes int64    `json:"secret_scan_max_file_bytes"`
	SecretScanMaxFiles     int      `json:"secret_scan_max_files"`
	SecretScanMaxBytes     int64    `json:"secret_scan_max_bytes"`
	SecretScanTimeout      string   `json:"secret_scan_timeout"`
	Timeout                string   `json:"timeout"`
	ProcRoot               string   `json:"proc_root"`
	SysRoot                string   `json:"sys_root"`
	DevRoot                string   `json:"dev_root"`
}

type configured struct {
	set           Settings
	secretTimeout time.Duration
	roots         roots
	pool          *x509.CertPool // nil: system roots
	timeout       time.Duration
	discoverNames map[string]bool
}

// Plugin implements sdk.Plugin. Construct it with New.
type Plugin struct {
	mu       sync.Mutex
	cfg      *configured
	stateDir string
	log      *slog.Logger
}

// New returns an unconfigured plugin; it touches nothing until Configure.
func New() *Plugin { return &Plugin{log: sdk.Logger(Name)} }

// Info describes the plugin.
func (p *Plugin) Info() sdk.Info {
	return sdk.Info{
		Name: Name, Version: Version, Kinds: []string{KindVolume, KindSwap, KindEndpoint, KindKey, KindKeyScan},
		ConfigSchema: configSchema, DefaultInterval: time.Hour,
	}
}

// Configure validates settings. It watches nothing.
func (p *Plugin) Configure(_ context.Context, cfg sdk.Config) ([]string, error) {
	var s Settings
	if err := cfg.Decode(&s); err != nil {
		return nil, err
	}
	c, err := validate(s)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.cfg, p.stateDir = c, cfg.StateDir
	p.mu.Unlock()
	return nil, nil
}

func validate(s Settings) (*configured, error) {
	var fe sdk.FieldErrors
	add := func(field, msg string) { fe = append(fe, sdk.FieldError{Field: field, Message: msg}) }
	if len(s.Roots) > 0 && len(s.AssetRoots) > 0 {
		add("asset_roots", "is the older spelling of roots: give one of the two")
	}
	rootsField := "asset_roots"
	if len(s.Roots) > 0 {
		s.AssetRoots, s.Roots, rootsField = s.Roots, nil, "roots"
	}
	// discover_endpoints on by default is not enough on its own: an
	// empty section is more likely a mistake than a wish for endpoints only.
	if len(s.AssetRoots) == 0 && len(s.Endpoints) == 0 && len(s.Devices) == 0 && len(s.KeyFiles) == 0 && len(s.ScanRoots) == 0 &&
		(s.DiscoverEndpoints == nil || !*s.DiscoverEndpoints) {
		add("roots", "is required (or endpoints, devices, key_files, scan_roots or discover_endpoints: true): list the absolute dataset and model roots whose volumes to judge, e.g. [/srv/ml/datasets]")
	}
	if s.DiscoverEndpoints == nil {
		s.DiscoverEndpoints = boolp(true)
	}
	names := map[string]bool{}
	for _, n := range DefaultDiscoverNames {
		names[n] = true
	}
	for i, n := range s.DiscoverNames {
		if n == "" || len(n) > 256 || strings.ContainsAny(n, "/ \t\n\x00") {
			add(fmt.Sprintf("discover_names[%d]", i), fmt.Sprintf("%q is not a process, program, script or module name (e.g. my-model-server; no slashes or spaces)", n))
		}
		names[n] = true
	}
	for i, d := range s.Devices {
		if d == "" || !filepath.IsAbs(d) {
			add(fmt.Sprintf("devices[%d]", i), fmt.Sprintf("%q is not an absolute path to a block device or image file", d))
			continue
		}
		s.Devices[i] = filepath.Clean(d)
	}
	for i, r := range s.AssetRoots {
		if r == "" || !filepath.IsAbs(r) {
			add(fmt.Sprintf("%s[%d]", rootsField, i), fmt.Sprintf("%q is not an absolute path", r))
			continue
		}
		s.AssetRoots[i] = filepath.Clean(r)
	}
	for i, k := range s.KeyFiles {
		if k == "" || !filepath.IsAbs(k) {
			add(fmt.Sprintf("key_files[%d]", i), fmt.Sprintf("%q is not an absolute path", k))
			continue
		}
		s.KeyFiles[i] = filepath.Clean(k)
	}
	if s.KeyScanMaxFiles < 0 {
		add("key_scan_max_files", fmt.Sprintf("%d is not a positive number of files", s.KeyScanMaxFiles))
	}
	if s.KeyScanMaxFiles == 0 {
		s.KeyScanMaxFiles = 200000
	}
	if s.KeyScan == nil {
		s.KeyScan = boolp(true)
	}
	for i, r := range s.ScanRoots {
		f := fmt.Sprintf("scan_roots[%d]", i)
		if r == "" || !filepath.IsAbs(r) {
			add(f, fmt.Sprintf("%q is not an absolute path", r))
			continue
		}
		s.ScanRoots[i] = filepath.Clean(r)
		for _, other := range append(slices.Clone(s.AssetRoots), s.ScanRoots[:i]...) {
			if sdk.Within(s.ScanRoots[i], other) || sdk.Within(other, s.ScanRoots[i]) {
				add(f, fmt.Sprintf("%q overlaps %q: files there would be reported twice", r, other))
			}
		}
	}
	if s.SecretScan == nil {
		s.SecretScan = boolp(true)
	}
	if s.SecretScanExclude == nil {
		s.SecretScanExclude = slices.Clone(DefaultSecretScanExclude)
	}
	fe = append(fe, sdk.CheckGlobs("secret_scan_exclude", s.SecretScanExclude)...)
	for i, pat := range s.SecretScanInclude {
		if _, err := filepath.Match(pat, ""); err != nil || pat == "" || strings.Contains(pat, "/") {
			add(fmt.Sprintf("secret_scan_include[%d]", i), fmt.Sprintf("%q is not a file-name glob (e.g. *.secrets; no slashes)", pat))
		}
	}
	positive := func(field string, v *int64, def int64) {
		if *v < 0 {
			add(field, fmt.Sprintf("%d is not a positive number", *v))
		}
		if *v == 0 {
			*v = def
		}
	}
	positive("secret_scan_max_file_bytes", &s.SecretScanMaxFileBytes, defaultSecretMaxFileBytes)
	positive("secret_scan_max_bytes", &s.SecretScanMaxBytes, defaultSecretMaxBytes)
	maxFiles := int64(s.SecretScanMaxFiles)
	positive("secret_scan_max_files", &maxFiles, defaultSecretMaxFiles)
	s.SecretScanMaxFiles = int(maxFiles)
	seen := map[string]bool{}
	for i, e := range s.Endpoints {
		field := fmt.Sprintf("endpoints[%d]", i)
		host, port, err := net.SplitHostPort(e)
		n, perr := strconv.Atoi(port)
		switch {
		case err != nil || host == "":
			add(field, fmt.Sprintf("%q is not host:port (e.g. 10.0.0.5:8443)", e))
		case perr != nil || n < 1 || n > 65535:
			add(field, fmt.Sprintf("%q: port %q is not a number from 1 to 65535", e, port))
		case seen[e]:
			add(field, fmt.Sprintf("%q is listed twice", e))
		}
		seen[e] = true
	}
	c := &configured{set: s, timeout: 5 * time.Second, secretTimeout: defaultSecretTimeout, discoverNames: names}
	if s.SecretScanTimeout != "" {
		d, err := time.ParseDuration(s.SecretScanTimeout)
		if err != nil || d < time.Second || d > time.Hour {
			add("secret_scan_timeout", fmt.Sprintf("%q is not a duration from 1s to 1h (e.g. 2m)", s.SecretScanTimeout))
		}
		c.secretTimeout = d
	}
	if s.Timeout != "" {
		d, err := time.ParseDuration(s.Timeout)
		if err != nil || d <= 0 || d > 5*time.Minute {
			add("timeout", fmt.Sprintf("%q is not a duration from 1ms to 5m (e.g. 5s)", s.Timeout))
		}
		c.timeout = d
	}
	if s.CAFile != "" {
		b, err := os.ReadFile(s.CAFile)
		if err != nil {
			add("ca_file", fmt.Sprintf("cannot read: %v", err))
		} else {
			c.pool = x509.NewCertPool()
			if !c.pool.AppendCertsFromPEM(b) {
				add("ca_file", fmt.Sprintf("%q holds no PEM certificate", s.CAFile))
			}
		}
	}
	dir := func(field, v, def string) string {
		if v == "" {
			return def
		}
		if !filepath.IsAbs(v) {
			add(field, fmt.Sprintf("%q is not an absolute path", v))
		}
		return filepath.Clean(v)
	}
	c.roots = roots{
		proc: dir("proc_root", s.ProcRoot, "/proc"),
		sys:  dir("sys_root", s.SysRoot, "/sys"),
		dev:  dir("dev_root", s.DevRoot, "/dev"),
	}
	if len(fe) > 0 {
		return nil, fe
	}
	return c, nil
}

// Collect reports every configured volume, device, swap area and
// endpoint, and deletes the subjects it reported before and no longer
// sees; a full and an incremental collection are the same (the state is
// cheap to read).
func (p *Plugin) Collect(ctx context.Context, req sdk.Request, out sdk.Emitter) error {
	p.mu.Lock()
	c, stateDir := p.cfg, p.stateDir
	p.mu.Unlock()
	if c == nil {
		return fmt.Errorf("collect before configure")
	}
	known, err := loadKnown(stateDir)
	if err != nil {
		p.log.Warn("reported subjects list unreadable", "err", err)
	}
	seen := map[string]map[string]bool{KindVolume: {}, KindSwap: {}, KindEndpoint: {}, KindKey: {}, KindKeyScan: {}}
	emit := func(kind, subject string, attrs any) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		seen[kind][subject] = true
		return out.Emit(sdk.Upsert(kind, subject, attrs))
	}
	if len(c.set.AssetRoots) > 0 {
		vols, err := c.roots.volumes(c.set.AssetRoots)
		if err != nil {
			return fmt.Errorf("volumes: %w", err)
		}
		for _, v := range vols {
			if err := emit(KindVolume, v.Subject, v); err != nil {
				return err
			}
		}
	}
	for _, d := range c.set.Devices {
		v := extraDevice(d)
		if err := emit(KindVolume, v.Subject, v); err != nil {
			return err
		}
	}
	// Swap is machine-wide: any page, decrypted assets included, can be
	// written there.
	swaps, err := c.roots.swaps()
	if err != nil {
		p.log.Warn("swap not judged", "err", err)
		seen[KindSwap] = known[KindSwap] // unknown: delete nothing
	}
	for _, s := range swaps {
		if err := emit(KindSwap, "swap:"+s.Path, s); err != nil {
			return err
		}
	}
	for _, addr := range c.set.Endpoints {
		e := probe(ctx, addr, c.pool, c.timeout)
		if err := emit(KindEndpoint, "endpoint:"+addr, e); err != nil {
			return err
		}
	}
	if *c.set.DiscoverEndpoints {
		if err := p.discovered(ctx, c, emit); err != nil {
			var de discoveryError
			if !errors.As(err, &de) {
				return err
			}
			p.log.Warn("endpoint discovery failed: endpoints found before are kept", "err", err)
			for s := range known[KindEndpoint] {
				seen[KindEndpoint][s] = true
			}
		}
	}
	owners := sdk.NewOwners()
	var sec *secretOpts
	if *c.set.SecretScan {
		key, scope, err := loadFingerprintKey(stateDir)
		if err != nil {
			p.log.Warn("secret fingerprint key", "err", err, "fingerprints", scope)
		}
		sec = &secretOpts{scanner: newSecretScanner(key), scope: scope, include: c.set.SecretScanInclude,
			exclude: c.set.SecretScanExclude, maxFileBytes: c.set.SecretScanMaxFileBytes, maxFiles: c.set.SecretScanMaxFiles,
			maxBytes: c.set.SecretScanMaxBytes, timeout: c.secretTimeout}
		if scope == "host" {
			// A process-only key makes fingerprints no cache can reuse.
			if sec.cache, err = loadSecretCache(stateDir, key); err != nil {
				p.log.Warn("secret scan cache", "err", err)
			}
		}
	}
	for _, path := range c.set.KeyFiles {
		k := inspectKey(path, "key_files", owners)
		if sec != nil && k.Type == KeyNone && k.Error == "" {
			// A named file that is no key file (an .env, a config) is
			// read for embedded secrets, whatever its name.
			k = sec.keyFile(ctx, path, k, owners)
		}
		if err := emit(KindKey, "key:"+path, k); err != nil {
			return err
		}
	}
	if *c.set.KeyScan || sec != nil {
		opts := scanOpts{keys: *c.set.KeyScan, maxFiles: c.set.KeyScanMaxFiles, secrets: sec}
		for _, root := range append(slices.Clone(c.set.AssetRoots), c.set.ScanRoots...) {
			keys, sum, err := scanRoot(ctx, root, opts, owners)
			if err := ctx.Err(); err != nil {
				return err
			}
			if err != nil {
				// The root is missing or unreadable: what it held before
				// is not known to be gone, so nothing is deleted.
				if errors.Is(err, fs.ErrNotExist) {
					p.log.Info("key scan: root not there (yet)", "root", root)
				} else {
					p.log.Warn("key scan failed", "root", root, "err", err)
				}
				seen[KindKeyScan]["keyscan:"+root] = known[KindKeyScan]["keyscan:"+root]
				for s := range known[KindKey] {
					if sdk.Within(strings.TrimPrefix(s, "key:"), root) {
						seen[KindKey][s] = true
					}
				}
				continue
			}
			for _, k := range keys {
				if seen[KindKey]["key:"+k.Path] {
					continue // also listed in key_files
				}
				if err := emit(KindKey, "key:"+k.Path, k); err != nil {
					return err
				}
			}
			if ss := sum.SecretScan; sum.Truncated || ss != nil && ss.Truncated {
				// Files a scan did not get to are not known to be clean
				// (or gone): what was reported under this root stays.
				for s := range known[KindKey] {
					if sdk.Within(strings.TrimPrefix(s, "key:"), root) {
						seen[KindKey][s] = true
					}
				}
			}
			if ss := sum.SecretScan; ss != nil {
				p.log.Debug("secret scan", "root", root, "read", ss.Read, "bytes_read", ss.BytesRead, "unchanged", ss.Files-ss.Read,
					"secrets", ss.Secrets, "truncated_by", ss.TruncatedBy, "took", ss.Duration)
			}
			if err := emit(KindKeyScan, "keyscan:"+root, sum); err != nil {
				return err
			}
		}
	}
	if sec != nil && !req.ScratchState {
		if err := sec.cache.save(stateDir); err != nil {
			p.log.Warn("cannot save the secret scan cache", "err", err)
		}
	}
	for kind, subs := range known {
		for s := range subs {
			if !seen[kind][s] {
				if err := out.Emit(sdk.Delete(kind, s)); err != nil {
					return err
				}
			}
		}
	}
	if err := saveKnown(stateDir, seen); err != nil {
		p.log.Warn("cannot save reported subjects", "err", err)
	}
	return nil
}

// discovered probes the endpoints inference servers listen on, skipping
// ports the settings already list.
func (p *Plugin) discovered(ctx context.Context, c *configured, emit func(kind, subject string, attrs any) error) error {
	found, st, err := c.roots.discoverEndpoints(c.discoverNames)
	if err != nil {
		return discoveryError{err}
	}
	listed := map[string]bool{}
	for _, e := range c.set.Endpoints {
		_, port, _ := net.SplitHostPort(e)
		listed[port] = true
	}
	host := c.roots.hostname()
	probed := 0
	for _, d := range found {
		if listed[strconv.Itoa(int(d.Listen.Port()))] {
			continue
		}
		addr := d.Probe.String()
		name := ""
		if d.Listen.Addr().IsUnspecified() {
			name = host
		}
		e := probeAs(ctx, addr, name, c.pool, c.timeout)
		e.Discovered, e.Process, e.Listen = true, d.Process, d.Listen.String()
		if err := emit(KindEndpoint, "endpoint:"+addr, e); err != nil {
			return err
		}
		probed++
	}
	log := p.log.Debug
	if st.ServersUnreadable > 0 || st.Truncated {
		log = p.log.Warn
	}
	log("endpoint discovery", "listening", st.Listening, "processes", st.Processes, "unreadable_processes", st.Unreadable,
		"inference_servers", st.Servers, "inference_servers_unreadable", st.ServersUnreadable, "truncated", st.Truncated,
		"endpoints", len(found), "probed", probed,
		"hint", hintIf(st.ServersUnreadable > 0, "another user's /proc/<pid>/fd needs root or CAP_SYS_PTRACE: list those servers' endpoints in endpoints"))
	return nil
}

// discoveryError is discovery failing, as against the emitter.
type discoveryError struct{ error }

func (e discoveryError) Unwrap() error { return e.error }

func hintIf(cond bool, s string) string {
	if cond {
		return s
	}
	return ""
}

var _ sdk.Plugin = (*Plugin)(nil)
