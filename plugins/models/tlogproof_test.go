package models

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The reference tree of these tests follows RFC 6962 section 2.1 by its
// recursive definitions (MTH and PATH), not the iterative walk of
// verifyInclusion, so that one cannot be checked against itself.

func refSplit(n int) int {
	k := 1
	for k*2 < n {
		k *= 2
	}
	return k
}

func refRoot(leaves [][]byte) []byte {
	if len(leaves) == 1 {
		return leafHash(leaves[0])
	}
	k := refSplit(len(leaves))
	return nodeHash(refRoot(leaves[:k]), refRoot(leaves[k:]))
}

func refPath(m int, leaves [][]byte) [][]byte {
	if len(leaves) == 1 {
		return nil
	}
	k := refSplit(len(leaves))
	if m < k {
		return append(refPath(m, leaves[:k]), refRoot(leaves[k:]))
	}
	return append(refPath(m-k, leaves[k:]), refRoot(leaves[:k]))
}

func refLeaves(n int) [][]byte {
	leaves := make([][]byte, n)
	for i := range leaves {
		leaves[i] = fmt.Appendf(nil, "entry %d", i)
	}
	return leaves
}

// TestInclusionProofAgainstRFC6962: every leaf of every tree up to 70
// leaves verifies with its RFC 6962 audit path, and the proof fails when
// any part of it is wrong: the leaf, the index, the tree size (when the
// path depends on it), any bit of any hash, the root, or a hash more or
// less.
func TestInclusionProofAgainstRFC6962(t *testing.T) {
	for n := 1; n <= 70; n++ {
		leaves := refLeaves(n)
		root := refRoot(leaves)
		for m := range n {
			path := refPath(m, leaves)
			if len(path) != proofSize(uint64(m), uint64(n)) {
				t.Fatalf("leaf %d of %d: the path has %d hashes, proofSize says %d", m, n, len(path), proofSize(uint64(m), uint64(n)))
			}
			leaf := leafHash(leaves[m])
			if err := verifyInclusion(uint64(m), uint64(n), leaf, path, root); err != nil {
				t.Fatalf("leaf %d of %d: %v", m, n, err)
			}
			if verifyInclusion(uint64(m), uint64(n), leafHash([]byte("another")), path, root) == nil {
				t.Errorf("leaf %d of %d: another leaf verified", m, n)
			}
			for other := range n {
				if other != m && verifyInclusion(uint64(other), uint64(n), leaf, path, root) == nil {
					t.Errorf("leaf %d of %d verified at index %d", m, n, other)
				}
			}
			for size := m + 1; size <= 70; size++ {
				// The same hashes lead to the same root in every tree where
				// PATH combines them in the same order: the tree size is bound
				// by the signed checkpoint, not by the path.
				same := slices.Equal(refPathShape(m, 0, size), refPathShape(m, 0, n))
				if err := verifyInclusion(uint64(m), uint64(size), leaf, path, root); (err == nil) != same {
					t.Errorf("leaf %d of %d as of a tree of %d (same path shape %v): %v", m, n, size, same, err)
				}
			}
			for i := range path {
				for _, bit := range []int{0, (8*m + 3) % 256, 8*sha256.Size - 1} {
					bad := bytes.Clone(path[i])
					bad[bit/8] ^= 1 << (bit % 8)
					p := append(append(append([][]byte{}, path[:i]...), bad), path[i+1:]...)
					if verifyInclusion(uint64(m), uint64(n), leaf, p, root) == nil {
						t.Fatalf("leaf %d of %d: bit %d of hash %d flipped, still verified", m, n, bit, i)
					}
				}
			}
			badRoot := bytes.Clone(root)
			badRoot[31] ^= 0x80
			if verifyInclusion(uint64(m), uint64(n), leaf, path, badRoot) == nil {
				t.Errorf("leaf %d of %d: another root verified", m, n)
			}
			if verifyInclusion(uint64(m), uint64(n), leaf, append(path, root), root) == nil {
				t.Errorf("leaf %d of %d: a hash too many verified", m, n)
			}
			if len(path) > 0 && verifyInclusion(uint64(m), uint64(n), leaf, path[:len(path)-1], root) == nil {
				t.Errorf("leaf %d of %d: a hash too few verified", m, n)
			}
		}
	}
}

// refPathShape is, for each hash of PATH(m, D[lo:hi]), whether it is
// combined on the left.
func refPathShape(m, lo, hi int) []bool {
	if hi-lo == 1 {
		return nil
	}
	k := refSplit(hi - lo)
	if m < lo+k {
		return append(refPathShape(m, lo, lo+k), false)
	}
	return append(refPathShape(m, lo+k, hi), true)
}

