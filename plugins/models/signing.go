package models

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/annexa/annexa/plugins/models/pickle"
)

// OpenSSF model signing (github.com/sigstore/model-transparency) writes a
// Sigstore bundle, model.sig, beside the model: its DSSE envelope carries
// an in-toto statement listing every file of the model folder with its
// SHA-256. The plugin reads the bundle (bounded), records who signed it
// (the certificate's SAN, or the public key hint) and the predicate type,
// and compares each listed digest with the file on disk, reporting drift.
//
// The signature itself is verified offline against the operator's keys
// or CA certificates (verify.go). `signed` is true only when it verifies
// and the bundle lists the file with its current digest: anyone can write
// a bundle with a certificate of their own, and a control that asks for
// signed models must not pass on one. What the bundle says is in
// `signature` (signer, predicate, digests_match, verified and why not),
// and drift from it is reported as findings.

// signatureFile is the bundle's usual name, in the model folder.
const signatureFile = "model.sig"

const (
	maxSigBytes     = 16 << 20
	maxSigResources = 100_000
	maxSigFindings  = 32
)

// Predicate types model_signing writes.
const (
	predicateV1     = "https://model_signing/signature/v1.0"
	predicateCompat = "https://model_signing/Digests/v0.1"
)

// Fulcio's certificate extensions naming the OIDC issuer.
var (
	oidIssuerV2 = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 8}
	oidIssuerV1 = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 1}
)

// sigView is what one model.sig says, and how the folder matches it.
type sigView struct {
	Path      string
	Dir       string
	Signer    string
	Issuer    string
	Predicate string
	// digests maps a path relative to Dir to its signed SHA-256 (hex).
	digests map[string]string
	// Findings concern the whole signed folder.
	Findings []pickle.Finding
	// env is what verification needs; Verified, VerifiedBy and
	// Unverified are its outcome (verify.go).
	env        *envelope
	Verified   bool
	VerifiedBy string
	Unverified string
}

func (v *sigView) add(rule string, sev pickle.Severity, format string, args ...any) {
	if len(v.Findings) >= maxSigFindings {
		return
	}
	v.Findings = append(v.Findings, pickle.Finding{Rule: rule, Severity: sev, Detail: fmt.Sprintf(format, args...)})
}

type bundleJSON struct {
	MediaType            string `json:"mediaType"`
	VerificationMaterial struct {
		Certificate *struct {
			RawBytes []byte `json:"rawBytes"`
		} `json:"certificate"`
		X509CertificateChain *struct {
			Certificates []struct {
				RawBytes []byte `json:"rawBytes"`
			} `json:"certificates"`
		} `json:"x509CertificateChain"`
		PublicKey *struct {
			Hint string `json:"hint"`
		} `json:"publicKey"`
		TlogEntries               []tlogEntry `json:"tlogEntries"`
		TimestampVerificationData *struct {
			RFC3161Timestamps []struct {
				SignedTimestamp []byte `json:"signedTimestamp"`
			} `json:"rfc3161Timestamps"`
		} `json:"timestampVerificationData"`
	} `json:"verificationMaterial"`
	DSSEEnvelope *struct {
		Payload     []byte `json:"payload"`
		PayloadType string `json:"payloadType"`
		Signatures  []struct {
			Sig []byte `json:"sig"`
		} `json:"signatures"`
	} `json:"dsseEnvelope"`
}

type statementJSON struct {
	Type    string `json:"_type"`
	Subject []struct {
		Name   string            `json:"name"`
		Digest map[string]string `json:"digest"`
	} `json:"subject"`
	PredicateType string `json:"predicateType"`
	Predicate     struct {
		Resources []struct {
			Name      string `json:"name"`
			Algorithm string `json:"algorithm"`
			Digest    string `json:"digest"`
		} `json:"resources"`
	} `json:"predicate"`
}

