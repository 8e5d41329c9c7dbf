package models

import (
	"os"
	"strings"
	"testing"
)

// TestReadmeShowsTheSample: the README's settings block says it is the
// embedded sample, so an operator copying either gets the same text.
func TestReadmeShowsTheSample(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "```yaml\n"+SampleConfig+"```") {
		t.Error("README.md's settings block is not sample.yaml as embedded (SampleConfig); copy one onto the other")
	}
}
