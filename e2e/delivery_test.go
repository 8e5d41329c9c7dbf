package e2e

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// counterEvents is how many numbered events the counter plugin emits over
// its life in these tests.
const counterEvents = 120

func counterPlugin(total int) pluginConf {
	return pluginConf{name: "counter", exe: "annexa-plugin-counter", yaml: fmt.Sprintf(
		"interval: 1s\ntotal: %d\nper_collection: 15\ngroup: 4\nitems: 6\ndelay_ms: 15", total)}
}

func datasetsPlugin(root string) pluginConf {
	return pluginConf{name: "datasets", exe: "annexa-plugin-datasets", yaml: "roots: [" + root + "]"}
}

// stateKinds are compared between runs; the agent's own bookkeeping
// (host, plugin.health, scan.complete) legitimately differs in times.
var stateKinds = []string{"dataset", "test.state", "test.event"}

// eventsArrived counts distinct counter events in the store.
func eventsArrived(c *collector) int {
	return c.tryCount(`SELECT count(DISTINCT subject) FROM history WHERE kind = 'test.event'`)
}

// waitForDatasets waits for the three live datasets of datasetTree.
func waitForDatasets(t *testing.T, c *collector, what string) {
	t.Helper()
	waitFor(t, what, 60*time.Second, func() bool {
		return c.tryCount(`SELECT count(*) FROM current WHERE kind='dataset' AND deleted=0`) == 3
	})
}

// assertExactlyOnce checks every counter event is in history once.
func assertExactlyOnce(t *testing.T, c *collector, total int) {
	t.Helper()
	rows := c.count(`SELECT count(*) FROM history WHERE kind = 'test.event'`)
	distinct := c.count(`SELECT count(DISTINCT subject) FROM history WHERE kind = 'test.event'`)
	if rows != total || distinct != total {
		t.Errorf("history holds %d test.event rows for %d distinct events; want exactly %d of each", rows, distinct, total)
	}
	for n := 1; n <= total; n++ {
		if k := c.count(`SELECT count(*) FROM history WHERE kind = 'test.event' AND subject = ?`, fmt.Sprintf("counter:%d", n)); k != 1 {
			t.Errorf("counter:%d is in history %d times", n, k)
			break
		}
	}
}

// cleanRun gives the store a run without faults ends with, to compare.
func cleanRun(t *testing.T, root string) *collector {
	t.Helper()
	c := newCollector(t, "")
	c.start()
	a := newAgent(t, c.url, counterPlugin(counterEvents), datasetsPlugin(root))
	a.enroll(c)
	a.start()
	waitFor(t, "the clean run's events", 90*time.Second, func() bool { return eventsArrived(c) == counterEvents })
	waitForDatasets(t, c, "the clean run's datasets")
	a.stop()
	return c
}

func compareWithClean(t *testing.T, got, clean *collector) {
	t.Helper()
	if g, w := got.current(stateKinds...), clean.current(stateKinds...); !slices.Equal(g, w) {
		t.Errorf("current state differs from a clean run:\n got %d rows: %s\nwant %d rows: %s", len(g), strings.Join(g, "\n     "), len(w), strings.Join(w, "\n     "))
	}
	if g, w := got.history(stateKinds...), clean.history(stateKinds...); !slices.Equal(g, w) {
		t.Errorf("history differs from a clean run: got %d rows, want %d", len(g), len(w))
		for _, line := range diff(g, w) {
			t.Log(line)
		}
	}
}

func diff(got, want []string) []string {
	var out []string
	count := map[string]int{}
	for _, g := range got {
		count[g]++
	}
	for _, w := range want {
		count[w]--
	}
	for k, n := range count {
		if n > 0 {
			out = append(out, fmt.Sprintf("extra x%d: %s", n, k))
		} else if n < 0 {
			out = append(out, fmt.Sprintf("missing x%d: %s", -n, k))
		}
	}
	slices.Sort(out)
	if len(out) > 20 {
		out = out[:20]
	}
	return out
}

