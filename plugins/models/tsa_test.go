package models

import (
	"os"
	"path/filepath"
	"testing"
)

func upstream(t testing.TB, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("testdata", "upstream", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// stagingTrust is the Sigstore staging instance's trust, as
// testdata/upstream/README.md says where it comes from.
func stagingTrust(t testing.TB, tsa bool) *trust {
	t.Helper()
	s := &Settings{RekorKeys: []string{upstream(t, "sigstore-staging-rekor-v2-log2025-alpha1.pub")},
		SigningCACerts:    []string{upstream(t, "sigstore-staging-fulcio.pem")},
		SigningIdentities: []string{"insecure-cloudtop-shared-user@cloudtop-prod-us-east.iam.gserviceaccount.com"}}
	if tsa {
		s.TimestampAuthorityCerts = []string{upstream(t, "sigstore-staging-tsa.pem")}
	}
	tr, fe := loadTrust(s)
	if len(fe) > 0 {
		t.Fatal(fe)
	}
	return tr
}

// runReal parses and verifies a bundle whose statement is not a model
// signature (SLSA provenance): the log, timestamp and certificate checks
// are called directly.
func runReal(t testing.TB, raw []byte, tr *trust) *sigView {
	t.Helper()
	v := parseSignature(raw, "/m/model.sig", "/m")
	if v.env == nil || len(v.env.tlog) != 1 {
		t.Fatalf("parsed: %+v", v)
	}
	v.Findings = nil
	v.verifyCert(tr)
	return v
}

// TestRealRekorV2Bundle verifies a bundle the Sigstore staging instance
// issued (testdata/upstream): a Rekor v2 dsse 0.0.2 entry with no SET, an
// inclusion proof of leaf 689 in a tree of 690 under a checkpoint signed
// with the log's Ed25519 key, and an RFC 3161 timestamp from the staging
// TSA, the only signed time, at which the ten-minute certificate must be
// valid.
func TestRealRekorV2Bundle(t *testing.T) {
	raw, err := os.ReadFile(upstream(t, "sigstore-python-dsse-rekor-v2.sigstore.json"))
	if err != nil {
		t.Fatal(err)
	}
	v := runReal(t, raw, stagingTrust(t, true))
	const want = "keyless:CN=sigstore-intermediate,O=sigstore.dev; Rekor v2 log f30d5a999d92e662; inclusion proof (tree size 690); RFC 3161 timestamp by sigstore-tsa at 2025-06-09T21:06:28Z"
	if !v.Verified || v.VerifiedBy != want {
		t.Fatalf("verified %v by %q: %q %v", v.Verified, v.VerifiedBy, v.Unverified, v.Findings)
	}
}
