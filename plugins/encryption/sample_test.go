package encryption

import (
	"context"
	"encoding/json"
	"regexp"
	"slices"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/annexa/annexa/plugins/sdk"
)

// TestSampleConfigIsValid: the shipped sample passes the real settings
// check, shows every setting, and its secret_scan_exclude is the default.
func TestSampleConfigIsValid(t *testing.T) {
	var doc struct {
		Plugins map[string]any `yaml:"plugins"`
	}
	if err := yaml.Unmarshal([]byte(SampleConfig), &doc); err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(doc.Plugins["encryption"])
	if err != nil {
		t.Fatal(err)
	}
	p := New()
	if _, err := p.Configure(context.Background(), sdk.Config{Raw: raw}); err != nil {
		t.Fatalf("sample.yaml is refused: %v", err)
	}
	if !slices.Equal(p.cfg.set.SecretScanExclude, DefaultSecretScanExclude) {
		t.Errorf("sample secret_scan_exclude %v, default %v", p.cfg.set.SecretScanExclude, DefaultSecretScanExclude)
	}
	var schema struct {
		Properties map[string]any `json:"properties"`
	}
	json.Unmarshal([]byte(configSchema), &schema)
	for key := range schema.Properties {
		if key == "asset_roots" { // the older spelling of roots
			continue
		}
		if !regexp.MustCompile(`(?m)^\s*(# )?` + key + `:`).MatchString(SampleConfig) {
			t.Errorf("sample.yaml does not show %s", key)
		}
	}
}
