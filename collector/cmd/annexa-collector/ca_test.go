package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/annexa/annexa/collector/internal/pki"
	"github.com/annexa/annexa/collector/internal/store"
)

// The steps refuse to run out of order, each saying which comes first.
func TestCAStepsInOrder(t *testing.T) {
	data := t.TempDir()
	if _, errs, code := cli(t, "ca", "rotate", "--data", data); code != 1 || !strings.Contains(errs, "annexa-collector init") {
		t.Errorf("rotate without a CA: %d %s", code, errs)
	}
	if _, errs, code := cli(t, "ca", "rotate"); code != 2 || !strings.Contains(errs, "--data") {
		t.Errorf("rotate without --data: %d %s", code, errs)
	}
	if _, errs, code := cli(t, "ca", "rotate", "--force", "--data", data); code != 2 {
		t.Errorf("rotate takes no --force: %d %s", code, errs)
	}
	if _, errs, code := cli(t, "ca", "spin", "--data", data); code != 2 || !strings.Contains(errs, "ca status, ca rotate, ca promote or ca retire") {
		t.Errorf("unknown subcommand: %d %s", code, errs)
	}
	cli(t, "init", "--data", data, "--name", "127.0.0.1")
	cli(t, "token", "create", "--data", data) // makes the store
	if _, errs, code := cli(t, "ca", "promote", "--data", data); code != 1 || !strings.Contains(errs, "ca rotate") {
		t.Errorf("promote without a next CA: %d %s", code, errs)
	}
	if _, errs, code := cli(t, "ca", "retire", "--data", data); code != 1 || !strings.Contains(errs, "rotate, ca promote, then ca retire") {
		t.Errorf("retire without an old CA: %d %s", code, errs)
	}
	out, _, _ := cli(t, "ca", "status", "--data", data)
	if !strings.Contains(out, "phase: single") || !strings.Contains(out, "--ca-fingerprint sha256:") || strings.Contains(out, "WARNING") {
		t.Errorf("status of a fresh CA:\n%s", out)
	}
}

// A promote cut off after ca.pem was replaced, before ca.key: serve keeps
// the old CAs (the pair does not match) and running promote again
// finishes it.
func TestCAPromoteResumes(t *testing.T) {
	data := t.TempDir()
	cli(t, "init", "--data", data, "--name", "127.0.0.1", "--name", "collector.example.org")
	cli(t, "token", "create", "--data", data)
	if _, errs, code := cli(t, "ca", "rotate", "--data", data); code != 0 {
		t.Fatal(errs)
	}
	before, err := pki.LoadState(data)
	if err != nil {
		t.Fatal(err)
	}
	// What promote writes before the cut, in its order.
	caCert, caKey, srvCert, srvKey := pki.Paths(data)
	prevCert, prevKey := pki.CAPaths(data, pki.PrevCACert, pki.PrevCAKey)
	oldKey, _ := os.ReadFile(caKey)
	os.WriteFile(prevKey, oldKey, 0o600)
	os.WriteFile(prevCert, before.Current.PEM, 0o644)
	certPEM, keyPEM, err := before.Next.IssueServer([]string{"127.0.0.1", "collector.example.org"}, before.Next.Cert.NotBefore)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(srvKey, keyPEM, 0o600)
	os.WriteFile(srvCert, certPEM, 0o644)
	os.WriteFile(caCert, before.Next.PEM, 0o644)
	if _, err := pki.LoadState(data); err == nil || !strings.Contains(err.Error(), "run it again") {
		t.Fatalf("a half-promoted folder: %v", err)
	}

	out, errs, code := cli(t, "ca", "promote", "--data", data)
	if code != 0 || !strings.Contains(out, "CA fingerprint: "+pki.Fingerprint(before.Next.Cert)) {
		t.Fatalf("promote again: %d %s %s", code, out, errs)
	}
	after, err := pki.LoadState(data)
	if err != nil {
		t.Fatal(err)
	}
	if after.Phase() != pki.PhasePromoted || !after.Current.Cert.Equal(before.Next.Cert) || !after.Previous.Equal(before.Current.Cert) {
		t.Fatalf("after the resumed promote: phase %s", after.Phase())
	}
	for _, f := range []string{pki.NextCACert, pki.NextCAKey} {
		if _, err := os.Stat(filepath.Join(data, pki.Dir, f)); err == nil {
			t.Errorf("%s left behind", f)
		}
	}
	if fi, err := os.Stat(caKey); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("ca.key: %v", err)
	}
	// No agent, so nothing holds up the retirement.
	if out, errs, code := cli(t, "ca", "retire", "--data", data); code != 0 || !strings.Contains(out, "retired the old CA") {
		t.Fatalf("retire: %d %s %s", code, out, errs)
	}
	if st, _ := pki.LoadState(data); st.Phase() != pki.PhaseSingle {
		t.Errorf("after retire: %s", st.Phase())
	}
}

