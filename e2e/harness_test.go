package e2e

import (
	"bufio"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"
)

// bins holds the executables under test, built once per test binary.
var bins string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "annexa-e2e-")
	if err != nil {
		panic(err)
	}
	bins = dir
	builds := map[string]string{
		"annexa-agent":           "github.com/annexa/annexa/agent/cmd/annexa-agent",
		"annexa-collector":       "github.com/annexa/annexa/collector/cmd/annexa-collector",
		"annexa-plugin-datasets": "github.com/annexa/annexa/plugins/datasets/cmd/annexa-plugin-datasets",
		"annexa-plugin-access":   "github.com/annexa/annexa/plugins/access/cmd/annexa-plugin-access",
		"annexa-plugin-models":   "github.com/annexa/annexa/plugins/models/cmd/annexa-plugin-models",
		"annexa-plugin-counter":  "github.com/annexa/annexa/e2e/testplugins/counter",
		"annexa-plugin-faulty":   "github.com/annexa/annexa/e2e/testplugins/faulty",
	}
	builds["annexa-plugin-encryption"] = "github.com/annexa/annexa/plugins/encryption/cmd/annexa-plugin-encryption"
	for name, pkg := range builds {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, name), pkg)
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", name, err, out)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// freeAddr finds a loopback port nobody uses right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// collector is a running annexa-collector.
type collector struct {
	t    *testing.T
	data string
	addr string
	url  string
	cmd  *exec.Cmd
	done chan struct{}
	// extra flags for serve
	extra []string
}

func newCollector(t *testing.T, addr string) *collector {
	if addr == "" {
		addr = freeAddr(t)
	}
	c := &collector{t: t, data: t.TempDir(), addr: addr, url: "http://" + addr}
	return c
}

func (c *collector) start() {
	t := c.t
	t.Helper()
	args := []string{"serve", "--listen", c.addr, "--data", c.data}
	if !strings.HasPrefix(c.url, "https://") {
		args = append(args, "--plain-http")
	}
	c.cmd = exec.Command(filepath.Join(bins, "annexa-collector"), append(args, c.extra...)...)
	stderr, err := c.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c.done = make(chan struct{})
	ready := make(chan struct{})
	log, _ := os.Create(filepath.Join(c.data, fmt.Sprintf("collector-%d.log", time.Now().UnixNano())))
	go func() {
		defer close(c.done)
		sc := bufio.NewScanner(stderr)
		once := sync.Once{}
		for sc.Scan() {
			fmt.Fprintln(log, sc.Text())
			if strings.Contains(sc.Text(), "listening on") {
				once.Do(func() { close(ready) })
			}
		}
		log.Close()
		c.cmd.Wait()
	}()
	select {
	case <-ready:
	case <-c.done:
		t.Fatalf("collector exited before listening; log in %s", c.data)
	case <-time.After(30 * time.Second):
		t.Fatal("collector did not start listening within 30s")
	}
	t.Cleanup(c.stop)
}

func (c *collector) stop() {
	if c.cmd == nil || c.cmd.Process == nil {
		return
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(15 * time.Second):
		c.cmd.Process.Kill()
		<-c.done
	}
	c.cmd = nil
}

func (c *collector) run(args ...string) string {
	c.t.Helper()
	out, err := exec.Command(filepath.Join(bins, "annexa-collector"), args...).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		c.t.Fatalf("annexa-collector %v: %v\n%s", args, err, stderr)
	}
	return string(out)
}

func (c *collector) token() string {
	return strings.TrimSpace(c.run("token", "create", "--data", c.data))
}

// report is the part of the JSON report the tests read.
type report struct {
	Controls []struct {
		ControlID string `json:"control_id"`
		Status    string `json:"status"`
		Checks    []struct {
			ID      string `json:"id"`
			Failing []struct {
				Subject string `json:"subject"`
			} `json:"failing"`
		} `json:"checks"`
	} `json:"controls"`
	Hosts  []json.RawMessage `json:"hosts"`
	Assets []struct {
		Kind    string `json:"kind"`
		Subject string `json:"subject"`
	} `json:"assets"`
}

func (c *collector) report() report {
	var r report
	if err := json.Unmarshal([]byte(c.run("report", "--data", c.data, "--format", "json")), &r); err != nil {
		c.t.Fatalf("report is not JSON: %v", err)
	}
	return r
}

