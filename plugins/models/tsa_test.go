package models

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/annexa/annexa/plugins/models/pickle"
	"github.com/annexa/annexa/plugins/sdk"
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

// stampedWith collects testdata/signed-keyless with model.sig replaced by
// a bundle of testdata/timestamp-variants, trusting the fixture Fulcio CA,
// both fixture logs (Rekor v1 ECDSA, Rekor v2 Ed25519) and tsaFiles.
func stampedWith(t *testing.T, variant string, tsaFiles ...string) Attributes {
	t.Helper()
	sig, err := os.ReadFile(filepath.Join("testdata", "timestamp-variants", variant+".sig"))
	if err != nil {
		t.Fatal(err)
	}
	root, dir := copyFolder(t, "signed-keyless")
	if err := os.WriteFile(filepath.Join(dir, "model.sig"), sig, 0o640); err != nil {
		t.Fatal(err)
	}
	settings := map[string]any{"roots": []string{root}, "signing_ca_certs": []string{trustFile(t, "keyless-ca.pem")},
		"rekor_keys":         []string{trustFile(t, "keyless-rekor.pub"), trustFile(t, "keyless-rekor-v2.pub")},
		"signing_identities": []string{"ml-release@example.org"}}
	if len(tsaFiles) > 0 {
		var paths []string
		for _, f := range tsaFiles {
			paths = append(paths, trustFile(t, f))
		}
		settings["timestamp_authority_certs"] = paths
	}
	return collectOne(t, configured(t, settings, t.TempDir()), sdk.Request{Full: true})["model.safetensors"]
}

// TestKeylessTimestamps: each bundle of testdata/timestamp-variants
// (make_fixtures.py signing_timestamp) against the fixture TSA. A
// timestamp dates the signature when the SET does not; when both are
// there, both must hold; a timestamp that is there and wrong is the
// finding signature.invalid, one from a TSA that is not trusted leaves
// the bundle unverified without a finding.
func TestKeylessTimestamps(t *testing.T) {
	const set = "keyless:CN=Annexa fixtures keyless CA; log "
	for _, c := range []struct {
		variant string
		tsa     []string
		// verifiedBy, when set, is a suffix of verified_by; else reason is
		// part of unverified_reason.
		verifiedBy, reason string
		finding            bool
	}{
		{"proof-and-timestamp", []string{"tsa.pem"}, "; inclusion proof (tree size 13); RFC 3161 timestamp by Annexa fixtures TSA at 2026-01-01T00:01:00Z", "", false},
		{"proof-and-timestamp-ess-v1", []string{"tsa.pem"}, "; inclusion proof (tree size 13); RFC 3161 timestamp by Annexa fixtures TSA at 2026-01-01T00:01:00Z", "", false},
		{"set-and-timestamp", []string{"tsa.pem"}, " at 2026-01-01T00:01:00Z; SET + inclusion proof (tree size 13); RFC 3161 timestamp by Annexa fixtures TSA at 2026-01-01T00:01:30Z", "", false},
		// The token leaves its certificate out: the operator's copy serves.
		{"proof-and-timestamp-no-cert", []string{"tsa-with-leaf.pem"}, "; RFC 3161 timestamp by Annexa fixtures TSA at 2026-01-01T00:01:00Z", "", false},
		{"proof-and-timestamp-no-cert", []string{"tsa.pem"}, "", "RFC 3161 timestamp 1: its TSA certificate is neither in the token nor in timestamp_authority_certs", false},
		{"proof-and-timestamp", nil, "", "RFC 3161 timestamp 1: it is signed by CN=Annexa fixtures TSA; trusting it needs that authority's certificates in timestamp_authority_certs", false},
		{"set-and-timestamp", nil, "", "trusting it needs that authority's certificates in timestamp_authority_certs", false},
		{"timestamp-wrong-tsa", []string{"tsa.pem"}, "", "its TSA certificate (CN=Annexa fixtures other TSA) does not chain to timestamp_authority_certs at its time 2026-01-01T00:01:00Z", false},
		{"timestamp-signer-not-tsa", []string{"tsa.pem"}, "", "is not for timestamping", false},
		{"timestamp-expired-certificate", []string{"tsa.pem"}, "", "the certificate does not chain to signing_ca_certs at the time of RFC 3161 timestamp 1 2026-01-01T00:30:00Z", false},
		{"set-and-expired-timestamp", []string{"tsa.pem"}, "", "the certificate does not chain to signing_ca_certs at the time of RFC 3161 timestamp 1 2026-01-01T00:30:00Z", false},
		{"timestamp-bad-imprint", []string{"tsa.pem"}, "", "RFC 3161 timestamp 1 is wrong: its message imprint is not the hash of the bundle's signature", true},
		{"set-and-bad-timestamp", []string{"tsa.pem"}, "", "RFC 3161 timestamp 1 is wrong: its message imprint", true},
		{"timestamp-attributes-altered", []string{"tsa.pem"}, "", "RFC 3161 timestamp 1 is wrong: the TSA's signature over it does not verify", true},
		{"timestamp-tstinfo-altered", []string{"tsa.pem"}, "", "RFC 3161 timestamp 1 is wrong: its signed message digest is not the TSTInfo's", true},
		{"timestamp-ess-other-certificate", []string{"tsa.pem"}, "", "its signing-certificate attribute names another certificate", true},
		// Rekor v2: no SET, an Ed25519 checkpoint, dated by the timestamp.
		{"rekor-v2", []string{"tsa.pem"}, "; inclusion proof (tree size 13); RFC 3161 timestamp by Annexa fixtures TSA at 2026-01-01T00:01:00Z", "", false},
		{"rekor-v2-no-timestamp", []string{"tsa.pem"}, "", "no signed entry timestamp and the bundle no RFC 3161 timestamp", false},
		{"rekor-v2-checkpoint-other-key", []string{"tsa.pem"}, "", "the checkpoint's signature \"log2026.rekor.example.org\" does not verify with", true},
		{"rekor-v2-checkpoint-size-mismatch", []string{"tsa.pem"}, "", "the checkpoint is of a tree of 14 entries, the inclusion proof of 13", true},
	} {
		t.Run(c.variant+"/"+strings.Join(c.tsa, ","), func(t *testing.T) {
			a := stampedWith(t, c.variant, c.tsa...)
			if a.Signature == nil {
				t.Fatalf("no signature: %s", dump(a))
			}
			if c.verifiedBy != "" {
				if !a.Signed || !strings.HasPrefix(a.Signature.VerifiedBy, set) && !strings.HasPrefix(a.Signature.VerifiedBy, "keyless:CN=Annexa fixtures keyless CA; Rekor v2 log ") ||
					!strings.HasSuffix(a.Signature.VerifiedBy, c.verifiedBy) || len(a.Findings) != 0 {
					t.Errorf("want verified by …%s: %s", c.verifiedBy, dump(a))
				}
				return
			}
			if a.Signed || a.Signature.Verified || !strings.Contains(a.Signature.UnverifiedReason, c.reason) ||
				hasRule(a.Analysis, "signature.invalid", pickle.High) != c.finding {
				t.Errorf("want unverified (%q, finding %v): %s", c.reason, c.finding, dump(a))
			}
		})
	}
}
