package models

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
		{"proof-and-timestamp-rsa", []string{"tsa.pem"}, "; inclusion proof (tree size 13); RFC 3161 timestamp by Annexa fixtures RSA TSA at 2026-01-01T00:01:00Z", "", false},
		{"set-and-timestamp", []string{"tsa.pem"}, " at 2026-01-01T00:01:00Z; SET + inclusion proof (tree size 13); RFC 3161 timestamp by Annexa fixtures TSA at 2026-01-01T00:01:30Z", "", false},
		// The token leaves its certificate out: the operator's copy serves.
		{"proof-and-timestamp-no-cert", []string{"tsa-with-leaf.pem"}, "; RFC 3161 timestamp by Annexa fixtures TSA at 2026-01-01T00:01:00Z", "", false},
		{"proof-and-timestamp-no-cert", []string{"tsa.pem"}, "", "RFC 3161 timestamp 1: its TSA certificate is neither in the token nor in timestamp_authority_certs", false},
		{"proof-and-timestamp", nil, "", "RFC 3161 timestamp 1: it is signed by CN=Annexa fixtures TSA; trusting it needs that authority's certificates in timestamp_authority_certs", false},
		{"set-and-timestamp", nil, "", "trusting it needs that authority's certificates in timestamp_authority_certs", false},
		{"timestamp-wrong-tsa", []string{"tsa.pem"}, "", "its TSA certificate (CN=Annexa fixtures other TSA) does not chain to timestamp_authority_certs at its time 2026-01-01T00:01:00Z", false},
		{"timestamp-signer-not-tsa", []string{"tsa.pem"}, "", "is not for timestamping", false},
		// 15,000 certificate-set entries that are not certificates are
		// skipped (bounded by the 32 KiB a timestamp may take); a tenth
		// certificate is refused.
		{"timestamp-skipped-entries", []string{"tsa.pem"}, "; RFC 3161 timestamp by Annexa fixtures TSA at 2026-01-01T00:01:00Z", "", false},
		{"timestamp-nine-certificates", []string{"tsa.pem"}, "", "RFC 3161 timestamp 1 is wrong: it carries more than 8 certificates", true},
		{"timestamp-tsa-not-yet-valid", []string{"tsa.pem"}, "", "its TSA certificate (CN=Annexa fixtures late TSA) does not chain to timestamp_authority_certs at its time 2026-01-01T00:01:00Z", false},
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
		{"rekor-v2-other-signature", []string{"tsa.pem"}, "", "the log entry lists another signature or certificate", true},
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

