package models

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"unicode/utf8"
)

// A Rekor v1 entry in a Sigstore bundle v0.3 may carry, beside or instead
// of the SET, an inclusion proof: the audit path from the entry's leaf to
// the root of the log's Merkle tree at some size (RFC 6962 / RFC 9162),
// and the log's checkpoint, a signed note committing to that root and
// size. Both are checked here offline; keyless.go decides when.

const (
	// A tree of at most 2^64 leaves has an audit path of at most 64.
	maxProofHashes = 64
	// Rekor's checkpoints are a few hundred bytes: an origin, a size, a
	// hash, perhaps a timestamp line, and a signature or two.
	maxCheckpointBytes = 16 << 10
	maxCheckpointSigs  = 16
)

// inclusionProofJSON is tlogEntries[].inclusionProof as protobuf JSON
// writes it. Hashes stays raw so that a hostile list is never decoded
// past what a proof can hold.
type inclusionProofJSON struct {
	LogIndex   json.RawMessage `json:"logIndex"`
	RootHash   []byte          `json:"rootHash"`
	TreeSize   json.RawMessage `json:"treeSize"`
	Hashes     json.RawMessage `json:"hashes"`
	Checkpoint *struct {
		Envelope string `json:"envelope"`
	} `json:"checkpoint"`
}

// errNoCheckpoint: a proof to a root nobody signed proves nothing, but
// it is a gap in the bundle, not evidence of tampering.
var errNoCheckpoint = errors.New("its inclusion proof carries no checkpoint, so the root it leads to is not signed by the log")

// proofHashes decodes at most maxProofHashes base64 hashes of the audit
// path, refusing a longer list without reading the rest of it.
func proofHashes(raw json.RawMessage) ([][]byte, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('[') {
		return nil, errors.New("its hashes are not a list")
	}
	var out [][]byte
	for dec.More() {
		if len(out) == maxProofHashes {
			return nil, fmt.Errorf("its audit path has more than %d hashes, more than any tree needs", maxProofHashes)
		}
		var h []byte
		if err := dec.Decode(&h); err != nil {
			return nil, errors.New("a hash of its audit path is not base64")
		}
		out = append(out, h)
	}
	if t, err := dec.Token(); err != nil || t != json.Delim(']') {
		return nil, errors.New("its hashes are not a list")
	}
	return out, nil
}

// proofSize is how many hashes the audit path of leaf index in a tree of
// size leaves has: one per level below the point where the paths to index
// and to the last leaf part, plus one per left sibling above it.
func proofSize(index, size uint64) int {
	inner := bits.Len64(index ^ (size - 1))
	return inner + bits.OnesCount64(index>>inner)
}

func leafHash(body []byte) []byte {
	h := sha256.New()
	h.Write([]byte{0})
	h.Write(body)
	return h.Sum(nil)
}

func nodeHash(left, right []byte) []byte {
	h := sha256.New()
	h.Write([]byte{1})
	h.Write(left)
	h.Write(right)
	return h.Sum(nil)
}

var errRootMismatch = errors.New("the audit path does not lead to the proof's root hash")

// verifyInclusion checks that leaf is the index-th leaf of the tree of
// size leaves whose root is root, by RFC 9162 section 2.1.3.2. It costs
// at most 64 hash computations whatever the input.
func verifyInclusion(index, size uint64, leaf []byte, path [][]byte, root []byte) error {
	if index >= size {
		return fmt.Errorf("leaf %d is outside a tree of %d leaves", index, size)
	}
	if want := proofSize(index, size); len(path) != want {
		return fmt.Errorf("the audit path has %d hashes; leaf %d of a tree of %d leaves needs %d", len(path), index, size, want)
	}
	if len(root) != sha256.Size {
		return fmt.Errorf("the root hash is %d bytes, not %d", len(root), sha256.Size)
	}
	fn, sn, r := index, size-1, leaf
	for i, p := range path {
		if len(p) != sha256.Size {
			return fmt.Errorf("hash %d of the audit path is %d bytes, not %d", i, len(p), sha256.Size)
		}
		if sn == 0 {
			return errors.New("the audit path is longer than the tree is deep")
		}
		if fn&1 == 1 || fn == sn {
			r = nodeHash(p, r)
			// The rightmost node of a level with no sibling moves up as is.
			for fn&1 == 0 && fn != 0 {
				fn >>= 1
				sn >>= 1
			}
		} else {
			r = nodeHash(r, p)
		}
		fn >>= 1
		sn >>= 1
	}
	if sn != 0 {
		return errors.New("the audit path is shorter than the tree is deep")
	}
	if !bytes.Equal(r, root) {
		return errRootMismatch
	}
	return nil
}

