package report

import (
	"archive/zip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// The bundle format is a zip for an auditor: the report in every format,
// the evidence it rests on as JSON lines, and a SHA-256 manifest of every
// file in the form `sha256sum -c` reads. It streams: nothing is held in
// memory beyond one record, so a large fleet's bundle costs no more RAM
// than a small one's.
func init() {
	RegisterFormat("bundle", writeBundle)
}

// ManifestFile is the bundle's SHA-256 manifest.
const ManifestFile = "SHA256SUMS"

// BundleFiles maps each file of the bundle to the format that renders it,
// in the order they are written; evidence.jsonl and the manifest follow.
var BundleFiles = []struct{ Name, Format string }{
	{"report.json", "json"},
	{"report.html", "html"},
	{"statement-of-applicability.csv", "csv"},
	{"oscal-assessment-results.json", "oscal"},
	{"ml-bom.cdx.json", "cyclonedx"},
}

const bundleReadme = `Annexa evidence bundle

report.json                     the compliance report (docs/report.md)
report.html                     the same, as a page to read or print
statement-of-applicability.csv  one row per control
oscal-assessment-results.json   OSCAL 1.1.3 assessment results
ml-bom.cdx.json                 CycloneDX 1.6 ML-BOM of the models and datasets
evidence.jsonl                  every live evidence record the report rests on, one JSON object a line
SHA256SUMS                      SHA-256 of every other file: check with  sha256sum -c SHA256SUMS

Generated %s from catalog %s.
`

func writeBundle(w io.Writer, r *Report) error {
	zw := zip.NewWriter(w)
	var manifest strings.Builder
	add := func(name string, write func(io.Writer) error) error {
		// A fixed time makes the same report give the same zip.
		f, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: r.GeneratedAt})
		if err != nil {
			return fmt.Errorf("bundle %s: %w", name, err)
		}
		h := sha256.New()
		if err := write(io.MultiWriter(f, h)); err != nil {
			return fmt.Errorf("bundle %s: %w", name, err)
		}
		fmt.Fprintf(&manifest, "%s  %s\n", hex.EncodeToString(h.Sum(nil)), name)
		return nil
	}
	err := add("README.txt", func(w io.Writer) error {
		_, err := fmt.Fprintf(w, bundleReadme, oscalTime(r.GeneratedAt), r.CatalogVersion)
		return err
	})
	if err != nil {
		return err
	}
	for _, f := range BundleFiles {
		if err := add(f.Name, func(w io.Writer) error { return Write(w, f.Format, r) }); err != nil {
			return err
		}
	}
	if err := add(EvidenceFile, func(w io.Writer) error { return writeEvidence(w, r) }); err != nil {
		return err
	}
	if err := add(ManifestFile, func(w io.Writer) error {
		_, err := io.WriteString(w, manifest.String())
		return err
	}); err != nil {
		return err
	}
	return zw.Close()
}

// writeEvidence writes every live record as one JSON line, in the
// report's order (agent, kind, subject). (agent_id, seq) names a record:
// the OSCAL observations and the JSON report's evidence refer to it so.
func writeEvidence(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	for i := range r.Records {
		if err := enc.Encode(&r.Records[i]); err != nil {
			return err
		}
	}
	return nil
}
