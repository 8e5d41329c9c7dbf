package encryption

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"time"
)

// Endpoint is the attributes of encryption.endpoint.
type Endpoint struct {
	Address string `json:"address"`
	// TLSVersion is the negotiated version, TLS1.0 … TLS1.3, or "none"
	// when the endpoint answers in plaintext HTTP.
	TLSVersion string `json:"tls_version,omitempty"`
	Cipher     string `json:"cipher,omitempty"`
	// CipherInsecure: the negotiated suite is one Go lists as insecure
	// (RC4, 3DES, CBC with SHA-256, RSA key exchange is not listed).
	CipherInsecure bool `json:"cipher_insecure,omitempty"`
	// PlaintextHTTP: the endpoint speaks HTTP without TLS.
	PlaintextHTTP bool `json:"plaintext_http"`
	// PlaintextProtocol is http/1 or h2c (cleartext HTTP/2: gRPC).
	PlaintextProtocol string `json:"plaintext_protocol,omitempty"`

	CertSubject   string   `json:"cert_subject,omitempty"`
	CertIssuer    string   `json:"cert_issuer,omitempty"`
	DNSNames      []string `json:"dns_names,omitempty"`
	CertNotBefore string   `json:"cert_not_before,omitempty"`
	CertNotAfter  string   `json:"cert_not_after,omitempty"`
	// Expired and NotYetValid are as of the probe. These and the other
	// certificate booleans below are absent when no certificate was seen.
	Expired     *bool  `json:"expired,omitempty"`
	NotYetValid *bool  `json:"not_yet_valid,omitempty"`
	KeyType     string `json:"key_type,omitempty"` // RSA, ECDSA, Ed25519
	// KeyBits: RSA modulus size, ECDSA curve size, 256 for Ed25519.
	KeyBits            int    `json:"key_bits,omitempty"`
	SignatureAlgorithm string `json:"signature_algorithm,omitempty"`
	SelfSigned         *bool  `json:"self_signed,omitempty"`
	// HostnameMatch: the leaf certificate names the configured host.
	HostnameMatch *bool `json:"hostname_match,omitempty"`
	// ChainVerified: the chain leads to the system roots (or ca_file),
	// the host name left aside.
	ChainVerified *bool `json:"chain_verified,omitempty"`
	// Verified: ChainVerified and HostnameMatch.
	Verified    *bool  `json:"verified,omitempty"`
	VerifyError string `json:"verify_error,omitempty"`
	// AcceptsLegacyTLS is null when the main handshake failed.
	AcceptsLegacyTLS *bool `json:"accepts_legacy_tls"`
	// LegacyVersions are the versions below TLS 1.2 the server completes
	// a handshake with.
	LegacyVersions []string `json:"legacy_versions,omitempty"`
	Error          string   `json:"error,omitempty"`

	// Discovered: found by discover_endpoints, not listed in endpoints.
	Discovered bool `json:"discovered,omitempty"`
	// Process is the comm of the process listening (discovered only).
	Process string `json:"process,omitempty"`
	// Listen is the address the socket is bound to, e.g. 0.0.0.0:8000
	// for one probed on 127.0.0.1:8000 (discovered only).
	Listen string `json:"listen,omitempty"`
	// ServerName is the name sent as SNI and verified, when it is not
	// the address's host: the host's name for a discovered endpoint
	// bound to every address.
	ServerName string `json:"server_name,omitempty"`
}

func tlsVersionName(v uint16) string {
	switch v {
	case tls.VersionTLS10:
		return "TLS1.0"
	case tls.VersionTLS11:
		return "TLS1.1"
	case tls.VersionTLS12:
		return "TLS1.2"
	case tls.VersionTLS13:
		return "TLS1.3"
	}
	return tls.VersionName(v)
}

// handshake dials addr and completes a TLS handshake, then closes: no
// application data is ever sent.
func handshake(ctx context.Context, addr, serverName string, timeout time.Duration, cfg *tls.Config) (tls.ConnectionState, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: timeout}, Config: cfg}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer c.Close()
	return c.(*tls.Conn).ConnectionState(), nil
}

// allSuites offers every TLS 1.0–1.2 suite Go implements, insecure ones
// included, so that what the server picks is its own choice and a server
// that accepts only weak suites is still seen.
func allSuites() []uint16 {
	var ids []uint16
	for _, c := range tls.CipherSuites() {
		ids = append(ids, c.ID)
	}
	for _, c := range tls.InsecureCipherSuites() {
		ids = append(ids, c.ID)
	}
	return ids
}

func insecureSuite(id uint16) bool {
	for _, c := range tls.InsecureCipherSuites() {
		if c.ID == id {
			return true
		}
	}
	return false
}

// probe judges one TLS endpoint. roots nil means the system roots.
func probe(ctx context.Context, addr string, roots *x509.CertPool, timeout time.Duration) Endpoint {
	return probeAs(ctx, addr, "", roots, timeout)
}

