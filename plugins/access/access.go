// Package access is Annexa's built-in access-log plugin. It reads
// syslog-style auth logs (sshd, pam_unix, sudo, su, login) and HTTP access
// logs, emits one access.event per security-relevant line and one
// access.summary per log and collection window with counts and anomalies
// (brute force, success after failures, direct root login). Every log is
// read from a checkpoint (device, inode, offset, a hash of its first
// bytes) that the agent commits with the records, so across restarts,
// rotation and truncation each line is reported exactly once. See
// README.md.
package access

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/annexa/annexa/plugins/sdk"
)

// Name and Version identify the plugin to the agent.
const (
	Name    = "access"
	Version = "0.1.0"
)

// The evidence kinds this plugin emits.
const (
	KindEvent   = "access.event"
	KindSummary = "access.summary"
)

// SampleConfig is the plugin's section of agent.yaml, as shipped.
//
//go:embed sample.yaml
var SampleConfig string

// maxBatchLines keeps a batch's events under the SDK's group size (256
// records), so that no group is ever sent without its checkpoint.
const maxBatchLines = 200

const configSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "auth_logs": {"type": "array", "items": {"type": "string", "pattern": "^/"}},
    "audit_logs": {"type": "array", "items": {"type": "string", "pattern": "^/"}},
    "passwd_file": {"type": "string"},
    "journal": {"type": "boolean"},
    "journal_directory": {"type": "string"},
    "journal_matches": {"type": "array", "items": {"type": "string"}},
    "journalctl": {"type": "string"},
    "max_audit_records": {"type": "integer", "minimum": 2, "maximum": 4096},
    "dataset_roots": {"type": "array", "items": {"type": "string", "pattern": "^/"}},
    "model_roots": {"type": "array", "items": {"type": "string", "pattern": "^/"}},
    "http_logs": {"type": "array", "items": {"type": "object", "additionalProperties": false, "required": ["path"],
      "properties": {"path": {"type": "string", "pattern": "^/"}, "format": {"enum": ["combined", "common", "json"]},
        "assets": {"type": "object", "additionalProperties": {"type": "string"}}}}},
    "watched_paths": {"type": "array", "items": {"type": "string", "pattern": "^/"}},
    "anomalies": {"type": "object", "additionalProperties": false, "properties": {
      "brute_force": {"type": "object", "properties": {"failures": {"type": "integer", "minimum": 0}, "window": {"type": "string"}}},
      "success_after_failures": {"type": "object", "properties": {"failures": {"type": "integer", "minimum": 0}, "window": {"type": "string"}}},
      "root_login": {"type": "boolean"},
      "restricted_hours": {"type": "object", "additionalProperties": false, "properties": {
        "paths": {"type": "array", "items": {"type": "string"}}, "hours": {"type": "string"},
        "days": {"type": "array", "items": {"type": "string"}}}},
      "first_access": {"type": "object", "additionalProperties": false, "properties": {
        "enabled": {"type": "boolean"}, "learn": {"type": "string"}, "max_pairs": {"type": "integer"}}},
      "volume_spike": {"type": "object", "additionalProperties": false, "properties": {
        "factor": {"type": "number"}, "min_events": {"type": "integer"}, "baseline_hours": {"type": "integer"}}}}},
    "year": {"type": "integer", "minimum": 0},
    "batch_lines": {"type": "integer", "minimum": 1, "maximum": 200},
    "max_line_bytes": {"type": "integer", "minimum": 256},
    "max_decompressed_per_file": {"type": "integer", "minimum": 65536},
    "max_decompressed_per_collection": {"type": "integer", "minimum": 65536},
    "olddirs": {"type": "object", "additionalProperties": {"type": "string"}},
    "logrotate_config": {"type": "array", "items": {"type": "string", "pattern": "^/"}}
  }
}`

// Settings is the plugin's section of the agent config.
type Settings struct {
	AuthLogs  []string `json:"auth_logs"`
	AuditLogs []string `json:"audit_logs"`
	// PasswdFile resolves audit uids to names (default /etc/passwd).
	PasswdFile string `json:"passwd_file"`
	// Journal reads the systemd journal with journalctl (from
	// JournalDirectory if set, else the system journal), the entries that
	// JournalMatches select (default: the auth and authpriv facilities).
	Journal          bool     `json:"journal"`
	JournalDirectory string   `json:"journal_directory"`
	JournalMatches   []string `json:"journal_matches"`
	Journalctl       string   `json:"journalctl"`
	MaxAuditRecords  int      `json:"max_audit_records"`
	// DatasetRoots and ModelRoots are the datasets and models plugins'
	// roots: accessed paths under them are named by asset subject.
	DatasetRoots []string  `json:"dataset_roots"`
	ModelRoots   []string  `json:"model_roots"`
	HTTPLogs     []HTTPLog `json:"http_logs"`
	WatchedPaths []string  `json:"watched_paths"`
	Anomalies    Anomalies `json:"anomalies"`
	Year         int       `json:"year"`
	BatchLines   int       `json:"batch_lines"`
	MaxLineBytes int       `json:"max_line_bytes"`
	// MaxDecompressedPerFile and MaxDecompressedPerCollection bound the
	// bytes decompressed from compressed rotated logs: a file that gives
	// more is cut there (a note says so); a collection that has read its
	// share leaves the rest to the next one.
	MaxDecompressedPerFile       int64 `json:"max_decompressed_per_file"`
	MaxDecompressedPerCollection int64 `json:"max_decompressed_per_collection"`
	// Olddirs names, per log (its path, or a pattern as listed), the
	// folder its rotated copies are in when it is not the log's own
	// (logrotate's olddir); a relative one is taken from the log's
	// folder, as logrotate does. It wins over LogrotateConfig.
	Olddirs map[string]string `json:"olddirs"`
	// LogrotateConfig lists logrotate's configuration files (or
	// folders), read on each collection to learn the olddir of logs
	// Olddirs does not name: default [/etc/logrotate.conf], [] none.
	LogrotateConfig []string `json:"logrotate_config"`
}

// DefaultLogrotateConfig is where logrotate's configuration starts on
// every distribution (it includes /etc/logrotate.d).
const DefaultLogrotateConfig = "/etc/logrotate.conf"

// Default decompression caps: a day of a busy host's auth or HTTP log is
// well under a GiB; a bomb stops there.
const (
	DefaultMaxDecompressedPerFile       = 1 << 30
	DefaultMaxDecompressedPerCollection = 4 << 30
)

// HTTPLog is one HTTP access log.
type HTTPLog struct {
	Path   string `json:"path"`
	Format string `json:"format"`
	// Assets maps URL path prefixes to the folders they serve
	// ("/files/" → "/srv/ml/datasets/"): requests under them are
	// reported with the asset they reached.
	Assets map[string]string `json:"assets"`
}

// Anomalies configures the rules; a threshold of 0 turns a rule off.
type Anomalies struct {
	BruteForce           *Threshold       `json:"brute_force"`
	SuccessAfterFailures *Threshold       `json:"success_after_failures"`
	RootLogin            *bool            `json:"root_login"`
	RestrictedHours      *RestrictedHours `json:"restricted_hours"`
	FirstAccess          *FirstAccess     `json:"first_access"`
	VolumeSpike          *VolumeSpike     `json:"volume_spike"`
}

// Threshold is N failures within a window ("10m", "1h").
type Threshold struct {
	Failures *int   `json:"failures"`
	Window   string `json:"window"`
}

// Plugin implements sdk.Plugin. Construct it with New.
type Plugin struct {
	mu         sync.Mutex
	configured bool
	set        Settings
	rules      rules
	log        *slog.Logger
	// now and loc are the clock and zone of syslog dates; tests pin them.
	now func() time.Time
	loc *time.Location
	// fsRoot prefixes the asset tree looked at to name assets; tests
	// point it at a fixture tree shaped like the logged paths.
	fsRoot string
	// stateDir keeps the first-access memory.
	stateDir string
	// lrWarned is the logrotate configuration's problems last logged, so
	// they are logged when they change, not on every collection.
	lrWarned string
}

// New returns an unconfigured plugin; it touches nothing until Configure.
func New() *Plugin {
	return &Plugin{log: sdk.Logger(Name), now: time.Now, loc: time.Local}
}

// Info describes the plugin.
func (p *Plugin) Info() sdk.Info {
	return sdk.Info{
		Name: Name, Version: Version, Kinds: []string{KindEvent, KindSummary},
		ConfigSchema: configSchema, DefaultInterval: time.Minute,
	}
}

// Configure validates settings. It returns no watch roots: logs are read
// on the agent's schedule, from their checkpoints.
func (p *Plugin) Configure(_ context.Context, cfg sdk.Config) ([]string, error) {
	var s Settings
	if err := cfg.Decode(&s); err != nil {
		return nil, err
	}
	r, err := validate(&s)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.set, p.rules, p.configured = s, r, true
	p.stateDir = cfg.StateDir
	for _, path := range s.logPaths() {
		if isGlob(path) {
			continue
		}
		if _, err := os.Stat(path); err != nil {
			p.log.Warn("log is not readable yet; it yields nothing until it is", "path", path, "err", err)
		}
	}
	for log, dir := range s.Olddirs {
		if !filepath.IsAbs(dir) {
			if isGlob(log) {
				continue
			}
			dir = filepath.Join(filepath.Dir(log), dir)
		}
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			p.log.Warn("olddirs: the folder of rotated copies is not readable yet; rotated copies are found there once it is", "log", log, "olddir", dir, "err", err)
		}
	}
	return nil, nil
}

func (s *Settings) logPaths() []string {
	paths := append(append([]string(nil), s.AuthLogs...), s.AuditLogs...)
	for _, h := range s.HTTPLogs {
		paths = append(paths, h.Path)
	}
	return paths
}

func validate(s *Settings) (rules, error) {
	var fe sdk.FieldErrors
	add := func(field, msg string) { fe = append(fe, sdk.FieldError{Field: field, Message: msg}) }
	if len(s.AuthLogs) == 0 && len(s.HTTPLogs) == 0 && len(s.AuditLogs) == 0 && !s.Journal {
		add("auth_logs", "is required (or audit_logs or http_logs): list the absolute paths of the auth logs, e.g. [/var/log/auth.log]")
	}
	seen := map[string]string{}
	checkPath := func(field, p string) string {
		switch {
		case p == "":
			add(field, "is empty")
		case !filepath.IsAbs(p):
			add(field, fmt.Sprintf("%q is not an absolute path", p))
		case !utf8.ValidString(p) || strings.ContainsAny(p, "\x00\n"):
			add(field, fmt.Sprintf("%q is not valid UTF-8 or holds a newline; it cannot name evidence", p))
		default:
			p = filepath.Clean(p)
			if prev, dup := seen[p]; dup {
				add(field, fmt.Sprintf("%q is already listed as %s; it would be read twice", p, prev))
			}
			seen[p] = field
		}
		return p
	}
	checkLog := func(field, p string) string {
		if isGlob(p) {
			if _, err := filepath.Match(p, "/"); err != nil {
				add(field, fmt.Sprintf("%q is not a valid glob: %v", p, err))
			}
			if isGlob(filepath.Dir(p)) {
				// Each folder would be listed on every collection.
				add(field, fmt.Sprintf("%q: only the file name may be a pattern, not a folder", p))
			}
		}
		return checkPath(field, p)
	}
	for i, p := range s.AuthLogs {
		s.AuthLogs[i] = checkLog(fmt.Sprintf("auth_logs[%d]", i), p)
	}
	for i, p := range s.AuditLogs {
		s.AuditLogs[i] = checkLog(fmt.Sprintf("audit_logs[%d]", i), p)
	}
	switch {
	case s.PasswdFile == "":
		s.PasswdFile = "/etc/passwd"
	case !filepath.IsAbs(s.PasswdFile):
		add("passwd_file", fmt.Sprintf("%q is not an absolute path", s.PasswdFile))
	}
	if s.JournalDirectory != "" && !filepath.IsAbs(s.JournalDirectory) {
		add("journal_directory", fmt.Sprintf("%q is not an absolute path", s.JournalDirectory))
	}
	if s.JournalMatches == nil {
		s.JournalMatches = defaultJournalMatches
	}
	for i, m := range s.JournalMatches {
		if m != "+" && (!strings.Contains(m, "=") || strings.HasPrefix(m, "-")) {
			add(fmt.Sprintf("journal_matches[%d]", i), fmt.Sprintf("%q is not a journalctl match FIELD=value (or +)", m))
		}
	}
	if s.Journalctl == "" {
		s.Journalctl = "journalctl"
	}
	if s.MaxAuditRecords == 0 {
		s.MaxAuditRecords = DefaultMaxAuditRecords
	}
	rootList := func(field string, roots []string) {
		for i, p := range roots {
			if p == "" || !filepath.IsAbs(p) {
				add(fmt.Sprintf("%s[%d]", field, i), fmt.Sprintf("%q is not an absolute path", p))
				continue
			}
			roots[i] = filepath.Clean(p)
		}
	}
	rootList("dataset_roots", s.DatasetRoots)
	rootList("model_roots", s.ModelRoots)
	for i := range s.HTTPLogs {
		h := &s.HTTPLogs[i]
		h.Path = checkPath(fmt.Sprintf("http_logs[%d].path", i), h.Path)
		for prefix, dir := range h.Assets {
			field := fmt.Sprintf("http_logs[%d].assets[%q]", i, prefix)
			switch {
			case !strings.HasPrefix(prefix, "/"):
				add(field, "the URL prefix must start with /")
			case !filepath.IsAbs(dir):
				add(field, fmt.Sprintf("%q is not an absolute folder", dir))
			default:
				h.Assets[prefix] = filepath.Clean(dir)
			}
		}
		switch h.Format {
		case "":
			h.Format = FormatCombined
		case FormatCombined, FormatCommon, FormatJSON:
		default:
			add(fmt.Sprintf("http_logs[%d].format", i), fmt.Sprintf("%q is not one of combined, common, json", h.Format))
		}
	}
	for i, p := range s.WatchedPaths {
		field := fmt.Sprintf("watched_paths[%d]", i)
		if p == "" || !filepath.IsAbs(p) {
			add(field, fmt.Sprintf("%q is not an absolute path", p))
			continue
		}
		s.WatchedPaths[i] = filepath.Clean(p)
	}
	r := rules{bruteN: 5, bruteWindow: 10 * time.Minute, safN: 3, safWindow: 10 * time.Minute, rootLogin: true}
	threshold := func(field string, t *Threshold, n *int, w *time.Duration) {
		if t == nil {
			return
		}
		if t.Failures != nil {
			if *t.Failures < 0 {
				add(field+".failures", "must be 0 (rule off) or more")
			}
			*n = *t.Failures
		}
		if t.Window != "" {
			d, err := time.ParseDuration(t.Window)
			switch {
			case err != nil:
				add(field+".window", fmt.Sprintf("%q is not a duration such as 10m or 1h", t.Window))
			case d < time.Second || d > 7*24*time.Hour:
				add(field+".window", fmt.Sprintf("%s is outside 1s..168h", d))
			default:
				*w = d
			}
		}
	}
	threshold("anomalies.brute_force", s.Anomalies.BruteForce, &r.bruteN, &r.bruteWindow)
	threshold("anomalies.success_after_failures", s.Anomalies.SuccessAfterFailures, &r.safN, &r.safWindow)
	if s.Anomalies.RootLogin != nil {
		r.rootLogin = *s.Anomalies.RootLogin
	}
	r.bruteWinText, r.safWindowText = r.bruteWindow.String(), r.safWindow.String()
	r.asset = validateAssetRules(&s.Anomalies, add)
	if s.Year < 0 || (s.Year != 0 && (s.Year < 1970 || s.Year > 9999)) {
		add("year", fmt.Sprintf("%d is not a year (0 means the current one)", s.Year))
	}
	switch {
	case s.BatchLines == 0:
		s.BatchLines = maxBatchLines
	case s.BatchLines < 1 || s.BatchLines > maxBatchLines:
		add("batch_lines", fmt.Sprintf("must be 1..%d: a batch's events and its checkpoint must fit one group", maxBatchLines))
	}
	switch {
	case s.MaxLineBytes == 0:
		s.MaxLineBytes = DefaultMaxLineBytes
	case s.MaxLineBytes < 256 || s.MaxLineBytes > 1<<20:
		add("max_line_bytes", "must be 256..1048576")
	}
	if s.MaxDecompressedPerFile == 0 {
		s.MaxDecompressedPerFile = DefaultMaxDecompressedPerFile
	}
	if s.MaxDecompressedPerCollection == 0 {
		s.MaxDecompressedPerCollection = max(DefaultMaxDecompressedPerCollection, s.MaxDecompressedPerFile)
	}
	switch {
	case s.MaxDecompressedPerFile < 64<<10:
		add("max_decompressed_per_file", "must be at least 65536 bytes")
	case s.MaxDecompressedPerCollection < s.MaxDecompressedPerFile:
		add("max_decompressed_per_collection", fmt.Sprintf("must be at least max_decompressed_per_file (%d), or a file could never be read to its end", s.MaxDecompressedPerFile))
	}
	validateOlddirs(s, add)
	if len(fe) > 0 {
		return rules{}, fe
	}
	return r, nil
}

// validateOlddirs checks that each olddirs entry names a configured log
// (or a pattern of them) and a folder.
func validateOlddirs(s *Settings, add func(field, msg string)) {
	if s.LogrotateConfig == nil {
		s.LogrotateConfig = []string{DefaultLogrotateConfig}
	}
	for i, p := range s.LogrotateConfig {
		if p == "" || !filepath.IsAbs(p) {
			add(fmt.Sprintf("logrotate_config[%d]", i), fmt.Sprintf("%q is not an absolute path", p))
			continue
		}
		s.LogrotateConfig[i] = filepath.Clean(p)
	}
	if len(s.Olddirs) == 0 {
		return
	}
	logs := s.logPaths()
	clean := make(map[string]string, len(s.Olddirs))
	for key, dir := range s.Olddirs {
		field := fmt.Sprintf("olddirs[%q]", key)
		if !filepath.IsAbs(key) {
			add(field, "the key must be the absolute path of a log listed in auth_logs, audit_logs or http_logs (or a pattern of them)")
			continue
		}
		k := filepath.Clean(key)
		if isGlob(k) {
			if _, err := filepath.Match(k, "/"); err != nil {
				add(field, fmt.Sprintf("not a valid glob: %v", err))
				continue
			}
		}
		named := false
		for _, l := range logs {
			a, _ := filepath.Match(l, k)
			b, _ := filepath.Match(k, l)
			if l == k || (isGlob(l) && a) || (isGlob(k) && b) {
				named = true
				break
			}
		}
		switch {
		case !named:
			add(field, "names no log listed in auth_logs, audit_logs or http_logs")
		case dir == "":
			add(field, `is empty: name the folder of the rotated copies ("." for the log's own)`)
		case !utf8.ValidString(dir) || strings.ContainsAny(dir, "\x00\n"):
			add(field, fmt.Sprintf("%q is not valid UTF-8 or holds a newline", dir))
		default:
			if prev, dup := clean[k]; dup && prev != dir {
				add(field, "is listed twice")
			}
			clean[k] = filepath.Clean(dir)
		}
	}
	s.Olddirs = clean
}

