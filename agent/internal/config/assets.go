package config

import "encoding/json"

// shareAssetRoots gives the access plugin the datasets and models plugins'
// roots as its dataset_roots and model_roots unless its own section sets
// them, so accessed paths map to the same asset subjects those plugins
// report without the operator writing every root twice. Only enabled
// plugins lend their roots: a disabled one reports no assets to map to.
func shareAssetRoots(cfg *Config) {
	roots := map[string]json.RawMessage{}
	for _, p := range cfg.Plugins {
		if p.Name != "datasets" && p.Name != "models" || !p.Enabled {
			continue
		}
		var s map[string]json.RawMessage
		if json.Unmarshal(p.Settings, &s) == nil && s["roots"] != nil {
			roots[p.Name] = s["roots"]
		}
	}
	for i, p := range cfg.Plugins {
		if p.Name != "access" {
			continue
		}
		var s map[string]json.RawMessage
		if json.Unmarshal(p.Settings, &s) != nil || s == nil {
			return
		}
		changed := false
		for from, key := range map[string]string{"datasets": "dataset_roots", "models": "model_roots"} {
			if _, set := s[key]; !set && roots[from] != nil {
				s[key] = roots[from]
				changed = true
			}
		}
		if b, err := json.Marshal(s); changed && err == nil {
			cfg.Plugins[i].Settings = b
		}
	}
}
