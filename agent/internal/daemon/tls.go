package daemon

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/annexa/annexa/agent/internal/enroll"
)

// CAFile is the collector CA pinned at enrollment, in the state folder.
// Without it the agent trusts the system's CAs.
const CAFile = "collector-ca.pem"

// SaveCA pins the collector CA for every later connection.
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
// TLS 1.2+ verified against the pinned CA (or the system's).
func CollectorClient(stateDir string, timeout time.Duration) (*http.Client, error) {
	ca, err := LoadCA(stateDir)
	if err != nil {
		return nil, err
	}
	c, err := enroll.Client(ca, timeout)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(stateDir, CAFile), err)
	}
	withClientCert(c, stateDir)
	return c, nil
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
