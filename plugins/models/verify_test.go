package models

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/annexa/annexa/plugins/models/pickle"
	"github.com/annexa/annexa/plugins/sdk"
)

// copyFolder copies testdata/<name> under a fresh root as root/tiny.
func copyFolder(t *testing.T, name string) (root, dir string) {
	t.Helper()
	root = t.TempDir()
	dir = filepath.Join(root, "tiny")
	os.MkdirAll(dir, 0o750)
	for _, n := range []string{"model.safetensors", "config.json", "model.sig"} {
		b, err := os.ReadFile(filepath.Join("testdata", name, n))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, n), b, 0o640)
	}
	return root, dir
}

func trustFile(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("testdata", "trust", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func dump(a Attributes) string {
	b, _ := json.Marshal(a)
	return string(b)
}

// TestKeySignature: a bundle signed by model_signing's key method
// verifies with the configured public key, and only then is the model
// signed; another key leaves it unverified (saying why), and an altered
// statement under the named key is a finding.
func TestKeySignature(t *testing.T) {
	root, dir := copyFolder(t, "signed-key")
	key := trustFile(t, "model-signing.pub")

	p := configured(t, map[string]any{"roots": []string{root}, "signing_keys": []string{key}}, t.TempDir())
	a := collectOne(t, p, sdk.Request{Full: true})["model.safetensors"]
	if !a.Signed || a.SignedBy != "key:"+key || a.Signature == nil || !a.Signature.Verified ||
		a.Signature.VerifiedBy != "key:"+key || !a.Signature.DigestsMatch || len(a.Findings) != 0 {
		t.Fatalf("key-signed model: %s", dump(a))
	}

	// Verified, but a listed file drifted: not signed any more.
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{}`), 0o640)
	a = collectOne(t, p, sdk.Request{Full: true})["model.safetensors"]
	if a.Signed || !a.Signature.Verified || a.Signature.DigestsMatch || !hasRule(a.Analysis, "signature.digest_mismatch", pickle.High) {
		t.Errorf("drifted: %s", dump(a))
	}

	// No key configured, or a key the bundle does not name.
	for name, settings := range map[string]map[string]any{
		"no keys":   {"roots": []string{root}},
		"other key": {"roots": []string{root}, "signing_keys": []string{trustFile(t, "other.pub")}},
	} {
		a := collectOne(t, configured(t, settings, t.TempDir()), sdk.Request{Full: true})["model.safetensors"]
		if a.Signed || a.Signature.Verified || !strings.Contains(a.Signature.UnverifiedReason, "signing_keys") || hasRule(a.Analysis, "signature.invalid", pickle.High) {
			t.Errorf("%s: %s", name, dump(a))
		}
	}
}

// tamper rewrites one byte of the signed statement in a bundle file.
func tamper(t *testing.T, sig string) {
	t.Helper()
	raw, _ := os.ReadFile(sig)
	var b map[string]any
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatal(err)
	}
	env := b["dsseEnvelope"].(map[string]any)
	payload, _ := base64.StdEncoding.DecodeString(env["payload"].(string))
	edited := strings.Replace(string(payload), `"signed-`, `"Signed-`, 1)
	if edited == string(payload) {
		t.Fatal("fixture payload changed shape")
	}
	env["payload"] = base64.StdEncoding.EncodeToString([]byte(edited))
	raw, _ = json.Marshal(b)
	os.WriteFile(sig, raw, 0o640)
}

func TestSignatureAltered(t *testing.T) {
	for _, c := range []struct{ folder, setting, trust string }{
		{"signed-key", "signing_keys", "model-signing.pub"},
		{"signed-cert", "signing_ca_certs", "ca.pem"},
	} {
		root, dir := copyFolder(t, c.folder)
		tamper(t, filepath.Join(dir, "model.sig"))
		p := configured(t, map[string]any{"roots": []string{root}, c.setting: []string{trustFile(t, c.trust)}}, t.TempDir())
		a := collectOne(t, p, sdk.Request{Full: true})["model.safetensors"]
		if a.Signed || a.Signature.Verified || !hasRule(a.Analysis, "signature.invalid", pickle.High) || !a.Unsafe {
			t.Errorf("%s altered: %s", c.folder, dump(a))
		}
	}
}

// TestCertificateSignature: model_signing's certificate method verifies
// when the chain leads to a configured CA.
func TestCertificateSignature(t *testing.T) {
	root, _ := copyFolder(t, "signed-cert")
	ca := trustFile(t, "ca.pem")
	a := collectOne(t, configured(t, map[string]any{"roots": []string{root}, "signing_ca_certs": []string{ca}}, t.TempDir()), sdk.Request{Full: true})["model.safetensors"]
	if !a.Signed || a.SignedBy != "ml-release@example.org" || !strings.HasPrefix(a.Signature.VerifiedBy, "ca:CN=Annexa fixtures root CA") {
		t.Fatalf("certificate-signed model: %s", dump(a))
	}
	a = collectOne(t, configured(t, map[string]any{"roots": []string{root}}, t.TempDir()), sdk.Request{Full: true})["model.safetensors"]
	if a.Signed || !strings.Contains(a.Signature.UnverifiedReason, "no signing_ca_certs") {
		t.Errorf("without a CA: %s", dump(a))
	}
	// A CA may certify many people: signing_identities narrows it down.
	for ids, want := range map[string]bool{"ml-release@example.org": true, "someone@example.org": false} {
		p := configured(t, map[string]any{"roots": []string{root}, "signing_ca_certs": []string{ca}, "signing_identities": []string{ids}}, t.TempDir())
		a = collectOne(t, p, sdk.Request{Full: true})["model.safetensors"]
		if a.Signed != want || (!want && !strings.Contains(a.Signature.UnverifiedReason, "not one of signing_identities")) {
			t.Errorf("signing_identities %s: %s", ids, dump(a))
		}
	}
	// The self-signed certificate of testdata/signed does not chain to it.
	root, _ = signedTree(t)
	a = collectOne(t, configured(t, map[string]any{"roots": []string{root}, "signing_ca_certs": []string{ca}}, t.TempDir()), sdk.Request{Full: true})["model.safetensors"]
	if a.Signed || !strings.Contains(a.Signature.UnverifiedReason, "does not chain") || hasRule(a.Analysis, "signature.invalid", pickle.High) {
		t.Errorf("foreign certificate: %s", dump(a))
	}
}

func TestTrustSettingErrors(t *testing.T) {
	root := t.TempDir()
	notKey := filepath.Join(root, "x.pem")
	os.WriteFile(notKey, []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), 0o600)
	for _, c := range []struct {
		settings map[string]any
		field    string
	}{
		{map[string]any{"signing_keys": []string{"rel.pub"}}, "signing_keys[0]"},
		{map[string]any{"signing_keys": []string{filepath.Join(root, "missing.pub")}}, "signing_keys[0]"},
		{map[string]any{"signing_keys": []string{notKey}}, "signing_keys[0]"},
		{map[string]any{"signing_ca_certs": []string{trustFile(t, "model-signing.pub")}}, "signing_ca_certs[0]"},
		{map[string]any{"signing_identities": []string{"a@example.org"}}, "signing_identities"},
		{map[string]any{"rekor_keys": []string{trustFile(t, "ca.pem")}}, "rekor_keys[0]"},
		{map[string]any{"signing_ca_certs": []string{trustFile(t, "ca.pem")}, "signing_identities": []string{" "}}, "signing_identities[0]"},
	} {
		c.settings["roots"] = []string{root}
		raw, _ := json.Marshal(c.settings)
		_, err := New().Configure(t.Context(), sdk.Config{Raw: raw})
		var fe sdk.FieldErrors
		if !errors.As(err, &fe) || fe[0].Field != c.field {
			t.Errorf("%s: %v", raw, err)
		}
	}
}

// TestRealModelSigningBundle verifies bundles the real model_signing 1.1.0
// and 0.2.0 wrote (testdata/upstream): ECDSA P-384 with SHA-384 over the
// DSSE encoding, the signing certificate chaining to its intermediate CA.
func TestRealModelSigningBundle(t *testing.T) {
	for _, c := range []struct{ file, predicate string }{
		{"model_signing-v1.1.0-certificate.sig", predicateV1},
		// model_signing 0.2 signed a different encoding by mistake.
		{"model_signing-v0.2.0-certificate.sig", predicateCompat},
	} {
		t.Run(c.file, func(t *testing.T) { realBundle(t, c.file, c.predicate) })
	}
}

func realBundle(t *testing.T, file, predicate string) {
	raw, err := os.ReadFile(filepath.Join("testdata", "upstream", file))
	if err != nil {
		t.Fatal(err)
	}
	v := parseSignature(raw, "/m/model.sig", "/m")
	if len(v.Findings) != 0 || v.Predicate != predicate || len(v.digests) != 2 || v.env == nil || len(v.env.certs) != 2 {
		t.Fatalf("parsed: findings %v predicate %q digests %v", v.Findings, v.Predicate, v.digests)
	}
	// Trust the intermediate, the last certificate the bundle carries.
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: v.env.certs[1]}), 0o600)
	tr, fe := loadTrust(&Settings{SigningCACerts: []string{ca}})
	if len(fe) > 0 {
		t.Fatal(fe)
	}
	v.verify(tr)
	if !v.Verified || v.VerifiedBy != "ca:CN=intermediate-ca" {
		t.Fatalf("real bundle not verified: %q", v.Unverified)
	}
	// Without the CA: unverified, and said why.
	v = parseSignature(raw, "/m/model.sig", "/m")
	v.verify(&trust{})
	if v.Verified || !strings.Contains(v.Unverified, "no signing_ca_certs") {
		t.Errorf("without a CA: %q", v.Unverified)
	}
	// One byte of the statement changed: the real signature no longer holds.
	v = parseSignature(raw, "/m/model.sig", "/m")
	v.env.payload = bytes.Replace(v.env.payload, []byte("signme-2"), []byte("signme-X"), 1)
	v.verify(tr)
	if v.Verified || !slices.ContainsFunc(v.Findings, func(f pickle.Finding) bool { return f.Rule == "signature.invalid" }) {
		t.Errorf("altered statement verified: %q %v", v.Unverified, v.Findings)
	}
}

// TestKeylessSignature: a Sigstore keyless bundle verifies offline only
// with the Fulcio CA, the Rekor key and the allowed signers all trusted;
// each missing piece is named, and a log entry that was altered or belongs
// to another signature is a finding.
func TestKeylessSignature(t *testing.T) {
	root, dir := copyFolder(t, "signed-keyless")
	full := map[string]any{"roots": []string{root}, "signing_ca_certs": []string{trustFile(t, "keyless-ca.pem")},
		"rekor_keys": []string{trustFile(t, "keyless-rekor.pub")}, "signing_identities": []string{"ml-release@example.org"}}
	a := collectOne(t, configured(t, full, t.TempDir()), sdk.Request{Full: true})["model.safetensors"]
	if !a.Signed || a.SignedBy != "ml-release@example.org" || a.Signature.Issuer != "https://accounts.example.org" ||
		!strings.HasPrefix(a.Signature.VerifiedBy, "keyless:CN=Annexa fixtures keyless CA; log ") || !strings.HasSuffix(a.Signature.VerifiedBy, "at 2026-01-01T00:01:00Z; SET + inclusion proof (tree size 13)") {
		t.Fatalf("keyless: %s", dump(a))
	}
	without := func(key string, v any) map[string]any {
		m := map[string]any{}
		for k, x := range full {
			m[k] = x
		}
		if v == nil {
			delete(m, key)
		} else {
			m[key] = v
		}
		return m
	}
	for name, c := range map[string]struct {
		settings map[string]any
		reason   string
	}{
		"no CA":        {map[string]any{"roots": []string{root}, "rekor_keys": full["rekor_keys"]}, "needs the Fulcio CA"},
		"no signers":   {without("signing_identities", nil), "needs signing_identities"},
		"no log key":   {without("rekor_keys", nil), "rekor_keys"},
		"other log":    {without("rekor_keys", []string{trustFile(t, "other.pub")}), "no entry of a transparency log in rekor_keys"},
		"other signer": {without("signing_identities", []string{"someone@example.org"}), "not one of signing_identities"},
		"other CA":     {without("signing_ca_certs", []string{trustFile(t, "ca.pem")}), "does not chain to signing_ca_certs at the logged time"},
	} {
		a := collectOne(t, configured(t, c.settings, t.TempDir()), sdk.Request{Full: true})["model.safetensors"]
		if a.Signed || a.Signature.Verified || !strings.Contains(a.Signature.UnverifiedReason, c.reason) || hasRule(a.Analysis, "signature.invalid", pickle.High) {
			t.Errorf("%s: %s", name, dump(a))
		}
	}

	// The log entry's time moved (to make an expired certificate look
	// valid): its promise no longer verifies.
	sig := filepath.Join(dir, "model.sig")
	orig, _ := os.ReadFile(sig)
	var b map[string]any
	json.Unmarshal(orig, &b)
	entry := b["verificationMaterial"].(map[string]any)["tlogEntries"].([]any)[0].(map[string]any)
	entry["integratedTime"] = "1767225630"
	moved, _ := json.Marshal(b)
	os.WriteFile(sig, moved, 0o640)
	a = collectOne(t, configured(t, full, t.TempDir()), sdk.Request{Full: true})["model.safetensors"]
	if a.Signed || !hasRule(a.Analysis, "signature.invalid", pickle.High) || !strings.Contains(a.Signature.UnverifiedReason, "promise") {
		t.Errorf("moved entry: %s", dump(a))
	}
	// The statement swapped (the log entry names the old payload).
	os.WriteFile(sig, orig, 0o640)
	tamper(t, sig)
	a = collectOne(t, configured(t, full, t.TempDir()), sdk.Request{Full: true})["model.safetensors"]
	if a.Signed || !hasRule(a.Analysis, "signature.invalid", pickle.High) || !strings.Contains(a.Signature.UnverifiedReason, "another payload") {
		t.Errorf("swapped statement: %s", dump(a))
	}
}

// keylessWith copies testdata/signed-keyless with model.sig replaced by
// the given bundle and collects it with the full keyless trust.
func keylessWith(t *testing.T, sig []byte) Attributes {
	t.Helper()
	root, dir := copyFolder(t, "signed-keyless")
	if err := os.WriteFile(filepath.Join(dir, "model.sig"), sig, 0o640); err != nil {
		t.Fatal(err)
	}
	full := map[string]any{"roots": []string{root}, "signing_ca_certs": []string{trustFile(t, "keyless-ca.pem")},
		"rekor_keys": []string{trustFile(t, "keyless-rekor.pub")}, "signing_identities": []string{"ml-release@example.org"}}
	return collectOne(t, configured(t, full, t.TempDir()), sdk.Request{Full: true})["model.safetensors"]
}

// TestKeylessInclusionProof: the keyless fixture's entry carries an
// inclusion proof in a 13-entry tree and a checkpoint signed by the test
// Rekor key (make_fixtures.py); each variant of testdata/keyless-variants
// breaks one rule, and each leaves the model unsigned, saying why. A
// proof or checkpoint that is there and wrong is the finding
// signature.invalid even when the SET verifies; a missing checkpoint and
// a proof without a SET are gaps, not tampering.
func TestKeylessInclusionProof(t *testing.T) {
	for _, c := range []struct {
		variant, reason string
		finding         bool
	}{
		{"bad-proof-hash", "its inclusion proof does not verify: the audit path does not lead to the proof's root hash", true},
		{"wrong-tree-size", "the audit path has 4 hashes; leaf 9 of a tree of 12 leaves needs 3", true},
		{"checkpoint-other-key", "the checkpoint is not signed by", true},
		{"checkpoint-bad-signature", "the checkpoint's signature \"log.example.org\" does not verify with", true},
		{"checkpoint-root-mismatch", "the checkpoint's root hash is not the inclusion proof's", true},
		{"checkpoint-size-mismatch", "the checkpoint is of a tree of 12 entries, the inclusion proof of 13", true},
		{"no-checkpoint", "carries no checkpoint", false},
		{"proof-only", "its inclusion proof verifies (in a checkpoint of 13 entries signed by the log), but its entry has no signed entry timestamp and the bundle no RFC 3161 timestamp, so nothing signed dates the signature", false},
		{"proof-only-bad-proof-hash", "its inclusion proof does not verify", true},
	} {
		t.Run(c.variant, func(t *testing.T) {
			sig, err := os.ReadFile(filepath.Join("testdata", "keyless-variants", c.variant+".sig"))
			if err != nil {
				t.Fatal(err)
			}
			a := keylessWith(t, sig)
			if a.Signed || a.Signature == nil || a.Signature.Verified || !strings.Contains(a.Signature.UnverifiedReason, c.reason) ||
				hasRule(a.Analysis, "signature.invalid", pickle.High) != c.finding {
				t.Errorf("%s", dump(a))
			}
		})
	}

	orig, err := os.ReadFile(filepath.Join("testdata", "signed-keyless", "model.sig"))
	if err != nil {
		t.Fatal(err)
	}
	edit := func(fn func(entry map[string]any)) []byte {
		var b map[string]any
		if err := json.Unmarshal(orig, &b); err != nil {
			t.Fatal(err)
		}
		fn(b["verificationMaterial"].(map[string]any)["tlogEntries"].([]any)[0].(map[string]any))
		out, _ := json.Marshal(b)
		return out
	}
	// A bundle v0.1-style entry with only the SET still verifies, and the
	// evidence says the inclusion proof was not there to check.
	a := keylessWith(t, edit(func(e map[string]any) { delete(e, "inclusionProof") }))
	if !a.Signed || !strings.HasSuffix(a.Signature.VerifiedBy, "at 2026-01-01T00:01:00Z; SET only") {
		t.Errorf("SET only: %s", dump(a))
	}
	// A Rekor v1 entry relabelled as Rekor v2 (dsse 0.0.2): its body is
	// not a v2 body, so the entry is not this signature's.
	a = keylessWith(t, edit(func(e map[string]any) {
		e["kindVersion"] = map[string]any{"kind": "dsse", "version": "0.0.2"}
		delete(e, "inclusionPromise")
	}))
	if a.Signed || !strings.Contains(a.Signature.UnverifiedReason, "cannot be read as a dsse 0.0.2 entry") || !hasRule(a.Analysis, "signature.invalid", pickle.High) {
		t.Errorf("relabelled as Rekor v2: %s", dump(a))
	}
	// Another kind is not read: unverified, and no false alarm.
	a = keylessWith(t, edit(func(e map[string]any) {
		e["kindVersion"] = map[string]any{"kind": "intoto", "version": "0.0.2"}
	}))
	if a.Signed || !strings.Contains(a.Signature.UnverifiedReason, `a "intoto" entry of version "0.0.2"; only dsse entries`) || hasRule(a.Analysis, "signature.invalid", pickle.High) {
		t.Errorf("intoto: %s", dump(a))
	}
	// Neither: nothing to check offline.
	a = keylessWith(t, edit(func(e map[string]any) { delete(e, "inclusionProof"); delete(e, "inclusionPromise") }))
	if a.Signed || !strings.Contains(a.Signature.UnverifiedReason, "neither a signed inclusion promise nor an inclusion proof") || hasRule(a.Analysis, "signature.invalid", pickle.High) {
		t.Errorf("neither: %s", dump(a))
	}
	// The proof is of another leaf: the canonicalized body is what the
	// leaf hash covers, so a proof moved to another index fails.
	a = keylessWith(t, edit(func(e map[string]any) { e["inclusionProof"].(map[string]any)["logIndex"] = "8" }))
	if a.Signed || !hasRule(a.Analysis, "signature.invalid", pickle.High) || !strings.Contains(a.Signature.UnverifiedReason, "does not lead") {
		t.Errorf("other index: %s", dump(a))
	}
	// A hostile proof: a tree of 2^63-1 entries and the largest index.
	a = keylessWith(t, edit(func(e map[string]any) {
		p := e["inclusionProof"].(map[string]any)
		p["logIndex"], p["treeSize"] = "9223372036854775806", "9223372036854775807"
	}))
	if a.Signed || !strings.Contains(a.Signature.UnverifiedReason, "needs 62") {
		t.Errorf("huge tree: %s", dump(a))
	}
	for _, n := range []string{"-1", "x", "9223372036854775808"} {
		a = keylessWith(t, edit(func(e map[string]any) { e["inclusionProof"].(map[string]any)["treeSize"] = n }))
		if a.Signed || !strings.Contains(a.Signature.UnverifiedReason, "tree size is not a number") || !hasRule(a.Analysis, "signature.invalid", pickle.High) {
			t.Errorf("tree size %s: %s", n, dump(a))
		}
	}
}

// TestRealSigstoreInclusionProof verifies a bundle the public-good
// Sigstore instance issued (testdata/upstream, see its README): a dsse
// entry of Rekor with its SET, an inclusion proof of leaf 44238954 in a
// tree of 44238955 and the checkpoint Rekor signed, against the public
// Rekor key and Fulcio certificates. Its statement is SLSA provenance,
// not a model signature, so the log and certificate checks are called
// directly.
func TestRealSigstoreInclusionProof(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "upstream", "sigstore-rust-dsse-v0.3.sigstore.json"))
	if err != nil {
		t.Fatal(err)
	}
	rekor, _ := filepath.Abs(filepath.Join("testdata", "upstream", "sigstore-public-good-rekor.pub"))
	fulcio, _ := filepath.Abs(filepath.Join("testdata", "upstream", "sigstore-public-good-fulcio.pem"))
	const workflow = "https://github.com/wolfv/sigstore-test/.github/workflows/action.yaml@refs/heads/main"
	tr, fe := loadTrust(&Settings{RekorKeys: []string{rekor}, SigningCACerts: []string{fulcio}, SigningIdentities: []string{workflow}})
	if len(fe) > 0 {
		t.Fatal(fe)
	}
	run := func(raw []byte) *sigView {
		v := parseSignature(raw, "/m/model.sig", "/m")
		if v.env == nil || len(v.env.tlog) != 1 || v.env.tlog[0].InclusionProof == nil {
			t.Fatalf("parsed: %+v", v)
		}
		// The log ID is the SHA-256 of the key: the copy of the key is
		// the one the bundle names.
		if !bytes.Equal(tr.logs[0].logID, v.env.tlog[0].LogID.KeyID) {
			t.Fatalf("log id %x, the bundle names %x", tr.logs[0].logID, v.env.tlog[0].LogID.KeyID)
		}
		v.Findings = nil // the SLSA predicate
		v.verifyCert(tr)
		return v
	}
	v := run(raw)
	if !v.Verified || v.Signer != workflow ||
		v.VerifiedBy != "keyless:CN=sigstore-intermediate,O=sigstore.dev; log c0d23d6ad406973f at 2025-01-28T10:28:16Z; SET + inclusion proof (tree size 44238955)" {
		t.Fatalf("real bundle: verified %v by %q: %q %v", v.Verified, v.VerifiedBy, v.Unverified, v.Findings)
	}
	// One hash of the real audit path altered: the SET still verifies,
	// the proof does not, and that fails the signature.
	b := bytes.Replace(raw, []byte("lkPY9Ya80uK1vUlI2ekwn125ntq+s+Hx32de1Zre35s="), []byte("lkPY9Ya81uK1vUlI2ekwn125ntq+s+Hx32de1Zre35s="), 1)
	if v = run(b); v.Verified || !strings.Contains(v.Unverified, "does not lead") || len(v.Findings) != 1 {
		t.Errorf("altered path: %q %v", v.Unverified, v.Findings)
	}
	// The real checkpoint's size edited: Rekor's signature no longer holds.
	b = bytes.Replace(raw, []byte(`\n44238955\n`), []byte(`\n44238956\n`), 1)
	if v = run(b); v.Verified || !strings.Contains(v.Unverified, "checkpoint's signature \"rekor.sigstore.dev\" does not verify") {
		t.Errorf("altered checkpoint: %q %v", v.Unverified, v.Findings)
	}
}

// TestKeylessHostileProof: a bundle whose inclusion proof lists a million
// hashes is refused after the 64th, costing little beyond reading the
// bundle itself (the bundle's JSON is decoded once; the hashes are not).
func TestKeylessHostileProof(t *testing.T) {
	orig, err := os.ReadFile(filepath.Join("testdata", "signed-keyless", "model.sig"))
	if err != nil {
		t.Fatal(err)
	}
	var b map[string]any
	json.Unmarshal(orig, &b)
	p := b["verificationMaterial"].(map[string]any)["tlogEntries"].([]any)[0].(map[string]any)["inclusionProof"].(map[string]any)
	p["hashes"] = json.RawMessage("[" + strings.TrimSuffix(strings.Repeat(`"AA==",`, 1_000_000), ",") + "]")
	raw, _ := json.Marshal(b)
	ca, rekor := trustFile(t, "keyless-ca.pem"), trustFile(t, "keyless-rekor.pub")
	tr, fe := loadTrust(&Settings{SigningCACerts: []string{ca}, RekorKeys: []string{rekor}, SigningIdentities: []string{"ml-release@example.org"}})
	if len(fe) > 0 {
		t.Fatal(fe)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	v := parseSignature(raw, "/m/model.sig", "/m")
	v.verify(tr)
	runtime.ReadMemStats(&after)
	if v.Verified || !strings.Contains(v.Unverified, "more than 64 hashes") {
		t.Errorf("a million hashes: %q", v.Unverified)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > uint64(3*len(raw)+(8<<20)) {
		t.Errorf("allocated %d bytes for a %d-byte bundle", grew, len(raw))
	}
	t.Logf("%d-byte bundle, %d bytes allocated", len(raw), after.TotalAlloc-before.TotalAlloc)
}
