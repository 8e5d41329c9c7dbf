package e2e

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var fpRE = regexp.MustCompile(`sha256:[0-9a-f]{64}`)

// certsIn parses every certificate of a PEM file.
func certsIn(t *testing.T, path string) []*x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return out
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
}

func fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// fingerprints of a PEM file's certificates, joined by commas.
func fingerprintsIn(t *testing.T, path string) string {
	var fps []string
	for _, c := range certsIn(t, path) {
		fps = append(fps, fingerprint(c))
	}
	return strings.Join(fps, ",")
}

// runFails runs annexa-collector expecting it to fail and returns what it
// printed on stderr.
func (c *collector) runFails(args ...string) string {
	c.t.Helper()
	out, err := exec.Command(filepath.Join(bins, "annexa-collector"), args...).CombinedOutput()
	if err == nil {
		c.t.Fatalf("annexa-collector %v succeeded, want a refusal:\n%s", args, out)
	}
	return string(out)
}

func (a *agentEnv) id(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(a.stateDir, "credentials.json"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`"agent_id":\s*"([^"]+)"`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no agent_id in credentials.json")
	}
	return string(m[1])
}

// tlsCollector inits and starts a collector that requires client
// certificates, and returns the CA fingerprint init printed.
func tlsCollector(t *testing.T) (*collector, string) {
	c := newCollector(t, "")
	c.url = "https://" + c.addr
	c.extra = []string{"--require-client-cert"}
	fp := fpRE.FindString(c.run("init", "--data", c.data, "--name", "127.0.0.1"))
	if fp == "" {
		t.Fatal("init printed no fingerprint")
	}
	c.start()
	return c, fp
}

// waitServing waits until serve has picked up a server certificate from
// the CA fp (it looks at the files at most once a second).
func waitServing(t *testing.T, c *collector, fp string) {
	t.Helper()
	waitFor(t, "serve to present the new CA", 10*time.Second, func() bool {
		conn, err := tls.Dial("tcp", c.addr, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			return false
		}
		defer conn.Close()
		chain := conn.ConnectionState().PeerCertificates
		return fingerprint(chain[len(chain)-1]) == fp
	})
}

func enrollPinned(t *testing.T, c *collector, a *agentEnv, fp string) {
	t.Helper()
	if o, err := a.exec("enroll", "--token", c.token(), "--config", a.config, "--ca-fingerprint", fp); err != nil {
		t.Fatalf("enroll: %v\n%s", err, o)
	}
}

