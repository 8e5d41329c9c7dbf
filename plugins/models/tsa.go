package models

import (
	"bytes"
	"crypto"
	"crypto/sha1" //nolint:gosec // ESS signing-certificate (v1) names the TSA certificate by its SHA-1 (RFC 2634)
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"

	"golang.org/x/crypto/cryptobyte"
	casn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// RFC 3161 timestamps. Rekor v2 signs no entry timestamp, so a Sigstore
// bundle v0.3 dates its signature with a timestamp authority (TSA) instead:
// verificationMaterial.timestampVerificationData.rfc3161Timestamps[] holds
// DER TimeStampResp messages whose TSTInfo.messageImprint is the hash of
// the DSSE envelope's (first) signature bytes, as sigstore-go and
// sigstore-python verify it. The token is CMS SignedData (RFC 5652) with
// exactly one SignerInfo, whose signed attributes carry the content type,
// the digest of the TSTInfo and the ESS signing-certificate (v1, RFC 2634,
// or v2, RFC 5035) attribute naming the TSA certificate.
//
// The reader below is strict DER through cryptobyte: every length is
// checked against what is left, nothing is decoded past the token's own
// bytes, and the counts that could grow (certificates, attributes,
// certificate IDs) are capped, so a hostile token costs time and memory
// in proportion to its size, itself capped at maxTimestampBytes.

const (
	// Sigstore's TSA answers with about 1.3 KB, 2 KB with its certificate.
	maxTimestampBytes = 32 << 10
	maxTimestamps     = 8
	maxTokenCerts     = 8
	maxSignedAttrs    = 32
	maxESSCertIDs     = 16
)

var (
	oidSignedData       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidTSTInfo          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 1, 4}
	oidAttrContentType  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidAttrDigest       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	oidAttrSigningCert  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 12}
	oidAttrSigningCert2 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 47}
	oidEKU              = asn1.ObjectIdentifier{2, 5, 29, 37}
)

// digestOIDs are the hashes a timestamp may use for its imprint and
// digests. SHA-1 is refused there: a collision would let one timestamp
// date two signatures.
var digestOIDs = map[string]crypto.Hash{
	"2.16.840.1.101.3.4.2.1": crypto.SHA256,
	"2.16.840.1.101.3.4.2.2": crypto.SHA384,
	"2.16.840.1.101.3.4.2.3": crypto.SHA512,
}

// sigAlgs maps a SignerInfo's signature algorithm to what crypto/x509
// checks. A bare key algorithm (rsaEncryption, id-ecPublicKey) takes its
// hash from the SignerInfo's digest algorithm.
var sigAlgs = map[string]x509.SignatureAlgorithm{
	"1.2.840.10045.4.3.2":   x509.ECDSAWithSHA256,
	"1.2.840.10045.4.3.3":   x509.ECDSAWithSHA384,
	"1.2.840.10045.4.3.4":   x509.ECDSAWithSHA512,
	"1.2.840.113549.1.1.11": x509.SHA256WithRSA,
	"1.2.840.113549.1.1.12": x509.SHA384WithRSA,
	"1.2.840.113549.1.1.13": x509.SHA512WithRSA,
	"1.3.101.112":           x509.PureEd25519,
}

var bareSigAlgs = map[string]map[crypto.Hash]x509.SignatureAlgorithm{
	"1.2.840.113549.1.1.1": {crypto.SHA256: x509.SHA256WithRSA, crypto.SHA384: x509.SHA384WithRSA, crypto.SHA512: x509.SHA512WithRSA},
	"1.2.840.10045.2.1":    {crypto.SHA256: x509.ECDSAWithSHA256, crypto.SHA384: x509.ECDSAWithSHA384, crypto.SHA512: x509.ECDSAWithSHA512},
}