// parseSignature reads a model.sig; the view says what went wrong in its
// findings (a bundle that cannot be read lists nothing as signed).
func parseSignature(raw []byte, file, dir string) *sigView {
	v := &sigView{Path: file, Dir: dir, digests: map[string]string{}}
	var b bundleJSON
	if err := json.Unmarshal(raw, &b); err != nil {
		v.add("signature.parse_error", pickle.Suspicious, "%s is not a Sigstore bundle: %v", file, err)
		return v
	}
	if b.DSSEEnvelope == nil {
		v.add("signature.parse_error", pickle.Suspicious, "%s has no DSSE envelope (a message signature is not a model signature)", file)
		return v
	}
	v.identity(&b)
	v.env = &envelope{payloadType: b.DSSEEnvelope.PayloadType, payload: b.DSSEEnvelope.Payload}
	for _, sg := range b.DSSEEnvelope.Signatures {
		if len(v.env.sigs) < 8 && len(sg.Sig) > 0 {
			v.env.sigs = append(v.env.sigs, sg.Sig)
		}
	}
	switch vm := b.VerificationMaterial; {
	case vm.Certificate != nil:
		v.env.certs = [][]byte{vm.Certificate.RawBytes}
	case vm.X509CertificateChain != nil:
		for _, c := range vm.X509CertificateChain.Certificates {
			if len(v.env.certs) < 16 {
				v.env.certs = append(v.env.certs, c.RawBytes)
			}
		}
	case vm.PublicKey != nil:
		v.env.hasKey, v.env.keyHint = true, vm.PublicKey.Hint
	}
	if len(b.VerificationMaterial.TlogEntries) <= 8 {
		v.env.tlog = b.VerificationMaterial.TlogEntries
	}
	if td := b.VerificationMaterial.TimestampVerificationData; td != nil {
		v.env.stampCount = len(td.RFC3161Timestamps)
		for i := range min(len(td.RFC3161Timestamps), maxTimestamps) {
			v.env.stamps = append(v.env.stamps, td.RFC3161Timestamps[i].SignedTimestamp)
		}
	}
	if b.DSSEEnvelope.PayloadType != "application/vnd.in-toto+json" {
		v.add("signature.parse_error", pickle.Suspicious, "%s: payload type %q is not an in-toto statement", file, clip(b.DSSEEnvelope.PayloadType, 128))
		return v
	}
	if len(b.DSSEEnvelope.Signatures) == 0 {
		v.add("signature.unsigned", pickle.High, "%s: the envelope carries no signature", file)
	}
	var st statementJSON
	if err := json.Unmarshal(b.DSSEEnvelope.Payload, &st); err != nil {
		v.add("signature.parse_error", pickle.Suspicious, "%s: the statement is not JSON: %v", file, err)
		return v
	}
	v.Predicate = clip(st.PredicateType, 256)
	switch st.PredicateType {
	case predicateV1:
		if len(st.Predicate.Resources) > maxSigResources {
			v.add("signature.parse_error", pickle.Suspicious, "%s lists %d files, more than %d", file, len(st.Predicate.Resources), maxSigResources)
			return v
		}
		root := sha256.New()
		for _, r := range st.Predicate.Resources {
			d, err := hex.DecodeString(r.Digest)
			if err != nil || r.Algorithm != "sha256" || len(d) != sha256.Size {
				v.add("signature.parse_error", pickle.Suspicious, "%s: %q has a %s digest this plugin does not check", file, clip(r.Name, 256), clip(r.Algorithm, 32))
				continue
			}
			root.Write(d)
			v.list(file, r.Name, strings.ToLower(r.Digest))
		}
		// The subject's digest is the SHA-256 of the listed digests in
		// order: a statement whose list was edited no longer matches it.
		if len(st.Subject) != 1 || st.Subject[0].Digest["sha256"] != hex.EncodeToString(root.Sum(nil)) {
			v.add("signature.manifest_inconsistent", pickle.High, "%s: the subject digest does not match the listed files", file)
		}
	case predicateCompat:
		if len(st.Subject) > maxSigResources {
			v.add("signature.parse_error", pickle.Suspicious, "%s lists %d files, more than %d", file, len(st.Subject), maxSigResources)
			return v
		}
		for _, s := range st.Subject {
			v.list(file, s.Name, strings.ToLower(s.Digest["sha256"]))
		}
	default:
		v.add("signature.predicate", pickle.Suspicious, "%s: predicate type %q is not a model signature", file, v.Predicate)
	}
	return v
}

// list records one signed file; a name that leaves the folder is refused.
func (v *sigView) list(file, name, digest string) {
	clean := path.Clean(name)
	if name == "" || path.IsAbs(name) || clean == ".." || strings.HasPrefix(clean, "../") {
		v.add("signature.path", pickle.High, "%s lists %q, outside the signed folder", file, clip(name, 256))
		return
	}
	v.digests[clean] = digest
}