// A whole CA rollover without touching the agent's host: rotate, the
// agent fetches and confirms the bundle, promote (refused until it has),
// the agent renews its client certificate from the new CA and keeps
// shipping, retire (refused while it may still hold an old certificate),
// and the agent drops the old CA.
func TestCARollover(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	root := datasetTree(t)
	c, oldFP := tlsCollector(t)
	a := newAgent(t, c.url, pluginConf{name: "datasets", exe: "annexa-plugin-datasets", yaml: "roots: [" + root + "]"})
	enrollPinned(t, c, a, oldFP)
	id := a.id(t)
	datasets := func(n int) func() bool {
		return func() bool { return c.tryCount(`SELECT count(*) FROM current WHERE kind='dataset' AND deleted=0`) == n }
	}
	a.start()
	waitFor(t, "datasets shipped", 30*time.Second, datasets(3))
	a.stop()

	// Rotate while the agent is away: promote must wait for it.
	out := c.run("ca", "rotate", "--data", c.data)
	newFP := fpRE.FindString(out)
	if newFP == "" || newFP == oldFP {
		t.Fatalf("ca rotate printed no new fingerprint:\n%s", out)
	}
	if fi, err := os.Stat(filepath.Join(c.data, "tls", "next-ca.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("next-ca.key missing or not 0600: %v", err)
	}
	if msg := c.runFails("ca", "promote", "--data", c.data); !strings.Contains(msg, id) || !strings.Contains(msg, "not yet confirmed") {
		t.Fatalf("promote before the agent confirmed should name it:\n%s", msg)
	}
	if msg := c.runFails("ca", "rotate", "--data", c.data); !strings.Contains(msg, "already exists") {
		t.Errorf("a second rotate: %s", msg)
	}

	// Back online, the agent learns the bundle over its pinned channel.
	a.start()
	pinned := filepath.Join(a.stateDir, "collector-ca.pem")
	waitFor(t, "the agent to trust both CAs", 20*time.Second, func() bool {
		return fingerprintsIn(t, pinned) == oldFP+","+newFP
	})
	waitFor(t, "the collector to see the agent confirm the next CA", 20*time.Second, func() bool {
		return strings.Contains(c.run("ca", "status", "--data", c.data), "every agent trusts the next CA")
	})
	if list := c.run("agents", "list", "--data", c.data); !strings.Contains(list, newFP[:19]) || !strings.Contains(list, "TRUSTS CA") {
		t.Errorf("agents list should show the CAs the agent trusts:\n%s", list)
	}
	a.stop()
	if o, err := a.exec("doctor", "--config", a.config); err != nil || !strings.Contains(o, "a CA rollover is under way: this agent trusts 2 collector CAs") {
		t.Errorf("doctor during the rollover: %v\n%s", err, o)
	}

	out = c.run("ca", "promote", "--data", c.data)
	if !strings.Contains(out, "CA fingerprint: "+newFP) || !strings.Contains(out, "--ca-fingerprint "+newFP) {
		t.Errorf("promote should print the new CA for enrollments:\n%s", out)
	}
	waitServing(t, c, newFP)
	srv := certsIn(t, filepath.Join(c.data, "tls", "server.pem"))
	if srv[0].CheckSignatureFrom(srv[len(srv)-1]) != nil || fingerprint(srv[len(srv)-1]) != newFP || srv[0].IPAddresses[0].String() != "127.0.0.1" {
		t.Fatalf("the server certificate was not reissued under the new CA for the same name")
	}
	for _, f := range []string{"ca.key", "server.key", "previous-ca.key"} {
		if fi, err := os.Stat(filepath.Join(c.data, "tls", f)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s missing or not 0600: %v", f, err)
		}
	}
	// The agent was away during the promotion: it may still hold a
	// client certificate from the old CA.
	if msg := c.runFails("ca", "retire", "--data", c.data); !strings.Contains(msg, id) || !strings.Contains(msg, "old CA") {
		t.Fatalf("retire while the agent may hold an old certificate should name it:\n%s", msg)
	}

	// The agent trusts the new CA already: it ships, then renews its
	// client certificate from the new CA on learning it issues now.
	a.start()
	os.MkdirAll(filepath.Join(root, "after-promote"), 0o755)
	os.WriteFile(filepath.Join(root, "after-promote", "x.csv"), []byte("a\n1\n"), 0o640)
	waitFor(t, "a dataset shipped after the promotion", 30*time.Second, datasets(4))
	waitFor(t, "a client certificate from the new CA", 20*time.Second, func() bool {
		crt := readCert(t, filepath.Join(a.stateDir, "client.pem"))
		return crt.Issuer.CommonName == srv[len(srv)-1].Subject.CommonName && crt.CheckSignatureFrom(srv[len(srv)-1]) == nil
	})
	waitFor(t, "ca status to clear retirement", 20*time.Second, func() bool {
		return strings.Contains(c.run("ca", "status", "--data", c.data), "no agent depends on the old CA")
	})

	c.run("ca", "retire", "--data", c.data)
	if _, err := os.Stat(filepath.Join(c.data, "tls", "previous-ca.key")); err == nil {
		t.Error("retire left the old CA's key")
	}
	waitFor(t, "the agent to drop the old CA", 20*time.Second, func() bool {
		return fingerprintsIn(t, pinned) == newFP
	})
	os.MkdirAll(filepath.Join(root, "after-retire"), 0o755)
	os.WriteFile(filepath.Join(root, "after-retire", "x.csv"), []byte("a\n1\n"), 0o640)
	waitFor(t, "a dataset shipped after the retirement", 30*time.Second, datasets(5))
	if !a.alive() {
		t.Fatalf("agent died:\n%s", a.logTail())
	}
	a.stop()

	// New agents enroll with the new CA's fingerprint.
	b := newAgent(t, c.url, counterPlugin(1))
	if o, err := b.exec("enroll", "--token", c.token(), "--config", b.config, "--ca-fingerprint", oldFP); err == nil {
		t.Errorf("enrolling with the retired CA's fingerprint worked:\n%s", o)
	}
	enrollPinned(t, c, b, newFP)
}

// An agent offline through a forced promotion is told, in its log and by
// doctor, which CA the collector now presents and how to enroll again;
// doing so brings it back.
func TestCAPromoteForcedPastOfflineAgent(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	root := datasetTree(t)
	c, oldFP := tlsCollector(t)
	online := newAgent(t, c.url, counterPlugin(1))
	enrollPinned(t, c, online, oldFP)
	offline := newAgent(t, c.url, pluginConf{name: "datasets", exe: "annexa-plugin-datasets", yaml: "roots: [" + root + "]"})
	enrollPinned(t, c, offline, oldFP)
	offID := offline.id(t)

	newFP := fpRE.FindString(c.run("ca", "rotate", "--data", c.data))
	online.start()
	waitFor(t, "the online agent to confirm", 20*time.Second, func() bool {
		msg := c.run("ca", "status", "--data", c.data)
		return strings.Contains(msg, "waiting for 1 agent") && strings.Contains(msg, offID)
	})
	msg := c.runFails("ca", "promote", "--data", c.data)
	if !strings.Contains(msg, offID) || strings.Contains(msg, online.id(t)) {
		t.Fatalf("promote should name the offline agent only:\n%s", msg)
	}
	if out, err := exec.Command(filepath.Join(bins, "annexa-collector"), "ca", "promote", "--data", c.data, "--force").CombinedOutput(); err != nil || !strings.Contains(string(out), offID) {
		t.Fatalf("promote --force: %v\n%s", err, out)
	}

	waitServing(t, c, newFP)
	// doctor says what happened and what to do.
	out, err := offline.exec("doctor", "--config", offline.config)
	if err == nil || !strings.Contains(out, newFP) || !strings.Contains(out, "annexa-agent enroll --force") || !strings.Contains(out, "ca promote") {
		t.Errorf("doctor on the agent that missed the rollover: %v\n%s", err, out)
	}
	// So does the running agent's log.
	offline.start()
	waitFor(t, "the agent to log why it cannot ship", 20*time.Second, func() bool {
		l := offline.logTail()
		return strings.Contains(l, "does not trust") && strings.Contains(l, "--ca-fingerprint "+newFP)
	})
	// Its flush on stop would wait out its timeout for a collector it
	// cannot trust.
	offline.kill()
	if got := fingerprintsIn(t, filepath.Join(offline.stateDir, "collector-ca.pem")); got != oldFP {
		t.Errorf("the agent's pinned CAs changed without contact: %s", got)
	}

	if o, err := offline.exec("enroll", "--force", "--token", c.token(), "--config", offline.config, "--ca-fingerprint", newFP); err != nil {
		t.Fatalf("enroll again: %v\n%s", err, o)
	}
	offline.start()
	waitFor(t, "datasets from the re-enrolled agent", 30*time.Second, func() bool {
		return c.tryCount(`SELECT count(*) FROM current WHERE kind='dataset' AND deleted=0`) == 3
	})
	offline.stop()
	online.stop()
}
