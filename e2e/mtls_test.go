package e2e

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// With --require-client-cert the collector takes evidence only from agents
// holding a client certificate from its CA, made at enrollment from a key
// that stays on the host; the agent renews it before it expires and keeps
// shipping past the first certificate's end.
func TestMutualTLSAndRenewal(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	root := datasetTree(t)
	c := newCollector(t, "")
	c.url = "https://" + c.addr
	c.extra = []string{"--require-client-cert", "--client-cert-lifetime", "9s"}
	fp := regexp.MustCompile(`sha256:[0-9a-f]{64}`).FindString(c.run("init", "--data", c.data, "--name", "127.0.0.1"))
	c.start()
	caPEM, _ := os.ReadFile(filepath.Join(c.data, "tls", "ca.pem"))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	plain := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}

	// An enrollment without a certificate request is refused, token unspent.
	body, _ := json.Marshal(map[string]string{"token": c.token(), "host": "h"})
	resp, err := plain.Post(c.url+"/v1/enroll", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(msg), "requires client certificates") {
		t.Errorf("enroll without csr: %d %s", resp.StatusCode, msg)
	}

	a := newAgent(t, c.url, pluginConf{name: "datasets", exe: "annexa-plugin-datasets", yaml: "roots: [" + root + "]"})
	if o, err := a.exec("enroll", "--token", c.token(), "--config", a.config, "--ca-fingerprint", fp); err != nil {
		t.Fatalf("enroll: %v %s", err, o)
	}
	if fi, err := os.Stat(filepath.Join(a.stateDir, "client.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("client key missing or not 0600: %v", err)
	}
	first := readCert(t, filepath.Join(a.stateDir, "client.pem"))
	var creds struct {
		AgentID    string `json:"agent_id"`
		Credential string `json:"credential"`
	}
	b, _ := os.ReadFile(filepath.Join(a.stateDir, "credentials.json"))
	json.Unmarshal(b, &creds)
	if first.Subject.CommonName != "agent:"+creds.AgentID || first.NotAfter.Sub(time.Now()) > 10*time.Second {
		t.Errorf("client certificate names %q until %s, want agent:%s for 9s", first.Subject.CommonName, first.NotAfter, creds.AgentID)
	}

	// The credential alone no longer suffices to send evidence.
	req, _ := http.NewRequest("POST", c.url+"/v1/ingest", strings.NewReader(""))
	req.Header.Set("Authorization", "Bearer "+creds.Credential)
	resp, err = plain.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.Contains(string(msg), "requires a client certificate") {
		t.Errorf("ingest without a client certificate: %d %s", resp.StatusCode, msg)
	}

	a.start()
	waitFor(t, "datasets over mTLS", 30*time.Second, func() bool {
		return c.tryCount(`SELECT count(*) FROM current WHERE kind='dataset' AND deleted=0`) == 3
	})
	// Renewed with a third of its life left, twice, each time a new key.
	var renewed *x509.Certificate
	waitFor(t, "two renewals", 30*time.Second, func() bool {
		renewed = readCert(t, filepath.Join(a.stateDir, "client.pem"))
		return renewed.NotAfter.After(first.NotAfter.Add(5 * time.Second))
	})
	if bytes.Equal(renewed.RawSubjectPublicKeyInfo, first.RawSubjectPublicKeyInfo) {
		t.Error("renewal kept the old key")
	}
	// Past the first certificate's end, evidence still flows.
	time.Sleep(time.Until(first.NotAfter) + time.Second)
	os.MkdirAll(filepath.Join(root, "late"), 0o755)
	os.WriteFile(filepath.Join(root, "late", "x.csv"), []byte("a\n1\n"), 0o640)
	waitFor(t, "a dataset after the first certificate expired", 30*time.Second, func() bool {
		return c.tryCount(`SELECT count(*) FROM current WHERE kind='dataset' AND deleted=0`) == 4
	})
	if !a.alive() {
		t.Fatalf("agent died:\n%s", a.logTail())
	}
	a.stop()
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s holds no PEM", path)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
