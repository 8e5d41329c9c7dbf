package main

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/annexa/annexa/collector/internal/pki"
	"github.com/annexa/annexa/collector/internal/store"
)

const caUsage = `  ca status     --data DIR
                the CA rollover's phase, each CA's end, and which agents are not ready for the next step
  ca rotate     --data DIR
                make the next CA beside the current one; agents fetch and confirm it on their next contact
  ca promote    --data DIR [--force]
                reissue the server certificate under the next CA and issue agents' certificates from it
  ca retire     --data DIR [--force]
                stop trusting the old CA once no agent's client certificate depends on it
`

// caWarnBefore is how long before the CA's end status and doctor warn: a
// rollover waits for every agent to confirm, and hosts may be offline for
// weeks.
const caWarnBefore = 180 * 24 * time.Hour

// ca is `annexa-collector ca`: a rollover of the collector's CA that needs
// no visit to the hosts. Each step works on the files in DATA/tls; a
// running serve picks them up within a second.
func (e *env) ca(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usagef("ca needs a subcommand: ca status | ca rotate | ca promote | ca retire")
	}
	fs := flag.NewFlagSet("ca "+args[0], flag.ContinueOnError)
	data := dataFlag(fs)
	var force *bool
	if args[0] == "promote" || args[0] == "retire" {
		force = fs.Bool("force", false, "go ahead although the agents named would lose contact until they enroll again")
	}
	switch args[0] {
	case "status", "rotate", "promote", "retire":
	default:
		return usagef("unknown subcommand ca %s; use ca status, ca rotate, ca promote or ca retire", args[0])
	}
	if err := parseWithData(fs, data, args[1:]); err != nil {
		return err
	}
	switch args[0] {
	case "rotate":
		return e.caRotate(*data)
	case "promote":
		return e.caPromote(ctx, *data, *force)
	case "retire":
		return e.caRetire(ctx, *data, *force)
	}
	return e.caStatus(ctx, *data)
}

func day(t time.Time) string { return t.UTC().Format(time.DateOnly) }

func (e *env) caRotate(dataDir string) error {
	st, err := loadCAState(dataDir)
	if err != nil {
		return fmt.Errorf("ca rotate: %w", err)
	}
	switch st.Phase() {
	case pki.PhaseRotating:
		return fmt.Errorf("ca rotate: a next CA (%s) already exists; promote it with `annexa-collector ca promote --data %s` once every agent trusts it (see `ca status`)", pki.Fingerprint(st.Next.Cert), dataDir)
	case pki.PhasePromoted:
		return fmt.Errorf("ca rotate: the last rollover is not finished: the old CA %s is still trusted; run `annexa-collector ca retire --data %s` first", pki.Fingerprint(st.Previous), dataDir)
	}
	if err := ownServerCert(dataDir, st.Current.Cert); err != nil {
		return fmt.Errorf("ca rotate: %w", err)
	}
	host, _ := os.Hostname()
	now := time.Now()
	// The name tells the two CAs apart in agents' messages; the prefix is
	// what agents recognise as the collector's own CA.
	next, keyPEM, err := pki.NewCA(fmt.Sprintf("Annexa collector CA %s %s", host, now.UTC().Format("2006-01-02")), now)
	if err != nil {
		return err
	}
	cert, key := pki.CAPaths(dataDir, pki.NextCACert, pki.NextCAKey)
	// Key first: serve loads the next CA when its certificate appears.
	if err := e.writeTLS(dataDir, key, keyPEM, 0o600); err != nil {
		return err
	}
	if err := e.writeTLS(dataDir, cert, next.PEM, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "next CA: %s\nfingerprint: %s (valid until %s)\n", cert, pki.Fingerprint(next.Cert), day(next.Cert.NotAfter))
	fmt.Fprintf(e.stdout, "serve now offers agents a trust bundle of the current and the next CA; each agent fetches it on its next contact\n")
	fmt.Fprintf(e.stdout, "next: wait until `annexa-collector ca status --data %s` shows every agent trusts it, then run `annexa-collector ca promote --data %s`\n", dataDir, dataDir)
	return nil
}