// ca status warns half a year before the CA ends, and says what to run.
func TestCAStatusWarnsBeforeTheEnd(t *testing.T) {
	data := t.TempDir()
	ca, keyPEM, err := pki.NewCA("Annexa collector CA old", time.Now().Add(-pki.CALifetime+100*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	caCert, caKey, srvCert, srvKey := pki.Paths(data)
	os.MkdirAll(filepath.Dir(caCert), 0o700)
	os.WriteFile(caKey, keyPEM, 0o600)
	os.WriteFile(caCert, ca.PEM, 0o644)
	certPEM, skPEM, err := ca.IssueServer([]string{"127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(srvKey, skPEM, 0o600)
	os.WriteFile(srvCert, certPEM, 0o644)
	out, errs, code := cli(t, "ca", "status", "--data", data)
	if code != 0 || !strings.Contains(out, "WARNING: the CA ends on") || !strings.Contains(out, "ca rotate --data "+data) {
		t.Fatalf("status of a CA 100 days from its end: %d %s %s", code, out, errs)
	}
	// Once a rollover is under way, the warning has done its work.
	cli(t, "ca", "rotate", "--data", data)
	if out, _, _ := cli(t, "ca", "status", "--data", data); strings.Contains(out, "WARNING") || !strings.Contains(out, "phase: rotating") {
		t.Errorf("status while rotating:\n%s", out)
	}
}

// A collector serving the operator's own certificate has no rollover to
// make: its agents trust the operator's CA.
func TestCARotateRefusesOwnServerCert(t *testing.T) {
	data := t.TempDir()
	cli(t, "init", "--data", data, "--name", "127.0.0.1")
	other, _, err := pki.NewCA("company CA", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := other.IssueServer([]string{"collector.example.org"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "c.pem"), certPEM, 0o644)
	os.WriteFile(filepath.Join(dir, "c.key"), keyPEM, 0o600)
	if _, errs, code := cli(t, "init", "--data", data, "--cert", filepath.Join(dir, "c.pem"), "--key", filepath.Join(dir, "c.key")); code != 0 {
		t.Fatal(errs)
	}
	if _, errs, code := cli(t, "ca", "rotate", "--data", data); code != 1 || !strings.Contains(errs, "init --cert") {
		t.Errorf("rotate with the operator's certificate: %d %s", code, errs)
	}
	// Without a CA ever made, the advice must not be to run init, which
	// would replace the operator's certificate with one agents distrust.
	own := t.TempDir()
	if _, errs, code := cli(t, "init", "--data", own, "--cert", filepath.Join(dir, "c.pem"), "--key", filepath.Join(dir, "c.key")); code != 0 {
		t.Fatal(errs)
	}
	for _, step := range []string{"status", "rotate", "retire"} {
		if _, errs, code := cli(t, "ca", step, "--data", own); code != 1 || !strings.Contains(errs, "init --cert") || strings.Contains(errs, "--name HOST") {
			t.Errorf("ca %s with only the operator's certificate: %d %s", step, code, errs)
		}
	}
}

// Who holds up each step, decided from what the agents last reported and
// what the collector saw of their client certificates.
func TestRolloverWaitsFor(t *testing.T) {
	now := time.Now()
	promoted := now.Add(-time.Hour)
	later, earlier := now.Add(-time.Minute), now.Add(-2*time.Hour)
	valid, ended := now.Add(24*time.Hour), now.Add(-time.Minute)
	ag := func(id string, seen time.Time, st *store.AgentStatus) store.Agent {
		return store.Agent{ID: id, LastSeenAt: seen, Status: st}
	}
	agents := []store.Agent{
		ag("confirmed", later, &store.AgentStatus{TrustedCAs: []string{"old", "new"}, ClientCertCA: "new", ClientCertNotAfter: &valid}),
		ag("not-yet", later, &store.AgentStatus{TrustedCAs: []string{"old"}, ClientCertCA: "old", ClientCertNotAfter: &valid}),
		ag("never-reported", earlier, nil),
		ag("old-cert-ended", earlier, &store.AgentStatus{TrustedCAs: []string{"old", "new"}, ClientCertCA: "old", ClientCertNotAfter: &ended}),
		ag("no-client-cert", later, &store.AgentStatus{TrustedCAs: []string{"old", "new", "stranger"}}),
		{ID: "revoked", RevokedAt: earlier, LastSeenAt: earlier},
	}
	ids := func(as []store.Agent) string {
		var s []string
		for _, a := range as {
			s = append(s, a.ID)
		}
		return strings.Join(s, ",")
	}
	if got := ids(notTrusting(agents, "new")); got != "not-yet,never-reported" {
		t.Errorf("promote waits for %s", got)
	}
	if got := ids(oldCertHolders(agents, "old", promoted, now)); got != "not-yet,never-reported" {
		t.Errorf("retire waits for %s", got)
	}
}

// An agent trusting a CA the collector does not hold is named.
func TestForeignTrust(t *testing.T) {
	ca, _, err := pki.NewCA("Annexa collector CA t", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	fp := pki.Fingerprint(ca.Cert)
	st := &pki.State{Current: ca}
	agents := []store.Agent{
		{ID: "ours", Status: &store.AgentStatus{TrustedCAs: []string{fp}}},
		{ID: "stranger", Status: &store.AgentStatus{TrustedCAs: []string{fp, "sha256:" + strings.Repeat("0", 64)}}},
		{ID: "silent"},
	}
	if got := foreignTrust(agents, st); len(got) != 1 || got[0].ID != "stranger" {
		t.Errorf("foreign trust: %v", got)
	}
}