// TestKeylessRekorV2Entry: a Rekor v2 entry belongs to the Ed25519 log
// whose signed-note key ID it names, and only to it; and it must be of
// this payload.
func TestKeylessRekorV2Entry(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "timestamp-variants", "rekor-v2.sig"))
	if err != nil {
		t.Fatal(err)
	}
	root, dir := copyFolder(t, "signed-keyless")
	sig := filepath.Join(dir, "model.sig")
	os.WriteFile(sig, raw, 0o640)
	settings := map[string]any{"roots": []string{root}, "signing_ca_certs": []string{trustFile(t, "keyless-ca.pem")},
		"rekor_keys":                []string{upstream(t, "sigstore-staging-rekor-v2-log2025-alpha1.pub"), trustFile(t, "keyless-rekor.pub")},
		"timestamp_authority_certs": []string{trustFile(t, "tsa.pem")}, "signing_identities": []string{"ml-release@example.org"}}
	a := collectOne(t, configured(t, settings, t.TempDir()), sdk.Request{Full: true})["model.safetensors"]
	if a.Signed || !strings.Contains(a.Signature.UnverifiedReason, "no entry of a transparency log in rekor_keys") || hasRule(a.Analysis, "signature.invalid", pickle.High) {
		t.Errorf("another Ed25519 log: %s", dump(a))
	}
	settings["rekor_keys"] = []string{trustFile(t, "keyless-rekor-v2.pub")}
	// A Rekor v2 entry with a SET (Rekor v2 issues none), or more
	// timestamps than are read.
	var b map[string]any
	for name, c := range map[string]struct {
		edit    func(vm map[string]any)
		reason  string
		finding bool
	}{
		"v2 with a SET": {func(vm map[string]any) {
			vm["tlogEntries"].([]any)[0].(map[string]any)["inclusionPromise"] = map[string]any{"signedEntryTimestamp": "MEUCIQ=="}
		}, "carries a signed entry timestamp, which Rekor v2 does not issue", true},
		"nine timestamps": {func(vm map[string]any) {
			td := vm["timestampVerificationData"].(map[string]any)
			one := td["rfc3161Timestamps"].([]any)[0]
			td["rfc3161Timestamps"] = []any{one, one, one, one, one, one, one, one, one}
		}, "has 9 RFC 3161 timestamps, more than 8", false},
		"junk timestamp": {func(vm map[string]any) {
			vm["timestampVerificationData"].(map[string]any)["rfc3161Timestamps"] = []any{map[string]any{"signedTimestamp": "MAUwAwIBAA=="}}
		}, "RFC 3161 timestamp 1 is wrong: it carries no timestamp token", true},
	} {
		if err := json.Unmarshal(raw, &b); err != nil {
			t.Fatal(err)
		}
		c.edit(b["verificationMaterial"].(map[string]any))
		edited, _ := json.Marshal(b)
		os.WriteFile(sig, edited, 0o640)
		a = collectOne(t, configured(t, settings, t.TempDir()), sdk.Request{Full: true})["model.safetensors"]
		if a.Signed || !strings.Contains(a.Signature.UnverifiedReason, c.reason) || hasRule(a.Analysis, "signature.invalid", pickle.High) != c.finding {
			t.Errorf("%s: %s", name, dump(a))
		}
	}
	// The statement swapped: the entry names the old payload.
	os.WriteFile(sig, raw, 0o640)
	tamper(t, sig)
	a = collectOne(t, configured(t, settings, t.TempDir()), sdk.Request{Full: true})["model.safetensors"]
	if a.Signed || !strings.Contains(a.Signature.UnverifiedReason, "the log entry is for another payload") || !hasRule(a.Analysis, "signature.invalid", pickle.High) {
		t.Errorf("swapped statement: %s", dump(a))
	}
}

// TestEd25519Checkpoint: a Rekor v2 checkpoint verifies only under the
// signed-note key ID of the log's key and the checkpoint's origin as its
// name (c2sp.org/signed-note), and only by a line of that name.
func TestEd25519Checkpoint(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	log := trustKey{path: "/etc/annexa/rekor-v2.pub", ed: pub, logID: []byte{1, 2, 3, 4}}
	text := "log.example.org\n42\n" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32)) + "\n"
	line := func(name string, id []byte, msg string) string {
		return "— " + name + " " + base64.StdEncoding.EncodeToString(append(id[:4:4], ed25519.Sign(priv, []byte(msg))...)) + "\n"
	}
	id := noteKeyID("log.example.org", pub)
	for _, c := range []struct {
		note, want string
	}{
		{text + "\n" + line("log.example.org", id, text), ""},
		// The key ID of another name, or the right ID under another name.
		{text + "\n" + line("log.example.org", noteKeyID("other.example.org", pub), text), "not signed by"},
		{text + "\n" + line("other.example.org", id, text), "not signed by"},
		// The right line over another text.
		{text + "\n" + line("log.example.org", id, "log.example.org\n43\n"), "does not verify"},
	} {
		cp, err := parseCheckpoint(c.note)
		if err != nil {
			t.Fatal(err)
		}
		err = verifyCheckpoint(cp, log)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%q: %v, want %q", c.note, err, c.want)
		}
	}
	// The real staging log's ID is this rule applied to its key and name.
	tr := stagingTrust(t, false)
	want, _ := base64.StdEncoding.DecodeString("8w1amZ2S5mJIQkQmPxdMuOrL/oJkvFg9MnQXmeOCXck=")
	if got := noteKeyID("log2025-alpha1.rekor.sigstage.dev", tr.logs[0].ed); !bytes.Equal(got, want) {
		t.Errorf("staging log ID %x, the bundle names %x", got, want)
	}
}

