package report

import (
	"archive/zip"
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestBundle(t *testing.T) {
	r := realFleet(t)
	raw := writeFormat(t, "bundle", r)
	zr, err := zip.NewReader(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatalf("the bundle is not a zip: %v", err)
	}
	files := map[string][]byte{}
	var names []string
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		files[f.Name] = b
		names = append(names, f.Name)
	}
	want := []string{"README.txt", "report.json", "report.html", "statement-of-applicability.csv",
		"oscal-assessment-results.json", "ml-bom.cdx.json", "evidence.jsonl", "SHA256SUMS"}
	if !slices.Equal(names, want) {
		t.Fatalf("bundle files = %v, want %v", names, want)
	}

	// Recompute the manifest: it names every other file, once, with its
	// SHA-256.
	listed := map[string]string{}
	for _, line := range strings.Split(strings.TrimSuffix(string(files[ManifestFile]), "\n"), "\n") {
		sum, name, ok := strings.Cut(line, "  ")
		if !ok {
			t.Fatalf("manifest line %q is not in sha256sum form", line)
		}
		if _, dup := listed[name]; dup {
			t.Errorf("%s listed twice", name)
		}
		listed[name] = sum
	}
	for _, name := range names {
		if name == ManifestFile {
			continue
		}
		got := sha256.Sum256(files[name])
		if listed[name] != hex.EncodeToString(got[:]) {
			t.Errorf("%s: manifest says %q, content hashes to %x", name, listed[name], got)
		}
	}
	if len(listed) != len(names)-1 {
		t.Errorf("manifest lists %d files, the bundle has %d besides it", len(listed), len(names)-1)
	}
	// The tool an auditor uses agrees.
	dir := t.TempDir()
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("sha256sum", "--strict", "-c", ManifestFile)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("sha256sum -c: %v\n%s", err, out)
	}
	// A changed file is caught.
	if err := os.WriteFile(filepath.Join(dir, "evidence.jsonl"), []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd = exec.Command("sha256sum", "-c", ManifestFile)
	cmd.Dir = dir
	if err := cmd.Run(); err == nil {
		t.Error("sha256sum -c accepted a changed evidence file")
	}

	// Each report in the bundle is the format's own export.
	for _, f := range BundleFiles {
		if !bytes.Equal(files[f.Name], writeFormat(t, f.Format, r)) {
			t.Errorf("%s differs from the %s export", f.Name, f.Format)
		}
	}
	if err := validate(t, oscalSchema(t), files["oscal-assessment-results.json"]); err != nil {
		t.Errorf("bundled OSCAL: %v", err)
	}
	if err := validate(t, cyclonedxSchema(t), files["ml-bom.cdx.json"]); err != nil {
		t.Errorf("bundled CycloneDX: %v", err)
	}

	// The evidence: every live record once, of every kind, with the
	// (agent, seq) the OSCAL observations point at.
	sc := bufio.NewScanner(bytes.NewReader(files[EvidenceFile]))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	kinds := map[string]int{}
	seen := map[[2]any]bool{}
	n := 0
	for sc.Scan() {
		var rec Record
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("evidence line %d: %v", n+1, err)
		}
		if rec.AgentID == "" || rec.Seq == 0 || rec.ObservedAt.IsZero() || len(rec.Attributes) == 0 {
			t.Errorf("evidence line %d is incomplete: %s", n+1, sc.Bytes())
		}
		k := [2]any{rec.AgentID, rec.Seq}
		if seen[k] {
			t.Errorf("record %v twice", k)
		}
		seen[k] = true
		kinds[rec.Kind]++
		n++
	}
	if n != len(r.Records) {
		t.Errorf("%d evidence lines for %d records", n, len(r.Records))
	}
	for _, k := range allKinds {
		if kinds[k] != r.EvidenceCounts[k] {
			t.Errorf("%s: %d lines, report counts %d", k, kinds[k], r.EvidenceCounts[k])
		}
	}
	if !bytes.Equal(raw, writeFormat(t, "bundle", r)) {
		t.Error("two bundles of one report differ")
	}
}
