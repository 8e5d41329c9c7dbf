package models

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/annexa/annexa/plugins/models/pickle"
)

// Sigstore keyless signing (model_signing's default): the signer proves
// an identity to Fulcio, which certifies a fresh key for ten minutes; the
// signature is entered in the Rekor transparency log, which returns a
// signed promise (the SET) of the entry and its time, and an inclusion
// proof: the entry's audit path to the root of the log's Merkle tree,
// with the log's signed checkpoint of that root. Offline, with the
// operator's copies of the Fulcio CA certificates (signing_ca_certs), the
// Rekor key (rekor_keys) and the identities allowed to sign
// (signing_identities), the plugin checks what a verifier must:
//
//   - the entry is vouched for by a trusted log: its SET verifies with
//     the log's key, and its inclusion proof, when the bundle carries one,
//     leads from the entry to a root the log signed in a checkpoint of
//     the same tree size (tlogproof.go). Both must hold when both are
//     there; a proof that is there and wrong fails the signature;
//   - the entry is this signature: its payload hash is the payload's, it
//     lists the envelope's signature and the signing certificate;
//   - the certificate chains to a trusted CA at the integrated time (the
//     signature was logged while the certificate was valid). Only the SET
//     signs that time: an entry with an inclusion proof and no SET is not
//     dated by anything signed, so, like sigstore-go without an RFC 3161
//     timestamp, the plugin leaves it unverified;
//   - the certificate names an allowed identity: Fulcio certifies anyone;
//   - the DSSE signature verifies with the certificate's key.
//
// Not checked: RFC 3161 timestamps, the checkpoint's origin line (the
// operator configures the log's key, not its name), consistency with
// checkpoints seen before (that needs the network), and the certificate's
// OIDC issuer (recorded in `signature.issuer`).

// tlogEntry is a Rekor entry as a bundle carries it (protobuf JSON: the
// 64-bit numbers are strings).
type tlogEntry struct {
	LogIndex json.RawMessage `json:"logIndex"`
	LogID    struct {
		KeyID []byte `json:"keyId"`
	} `json:"logId"`
	KindVersion struct {
		Kind    string `json:"kind"`
		Version string `json:"version"`
	} `json:"kindVersion"`
	IntegratedTime   json.RawMessage `json:"integratedTime"`
	InclusionPromise *struct {
		SignedEntryTimestamp []byte `json:"signedEntryTimestamp"`
	} `json:"inclusionPromise"`
	InclusionProof    *inclusionProofJSON `json:"inclusionProof"`
	CanonicalizedBody []byte              `json:"canonicalizedBody"`
}

// protoInt reads a protobuf JSON int64: a string or a number, and absent
// (or null) when it is 0, as proto3 JSON leaves default values out.
func protoInt(raw json.RawMessage) (int64, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, true
	}
	n, err := strconv.ParseInt(strings.Trim(string(raw), `"`), 10, 64)
	return n, err == nil
}

const keylessWhat = "a Sigstore keyless signature (Fulcio certificate)"

