package plugintest

import (
	"encoding/json"
	"regexp"
	"slices"
	"testing"

	"go.yaml.in/yaml/v3"
)

// SampleSettings checks a plugin's shipped sample configuration (its
// section of /etc/annexa/agent.yaml, as YAML under plugins.<plugin>)
// against the plugin's settings schema: every property must be shown, set
// or as a commented example, so the sample stays the place an operator
// learns the settings from. skip names properties a sample need not
// show (the agent's to fill in, older spellings). It returns the section
// as the JSON settings the agent would hand to Configure, for the caller
// to check that the plugin accepts them.
func SampleSettings(t testing.TB, sample, plugin, schema string, skip ...string) json.RawMessage {
	t.Helper()
	var doc struct {
		Plugins map[string]any `yaml:"plugins"`
	}
	if err := yaml.Unmarshal([]byte(sample), &doc); err != nil {
		t.Fatalf("sample config: %v", err)
	}
	section, ok := doc.Plugins[plugin]
	if !ok {
		t.Fatalf("sample config has no plugins.%s section", plugin)
	}
	raw, err := json.Marshal(section)
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Properties map[string]any `json:"properties"`
	}
	if err := json.Unmarshal([]byte(schema), &s); err != nil {
		t.Fatalf("settings schema: %v", err)
	}
	if len(s.Properties) == 0 {
		t.Fatal("settings schema has no properties")
	}
	for key := range s.Properties {
		if slices.Contains(skip, key) {
			continue
		}
		if !regexp.MustCompile(`(?m)^\s*(# )?` + regexp.QuoteMeta(key) + `:`).MatchString(sample) {
			t.Errorf("the sample config does not show %s", key)
		}
	}
	return raw
}
