package e2e

import (
	"crypto/tls"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The path a sysadmin takes: init makes the collector's CA, serve speaks
// TLS only, the agent pins the CA by the fingerprint init printed, and
// evidence arrives. A wrong fingerprint, an agent without the pin and a
// TLS 1.1 client are all refused.
func TestEnrollOverTLSAndShip(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	root := datasetTree(t)
	c := newCollector(t, "")
	c.url = "https://" + c.addr
	out := c.run("init", "--data", c.data, "--name", "127.0.0.1", "--name", "localhost")
	fp := regexp.MustCompile(`CA fingerprint: (sha256:[0-9a-f]{64})`).FindStringSubmatch(out)
	if fp == nil {
		t.Fatalf("init printed no CA fingerprint:\n%s", out)
	}
	for _, f := range []string{"tls/ca.key", "tls/server.key"} {
		if fi, err := os.Stat(filepath.Join(c.data, f)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s should be mode 0600: %v", f, err)
		}
	}
	c.start()

	// Plain HTTP gets nothing from a TLS collector, and old TLS is refused.
	if resp, err := http.Get("http://" + c.addr + "/v1/healthz"); err == nil && resp.StatusCode == 200 {
		resp.Body.Close()
		t.Error("the TLS collector answered plain HTTP")
	}
	old := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS11}}}
	if resp, err := old.Get(c.url + "/v1/healthz"); err == nil {
		resp.Body.Close()
		t.Error("the collector accepted TLS 1.1")
	}

	a := newAgent(t, c.url, pluginConf{name: "datasets", exe: "annexa-plugin-datasets", yaml: "roots: [" + root + "]"})
	// Without a pin the system's CAs do not know the private CA.
	if o, err := a.exec("enroll", "--token", c.token(), "--config", a.config); err == nil || !strings.Contains(o, "certificate") {
		t.Errorf("enroll without the CA pin: %v %s", err, o)
	}
	wrong := "sha256:" + strings.Repeat("ab", 32)
	if o, err := a.exec("enroll", "--token", c.token(), "--config", a.config, "--ca-fingerprint", wrong); err == nil || !strings.Contains(o, "no CA certificate with fingerprint") {
		t.Errorf("enroll with a wrong fingerprint: %v %s", err, o)
	}
	if _, err := os.Stat(filepath.Join(a.stateDir, "credentials.json")); err == nil {
		t.Fatal("a refused enrollment left credentials behind")
	}
	if o, err := a.exec("enroll", "--token", c.token(), "--config", a.config, "--ca-fingerprint", fp[1]); err != nil || !strings.Contains(o, "pinned collector CA") || !strings.Contains(o, fp[1]) {
		t.Fatalf("enroll over TLS should say which CA it pinned: %v\n%s", err, o)
	}
	pinned, err := os.ReadFile(filepath.Join(a.stateDir, "collector-ca.pem"))
	ca, _ := os.ReadFile(filepath.Join(c.data, "tls", "ca.pem"))
	if err != nil || string(pinned) != string(ca) {
		t.Fatalf("the agent did not pin the collector's CA: %v", err)
	}
	a.start()
	waitFor(t, "datasets shipped over TLS", 30*time.Second, func() bool {
		return c.tryCount(`SELECT count(*) FROM current WHERE kind='dataset' AND deleted=0`) == 3
	})
	if !a.alive() {
		t.Fatalf("agent died:\n%s", a.logTail())
	}
	a.stop()

	// Renewing the server certificate from the same CA keeps the agent
	// shipping without a restart of the collector or a new enrollment.
	c.run("init", "--data", c.data, "--renew", "--name", "127.0.0.1")
	os.WriteFile(filepath.Join(root, "iris", "more.csv"), []byte("a,b\n1,2\n"), 0o640)
	a.start()
	waitFor(t, "evidence after the renewal", 30*time.Second, func() bool {
		return c.tryCount(`SELECT count(*) FROM history WHERE kind='scan.complete'`) >= 2
	})
	a.stop()
}
