// Package config loads and validates the agent's one YAML file. Every error
// names the file, the line and the dotted field, because a sysadmin fixing
// a config on a GPU host at 3 a.m. should not have to guess.
package config

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// DefaultPath is where packages install the agent config.
const DefaultPath = "/etc/annexa/agent.yaml"

// maxConfigBytes bounds what we read: a config is a page, not a dataset.
const maxConfigBytes = 1 << 20

// Config is the validated agent configuration.
type Config struct {
	Collector Collector
	StateDir  string
	PluginDir string
	// Host overrides the host name reported with every record.
	Host     string
	LogLevel string
	// MetricsListen is where /metrics and /healthz are served; empty
	// means off.
	MetricsListen string
	Spool         Spool
	Shipping      Shipping
	Watch         Watch
	// Plugins in name order, so runs are deterministic.
	Plugins []Plugin
	// Path is the file the config came from.
	Path string
}

// Collector says where evidence goes.
type Collector struct {
	URL     string
	Timeout time.Duration
	// AllowInsecure permits plain HTTP to a non-loopback collector.
	AllowInsecure bool
}

// Spool bounds the local outbox.
type Spool struct {
	MaxBytes int64
}

// Shipping tunes the shipper.
type Shipping struct {
	BatchRecords int
	Heartbeat    time.Duration
	MaxBackoff   time.Duration
}

// Watch tunes change detection.
type Watch struct {
	Debounce     time.Duration
	PollInterval time.Duration
	// Reconcile is how often a full collection runs even if nothing changed
	// and the plugin asks for less often.
	Reconcile time.Duration
}

// Plugin is one configured plugin. Agent-level keys are taken out of its
// section; everything else is handed to the plugin as Settings.
type Plugin struct {
	Name string
	// Executable is the file to run; defaults to plugin_dir/annexa-plugin-<name>.
	Executable string
	// SHA256 pins a plugin that is not in the built-in manifest.
	SHA256      string
	Enabled     bool
	Interval    time.Duration // 0: the plugin's own default
	Timeout     time.Duration
	MemoryLimit int64
	// Settings is the plugin's own section as a JSON object.
	Settings json.RawMessage
	Line     int
	// settingLines locates the plugin's own settings for SettingLine.
	settingLines map[string]int
}

// agentPluginKeys are the keys of a plugin section the agent owns.
var agentPluginKeys = map[string]bool{
	"executable": true, "sha256": true, "enabled": true, "interval": true,
	"timeout": true, "memory_limit": true,
}

// Error is a config problem at a place in the file.
type Error struct {
	File  string
	Line  int
	Field string
	Msg   string
}

func (e *Error) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc += ":" + strconv.Itoa(e.Line)
	}
	if e.Field == "" {
		return loc + ": " + e.Msg
	}
	return loc + ": " + e.Field + ": " + e.Msg
}

// Errors is every problem found, in file order.
type Errors []*Error

func (es Errors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// Load reads and validates the config at path.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read config %s: %w", path, err)
	}
	if len(data) > maxConfigBytes {
		return nil, &Error{File: path, Msg: fmt.Sprintf("is larger than %d bytes; is this the right file?", maxConfigBytes)}
	}
	return Parse(path, data)
}

// Parse validates a config held in memory; name is used in messages.
func Parse(name string, data []byte) (*Config, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, &Error{File: name, Line: yamlErrLine(err), Msg: "not valid YAML: " + yamlErrMsg(err)}
	}
	p := &parser{file: name, keyLines: map[*yaml.Node]int{}}
	cfg := p.config(&doc)
	if len(p.errs) == 0 {
		p.shareDatasetRoots(cfg, &doc)
	}
	if len(p.errs) > 0 {
		sort.SliceStable(p.errs, func(i, j int) bool { return p.errs[i].Line < p.errs[j].Line })
		return nil, p.errs
	}
	cfg.Path = name
	return cfg, nil
}