func (c *collector) db() *sql.DB {
	c.t.Helper()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(c.data, "collector.db")+"?mode=ro&_busy_timeout=10000")
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { db.Close() })
	return db
}

func (c *collector) count(query string, args ...any) int {
	c.t.Helper()
	db := c.db()
	var n int
	if err := db.QueryRow(query, args...).Scan(&n); err != nil {
		c.t.Fatalf("%s: %v", query, err)
	}
	return n
}

// history returns the rows of the append-only history of the given kinds,
// as "kind subject op attributes" lines, and fails on any (agent, seq)
// stored twice.
func (c *collector) history(kinds ...string) []string {
	c.t.Helper()
	db := c.db()
	q := `SELECT kind, subject, op, attributes FROM history WHERE kind IN ('` + strings.Join(kinds, "','") + `') ORDER BY kind, subject, id`
	rows, err := db.Query(q)
	if err != nil {
		c.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var kind, subject, op string
		var attrs []byte
		if err := rows.Scan(&kind, &subject, &op, &attrs); err != nil {
			c.t.Fatal(err)
		}
		out = append(out, kind+" "+subject+" "+op+" "+normaliseAttrs(attrs))
	}
	var dups int
	if err := db.QueryRow(`SELECT count(*) FROM (SELECT agent_id, seq FROM history WHERE seq IS NOT NULL GROUP BY agent_id, seq HAVING count(*) > 1)`).Scan(&dups); err != nil {
		c.t.Fatal(err)
	}
	if dups > 0 {
		c.t.Errorf("%d (agent, seq) pairs are stored more than once in history", dups)
	}
	return out
}

// normaliseAttrs drops what differs between two honest runs on different
// temp folders and clocks.
func normaliseAttrs(b []byte) string {
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return string(b)
	}
	for _, k := range []string{"modified_at", "owner", "group"} {
		delete(m, k)
	}
	out, _ := json.Marshal(m)
	return tempRE.ReplaceAllString(string(out), "<tmp>")
}

var tempRE = regexp.MustCompile(`/tmp/[^"/]+/[0-9]+`)

// current returns the live state of the given kinds as sorted lines.
func (c *collector) current(kinds ...string) []string {
	c.t.Helper()
	rows, err := c.db().Query(`SELECT kind, subject, attributes FROM current WHERE deleted = 0 AND kind IN ('` + strings.Join(kinds, "','") + `') ORDER BY kind, subject`)
	if err != nil {
		c.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var kind, subject string
		var attrs []byte
		if err := rows.Scan(&kind, &subject, &attrs); err != nil {
			c.t.Fatal(err)
		}
		out = append(out, kind+" "+subject+" "+normaliseAttrs(attrs))
	}
	return out
}

// agentEnv is one agent's config, plugin folder and state.
type agentEnv struct {
	t         *testing.T
	dir       string
	config    string
	stateDir  string
	pluginDir string
	cmd       *exec.Cmd
	done      chan struct{}
	logs      int
}

// pluginConf is a plugin section of the agent config, as YAML lines.
type pluginConf struct {
	name string
	// exe is the built executable to install as annexa-plugin-<name>.
	exe  string
	yaml string
}

func newAgent(t *testing.T, collectorURL string, plugins ...pluginConf) *agentEnv {
	t.Helper()
	a := &agentEnv{t: t, dir: t.TempDir()}
	a.stateDir = filepath.Join(a.dir, "state")
	a.pluginDir = filepath.Join(a.dir, "plugins")
	os.MkdirAll(a.pluginDir, 0o755)
	var manifest, conf strings.Builder
	fmt.Fprintf(&conf, "collector:\n  url: %s\n  timeout: 5s\nstate_dir: %s\nplugin_dir: %s\nshipping:\n  heartbeat: 2s\n  max_backoff: 2s\nwatch:\n  debounce: 200ms\n  poll_interval: 1s\nplugins:\n", collectorURL, a.stateDir, a.pluginDir)
	for _, p := range plugins {
		name := "annexa-plugin-" + p.name
		b, err := os.ReadFile(filepath.Join(bins, p.exe))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(a.pluginDir, name), b, 0o755); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		fmt.Fprintf(&manifest, "%s  %s\n", hex.EncodeToString(sum[:]), name)
		fmt.Fprintf(&conf, "  %s:\n", p.name)
		for _, line := range strings.Split(strings.TrimSpace(p.yaml), "\n") {
			if line != "" {
				fmt.Fprintf(&conf, "    %s\n", line)
			}
		}
		if strings.TrimSpace(p.yaml) == "" {
			fmt.Fprintf(&conf, "    enabled: true\n")
		}
	}
	os.WriteFile(filepath.Join(a.pluginDir, "plugins.sha256"), []byte(manifest.String()), 0o644)
	a.config = filepath.Join(a.dir, "agent.yaml")
	if err := os.WriteFile(a.config, []byte(conf.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.kill)
	return a
}

