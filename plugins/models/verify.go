package models

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/annexa/annexa/plugins/models/pickle"
	"github.com/annexa/annexa/plugins/sdk"
)

// Offline verification of OpenSSF model-signing bundles, as
// `model_signing verify key` and `model_signing verify certificate` do:
//
//   - key method: the bundle names the public key by a hint (SHA-256 of
//     its PEM); the DSSE signature (ECDSA, P-256/384/521 with
//     SHA-256/384/512) over the PAE of the in-toto statement must verify
//     with one of the operator's signing_keys;
//   - certificate method: the bundle carries the signing certificate and
//     its chain; the chain must lead to one of the operator's
//     signing_ca_certs, checked at the certificate's notBefore (as
//     model_signing does: a signature made while the certificate was
//     valid stays valid after it expires), the certificate must allow
//     digital signatures or code signing, and the signature must verify
//     with its key.
//
// Sigstore keyless bundles (a short-lived Fulcio certificate) are checked
// against the transparency log's signed promise, inclusion proof and
// checkpoint in keyless.go and tlogproof.go. Nothing here uses the
// network.

const maxTrustFileBytes = 1 << 20

// trust is what the operator trusts to sign models.
type trust struct {
	keys  []trustKey
	roots *x509.CertPool
	// rootsFiles name the CA files, for the evidence.
	rootsFiles []string
	// identities, when set, are the only certificate signers (SAN e-mail,
	// URI or DNS name) trusted: a CA may certify many more people.
	identities []string
	// logs are the transparency logs (Rekor) trusted to date a keyless
	// signature (keyless.go).
	logs []trustKey
	// tsa holds the timestamp authorities trusted to date a keyless
	// signature (tsa.go); nil when none are configured.
	tsa *tsaTrust
}

type trustKey struct {
	path string
	key  *ecdsa.PublicKey
	// hint is the SHA-256 (hex) of the key's PEM, as model_signing
	// writes it into the bundle.
	hint string
	// logID is the SHA-256 of its DER: how Rekor v1, and Rekor v2 for an
	// ECDSA key, names its log.
	logID []byte
	// ed is a Rekor v2 log's Ed25519 key (then key is nil): its log ID is
	// the signed-note key ID, which also hashes the log's name (tlogproof.go).
	ed ed25519.PublicKey
}

// loadTrust reads signing_keys and signing_ca_certs; errors name the entry.
func loadTrust(s *Settings) (*trust, sdk.FieldErrors) {
	var fe sdk.FieldErrors
	t := &trust{}
	for i, p := range s.SigningKeys {
		f := fmt.Sprintf("signing_keys[%d]", i)
		k, err := readPublicKey(p)
		if err != nil {
			fe = append(fe, sdk.FieldError{Field: f, Message: err.Error()})
			continue
		}
		t.keys = append(t.keys, k)
	}
	for i, p := range s.SigningCACerts {
		f := fmt.Sprintf("signing_ca_certs[%d]", i)
		certs, err := readCerts(p)
		if err != nil {
			fe = append(fe, sdk.FieldError{Field: f, Message: err.Error()})
			continue
		}
		if t.roots == nil {
			t.roots = x509.NewCertPool()
		}
		for _, c := range certs {
			t.roots.AddCert(c)
		}
		t.rootsFiles = append(t.rootsFiles, p)
	}
	for i, id := range s.SigningIdentities {
		if strings.TrimSpace(id) == "" {
			fe = append(fe, sdk.FieldError{Field: fmt.Sprintf("signing_identities[%d]", i), Message: "is empty: give a certificate's e-mail, URI or DNS name"})
			continue
		}
		t.identities = append(t.identities, strings.TrimSpace(id))
	}
	for i, p := range s.RekorKeys {
		k, err := readLogKey(p)
		if err != nil {
			fe = append(fe, sdk.FieldError{Field: fmt.Sprintf("rekor_keys[%d]", i), Message: err.Error()})
			continue
		}
		t.logs = append(t.logs, k)
	}
	for i, p := range s.TimestampAuthorityCerts {
		certs, err := readCerts(p)
		if err != nil {
			fe = append(fe, sdk.FieldError{Field: fmt.Sprintf("timestamp_authority_certs[%d]", i), Message: err.Error()})
			continue
		}
		if t.tsa == nil {
			t.tsa = &tsaTrust{}
		}
		for _, c := range certs {
			if !c.IsCA {
				t.tsa.leaves = append(t.tsa.leaves, c)
				continue
			}
			if t.tsa.roots == nil {
				t.tsa.roots = x509.NewCertPool()
			}
			t.tsa.roots.AddCert(c)
		}
		t.tsa.files = append(t.tsa.files, p)
	}
	if t.tsa != nil && t.tsa.roots == nil {
		fe = append(fe, sdk.FieldError{Field: "timestamp_authority_certs", Message: "holds no CA certificate: give the timestamp authority's root (and intermediates), certChain of timestampAuthorities[] in trusted_root.json"})
	}
	if len(t.identities) > 0 && t.roots == nil {
		fe = append(fe, sdk.FieldError{Field: "signing_identities", Message: "restricts certificate signers, so it needs signing_ca_certs"})
	}
	return t, fe
}

