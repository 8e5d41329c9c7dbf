package daemon

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/annexa/annexa/agent/internal/enroll"
)

// The agent's client certificate (mTLS) and its key, in the state folder.
// The key is made on this host and never sent anywhere.
const (
	ClientCertFile = "client.pem"
	ClientKeyFile  = "client.key"
)

// SaveClientCert stores a key and its certificate, key first: a
// certificate without its key is useless, a key without a new certificate
// only waits for the next renewal.
//
// An empty certPEM (a collector that issues none) removes any earlier pair,
// so an agent enrolled again does not renew against the wrong collector.
func SaveClientCert(stateDir string, keyPEM, certPEM []byte) error {
	if len(certPEM) == 0 {
		for _, f := range []string{ClientCertFile, ClientKeyFile} {
			if err := os.Remove(filepath.Join(stateDir, f)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
		return nil
	}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return fmt.Errorf("create state folder: %w", err)
	}
	if keyPEM != nil {
		if err := writeFileAtomic(filepath.Join(stateDir, ClientKeyFile), keyPEM, 0o600); err != nil {
			return err
		}
	}
	return writeFileAtomic(filepath.Join(stateDir, ClientCertFile), certPEM, 0o644)
}

// clientCerts hands the TLS layer the current client certificate, read
// again when renewal replaced it. An expired certificate is not offered:
// the collector would end the handshake, where without one the bearer
// credential can still renew.
type clientCerts struct {
	dir   string
	mu    sync.Mutex
	cert  *tls.Certificate
	stamp time.Time
}

func (c *clientCerts) get(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	certFile := filepath.Join(c.dir, ClientCertFile)
	fi, err := os.Stat(certFile)
	if err != nil {
		return &tls.Certificate{}, nil
	}
	if c.cert == nil || !fi.ModTime().Equal(c.stamp) {
		pair, err := tls.LoadX509KeyPair(certFile, filepath.Join(c.dir, ClientKeyFile))
		if err != nil {
			return &tls.Certificate{}, nil
		}
		c.cert, c.stamp = &pair, fi.ModTime()
	}
	if time.Now().After(c.cert.Leaf.NotAfter) {
		return &tls.Certificate{}, nil
	}
	return c.cert, nil
}

// readClientCert returns the current client certificate, nil if none.
func readClientCert(stateDir string) (*x509.Certificate, error) {
	b, err := os.ReadFile(filepath.Join(stateDir, ClientCertFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	pair, err := tls.X509KeyPair(b, mustRead(filepath.Join(stateDir, ClientKeyFile)))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(stateDir, ClientCertFile), err)
	}
	return pair.Leaf, nil
}

func mustRead(path string) []byte {
	b, _ := os.ReadFile(path)
	return b
}

// renewDue is when a certificate should be replaced: with a third of its
// life left, so an agent offline for a while still renews in time.
func renewDue(c *x509.Certificate) time.Time {
	life := c.NotAfter.Sub(c.NotBefore)
	return c.NotAfter.Add(-life / 3)
}

// renewLoop keeps the client certificate fresh. It does nothing for an
// agent enrolled without one (a collector with no CA of its own).
func (d *Daemon) renewLoop(ctx context.Context, client *http.Client) {
	log := d.log.With("component", "mtls")
	// now is set when the trust bundle names another issuing CA than the
	// one that signed the current certificate (a CA rollover).
	now := false
	for {
		cert, err := readClientCert(d.cfg.StateDir)
		if err != nil {
			log.Error("cannot read the client certificate", "err", err)
		}
		if cert == nil {
			return
		}
		wait := time.Until(renewDue(cert))
		if wait <= 0 || now {
			if err := d.renew(ctx, client); err != nil {
				log.Warn("client certificate renewal failed; will retry", "err", err, "expires", cert.NotAfter)
				wait = min(time.Minute, max(time.Until(cert.NotAfter)/4, time.Second))
			} else {
				log.Info("client certificate renewed", "early", now)
				now = false
				continue
			}
		}
		// Check at least hourly: the clock may jump, the file may change.
		t := time.NewTimer(max(min(wait, time.Hour), time.Second))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-d.trust.renewNow:
			t.Stop()
			now = true
		}
	}
}

func (d *Daemon) renew(ctx context.Context, client *http.Client) error {
	keyPEM, csrPEM, err := enroll.NewKey(d.host)
	if err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, d.cfg.Collector.Timeout)
	defer cancel()
	certPEM, err := enroll.Renew(rctx, client, d.cfg.Collector.URL, d.creds.Credential, csrPEM)
	if err != nil {
		return err
	}
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		return fmt.Errorf("the collector's certificate does not match the new key: %w", err)
	}
	return SaveClientCert(d.cfg.StateDir, keyPEM, certPEM)
}
