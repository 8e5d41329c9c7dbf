// Package pki is the collector's private certificate authority: it makes
// the CA and the server certificate `annexa-collector init` writes, and
// the TLS configuration serve uses. Agents pin the CA at enrollment, so a
// fleet needs no public CA and no certificate the operator must buy.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Files inside the data folder.
const (
	Dir        = "tls"
	CACert     = "ca.pem"
	CAKey      = "ca.key"
	ServerCert = "server.pem"
	ServerKey  = "server.key"
)

// Lifetimes. The CA outlives many server certificates; a server
// certificate is renewed with `init --renew` well before it ends.
const (
	CALifetime     = 10 * 365 * 24 * time.Hour
	ServerLifetime = 397 * 24 * time.Hour
)

// CA is a certificate authority held in memory.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	PEM  []byte
	// ClientLifetime overrides the lifetime of client certificates.
	ClientLifetime time.Duration
}

// NewCA makes a self-signed ECDSA P-256 CA that may sign only end-entity
// certificates.
func NewCA(commonName string, now time.Time) (*CA, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate CA key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{"Annexa"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(CALifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("create CA certificate: %w", err)
	}
	cert, _ := x509.ParseCertificate(der)
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	return &CA{Cert: cert, Key: key, PEM: pemBlock("CERTIFICATE", der)}, keyPEM, nil
}

// LoadCA reads a CA written by NewCA.
func LoadCA(certFile, keyFile string) (*CA, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("read CA certificate: %w", err)
	}
	cert, err := ParseCert(certPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", certFile, err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("read CA key: %w", err)
	}
	b, _ := pem.Decode(keyPEM)
	if b == nil {
		return nil, fmt.Errorf("%s holds no PEM key", keyFile)
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", keyFile, err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: not a signing key", keyFile)
	}
	// A pair cut in half by a crash (new certificate, old key) must not
	// sign anything: what it signs would verify under neither CA.
	if pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("%s is not the key of %s; if `annexa-collector ca promote` was interrupted, run it again", keyFile, certFile)
	}
	return &CA{Cert: cert, Key: signer, PEM: certPEM}, nil
}