func readTrustFile(p string) ([]byte, error) {
	if !filepath.IsAbs(p) {
		return nil, fmt.Errorf("%q is not an absolute path", p)
	}
	b, err := readConfigFile(p, maxTrustFileBytes+1)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", p, err)
	}
	if len(b) > maxTrustFileBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes", p, maxTrustFileBytes)
	}
	return b, nil
}

// readPublicKey reads a PEM (or DER) SubjectPublicKeyInfo EC key.
func readPublicKey(p string) (trustKey, error) {
	pub, der, err := readPKIX(p)
	if err != nil {
		return trustKey{}, err
	}
	return ecTrustKey(p, pub, der)
}

// readLogKey reads a transparency log's key: ECDSA (Rekor v1, and v2
// logs with an ECDSA key) or Ed25519 (Rekor v2).
func readLogKey(p string) (trustKey, error) {
	pub, der, err := readPKIX(p)
	if err != nil {
		return trustKey{}, err
	}
	if ed, ok := pub.(ed25519.PublicKey); ok {
		id := sha256.Sum256(der)
		return trustKey{path: p, ed: ed, logID: id[:]}, nil
	}
	k, err := ecTrustKey(p, pub, der)
	if err != nil {
		return trustKey{}, fmt.Errorf("%s is a %T; transparency log keys are ECDSA (P-256, P-384, P-521) or Ed25519 keys", p, pub)
	}
	return k, nil
}

func readPKIX(p string) (any, []byte, error) {
	b, err := readTrustFile(p)
	if err != nil {
		return nil, nil, err
	}
	der := b
	if blk, _ := pem.Decode(b); blk != nil {
		if blk.Type != "PUBLIC KEY" {
			return nil, nil, fmt.Errorf("%s holds a %q block; give the public key (openssl pkey -pubout)", p, blk.Type)
		}
		der = blk.Bytes
	}
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, nil, fmt.Errorf("%s is not a PEM or DER public key: %v", p, err)
	}
	return pub, der, nil
}

func ecTrustKey(p string, pub any, der []byte) (trustKey, error) {
	ec, ok := pub.(*ecdsa.PublicKey)
	if !ok || hashFor(ec) == nil {
		return trustKey{}, fmt.Errorf("%s is a %T; model signing keys are elliptic-curve keys on P-256, P-384 or P-521", p, pub)
	}
	sum := sha256.Sum256(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	id := sha256.Sum256(der)
	return trustKey{path: p, key: ec, hint: hex.EncodeToString(sum[:]), logID: id[:]}, nil
}

func readCerts(p string) ([]*x509.Certificate, error) {
	b, err := readTrustFile(p)
	if err != nil {
		return nil, err
	}
	var certs []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: a certificate cannot be parsed: %v", p, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%s holds no PEM certificate", p)
	}
	return certs, nil
}

