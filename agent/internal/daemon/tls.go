package daemon

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/annexa/annexa/agent/internal/enroll"
)

// CAFile is the collector CA pinned at enrollment, in the state folder.
// Without it the agent trusts the system's CAs.
const CAFile = "collector-ca.pem"

// SaveCA pins the collector CAs for every later connection: the one
// enrollment pinned, or the bundle of a CA rollover. The file is replaced
// atomically, so a crash leaves the old trust or the new, never neither.
func SaveCA(stateDir string, pem []byte) error {
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return fmt.Errorf("create state folder: %w", err)
	}
	return writeFileAtomic(filepath.Join(stateDir, CAFile), pem, 0o644)
}

// LoadCA returns the pinned CA, or nil when none was pinned.
func LoadCA(stateDir string) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(stateDir, CAFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the pinned collector CA: %w", err)
	}
	return b, nil
}

// CollectorClient is the HTTP client every request to the collector uses:
// TLS 1.2+ verified against the pinned CAs (or the system's), presenting
// the client certificate when the collector asks for one. The pinned CAs
// are read again when the file changes, so a trust bundle fetched during
// a CA rollover takes effect on the next connection.
func CollectorClient(stateDir string, timeout time.Duration) (*http.Client, error) {
	t := &trustTransport{dir: stateDir, certs: &clientCerts{dir: stateDir}}
	t.mu.Lock()
	err := t.loadLocked()
	t.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return &http.Client{Transport: t, Timeout: timeout}, nil
}

// trustTransport is an http.Transport rebuilt when the pinned CAs change.
type trustTransport struct {
	dir   string
	certs *clientCerts

	mu      sync.Mutex
	cur     *http.Transport
	trusted []string
	stamp   time.Time
	checked time.Time
}

func (t *trustTransport) loadLocked() error {
	path := filepath.Join(t.dir, CAFile)
	var stamp time.Time
	if fi, err := os.Stat(path); err == nil {
		stamp = fi.ModTime()
	}
	ca, err := LoadCA(t.dir)
	if err != nil {
		return err
	}
	c, err := enroll.Client(ca, 0)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	tr := c.Transport.(*http.Transport)
	tr.TLSClientConfig.GetClientCertificate = t.certs.get
	if t.cur != nil {
		t.cur.CloseIdleConnections()
	}
	t.cur, t.trusted, t.stamp = tr, enroll.Fingerprints(ca), stamp
	return nil
}

func (t *trustTransport) transport() (*http.Transport, []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if time.Since(t.checked) >= time.Second {
		t.checked = time.Now()
		var stamp time.Time
		if fi, err := os.Stat(filepath.Join(t.dir, CAFile)); err == nil {
			stamp = fi.ModTime()
		}
		// A file that cannot be read keeps the trust in use: it was
		// written atomically, so this is a passing fault, not half a
		// bundle.
		if !stamp.Equal(t.stamp) {
			_ = t.loadLocked()
		}
	}
	return t.cur, t.trusted
}

func (t *trustTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	tr, trusted := t.transport()
	resp, err := tr.RoundTrip(req)
	if err != nil {
		err = enroll.ExplainUntrusted(err, req.URL.Host, trusted)
	}
	return resp, err
}

func (t *trustTransport) CloseIdleConnections() {
	tr, _ := t.transport()
	tr.CloseIdleConnections()
}

// matchOwner gives path to the owner of its folder when root writes into a
// folder that belongs to the service user (`sudo annexa-agent enroll` on a
// packaged host), or the service could not read its own credential.
func matchOwner(path string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	fi, err := os.Stat(filepath.Dir(path))
	if err != nil {
		return nil
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || st.Uid == 0 {
		return nil
	}
	return os.Chown(path, int(st.Uid), int(st.Gid))
}