// timestampToken is what verification needs of one TimeStampResp.
type timestampToken struct {
	genTime time.Time
	// imprintHash(signature bytes) must be imprint.
	imprintHash crypto.Hash
	imprint     []byte
	// tstInfo is the encapsulated content, whose digest the signed
	// attributes carry.
	tstInfo []byte
	certs   []*x509.Certificate
	// The signer, by issuer and serial number or by key identifier.
	sidIssuer []byte
	sidSerial *big.Int
	sidKeyID  []byte
	digest    crypto.Hash
	sigAlg    x509.SignatureAlgorithm
	signature []byte
	// signedAttrs is the DER SET the TSA signed.
	signedAttrs []byte
	contentType asn1.ObjectIdentifier
	attrDigest  []byte
	// essHash(TSA certificate) must be essCertHash; essSerial, when the
	// attribute names it, must be the certificate's serial number.
	essHash     crypto.Hash
	essCertHash []byte
	essSerial   *big.Int
}

var errTimestampDER = errors.New("is not a DER RFC 3161 TimeStampResp")

// parseTimestamp reads a DER TimeStampResp (RFC 3161 section 2.4.2).
func parseTimestamp(der []byte) (*timestampToken, error) {
	if len(der) > maxTimestampBytes {
		return nil, fmt.Errorf("is %d bytes, more than %d", len(der), maxTimestampBytes)
	}
	in := cryptobyte.String(der)
	var resp, status cryptobyte.String
	var code int64
	if !in.ReadASN1(&resp, casn1.SEQUENCE) || !in.Empty() ||
		!resp.ReadASN1(&status, casn1.SEQUENCE) || !status.ReadASN1Integer(&code) {
		return nil, errTimestampDER
	}
	// granted (0) or grantedWithMods (1): anything else carries no token.
	if code != 0 && code != 1 {
		return nil, fmt.Errorf("is the timestamp authority's refusal (status %d)", code)
	}
	var info, signed cryptobyte.String
	var ct asn1.ObjectIdentifier
	if !resp.ReadASN1(&info, casn1.SEQUENCE) || !info.ReadASN1ObjectIdentifier(&ct) ||
		!info.ReadASN1(&signed, casn1.Tag(0).Constructed().ContextSpecific()) || !info.Empty() {
		return nil, errors.New("carries no timestamp token")
	}
	if !ct.Equal(oidSignedData) {
		return nil, fmt.Errorf("holds a %s, not CMS SignedData", ct)
	}
	var sd, digestAlgs, encap, signers cryptobyte.String
	var version int64
	if !signed.ReadASN1(&sd, casn1.SEQUENCE) || !signed.Empty() ||
		!sd.ReadASN1Integer(&version) || !sd.ReadASN1(&digestAlgs, casn1.SET) || !sd.ReadASN1(&encap, casn1.SEQUENCE) {
		return nil, errTimestampDER
	}
	tok := &timestampToken{}
	var eType asn1.ObjectIdentifier
	var eExplicit, eContent cryptobyte.String
	if !encap.ReadASN1ObjectIdentifier(&eType) || !encap.ReadASN1(&eExplicit, casn1.Tag(0).Constructed().ContextSpecific()) ||
		!eExplicit.ReadASN1(&eContent, casn1.OCTET_STRING) || !eExplicit.Empty() || !encap.Empty() {
		return nil, errors.New("has no encapsulated TSTInfo")
	}
	if !eType.Equal(oidTSTInfo) {
		return nil, fmt.Errorf("encapsulates a %s, not a TSTInfo", eType)
	}
	tok.tstInfo = eContent
	if err := tok.parseTSTInfo(eContent); err != nil {
		return nil, err
	}
	var certs cryptobyte.String
	var hasCerts bool
	if !sd.ReadOptionalASN1(&certs, &hasCerts, casn1.Tag(0).Constructed().ContextSpecific()) {
		return nil, errTimestampDER
	}
	for !certs.Empty() {
		var c cryptobyte.String
		var tag casn1.Tag
		if !certs.ReadAnyASN1Element(&c, &tag) {
			return nil, errTimestampDER
		}
		if tag != casn1.SEQUENCE { // attribute and other certificate formats
			continue
		}
		if len(tok.certs) == maxTokenCerts {
			return nil, fmt.Errorf("carries more than %d certificates", maxTokenCerts)
		}
		cert, err := x509.ParseCertificate(c)
		if err != nil {
			return nil, fmt.Errorf("carries a certificate that cannot be parsed: %v", err)
		}
		tok.certs = append(tok.certs, cert)
	}
	// CRLs ([1]) are not read: the TSA chain is judged at genTime.
	if !sd.SkipOptionalASN1(casn1.Tag(1).Constructed().ContextSpecific()) ||
		!sd.ReadASN1(&signers, casn1.SET) || !sd.Empty() {
		return nil, errTimestampDER
	}
	var si cryptobyte.String
	if !signers.ReadASN1(&si, casn1.SEQUENCE) {
		return nil, errors.New("has no SignerInfo")
	}
	if !signers.Empty() {
		return nil, errors.New("has more than one SignerInfo; RFC 3161 allows only the TSA's")
	}
	if err := tok.parseSignerInfo(si); err != nil {
		return nil, err
	}
	return tok, nil
}