// notTrusting lists the live agents that have not reported trusting fp.
func notTrusting(agents []store.Agent, fp string) []store.Agent {
	var out []store.Agent
	for _, a := range agents {
		if a.Revoked() {
			continue
		}
		if a.Status == nil || !slices.Contains(a.Status.TrustedCAs, fp) {
			out = append(out, a)
		}
	}
	return out
}

// oldCertHolders lists the live agents that may still present a client
// certificate from old: those that presented one on their last contact
// and it has not ended, and those not seen since the promotion whose
// last certificate is unknown or still valid.
func oldCertHolders(agents []store.Agent, old string, promotedAt, now time.Time) []store.Agent {
	var out []store.Agent
	for _, a := range agents {
		if a.Revoked() {
			continue
		}
		var ca string
		var end time.Time
		if a.Status != nil {
			ca = a.Status.ClientCertCA
			if a.Status.ClientCertNotAfter != nil {
				end = *a.Status.ClientCertNotAfter
			}
		}
		switch {
		case ca == old && end.After(now):
			out = append(out, a)
		case a.LastSeenAt.Before(promotedAt) && (end.IsZero() || end.After(now)):
			out = append(out, a)
		}
	}
	return out
}

func describeAgents(agents []store.Agent) string {
	var b strings.Builder
	for _, a := range agents {
		fmt.Fprintf(&b, "\n  %s  %s  last seen %s", a.ID, a.Host, showTime(a.LastSeenAt, "never"))
	}
	return b.String()
}

func (e *env) liveAgents(ctx context.Context, dataDir string) ([]store.Agent, error) {
	st, err := e.openStore(ctx, dataDir, false)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	return st.Agents(ctx)
}

func (e *env) caPromote(ctx context.Context, dataDir string, force bool) error {
	caCert, caKey, srvCert, srvKey := pki.Paths(dataDir)
	nextCert, nextKey := pki.CAPaths(dataDir, pki.NextCACert, pki.NextCAKey)
	prevCert, prevKey := pki.CAPaths(dataDir, pki.PrevCACert, pki.PrevCAKey)
	next, err := pki.LoadCA(nextCert, nextKey)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("ca promote: there is no next CA at %s; start a rollover with `annexa-collector ca rotate --data %s`", nextCert, dataDir)
	}
	if err != nil {
		return fmt.Errorf("ca promote: %w", err)
	}
	// A promote cut off after ca.pem was replaced: finish it.
	if b, err := os.ReadFile(caCert); err == nil {
		if c, err := pki.ParseCert(b); err == nil && c.Equal(next.Cert) {
			return e.finishPromote(dataDir, caKey, nextKey, nextCert, next)
		}
	}
	st, err := loadCAState(dataDir)
	if err != nil {
		return fmt.Errorf("ca promote: %w", err)
	}
	nextFP := pki.Fingerprint(next.Cert)
	agents, err := e.liveAgents(ctx, dataDir)
	if err != nil {
		return fmt.Errorf("ca promote: %w", err)
	}
	if missing := notTrusting(agents, nextFP); len(missing) > 0 {
		if !force {
			return fmt.Errorf("ca promote: %d agent(s) have not yet confirmed the next CA %s; they would lose contact with the collector. Wait until they have been online (each confirms on its next contact), revoke the ones that are gone (`annexa-collector agents revoke ID`), or pass --force and enroll them again afterwards:%s",
				len(missing), nextFP, describeAgents(missing))
		}
		fmt.Fprintf(e.stderr, "warning: promoting although %d agent(s) have not confirmed the next CA; each must enroll again with `annexa-agent enroll --force --token TOKEN --ca-fingerprint %s`:%s\n", len(missing), nextFP, describeAgents(missing))
	}

	// The server certificate keeps its names; one the operator brought
	// (init --cert) is not the collector's to reissue.
	srvPEM, err := os.ReadFile(srvCert)
	if err != nil {
		return fmt.Errorf("ca promote: read the server certificate: %w", err)
	}
	leaf, err := pki.ParseCert(srvPEM)
	if err != nil {
		return fmt.Errorf("ca promote: %s: %w", srvCert, err)
	}
	// Issued by the next CA: a promote cut off after the server
	// certificate was written, now run again.
	if !pki.IssuedBy(leaf, st.Current.Cert) && !pki.IssuedBy(leaf, next.Cert) {
		return fmt.Errorf("ca promote: %w", errNotOurs(srvCert))
	}
	names := slices.Concat(leaf.DNSNames, ipStrings(leaf.IPAddresses))
	now := time.Now()
	certPEM, keyPEM, err := next.IssueServer(names, now)
	if err != nil {
		return fmt.Errorf("ca promote: %w", err)
	}

	// Order matters for a crash at any line: the old CA is kept before it
	// is replaced, and ca.pem is replaced before ca.key, so a rerun finds
	// either the old pair or the new certificate (finishPromote).
	oldKey, err := os.ReadFile(caKey)
	if err != nil {
		return fmt.Errorf("ca promote: read %s: %w", caKey, err)
	}
	if err := e.writeTLS(dataDir, prevKey, oldKey, 0o600); err != nil {
		return err
	}
	if err := e.writeTLS(dataDir, prevCert, st.Current.PEM, 0o644); err != nil {
		return err
	}
	if err := e.writeTLS(dataDir, srvKey, keyPEM, 0o600); err != nil {
		return err
	}
	if err := e.writeTLS(dataDir, srvCert, certPEM, 0o644); err != nil {
		return err
	}
	if err := e.writeTLS(dataDir, caCert, next.PEM, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "server certificate for %s reissued under the new CA, valid until %s\n", strings.Join(names, ", "), day(now.Add(pki.ServerLifetime)))
	if err := e.finishPromote(dataDir, caKey, nextKey, nextCert, next); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "the old CA %s stays trusted for agents' client certificates until `ca retire`; agents renew theirs from the new CA on their next contact\n", pki.Fingerprint(st.Current.Cert))
	fmt.Fprintf(e.stdout, "next: when `annexa-collector ca status --data %s` shows no agent on the old CA, run `annexa-collector ca retire --data %s`\n", dataDir, dataDir)
	return nil
}

