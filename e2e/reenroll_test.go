package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Enrolling again leaves the old agent ID enrolled at the collector, where
// it goes silent: enroll --force names it and how to revoke it.
func TestEnrollForceNamesTheReplacedAgent(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	c := newCollector(t, "")
	c.start()
	a := newAgent(t, c.url, datasetsPlugin(datasetTree(t)))
	a.enroll(c)
	var creds struct {
		AgentID string `json:"agent_id"`
	}
	b, _ := os.ReadFile(filepath.Join(a.stateDir, "credentials.json"))
	if err := json.Unmarshal(b, &creds); err != nil || creds.AgentID == "" {
		t.Fatalf("credentials.json: %v %s", err, b)
	}
	out, err := a.exec("enroll", "--force", "--collector", c.url, "--token", c.token(), "--config", a.config)
	if err != nil {
		t.Fatalf("enroll --force: %v\n%s", err, out)
	}
	if !strings.Contains(out, "this replaces agent "+creds.AgentID+"; revoke it on the collector: annexa-collector agents revoke --data DIR "+creds.AgentID) {
		t.Errorf("enroll --force does not name the replaced agent %s:\n%s", creds.AgentID, out)
	}
}