func readAlgorithm(s *cryptobyte.String) (asn1.ObjectIdentifier, bool) {
	var alg cryptobyte.String
	var oid asn1.ObjectIdentifier
	if !s.ReadASN1(&alg, casn1.SEQUENCE) || !alg.ReadASN1ObjectIdentifier(&oid) {
		return nil, false
	}
	// Parameters, when present (NULL for SHA-2 by some writers), are one
	// element.
	if !alg.Empty() && (!alg.SkipASN1(casn1.NULL) || !alg.Empty()) {
		return nil, false
	}
	return oid, true
}

func digestOf(oid asn1.ObjectIdentifier) (crypto.Hash, error) {
	if h, ok := digestOIDs[oid.String()]; ok {
		return h, nil
	}
	return 0, fmt.Errorf("uses the hash %s; only SHA-256, SHA-384 and SHA-512 are accepted", oid)
}

// parseTSTInfo reads TSTInfo (RFC 3161 section 2.4.2): version, policy,
// messageImprint, serialNumber, genTime; what follows (accuracy, ordering,
// nonce, tsa, extensions) does not bear on what is verified.
func (tok *timestampToken) parseTSTInfo(der []byte) error {
	in := cryptobyte.String(der)
	var tst, imprint cryptobyte.String
	var version int64
	var policy asn1.ObjectIdentifier
	serial := new(big.Int)
	var gen cryptobyte.String
	if !in.ReadASN1(&tst, casn1.SEQUENCE) || !in.Empty() || !tst.ReadASN1Integer(&version) ||
		!tst.ReadASN1ObjectIdentifier(&policy) || !tst.ReadASN1(&imprint, casn1.SEQUENCE) {
		return errors.New("has a TSTInfo that cannot be read")
	}
	if version != 1 {
		return fmt.Errorf("has a TSTInfo of version %d, not 1", version)
	}
	alg, ok := readAlgorithm(&imprint)
	var hashed cryptobyte.String
	if !ok || !imprint.ReadASN1(&hashed, casn1.OCTET_STRING) || !imprint.Empty() {
		return errors.New("has a message imprint that cannot be read")
	}
	h, err := digestOf(alg)
	if err != nil {
		return fmt.Errorf("has a message imprint that %w", err)
	}
	if len(hashed) != h.Size() {
		return fmt.Errorf("has a %d-byte message imprint for a %d-byte hash", len(hashed), h.Size())
	}
	tok.imprintHash, tok.imprint = h, hashed
	if !tst.ReadASN1Integer(serial) || !tst.ReadASN1(&gen, casn1.GeneralizedTime) {
		return errors.New("has a TSTInfo without serial number or genTime")
	}
	t, err := parseGeneralizedTime(string(gen))
	if err != nil {
		return err
	}
	tok.genTime = t
	return nil
}

// parseGeneralizedTime reads genTime: UTC ("Z"), seconds, and optionally
// a fraction of a second (RFC 3161 allows one, without trailing zeros),
// which cryptobyte's reader does not take.
func parseGeneralizedTime(s string) (time.Time, error) {
	if len(s) < 15 || len(s) > 32 || s[len(s)-1] != 'Z' {
		return time.Time{}, fmt.Errorf("has a genTime %q that is not a UTC GeneralizedTime", clip(s, 32))
	}
	t, err := time.ParseInLocation("20060102150405", s[:len(s)-1], time.UTC)
	if err != nil {
		return time.Time{}, fmt.Errorf("has a genTime %q that is not a UTC GeneralizedTime", clip(s, 32))
	}
	return t, nil
}

