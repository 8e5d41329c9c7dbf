package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// CredentialsFile holds the agent's identity, in the state folder.
const CredentialsFile = "credentials.json"

// Credentials are what enrollment gives the agent. The file is 0600: the
// credential lets anyone who holds it speak as this host.
type Credentials struct {
	AgentID      string    `json:"agent_id"`
	Credential   string    `json:"credential"`
	CollectorURL string    `json:"collector_url"`
	EnrolledAt   time.Time `json:"enrolled_at"`
}

// ErrNotEnrolled means the state folder has no credentials yet.
var ErrNotEnrolled = errors.New("this agent is not enrolled")

// LoadCredentials reads the credentials from stateDir.
func LoadCredentials(stateDir string) (*Credentials, error) {
	path := filepath.Join(stateDir, CredentialsFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s does not exist; run `annexa-agent enroll --token TOKEN --ca-fingerprint sha256:HEX` with a token from `annexa-collector token create` and the CA fingerprint `annexa-collector init` printed", ErrNotEnrolled, path)
	}
	if err != nil {
		return nil, fmt.Errorf("read credentials: %w", err)
	}
	var c Credentials
	if err := json.Unmarshal(b, &c); err != nil || c.AgentID == "" || c.Credential == "" {
		return nil, fmt.Errorf("%s is damaged; enroll again with `annexa-agent enroll`", path)
	}
	return &c, nil
}

// SaveCredentials writes the credentials atomically with mode 0600.
func SaveCredentials(stateDir string, c *Credentials) error {
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return fmt.Errorf("create state folder: %w", err)
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(stateDir, CredentialsFile), b, 0o600)
}

// writeFileAtomic replaces path so a crash leaves either the old or the
// new content, never half of one.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := matchOwner(tmp.Name()); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
