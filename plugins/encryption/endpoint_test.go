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
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
)

// caAndLeaf makes a CA and a leaf for 127.0.0.1 signed by it.
func caAndLeaf(t *testing.T) (caPEM []byte, leaf tls.Certificate) {
	t.Helper()
	return caAndLeafAt(t, time.Now().Add(-time.Hour), time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
}

// caAndLeafAt makes a CA (valid from notBefore) and a leaf valid from
// notBefore to notAfter.
func caAndLeafAt(t *testing.T, notBefore, notAfter time.Time) (caPEM []byte, leaf tls.Certificate) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Annexa Test CA"},
		NotBefore: notBefore, NotAfter: time.Now().Add(24 * time.Hour),
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
		NotBefore: notBefore, NotAfter: notAfter,
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

// is reads an optional boolean attribute: nil is neither true nor false.
func is(b *bool, want bool) bool { return b != nil && *b == want }

func TestProbe(t *testing.T) {
	ctx := context.Background()
	timeout := 5 * time.Second

	t.Run("self-signed TLS1.3", func(t *testing.T) {
		addr, reqs := tlsServer(t, nil)
		e := probe(ctx, addr, nil, timeout)
		if e.Error != "" || e.TLSVersion != "TLS1.3" || e.Cipher == "" || !is(e.SelfSigned, true) || !is(e.Verified, false) || e.VerifyError == "" ||
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
		if e.Error != "" || e.TLSVersion != "TLS1.2" || !is(e.SelfSigned, false) || !is(e.Verified, true) || e.VerifyError != "" ||
			e.CertNotAfter != "2030-01-02T03:04:05Z" || len(e.DNSNames) != 1 || e.DNSNames[0] != "inference.local" ||
			e.CertSubject != "CN=inference" {
			t.Errorf("%+v", e)
		}
		// Without the CA (system roots) it does not verify.
		if e := probe(ctx, addr, nil, timeout); !is(e.Verified, false) || e.VerifyError == "" {
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
		if e.Error != "" || !is(e.Verified, false) || !is(e.ChainVerified, true) || !is(e.HostnameMatch, false) || !strings.Contains(e.VerifyError, "localhost") {
			t.Errorf("%+v", e)
		}
	})

	t.Run("legacy TLS accepted", func(t *testing.T) {
		addr, _ := tlsServer(t, &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11})
		e := probe(ctx, addr, nil, timeout)
		if e.Error != "" || e.TLSVersion != "TLS1.1" || e.AcceptsLegacyTLS == nil || !*e.AcceptsLegacyTLS ||
			!slices.Equal(e.LegacyVersions, []string{"TLS1.0", "TLS1.1"}) {
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
		if e.Error == "" || e.TLSVersion != "" || e.AcceptsLegacyTLS != nil || e.Verified != nil || e.SelfSigned != nil {
			t.Errorf("%+v", e)
		}
	})

	t.Run("plaintext HTTP", func(t *testing.T) {
		var reqs atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reqs.Add(1) }))
		defer srv.Close()
		e := probe(ctx, srv.Listener.Addr().String(), nil, timeout)
		if !e.PlaintextHTTP || e.PlaintextProtocol != "http/1" || e.TLSVersion != "none" || e.Verified != nil || e.Expired != nil || !strings.Contains(e.Error, "plaintext HTTP") {
			t.Errorf("%+v", e)
		}
		if reqs.Load() != 0 {
			t.Error("the ClientHello alone should have told; a request was sent")
		}
	})

	t.Run("plaintext gRPC (h2c)", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := grpc.NewServer()
		go srv.Serve(l)
		defer srv.Stop()
		e := probe(ctx, l.Addr().String(), nil, timeout)
		if !e.PlaintextHTTP || e.PlaintextProtocol != "h2c" || e.TLSVersion != "none" || !strings.Contains(e.Error, "gRPC") {
			t.Errorf("%+v", e)
		}
	})

	t.Run("h2c server that waits for the preface", func(t *testing.T) {
		// Closes on anything but the HTTP/2 preface, which it answers
		// with an empty SETTINGS frame (RFC 9113 3.4), as prior-knowledge
		// h2c servers that do not speak first do.
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
				go func() {
					defer c.Close()
					buf := make([]byte, 24)
					c.SetDeadline(time.Now().Add(5 * time.Second))
					if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" {
						return
					}
					c.Write([]byte{0, 0, 0, 4, 0, 0, 0, 0, 0})
				}()
			}
		}()
		e := probe(ctx, l.Addr().String(), nil, 2*time.Second)
		if !e.PlaintextHTTP || e.PlaintextProtocol != "h2c" || e.TLSVersion != "none" {
			t.Errorf("%+v", e)
		}
	})

	t.Run("silent server is not called plaintext", func(t *testing.T) {
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
				c.Close()
			}
		}()
		e := probe(ctx, l.Addr().String(), nil, 2*time.Second)
		if e.Error == "" || e.PlaintextHTTP || e.TLSVersion != "" {
			t.Errorf("%+v", e)
		}
	})

	t.Run("expired certificate", func(t *testing.T) {
		caPEM, leaf := caAndLeafAt(t, time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour))
		addr, _ := tlsServer(t, &tls.Config{Certificates: []tls.Certificate{leaf}})
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(caPEM)
		e := probe(ctx, addr, pool, timeout)
		if e.Error != "" || !is(e.Expired, true) || !is(e.NotYetValid, false) || !is(e.ChainVerified, false) || !is(e.Verified, false) || !is(e.HostnameMatch, true) ||
			!strings.Contains(e.VerifyError, "expired") || e.KeyType != "ECDSA" || e.KeyBits != 256 ||
			e.CertIssuer != "CN=Annexa Test CA" || e.SignatureAlgorithm != "ECDSA-SHA256" {
			t.Errorf("%+v", e)
		}
	})

	t.Run("openssl s_server TLS 1.0 only", func(t *testing.T) {
		addr := opensslServer(t, "-tls1", "-cipher", "DEFAULT@SECLEVEL=0")
		e := probe(ctx, addr, nil, timeout)
		if e.Error != "" || e.TLSVersion != "TLS1.0" || e.AcceptsLegacyTLS == nil || !*e.AcceptsLegacyTLS ||
			len(e.LegacyVersions) != 1 || e.LegacyVersions[0] != "TLS1.0" || e.KeyType != "RSA" || e.KeyBits != 2048 ||
			!is(e.SelfSigned, true) || !is(e.ChainVerified, false) || !is(e.HostnameMatch, true) {
			t.Errorf("%+v", e)
		}
	})
}

