package encryption

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"time"
)

// Endpoint is the attributes of encryption.endpoint.
type Endpoint struct {
	Address      string   `json:"address"`
	TLSVersion   string   `json:"tls_version,omitempty"`
	Cipher       string   `json:"cipher,omitempty"`
	CertNotAfter string   `json:"cert_not_after,omitempty"`
	CertSubject  string   `json:"cert_subject,omitempty"`
	DNSNames     []string `json:"dns_names,omitempty"`
	SelfSigned   bool     `json:"self_signed"`
	// Verified: the chain verifies against the system roots (or ca_file)
	// and the certificate matches the host.
	Verified    bool   `json:"verified"`
	VerifyError string `json:"verify_error,omitempty"`
	// AcceptsLegacyTLS is null when the main handshake failed.
	AcceptsLegacyTLS *bool  `json:"accepts_legacy_tls"`
	Error            string `json:"error,omitempty"`
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

// probe judges one TLS endpoint. roots nil means the system roots.
func probe(ctx context.Context, addr string, roots *x509.CertPool, timeout time.Duration) Endpoint {
	e := Endpoint{Address: addr}
	host, _, _ := net.SplitHostPort(addr)
	base := &tls.Config{ServerName: host, InsecureSkipVerify: true, MinVersion: tls.VersionTLS10} // verified below, by hand, to record why
	st, err := handshake(ctx, addr, host, timeout, base)
	if err != nil {
		e.Error = err.Error()
		return e
	}
	e.TLSVersion = tlsVersionName(st.Version)
	e.Cipher = tls.CipherSuiteName(st.CipherSuite)
	if len(st.PeerCertificates) == 0 {
		e.VerifyError = "the server sent no certificate"
	} else {
		leaf := st.PeerCertificates[0]
		e.CertNotAfter = leaf.NotAfter.UTC().Format(time.RFC3339)
		e.CertSubject = leaf.Subject.String()
		e.DNSNames = leaf.DNSNames
		e.SelfSigned = string(leaf.RawIssuer) == string(leaf.RawSubject) && leaf.CheckSignatureFrom(leaf) == nil
		inter := x509.NewCertPool()
		for _, c := range st.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		_, verr := leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: roots, Intermediates: inter})
		if verr == nil {
			e.Verified = true
		} else {
			e.VerifyError = verr.Error()
		}
	}
	legacy := &tls.Config{ServerName: host, InsecureSkipVerify: true, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}
	_, lerr := handshake(ctx, addr, host, timeout, legacy)
	e.AcceptsLegacyTLS = boolp(lerr == nil)
	return e
}