// TestInclusionProofBounds: indexes outside the tree, sizes near 2^64
// and overlong paths are refused without walking them, and the largest
// proofs cost at most 64 steps.
func TestInclusionProofBounds(t *testing.T) {
	h := bytes.Repeat([]byte{7}, 32)
	for _, c := range []struct {
		index, size uint64
		hashes      int
		want        string
	}{
		{0, 0, 0, "outside a tree of 0"},
		{5, 5, 3, "outside a tree of 5"},
		{math.MaxUint64, math.MaxUint64, 64, "outside"},
		{1 << 62, 1 << 63, 70, "has 70 hashes; leaf 4611686018427387904 of a tree of 9223372036854775808 leaves needs 63"},
		{(1 << 63) - 2, (1 << 63) - 1, 62, "does not lead"},
		{math.MaxUint64 - 1, math.MaxUint64, 63, "does not lead"},
		{3, 8, 2, "needs 3"},
	} {
		path := make([][]byte, c.hashes)
		for i := range path {
			path[i] = h
		}
		err := verifyInclusion(c.index, c.size, h, path, h)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("leaf %d of %d with %d hashes: %v, want %q", c.index, c.size, c.hashes, err, c.want)
		}
	}
	if err := verifyInclusion(0, 2, h, [][]byte{h[:31]}, h); err == nil || !strings.Contains(err.Error(), "31 bytes") {
		t.Errorf("short hash: %v", err)
	}
	if err := verifyInclusion(0, 1, h, nil, h[:20]); err == nil || !strings.Contains(err.Error(), "20 bytes") {
		t.Errorf("short root: %v", err)
	}
	// A tree of one leaf: the root is the leaf hash.
	if err := verifyInclusion(0, 1, h, nil, h); err != nil {
		t.Error(err)
	}
}

// TestProofHashesBounded: a list of a million hashes is refused after
// the 64th, allocating little.
func TestProofHashesBounded(t *testing.T) {
	raw := []byte("[" + strings.TrimSuffix(strings.Repeat(`"AAAA",`, 1_000_000), ",") + "]")
	bounded(t, nil, func() {
		if _, err := proofHashes(raw); err == nil || !strings.Contains(err.Error(), "more than 64") {
			t.Errorf("a million hashes: %v", err)
		}
	})
	for raw, want := range map[string]string{`{}`: "not a list", `[1]`: "not base64", `["!!"]`: "not base64", `[`: "not a list"} {
		if _, err := proofHashes(json.RawMessage(raw)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v", raw, err)
		}
	}
	if hs, err := proofHashes(json.RawMessage(`["AQI=","AwQ="]`)); err != nil || len(hs) != 2 || !bytes.Equal(hs[1], []byte{3, 4}) {
		t.Errorf("two hashes: %v %v", hs, err)
	}
}

// signNote signs a checkpoint text as Rekor v1 does.
func signNote(t *testing.T, k *ecdsa.PrivateKey, text, name string) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	id := sha256.Sum256(der)
	d := sha256.Sum256([]byte(text))
	sig, err := ecdsa.SignASN1(rand.Reader, k, d[:])
	if err != nil {
		t.Fatal(err)
	}
	return "— " + name + " " + base64.StdEncoding.EncodeToString(append(id[:4:4], sig...)) + "\n"
}

func logKey(t *testing.T, k *ecdsa.PrivateKey) trustKey {
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	id := sha256.Sum256(der)
	return trustKey{path: "/etc/annexa/rekor.pub", key: &k.PublicKey, logID: id[:]}
}

