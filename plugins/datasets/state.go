package datasets

import (
	"os"
	"path/filepath"

	"github.com/annexa/annexa/plugins/sdk"
)

// knownFile lists the datasets last reported, in the state folder.
const knownFile = "known-datasets.json"

// pruneCaches removes hash caches of datasets no longer reported, and
// temp files a crash left behind.
func (p *Plugin) pruneCaches() {
	if p.stateDir == "" {
		return
	}
	dir := filepath.Join(p.stateDir, "hashcache")
	keep := map[string]bool{}
	for k := range p.known {
		keep[filepath.Base(cacheFile(p.stateDir, k))] = true
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !keep[e.Name()] {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// loadKnown reads the datasets last reported; a damaged list starts afresh.
func (p *Plugin) loadKnown() map[string]bool {
	if p.stateDir == "" {
		return map[string]bool{}
	}
	known, err := sdk.LoadPathSet(filepath.Join(p.stateDir, knownFile))
	if err != nil {
		p.log.Warn("known datasets list unreadable; starting afresh", "err", err)
	}
	return known
}

func (p *Plugin) saveKnown() {
	if p.stateDir == "" {
		return
	}
	if err := sdk.SavePathSet(filepath.Join(p.stateDir, knownFile), p.known); err != nil {
		p.log.Warn("cannot save known datasets", "err", err)
	}
}