type parser struct {
	file string
	errs Errors
	// keyLines remembers the line of each value's key: an empty value
	// has no useful line of its own.
	keyLines map[*yaml.Node]int
}

func (p *parser) fail(n *yaml.Node, field, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
		if kl, ok := p.keyLines[n]; ok && (n.Kind != yaml.ScalarNode || n.Tag == "!!null") {
			line = kl
		}
	}
	p.errs = append(p.errs, &Error{File: p.file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// mapping returns the key/value pairs of a mapping node, reporting
// duplicates and non-mappings.
func (p *parser) mapping(n *yaml.Node, field string) map[string]*yaml.Node {
	out := map[string]*yaml.Node{}
	if n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null") {
		return out
	}
	if n.Kind != yaml.MappingNode {
		p.fail(n, field, "must be a mapping of keys to values")
		return out
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if _, dup := out[k.Value]; dup {
			p.fail(k, join(field, k.Value), "is set twice")
		}
		out[k.Value] = v
		p.keyLines[v] = k.Line
	}
	return out
}

func (p *parser) unknown(m map[string]*yaml.Node, field string, known ...string) {
	for k, v := range m {
		ok := false
		for _, kn := range known {
			if k == kn {
				ok = true
			}
		}
		if !ok {
			p.fail(v, join(field, k), "is not a known setting (known: %s)", strings.Join(known, ", "))
		}
	}
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}

func (p *parser) str(n *yaml.Node, field string) string {
	if n == nil {
		return ""
	}
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!str" && n.Tag != "!!null") {
		p.fail(n, field, "must be a string")
		return ""
	}
	return n.Value
}

func (p *parser) boolean(n *yaml.Node, field string, def bool) bool {
	if n == nil {
		return def
	}
	var b bool
	if n.Kind != yaml.ScalarNode || n.Decode(&b) != nil || n.Tag != "!!bool" {
		p.fail(n, field, "must be true or false, not %q", n.Value)
		return def
	}
	return b
}

func (p *parser) integer(n *yaml.Node, field string, def, min, max int) int {
	if n == nil {
		return def
	}
	v, err := strconv.Atoi(n.Value)
	if n.Kind != yaml.ScalarNode || err != nil {
		p.fail(n, field, "must be a whole number, not %q", n.Value)
		return def
	}
	if v < min || v > max {
		p.fail(n, field, "must be between %d and %d, not %d", min, max, v)
		return def
	}
	return v
}

func (p *parser) duration(n *yaml.Node, field string, def, min time.Duration) time.Duration {
	if n == nil {
		return def
	}
	d, err := time.ParseDuration(n.Value)
	if n.Kind != yaml.ScalarNode || err != nil {
		p.fail(n, field, "%q is not a duration; write it like 30s, 15m or 6h", n.Value)
		return def
	}
	if d < min {
		p.fail(n, field, "%s is too short; the least is %s", d, min)
		return def
	}
	return d
}

var sizeRE = regexp.MustCompile(`^([0-9]+)\s*([KMGT]i?B|B)?$`)

func (p *parser) size(n *yaml.Node, field string, def, min int64) int64 {
	if n == nil {
		return def
	}
	m := sizeRE.FindStringSubmatch(strings.TrimSpace(n.Value))
	if n.Kind != yaml.ScalarNode || m == nil {
		p.fail(n, field, "%q is not a size; write it like 512MiB or 2GiB", n.Value)
		return def
	}
	v, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		p.fail(n, field, "%q is too large", n.Value)
		return def
	}
	mult := map[string]int64{"": 1, "B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
		"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}[m[2]]
	v *= mult
	if v < min {
		p.fail(n, field, "%s is too small; the least is %d bytes", n.Value, min)
		return def
	}
	return v
}

func (p *parser) absPath(n *yaml.Node, field, def string) string {
	s := p.str(n, field)
	if s == "" {
		return def
	}
	if !filepath.IsAbs(s) {
		p.fail(n, field, "%q must be an absolute path", s)
	}
	return filepath.Clean(s)
}