// parseSignerInfo reads the one SignerInfo (RFC 5652 section 5.3).
func (tok *timestampToken) parseSignerInfo(si cryptobyte.String) error {
	var version int64
	if !si.ReadASN1Integer(&version) {
		return errors.New("has a SignerInfo that cannot be read")
	}
	switch {
	case si.PeekASN1Tag(casn1.SEQUENCE):
		var ias cryptobyte.String
		var issuer cryptobyte.String
		tok.sidSerial = new(big.Int)
		if !si.ReadASN1(&ias, casn1.SEQUENCE) || !ias.ReadASN1Element(&issuer, casn1.SEQUENCE) ||
			!ias.ReadASN1Integer(tok.sidSerial) || !ias.Empty() {
			return errors.New("names its signer in a way that cannot be read")
		}
		tok.sidIssuer = issuer
	case si.PeekASN1Tag(casn1.Tag(0).ContextSpecific()):
		var ski cryptobyte.String
		if !si.ReadASN1(&ski, casn1.Tag(0).ContextSpecific()) {
			return errors.New("names its signer in a way that cannot be read")
		}
		tok.sidKeyID = ski
	default:
		return errors.New("names its signer in a way that cannot be read")
	}
	dalg, ok := readAlgorithm(&si)
	if !ok {
		return errors.New("has a SignerInfo without digest algorithm")
	}
	var err error
	if tok.digest, err = digestOf(dalg); err != nil {
		return fmt.Errorf("has a SignerInfo that %w", err)
	}
	var attrs cryptobyte.String
	if !si.ReadASN1Element(&attrs, casn1.Tag(0).Constructed().ContextSpecific()) {
		// RFC 3161 requires the signing-certificate attribute, so a token
		// without signed attributes is not one.
		return errors.New("has no signed attributes")
	}
	// What was signed is the attributes' DER with the SET tag, not [0].
	tok.signedAttrs = slices.Clone([]byte(attrs))
	tok.signedAttrs[0] = 0x31
	if err := tok.parseSignedAttrs(attrs); err != nil {
		return err
	}
	salg, ok := readAlgorithm(&si)
	var sig cryptobyte.String
	if !ok || !si.ReadASN1(&sig, casn1.OCTET_STRING) {
		return errors.New("has a SignerInfo without signature")
	}
	if a, ok := sigAlgs[salg.String()]; ok {
		tok.sigAlg = a
	} else if a, ok := bareSigAlgs[salg.String()][tok.digest]; ok {
		tok.sigAlg = a
	} else {
		return fmt.Errorf("is signed with %s, which is not read (ECDSA, RSA PKCS #1 v1.5 and Ed25519 are)", salg)
	}
	tok.signature = sig
	// Unsigned attributes ([1]) do not bear on anything signed.
	if !si.SkipOptionalASN1(casn1.Tag(1).Constructed().ContextSpecific()) || !si.Empty() {
		return errors.New("has a SignerInfo that cannot be read")
	}
	return nil
}