// Collect reads every configured log from where the checkpoint left it
// and emits events in batches, each closed by a checkpoint, then one
// summary per log. Full and incremental requests do the same.
func (p *Plugin) Collect(ctx context.Context, req sdk.Request, out sdk.Emitter) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.configured {
		return errors.New("collect before configure")
	}
	cp, err := decodeCheckpoint(req.Checkpoint)
	if err != nil {
		// Starting over would report every line again; refuse instead, so
		// an operator sees it (plugin.health) and can reset the plugin.
		return fmt.Errorf("read checkpoint: %w", err)
	}
	c := &collection{p: p, ctx: ctx, out: out, cp: cp, assets: newAssetMapper(p.set.DatasetRoots, p.set.ModelRoots, p.fsRoot),
		budget: p.set.MaxDecompressedPerCollection}
	c.logrotate = p.discoverOlddirs()
	if p.rules.asset.firstAccess && len(p.set.DatasetRoots)+len(p.set.ModelRoots) > 0 {
		a, err := loadAccessors(p.stateDir)
		if err != nil {
			p.log.Warn("first-access memory", "err", err)
		}
		c.accessors = a
	}
	if len(p.set.AuditLogs) > 0 {
		u, err := loadUsers(p.set.PasswdFile)
		if err != nil {
			// Actors are then reported by uid; say why once per collection.
			p.log.Warn("cannot read the passwd file; audit actors are reported by uid", "path", p.set.PasswdFile, "err", err)
		}
		c.users = u
	}
	claimed := map[string]bool{}
	for _, h := range p.set.HTTPLogs {
		claimed[h.Path] = true
	}
	for _, path := range p.expand(p.set.AuthLogs, cp, claimed) {
		if err := c.source(logSource{kind: SourceAuthLog, path: path}); err != nil {
			return err
		}
	}
	for _, path := range p.expand(p.set.AuditLogs, cp, claimed) {
		if err := c.source(logSource{kind: SourceAudit, path: path}); err != nil {
			return err
		}
	}
	if p.set.Journal {
		if err := c.journal(); err != nil {
			return err
		}
	}
	for _, h := range p.set.HTTPLogs {
		if err := c.source(logSource{kind: SourceHTTP, path: h.Path, format: h.Format, assets: h.Assets}); err != nil {
			return err
		}
	}
	before := len(cp.Logs)
	p.prune(cp, claimed)
	if len(cp.Logs) != before {
		return c.commit()
	}
	return nil
}

// watchedRoots lists the watched roots a path lies in.
func (p *Plugin) watchedRoots(paths ...string) []string {
	var out []string
	for _, root := range p.set.WatchedPaths {
		for _, path := range paths {
			if path == root || strings.HasPrefix(path, strings.TrimSuffix(root, "/")+"/") {
				out = append(out, root)
				break
			}
		}
	}
	return out
}

var _ sdk.Plugin = (*Plugin)(nil)
