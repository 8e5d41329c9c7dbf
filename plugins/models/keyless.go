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
// signature is entered in a Rekor transparency log. Rekor v1 returns a
// signed promise (the SET) of the entry and its time, and an inclusion
// proof: the entry's audit path to the root of the log's Merkle tree,
// with the log's signed checkpoint of that root. Rekor v2 (tile-based)
// returns only the proof and checkpoint, so its bundles are dated by an
// RFC 3161 timestamp authority instead (tsa.go). Offline, with the
// operator's copies of the Fulcio CA certificates (signing_ca_certs), the
// log keys (rekor_keys), the TSA certificates (timestamp_authority_certs)
// and the identities allowed to sign (signing_identities), the plugin
// checks what a verifier must:
//
//   - the entry is vouched for by a trusted log: its SET verifies with
//     the log's key, and its inclusion proof, when the bundle carries one
//     (a Rekor v2 entry must), leads from the entry to a root the log
//     signed in a checkpoint of the same tree size (tlogproof.go). Both
//     must hold when both are there; a proof that is there and wrong
//     fails the signature;
//   - the entry is this signature: its payload hash is the payload's, it
//     lists the envelope's first signature and the signing certificate
//     (the dsse 0.0.1 body of Rekor v1, or the dsse 0.0.2 body of v2);
//   - something signed dates the signature: the SET's integrated time,
//     and every RFC 3161 timestamp of the bundle, whose imprint must be
//     the hash of that signature. An entry with an inclusion proof and
//     neither is not dated by anything signed, so, like sigstore-go, the
//     plugin leaves it unverified; a timestamp that is there and wrong is
//     a finding, one from a TSA the operator does not trust leaves the
//     bundle unverified;
//   - the certificate chains to a trusted CA at every one of those times
//     (the signature was made while the certificate was valid);
//   - the certificate names an allowed identity: Fulcio certifies anyone;
//   - the DSSE signature verifies with the certificate's key.
//
// Not checked: the checkpoint's origin line for ECDSA logs (the operator
// configures the log's key, not its name; an Ed25519 log's key ID hashes
// the origin, so there it is bound), witness cosignatures, consistency
// with checkpoints seen before (that needs the network), the validity
// periods trusted_root.json gives logs and TSAs, and the certificate's
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
		v.Unverified = keylessWhat + ": it needs the transparency log's key in rekor_keys"
		return
	}
	entry, log := logEntryOf(e.tlog, t.logs)
	if entry == nil {
		v.Unverified = keylessWhat + ": the bundle has no entry of a transparency log in rekor_keys"
		return
	}
	kv := entry.KindVersion
	rekorV2 := kv.Kind == "dsse" && kv.Version == "0.0.2"
	if !rekorV2 && (kv.Kind != "dsse" || kv.Version != "0.0.1") {
		v.Unverified = fmt.Sprintf("%s: its log entry is a %q entry of version %q; only dsse entries of Rekor v1 (0.0.1) and v2 (0.0.2) are read", keylessWhat, clip(kv.Kind, 32), clip(kv.Version, 32))
		return
	}
	hasSET := entry.InclusionPromise != nil && len(entry.InclusionPromise.SignedEntryTimestamp) > 0
	switch {
	case rekorV2 && hasSET:
		// Rekor v2 signs no entry timestamps: a v2 entry with one was put
		// together by someone else.
		v.Unverified = keylessWhat + ": its Rekor v2 entry carries a signed entry timestamp, which Rekor v2 does not issue"
		v.add("signature.invalid", pickle.High, "%s: the transparency log entry claims Rekor v2 but carries a Rekor v1 signed entry timestamp", v.Path)
		return
	case rekorV2 && entry.InclusionProof == nil:
		v.Unverified = keylessWhat + ": its Rekor v2 entry has no inclusion proof to check offline"
		return
	case !hasSET && entry.InclusionProof == nil:
		v.Unverified = keylessWhat + ": its log entry has neither a signed inclusion promise nor an inclusion proof to check offline"
		return
	case !rekorV2 && log.key == nil:
		v.Unverified = keylessWhat + ": its Rekor v1 entry names an Ed25519 log key; Rekor v1 signs with ECDSA"
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
	match := entryMatches
	if rekorV2 {
		match = entryMatchesV2
	}
	if why := match(entry, e, leaf); why != "" {
		v.Unverified = keylessWhat + ": " + why
		v.add("signature.invalid", pickle.High, "%s: the transparency log entry is not this signature's (%s)", v.Path, why)
		return
	}
	// Every time source the bundle has must hold: the SET's integrated
	// time and each RFC 3161 timestamp.
	var times []datedBy
	if hasSET {
		times = append(times, datedBy{at: time.Unix(integrated, 0), by: "the logged time"})
	}
	stamps, ok := v.checkTimestamps(t.tsa)
	if !ok {
		return
	}
	times = append(times, stamps...)
	if len(times) == 0 {
		v.Unverified = fmt.Sprintf("%s: its inclusion proof verifies (in a checkpoint of %d entries signed by the log), but its entry has no signed entry timestamp and the bundle no RFC 3161 timestamp, so nothing signed dates the signature and the short-lived certificate cannot be checked", keylessWhat, tree)
		return
	}
	inter := x509.NewCertPool()
	for _, der := range e.certs[1:] {
		if c, err := x509.ParseCertificate(der); err == nil {
			inter.AddCert(c)
		}
	}
	var root *x509.Certificate
	for _, at := range times {
		chains, err := leaf.Verify(x509.VerifyOptions{Roots: t.roots, Intermediates: inter, CurrentTime: at.at,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}})
		if err != nil {
			v.Unverified = clip(keylessWhat+": the certificate does not chain to signing_ca_certs at "+at.by+" "+at.at.UTC().Format(time.RFC3339)+": "+err.Error(), 512)
			return
		}
		root = chains[0][len(chains[0])-1]
	}
	if !slices.ContainsFunc(certIdentities(leaf), func(id string) bool { return slices.Contains(t.identities, id) }) {
		v.Unverified = fmt.Sprintf("%s: signed by %s, who is not one of signing_identities", keylessWhat, v.Signer)
		return
	}
	// The log entry and the timestamps are of the first signature: it is
	// the one that must verify.
	pub, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok || !verifyWith(pub, e, e.sigs[:1]) {
		v.Unverified = keylessWhat + ": the signature does not verify with the certificate's key"
		v.add("signature.invalid", pickle.High, "%s: the signature does not verify with its Fulcio certificate (%s): the statement or the signature was altered", v.Path, v.Signer)
		return
	}
	parts := []string{"keyless:" + clip(root.Subject.String(), 128)}
	logID := hex.EncodeToString(entry.LogID.KeyID)
	logID = logID[:min(16, len(logID))]
	switch {
	case rekorV2:
		parts = append(parts, "Rekor v2 log "+logID)
	case hasSET:
		parts = append(parts, "log "+logID+" at "+time.Unix(integrated, 0).UTC().Format(time.RFC3339))
	default:
		parts = append(parts, "log "+logID)
	}
	switch {
	case hasSET && entry.InclusionProof == nil:
		parts = append(parts, "SET only")
	case hasSET:
		parts = append(parts, fmt.Sprintf("SET + inclusion proof (tree size %d)", tree))
	default:
		parts = append(parts, fmt.Sprintf("inclusion proof (tree size %d)", tree))
	}
	for _, s := range stamps {
		parts = append(parts, "RFC 3161 timestamp by "+s.tsa+" at "+s.at.UTC().Format(time.RFC3339))
	}
	v.Verified = true
	v.VerifiedBy = clip(strings.Join(parts, "; "), 512)
}