// hashFor is the digest model_signing pairs with the key's curve.
func hashFor(k *ecdsa.PublicKey) func() hash.Hash {
	switch k.Curve {
	case elliptic.P256():
		return sha256.New
	case elliptic.P384():
		return sha512.New384
	case elliptic.P521():
		return sha512.New
	}
	return nil
}

// pae is DSSE's pre-authentication encoding, what is signed.
func pae(payloadType string, payload []byte) []byte {
	return fmt.Appendf(nil, "DSSEv1 %d %s %d %s", len(payloadType), payloadType, len(payload), payload)
}

// paeCompat is what model_signing before 1.0 signed instead, by mistake:
// "DSSEV1" and the payload written as Python's repr of bytes (b'...').
func paeCompat(payloadType string, payload []byte) []byte {
	return fmt.Appendf(nil, "DSSEV1 %d %s %d %s", len(payloadType), payloadType, len(payload), pyBytesRepr(payload))
}

// pyBytesRepr writes b as CPython's bytes.__repr__ does.
func pyBytesRepr(b []byte) []byte {
	quote := byte('\'')
	if bytes.IndexByte(b, '\'') >= 0 && bytes.IndexByte(b, '"') < 0 {
		quote = '"'
	}
	out := make([]byte, 0, len(b)+len(b)/8+3)
	out = append(out, 'b', quote)
	for _, c := range b {
		switch {
		case c == quote || c == '\\':
			out = append(out, '\\', c)
		case c == '\t':
			out = append(out, '\\', 't')
		case c == '\n':
			out = append(out, '\\', 'n')
		case c == '\r':
			out = append(out, '\\', 'r')
		case c < ' ' || c >= 0x7f:
			out = fmt.Appendf(out, "\\x%02x", c)
		default:
			out = append(out, c)
		}
	}
	return append(out, quote)
}

// verifyWith checks the signatures over the payload's encoding, or the
// one model_signing before 1.0 used (as its own verifier still accepts).
func verifyWith(k *ecdsa.PublicKey, e *envelope, sigs [][]byte) bool {
	newHash := hashFor(k)
	if newHash == nil {
		return false
	}
	// Before 1.0 the digest was SHA-256 whatever the curve.
	for _, try := range []struct {
		msg  []byte
		hash func() hash.Hash
	}{
		{pae(e.payloadType, e.payload), newHash},
		{paeCompat(e.payloadType, e.payload), newHash},
		{paeCompat(e.payloadType, e.payload), sha256.New},
	} {
		h := try.hash()
		h.Write(try.msg)
		d := h.Sum(nil)
		if slices.ContainsFunc(sigs, func(s []byte) bool { return ecdsa.VerifyASN1(k, d, s) }) {
			return true
		}
	}
	return false
}

// envelope is what verification needs from a parsed bundle.
type envelope struct {
	payloadType string
	payload     []byte
	sigs        [][]byte
	keyHint     string
	hasKey      bool
	certs       [][]byte
	tlog        []tlogEntry
	// stamps are the bundle's RFC 3161 timestamps (at most maxTimestamps
	// of stampCount).
	stamps     [][]byte
	stampCount int
}

// verify checks the bundle's signature against the operator's trust and
// says why it is not verified when it is not.
func (v *sigView) verify(t *trust) {
	e := v.env
	switch {
	case e == nil || len(e.sigs) == 0:
		v.Unverified = "the bundle carries no signature that could be read"
		return
	case slices.ContainsFunc(v.Findings, func(f pickle.Finding) bool {
		return f.Rule == "signature.parse_error" || f.Rule == "signature.predicate"
	}):
		v.Unverified = "the bundle could not be read as a model signature"
		return
	case e.hasKey:
		v.verifyKey(t)
	case len(e.certs) > 0:
		v.verifyCert(t)
	default:
		v.Unverified = "the bundle has no public key or certificate"
	}
}