// TestParseTimestampRefuses: what the DER reader refuses, each with a
// reason an operator can act on.
func TestParseTimestampRefuses(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "timestamp-variants", "proof-and-timestamp.sig"))
	if err != nil {
		t.Fatal(err)
	}
	var b bundleJSON
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatal(err)
	}
	good := b.VerificationMaterial.TimestampVerificationData.RFC3161Timestamps[0].SignedTimestamp
	if _, err := parseTimestamp(good); err != nil {
		t.Fatal(err)
	}
	sha256OID := []byte{0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01}
	// The second SHA-256 of the token is the message imprint's (the first
	// is SignedData's list of digest algorithms).
	i := bytes.Index(good, sha256OID)
	j := i + 1 + bytes.Index(good[i+1:], sha256OID)
	unknownHash := bytes.Clone(good)
	unknownHash[j+len(sha256OID)-1] = 0x09
	sha512 := bytes.Clone(good)
	sha512[j+len(sha256OID)-1] = 0x03
	for name, c := range map[string]struct {
		der  []byte
		want string
	}{
		"too large":      {make([]byte, maxTimestampBytes+1), "is 32769 bytes, more than 32768"},
		"refused":        {[]byte{0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x02}, "is the timestamp authority's refusal (status 2)"},
		"no token":       {[]byte{0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x00}, "carries no timestamp token"},
		"trailing bytes": {append(bytes.Clone(good), 0), "is not a DER RFC 3161 TimeStampResp"},
		"truncated":      {good[:len(good)-1], "is not a DER RFC 3161 TimeStampResp"},
		"length beyond":  {[]byte{0x30, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x30, 0x03, 0x02, 0x01, 0x00}, "is not a DER RFC 3161 TimeStampResp"},
		"indefinite":     {[]byte{0x30, 0x80, 0x30, 0x03, 0x02, 0x01, 0x00, 0x00, 0x00}, "is not a DER RFC 3161 TimeStampResp"},
		"unknown hash":   {unknownHash, "uses the hash 2.16.840.1.101.3.4.2.9; only SHA-256, SHA-384 and SHA-512"},
		"imprint size":   {sha512, "has a 32-byte message imprint for a 64-byte hash"},
	} {
		if _, err := parseTimestamp(c.der); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
	for in, want := range map[string]string{
		"20260101000130Z":       "2026-01-01T00:01:30Z",
		"20260101000130.25Z":    "2026-01-01T00:01:30.25Z",
		"20260101000130":        "",
		"20260101000130+0100":   "",
		"2026010100013Z":        "",
		"20261301000130Z":       "",
		"20260101000130.x5Z":    "",
		"20260101000130.12345Z": "2026-01-01T00:01:30.12345Z",
	} {
		got, err := parseGeneralizedTime(in)
		if want == "" && err == nil || want != "" && (err != nil || got.Format(time.RFC3339Nano) != want) {
			t.Errorf("%q: %v %v, want %q", in, got, err, want)
		}
	}
}