// finishPromote makes the next CA's key the current one and removes the
// next CA's files; it is the part of promote a rerun completes.
func (e *env) finishPromote(dataDir, caKey, nextKey, nextCert string, next *pki.CA) error {
	keyPEM, err := os.ReadFile(nextKey)
	if err != nil {
		return fmt.Errorf("ca promote: read %s: %w", nextKey, err)
	}
	if err := e.writeTLS(dataDir, caKey, keyPEM, 0o600); err != nil {
		return err
	}
	for _, f := range []string{nextCert, nextKey} {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("ca promote: %w", err)
		}
	}
	fp := pki.Fingerprint(next.Cert)
	fmt.Fprintf(e.stdout, "promoted: the CA is now %s\nCA fingerprint: %s\n", next.Cert.Subject.CommonName, fp)
	fmt.Fprintf(e.stdout, "enroll new agents with:\n  annexa-agent enroll --token TOKEN --ca-fingerprint %s\n", fp)
	return nil
}

func (e *env) caRetire(ctx context.Context, dataDir string, force bool) error {
	st, err := loadCAState(dataDir)
	if err != nil {
		return fmt.Errorf("ca retire: %w", err)
	}
	if st.Phase() != pki.PhasePromoted {
		return fmt.Errorf("ca retire: there is no old CA to retire (phase %s); a rollover runs ca rotate, ca promote, then ca retire", st.Phase())
	}
	prevCert, prevKey := pki.CAPaths(dataDir, pki.PrevCACert, pki.PrevCAKey)
	// The promotion wrote previous-ca.pem; agents not seen since cannot
	// have learnt of it.
	fi, err := os.Stat(prevCert)
	if err != nil {
		return fmt.Errorf("ca retire: %w", err)
	}
	oldFP := pki.Fingerprint(st.Previous)
	agents, err := e.liveAgents(ctx, dataDir)
	if err != nil {
		return fmt.Errorf("ca retire: %w", err)
	}
	if holders := oldCertHolders(agents, oldFP, fi.ModTime(), time.Now()); len(holders) > 0 {
		if !force {
			return fmt.Errorf("ca retire: %d agent(s) may still hold a client certificate from the old CA %s and would be refused once it is retired; each replaces it on its next contact after the promotion. Wait, revoke the ones that are gone (`annexa-collector agents revoke ID`), or pass --force and enroll them again afterwards:%s",
				len(holders), oldFP, describeAgents(holders))
		}
		fmt.Fprintf(e.stderr, "warning: retiring although %d agent(s) may still hold a client certificate from the old CA; each must enroll again:%s\n", len(holders), describeAgents(holders))
	}
	// Certificate first: without it serve no longer trusts the old CA,
	// and a key without its certificate is only removed by a rerun.
	for _, f := range []string{prevCert, prevKey} {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("ca retire: %w", err)
		}
	}
	fmt.Fprintf(e.stdout, "retired the old CA %s: agents drop it from their trust on their next contact; the collector accepts only %s\n", oldFP, pki.Fingerprint(st.Current.Cert))
	return nil
}

