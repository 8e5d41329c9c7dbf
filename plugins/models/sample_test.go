package models

import (
	"context"
	"testing"

	"github.com/annexa/annexa/plugins/plugintest"
	"github.com/annexa/annexa/plugins/sdk"
)

// TestSampleConfigIsValid: the shipped sample passes the real settings
// check, and every setting is shown in it (set or as a commented example).
func TestSampleConfigIsValid(t *testing.T) {
	// dataset_roots is the agent's to fill in.
	raw := plugintest.SampleSettings(t, SampleConfig, "models", configSchema, "dataset_roots")
	if _, err := New().Configure(context.Background(), sdk.Config{Raw: raw}); err != nil {
		t.Fatalf("sample.yaml is refused: %v", err)
	}
}
