package models

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
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
		!strings.HasPrefix(a.Signature.VerifiedBy, "keyless:CN=Annexa fixtures keyless CA; log ") || !strings.HasSuffix(a.Signature.VerifiedBy, "at 2026-01-01T00:01:00Z") {
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
