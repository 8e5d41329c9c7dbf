package config

import (
	"encoding/json"
	"slices"

	"go.yaml.in/yaml/v3"
)

// shareDatasetRoots gives a plugin that asks for them with
// `scan_dataset_roots: true` the datasets plugin's roots, as the setting
// `dataset_roots`: the models plugin then also reports model files met
// in dataset folders. The agent owns the hand-over so that the roots are
// written once, in the datasets section, and cannot drift apart.
// It runs on a config that parsed without errors, so the plugins section
// is known to be a mapping.
func (p *parser) shareDatasetRoots(cfg *Config, doc *yaml.Node) {
	sections := p.mapping(p.mapping(doc.Content[0], "")["plugins"], "plugins")
	var roots []any
	hasDatasets := false
	for _, pl := range cfg.Plugins {
		if pl.Name != "datasets" {
			continue
		}
		var s struct {
			Roots []any `json:"roots"`
		}
		if json.Unmarshal(pl.Settings, &s) == nil {
			roots, hasDatasets = s.Roots, true
		}
	}
	for i, pl := range cfg.Plugins {
		var s map[string]any
		if json.Unmarshal(pl.Settings, &s) != nil {
			continue
		}
		// A value that is not a boolean is left for the plugin to refuse.
		if on, _ := s["scan_dataset_roots"].(bool); !on {
			continue
		}
		m := p.mapping(sections[pl.Name], "plugins."+pl.Name)
		field := "plugins." + pl.Name
		switch {
		case m["dataset_roots"] != nil:
			p.fail(m["dataset_roots"], field+".dataset_roots", "is filled in by the agent from plugins.datasets.roots when scan_dataset_roots is true; remove it")
			continue
		case !hasDatasets || len(roots) == 0:
			p.fail(m["scan_dataset_roots"], field+".scan_dataset_roots", "needs the datasets plugin's roots (plugins.datasets.roots), and none are configured")
			continue
		}
		s["dataset_roots"] = slices.Clone(roots)
		b, err := json.Marshal(s)
		if err != nil {
			p.fail(sections[pl.Name], field, "settings cannot be passed to the plugin as JSON: %s", err)
			continue
		}
		cfg.Plugins[i].Settings = b
	}
}