// TestCheckpoint: the signed-note format is read strictly, and the note
// verifies only with a line under the log key's hint whose signature
// holds; a witness's line beside it is not read.
func TestCheckpoint(t *testing.T) {
	logPriv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherPriv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	log := logKey(t, logPriv)
	root := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32))
	text := "log.example.org - 1\n42\n" + root + "\nTimestamp: 1\n"
	good := text + "\n" + signNote(t, logPriv, text, "log.example.org")

	cp, err := parseCheckpoint(good)
	if err != nil || cp.origin != "log.example.org - 1" || cp.size != 42 || string(cp.text) != text || len(cp.sigs) != 1 {
		t.Fatalf("parsed %+v, %v", cp, err)
	}
	if err := verifyCheckpoint(cp, log); err != nil {
		t.Fatal(err)
	}
	// A witness cosigned it: still verifies.
	cp, _ = parseCheckpoint(good + signNote(t, otherPriv, text, "witness.example.org"))
	if err := verifyCheckpoint(cp, log); err != nil {
		t.Errorf("cosigned: %v", err)
	}
	// Only another key signed it.
	cp, _ = parseCheckpoint(text + "\n" + signNote(t, otherPriv, text, "log.example.org"))
	if err := verifyCheckpoint(cp, log); err == nil || !strings.Contains(err.Error(), "not signed by") {
		t.Errorf("another key: %v", err)
	}
	// The text changed after signing.
	cp, _ = parseCheckpoint(strings.Replace(good, "\n42\n", "\n43\n", 1))
	if err := verifyCheckpoint(cp, log); err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Errorf("altered text: %v", err)
	}
	// A good line does not excuse a bad one under the same key.
	forged := strings.Replace(signNote(t, otherPriv, text, "log.example.org"), "— log.example.org ", "", 1)
	raw, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(forged))
	bad := "— log.example.org " + base64.StdEncoding.EncodeToString(append(log.logID[:4:4], raw[4:]...)) + "\n"
	cp, _ = parseCheckpoint(good + bad)
	if err := verifyCheckpoint(cp, log); err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Errorf("good and bad line: %v", err)
	}

	sig := signNote(t, logPriv, text, "log.example.org")
	for in, want := range map[string]string{
		text + sig:  "no blank line",
		text + "\n": "do not end with a newline",
		text + "\n" + strings.TrimSuffix(sig, "\n"):                 "do not end with a newline",
		"\n42\n" + root + "\n\n" + sig:                              "line 1 of the checkpoint is blank",
		"o\n42\n\n" + sig:                                           "needs an origin",
		"o\n-1\n" + root + "\n\n" + sig:                             "not a decimal number",
		"o\n042\n" + root + "\n\n" + sig:                            "not a decimal number",
		"o\n+42\n" + root + "\n\n" + sig:                            "not a decimal number",
		"o\n18446744073709551616\n" + root + "\n\n" + sig:           "below 2^64",
		"o\n42\nAAAA\n\n" + sig:                                     "base64 of 32 bytes",
		"o\n42\n" + root + "x\n\n" + sig:                            "base64 of 32 bytes",
		"o\n42\n" + root + "\n\nx\n\n" + sig:                        "line 4 of the checkpoint is blank",
		"o\t1\n42\n" + root + "\n\n" + sig:                          "control character",
		"o\n42\n" + root + "\n\n- log AAAAAAAA\n":                   "is not \"— <name> <base64>\"",
		"o\n42\n" + root + "\n\n— log\n":                            "is not \"— <name> <base64>\"",
		"o\n42\n" + root + "\n\n—  AAAAAAAA\n":                      "is not \"— <name> <base64>\"",
		"o\n42\n" + root + "\n\n— log AAAA\n":                       "key hint and a signature",
		"o\n42\n" + root + "\n\n— log AAAAAAAA!\n":                  "key hint and a signature",
		"o\n42\n" + root + "\n\n" + strings.Repeat(sig, 17):         "more than 16 signatures",
		"o\xff\n42\n" + root + "\n\n" + sig:                         "not UTF-8",
		text + "\n" + sig + strings.Repeat("x", maxCheckpointBytes): "more than 16384",
	} {
		if _, err := parseCheckpoint(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
}

// BenchmarkKeylessVerify: reading and verifying the real public-good
// bundle offline, with and without its inclusion proof, to show what the
// proof and checkpoint add (two hashes per tree level and one ECDSA
// verification) beside the SET, chain and signature checks.
func BenchmarkKeylessVerify(b *testing.B) {
	raw, err := os.ReadFile(filepath.Join("testdata", "upstream", "sigstore-rust-dsse-v0.3.sigstore.json"))
	if err != nil {
		b.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(raw, &m)
	delete(m["verificationMaterial"].(map[string]any)["tlogEntries"].([]any)[0].(map[string]any), "inclusionProof")
	setOnly, _ := json.Marshal(m)
	rekor, _ := filepath.Abs(filepath.Join("testdata", "upstream", "sigstore-public-good-rekor.pub"))
	fulcio, _ := filepath.Abs(filepath.Join("testdata", "upstream", "sigstore-public-good-fulcio.pem"))
	tr, fe := loadTrust(&Settings{RekorKeys: []string{rekor}, SigningCACerts: []string{fulcio},
		SigningIdentities: []string{"https://github.com/wolfv/sigstore-test/.github/workflows/action.yaml@refs/heads/main"}})
	if len(fe) > 0 {
		b.Fatal(fe)
	}
	for _, c := range []struct {
		name string
		raw  []byte
		want string
	}{{"SET+proof", raw, "SET + inclusion proof"}, {"SET-only", setOnly, "SET only"}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				v := parseSignature(c.raw, "/m/model.sig", "/m")
				v.Findings = nil
				v.verifyCert(tr)
				if !v.Verified || !strings.Contains(v.VerifiedBy, c.want) {
					b.Fatalf("%q %q", v.VerifiedBy, v.Unverified)
				}
			}
		})
	}
	// A Rekor v2 bundle of the staging instance: an Ed25519 checkpoint and
	// an RFC 3161 timestamp (CMS signature and TSA chain) instead of a SET.
	v2, err := os.ReadFile(filepath.Join("testdata", "upstream", "sigstore-python-dsse-rekor-v2.sigstore.json"))
	if err != nil {
		b.Fatal(err)
	}
	staging := stagingTrust(b, true)
	b.Run("RekorV2+timestamp", func(b *testing.B) {
		for b.Loop() {
			v := parseSignature(v2, "/m/model.sig", "/m")
			v.Findings = nil
			v.verifyCert(staging)
			if !v.Verified || !strings.Contains(v.VerifiedBy, "RFC 3161 timestamp by sigstore-tsa") {
				b.Fatalf("%q %q", v.VerifiedBy, v.Unverified)
			}
		}
	})
}
