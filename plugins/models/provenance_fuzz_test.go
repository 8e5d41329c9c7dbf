package models

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// FuzzVerifySignature: reading and verifying a bundle, with keys and a CA
// configured, stays bounded whatever the bundle holds.
func FuzzVerifySignature(f *testing.F) {
	for _, d := range []string{"signed", "signed-key", "signed-cert", "signed-keyless"} {
		if b, err := os.ReadFile(filepath.Join("testdata", d, "model.sig")); err == nil {
			f.Add(b)
		}
	}
	up, _ := filepath.Glob(filepath.Join("testdata", "upstream", "*.sig"))
	more, _ := filepath.Glob(filepath.Join("testdata", "upstream", "*.sigstore.json"))
	variants, _ := filepath.Glob(filepath.Join("testdata", "keyless-variants", "*.sig"))
	stamped, _ := filepath.Glob(filepath.Join("testdata", "timestamp-variants", "*.sig"))
	variants = append(variants, stamped...)
	for _, p := range append(append(up, more...), variants...) {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	key, _ := filepath.Abs(filepath.Join("testdata", "trust", "model-signing.pub"))
	ca, _ := filepath.Abs(filepath.Join("testdata", "trust", "ca.pem"))
	kca, _ := filepath.Abs(filepath.Join("testdata", "trust", "keyless-ca.pem"))
	rekor, _ := filepath.Abs(filepath.Join("testdata", "trust", "keyless-rekor.pub"))
	rekor2, _ := filepath.Abs(filepath.Join("testdata", "trust", "keyless-rekor-v2.pub"))
	tsa, _ := filepath.Abs(filepath.Join("testdata", "trust", "tsa.pem"))
	tr, fe := loadTrust(&Settings{SigningKeys: []string{key}, SigningCACerts: []string{ca, kca}, RekorKeys: []string{rekor, rekor2},
		TimestampAuthorityCerts: []string{tsa}, SigningIdentities: []string{"ml-release@example.org"}})
	if len(fe) > 0 {
		f.Fatal(fe)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		bounded(t, b, func() {
			v := parseSignature(b, "/m/model.sig", "/m")
			v.verify(tr)
			if v.Verified && v.VerifiedBy == "" {
				t.Error("verified by nobody")
			}
		})
	})
}

func FuzzPins(f *testing.F) {
	f.Add([]byte("# approved\n" + sum([]byte("x")) + "  model.safetensors\n\\" + sum([]byte("y")) + " *a\\\\b\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		bounded(t, b, func() {
			pins, err := parsePins(b, "/etc/annexa/approved-models.txt")
			for d := range pins {
				if len(d) != 64 || err != nil {
					t.Errorf("pin %q with error %v", d, err)
				}
			}
		})
	})
}

func FuzzGitConfig(f *testing.F) {
	f.Add([]byte("[core]\n\tbare = false\n[remote \"origin\"]\n\turl = https://u:tok@huggingface.co/org/m\n"))
	f.Add([]byte("[remote \"up\"]\nurl=git@gitlab.example.org:ml/m.git\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		bounded(t, b, func() {
			r := parseGitRemote(b)
			hubURL(r)
			if len(r) > 520 {
				t.Errorf("remote of %d bytes", len(r))
			}
		})
	})
}

// tlogSeeds are the log entries of the committed keyless bundles: the
// fixture, its variants, and the real public-good one.
func tlogSeeds(f *testing.F) []tlogEntry {
	files, _ := filepath.Glob(filepath.Join("testdata", "keyless-variants", "*.sig"))
	files = append(files, filepath.Join("testdata", "signed-keyless", "model.sig"),
		filepath.Join("testdata", "upstream", "sigstore-rust-dsse-v0.3.sigstore.json"))
	var out []tlogEntry
	for _, p := range files {
		raw, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		var b bundleJSON
		if err := json.Unmarshal(raw, &b); err != nil {
			f.Fatal(p, err)
		}
		out = append(out, b.VerificationMaterial.TlogEntries...)
	}
	return out
}

// FuzzCheckpoint: reading a checkpoint stays bounded, and what it
// accepts is well formed: the signed text is the input's beginning and
// ends with a newline, the root is a SHA-256, and there are 1 to 16
// signatures.
func FuzzCheckpoint(f *testing.F) {
	for _, e := range tlogSeeds(f) {
		if e.InclusionProof != nil && e.InclusionProof.Checkpoint != nil {
			f.Add(e.InclusionProof.Checkpoint.Envelope)
		}
	}
	rekor, _ := filepath.Abs(filepath.Join("testdata", "trust", "keyless-rekor.pub"))
	log, err := readPublicKey(rekor)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, env string) {
		bounded(t, []byte(env), func() {
			cp, err := parseCheckpoint(env)
			if err != nil {
				return
			}
			if !strings.HasPrefix(env, string(cp.text)) || !bytes.HasSuffix(cp.text, []byte("\n")) || len(cp.root) != 32 ||
				len(cp.sigs) == 0 || len(cp.sigs) > maxCheckpointSigs {
				t.Errorf("accepted %q as %+v", env, cp)
			}
			verifyCheckpoint(cp, log)
		})
	})
}

// FuzzInclusionProof: an entry's inclusion proof, read from hostile
// protobuf JSON and checked against its checkpoint and the test Rekor
// key, stays bounded; and whatever the fuzzer writes, a proof is accepted
// only for a tree size and root that the key signed in one of the seed
// checkpoints (a proof cannot be forged without the log's key).
func FuzzInclusionProof(f *testing.F) {
	rekor, _ := filepath.Abs(filepath.Join("testdata", "trust", "keyless-rekor.pub"))
	log, err := readPublicKey(rekor)
	if err != nil {
		f.Fatal(err)
	}
	signed := map[string]bool{}
	var body []byte
	for _, e := range tlogSeeds(f) {
		if e.InclusionProof == nil {
			continue
		}
		raw, _ := json.Marshal(e.InclusionProof)
		f.Add(raw)
		if bytes.Equal(e.LogID.KeyID, log.logID) {
			body = e.CanonicalizedBody
		}
		if e.InclusionProof.Checkpoint == nil {
			continue
		}
		if cp, err := parseCheckpoint(e.InclusionProof.Checkpoint.Envelope); err == nil && verifyCheckpoint(cp, log) == nil {
			signed[string(cp.root)+"/"+strings.TrimSpace(string(bytes.Split(cp.text, []byte("\n"))[1]))] = true
		}
	}
	f.Add([]byte(`{"logIndex":"9223372036854775806","treeSize":"9223372036854775807","hashes":[` +
		strings.TrimSuffix(strings.Repeat(`"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",`, 100), ",") + `],"checkpoint":{"envelope":"x\n\n"}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		bounded(t, raw, func() {
			e := tlogEntry{CanonicalizedBody: body, InclusionProof: &inclusionProofJSON{}}
			if json.Unmarshal(raw, e.InclusionProof) != nil {
				return
			}
			size, err := entryInclusion(&e, log)
			if err == nil && !signed[string(e.InclusionProof.RootHash)+"/"+strconv.FormatUint(size, 10)] {
				t.Errorf("accepted a proof to a root the log did not sign: %s", raw)
			}
		})
	})
}