// opensslServer runs openssl s_server on loopback with a fresh
// self-signed RSA 2048 certificate for 127.0.0.1 and the given options.
func opensslServer(t *testing.T, opts ...string) string {
	t.Helper()
	bin, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatal("openssl is needed (Debian package openssl)")
	}
	dir := t.TempDir()
	key, cert := filepath.Join(dir, "key.pem"), filepath.Join(dir, "cert.pem")
	if out, err := exec.Command(bin, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
		"-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1").CombinedOutput(); err != nil {
		t.Fatalf("openssl req: %v %s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	args := append([]string{"s_server", "-quiet", "-accept", addr, "-cert", cert, "-key", key}, opts...)
	cmd := exec.Command(bin, args...)
	cmd.Stdin = nil
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; i < 100; i++ {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return addr
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("openssl s_server did not listen on %s", addr)
	return ""
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
	if _, err := validate(Settings{}); err == nil || !strings.Contains(err.Error(), "roots: is required") {
		t.Errorf("empty settings: %v", err)
	}
	if _, err := validate(Settings{Roots: []string{"/a", "b"}, KeyFiles: []string{"k"}, KeyScanMaxFiles: -1}); err == nil ||
		!strings.Contains(err.Error(), "roots[1]:") || strings.Contains(err.Error(), "asset_roots") ||
		!strings.Contains(err.Error(), "key_files[0]:") || !strings.Contains(err.Error(), "key_scan_max_files:") {
		t.Errorf("roots, key files: %v", err)
	}
	if _, err := validate(Settings{Roots: []string{"/a"}, AssetRoots: []string{"/b"}}); err == nil || !strings.Contains(err.Error(), "older spelling") {
		t.Errorf("both spellings: %v", err)
	}
	c, err := validate(Settings{Roots: []string{"/srv/ml/"}})
	if err != nil || c.roots.proc != "/proc" || c.roots.sys != "/sys" || c.roots.dev != "/dev" || c.timeout != 5*time.Second || c.set.AssetRoots[0] != "/srv/ml" ||
		!*c.set.KeyScan || c.set.KeyScanMaxFiles != 200000 {
		t.Errorf("defaults: %+v %v", c, err)
	}
}