func (v *sigView) verifyKey(t *trust) {
	e := v.env
	if t == nil || len(t.keys) == 0 {
		v.Unverified = fmt.Sprintf("signed with a key (hint %s); no signing_keys are configured to verify it", clip(e.keyHint, 64))
		return
	}
	var named []trustKey
	for _, k := range t.keys {
		if e.keyHint == "" || strings.EqualFold(e.keyHint, k.hint) {
			named = append(named, k)
		}
	}
	if len(named) == 0 {
		v.Unverified = fmt.Sprintf("signed with a key that is not one of signing_keys (hint %s)", clip(e.keyHint, 64))
		return
	}
	for _, k := range named {
		if verifyWith(k.key, e, e.sigs) {
			v.Verified, v.VerifiedBy = true, "key:"+k.path
			v.Signer = "key:" + k.path
			return
		}
	}
	if e.keyHint == "" {
		v.Unverified = "no key of signing_keys verifies the signature (the bundle names no key)"
		return
	}
	v.Unverified = "the signature does not verify with the key the bundle names"
	v.add("signature.invalid", pickle.High, "%s: the signature does not verify with %s, the key it names: the statement or the signature was altered", v.Path, named[0].path)
}

func (v *sigView) verifyCert(t *trust) {
	e := v.env
	leaf, err := x509.ParseCertificate(e.certs[0])
	if err != nil {
		v.Unverified = "the signing certificate cannot be parsed"
		return
	}
	if slices.ContainsFunc(leaf.Extensions, func(x pkix.Extension) bool { return x.Id.Equal(oidIssuerV1) || x.Id.Equal(oidIssuerV2) }) {
		v.verifyKeyless(t, leaf)
		return
	}
	if t == nil || t.roots == nil {
		v.Unverified = "signed with a certificate; no signing_ca_certs are configured to verify its chain"
		return
	}
	inter := x509.NewCertPool()
	for _, der := range e.certs[1:] {
		if c, err := x509.ParseCertificate(der); err == nil {
			inter.AddCert(c)
		}
	}
	chains, err := leaf.Verify(x509.VerifyOptions{Roots: t.roots, Intermediates: inter, CurrentTime: leaf.NotBefore,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		v.Unverified = clip("the certificate does not chain to signing_ca_certs: "+err.Error(), 512)
		return
	}
	if leaf.KeyUsage&x509.KeyUsageDigitalSignature == 0 && !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageCodeSigning) {
		v.Unverified = "the certificate allows neither digital signatures nor code signing"
		return
	}
	pub, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok {
		v.Unverified = fmt.Sprintf("the certificate's key is a %T, not an elliptic-curve key", leaf.PublicKey)
		return
	}
	if !verifyWith(pub, e, e.sigs) {
		v.Unverified = "the signature does not verify with the certificate's key"
		v.add("signature.invalid", pickle.High, "%s: the signature does not verify with its certificate (%s), which chains to signing_ca_certs: the statement or the signature was altered", v.Path, v.Signer)
		return
	}
	if len(t.identities) > 0 && !slices.ContainsFunc(certIdentities(leaf), func(id string) bool { return slices.Contains(t.identities, id) }) {
		v.Unverified = fmt.Sprintf("signed by %s, who is not one of signing_identities", v.Signer)
		return
	}
	root := chains[0][len(chains[0])-1]
	v.Verified, v.VerifiedBy = true, "ca:"+clip(root.Subject.String(), 256)
}

// readConfigFile reads a file the operator configured (a key, a CA, the
// approved-digest list) up to limit. Unlike a model folder's files it may
// be a symlink, as configuration management often makes them.
func readConfigFile(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	return io.ReadAll(io.LimitReader(f, limit))
}

// certIdentities are the names a certificate vouches for.
func certIdentities(c *x509.Certificate) []string {
	ids := slices.Clone(c.EmailAddresses)
	for _, u := range c.URIs {
		ids = append(ids, u.String())
	}
	return append(ids, c.DNSNames...)
}
