package main

import (
	"archive/zip"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/annexa/annexa/collector/internal/report"
)

// Every registered format is reachable from the command line and lands in
// --out whole.
func TestReportEveryFormat(t *testing.T) {
	data := t.TempDir()
	if _, errs, code := cli(t, "token", "create", "--data", data); code != 0 {
		t.Fatalf("token create: %s", errs)
	}
	starts := map[string]string{
		"json": "{\n  \"generated_at\"", "summary": "controls: ", "html": "<!DOCTYPE html>",
		"csv": "control_id,framework,title", "oscal": "{\n  \"assessment-results\"", "cyclonedx": "{\n  \"$schema\": \"http://cyclonedx.org/schema/bom-1.6.schema.json\"",
		"bundle": "PK\x03\x04",
	}
	for _, f := range report.Formats() {
		want, ok := starts[f]
		if !ok {
			t.Errorf("format %s has no case here", f)
			continue
		}
		out := filepath.Join(t.TempDir(), "report."+f)
		if _, errs, code := cli(t, "report", "--data", data, "--format", f, "--out", out); code != 0 {
			t.Errorf("report --format %s = %d %s", f, code, errs)
			continue
		}
		b, err := os.ReadFile(out)
		if err != nil || !strings.HasPrefix(string(b), want) {
			t.Errorf("report --format %s wrote %.60q (%v), want it to start with %q", f, b, err, want)
		}
		if f == "bundle" {
			if _, err := zip.NewReader(bytes.NewReader(b), int64(len(b))); err != nil {
				t.Errorf("bundle is not a whole zip: %v", err)
			}
		}
	}
}