// (a) The collector is down while the agent collects; when it comes back,
// every record arrives exactly once.
func TestDeliveryCollectorOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	root := datasetTree(t)
	c := newCollector(t, "")
	c.start()
	a := newAgent(t, c.url, counterPlugin(counterEvents), datasetsPlugin(root))
	a.enroll(c)
	c.stop()

	a.start()
	// Wait until the agent has collected everything into its spool.
	waitFor(t, "the agent to spool every event while the collector is down", 90*time.Second, func() bool {
		out, err := a.exec("status", "--json", "--config", a.config)
		return err == nil && spoolRecords(out) >= counterEvents
	})
	if !a.alive() {
		t.Fatalf("agent died during the outage:\n%s", a.logTail())
	}
	c.start()
	waitFor(t, "every event at the collector", 60*time.Second, func() bool { return eventsArrived(c) == counterEvents })
	waitForDatasets(t, c, "the datasets at the collector")
	a.stop()
	assertExactlyOnce(t, c, counterEvents)
	compareWithClean(t, c, cleanRun(t, root))
}

// spoolRecords reads the spool depth from `annexa-agent status --json`.
func spoolRecords(statusJSON string) int {
	var st struct {
		Spool struct {
			Records int `json:"records"`
		} `json:"spool"`
	}
	if json.Unmarshal([]byte(statusJSON), &st) != nil {
		return 0
	}
	return st.Spool.Records
}

// (b) The agent is killed with SIGKILL at random moments 20 times and
// restarted each time; the store ends as a clean run leaves it.
func TestDeliveryAgentKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	root := datasetTree(t)
	c := newCollector(t, "")
	c.start()
	a := newAgent(t, c.url, counterPlugin(counterEvents), datasetsPlugin(root))
	a.enroll(c)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	seed := time.Now().UnixNano()
	t.Logf("kill schedule seed %d", seed)
	for i := 0; i < 20; i++ {
		a.start()
		time.Sleep(time.Duration(150+rng.IntN(900)) * time.Millisecond)
		a.kill()
	}
	a.start()
	waitFor(t, "every event at the collector after 20 kills", 120*time.Second, func() bool { return eventsArrived(c) == counterEvents })
	waitForDatasets(t, c, "the datasets at the collector")
	a.stop()
	assertExactlyOnce(t, c, counterEvents)
	compareWithClean(t, c, cleanRun(t, root))
	if out := c.run("verify", "--data", c.data); !strings.Contains(out, "intact") {
		t.Errorf("history chain does not verify: %s", out)
	}
}

// (d) Plugins that crash, hang and send invalid records do not stop the
// agent: the others' evidence keeps flowing and plugin.health says what
// went wrong.
func TestDeliveryMisbehavingPlugins(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	root := datasetTree(t)
	c := newCollector(t, "")
	c.start()
	a := newAgent(t, c.url,
		datasetsPlugin(root),
		counterPlugin(30),
		pluginConf{name: "crasher", exe: "annexa-plugin-faulty", yaml: "mode: crash\ninterval: 1s"},
		pluginConf{name: "hanger", exe: "annexa-plugin-faulty", yaml: "mode: hang\ntimeout: 2s\ninterval: 1s"},
		pluginConf{name: "liar", exe: "annexa-plugin-faulty", yaml: "mode: undeclared\ninterval: 1s"},
		pluginConf{name: "garbler", exe: "annexa-plugin-faulty", yaml: "mode: invalid\ninterval: 1s"},
	)
	a.enroll(c)
	a.start()
	health := func(name string) string {
		rows, err := c.db().Query(`SELECT attributes FROM current WHERE kind='plugin.health' AND subject=?`, "plugin:"+name)
		if err != nil {
			return ""
		}
		defer rows.Close()
		var s string
		for rows.Next() {
			rows.Scan(&s)
		}
		return s
	}
	waitFor(t, "every event of the healthy plugin", 60*time.Second, func() bool { return eventsArrived(c) == 30 })
	waitForDatasets(t, c, "datasets from the healthy plugin")
	want := map[string][]string{
		"crasher": {`"state":"crashed"`, `"state":"degraded"`},
		"hanger":  {`"state":"timed_out"`},
		"liar":    {`"state":"degraded"`},
		"garbler": {`"state":"degraded"`},
	}
	for name, states := range want {
		waitFor(t, "plugin.health of "+name+" at the collector", 60*time.Second, func() bool {
			h := health(name)
			for _, s := range states {
				if strings.Contains(h, s) {
					return true
				}
			}
			return false
		})
	}
	if !a.alive() {
		t.Fatalf("the agent died:\n%s", a.logTail())
	}
	// Nothing the misbehaving plugins sent may reach the store: the forged
	// dataset and the non-object attributes were refused at the agent.
	if n := c.count(`SELECT count(*) FROM current WHERE subject IN ('dataset:/forged', 'faulty:bad')`); n != 0 {
		t.Errorf("%d forged or invalid records reached the store", n)
	}
	a.stop()
	assertExactlyOnce(t, c, 30)
}

