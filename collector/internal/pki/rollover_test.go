package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The agent computes the same digest (agent/internal/enroll); both pin
// it to this value so neither can drift alone.
func TestBundleDigestIsStable(t *testing.T) {
	got := BundleDigest("sha256:bb", []string{"sha256:bb", "sha256:aa"})
	if got != "sha256:fecd0dd4bc598091fec51d880ab38b3a349ccaf6ebcfad0292eec735b7abbd6e" {
		t.Fatalf("digest %s", got)
	}
}

func writeCA(t *testing.T, dir, certName, keyName string) *CA {
	t.Helper()
	ca, keyPEM, err := NewCA("Annexa collector CA "+certName, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert, key := CAPaths(dir, certName, keyName)
	os.MkdirAll(filepath.Dir(cert), 0o700)
	if err := os.WriteFile(key, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cert, ca.PEM, 0o644); err != nil {
		t.Fatal(err)
	}
	return ca
}

// The phases as the files make them, and what serve trusts in each.
func TestStateAndAuthorityFollowTheFiles(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadState(dir); err == nil || !strings.Contains(err.Error(), "annexa-collector init") {
		t.Fatalf("no CA: %v", err)
	}
	cur := writeCA(t, dir, CACert, CAKey)
	a, err := NewAuthority(dir)
	if err != nil {
		t.Fatal(err)
	}
	var reloadErr error
	a.OnReloadError = func(err error) { reloadErr = err }
	st := a.State()
	if st.Phase() != PhaseSingle || len(a.Bundle().Fingerprints) != 1 {
		t.Fatalf("single: %s %v", st.Phase(), a.Bundle().Fingerprints)
	}

	next := writeCA(t, dir, NextCACert, NextCAKey)
	a.checked = time.Time{} // the once-a-second rule, not under test here
	b := a.Bundle()
	if a.State().Phase() != PhaseRotating || b.Issuing != Fingerprint(cur.Cert) || len(b.Fingerprints) != 2 || b.Fingerprints[1] != Fingerprint(next.Cert) {
		t.Fatalf("rotating: %s %+v", a.State().Phase(), b)
	}
	if strings.Count(string(b.PEM), "BEGIN CERTIFICATE") != 2 || strings.Contains(string(b.PEM), "PRIVATE") {
		t.Fatal("the bundle must hold the two certificates and nothing else")
	}
	// Client certificates of either CA verify; new ones come from the current.
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for _, ca := range []*CA{cur, next} {
		certPEM, err := ca.IssueClient(csrFor(t, key), "a1", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		blk, _ := pem.Decode(certPEM)
		c, _ := x509.ParseCertificate(blk.Bytes)
		if _, err := c.Verify(x509.VerifyOptions{Roots: a.ClientCAs(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Errorf("client certificate of %s: %v", ca.Cert.Subject.CommonName, err)
		}
	}
	issued, _ := a.IssueClient(csrFor(t, key), "a1", time.Now())
	blk, _ := pem.Decode(issued)
	c, _ := x509.ParseCertificate(blk.Bytes)
	if !IssuedBy(c, cur.Cert) {
		t.Error("while rotating, the current CA must still issue")
	}

	// Half a promote: the new certificate beside the old key. The
	// authority keeps what it had and says why.
	caCert, caKey, _, _ := Paths(dir)
	os.WriteFile(caCert, next.PEM, 0o644)
	a.checked = time.Time{}
	if a.State().Current.Cert.Equal(next.Cert) || reloadErr == nil || !strings.Contains(reloadErr.Error(), "ca promote") {
		t.Fatalf("a mismatched pair was taken, or not reported: %v", reloadErr)
	}
	// The promote finished.
	prevCert, _ := CAPaths(dir, PrevCACert, PrevCAKey)
	os.WriteFile(prevCert, cur.PEM, 0o644)
	nk, _ := os.ReadFile(filepath.Join(dir, Dir, NextCAKey))
	os.WriteFile(caKey, nk, 0o600)
	os.Remove(filepath.Join(dir, Dir, NextCACert))
	os.Remove(filepath.Join(dir, Dir, NextCAKey))
	a.checked = time.Time{}
	if st := a.State(); st.Phase() != PhasePromoted || !st.Current.Cert.Equal(next.Cert) || !st.Previous.Equal(cur.Cert) {
		t.Fatalf("promoted: %s", st.Phase())
	}
	issued, _ = a.IssueClient(csrFor(t, key), "a1", time.Now())
	blk, _ = pem.Decode(issued)
	c, _ = x509.ParseCertificate(blk.Bytes)
	if !IssuedBy(c, next.Cert) {
		t.Error("after the promotion, the new CA must issue")
	}
	if len(a.Bundle().Fingerprints) != 2 || a.Bundle().Issuing != Fingerprint(next.Cert) {
		t.Errorf("promoted bundle: %+v", a.Bundle())
	}

	// Retired.
	os.Remove(prevCert)
	a.checked = time.Time{}
	if a.State().Phase() != PhaseSingle || len(a.Bundle().Fingerprints) != 1 {
		t.Fatalf("retired: %s", a.State().Phase())
	}
}
