package pki

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// A CA rollover keeps at most two CAs in DATA/tls: ca.pem is always the
// one that issues (server and client certificates); next-ca.pem is the CA
// `ca rotate` made and agents are learning to trust; previous-ca.pem is
// the CA `ca promote` replaced, still trusted for the client certificates
// it issued until `ca retire`.
const (
	NextCACert = "next-ca.pem"
	NextCAKey  = "next-ca.key"
	PrevCACert = "previous-ca.pem"
	PrevCAKey  = "previous-ca.key"
)

// Phase is where a data folder stands in a CA rollover.
type Phase string

const (
	// PhaseSingle: one CA, no rollover under way.
	PhaseSingle Phase = "single"
	// PhaseRotating: a next CA exists; agents fetch the bundle that
	// holds both and confirm it; the current CA still issues.
	PhaseRotating Phase = "rotating"
	// PhasePromoted: the new CA issues; the old one is still trusted for
	// the client certificates it issued.
	PhasePromoted Phase = "promoted"
)

// State is the CAs of a data folder.
type State struct {
	// Current issues the server certificate and agents' client
	// certificates.
	Current *CA
	// Next is the CA `ca rotate` made; nil outside PhaseRotating.
	Next *CA
	// Previous is the CA `ca promote` replaced; nil outside PhasePromoted.
	// Its key is kept on disk until `ca retire` but never used to sign.
	Previous *x509.Certificate
}

// ErrNoCA means the data folder has no CA of the collector's own.
var ErrNoCA = errors.New("no collector CA")

// CAPaths are the files of one CA slot of a data folder.
func CAPaths(dataDir, certName, keyName string) (cert, key string) {
	d := filepath.Join(dataDir, Dir)
	return filepath.Join(d, certName), filepath.Join(d, keyName)
}

