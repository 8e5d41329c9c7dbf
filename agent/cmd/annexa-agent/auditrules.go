package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/annexa/annexa/agent/internal/config"
)

// assetPlugins are the plugins whose roots hold assets worth an audit
// watch, with the key their events carry.
var assetPlugins = []string{"datasets", "models"}

// maxAuditKey is auditctl's limit on a filter key (auditctl(8), -k).
const maxAuditKey = 31

// cmdAuditRules prints auditd watch rules for the dataset and model roots
// of a config, in the syntax of audit.rules(7), so that access to the
// assets is logged for the access plugin to read.
func cmdAuditRules(args []string) error {
	fs, cfgPath := flagSet("audit-rules")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	return writeAuditRules(os.Stdout, cfg)
}

func writeAuditRules(w io.Writer, cfg *config.Config) error {
	var b strings.Builder
	fmt.Fprintf(&b, "## auditd watch rules for the asset roots of %s (annexa-agent audit-rules).\n", cfg.Path)
	b.WriteString("## Install: save as /etc/audit/rules.d/annexa.rules, then run augenrules --load.\n")
	b.WriteString("## -p rwa logs opens for reading and writing and attribute changes of every\n")
	b.WriteString("## file beneath each root; set the access plugin's audit_logs to read them.\n")
	n := 0
	for _, name := range assetPlugins {
		i := slices.IndexFunc(cfg.Plugins, func(p config.Plugin) bool { return p.Name == name })
		if i < 0 {
			continue
		}
		p := cfg.Plugins[i]
		if !p.Enabled {
			fmt.Fprintf(&b, "## %s: disabled in the config; no rules.\n", name)
			continue
		}
		var s struct {
			Roots []string `json:"roots"`
		}
		if err := json.Unmarshal(p.Settings, &s); err != nil {
			return fmt.Errorf("read %s roots from %s: %w", name, cfg.Path, err)
		}
		key := "annexa-" + name
		if len(key) > maxAuditKey {
			key = key[:maxAuditKey]
		}
		for _, root := range s.Roots {
			if why := unwatchable(root); why != "" {
				fmt.Fprintf(&b, "## %s root %q cannot be watched: %s.\n", name, root, why)
				continue
			}
			rule := fmt.Sprintf("-w %s -p rwa -k %s", filepath.Clean(root), key)
			if _, err := os.Stat(filepath.Dir(filepath.Clean(root))); err != nil {
				// The kernel takes a watch on a missing path, but not one
				// whose parent is missing; auditctl -R stops at that line.
				fmt.Fprintf(&b, "## %s root %q: its parent folder is missing here, and the kernel refuses the watch until it exists:\n# %s\n", name, root, rule)
				continue
			}
			b.WriteString(rule + "\n")
			n++
		}
	}
	if n == 0 {
		b.WriteString("## No dataset or model roots are configured: nothing to watch.\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// unwatchable says why a root cannot be a watch (auditctl(8), -w: not
// the top-level folder, no wildcards), or why a rules file cannot hold it
// (auditctl splits rule lines at white space).
func unwatchable(root string) string {
	switch {
	case !filepath.IsAbs(root):
		return "not an absolute path"
	case filepath.Clean(root) == "/":
		return "the kernel refuses a watch on /"
	case strings.ContainsAny(root, "*?["):
		return "auditctl does not expand wildcards"
	case strings.ContainsAny(root, " \t\r\n"):
		return "a rules file cannot hold a path with white space; watch a parent folder instead"
	}
	return ""
}