func (a *agentEnv) exec(args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(bins, "annexa-agent"), args...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (a *agentEnv) enroll(c *collector) {
	a.t.Helper()
	if out, err := a.exec("enroll", "--collector", c.url, "--token", c.token(), "--config", a.config); err != nil {
		a.t.Fatalf("enroll: %v\n%s", err, out)
	}
}

func (a *agentEnv) start() {
	a.t.Helper()
	a.logs++
	logf, err := os.Create(filepath.Join(a.dir, fmt.Sprintf("agent-%02d.log", a.logs)))
	if err != nil {
		a.t.Fatal(err)
	}
	a.cmd = exec.Command(filepath.Join(bins, "annexa-agent"), "run", "--config", a.config)
	a.cmd.Stderr = logf
	a.cmd.Stdout = logf
	// Its own process group, so a SIGKILL can take the plugins down with
	// it, as a power cut would.
	a.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := a.cmd.Start(); err != nil {
		a.t.Fatal(err)
	}
	a.done = make(chan struct{})
	go func() {
		a.cmd.Wait()
		logf.Close()
		close(a.done)
	}()
}

func (a *agentEnv) alive() bool {
	select {
	case <-a.done:
		return false
	default:
		return a.cmd != nil
	}
}

// kill sends SIGKILL to the agent and its plugins.
func (a *agentEnv) kill() {
	if a.cmd == nil || a.cmd.Process == nil {
		return
	}
	syscall.Kill(-a.cmd.Process.Pid, syscall.SIGKILL)
	<-a.done
	a.cmd = nil
}

// stop asks the agent to stop as a service manager would.
func (a *agentEnv) stop() {
	if a.cmd == nil {
		return
	}
	a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.done:
	case <-time.After(30 * time.Second):
		a.t.Error("agent did not stop within 30s of SIGTERM")
		a.kill()
	}
	a.cmd = nil
}

func (a *agentEnv) logTail() string {
	b, _ := os.ReadFile(filepath.Join(a.dir, fmt.Sprintf("agent-%02d.log", a.logs)))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// waitFor polls cond until it holds or the time is up.
func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", limit, what)
}

// tryCount is count that tolerates a store that does not exist yet.
func (c *collector) tryCount(query string) int {
	if _, err := os.Stat(filepath.Join(c.data, "collector.db")); err != nil {
		return -1
	}
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(c.data, "collector.db")+"?mode=ro&_busy_timeout=10000")
	if err != nil {
		return -1
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(context.Background(), query).Scan(&n); err != nil {
		return -1
	}
	return n
}

// datasetTree creates a small, fixed ML host tree and returns its root.
func datasetTree(t *testing.T) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "datasets")
	files := map[string]string{
		"iris/iris.csv":  "a,b,c\n1,2,3\n4,5,6\n",
		"iris/README.md": "---\nlicense: cc-by-4.0\nderived_from: uci-iris-raw\nretention: 10y\n---\n# Iris\n",
		// Planted personal data, so the personal-data checks judge a real finding.
		"customers/2024/part-0.jsonl": "{\"id\":1,\"email\":\"ana.lopez@example.org\"}\n{\"id\":2,\"email\":\"tom.berg@example.net\"}\n",
		"images/train/a.png":          "\x89PNG\r\n\x1a\n0000",
	}
	for name, body := range files {
		p := filepath.Join(root, name)
		os.MkdirAll(filepath.Dir(p), 0o750)
		if err := os.WriteFile(p, []byte(body), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	// customers is readable by everyone: a finding for 8.3.
	os.Chmod(filepath.Join(root, "customers"), 0o755)
	os.Chmod(filepath.Join(root, "customers/2024"), 0o755)
	os.Chmod(filepath.Join(root, "customers/2024/part-0.jsonl"), 0o644)
	return root
}

var _ = io.EOF