func (v *sigView) verifyKeyless(t *trust, leaf *x509.Certificate) {
	e := v.env
	switch {
	case t == nil || t.roots == nil:
		v.Unverified = keylessWhat + ": verifying it needs the Fulcio CA certificates in signing_ca_certs, the Rekor key in rekor_keys and signing_identities"
		return
	case len(t.identities) == 0:
		v.Unverified = keylessWhat + ": Fulcio certifies anyone who signs in, so it needs signing_identities, the signers to trust"
		return
	case len(t.logs) == 0:
		v.Unverified = keylessWhat + ": dating it needs the transparency log's key in rekor_keys"
		return
	}
	var entry *tlogEntry
	var log trustKey
	for i := range e.tlog {
		if k := slices.IndexFunc(t.logs, func(l trustKey) bool { return bytes.Equal(l.logID, e.tlog[i].LogID.KeyID) }); k >= 0 {
			entry, log = &e.tlog[i], t.logs[k]
			break
		}
	}
	if entry == nil {
		v.Unverified = keylessWhat + ": the bundle has no entry of a transparency log in rekor_keys"
		return
	}
	// Rekor v2 (tile-based) entries have another body and checkpoints
	// signed under c2sp key IDs; reading them as v1 would cry tampering.
	if kv := entry.KindVersion; kv.Kind != "dsse" || kv.Version != "0.0.1" {
		v.Unverified = fmt.Sprintf("%s: its log entry is a %q entry of version %q; only Rekor v1 dsse 0.0.1 entries are read", keylessWhat, clip(kv.Kind, 32), clip(kv.Version, 32))
		return
	}
	hasSET := entry.InclusionPromise != nil && len(entry.InclusionPromise.SignedEntryTimestamp) > 0
	if !hasSET && entry.InclusionProof == nil {
		v.Unverified = keylessWhat + ": its log entry has neither a signed inclusion promise nor an inclusion proof to check offline"
		return
	}
	integrated, ok1 := protoInt(entry.IntegratedTime)
	index, ok2 := protoInt(entry.LogIndex)
	if hasSET {
		if !ok1 || !ok2 {
			v.Unverified = keylessWhat + ": its log entry's integrated time or index is not a number"
			v.add("signature.invalid", pickle.High, "%s: the transparency log entry's integrated time or index cannot be read", v.Path)
			return
		}
		// The SET signs the canonical JSON of the entry: keys sorted, and
		// base64 and hex values need no escaping.
		set := fmt.Appendf(nil, `{"body":%q,"integratedTime":%d,"logID":%q,"logIndex":%d}`,
			base64.StdEncoding.EncodeToString(entry.CanonicalizedBody), integrated, hex.EncodeToString(entry.LogID.KeyID), index)
		d := sha256.Sum256(set)
		if !ecdsa.VerifyASN1(log.key, d[:], entry.InclusionPromise.SignedEntryTimestamp) {
			v.Unverified = keylessWhat + ": the log's promise does not verify"
			v.add("signature.invalid", pickle.High, "%s: the transparency log's signed entry timestamp does not verify with %s: the entry was altered", v.Path, log.path)
			return
		}
	}
	var tree uint64
	if entry.InclusionProof != nil {
		var err error
		if tree, err = entryInclusion(entry, log); err != nil {
			v.Unverified = clip(keylessWhat+": "+err.Error(), 512)
			if !errors.Is(err, errNoCheckpoint) {
				v.add("signature.invalid", pickle.High, "%s: the transparency log's inclusion proof fails: %s", v.Path, clip(err.Error(), 256))
			}
			return
		}
	}
	if why := entryMatches(entry, e, leaf); why != "" {
		v.Unverified = keylessWhat + ": " + why
		v.add("signature.invalid", pickle.High, "%s: the transparency log entry is not this signature's (%s)", v.Path, why)
		return
	}
	if !hasSET {
		v.Unverified = fmt.Sprintf("%s: its inclusion proof verifies (in a checkpoint of %d entries signed by the log), but its entry has no signed entry timestamp, so nothing signed dates the signature (RFC 3161 timestamps are not read) and the short-lived certificate cannot be checked", keylessWhat, tree)
		return
	}
	proof := "SET only"
	if entry.InclusionProof != nil {
		proof = fmt.Sprintf("SET + inclusion proof (tree size %d)", tree)
	}
	at := time.Unix(integrated, 0)
	inter := x509.NewCertPool()
	for _, der := range e.certs[1:] {
		if c, err := x509.ParseCertificate(der); err == nil {
			inter.AddCert(c)
		}
	}
	chains, err := leaf.Verify(x509.VerifyOptions{Roots: t.roots, Intermediates: inter, CurrentTime: at,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}})
	if err != nil {
		v.Unverified = clip(keylessWhat+": the certificate does not chain to signing_ca_certs at the logged time "+at.UTC().Format(time.RFC3339)+": "+err.Error(), 512)
		return
	}
	if !slices.ContainsFunc(certIdentities(leaf), func(id string) bool { return slices.Contains(t.identities, id) }) {
		v.Unverified = fmt.Sprintf("%s: signed by %s, who is not one of signing_identities", keylessWhat, v.Signer)
		return
	}
	pub, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok || !verifyWith(pub, e, e.sigs) {
		v.Unverified = keylessWhat + ": the signature does not verify with the certificate's key"
		v.add("signature.invalid", pickle.High, "%s: the signature does not verify with its Fulcio certificate (%s): the statement or the signature was altered", v.Path, v.Signer)
		return
	}
	root := chains[0][len(chains[0])-1]
	v.Verified = true
	v.VerifiedBy = clip("keyless:"+clip(root.Subject.String(), 128)+"; log "+hex.EncodeToString(entry.LogID.KeyID)[:16]+" at "+at.UTC().Format(time.RFC3339)+"; "+proof, 256)
}

// entryMatches says why a Rekor dsse entry is not the bundle's signature,
// or "" when it is: same payload, same signature, same certificate.
func entryMatches(entry *tlogEntry, e *envelope, leaf *x509.Certificate) string {
	if entry.KindVersion.Kind != "dsse" {
		return fmt.Sprintf("log entries of kind %q are not read (only dsse)", clip(entry.KindVersion.Kind, 32))
	}
	var body struct {
		Kind string `json:"kind"`
		Spec struct {
			PayloadHash struct {
				Algorithm string `json:"algorithm"`
				Value     string `json:"value"`
			} `json:"payloadHash"`
			Signatures []struct {
				Signature string `json:"signature"`
				Verifier  []byte `json:"verifier"`
			} `json:"signatures"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(entry.CanonicalizedBody, &body); err != nil || body.Kind != "dsse" {
		return "its log entry cannot be read"
	}
	sum := sha256.Sum256(e.payload)
	if body.Spec.PayloadHash.Algorithm != "sha256" || body.Spec.PayloadHash.Value != hex.EncodeToString(sum[:]) {
		return "the log entry is for another payload"
	}
	for _, s := range body.Spec.Signatures {
		sig, err := base64.StdEncoding.DecodeString(s.Signature)
		if err != nil || !slices.ContainsFunc(e.sigs, func(x []byte) bool { return bytes.Equal(x, sig) }) {
			continue
		}
		if blk, _ := pem.Decode(s.Verifier); blk != nil && bytes.Equal(blk.Bytes, leaf.Raw) {
			return ""
		}
	}
	return "the log entry lists another signature or certificate"
}
