package e2e

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// scrape reads a Prometheus text page into "name{labels}" -> value.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("scrape %s: %s %s", url, resp.Status, resp.Header.Get("Content-Type"))
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("scrape %s: bad line %q", url, line)
		}
		out[line[:i]] = v
	}
	return out
}

// The agent's and the collector's metrics and health endpoints, scraped
// for real while evidence flows, while the collector is down, and after a
// refused request; and no token or credential in any log on the way.
func TestMetricsHealthAndNoSecretsLogged(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	root := datasetTree(t)
	c := newCollector(t, "")
	c.start()
	a := newAgent(t, c.url, pluginConf{name: "datasets", exe: "annexa-plugin-datasets", yaml: "roots: [" + root + "]"})
	metricsAddr := freeAddr(t)
	f, _ := os.OpenFile(a.config, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("metrics_listen: " + metricsAddr + "\nlog_level: debug\n")
	f.Close()

	token := c.token()
	enrollOut, err := a.exec("enroll", "--collector", c.url, "--token", token, "--config", a.config)
	if err != nil {
		t.Fatalf("enroll: %v\n%s", err, enrollOut)
	}
	a.start()
	waitFor(t, "the first inventory", 30*time.Second, func() bool {
		return c.tryCount(`SELECT count(*) FROM current WHERE kind='dataset' AND deleted=0`) == 3
	})

	agentURL := "http://" + metricsAddr
	var am map[string]float64
	waitFor(t, "the agent's metrics to show the shipment", 20*time.Second, func() bool {
		am = scrape(t, agentURL+"/metrics")
		return am["annexa_agent_shipped_records_total"] > 0 && am["annexa_agent_spool_records"] == 0
	})
	for _, series := range []string{
		`annexa_agent_plugin_collection_duration_seconds_count{mode="full",plugin="datasets",result="ok"}`,
		`annexa_agent_collected_records_total{plugin="datasets"}`,
		`annexa_agent_plugin_state{plugin="datasets",state="ok"}`,
		`annexa_agent_shipped_batches_total`,
	} {
		if am[series] < 1 {
			t.Errorf("agent metric %s = %v, want at least 1", series, am[series])
		}
	}
	if _, ok := am[`annexa_agent_plugin_restarts_total{plugin="datasets"}`]; !ok {
		t.Error("agent metrics lack plugin restarts")
	}
	resp, err := http.Get(agentURL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	var h struct{ Status string }
	json.NewDecoder(resp.Body).Decode(&h)
	resp.Body.Close()
	if resp.StatusCode != 200 || h.Status != "ok" {
		t.Errorf("agent /healthz: %d %q", resp.StatusCode, h.Status)
	}

	// The collector: stored records, a report's evaluation, a refused batch.
	cm := scrape(t, c.url+"/metrics")
	if got, want := cm[`annexa_collector_ingest_records_total{result="stored"}`], float64(c.count(`SELECT count(*) FROM history`)); got < want || want == 0 {
		t.Errorf("collector counted %v stored records, its history holds %v", got, want)
	}
	// The report is read with an API key, as an auditor's script would.
	if r, err := http.Get(c.url + "/v1/report"); err != nil || r.StatusCode != http.StatusUnauthorized {
		t.Errorf("report without an API key: %v %v, want 401", r, err)
	} else {
		r.Body.Close()
	}
	key := strings.TrimSpace(c.run("apikey", "create", "--data", c.data, "--name", "metrics-reader", "--role", "auditor"))
	req, _ := http.NewRequest("GET", c.url+"/v1/report", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	if r, err := http.DefaultClient.Do(req); err != nil || r.StatusCode != 200 {
		t.Errorf("report with an auditor's API key: %v %v", r, err)
	} else {
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	req, _ = http.NewRequest("POST", c.url+"/v1/ingest", strings.NewReader("x"))
	req.Header.Set("Authorization", "Bearer nope")
	if r, err := http.DefaultClient.Do(req); err == nil {
		r.Body.Close()
	}
	cm = scrape(t, c.url+"/metrics")
	if cm[`annexa_collector_agents{state="active"}`] != 1 || cm[`annexa_collector_agents{state="revoked"}`] != 0 {
		t.Errorf("agents by state: active %v revoked %v, want 1 and 0", cm[`annexa_collector_agents{state="active"}`], cm[`annexa_collector_agents{state="revoked"}`])
	}
	seen := false
	for k, v := range cm {
		if strings.HasPrefix(k, "annexa_collector_agent_last_seen_timestamp_seconds{") && time.Since(time.Unix(int64(v), 0)) < time.Minute {
			seen = true
		}
	}
	if !seen {
		t.Error("no recent last-seen time for the agent")
	}
	if cm[`annexa_collector_evaluation_duration_seconds_count{kind="report"}`] < 1 {
		t.Error("the report's evaluation was not timed")
	}
	if cm[`annexa_collector_evaluation_duration_seconds_count{kind="full"}`] < 1 || cm[`annexa_collector_evaluation_duration_seconds_count{kind="incremental"}`] < 1 {
		t.Errorf("serve's own evaluation was not timed: full %v, incremental %v", cm[`annexa_collector_evaluation_duration_seconds_count{kind="full"}`],
			cm[`annexa_collector_evaluation_duration_seconds_count{kind="incremental"}`])
	}
	if cm[`annexa_collector_ingest_batches_total{result="unauthorized"}`] != 1 {
		t.Errorf("rejected batch not counted: %v", cm[`annexa_collector_ingest_batches_total{result="unauthorized"}`])
	}
	if r, err := http.Get(c.url + "/healthz"); err != nil || r.StatusCode != 200 {
		t.Errorf("collector /healthz: %v", err)
	} else {
		r.Body.Close()
	}

	// The collector goes away: retries and the oldest unsent record grow.
	c.stop()
	os.WriteFile(filepath.Join(root, "iris", "new.csv"), []byte("a\n1\n"), 0o640)
	waitFor(t, "retries while the collector is down", 30*time.Second, func() bool {
		am = scrape(t, agentURL+"/metrics")
		return am["annexa_agent_ship_retries_total"] > 0 && am["annexa_agent_spool_records"] > 0 && am["annexa_agent_oldest_unsent_seconds"] > 0
	})
	a.stop()

	// Nothing secret in any log or output: the token, the credential, the
	// credential's secret half, or the API key the report was read with.
	b, err := os.ReadFile(filepath.Join(a.stateDir, "credentials.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cred struct{ Credential string }
	json.Unmarshal(b, &cred)
	secrets := []string{token, cred.Credential, key}
	if i := strings.LastIndexByte(cred.Credential, '_'); i > 0 && len(cred.Credential)-i > 16 {
		secrets = append(secrets, cred.Credential[i+1:])
	} else {
		t.Fatalf("credential %.8s… has no secret part to look for", cred.Credential)
	}
	logs := []string{enrollOut}
	for _, pattern := range []string{filepath.Join(a.dir, "agent-*.log"), filepath.Join(c.data, "collector-*.log")} {
		files, _ := filepath.Glob(pattern)
		for _, f := range files {
			b, _ := os.ReadFile(f)
			logs = append(logs, string(b))
		}
	}
	if len(logs) < 3 {
		t.Fatalf("found %d logs, want enroll output, agent and collector logs", len(logs))
	}
	jsonLine := regexp.MustCompile(`^\{.*\}$`)
	for i, l := range logs {
		for _, s := range secrets {
			if s != "" && strings.Contains(l, s) {
				t.Errorf("log %d contains a secret (%.6s…)", i, s)
			}
		}
		// Not on a terminal, the agent logs JSON lines.
		if i == 1 {
			for _, line := range strings.Split(strings.TrimSpace(l), "\n") {
				if !jsonLine.MatchString(line) {
					t.Errorf("agent log line is not JSON: %q", line)
					break
				}
			}
		}
	}
}
