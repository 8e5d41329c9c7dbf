package models

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// timestampSeeds are the RFC 3161 tokens of the timestamp fixtures and of
// the real staging bundle, with the signature each should date.
func timestampSeeds(f *testing.F) (tokens [][]byte, sig []byte) {
	files, _ := filepath.Glob(filepath.Join("testdata", "timestamp-variants", "*.sig"))
	files = append(files, filepath.Join("testdata", "upstream", "sigstore-python-dsse-rekor-v2.sigstore.json"),
		filepath.Join("testdata", "upstream", "sigstore-python-late-timestamp.sigstore.json"))
	for _, p := range files {
		raw, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		var b bundleJSON
		if err := json.Unmarshal(raw, &b); err != nil {
			f.Fatal(err)
		}
		if td := b.VerificationMaterial.TimestampVerificationData; td != nil {
			for _, s := range td.RFC3161Timestamps {
				tokens = append(tokens, s.SignedTimestamp)
			}
		}
		if filepath.Base(p) == "proof-and-timestamp.sig" {
			sig = b.DSSEEnvelope.Signatures[0].Sig
		}
	}
	return tokens, sig
}

// FuzzTimestamp: the DER reader of RFC 3161 responses stays bounded in
// time and memory whatever it is given, and a token the fixture TSA's
// trust accepts carries signed attributes that TSA signed in one of the
// seeds: the fuzzer cannot make the reader vouch for a time, an imprint
// or a certificate the TSA did not sign.
func FuzzTimestamp(f *testing.F) {
	tokens, sig := timestampSeeds(f)
	signedAttrs := map[string]bool{}
	for _, tok := range tokens {
		f.Add(tok)
		if t, err := parseTimestamp(tok); err == nil {
			signedAttrs[string(t.signedAttrs)] = true
		}
	}
	if len(signedAttrs) < 10 {
		f.Fatalf("only %d seed tokens parse", len(signedAttrs))
	}
	ca, _ := filepath.Abs(filepath.Join("testdata", "trust", "tsa-with-leaf.pem"))
	tr, fe := loadTrust(&Settings{TimestampAuthorityCerts: []string{ca}})
	if len(fe) > 0 {
		f.Fatal(fe)
	}
	f.Fuzz(func(t *testing.T, der []byte) {
		bounded(t, der, func() {
			tok, err := parseTimestamp(der)
			if err != nil {
				return
			}
			if _, err := tok.verify(sig, tr.tsa); err == nil && !signedAttrs[string(tok.signedAttrs)] {
				t.Errorf("accepted attributes no seed carries: %s", base64.StdEncoding.EncodeToString(der))
			}
		})
	})
}
