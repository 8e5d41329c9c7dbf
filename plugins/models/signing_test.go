package models

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/annexa/annexa/plugins/models/pickle"
	"github.com/annexa/annexa/plugins/sdk"
)

// signedTree copies testdata/signed (a folder signed as model_signing
// does, by make_fixtures.py) under a fresh root.
func signedTree(t *testing.T) (root, dir string) {
	t.Helper()
	root = t.TempDir()
	dir = filepath.Join(root, "tiny")
	os.MkdirAll(dir, 0o750)
	for _, n := range []string{"model.safetensors", "config.json", "model.sig"} {
		b, err := os.ReadFile(filepath.Join("testdata", "signed", n))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, n), b, 0o640)
	}
	return root, dir
}

func collectOne(t *testing.T, p *Plugin, req sdk.Request) map[string]Attributes {
	t.Helper()
	var rec recorder
	if err := p.Collect(context.Background(), req, &rec); err != nil {
		t.Fatal(err)
	}
	out := map[string]Attributes{}
	for _, r := range rec.recs {
		if r.Op == sdk.OpUpsert {
			a := attrsOf(t, r)
			out[filepath.Base(a.Path)] = a
		}
	}
	return out
}

func rules(a Attributes) []string {
	var r []string
	for _, f := range a.Findings {
		r = append(r, string(f.Severity)+" "+f.Rule)
	}
	return r
}

func TestModelSignature(t *testing.T) {
	root, dir := signedTree(t)
	p := configured(t, map[string]any{"roots": []string{root}}, t.TempDir())
	got := collectOne(t, p, sdk.Request{Full: true})
	a, ok := got["model.safetensors"]
	if !ok || len(got) != 1 {
		t.Fatalf("reported %v", got)
	}
	// Unverified: the bundle's claims match the disk, but signed stays
	// false so no control passes on a bundle anyone could have written.
	if a.Signed || a.Signature == nil || a.Signature.Signer != "ml-release@example.org" || !a.Signature.DigestsMatch ||
		a.Signature.PredicateType != predicateV1 || a.Signature.Verified || len(a.Findings) != 0 {
		b, _ := json.Marshal(a)
		t.Fatalf("signed folder: %s", b)
	}

	// A listed file that is no model changes: every model of the folder
	// says so, on an incremental collection of just that file.
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"auto_map":{"AutoModel":"x.Y"}}`), 0o640)
	got = collectOne(t, p, sdk.Request{Changed: []string{filepath.Join(dir, "config.json")}})
	a = got["model.safetensors"]
	if !hasRule(a.Analysis, "signature.digest_mismatch", pickle.High) || a.Signature.DigestsMatch || !a.Unsafe {
		t.Errorf("config drift: digests match %v %v", a.Signature.DigestsMatch, rules(a))
	}

	// The weights change, and a model is added that the bundle does not list.
	st, _ := os.ReadFile(filepath.Join("testdata", "fixtures", "tiny.gguf"))
	os.WriteFile(filepath.Join(dir, "model.safetensors"), st, 0o640)
	os.WriteFile(filepath.Join(dir, "extra.gguf"), st, 0o640)
	os.Remove(filepath.Join(dir, "config.json"))
	got = collectOne(t, p, sdk.Request{Full: true})
	a = got["model.safetensors"]
	if a.Signature.DigestsMatch || !hasRule(a.Analysis, "signature.digest_mismatch", pickle.High) || !hasRule(a.Analysis, "signature.missing_file", pickle.High) {
		t.Errorf("weights drift: digests match %v %v", a.Signature.DigestsMatch, rules(a))
	}
	if e := got["extra.gguf"]; e.Signature == nil || e.Signature.DigestsMatch || !hasRule(e.Analysis, "signature.unlisted", pickle.Suspicious) {
		t.Errorf("unlisted: %+v %v", e.Signature, rules(e))
	}
}

// TestSignatureTampered: a statement whose digests were edited no longer
// matches its subject digest; names that leave the folder are refused.
func TestSignatureTampered(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "signed", "model.sig"))
	if err != nil {
		t.Fatal(err)
	}
	var b map[string]any
	json.Unmarshal(raw, &b)
	env := b["dsseEnvelope"].(map[string]any)
	payload, _ := base64.StdEncoding.DecodeString(env["payload"].(string))
	edited := strings.Replace(string(payload), `"name": "config.json"`, `"name": "../../etc/passwd"`, 1)
	// A listed digest replaced: the subject (SHA-256 over the listed
	// digests, not the names) no longer matches.
	i := strings.Index(edited, `"digest": "`) + len(`"digest": "`)
	edited = edited[:i] + strings.Repeat("0", 64) + edited[i+64:]
	if edited == string(payload) || i < len(`"digest": "`) {
		t.Fatal("fixture payload changed shape")
	}
	env["payload"] = base64.StdEncoding.EncodeToString([]byte(edited))
	raw, _ = json.Marshal(b)
	v := parseSignature(raw, "/m/model.sig", "/m")
	var got []string
	for _, f := range v.Findings {
		got = append(got, f.Rule)
	}
	if strings.Join(got, ",") != "signature.path,signature.manifest_inconsistent" || v.Signer != "ml-release@example.org" {
		t.Errorf("findings %v signer %q", got, v.Signer)
	}
	for _, in := range []string{"", "{}", `{"dsseEnvelope":{"payloadType":"text/plain"}}`, "[1,2"} {
		if v := parseSignature([]byte(in), "/m/model.sig", "/m"); len(v.Findings) == 0 || len(v.digests) != 0 {
			t.Errorf("%q: findings %v", in, v.Findings)
		}
	}
}
