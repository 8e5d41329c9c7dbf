package daemon

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/annexa/annexa/agent/internal/config"
	"github.com/annexa/annexa/agent/internal/enroll"
)

// testCA is a CA made here, able to sign a server certificate for
// 127.0.0.1 as the collector's own CA does.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &testCA{cert: c, key: key}
}

func (ca *testCA) pem() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw})
}

// server starts a TLS server on loopback with a certificate from ca (the
// chain sent with the CA, as the collector sends it) answering
// GET /v1/trust with bundle.
func (ca *testCA) server(t *testing.T, bundle func() enroll.Trust) *httptest.Server {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/trust" || r.Header.Get("Authorization") != "Bearer cred" {
			http.Error(w, `{"error":"no"}`, http.StatusUnauthorized)
			return
		}
		json.NewEncoder(w).Encode(bundle())
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der, ca.cert.Raw}, PrivateKey: key}}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// bundleOf is a well-formed bundle of cas, the first issuing.
func bundleOf(cas ...*testCA) enroll.Trust {
	var b enroll.Trust
	for _, ca := range cas {
		b.Bundle += string(ca.pem())
		b.Fingerprints = append(b.Fingerprints, enroll.Fingerprint(ca.cert))
	}
	b.Issuing = b.Fingerprints[0]
	b.Digest = enroll.TrustDigest(b.Issuing, b.Fingerprints)
	return b
}

// agentFor is a daemon whose state folder pins pinned and whose collector
// is url.
func agentFor(t *testing.T, url string, pinned []byte) (*Daemon, *http.Client) {
	t.Helper()
	dir := t.TempDir()
	if err := SaveCA(dir, pinned); err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{StateDir: dir}
	cfg.Collector.URL, cfg.Collector.Timeout = url, 5*time.Second
	d := &Daemon{cfg: cfg, log: slog.New(slog.DiscardHandler), creds: &Credentials{AgentID: "a", Credential: "cred"}, trust: newTrustSync()}
	client, err := CollectorClient(dir, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return d, client
}

func pinnedNow(t *testing.T, d *Daemon) string {
	b, err := os.ReadFile(filepath.Join(d.cfg.StateDir, CAFile))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(enroll.Fingerprints(b), ",")
}

// During a rollover the agent takes the collector's bundle of the current
// and next CA, and from then on accepts a server certificate from either.
func TestSyncTrustTakesTheRolloverBundle(t *testing.T) {
	cur, next := newTestCA(t, "current"), newTestCA(t, "next")
	srv := cur.server(t, func() enroll.Trust { return bundleOf(cur, next) })
	d, client := agentFor(t, srv.URL, cur.pem())
	if err := d.syncTrust(context.Background(), client); err != nil {
		t.Fatal(err)
	}
	want := enroll.Fingerprint(cur.cert) + "," + enroll.Fingerprint(next.cert)
	if got := pinnedNow(t, d); got != want {
		t.Fatalf("pinned %s, want %s", got, want)
	}
	if fi, _ := os.Stat(filepath.Join(d.cfg.StateDir, CAFile)); fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v", fi.Mode().Perm())
	}
	if got := strings.Join(d.trustedCAs(), ","); got != want {
		t.Errorf("the status reports %s, want %s", got, want)
	}
	// The same client, without a restart, now trusts a server of the next CA.
	promoted := next.server(t, func() enroll.Trust { return bundleOf(next, cur) })
	time.Sleep(1100 * time.Millisecond) // the transport looks at the file at most once a second
	resp, err := client.Get(promoted.URL + "/v1/trust")
	if err != nil {
		t.Fatalf("a server of the next CA after the bundle was taken: %v", err)
	}
	resp.Body.Close()
}

// A bundle is refused, and the pinned CA kept, when it comes from a
// server of a CA the agent does not trust, or when it would not trust
// the very collector that sent it, or does not match itself.
func TestSyncTrustRefusesForgedBundles(t *testing.T) {
	cur, rogue := newTestCA(t, "current"), newTestCA(t, "rogue")
	forgedByRogue := rogue.server(t, func() enroll.Trust { return bundleOf(rogue) })
	cases := []struct {
		name   string
		url    string
		bundle func() enroll.Trust
		want   string
	}{
		{"server from an unknown CA", forgedByRogue.URL, nil, "does not trust"},
		{"bundle without the CA that verified the collector", "", func() enroll.Trust { return bundleOf(rogue) }, "cut this agent off"},
		{"digest that does not match", "", func() enroll.Trust {
			b := bundleOf(cur, rogue)
			b.Issuing = enroll.Fingerprint(rogue.cert)
			return b
		}, "do not match"},
		{"fingerprints that do not match", "", func() enroll.Trust {
			b := bundleOf(cur, rogue)
			b.Fingerprints[1] = b.Fingerprints[0]
			b.Digest = enroll.TrustDigest(b.Issuing, b.Fingerprints)
			return b
		}, "do not match"},
		{"a private key in the bundle", "", func() enroll.Trust {
			b := bundleOf(cur)
			b.Bundle += "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
			return b
		}, "PRIVATE KEY"},
		{"a certificate that is no CA", "", func() enroll.Trust {
			key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			tmpl := &x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "leaf"},
				NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
			der, _ := x509.CreateCertificate(rand.Reader, tmpl, cur.cert, &key.PublicKey, cur.key)
			b := bundleOf(cur)
			b.Bundle += string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
			return b
		}, "not a CA certificate"},
		{"empty bundle", "", func() enroll.Trust { return enroll.Trust{Issuing: "x", Digest: "y"} }, "no certificate"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			url := tc.url
			if url == "" {
				url = cur.server(t, tc.bundle).URL
			}
			d, client := agentFor(t, url, cur.pem())
			err := d.syncTrust(context.Background(), client)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
			if got := pinnedNow(t, d); got != enroll.Fingerprint(cur.cert) {
				t.Errorf("the pinned CA changed to %s", got)
			}
		})
	}
	// The unknown-CA refusal names what the server presented and what to do.
	d, client := agentFor(t, forgedByRogue.URL, cur.pem())
	err := d.syncTrust(context.Background(), client)
	var untrusted *enroll.UntrustedCollectorError
	if !errors.As(err, &untrusted) || untrusted.CA == nil || !untrusted.CA.Equal(rogue.cert) ||
		!strings.Contains(err.Error(), "--ca-fingerprint "+enroll.Fingerprint(rogue.cert)) || !strings.Contains(err.Error(), "not your collector") {
		t.Errorf("unknown CA: %v", err)
	}
}

// A plain-http collector never hands out trust.
func TestSyncTrustNeedsTLS(t *testing.T) {
	cur := newTestCA(t, "current")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(bundleOf(cur))
	}))
	defer srv.Close()
	d, client := agentFor(t, srv.URL, cur.pem())
	if err := d.syncTrust(context.Background(), client); err == nil || !strings.Contains(err.Error(), "verified TLS") {
		t.Fatalf("plain http: %v", err)
	}
}
