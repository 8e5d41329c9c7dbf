package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"strings"
	"testing"
	"time"
)

func csrFor(t testing.TB, key any) []byte {
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:  pkix.Name{CommonName: "agent:someone-else"},
		DNSNames: []string{"collector.example.org"},
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func TestIssueClient(t *testing.T) {
	now := time.Now()
	ca, _, err := NewCA("test CA", now)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	certPEM, err := ca.IssueClient(csrFor(t, key), "a1b2", now)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(certPEM)
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	// Only the key comes from the request: the name is the agent's, the
	// DNS name it asked for is dropped, the use is client auth only.
	if id, ok := ClientAgentID(c); !ok || id != "a1b2" || len(c.DNSNames) != 0 {
		t.Errorf("certificate names %q %v", c.Subject.CommonName, c.DNSNames)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	if _, err := c.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client certificate does not verify as a client: %v", err)
	}
	if _, err := c.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
		t.Error("client certificate also verifies as a server")
	}
	if got := c.NotAfter.Sub(now); got < ClientLifetime-time.Minute || got > ClientLifetime+time.Minute {
		t.Errorf("lifetime %s, want %s", got, ClientLifetime)
	}

	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	for name, csr := range map[string][]byte{
		"rsa key":     csrFor(t, rsaKey),
		"not pem":     []byte("hello"),
		"certificate": ca.PEM,
		"bad signature": func() []byte {
			p := csrFor(t, key)
			b, _ := pem.Decode(p)
			b.Bytes[len(b.Bytes)-5] ^= 0xff
			return pem.EncodeToMemory(b)
		}(),
	} {
		if _, err := ca.IssueClient(csr, "a1b2", now); err == nil {
			t.Errorf("%s: issued", name)
		}
	}
}

func TestIssueServerNames(t *testing.T) {
	ca, _, _ := NewCA("test CA", time.Now())
	if _, _, err := ca.IssueServer(nil, time.Now()); err == nil {
		t.Error("issued a server certificate without names")
	}
	for _, bad := range []string{"a b", "-x.example", "x..example", strings.Repeat("a", 64) + ".example"} {
		if _, _, err := ca.IssueServer([]string{bad}, time.Now()); err == nil {
			t.Errorf("issued for %q", bad)
		}
	}
}

// The CSR is the one thing from outside the collector signs: any bytes
// must give a certificate for an acceptable key or an error, never a panic.
func FuzzIssueClient(f *testing.F) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	f.Add(csrFor(f, key))
	f.Add([]byte("-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n"))
	ca, _, err := NewCA("fuzz CA", time.Now())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, csr []byte) {
		out, err := ca.IssueClient(csr, "agent", time.Now())
		if err == nil && len(out) == 0 {
			t.Fatal("no error and no certificate")
		}
	})
}
