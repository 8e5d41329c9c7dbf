package enroll

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// FetchCA against a real TLS server on loopback: httptest's certificate
// is its own CA, valid for 127.0.0.1.
func TestFetchCA(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	ctx := context.Background()
	fp := Fingerprint(srv.Certificate())

	got, err := FetchCA(ctx, srv.URL, fp)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := pem.Decode(got); b == nil || string(b.Bytes) != string(srv.Certificate().Raw) {
		t.Error("FetchCA returned another certificate")
	}
	// As openssl prints it: upper case with colons.
	hexPart := strings.TrimPrefix(fp, "sha256:")
	var colons []string
	for i := 0; i < len(hexPart); i += 2 {
		colons = append(colons, strings.ToUpper(hexPart[i:i+2]))
	}
	if _, err := FetchCA(ctx, srv.URL, "SHA256:"+strings.Join(colons, ":")); err != nil {
		t.Errorf("openssl-style fingerprint: %v", err)
	}
	if _, err := FetchCA(ctx, srv.URL, "sha256:"+strings.Repeat("0", 64)); err == nil || !strings.Contains(err.Error(), "no CA certificate with fingerprint") {
		t.Errorf("wrong fingerprint: %v", err)
	}
	if _, err := FetchCA(ctx, srv.URL, "sha256:abc"); err == nil || !strings.Contains(err.Error(), "64 hex digits") {
		t.Errorf("short fingerprint: %v", err)
	}
	// The right CA but a name the certificate lacks: refused.
	if _, err := FetchCA(ctx, strings.Replace(srv.URL, "127.0.0.1", "localhost", 1), fp); err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Errorf("wrong host name: %v", err)
	}
	if _, err := FetchCA(ctx, strings.Replace(srv.URL, "https", "http", 1), fp); err == nil {
		t.Error("fingerprint over plain http accepted")
	}

	// The pinned client trusts that server and no other.
	c, err := Client(got, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := c.Get(srv.URL); err != nil {
		t.Errorf("pinned client: %v", err)
	} else {
		resp.Body.Close()
	}
	other := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer other.Close()
	// httptest servers share one certificate; a fresh CA stands for "another".
	otherCA := selfSignedCA(t)
	c2, _ := Client(otherCA, 5*time.Second)
	if resp, err := c2.Get(other.URL); err == nil {
		resp.Body.Close()
		t.Error("a client pinned to another CA trusted the server")
	}
}

func TestReadCA(t *testing.T) {
	ca := selfSignedCA(t)
	if _, c, err := ReadCA(append([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), ca...)); err != nil || !c.IsCA {
		t.Errorf("a CA after a key: %v", err)
	}
	leaf := selfSigned(t, false)
	if _, _, err := ReadCA(leaf); err == nil || !strings.Contains(err.Error(), "not a CA certificate") {
		t.Errorf("a leaf certificate: %v", err)
	}
	if _, _, err := ReadCA([]byte("nothing")); err == nil {
		t.Error("no PEM accepted")
	}
}

func selfSignedCA(t testing.TB) []byte { return selfSigned(t, true) }

func selfSigned(t testing.TB, isCA bool) []byte {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "x"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: isCA, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// The collector computes the same digest (collector/internal/pki); both
// pin it to this value so neither can drift alone.
func TestTrustDigestIsStable(t *testing.T) {
	got := TrustDigest("sha256:bb", []string{"sha256:bb", "sha256:aa"})
	if got != "sha256:fecd0dd4bc598091fec51d880ab38b3a349ccaf6ebcfad0292eec735b7abbd6e" {
		t.Fatalf("digest %s", got)
	}
}
