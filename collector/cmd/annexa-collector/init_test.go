package main

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestInitAndServeTLSRules(t *testing.T) {
	data := t.TempDir()
	// serve without a certificate says how to get one.
	if _, errs, code := cli(t, "serve", "--data", data, "--listen", "127.0.0.1:0"); code != 1 || !strings.Contains(errs, "annexa-collector init --data "+data) {
		t.Errorf("serve without a certificate: %d %s", code, errs)
	}
	// Plain HTTP is for loopback only.
	if _, errs, code := cli(t, "serve", "--data", data, "--listen", "0.0.0.0:0", "--plain-http"); code != 2 || !strings.Contains(errs, "only allowed on a loopback address") {
		t.Errorf("plain http on all addresses: %d %s", code, errs)
	}
	if _, errs, code := cli(t, "init", "--data", data); code != 2 || !strings.Contains(errs, "--name") {
		t.Errorf("init without names: %d %s", code, errs)
	}
	if _, errs, code := cli(t, "init", "--data", data, "--name", "bad name!"); code != 1 || !strings.Contains(errs, "neither a host name nor an IP") {
		t.Errorf("init with a bad name: %d %s", code, errs)
	}

	// Start from a clean folder: the failed init above may have made a CA.
	data = t.TempDir()
	out, errs, code := cli(t, "init", "--data", data, "--name", "collector.example.org", "--name", "10.0.0.5")
	if code != 0 || !strings.Contains(out, "CA fingerprint: sha256:") {
		t.Fatalf("init: %d %s %s", code, out, errs)
	}
	pair, err := tls.LoadX509KeyPair(filepath.Join(data, "tls/server.pem"), filepath.Join(data, "tls/server.key"))
	if err != nil {
		t.Fatal(err)
	}
	caPEM, _ := os.ReadFile(filepath.Join(data, "tls/ca.pem"))
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	for _, name := range []string{"collector.example.org", "10.0.0.5"} {
		if _, err := pair.Leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: name}); err != nil {
			t.Errorf("server certificate does not verify for %s: %v", name, err)
		}
	}
	if _, err := pair.Leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "other.example.org"}); err == nil {
		t.Error("server certificate verifies for a name it was not issued for")
	}
	if len(pair.Certificate) != 2 {
		t.Errorf("server.pem holds %d certificates, want leaf and CA", len(pair.Certificate))
	}

	// A second init would replace the CA every agent pinned: refused.
	if _, errs, code := cli(t, "init", "--data", data, "--name", "x.example.org"); code != 1 || !strings.Contains(errs, "--renew") {
		t.Errorf("second init: %d %s", code, errs)
	}
	// --renew keeps the CA and changes the server certificate.
	oldLeaf := pair.Leaf.SerialNumber
	if _, errs, code := cli(t, "init", "--data", data, "--renew", "--name", "collector.example.org"); code != 0 {
		t.Fatalf("renew: %s", errs)
	}
	caAfter, _ := os.ReadFile(filepath.Join(data, "tls/ca.pem"))
	renewed, err := tls.LoadX509KeyPair(filepath.Join(data, "tls/server.pem"), filepath.Join(data, "tls/server.key"))
	if err != nil || string(caAfter) != string(caPEM) || renewed.Leaf.SerialNumber.Cmp(oldLeaf) == 0 {
		t.Errorf("renew changed the CA or kept the old certificate: %v", err)
	}

	// The operator's own pair: checked, then installed.
	own := t.TempDir()
	if _, errs, code := cli(t, "init", "--data", own, "--cert", filepath.Join(data, "tls/server.pem"), "--key", filepath.Join(data, "tls/ca.key")); code != 1 || !strings.Contains(errs, "not a matching certificate and key") {
		t.Errorf("mismatched --cert/--key: %d %s", code, errs)
	}
	if out, errs, code := cli(t, "init", "--data", own, "--cert", filepath.Join(data, "tls/server.pem"), "--key", filepath.Join(data, "tls/server.key")); code != 0 || !strings.Contains(out, "collector.example.org") {
		t.Errorf("own certificate: %d %s %s", code, out, errs)
	}
	if _, err := tls.LoadX509KeyPair(filepath.Join(own, "tls/server.pem"), filepath.Join(own, "tls/server.key")); err != nil {
		t.Errorf("own certificate not installed: %v", err)
	}
}

func TestServiceInstallChecksTLS(t *testing.T) {
	data := t.TempDir()
	if _, errs, code := cli(t, "service", "install", "--data", data, "--name", "annexa-collector-never"); code == 0 || !strings.Contains(errs, "no TLS certificate") {
		t.Errorf("install without a certificate: %d %s", code, errs)
	}
	if _, errs, code := cli(t, "service", "install", "--data", data, "--listen", "0.0.0.0:8443", "--plain-http", "--name", "annexa-collector-never"); code != 2 || !strings.Contains(errs, "loopback") {
		t.Errorf("install with plain http on all addresses: %d %s", code, errs)
	}
	if _, err := os.Stat("/etc/init.d/annexa-collector-never"); err == nil {
		os.Remove("/etc/init.d/annexa-collector-never")
		t.Error("an init script was written for a service that cannot start")
	}
}