// LoadState reads the CAs of dataDir.
func LoadState(dataDir string) (*State, error) {
	caCert, caKey, _, _ := Paths(dataDir)
	if _, err := os.Stat(caKey); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s does not exist; `annexa-collector init --data %s --name HOST` makes one", ErrNoCA, caKey, dataDir)
	}
	cur, err := LoadCA(caCert, caKey)
	if err != nil {
		return nil, err
	}
	st := &State{Current: cur}
	nc, nk := CAPaths(dataDir, NextCACert, NextCAKey)
	if _, err := os.Stat(nc); err == nil {
		if st.Next, err = LoadCA(nc, nk); err != nil {
			return nil, fmt.Errorf("next CA: %w", err)
		}
	}
	pc, _ := CAPaths(dataDir, PrevCACert, PrevCAKey)
	if b, err := os.ReadFile(pc); err == nil {
		if st.Previous, err = ParseCert(b); err != nil {
			return nil, fmt.Errorf("%s: %w", pc, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read the previous CA: %w", err)
	}
	return st, nil
}

// Phase says where the rollover stands.
func (s *State) Phase() Phase {
	switch {
	case s.Next != nil:
		return PhaseRotating
	case s.Previous != nil:
		return PhasePromoted
	}
	return PhaseSingle
}

// Trusted are the CAs agents should accept a server certificate from and
// the collector accepts client certificates from: the current one first.
func (s *State) Trusted() []*x509.Certificate {
	out := []*x509.Certificate{s.Current.Cert}
	if s.Next != nil {
		out = append(out, s.Next.Cert)
	}
	if s.Previous != nil {
		out = append(out, s.Previous)
	}
	return slices.CompactFunc(out, func(a, b *x509.Certificate) bool { return a.Equal(b) })
}

// Bundle is what GET /v1/trust gives an agent.
type Bundle struct {
	// PEM holds every trusted CA certificate, the issuing one first.
	PEM []byte
	// Fingerprints of the same CAs, in the same order.
	Fingerprints []string
	// Issuing is the fingerprint of the CA that issues certificates now;
	// an agent whose client certificate is from another CA renews.
	Issuing string
	// Digest changes whenever any of the above does.
	Digest string
}

// Bundle returns the trust bundle of this state.
func (s *State) Bundle() Bundle {
	var b Bundle
	for _, c := range s.Trusted() {
		b.PEM = append(b.PEM, pemBlock("CERTIFICATE", c.Raw)...)
		b.Fingerprints = append(b.Fingerprints, Fingerprint(c))
	}
	b.Issuing = Fingerprint(s.Current.Cert)
	b.Digest = BundleDigest(b.Issuing, b.Fingerprints)
	return b
}

// BundleDigest names a bundle by its issuing CA and the set of CAs it
// holds, so agent and collector compute the same value independently.
func BundleDigest(issuing string, fingerprints []string) string {
	fps := slices.Clone(fingerprints)
	slices.Sort(fps)
	sum := sha256.Sum256([]byte(issuing + ";" + strings.Join(fps, ",")))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// IssuedBy reports whether cert was signed by ca.
func IssuedBy(cert, ca *x509.Certificate) bool {
	return cert.CheckSignatureFrom(ca) == nil
}

// Authority is serve's live view of the data folder's CAs: it issues
// client certificates, verifies them and hands out the trust bundle, and
// re-reads the folder when `ca rotate|promote|retire` changed it, so a
// rollover needs no restart.
type Authority struct {
	dir string
	// ClientLifetime overrides the lifetime of issued client certificates.
	ClientLifetime time.Duration
	// OnReloadError is told when the folder could not be read again; the
	// last good state stays in use.
	OnReloadError func(error)
	// OnReload is told of each state read again after a change.
	OnReload func(*State)
	// OfferBundle is false when the server certificate is not from these
	// CAs (the operator's own): agents that pinned the operator's CA have
	// nothing to learn from the bundle and would refuse it.
	OfferBundle bool

	mu      sync.Mutex
	state   *State
	bundle  Bundle
	pool    *x509.CertPool
	stamp   string
	checked time.Time
}

// NewAuthority loads dataDir's CAs.
func NewAuthority(dataDir string) (*Authority, error) {
	a := &Authority{dir: dataDir, OfferBundle: true}
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.loadLocked(); err != nil {
		return nil, err
	}
	return a, nil
}

func (a *Authority) stampNow() string {
	var s strings.Builder
	for _, name := range []string{CACert, CAKey, NextCACert, NextCAKey, PrevCACert} {
		if fi, err := os.Stat(filepath.Join(a.dir, Dir, name)); err == nil {
			fmt.Fprintf(&s, "%s:%d/%d;", name, fi.ModTime().UnixNano(), fi.Size())
		}
	}
	return s.String()
}

func (a *Authority) loadLocked() error {
	stamp := a.stampNow()
	st, err := LoadState(a.dir)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	for _, c := range st.Trusted() {
		pool.AddCert(c)
	}
	a.state, a.bundle, a.pool, a.stamp = st, st.Bundle(), pool, stamp
	return nil
}

// current re-reads the folder at most once a second, and only when a
// file changed. A half-done `ca promote` (two files written, one to go)
// fails to load and the last good state is kept.
func (a *Authority) current() (*State, Bundle, *x509.CertPool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if time.Since(a.checked) >= time.Second {
		a.checked = time.Now()
		if a.stampNow() != a.stamp {
			err := a.loadLocked()
			switch {
			case err != nil && a.OnReloadError != nil:
				a.OnReloadError(err)
			case err == nil && a.OnReload != nil:
				a.OnReload(a.state)
			}
		}
	}
	return a.state, a.bundle, a.pool
}

// Issued reports whether one of the trusted CAs signed cert.
func (a *Authority) Issued(cert *x509.Certificate) bool {
	for _, ca := range a.State().Trusted() {
		if IssuedBy(cert, ca) {
			return true
		}
	}
	return false
}

// IssueClient signs with the current CA; it makes Authority an issuer for
// the API.
func (a *Authority) IssueClient(csrPEM []byte, agentID string, now time.Time) ([]byte, error) {
	st, _, _ := a.current()
	ca := *st.Current
	ca.ClientLifetime = a.ClientLifetime
	return ca.IssueClient(csrPEM, agentID, now)
}

// Bundle is the trust bundle agents fetch.
func (a *Authority) Bundle() Bundle {
	_, b, _ := a.current()
	return b
}

// ClientCAs verifies client certificates: every trusted CA, so an agent
// whose certificate the old CA issued keeps working until it renews.
func (a *Authority) ClientCAs() *x509.CertPool {
	_, _, p := a.current()
	return p
}

// State is the current state.
func (a *Authority) State() *State {
	s, _, _ := a.current()
	return s
}