// logCheckpoint is a log's signed note of its tree (c2sp.org/tlog-checkpoint
// in the signed-note format):
//
//	<origin>\n<tree size>\n<base64 root hash>\n[<extension>\n...]\n
//	— <name> <base64(4-byte key hint || signature)>\n...
type logCheckpoint struct {
	origin string
	size   uint64
	root   []byte
	// text is what the signatures sign: every line before the blank one,
	// each with its newline.
	text []byte
	sigs []noteSig
}

type noteSig struct {
	name string
	hint []byte
	sig  []byte
}

// parseCheckpoint reads a checkpoint; it never holds more than
// maxCheckpointBytes of it.
func parseCheckpoint(env string) (*logCheckpoint, error) {
	if len(env) > maxCheckpointBytes {
		return nil, fmt.Errorf("the checkpoint is %d bytes, more than %d", len(env), maxCheckpointBytes)
	}
	if !utf8.ValidString(env) {
		return nil, errors.New("the checkpoint is not UTF-8 text")
	}
	split := strings.LastIndex(env, "\n\n")
	if split < 0 {
		return nil, errors.New("the checkpoint has no blank line before its signatures")
	}
	text, sigs := env[:split+1], env[split+2:]
	lines := strings.Split(text[:len(text)-1], "\n")
	if len(lines) < 3 {
		return nil, errors.New("the checkpoint needs an origin, a tree size and a root hash line")
	}
	for i, l := range lines {
		if l == "" {
			return nil, fmt.Errorf("line %d of the checkpoint is blank", i+1)
		}
		if strings.ContainsFunc(l, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return nil, fmt.Errorf("line %d of the checkpoint holds a control character", i+1)
		}
	}
	cp := &logCheckpoint{origin: lines[0], text: []byte(text)}
	sz := lines[1]
	if sz[0] < '0' || sz[0] > '9' || (len(sz) > 1 && sz[0] == '0') {
		return nil, fmt.Errorf("the checkpoint's tree size %q is not a decimal number", clip(sz, 32))
	}
	var err error
	if cp.size, err = strconv.ParseUint(sz, 10, 64); err != nil {
		return nil, fmt.Errorf("the checkpoint's tree size %q is not a decimal number below 2^64", clip(sz, 32))
	}
	if cp.root, err = base64.StdEncoding.Strict().DecodeString(lines[2]); err != nil || len(cp.root) != sha256.Size {
		return nil, errors.New("the checkpoint's root hash is not the base64 of 32 bytes")
	}
	if sigs == "" || !strings.HasSuffix(sigs, "\n") {
		return nil, errors.New("the checkpoint's signature lines do not end with a newline")
	}
	for i, l := range strings.Split(sigs[:len(sigs)-1], "\n") {
		if i == maxCheckpointSigs {
			return nil, fmt.Errorf("the checkpoint has more than %d signatures", maxCheckpointSigs)
		}
		rest, ok := strings.CutPrefix(l, "— ")
		name, b64, ok2 := strings.Cut(rest, " ")
		if !ok || !ok2 || name == "" || strings.Contains(b64, " ") {
			return nil, fmt.Errorf("signature line %d of the checkpoint is not \"— <name> <base64>\"", i+1)
		}
		raw, err := base64.StdEncoding.Strict().DecodeString(b64)
		if err != nil || len(raw) < 5 {
			return nil, fmt.Errorf("signature line %d of the checkpoint does not hold a key hint and a signature in base64", i+1)
		}
		cp.sigs = append(cp.sigs, noteSig{name: name, hint: raw[:4], sig: raw[4:]})
	}
	return cp, nil
}