// caStatus says where the rollover stands, with what to do next.
func (e *env) caStatus(ctx context.Context, dataDir string) error {
	st, err := loadCAState(dataDir)
	if err != nil {
		return fmt.Errorf("ca status: %w", err)
	}
	now := time.Now()
	show := func(role string, c *x509.Certificate) {
		fmt.Fprintf(e.stdout, "%-9s %s  %s  valid until %s\n", role, pki.Fingerprint(c), c.Subject.CommonName, day(c.NotAfter))
	}
	fmt.Fprintf(e.stdout, "phase: %s\n", st.Phase())
	show("current", st.Current.Cert)
	if st.Next != nil {
		show("next", st.Next.Cert)
	}
	if st.Previous != nil {
		show("previous", st.Previous)
	}
	if left := st.Current.Cert.NotAfter.Sub(now); left < caWarnBefore && st.Phase() == pki.PhaseSingle {
		fmt.Fprintf(e.stdout, "WARNING: the CA ends on %s (in %d days); start a rollover now with `annexa-collector ca rotate --data %s`, agents need time to confirm it\n", day(st.Current.Cert.NotAfter), int(left.Hours()/24), dataDir)
	}
	_, _, srvCert, _ := pki.Paths(dataDir)
	if b, err := os.ReadFile(srvCert); err == nil {
		if leaf, err := pki.ParseCert(b); err == nil {
			issuer := "not the collector's CA (init --cert)"
			if pki.IssuedBy(leaf, st.Current.Cert) {
				issuer = "the current CA"
			}
			fmt.Fprintf(e.stdout, "server certificate: issued by %s, valid until %s\n", issuer, day(leaf.NotAfter))
		}
	}
	// A folder with a CA but no store yet has no agents to wait for.
	if _, err := os.Stat(filepath.Join(dataDir, dbName)); errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(e.stdout, "agents: none enrolled yet\n")
		return nil
	}
	agents, err := e.liveAgents(ctx, dataDir)
	if err != nil {
		return fmt.Errorf("ca status: %w", err)
	}
	if odd := foreignTrust(agents, st); len(odd) > 0 {
		fmt.Fprintf(e.stdout, "%d agent(s) trust a CA this collector does not hold: a retired one until their next contact, or one you did not make (enroll those again):%s\n", len(odd), describeAgents(odd))
	}
	switch st.Phase() {
	case pki.PhaseRotating:
		fp := pki.Fingerprint(st.Next.Cert)
		if missing := notTrusting(agents, fp); len(missing) > 0 {
			fmt.Fprintf(e.stdout, "waiting for %d agent(s) to confirm the next CA:%s\n", len(missing), describeAgents(missing))
		} else {
			fmt.Fprintf(e.stdout, "every agent trusts the next CA: run `annexa-collector ca promote --data %s`\n", dataDir)
		}
	case pki.PhasePromoted:
		prevCert, _ := pki.CAPaths(dataDir, pki.PrevCACert, pki.PrevCAKey)
		fi, err := os.Stat(prevCert)
		if err != nil {
			return fmt.Errorf("ca status: %w", err)
		}
		if holders := oldCertHolders(agents, pki.Fingerprint(st.Previous), fi.ModTime(), now); len(holders) > 0 {
			fmt.Fprintf(e.stdout, "waiting for %d agent(s) to replace a client certificate from the old CA:%s\n", len(holders), describeAgents(holders))
		} else {
			fmt.Fprintf(e.stdout, "no agent depends on the old CA: run `annexa-collector ca retire --data %s`\n", dataDir)
		}
	default:
		fmt.Fprintf(e.stdout, "enroll agents with: annexa-agent enroll --token TOKEN --ca-fingerprint %s\n", pki.Fingerprint(st.Current.Cert))
	}
	return nil
}