// probeAs is probe with serverName ("" = the address's host) sent as SNI
// and verified against the certificate.
func probeAs(ctx context.Context, addr, serverName string, roots *x509.CertPool, timeout time.Duration) Endpoint {
	e := Endpoint{Address: addr}
	host, _, _ := net.SplitHostPort(addr)
	if serverName != "" && serverName != host {
		host, e.ServerName = serverName, serverName
	}
	// Verification is done below, by hand, to record each reason apart.
	base := &tls.Config{ServerName: host, InsecureSkipVerify: true, MinVersion: tls.VersionTLS10, CipherSuites: allSuites()}
	st, err := handshake(ctx, addr, host, timeout, base)
	if err != nil {
		e.Error = err.Error()
		if proto := plaintextHTTP(ctx, addr, host, timeout, err); proto != "" {
			e.PlaintextHTTP, e.PlaintextProtocol, e.TLSVersion = true, proto, "none"
			e.Error = "the endpoint answers in plaintext " + map[string]string{"http/1": "HTTP", "h2c": "HTTP/2 (h2c, e.g. gRPC)"}[proto] + ", not TLS"
		}
		return e
	}
	e.TLSVersion = tlsVersionName(st.Version)
	e.Cipher = tls.CipherSuiteName(st.CipherSuite)
	e.CipherInsecure = insecureSuite(st.CipherSuite)
	if len(st.PeerCertificates) == 0 {
		e.VerifyError = "the server sent no certificate"
	} else {
		judgeCert(&e, host, st.PeerCertificates, roots, time.Now())
	}
	legacy := false
	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
		cfg := &tls.Config{ServerName: host, InsecureSkipVerify: true, MinVersion: v, MaxVersion: v, CipherSuites: allSuites()}
		if _, err := handshake(ctx, addr, host, timeout, cfg); err == nil {
			legacy = true
			e.LegacyVersions = append(e.LegacyVersions, tlsVersionName(v))
		}
	}
	e.AcceptsLegacyTLS = boolp(legacy)
	return e
}

// judgeCert fills the certificate attributes from the chain the server
// sent, verifying it against roots (nil: the system's).
func judgeCert(e *Endpoint, host string, chain []*x509.Certificate, roots *x509.CertPool, now time.Time) {
	leaf := chain[0]
	e.CertNotBefore = leaf.NotBefore.UTC().Format(time.RFC3339)
	e.CertNotAfter = leaf.NotAfter.UTC().Format(time.RFC3339)
	e.Expired, e.NotYetValid = boolp(now.After(leaf.NotAfter)), boolp(now.Before(leaf.NotBefore))
	e.CertSubject = leaf.Subject.String()
	e.CertIssuer = leaf.Issuer.String()
	e.DNSNames = leaf.DNSNames
	e.SignatureAlgorithm = leaf.SignatureAlgorithm.String()
	switch k := leaf.PublicKey.(type) {
	case *rsa.PublicKey:
		e.KeyType, e.KeyBits = "RSA", k.N.BitLen()
	case *ecdsa.PublicKey:
		e.KeyType, e.KeyBits = "ECDSA", k.Curve.Params().BitSize
	case ed25519.PublicKey:
		e.KeyType, e.KeyBits = "Ed25519", 256
	default:
		e.KeyType = leaf.PublicKeyAlgorithm.String()
	}
	e.SelfSigned = boolp(bytes.Equal(leaf.RawIssuer, leaf.RawSubject) && leaf.CheckSignatureFrom(leaf) == nil)
	hostErr := leaf.VerifyHostname(host)
	e.HostnameMatch = boolp(hostErr == nil)
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	var errs []string
	_, chainErr := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now})
	e.ChainVerified = boolp(chainErr == nil)
	if chainErr != nil {
		errs = append(errs, chainErr.Error())
	}
	if hostErr != nil {
		errs = append(errs, hostErr.Error())
	}
	e.Verified = boolp(chainErr == nil && hostErr == nil)
	e.VerifyError = strings.Join(errs, "; ")
}

// plaintextHTTP tells whether the endpoint speaks HTTP without TLS, and
// which: "http/1" or "h2c" (cleartext HTTP/2, as plaintext gRPC inference
// servers speak it); "" when neither. A plain HTTP/1 server answers a
// ClientHello with "HTTP/1.x 400", which Go reports as a record header of
// "HTTP/": no request is needed. A server that just closes is asked once
// with HEAD / (no body, nothing changed), then sent the HTTP/2 connection
// preface, to which an h2c server answers with a SETTINGS frame; some
// (grpc-go) send that frame unasked, in answer to the ClientHello.
func plaintextHTTP(ctx context.Context, addr, host string, timeout time.Duration, hsErr error) string {
	var rh tls.RecordHeaderError
	if errors.As(hsErr, &rh) {
		b := rh.RecordHeader
		switch {
		case string(b[:]) == "HTTP/":
			return "http/1"
		case b[0] == 0 && b[3] == 0x04 && (int(b[1])<<8|int(b[2]))%6 == 0:
			// An h2c server (gRPC) may send its SETTINGS frame first:
			// 24-bit length (a multiple of 6), type 4.
			return "h2c"
		}
		return ""
	}
	if !errors.Is(hsErr, io.EOF) && !errors.Is(hsErr, syscall.ECONNRESET) {
		return ""
	}
	ask := func(hello string, n int, ok func([]byte) bool) bool {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err != nil {
			return false
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(timeout))
		if _, err := io.WriteString(c, hello); err != nil {
			return false
		}
		buf := make([]byte, n)
		_, err = io.ReadFull(c, buf)
		return err == nil && ok(buf)
	}
	if ask("HEAD / HTTP/1.0\r\nHost: "+host+"\r\n\r\n", 5, func(b []byte) bool { return string(b) == "HTTP/" }) {
		return "http/1"
	}
	// RFC 9113 3.4: the preface, then an empty SETTINGS frame; the
	// server's first frame must be SETTINGS (type 4) on stream 0.
	const preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + "\x00\x00\x00\x04\x00\x00\x00\x00\x00"
	if ask(preface, 9, func(b []byte) bool { return b[3] == 0x04 && b[5]&0x7f == 0 && b[6] == 0 && b[7] == 0 && b[8] == 0 }) {
		return "h2c"
	}
	return ""
}