// identity names the signer from the verification material.
func (v *sigView) identity(b *bundleJSON) {
	vm := b.VerificationMaterial
	var der []byte
	switch {
	case vm.Certificate != nil:
		der = vm.Certificate.RawBytes
	case vm.X509CertificateChain != nil && len(vm.X509CertificateChain.Certificates) > 0:
		der = vm.X509CertificateChain.Certificates[0].RawBytes
	case vm.PublicKey != nil:
		v.Signer = "key:" + clip(vm.PublicKey.Hint, 128)
		return
	default:
		v.add("signature.parse_error", pickle.Suspicious, "the bundle has no certificate or public key")
		return
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		v.add("signature.parse_error", pickle.Suspicious, "the bundle's certificate cannot be parsed: %v", err)
		return
	}
	switch {
	case len(cert.EmailAddresses) > 0:
		v.Signer = clip(cert.EmailAddresses[0], 256)
	case len(cert.URIs) > 0:
		v.Signer = clip(cert.URIs[0].String(), 256)
	case len(cert.DNSNames) > 0:
		v.Signer = clip(cert.DNSNames[0], 256)
	default:
		v.Signer = clip(cert.Subject.String(), 256)
	}
	for _, e := range cert.Extensions {
		switch {
		case e.Id.Equal(oidIssuerV2):
			var s string
			if _, err := asn1.Unmarshal(e.Value, &s); err == nil {
				v.Issuer = clip(s, 256)
			}
		case e.Id.Equal(oidIssuerV1) && v.Issuer == "":
			v.Issuer = clip(string(e.Value), 256)
		}
	}
}

// checkFiles compares the listed files that are not models with the disk
// (models are compared in apply, with the digest already computed for
// them). hash returns a file's SHA-256, "" when it is missing, and
// isModel whether the plugin will analyse it as a model.
func (v *sigView) checkFiles(hash func(string) (string, bool, error)) {
	names := make([]string, 0, len(v.digests))
	for n := range v.digests {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		sum, isModel, err := hash(filepath.Join(v.Dir, filepath.FromSlash(n)))
		switch {
		case isModel:
		case errors.Is(err, errMissing):
			v.add("signature.missing_file", pickle.High, "%s lists %q, which is not there", v.Path, clip(n, 256))
		case err != nil:
			v.add("signature.unchecked", pickle.Suspicious, "%s lists %q, which cannot be read: %v", v.Path, clip(n, 256), err)
		case sum != v.digests[n]:
			v.add("signature.digest_mismatch", pickle.High, "%q changed since it was signed (%s)", clip(n, 256), v.Path)
		}
	}
}

var errMissing = errors.New("missing")

// apply records the bundle covering a model file, and whether it lists
// the file (and every other file of the folder) with its current digest.
func (v *sigView) apply(a *Attributes) {
	a.Signature = &Signature{Path: v.Path, Signer: v.Signer, Issuer: v.Issuer, PredicateType: v.Predicate}
	rel, err := filepath.Rel(v.Dir, a.Path)
	want, listed := v.digests[filepath.ToSlash(rel)]
	switch {
	case err != nil || !listed:
		a.Findings = append(a.Findings, pickle.Finding{Rule: "signature.unlisted", Severity: pickle.Suspicious,
			Detail: fmt.Sprintf("%s does not list this file: it was added after signing or left out", v.Path)})
	case a.HashStatus != "ok":
		a.Findings = append(a.Findings, pickle.Finding{Rule: "signature.unchecked", Severity: pickle.Suspicious,
			Detail: fmt.Sprintf("listed in %s, but its digest is not known yet (%s)", v.Path, a.HashStatus)})
	case a.SHA256 != want:
		a.Findings = append(a.Findings, pickle.Finding{Rule: "signature.digest_mismatch", Severity: pickle.High,
			Detail: fmt.Sprintf("the file changed since it was signed: %s lists sha256 %s", v.Path, want)})
	default:
		a.Signature.DigestsMatch = !slices.ContainsFunc(v.Findings, func(f pickle.Finding) bool {
			return f.Severity.Rank() >= pickle.High.Rank()
		})
	}
	a.Signature.Verified, a.Signature.VerifiedBy, a.Signature.UnverifiedReason = v.Verified, v.VerifiedBy, v.Unverified
	// Signed: a trusted signer vouches for exactly these bytes.
	if a.Signed = v.Verified && a.Signature.DigestsMatch; a.Signed {
		a.SignedBy = v.Signer
	}
	a.Findings = append(a.Findings, v.Findings...)
}

// Signature is what the model evidence says about the bundle covering it.
type Signature struct {
	Path          string `json:"path"`
	Signer        string `json:"signer,omitempty"`
	Issuer        string `json:"issuer,omitempty"`
	PredicateType string `json:"predicate_type,omitempty"`
	// DigestsMatch: the bundle lists this file with its current digest
	// and no other listed file has drifted or gone.
	DigestsMatch bool `json:"digests_match"`
	// Verified: the signature verifies with one of the operator's
	// signing_keys, or with a certificate that chains to signing_ca_certs.
	Verified   bool   `json:"verified"`
	VerifiedBy string `json:"verified_by,omitempty"`
	// UnverifiedReason says why Verified is false.
	UnverifiedReason string `json:"unverified_reason,omitempty"`
}
