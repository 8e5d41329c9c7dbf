package enroll

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
)

// Trust is the collector's answer to GET /v1/trust: the CAs an agent
// should accept the collector's certificate from. During a CA rollover it
// holds two.
type Trust struct {
	Bundle       string   `json:"bundle"`
	Fingerprints []string `json:"fingerprints"`
	Issuing      string   `json:"issuing"`
	Digest       string   `json:"digest"`

	// CAs are the parsed certificates of Bundle, in its order.
	CAs []*x509.Certificate `json:"-"`
}

// maxTrustCAs bounds a bundle: a rollover needs two.
const maxTrustCAs = 8

// TrustDigest names a bundle as the collector does: by its issuing CA and
// the set of CAs it holds.
func TrustDigest(issuing string, fingerprints []string) string {
	fps := slices.Clone(fingerprints)
	slices.Sort(fps)
	sum := sha256.Sum256([]byte(issuing + ";" + strings.Join(fps, ",")))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Fingerprints are the SHA-256 fingerprints of the certificates of a PEM
// file, in order.
func Fingerprints(pemBytes []byte) []string {
	var out []string
	for {
		var b *pem.Block
		b, pemBytes = pem.Decode(pemBytes)
		if b == nil {
			return out
		}
		if c, err := x509.ParseCertificate(b.Bytes); err == nil && b.Type == "CERTIFICATE" {
			out = append(out, Fingerprint(c))
		}
	}
}

// Issuing is the bundle's issuing CA.
func (t *Trust) IssuingCA() *x509.Certificate {
	for _, c := range t.CAs {
		if Fingerprint(c) == t.Issuing {
			return c
		}
	}
	return nil
}

// PEM is the bundle re-encoded from the parsed certificates alone, as the
// agent stores it.
func (t *Trust) PEM() []byte {
	var out []byte
	for _, c := range t.CAs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

// FetchTrust asks the collector for its trust bundle over client, whose
// TLS already verifies the collector against the CAs this agent trusts,
// and checks the answer (CheckTrust) against that very connection.
func FetchTrust(ctx context.Context, client *http.Client, baseURL, credential string) (*Trust, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(baseURL, "/")+"/v1/trust", nil)
	if err != nil {
		return nil, fmt.Errorf("fetch the trust bundle: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+credential)
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch the trust bundle: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<10))
	if err != nil {
		return nil, fmt.Errorf("fetch the trust bundle: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(b, &e)
		if e.Error == "" {
			e.Error = resp.Status
		}
		return nil, fmt.Errorf("fetch the trust bundle: the collector answered %s: %s", resp.Status, e.Error)
	}
	var t Trust
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("fetch the trust bundle: the answer is not JSON: %w", err)
	}
	if err := CheckTrust(&t, resp.TLS); err != nil {
		return nil, err
	}
	return &t, nil
}

// CheckTrust accepts a bundle only when it was received over TLS that
// verified, holds nothing but CA certificates matching its fingerprints
// and digest, and holds the CA the connection was verified with: an agent
// never adopts a trust under which the collector it talks to would fail,
// so a bad bundle cannot cut it off.
func CheckTrust(t *Trust, cs *tls.ConnectionState) error {
	if cs == nil || len(cs.VerifiedChains) == 0 {
		return errors.New("refused the trust bundle: it did not come over a verified TLS connection (a trust bundle is only taken from an https collector)")
	}
	rest := []byte(t.Bundle)
	t.CAs = nil
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return fmt.Errorf("refused the trust bundle: it holds a %s block; only CA certificates belong there", b.Type)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return fmt.Errorf("refused the trust bundle: %w", err)
		}
		if !c.IsCA {
			return fmt.Errorf("refused the trust bundle: %q is not a CA certificate", c.Subject.CommonName)
		}
		if len(t.CAs) == maxTrustCAs {
			return fmt.Errorf("refused the trust bundle: more than %d certificates", maxTrustCAs)
		}
		t.CAs = append(t.CAs, c)
	}
	if len(t.CAs) == 0 {
		return errors.New("refused the trust bundle: it holds no certificate")
	}
	var fps []string
	for _, c := range t.CAs {
		fps = append(fps, Fingerprint(c))
	}
	if !slices.Equal(fps, t.Fingerprints) || !slices.Contains(fps, t.Issuing) || TrustDigest(t.Issuing, fps) != t.Digest {
		return errors.New("refused the trust bundle: its fingerprints, issuing CA and digest do not match its certificates")
	}
	for _, chain := range cs.VerifiedChains {
		if len(chain) > 0 && slices.Contains(fps, Fingerprint(chain[len(chain)-1])) {
			return nil
		}
	}
	return errors.New("refused the trust bundle: it does not hold the CA the collector's own certificate was verified with, so adopting it would cut this agent off")
}

// UntrustedCollectorError is a TLS handshake that failed because the
// collector's certificate is from a CA this agent does not trust: after a
// CA rollover this agent missed, or a machine that is not the collector.
type UntrustedCollectorError struct {
	Host string
	// CA is the CA certificate the collector presented in its chain, when
	// it sent one; Trusted are the fingerprints this agent accepts.
	CA      *x509.Certificate
	Trusted []string
	Err     error
}

func (e *UntrustedCollectorError) Error() string {
	trusted := strings.Join(e.Trusted, ", ")
	if e.CA == nil {
		return fmt.Sprintf("the collector at %s presents a certificate from a CA this agent does not trust (it trusts %s); if this is your collector, enroll again with `annexa-agent enroll --force --token TOKEN --ca-fingerprint FP` (the fingerprint from `annexa-collector ca status`): %v", e.Host, trusted, e.Err)
	}
	fp := Fingerprint(e.CA)
	return fmt.Sprintf("the collector at %s presents a certificate from CA %q (%s), which this agent does not trust (it trusts %s). If the collector's CA was promoted (`annexa-collector ca promote`) while this host was offline, check that fingerprint with `annexa-collector ca status` on the collector and enroll again: annexa-agent enroll --force --token TOKEN --ca-fingerprint %s. If the fingerprints differ, this is not your collector", e.Host, e.CA.Subject.CommonName, fp, trusted, fp)
}

func (e *UntrustedCollectorError) Unwrap() error { return e.Err }

// ExplainUntrusted turns a handshake error of an unknown CA into an
// UntrustedCollectorError when the agent pinned CAs (trusted); other
// errors, and those of an agent that relies on the system's CAs, pass
// unchanged.
func ExplainUntrusted(err error, host string, trusted []string) error {
	var unknown x509.UnknownAuthorityError
	if err == nil || len(trusted) == 0 || !errors.As(err, &unknown) {
		return err
	}
	out := &UntrustedCollectorError{Host: host, Trusted: trusted, Err: err}
	var cve *tls.CertificateVerificationError
	if errors.As(err, &cve) {
		for _, c := range cve.UnverifiedCertificates {
			if c.IsCA {
				out.CA = c
				break
			}
		}
	}
	return out
}
