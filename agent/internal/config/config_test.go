package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The minimal config from the spine issue must work exactly as written.
func TestMinimalContractConfig(t *testing.T) {
	const minimal = `collector:
  url: http://127.0.0.1:8080
state_dir: /var/lib/annexa
plugin_dir: /usr/lib/annexa/plugins
plugins:
  datasets:
    roots: [/srv/ml/datasets]
`
	path := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(path, []byte(minimal), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if cfg.Collector.URL != "http://127.0.0.1:8080" || cfg.StateDir != "/var/lib/annexa" || cfg.PluginDir != "/usr/lib/annexa/plugins" {
		t.Errorf("top level = %+v", cfg)
	}
	if len(cfg.Plugins) != 1 {
		t.Fatalf("plugins = %+v", cfg.Plugins)
	}
	p := cfg.Plugins[0]
	if p.Name != "datasets" || !p.Enabled || p.Executable != "/usr/lib/annexa/plugins/annexa-plugin-datasets" {
		t.Errorf("plugin = %+v", p)
	}
	if string(p.Settings) != `{"roots":["/srv/ml/datasets"]}` {
		t.Errorf("settings = %s", p.Settings)
	}
	if p.Timeout != 10*time.Minute || p.MemoryLimit != 1<<30 || cfg.Spool.MaxBytes != 1<<30 {
		t.Errorf("defaults: timeout %s memory %d spool %d", p.Timeout, p.MemoryLimit, cfg.Spool.MaxBytes)
	}
}

func TestAgentKeysAreNotPassedToPlugin(t *testing.T) {
	cfg, err := Parse("a.yaml", []byte(`collector: {url: "https://c.example:8443"}
plugins:
  custom:
    executable: /opt/x/annexa-plugin-custom
    sha256: ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789
    interval: 15m
    timeout: 2m
    memory_limit: 256MiB
    threshold: 3
`))
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Plugins[0]
	if string(p.Settings) != `{"threshold":3}` {
		t.Errorf("settings = %s, want only the plugin's own key", p.Settings)
	}
	if p.SHA256 != "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789" || p.Interval != 15*time.Minute ||
		p.Timeout != 2*time.Minute || p.MemoryLimit != 256<<20 || p.Executable != "/opt/x/annexa-plugin-custom" {
		t.Errorf("agent keys = %+v", p)
	}
}

// Every error names the file, the line and the field, and says what to do.
func TestErrorsNameFieldAndLine(t *testing.T) {
	cases := []struct {
		name, yaml string
		want       []string
	}{
		{"missing collector", "plugins: {datasets: {roots: [/x]}}\n", []string{"a.yaml", "collector", "is missing"}},
		{"missing url", "collector:\n  timeout: 5s\nplugins: {datasets: {roots: [/x]}}\n", []string{"a.yaml:1:", "collector.url", "is missing"}},
		{"bad scheme", "collector:\n  url: ftp://x\nplugins: {d: {}}\n", []string{"a.yaml:2:", "collector.url", "scheme"}},
		{"plain http remote", "collector:\n  url: http://collector.example.org\nplugins: {d: {}}\n", []string{"a.yaml:2:", "collector.url", "https"}},
		{"unknown top key", "collector: {url: http://127.0.0.1:1}\nplugns: {}\n", []string{"a.yaml:2:", "plugns", "not a known setting"}},
		{"bad duration", "collector: {url: http://127.0.0.1:1}\nplugins:\n  datasets:\n    interval: 5x\n", []string{"a.yaml:4:", "plugins.datasets.interval", "not a duration"}},
		{"relative state dir", "collector: {url: http://127.0.0.1:1}\nstate_dir: var/lib\nplugins: {d: {}}\n", []string{"a.yaml:2:", "state_dir", "absolute"}},
		{"bad sha", "collector: {url: http://127.0.0.1:1}\nplugins:\n  x:\n    sha256: nope\n", []string{"a.yaml:4:", "plugins.x.sha256", "64 hex"}},
		{"bad size", "collector: {url: http://127.0.0.1:1}\nspool:\n  max_bytes: lots\nplugins: {d: {}}\n", []string{"a.yaml:3:", "spool.max_bytes", "not a size"}},
		{"no plugins", "collector: {url: http://127.0.0.1:1}\n", []string{"plugins", "no plugin is configured"}},
		{"bad yaml", "collector: {url: [\n", []string{"a.yaml", "not valid YAML"}},
		{"duplicate key", "collector: {url: http://127.0.0.1:1}\nplugins:\n  d: {}\n  d: {}\n", []string{"plugins.d", "set twice"}},
		{"bad plugin name", "collector: {url: http://127.0.0.1:1}\nplugins:\n  Bad/Name: {}\n", []string{"plugins.Bad/Name", "lower-case"}},
		{"bad bool", "collector: {url: http://127.0.0.1:1}\nplugins:\n  d:\n    enabled: sometimes\n", []string{"a.yaml:4:", "plugins.d.enabled", "true or false"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("a.yaml", []byte(tc.yaml))
			if err == nil {
				t.Fatal("Parse accepted a bad config")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestAllErrorsReportedInLineOrder(t *testing.T) {
	_, err := Parse("a.yaml", []byte("collector: {url: http://127.0.0.1:1}\nlog_level: loud\nshipping:\n  heartbeat: never\nplugins: {d: {}}\n"))
	var es Errors
	if !errors.As(err, &es) || len(es) != 2 {
		t.Fatalf("want 2 errors, got %v", err)
	}
	if es[0].Line != 2 || es[1].Line != 4 {
		t.Errorf("lines = %d, %d; want 2, 4", es[0].Line, es[1].Line)
	}
}

func TestLoadRefusesHugeFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(path, make([]byte, maxConfigBytes+10), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("err = %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("collector: {url: http://127.0.0.1:8080}\nplugins: {datasets: {roots: [/srv]}}\n"))
	f.Add([]byte("collector:\n  url: https://x\nspool: {max_bytes: 2GiB}\nplugins: {a: {interval: 1h, x: [1, {y: 2}]}}\n"))
	f.Add([]byte("&a [*a]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("f.yaml", data)
		if err == nil && (cfg.Collector.URL == "" || len(cfg.Plugins) == 0) {
			t.Fatalf("accepted a config without collector.url or plugins: %q", data)
		}
	})
}

// The default config the packages install must pass the agent's checks.
func TestPackagedDefaultConfigLoads(t *testing.T) {
	cfg, err := Load("../../../packaging/config/agent.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.StateDir != "/var/lib/annexa" || cfg.PluginDir != "/usr/lib/annexa/plugins" || len(cfg.Plugins) != 1 {
		t.Errorf("config = %+v", cfg)
	}
}