var sha256RE = regexp.MustCompile(`^[0-9a-f]{64}$`)

var pluginNameRE = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,40}$`)

func (p *parser) config(doc *yaml.Node) *Config {
	cfg := &Config{
		StateDir:  "/var/lib/annexa",
		PluginDir: "/usr/lib/annexa/plugins",
		LogLevel:  "info",
		// Loopback: the host's own Prometheus agent scrapes it, nobody
		// else needs to.
		MetricsListen: "127.0.0.1:9465",
	}
	if len(doc.Content) == 0 {
		p.fail(nil, "", "is empty; it needs at least collector.url, and plugins")
		return cfg
	}
	top := p.mapping(doc.Content[0], "")
	p.unknown(top, "", "collector", "state_dir", "plugin_dir", "host", "log_level", "spool", "shipping", "watch", "plugins", "metrics_listen")

	col := p.mapping(top["collector"], "collector")
	p.unknown(col, "collector", "url", "timeout", "allow_insecure")
	cfg.Collector.URL = p.str(col["url"], "collector.url")
	cfg.Collector.Timeout = p.duration(col["timeout"], "collector.timeout", 30*time.Second, time.Second)
	cfg.Collector.AllowInsecure = p.boolean(col["allow_insecure"], "collector.allow_insecure", false)
	if top["collector"] == nil {
		p.fail(nil, "collector", "is missing; add collector.url, e.g. https://annexa.example.org:8443")
	} else if cfg.Collector.URL == "" {
		p.fail(top["collector"], "collector.url", "is missing, e.g. https://annexa.example.org:8443")
	} else if err := checkURL(cfg.Collector.URL, cfg.Collector.AllowInsecure); err != nil {
		p.fail(col["url"], "collector.url", "%s", err)
	}

	cfg.StateDir = p.absPath(top["state_dir"], "state_dir", cfg.StateDir)
	cfg.PluginDir = p.absPath(top["plugin_dir"], "plugin_dir", cfg.PluginDir)
	cfg.Host = p.str(top["host"], "host")
	if ll := p.str(top["log_level"], "log_level"); ll != "" {
		switch ll {
		case "debug", "info", "warn", "error":
			cfg.LogLevel = ll
		default:
			p.fail(top["log_level"], "log_level", "%q is not one of debug, info, warn, error", ll)
		}
	}

	if n := top["metrics_listen"]; n != nil {
		v := p.str(n, "metrics_listen")
		switch {
		case v == "" || v == "off":
			cfg.MetricsListen = ""
		default:
			if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
				p.fail(n, "metrics_listen", "%q is not host:port like 127.0.0.1:9465 (or off)", v)
			} else {
				cfg.MetricsListen = v
			}
		}
	}

	sp := p.mapping(top["spool"], "spool")
	p.unknown(sp, "spool", "max_bytes")
	cfg.Spool.MaxBytes = p.size(sp["max_bytes"], "spool.max_bytes", 1<<30, 1<<20)

	sh := p.mapping(top["shipping"], "shipping")
	p.unknown(sh, "shipping", "batch_records", "heartbeat", "max_backoff")
	cfg.Shipping.BatchRecords = p.integer(sh["batch_records"], "shipping.batch_records", 500, 1, 10000)
	cfg.Shipping.Heartbeat = p.duration(sh["heartbeat"], "shipping.heartbeat", time.Minute, time.Second)
	cfg.Shipping.MaxBackoff = p.duration(sh["max_backoff"], "shipping.max_backoff", 5*time.Minute, time.Second)

	w := p.mapping(top["watch"], "watch")
	p.unknown(w, "watch", "debounce", "poll_interval", "reconcile")
	cfg.Watch.Debounce = p.duration(w["debounce"], "watch.debounce", 2*time.Second, 10*time.Millisecond)
	cfg.Watch.PollInterval = p.duration(w["poll_interval"], "watch.poll_interval", time.Minute, 100*time.Millisecond)
	cfg.Watch.Reconcile = p.duration(w["reconcile"], "watch.reconcile", 6*time.Hour, time.Second)

	pn := top["plugins"]
	plugins := p.mapping(pn, "plugins")
	if pn == nil || len(plugins) == 0 {
		p.fail(pn, "plugins", "no plugin is configured; add one, e.g. plugins: {datasets: {roots: [/srv/ml/datasets]}}")
	}
	names := make([]string, 0, len(plugins))
	for name := range plugins {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		cfg.Plugins = append(cfg.Plugins, p.plugin(name, plugins[name], cfg.PluginDir))
	}
	shareAssetRoots(cfg)
	return cfg
}

func (p *parser) plugin(name string, n *yaml.Node, pluginDir string) Plugin {
	field := "plugins." + name
	pl := Plugin{Name: name, Enabled: true, Timeout: 10 * time.Minute, MemoryLimit: 1 << 30, Line: p.keyLines[n]}
	if !pluginNameRE.MatchString(name) {
		p.fail(n, field, "plugin names are lower-case letters, digits, '-' and '_'")
	}
	m := p.mapping(n, field)
	pl.settingLines = settingLines(n)
	pl.Executable = p.absPath(m["executable"], field+".executable", filepath.Join(pluginDir, "annexa-plugin-"+name))
	pl.SHA256 = strings.ToLower(p.str(m["sha256"], field+".sha256"))
	if pl.SHA256 != "" && !sha256RE.MatchString(pl.SHA256) {
		p.fail(m["sha256"], field+".sha256", "must be 64 hex digits (the output of sha256sum of the plugin executable)")
	}
	pl.Enabled = p.boolean(m["enabled"], field+".enabled", true)
	pl.Interval = p.duration(m["interval"], field+".interval", 0, time.Second)
	pl.Timeout = p.duration(m["timeout"], field+".timeout", pl.Timeout, time.Second)
	pl.MemoryLimit = p.size(m["memory_limit"], field+".memory_limit", pl.MemoryLimit, 16<<20)

	settings := map[string]any{}
	for k, v := range m {
		if agentPluginKeys[k] {
			continue
		}
		var val any
		if err := v.Decode(&val); err != nil {
			p.fail(v, field+"."+k, "cannot be read: %s", err)
			continue
		}
		settings[k] = jsonable(val)
	}
	b, err := json.Marshal(settings)
	if err != nil {
		p.fail(n, field, "settings cannot be passed to the plugin as JSON: %s", err)
	}
	pl.Settings = b
	return pl
}

// jsonable turns YAML's map[any]any-free output into JSON-safe values;
// yaml.v3 already decodes mappings as map[string]any, but times and
// other tagged scalars need to become strings.
func jsonable(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			t[k] = jsonable(x)
		}
		return t
	case []any:
		for i, x := range t {
			t[i] = jsonable(x)
		}
		return t
	case time.Time:
		return t.UTC().Format(time.RFC3339)
	}
	return v
}

func checkURL(raw string, allowInsecure bool) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%q is not a URL like https://annexa.example.org:8443", raw)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) && !allowInsecure {
			return fmt.Errorf("plain http is only allowed to a loopback collector; use https, or set collector.allow_insecure: true if you really mean it")
		}
	default:
		return fmt.Errorf("scheme %q is not http or https", u.Scheme)
	}
	if u.Path != "" && u.Path != "/" {
		return fmt.Errorf("give the collector's base URL without a path (got %q)", u.Path)
	}
	return nil
}

func isLoopback(host string) bool {
	return host == "localhost" || strings.HasPrefix(host, "127.") || host == "::1"
}

func yamlErrLine(err error) int {
	m := regexp.MustCompile(`line (\d+)`).FindStringSubmatch(err.Error())
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func yamlErrMsg(err error) string {
	s := strings.TrimPrefix(err.Error(), "yaml: ")
	return regexp.MustCompile(`^line \d+: `).ReplaceAllString(s, "")
}
