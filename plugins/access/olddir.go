package access

import (
	"path/filepath"
	"slices"
	"strings"
)

// Sources of a log's olddir, as the summary's olddir_source names them.
const (
	olddirFromSetting   = "setting olddirs"
	olddirFromLogrotate = "logrotate "
)

// discoverOlddirs reads logrotate's configuration for this collection
// (nil when discovery is off), logging its problems when they change.
func (p *Plugin) discoverOlddirs() *lrConfig {
	if len(p.set.LogrotateConfig) == 0 {
		return nil
	}
	cfg := readLogrotateConfig(p.set.LogrotateConfig)
	problems := strings.Join(cfg.Errors, "; ")
	if problems != p.lrWarned {
		p.lrWarned = problems
		if problems != "" {
			p.log.Warn("logrotate configuration: some of it could not be read as logrotate reads it; olddir of the logs it names may be missed",
				"problems", problems)
		}
	}
	return cfg
}

// rotatedDir is the folder of path's rotated copies and what said so:
// the olddirs setting (an exact key before patterns), else logrotate's
// configuration, else the log's own folder (from "").
func (c *collection) rotatedDir(path string) (dir, from string) {
	own := filepath.Dir(path)
	resolve := func(d string) string {
		if filepath.IsAbs(d) {
			return filepath.Clean(d)
		}
		return filepath.Join(own, d)
	}
	set := c.p.set.Olddirs
	if d, ok := set[path]; ok {
		return resolve(d), olddirFromSetting
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if ok, _ := filepath.Match(k, path); ok && isGlob(k) {
			return resolve(set[k]), olddirFromSetting
		}
	}
	rule, ok := c.logrotate.lookup(path)
	if ok && rule.Olddir != "" {
		return resolve(rule.Olddir), olddirFromLogrotate + rule.At
	}
	return own, ""
}