// datedBy is a verified time the signing certificate must be valid at.
type datedBy struct {
	at  time.Time
	by  string
	tsa string
}

// checkTimestamps verifies every RFC 3161 timestamp of the bundle against
// its first signature. ok is false when one does not hold; Unverified (and
// for a wrong timestamp, the finding) then says why.
func (v *sigView) checkTimestamps(tt *tsaTrust) (stamps []datedBy, ok bool) {
	e := v.env
	if e.stampCount > maxTimestamps {
		v.Unverified = fmt.Sprintf("%s: the bundle has %d RFC 3161 timestamps, more than %d", keylessWhat, e.stampCount, maxTimestamps)
		return nil, false
	}
	for i, raw := range e.stamps {
		tok, err := parseTimestamp(raw)
		var tsa *x509.Certificate
		if err == nil {
			tsa, err = tok.verify(e.sigs[0], tt)
		} else {
			err = fmt.Errorf("it %w", err)
		}
		if errors.Is(err, errTSAUntrusted) {
			v.Unverified = clip(fmt.Sprintf("%s: RFC 3161 timestamp %d: %v", keylessWhat, i+1, err), 512)
			return nil, false
		}
		if err != nil {
			v.Unverified = clip(fmt.Sprintf("%s: RFC 3161 timestamp %d is wrong: %v", keylessWhat, i+1, err), 512)
			v.add("signature.invalid", pickle.High, "%s: RFC 3161 timestamp %d is wrong: %s", v.Path, i+1, clip(err.Error(), 256))
			return nil, false
		}
		name := tsa.Subject.CommonName
		if name == "" {
			name = tsa.Subject.String()
		}
		stamps = append(stamps, datedBy{at: tok.genTime, by: fmt.Sprintf("the time of RFC 3161 timestamp %d", i+1), tsa: clip(name, 64)})
	}
	return stamps, true
}