// IssueServer makes a server certificate for names (DNS names or IP
// addresses) signed by ca. The returned certificate PEM holds the chain,
// leaf then CA, so an agent pinning the CA by fingerprint finds it in the
// handshake.
func (ca *CA) IssueServer(names []string, now time.Time) (certPEM, keyPEM []byte, err error) {
	if len(names) == 0 {
		return nil, nil, errors.New("a server certificate needs at least one name (--name HOST or --name IP)")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate server key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: names[0], Organization: []string{"Annexa"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(ServerLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if tmpl.NotAfter.After(ca.Cert.NotAfter) {
		tmpl.NotAfter = ca.Cert.NotAfter
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if validDNSName(n) {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		} else {
			return nil, nil, fmt.Errorf("--name %q is neither a host name nor an IP address", n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("sign server certificate: %w", err)
	}
	keyPEM, err = encodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	return append(pemBlock("CERTIFICATE", der), ca.PEM...), keyPEM, nil
}

func validDNSName(n string) bool {
	if n == "" || len(n) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimPrefix(n, "*."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// ParseCert returns the first certificate of a PEM file.
func ParseCert(pemBytes []byte) (*x509.Certificate, error) {
	for {
		var b *pem.Block
		b, pemBytes = pem.Decode(pemBytes)
		if b == nil {
			return nil, errors.New("no PEM certificate found")
		}
		if b.Type == "CERTIFICATE" {
			return x509.ParseCertificate(b.Bytes)
		}
	}
}

// Fingerprint is the SHA-256 of a certificate's DER, as agents give it to
// `enroll --ca-fingerprint`.
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return n
}

func encodeKey(k *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("encode key: %w", err)
	}
	return pemBlock("PRIVATE KEY", der), nil
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// ServerConfig is TLS 1.2 or newer with a certificate read from certFile
// and keyFile, re-read when either changes, so a renewed certificate
// takes effect without a restart.
//
// With clientCAs set, a client certificate is verified against the pool
// it returns at each handshake (during a CA rollover, both CAs) when the
// client offers one; whether one is required is the API's decision per
// request, since an agent enrolls before it has a certificate.
func ServerConfig(certFile, keyFile string, clientCAs func() *x509.CertPool) (*tls.Config, error) {
	r := &reloader{certFile: certFile, keyFile: keyFile}
	if _, err := r.load(); err != nil {
		return nil, err
	}
	cfg := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return r.get() },
	}
	if clientCAs != nil {
		cfg.ClientCAs = clientCAs()
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
		base := cfg.Clone()
		cfg.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
			c := base.Clone()
			c.ClientCAs = clientCAs()
			return c, nil
		}
	}
	return cfg, nil
}

type reloader struct {
	certFile, keyFile string
	mu                sync.Mutex
	cert              *tls.Certificate
	stamp             string
	checked           time.Time
}

func (r *reloader) get() (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	// A stat per handshake is cheap, but a busy collector needs no more
	// than one a second.
	if time.Since(r.checked) < time.Second && r.cert != nil {
		return r.cert, nil
	}
	r.checked = time.Now()
	if r.stampNow() == r.stamp && r.cert != nil {
		return r.cert, nil
	}
	c, err := r.loadLocked()
	if err != nil {
		// Keep serving the certificate that worked rather than refuse
		// every agent because of a half-copied file.
		if r.cert != nil {
			return r.cert, nil
		}
		return nil, err
	}
	return c, nil
}

func (r *reloader) load() (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.loadLocked()
}

func (r *reloader) loadLocked() (*tls.Certificate, error) {
	stamp := r.stampNow()
	c, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return nil, fmt.Errorf("load TLS certificate %s and key %s: %w", r.certFile, r.keyFile, err)
	}
	r.cert, r.stamp = &c, stamp
	return &c, nil
}

func (r *reloader) stampNow() string {
	var s string
	for _, f := range []string{r.certFile, r.keyFile} {
		if fi, err := os.Stat(f); err == nil {
			s += fmt.Sprintf("%d/%d;", fi.ModTime().UnixNano(), fi.Size())
		}
	}
	return s
}

// Paths are the TLS files of a data folder.
func Paths(dataDir string) (caCert, caKey, serverCert, serverKey string) {
	d := filepath.Join(dataDir, Dir)
	return filepath.Join(d, CACert), filepath.Join(d, CAKey), filepath.Join(d, ServerCert), filepath.Join(d, ServerKey)
}

// ClientLifetime is how long an agent's client certificate lives: short,
// because renewal is automatic and a stolen one should not last.
const ClientLifetime = 30 * 24 * time.Hour

// ClientIDPrefix marks the agent ID in a client certificate's common name.
const ClientIDPrefix = "agent:"

// IssueClient signs an agent's certificate request, made from a key that
// stays on the agent's host, as a client certificate naming agentID.
// Whatever the request asks for, only the key is taken from it.
func (ca *CA) IssueClient(csrPEM []byte, agentID string, now time.Time) ([]byte, error) {
	b, _ := pem.Decode(csrPEM)
	if b == nil || b.Type != "CERTIFICATE REQUEST" {
		return nil, errors.New("csr is not a PEM CERTIFICATE REQUEST")
	}
	csr, err := x509.ParseCertificateRequest(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("csr: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("csr signature: %w", err)
	}
	switch k := csr.PublicKey.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() {
			return nil, errors.New("csr key: ECDSA keys must be P-256 or P-384")
		}
	default:
		return nil, fmt.Errorf("csr key: %T is not accepted; use ECDSA P-256", csr.PublicKey)
	}
	life := ClientLifetime
	if ca.ClientLifetime > 0 {
		life = ca.ClientLifetime
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: ClientIDPrefix + agentID, Organization: []string{"Annexa agents"}},
		// Back-dated a little for clocks slightly behind ours.
		NotBefore:   now.Add(-min(5*time.Minute, life/10)),
		NotAfter:    now.Add(life),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if tmpl.NotAfter.After(ca.Cert.NotAfter) {
		tmpl.NotAfter = ca.Cert.NotAfter
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, csr.PublicKey, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("sign client certificate: %w", err)
	}
	return pemBlock("CERTIFICATE", der), nil
}

// ClientAgentID returns the agent ID a verified client certificate names.
func ClientAgentID(c *x509.Certificate) (string, bool) {
	return strings.CutPrefix(c.Subject.CommonName, ClientIDPrefix)
}