// parseSignedAttrs reads content-type, message-digest and the ESS
// signing-certificate attribute; each may appear once, with one value.
func (tok *timestampToken) parseSignedAttrs(el cryptobyte.String) error {
	var attrs cryptobyte.String
	if !el.ReadASN1(&attrs, casn1.Tag(0).Constructed().ContextSpecific()) {
		return errors.New("has signed attributes that cannot be read")
	}
	seen := map[string]bool{}
	for n := 0; !attrs.Empty(); n++ {
		var attr, values, value cryptobyte.String
		var oid asn1.ObjectIdentifier
		if n == maxSignedAttrs {
			return fmt.Errorf("has more than %d signed attributes", maxSignedAttrs)
		}
		if !attrs.ReadASN1(&attr, casn1.SEQUENCE) || !attr.ReadASN1ObjectIdentifier(&oid) ||
			!attr.ReadASN1(&values, casn1.SET) || !attr.Empty() {
			return errors.New("has a signed attribute that cannot be read")
		}
		if seen[oid.String()] {
			return fmt.Errorf("has the signed attribute %s twice", oid)
		}
		seen[oid.String()] = true
		known := oid.Equal(oidAttrContentType) || oid.Equal(oidAttrDigest) || oid.Equal(oidAttrSigningCert) || oid.Equal(oidAttrSigningCert2)
		if !known {
			continue
		}
		var tag casn1.Tag
		if !values.ReadAnyASN1Element(&value, &tag) || !values.Empty() {
			return fmt.Errorf("has the signed attribute %s without exactly one value", oid)
		}
		var ok bool
		switch {
		case oid.Equal(oidAttrContentType):
			ok = value.ReadASN1ObjectIdentifier(&tok.contentType)
		case oid.Equal(oidAttrDigest):
			var d cryptobyte.String
			ok = value.ReadASN1(&d, casn1.OCTET_STRING)
			tok.attrDigest = d
		default:
			ok = tok.parseESS(&value, oid.Equal(oidAttrSigningCert2))
		}
		if !ok || !value.Empty() {
			return fmt.Errorf("has a signed attribute %s that cannot be read", oid)
		}
	}
	switch {
	case tok.contentType == nil:
		return errors.New("has no signed content-type attribute")
	case tok.attrDigest == nil:
		return errors.New("has no signed message-digest attribute")
	case tok.essCertHash == nil:
		return errors.New("has no ESS signing-certificate attribute, which RFC 3161 requires")
	}
	return nil
}

// parseESS reads SigningCertificate (v1: ESSCertID with a SHA-1 hash) or
// SigningCertificateV2 (ESSCertIDv2, hash algorithm defaulting to
// SHA-256). The first certificate ID names the TSA certificate.
func (tok *timestampToken) parseESS(value *cryptobyte.String, v2 bool) bool {
	var sc, ids, id cryptobyte.String
	if !value.ReadASN1(&sc, casn1.SEQUENCE) || !sc.ReadASN1(&ids, casn1.SEQUENCE) || !ids.ReadASN1(&id, casn1.SEQUENCE) {
		return false
	}
	for n := 1; !ids.Empty(); n++ {
		if n == maxESSCertIDs || !ids.SkipASN1(casn1.SEQUENCE) {
			return false
		}
	}
	tok.essHash = crypto.SHA1
	if v2 {
		tok.essHash = crypto.SHA256
		if id.PeekASN1Tag(casn1.SEQUENCE) {
			alg, ok := readAlgorithm(&id)
			if !ok {
				return false
			}
			h, err := digestOf(alg)
			if err != nil {
				return false
			}
			tok.essHash = h
		}
	}
	var hash cryptobyte.String
	if !id.ReadASN1(&hash, casn1.OCTET_STRING) || len(hash) != tok.essHash.Size() {
		return false
	}
	tok.essCertHash = hash
	if id.PeekASN1Tag(casn1.SEQUENCE) {
		var is cryptobyte.String
		tok.essSerial = new(big.Int)
		if !id.ReadASN1(&is, casn1.SEQUENCE) || !is.SkipASN1(casn1.SEQUENCE) || !is.ReadASN1Integer(tok.essSerial) || !is.Empty() {
			return false
		}
	}
	return id.Empty()
}

func hashOf(h crypto.Hash, b []byte) []byte {
	switch h {
	case crypto.SHA1:
		s := sha1.Sum(b) //nolint:gosec // see the import
		return s[:]
	case crypto.SHA256:
		s := sha256.Sum256(b)
		return s[:]
	case crypto.SHA384:
		s := sha512.Sum384(b)
		return s[:]
	case crypto.SHA512:
		s := sha512.Sum512(b)
		return s[:]
	}
	return nil
}

// tsaTrust is what the operator trusts to date signatures: the CA
// certificates of timestamp_authority_certs are anchors, other (leaf)
// certificates there are TSA certificates a token may leave out.
type tsaTrust struct {
	roots  *x509.CertPool
	leaves []*x509.Certificate
	files  []string
}