// logEntryOf is the first entry of a trusted log, and that log. An ECDSA
// log is named by the SHA-256 of its key; an Ed25519 (Rekor v2) log by
// its signed-note key ID, which hashes the name it signs checkpoints
// under, the checkpoint's origin.
func logEntryOf(entries []tlogEntry, logs []trustKey) (*tlogEntry, trustKey) {
	for i := range entries {
		id := entries[i].LogID.KeyID
		for _, l := range logs {
			if l.key != nil && bytes.Equal(l.logID, id) {
				return &entries[i], l
			}
			if l.ed != nil {
				if origin := checkpointOrigin(&entries[i]); origin != "" && bytes.Equal(noteKeyID(origin, l.ed), id) {
					return &entries[i], l
				}
			}
		}
	}
	return nil, trustKey{}
}

// entryMatches says why a Rekor dsse entry is not the bundle's signature,
// or "" when it is: same payload, its first signature, same certificate.
func entryMatches(entry *tlogEntry, e *envelope, leaf *x509.Certificate) string {
	var body struct {
		Kind       string `json:"kind"`
		APIVersion string `json:"apiVersion"`
		Spec       struct {
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
	if err := json.Unmarshal(entry.CanonicalizedBody, &body); err != nil || body.Kind != "dsse" || body.APIVersion != "0.0.1" {
		return "its log entry cannot be read as a dsse 0.0.1 entry"
	}
	sum := sha256.Sum256(e.payload)
	if body.Spec.PayloadHash.Algorithm != "sha256" || body.Spec.PayloadHash.Value != hex.EncodeToString(sum[:]) {
		return "the log entry is for another payload"
	}
	for _, s := range body.Spec.Signatures {
		sig, err := base64.StdEncoding.DecodeString(s.Signature)
		if err != nil || !bytes.Equal(sig, e.sigs[0]) {
			continue
		}
		if blk, _ := pem.Decode(s.Verifier); blk != nil && bytes.Equal(blk.Bytes, leaf.Raw) {
			return ""
		}
	}
	return "the log entry lists another signature or certificate"
}

// entryMatchesV2 is entryMatches for a Rekor v2 dsse 0.0.2 entry, whose
// body (rekor-tiles' DSSELogEntryV002 as protobuf JSON) holds the payload
// hash and each signature with its verifier's DER certificate.
func entryMatchesV2(entry *tlogEntry, e *envelope, leaf *x509.Certificate) string {
	var body struct {
		Kind       string `json:"kind"`
		APIVersion string `json:"apiVersion"`
		Spec       struct {
			DSSE *struct {
				PayloadHash struct {
					Algorithm string `json:"algorithm"`
					Digest    []byte `json:"digest"`
				} `json:"payloadHash"`
				Signatures []struct {
					Content  []byte `json:"content"`
					Verifier struct {
						X509Certificate *struct {
							RawBytes []byte `json:"rawBytes"`
						} `json:"x509Certificate"`
					} `json:"verifier"`
				} `json:"signatures"`
			} `json:"dsseV002"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(entry.CanonicalizedBody, &body); err != nil || body.Kind != "dsse" || body.APIVersion != "0.0.2" || body.Spec.DSSE == nil {
		return "its log entry cannot be read as a dsse 0.0.2 entry"
	}
	d := body.Spec.DSSE
	sum := sha256.Sum256(e.payload)
	if d.PayloadHash.Algorithm != "SHA2_256" || !bytes.Equal(d.PayloadHash.Digest, sum[:]) {
		return "the log entry is for another payload"
	}
	for _, s := range d.Signatures {
		if bytes.Equal(s.Content, e.sigs[0]) && s.Verifier.X509Certificate != nil && bytes.Equal(s.Verifier.X509Certificate.RawBytes, leaf.Raw) {
			return ""
		}
	}
	return "the log entry lists another signature or certificate"
}
