package e2e

import (
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// spoolRecords counts what the agent has not shipped yet, -1 when the
// spool cannot be read.
func (a *agentEnv) spoolRecords() int {
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(a.stateDir, "spool.db")+"?mode=ro&_busy_timeout=10000")
	if err != nil {
		return -1
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM records`).Scan(&n); err != nil {
		return -1
	}
	return n
}

func (a *agentEnv) agentID() string {
	a.t.Helper()
	var creds struct {
		AgentID string `json:"agent_id"`
	}
	b, _ := os.ReadFile(filepath.Join(a.stateDir, "credentials.json"))
	if err := json.Unmarshal(b, &creds); err != nil || creds.AgentID == "" {
		a.t.Fatalf("credentials.json: %v %s", err, b)
	}
	return creds.AgentID
}

// TestRevokedAgentStopsAtOnce: an agent whose credential the collector
// revoked stops without waiting out the flush for a collector that will
// keep refusing it, keeps what it collected meanwhile in its spool, and
// ships it once enrolled again; the report then lists the host's assets
// once, not also under the revoked agent.
func TestRevokedAgentStopsAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	c := newCollector(t, "")
	c.start()
	tree := datasetTree(t)
	a := newAgent(t, c.url, datasetsPlugin(tree))
	a.enroll(c)
	a.start()
	waitFor(t, "the first inventory at the collector", 30*time.Second, func() bool {
		return c.tryCount(`SELECT count(*) FROM current WHERE kind = 'dataset'`) >= 3
	})
	c.run("agents", "revoke", "--data", c.data, a.agentID())

	// Collected after the revocation: it can only wait in the spool.
	if err := os.MkdirAll(filepath.Join(tree, "late"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tree, "late", "rows.csv"), []byte("a,b\n1,2\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the late dataset in the spool", 30*time.Second, func() bool { return a.spoolRecords() > 0 })
	waitFor(t, "the collector refusing the credential", 30*time.Second, func() bool {
		return strings.Contains(a.logTail(), "collector refused this agent's credential")
	})
	stopping := time.Now()
	a.stop()
	t.Logf("stop with a refused credential took %s", time.Since(stopping).Round(time.Millisecond))
	log := a.logTail()
	if !strings.Contains(log, "the collector refuses this agent's credential; they are shipped once it is enrolled again") ||
		strings.Contains(log, "deadline exceeded") {
		t.Errorf("the stop waited out the flush instead of ending at the refused credential; log:\n%s", log)
	}
	spooled := a.spoolRecords()
	if spooled <= 0 {
		t.Fatalf("spool holds %d records after the stop, want the late evidence kept", spooled)
	}

	out, err := a.exec("enroll", "--force", "--collector", c.url, "--token", c.token(), "--config", a.config)
	if err != nil {
		t.Fatalf("enroll --force: %v\n%s", err, out)
	}
	a.start()
	waitFor(t, "the spooled evidence shipped under the new enrollment", 30*time.Second, func() bool {
		return c.tryCount(`SELECT count(*) FROM current WHERE kind = 'dataset' AND subject LIKE '%/late' AND agent_id = '`+a.agentID()+`'`) == 1
	})
	a.stop()

	// The host is enrolled twice now, once revoked: its datasets are
	// listed once, under the new agent.
	r := c.report()
	if len(r.Hosts) != 2 {
		t.Errorf("report lists %d hosts, want the revoked agent and the new one", len(r.Hosts))
	}
	seen := map[string]int{}
	for _, as := range r.Assets {
		seen[as.Kind+" "+as.Subject]++
	}
	if len(seen) == 0 {
		t.Error("report has no assets")
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("%s is listed %d times: the revoked agent's assets are still inventory", k, n)
		}
	}
}
