package encryption

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/annexa/annexa/plugins/plugintest"
	"github.com/annexa/annexa/plugins/sdk"
)

// TestSampleConfigIsValid: the shipped sample passes the real settings
// check, shows every setting, and its secret_scan_exclude is the default.
func TestSampleConfigIsValid(t *testing.T) {
	// asset_roots is the older spelling of roots.
	raw := plugintest.SampleSettings(t, SampleConfig, "encryption", configSchema, "asset_roots")
	p := New()
	if _, err := p.Configure(context.Background(), sdk.Config{Raw: raw}); err != nil {
		t.Fatalf("sample.yaml is refused: %v", err)
	}
	if !slices.Equal(p.cfg.set.SecretScanExclude, DefaultSecretScanExclude) {
		t.Errorf("sample secret_scan_exclude %v, default %v", p.cfg.set.SecretScanExclude, DefaultSecretScanExclude)
	}
}

// TestReadmeShowsTheSample: the README's settings block is the embedded
// sample, so an operator copying either gets the same text.
func TestReadmeShowsTheSample(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "```yaml\n"+SampleConfig+"```") {
		t.Error("README.md's settings block is not sample.yaml as embedded (SampleConfig); copy one onto the other")
	}
}