// A full spool pauses collection and says so; nothing is dropped, and
// once the collector is back every event arrives exactly once.
func TestDeliverySpoolFull(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	const total = 600
	c := newCollector(t, "")
	c.start()
	a := newAgent(t, c.url, pluginConf{name: "counter", exe: "annexa-plugin-counter", yaml: fmt.Sprintf(
		"interval: 1s\ntotal: %d\nper_collection: 200\ngroup: 10\nitems: 0\npad: 4000", total)})
	conf, _ := os.ReadFile(a.config)
	os.WriteFile(a.config, []byte(strings.Replace(string(conf), "plugins:\n", "spool:\n  max_bytes: 1MiB\nplugins:\n", 1)), 0o644)
	a.enroll(c)
	c.stop()
	a.start()
	var status string
	waitFor(t, "the agent to report a full spool and paused collection", 60*time.Second, func() bool {
		out, err := a.exec("status", "--json", "--config", a.config)
		status = out
		return err == nil && strings.Contains(out, `"full": true`) && strings.Contains(out, `"collection_paused": true`)
	})
	if n := spoolRecords(status); n >= total {
		t.Fatalf("spool holds %d records with a 1 MiB cap; the cap did not bind", n)
	}
	if !a.alive() {
		t.Fatalf("agent died with a full spool:\n%s", a.logTail())
	}
	c.start()
	waitFor(t, "every event after the spool drained", 120*time.Second, func() bool { return eventsArrived(c) == total })
	a.stop()
	assertExactlyOnce(t, c, total)
}

// Log lines reach the collector exactly once while the log is appended to
// and rotated, and the agent (with its plugins) is killed at random.
func TestDeliveryAccessLogKilledAndRotated(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	logDir := t.TempDir()
	logPath := filepath.Join(logDir, "auth.log")
	os.WriteFile(logPath, nil, 0o640)
	c := newCollector(t, "")
	c.start()
	a := newAgent(t, c.url, pluginConf{name: "access", exe: "annexa-plugin-access", yaml: "interval: 1s\nauth_logs: [" + logPath + "]\nbatch_lines: 7"})
	a.enroll(c)

	// The writer appends failed logins, each with a unique port, and
	// renames the log away three times.
	var written, rotations int
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		f, _ := os.OpenFile(logPath, os.O_APPEND|os.O_WRONLY, 0o640)
		last := time.Now()
		for {
			select {
			case <-stop:
				f.Close()
				return
			case <-time.After(15 * time.Millisecond):
			}
			written++
			fmt.Fprintf(f, "%s gpu1 sshd[%d]: Failed password for invalid user u%d from 10.1.2.3 port %d ssh2\n",
				time.Now().Format("Jan _2 15:04:05"), 1000+written, written, written)
			if rotations < 3 && time.Since(last) > 3*time.Second {
				f.Close()
				os.Rename(logPath, logPath+".1")
				f, _ = os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640)
				last = time.Now()
				rotations++
			}
		}
	}()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
	for i := 0; i < 10; i++ {
		a.start()
		time.Sleep(time.Duration(400+rng.IntN(1600)) * time.Millisecond)
		a.kill()
	}
	close(stop)
	<-done
	t.Logf("wrote %d lines across %d renames", written, rotations)
	if rotations < 2 {
		t.Errorf("only %d rotations happened; the test proves little about them", rotations)
	}
	a.start()
	count := func() int {
		return c.tryCount(`SELECT count(*) FROM history WHERE kind='access.event' AND op='event'`)
	}
	waitFor(t, fmt.Sprintf("all %d log lines at the collector", written), 90*time.Second, func() bool { return count() >= written })
	time.Sleep(2 * time.Second) // anything extra would arrive now
	a.stop()
	rows := count()
	distinct := c.count(`SELECT count(DISTINCT json_extract(attributes, '$.port')) FROM history WHERE kind='access.event' AND op='event'`)
	if rows != written || distinct != written {
		t.Errorf("wrote %d lines; the collector holds %d event rows for %d distinct lines", written, rows, distinct)
	}
}
