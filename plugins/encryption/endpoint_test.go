package encryption

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// caAndLeaf makes a CA and a leaf for 127.0.0.1 signed by it.
func caAndLeaf(t *testing.T) (caPEM []byte, leaf tls.Certificate) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Annexa Test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "inference"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC),
		DNSNames: []string{"inference.local"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// tlsServer starts a TLS server on loopback that counts HTTP requests:
// a probe must never send one.
func tlsServer(t *testing.T, cfg *tls.Config) (addr string, requests *atomic.Int64) {
	t.Helper()
	requests = new(atomic.Int64)
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { requests.Add(1) }))
	if cfg != nil {
		s.TLS = cfg
	}
	s.StartTLS()
	t.Cleanup(s.Close)
	return s.Listener.Addr().String(), requests
}

func TestProbe(t *testing.T) {
	ctx := context.Background()
	timeout := 5 * time.Second

	t.Run("self-signed TLS1.3", func(t *testing.T) {
		addr, reqs := tlsServer(t, nil)
		e := probe(ctx, addr, nil, timeout)
		if e.Error != "" || e.TLSVersion != "TLS1.3" || e.Cipher == "" || !e.SelfSigned || e.Verified || e.VerifyError == "" ||
			e.AcceptsLegacyTLS == nil || *e.AcceptsLegacyTLS || e.CertNotAfter == "" || !strings.Contains(e.CertSubject, "Acme") {
			t.Errorf("%+v", e)
		}
		if reqs.Load() != 0 {
			t.Error("the probe sent an HTTP request")
		}
	})

	t.Run("TLS1.2 only, verified via ca_file", func(t *testing.T) {
		caPEM, leaf := caAndLeaf(t)
		addr, _ := tlsServer(t, &tls.Config{Certificates: []tls.Certificate{leaf}, MaxVersion: tls.VersionTLS12})
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(caPEM)
		e := probe(ctx, addr, pool, timeout)
		if e.Error != "" || e.TLSVersion != "TLS1.2" || e.SelfSigned || !e.Verified || e.VerifyError != "" ||
			e.CertNotAfter != "2030-01-02T03:04:05Z" || len(e.DNSNames) != 1 || e.DNSNames[0] != "inference.local" ||
			e.CertSubject != "CN=inference" {
			t.Errorf("%+v", e)
		}
		// Without the CA (system roots) it does not verify.
		if e := probe(ctx, addr, nil, timeout); e.Verified || e.VerifyError == "" {
			t.Errorf("system roots: %+v", e)
		}
	})

	t.Run("hostname mismatch", func(t *testing.T) {
		caPEM, leaf := caAndLeaf(t)
		addr, _ := tlsServer(t, &tls.Config{Certificates: []tls.Certificate{leaf}})
		_, port, _ := net.SplitHostPort(addr)
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(caPEM)
		e := probe(ctx, "localhost:"+port, pool, timeout)
		if e.Error != "" || e.Verified || !strings.Contains(e.VerifyError, "localhost") {
			t.Errorf("%+v", e)
		}
	})

	t.Run("legacy TLS accepted", func(t *testing.T) {
		addr, _ := tlsServer(t, &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11})
		e := probe(ctx, addr, nil, timeout)
		if e.Error != "" || e.TLSVersion != "TLS1.1" || e.AcceptsLegacyTLS == nil || !*e.AcceptsLegacyTLS {
			t.Errorf("%+v", e)
		}
	})

	t.Run("closed port", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		e := probe(ctx, addr, nil, timeout)
		if e.Error == "" || e.TLSVersion != "" || e.AcceptsLegacyTLS != nil {
			t.Errorf("%+v", e)
		}
	})

	t.Run("plaintext server times out or fails", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				c.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"))
				c.Close()
			}
		}()
		e := probe(ctx, l.Addr().String(), nil, 2*time.Second)
		if e.Error == "" || e.Verified {
			t.Errorf("%+v", e)
		}
	})
}

func TestConfigure(t *testing.T) {
	dir := t.TempDir()
	bogus := filepath.Join(dir, "ca.pem")
	os.WriteFile(bogus, []byte("not pem"), 0o600)
	_, err := validate(Settings{
		AssetRoots: []string{"rel", "/ok/"}, Endpoints: []string{"nohost", "h:0", "h:443", "h:443", ":80"},
		CAFile: bogus, Timeout: "soon", ProcRoot: "proc",
	})
	fe, ok := err.(interface{ Error() string })
	if !ok || err == nil {
		t.Fatal("no error")
	}
	for _, field := range []string{"asset_roots[0]", "endpoints[0]", "endpoints[1]", "endpoints[3]", "endpoints[4]", "ca_file", "timeout", "proc_root"} {
		if !strings.Contains(fe.Error(), field+":") {
			t.Errorf("no error for %s in %v", field, err)
		}
	}
	if strings.Contains(fe.Error(), "endpoints[2]") || strings.Contains(fe.Error(), "asset_roots[1]") {
		t.Errorf("good values refused: %v", err)
	}
	if _, err := validate(Settings{}); err == nil || !strings.Contains(err.Error(), "asset_roots") {
		t.Errorf("empty settings: %v", err)
	}
	c, err := validate(Settings{AssetRoots: []string{"/srv/ml/"}})
	if err != nil || c.roots.proc != "/proc" || c.roots.sys != "/sys" || c.roots.dev != "/dev" || c.timeout != 5*time.Second || c.set.AssetRoots[0] != "/srv/ml" {
		t.Errorf("defaults: %+v %v", c, err)
	}
}
