package enroll

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hashicorp/go-cleanhttp"
)

// TLSConfig trusts only the pinned collector CA, or the system's CAs when
// caPEM is empty (a collector with a certificate from a public or company
// CA), and speaks TLS 1.2 or newer.
func TLSConfig(caPEM []byte) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if len(caPEM) == 0 {
		return cfg, nil
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("the pinned collector CA holds no PEM certificate")
	}
	cfg.RootCAs = pool
	return cfg, nil
}

// Client is an HTTP client for the collector with TLSConfig(caPEM).
func Client(caPEM []byte, timeout time.Duration) (*http.Client, error) {
	tc, err := TLSConfig(caPEM)
	if err != nil {
		return nil, err
	}
	c := cleanhttp.DefaultPooledClient()
	c.Transport.(*http.Transport).TLSClientConfig = tc
	c.Timeout = timeout
	return c, nil
}

// ReadCA checks that pemBytes is a CA certificate fit to pin and returns
// it re-encoded, alone.
func ReadCA(pemBytes []byte) ([]byte, *x509.Certificate, error) {
	b, rest := pem.Decode(pemBytes)
	for b != nil && b.Type != "CERTIFICATE" {
		b, rest = pem.Decode(rest)
	}
	if b == nil {
		return nil, nil, errors.New("no PEM certificate in it (expected the collector's ca.pem)")
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("not a certificate: %w", err)
	}
	if !c.IsCA {
		return nil, nil, errors.New("this is not a CA certificate; give the collector's ca.pem, not its server.pem")
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}), c, nil
}

// Fingerprint is the SHA-256 of a certificate as `annexa-collector init`
// prints it.
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// FetchCA connects to the collector and returns the CA certificate of its
// chain whose SHA-256 is fingerprint, after checking that the server's
// certificate is valid for the URL's host under that CA. Nothing is
// trusted before the fingerprint matches, so a machine in the middle gets
// nothing but a refusal.
func FetchCA(ctx context.Context, baseURL, fingerprint string) ([]byte, error) {
	// Accept it as init prints it, bare, or with colons between bytes.
	hexPart := strings.ReplaceAll(strings.TrimPrefix(strings.ToLower(strings.TrimSpace(fingerprint)), "sha256:"), ":", "")
	want := "sha256:" + hexPart
	if _, err := hex.DecodeString(hexPart); err != nil || len(hexPart) != 64 {
		return nil, fmt.Errorf("--ca-fingerprint %q is not a SHA-256 fingerprint like sha256:3f1c…(64 hex digits), as `annexa-collector init` prints", fingerprint)
	}
	u, err := url.Parse(baseURL)
	if err != nil || u.Scheme != "https" {
		return nil, fmt.Errorf("--ca-fingerprint needs an https collector URL, not %q", baseURL)
	}
	host := u.Hostname()
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(host, "443")
	}
	var found *x509.Certificate
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Verification happens below against the pinned CA, not the
		// system's; InsecureSkipVerify only moves it there.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("the collector sent no certificate")
			}
			for _, c := range cs.PeerCertificates {
				if Fingerprint(c) == want && c.IsCA {
					found = c
				}
			}
			if found == nil {
				return fmt.Errorf("no CA certificate with fingerprint %s in the collector's chain; check the fingerprint `annexa-collector init` printed, or that %s is your collector", want, addr)
			}
			roots := x509.NewCertPool()
			roots.AddCert(found)
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: host})
			if err != nil {
				return fmt.Errorf("the collector's certificate does not verify under the pinned CA for %s: %w", host, err)
			}
			return nil
		},
	}
	d := tls.Dialer{Config: cfg}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("fetch the collector CA from %s: %w", addr, err)
	}
	conn.Close()
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: found.Raw}), nil
}

// NewKey makes the agent's client key (ECDSA P-256) and a certificate
// request for it. The key never leaves the host; only the request does.
func NewKey(host string) (keyPEM, csrPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate client key: %w", err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: host}}, key)
	if err != nil {
		return nil, nil, fmt.Errorf("certificate request: %w", err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("encode client key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

// Renew asks the collector for a new client certificate for csrPEM,
// authorised by the agent's credential.
func Renew(ctx context.Context, client *http.Client, baseURL, credential string, csrPEM []byte) ([]byte, error) {
	body, _ := json.Marshal(map[string]string{"csr": string(csrPEM)})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(baseURL, "/")+"/v1/renew", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("renew: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+credential)
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("renew the client certificate: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var out struct {
		ClientCert string `json:"client_cert"`
		Error      string `json:"error"`
	}
	_ = json.Unmarshal(b, &out)
	if resp.StatusCode != http.StatusOK || out.ClientCert == "" {
		if out.Error == "" {
			out.Error = resp.Status
		}
		return nil, fmt.Errorf("renew the client certificate: the collector answered %s: %s", resp.Status, out.Error)
	}
	return []byte(out.ClientCert), nil
}
