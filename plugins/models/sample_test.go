package models

import (
	"context"
	"encoding/json"
	"regexp"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/annexa/annexa/plugins/sdk"
)

// TestSampleConfigIsValid: the shipped sample passes the real settings
// check, and every setting is shown in it (set or as a commented example).
func TestSampleConfigIsValid(t *testing.T) {
	var doc struct {
		Plugins map[string]any `yaml:"plugins"`
	}
	if err := yaml.Unmarshal([]byte(SampleConfig), &doc); err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(doc.Plugins["models"])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New().Configure(context.Background(), sdk.Config{Raw: raw}); err != nil {
		t.Fatalf("sample.yaml is refused: %v", err)
	}
	var schema struct {
		Properties map[string]any `json:"properties"`
	}
	json.Unmarshal([]byte(configSchema), &schema)
	for key := range schema.Properties {
		if key == "dataset_roots" { // the agent's to fill in
			continue
		}
		if !regexp.MustCompile(`(?m)^\s*(# )?` + key + `:`).MatchString(SampleConfig) {
			t.Errorf("sample.yaml does not show %s", key)
		}
	}
}