// TestRealLateTimestamp reads a real staging bundle (testdata/upstream)
// whose RFC 3161 timestamp came after its ten-minute certificate expired,
// while its SET is inside it (sigstore-python's test of a late
// timestamp). It signs a message, not a DSSE envelope, so the timestamp
// check is called directly: the staging TSA's token, with its
// certificate inside, verifies against the message signature and no
// other, and dates it after the certificate's end, the time keyless
// verification (which needs the certificate valid at every signed time)
// would then check the chain at and fail.
func TestRealLateTimestamp(t *testing.T) {
	raw, err := os.ReadFile(upstream(t, "sigstore-python-late-timestamp.sigstore.json"))
	if err != nil {
		t.Fatal(err)
	}
	var b struct {
		bundleJSON
		MessageSignature struct {
			Signature []byte `json:"signature"`
		} `json:"messageSignature"`
	}
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatal(err)
	}
	tok, err := parseTimestamp(b.VerificationMaterial.TimestampVerificationData.RFC3161Timestamps[0].SignedTimestamp)
	if err != nil {
		t.Fatal(err)
	}
	tr := stagingTrust(t, true)
	tsa, err := tok.verify(b.MessageSignature.Signature, tr.tsa)
	if err != nil || tsa.Subject.CommonName != "sigstore-tsa" || !tok.genTime.Equal(time.Date(2025, 5, 12, 19, 0, 27, 0, time.UTC)) {
		t.Fatalf("real timestamp: %v %v", err, tok.genTime)
	}
	if _, err := tok.verify(append(bytes.Clone(b.MessageSignature.Signature), 0), tr.tsa); err == nil || errors.Is(err, errTSAUntrusted) {
		t.Errorf("another signature: %v", err)
	}
	leaf, err := x509.ParseCertificate(b.VerificationMaterial.Certificate.RawBytes)
	if err != nil {
		t.Fatal(err)
	}
	integrated, _ := protoInt(b.VerificationMaterial.TlogEntries[0].IntegratedTime)
	if at := time.Unix(integrated, 0); at.Before(leaf.NotBefore) || at.After(leaf.NotAfter) || !tok.genTime.After(leaf.NotAfter) {
		t.Errorf("certificate valid %s to %s, logged %s, timestamped %s", leaf.NotBefore, leaf.NotAfter, at.UTC(), tok.genTime)
	}
}

// TestTrustSettings: timestamp_authority_certs needs a CA certificate,
// and rekor_keys takes ECDSA and Ed25519 keys but no others; each refusal
// names the entry and says what to give.
func TestTrustSettings(t *testing.T) {
	dir := t.TempDir()
	certs, err := readCerts(trustFile(t, "tsa-with-leaf.pem"))
	if err != nil || len(certs) != 2 || certs[0].IsCA || !certs[1].IsCA {
		t.Fatalf("tsa-with-leaf.pem: %v", err)
	}
	leafOnly := filepath.Join(dir, "leaf.pem")
	os.WriteFile(leafOnly, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certs[0].Raw}), 0o600)
	_, fe := loadTrust(&Settings{TimestampAuthorityCerts: []string{leafOnly}})
	if len(fe) != 1 || fe[0].Field != "timestamp_authority_certs" || !strings.Contains(fe[0].Message, "holds no CA certificate") {
		t.Errorf("leaf only: %v", fe)
	}
	_, fe = loadTrust(&Settings{TimestampAuthorityCerts: []string{filepath.Join(dir, "missing.pem")}})
	if len(fe) != 1 || fe[0].Field != "timestamp_authority_certs[0]" {
		t.Errorf("missing file: %v", fe)
	}
	tr, fe := loadTrust(&Settings{TimestampAuthorityCerts: []string{trustFile(t, "tsa-with-leaf.pem")}})
	if len(fe) != 0 || tr.tsa == nil || len(tr.tsa.leaves) != 1 || tr.tsa.roots == nil {
		t.Errorf("root and leaf: %v %+v", fe, tr.tsa)
	}

	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	rsaPub := filepath.Join(dir, "rsa.pub")
	os.WriteFile(rsaPub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600)
	_, fe = loadTrust(&Settings{RekorKeys: []string{trustFile(t, "keyless-rekor.pub"), rsaPub, trustFile(t, "keyless-rekor-v2.pub")}})
	if len(fe) != 1 || fe[0].Field != "rekor_keys[1]" || !strings.Contains(fe[0].Message, "ECDSA (P-256, P-384, P-521) or Ed25519") {
		t.Errorf("RSA log key: %v", fe)
	}
	// An Ed25519 key signs no model (signing_keys stay ECDSA).
	_, fe = loadTrust(&Settings{SigningKeys: []string{trustFile(t, "keyless-rekor-v2.pub")}})
	if len(fe) != 1 || fe[0].Field != "signing_keys[0]" {
		t.Errorf("Ed25519 signing key: %v", fe)
	}
}