// shortFP keeps enough of a fingerprint to tell CAs apart in a table;
// `ca status` prints them whole.
func shortFP(fp string) string {
	if len(fp) > len("sha256:")+12 {
		return fp[:len("sha256:")+12]
	}
	return fp
}

// trustColumns are the agents list columns of a CA rollover: the CAs the
// agent reported trusting, and the CA of the client certificate it last
// presented.
func trustColumns(a store.Agent) string {
	trusts, client := "-", "-"
	if a.Status != nil {
		if len(a.Status.TrustedCAs) > 0 {
			var s []string
			for _, fp := range a.Status.TrustedCAs {
				s = append(s, shortFP(fp))
			}
			trusts = strings.Join(s, ",")
		}
		if a.Status.ClientCertCA != "" {
			client = shortFP(a.Status.ClientCertCA)
		}
	}
	return trusts + "\t" + client
}

// loadCAState is pki.LoadState, except that a collector serving the
// operator's own certificate (init --cert, no CA ever made) is told so:
// the generic advice to run init would replace that certificate with one
// its agents do not trust.
func loadCAState(dataDir string) (*pki.State, error) {
	st, err := pki.LoadState(dataDir)
	if errors.Is(err, pki.ErrNoCA) {
		if _, _, srvCert, _ := pki.Paths(dataDir); fileExists(srvCert) {
			return nil, errNotOurs(srvCert)
		}
	}
	return st, err
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func errNotOurs(srvCert string) error {
	return fmt.Errorf("%s was not issued by the collector's CA (it came from `init --cert`): agents trust your CA for it, not the collector's, so there is nothing to roll over for them", srvCert)
}

// ownServerCert refuses a rollover for a collector serving the operator's
// own certificate.
func ownServerCert(dataDir string, ca *x509.Certificate) error {
	_, _, srvCert, _ := pki.Paths(dataDir)
	b, err := os.ReadFile(srvCert)
	if err != nil {
		return fmt.Errorf("read the server certificate: %w", err)
	}
	leaf, err := pki.ParseCert(b)
	if err != nil {
		return fmt.Errorf("%s: %w", srvCert, err)
	}
	if !pki.IssuedBy(leaf, ca) {
		return errNotOurs(srvCert)
	}
	return nil
}

// logCAReload tells the operator that serve took a rollover step, naming
// CAs by fingerprint only.
func logCAReload(log *slog.Logger) func(*pki.State) {
	return func(st *pki.State) {
		var trusted []string
		for _, c := range st.Trusted() {
			trusted = append(trusted, pki.Fingerprint(c))
		}
		log.Info("collector CAs reloaded", "phase", st.Phase(), "issuing", pki.Fingerprint(st.Current.Cert), "trusted", trusted)
	}
}

// foreignTrust lists the live agents that report trusting a CA that is
// none of this collector's. A bundle only travels over a connection the
// agent's pinned CA verifies, so this is a retired CA not yet dropped, or
// a sign that someone holding a leaked CA key spoke to the agent.
func foreignTrust(agents []store.Agent, st *pki.State) []store.Agent {
	ours := map[string]bool{}
	for _, c := range st.Trusted() {
		ours[pki.Fingerprint(c)] = true
	}
	var out []store.Agent
	for _, a := range agents {
		if a.Revoked() || a.Status == nil {
			continue
		}
		for _, fp := range a.Status.TrustedCAs {
			if !ours[fp] {
				out = append(out, a)
				break
			}
		}
	}
	return out
}