// verifyCheckpoint checks that the log's key signed the checkpoint. An
// ECDSA log (Rekor v1, and v2 with an ECDSA key) names its key by the
// first 4 bytes of the SHA-256 of its PKIX DER (the log ID's first 4
// bytes) and signs the SHA-256 of the text. An Ed25519 log (Rekor v2)
// follows c2sp.org/signed-note: its key ID is the SHA-256 of the key's
// name, a newline, the signature type 0x01 and the 32-byte key, the hint
// its first 4 bytes, the signature Ed25519 over the text, and the name,
// for a Rekor v2 log, is the checkpoint's origin. Lines of other keys
// (witnesses) are not read; a line with the log's hint that does not
// verify fails the checkpoint, as golang.org/x/mod/sumdb/note does for a
// known key.
func verifyCheckpoint(cp *logCheckpoint, log trustKey) error {
	hint := log.logID[:4]
	if log.ed != nil {
		hint = noteKeyID(cp.origin, log.ed)[:4]
	}
	d := sha256.Sum256(cp.text)
	found := false
	for _, s := range cp.sigs {
		if !bytes.Equal(s.hint, hint) || log.ed != nil && s.name != cp.origin {
			continue
		}
		ok := false
		if log.ed != nil {
			ok = ed25519.Verify(log.ed, cp.text, s.sig)
		} else {
			ok = ecdsa.VerifyASN1(log.key, d[:], s.sig)
		}
		if !ok {
			return fmt.Errorf("the checkpoint's signature %q does not verify with %s", clip(s.name, 64), log.path)
		}
		found = true
	}
	if !found {
		return fmt.Errorf("the checkpoint is not signed by %s (no signature line with its key hint %s)", log.path, hex.EncodeToString(hint))
	}
	return nil
}

// noteKeyID is the signed-note key ID of an Ed25519 key under a name.
func noteKeyID(name string, key ed25519.PublicKey) []byte {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{'\n', 0x01})
	h.Write(key)
	return h.Sum(nil)
}

// checkpointOrigin is the first line of an entry's checkpoint, the name
// an Ed25519 log signs under, or "".
func checkpointOrigin(entry *tlogEntry) string {
	p := entry.InclusionProof
	if p == nil || p.Checkpoint == nil || len(p.Checkpoint.Envelope) > maxCheckpointBytes {
		return ""
	}
	origin, _, _ := strings.Cut(p.Checkpoint.Envelope, "\n")
	return origin
}

// entryInclusion verifies an entry's inclusion proof against its signed
// checkpoint and returns the tree size it proves inclusion in. The error
// is errNoCheckpoint when there is nothing signed to check against;
// any other error means the proof or the checkpoint is wrong.
func entryInclusion(entry *tlogEntry, log trustKey) (uint64, error) {
	p := entry.InclusionProof
	index, ok1 := protoInt(p.LogIndex)
	size, ok2 := protoInt(p.TreeSize)
	if !ok1 || !ok2 || index < 0 || size < 0 {
		return 0, errors.New("its inclusion proof's leaf index or tree size is not a number")
	}
	if p.Checkpoint == nil || p.Checkpoint.Envelope == "" {
		return 0, errNoCheckpoint
	}
	path, err := proofHashes(p.Hashes)
	if err != nil {
		return 0, fmt.Errorf("its inclusion proof cannot be read: %w", err)
	}
	if err := verifyInclusion(uint64(index), uint64(size), leafHash(entry.CanonicalizedBody), path, p.RootHash); err != nil {
		return 0, fmt.Errorf("its inclusion proof does not verify: %w", err)
	}
	cp, err := parseCheckpoint(p.Checkpoint.Envelope)
	if err != nil {
		return 0, err
	}
	if err := verifyCheckpoint(cp, log); err != nil {
		return 0, err
	}
	if cp.size != uint64(size) {
		return 0, fmt.Errorf("the checkpoint is of a tree of %d entries, the inclusion proof of %d", cp.size, size)
	}
	if !bytes.Equal(cp.root, p.RootHash) {
		return 0, errors.New("the checkpoint's root hash is not the inclusion proof's")
	}
	return uint64(size), nil
}