// errTSAUntrusted marks a timestamp that is sound but not from a TSA the
// operator trusts: like an entry of another log, it leaves the bundle
// unverified without being evidence of tampering.
var errTSAUntrusted = errors.New("untrusted timestamp authority")

type untrustedTSA struct{ msg string }

func (e *untrustedTSA) Error() string        { return e.msg }
func (e *untrustedTSA) Is(target error) bool { return target == errTSAUntrusted }

// verify checks the token against the signature it should date and the
// trusted TSAs; it returns the TSA certificate. An error that is not
// errTSAUntrusted means the timestamp is wrong: not of this signature, or
// altered after the TSA signed it.
func (tok *timestampToken) verify(signature []byte, tt *tsaTrust) (*x509.Certificate, error) {
	if !bytes.Equal(hashOf(tok.imprintHash, signature), tok.imprint) {
		return nil, errors.New("its message imprint is not the hash of the bundle's signature: it dates another signature")
	}
	if !tok.contentType.Equal(oidTSTInfo) {
		return nil, fmt.Errorf("its signed content type is %s, not TSTInfo", tok.contentType)
	}
	if !bytes.Equal(hashOf(tok.digest, tok.tstInfo), tok.attrDigest) {
		return nil, errors.New("its signed message digest is not the TSTInfo's: the TSTInfo (its time or imprint) was altered after signing")
	}
	var pool []*x509.Certificate
	pool = append(pool, tok.certs...)
	if tt != nil {
		pool = append(pool, tt.leaves...)
	}
	var signer *x509.Certificate
	for _, c := range pool {
		if len(tok.sidKeyID) > 0 && bytes.Equal(c.SubjectKeyId, tok.sidKeyID) ||
			tok.sidSerial != nil && bytes.Equal(c.RawIssuer, tok.sidIssuer) && c.SerialNumber.Cmp(tok.sidSerial) == 0 {
			signer = c
			break
		}
	}
	if signer == nil {
		return nil, &untrustedTSA{"its TSA certificate is neither in the token nor in timestamp_authority_certs"}
	}
	if !bytes.Equal(hashOf(tok.essHash, signer.Raw), tok.essCertHash) || tok.essSerial != nil && tok.essSerial.Cmp(signer.SerialNumber) != 0 {
		return nil, errors.New("its signing-certificate attribute names another certificate than the one that signed it")
	}
	if err := signer.CheckSignature(tok.sigAlg, tok.signedAttrs, tok.signature); err != nil {
		return nil, fmt.Errorf("the TSA's signature over it does not verify: %v", err)
	}
	if tt == nil || tt.roots == nil {
		return nil, &untrustedTSA{fmt.Sprintf("it is signed by %s; trusting it needs that authority's certificates in timestamp_authority_certs", clip(signer.Subject.String(), 128))}
	}
	// RFC 3161 section 2.3: one extended key usage, timeStamping, critical.
	critical := slices.ContainsFunc(signer.Extensions, func(x pkix.Extension) bool { return x.Id.Equal(oidEKU) && x.Critical })
	if !critical || len(signer.UnknownExtKeyUsage) > 0 || !slices.Equal(signer.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping}) {
		return nil, &untrustedTSA{fmt.Sprintf("its TSA certificate (%s) is not for timestamping: RFC 3161 needs the one critical extended key usage timeStamping", clip(signer.Subject.String(), 128))}
	}
	inter := x509.NewCertPool()
	for _, c := range tok.certs {
		inter.AddCert(c)
	}
	if _, err := signer.Verify(x509.VerifyOptions{Roots: tt.roots, Intermediates: inter, CurrentTime: tok.genTime,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping}}); err != nil {
		return nil, &untrustedTSA{clip(fmt.Sprintf("its TSA certificate (%s) does not chain to timestamp_authority_certs at its time %s: %v",
			signer.Subject.String(), tok.genTime.UTC().Format(time.RFC3339), err), 512)}
	}
	return signer, nil
}
