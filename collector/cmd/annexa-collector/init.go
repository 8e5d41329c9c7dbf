package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/annexa/annexa/collector/internal/api"
	"github.com/annexa/annexa/collector/internal/pki"
)

// names collects a repeatable --name flag.
type names []string

func (n *names) String() string     { return strings.Join(*n, ",") }
func (n *names) Set(v string) error { *n = append(*n, v); return nil }

// initTLS is `annexa-collector init`: the collector's CA and server
// certificate, or the operator's own certificate, in DATA/tls.
func (e *env) initTLS(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("init", flag.ContinueOnError)
	data := dataFlag(fs)
	var ns names
	fs.Var(&ns, "name", "a host name or IP address agents use to reach the collector (repeat for each)")
	certFile := fs.String("cert", "", "use this server certificate (PEM, chain after the leaf) instead of making a CA")
	keyFile := fs.String("key", "", "the private key of --cert (PEM)")
	renew := fs.Bool("renew", false, "issue a new server certificate from the existing CA (agents keep trusting it)")
	if err := parseWithData(fs, data, args); err != nil {
		return err
	}
	if (*certFile == "") != (*keyFile == "") {
		return usagef("init: --cert and --key go together")
	}
	caCert, caKey, srvCert, srvKey := pki.Paths(*data)
	if err := os.MkdirAll(filepath.Dir(caCert), 0o700); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(caCert), err)
	}
	now := time.Now()

	if *certFile != "" {
		if *renew || len(ns) > 0 {
			return usagef("init: --cert/--key bring their own names; drop --name and --renew")
		}
		pair, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		if err != nil {
			return fmt.Errorf("init: %s and %s are not a matching certificate and key: %w", *certFile, *keyFile, err)
		}
		if now.After(pair.Leaf.NotAfter) {
			return fmt.Errorf("init: %s expired on %s", *certFile, pair.Leaf.NotAfter.UTC().Format(time.DateOnly))
		}
		certPEM, _ := os.ReadFile(*certFile)
		keyPEM, _ := os.ReadFile(*keyFile)
		if err := e.writeTLS(*data, srvCert, certPEM, 0o644); err != nil {
			return err
		}
		if err := e.writeTLS(*data, srvKey, keyPEM, 0o600); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "installed %s as the server certificate (%s, valid until %s)\n", *certFile,
			strings.Join(append(pair.Leaf.DNSNames, ipStrings(pair.Leaf.IPAddresses)...), ", "), pair.Leaf.NotAfter.UTC().Format(time.DateOnly))
		fmt.Fprintf(e.stdout, "agents verify it with the system's CAs, or with `annexa-agent enroll --ca FILE` naming your CA\n")
		return nil
	}

	if len(ns) == 0 {
		return usagef("init: give the names agents use to reach this collector: --name collector.example.org --name 10.0.0.5")
	}
	var ca *pki.CA
	var err error
	_, statErr := os.Stat(caCert)
	switch {
	case statErr == nil && !*renew:
		return fmt.Errorf("init: %s already exists and every enrolled agent trusts it; pass --renew to issue a new server certificate from it, or move the tls folder away to start over (agents must then enroll again)", caCert)
	case statErr == nil:
		if ca, err = pki.LoadCA(caCert, caKey); err != nil {
			return fmt.Errorf("init --renew: %w", err)
		}
	case *renew:
		return fmt.Errorf("init --renew: there is no CA at %s to renew from; run init without --renew first", caCert)
	default:
		host, _ := os.Hostname()
		var keyPEM []byte
		if ca, keyPEM, err = pki.NewCA("Annexa collector CA "+host, now); err != nil {
			return err
		}
		if err := e.writeTLS(*data, caKey, keyPEM, 0o600); err != nil {
			return err
		}
		if err := e.writeTLS(*data, caCert, ca.PEM, 0o644); err != nil {
			return err
		}
	}
	certPEM, keyPEM, err := ca.IssueServer(ns, now)
	if err != nil {
		return fmt.Errorf("init: %w", err)
	}
	// Key first: a certificate without its key would stop serve, a key
	// without its new certificate leaves the old pair mismatched only
	// until the next line.
	if err := e.writeTLS(*data, srvKey, keyPEM, 0o600); err != nil {
		return err
	}
	if err := e.writeTLS(*data, srvCert, certPEM, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "server certificate for %s in %s, valid until %s\n", strings.Join(ns, ", "), srvCert, now.Add(pki.ServerLifetime).UTC().Format(time.DateOnly))
	fmt.Fprintf(e.stdout, "CA certificate: %s\nCA fingerprint: %s\n", caCert, pki.Fingerprint(ca.Cert))
	fmt.Fprintf(e.stdout, "enroll each agent with:\n  annexa-agent enroll --token TOKEN --ca-fingerprint %s\n(or copy %s to the host and pass --ca FILE)\n", pki.Fingerprint(ca.Cert), caCert)
	return nil
}

func ipStrings(ips []net.IP) []string {
	var s []string
	for _, ip := range ips {
		s = append(s, ip.String())
	}
	return s
}

// writeTLS writes one file atomically. Run as root on a data folder that
// belongs to the service user (the packages' layout), it hands the file to
// that user, or the service could not read its own key.
func (e *env) writeTLS(dataDir, path string, b []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), mode)
	}
	if err == nil && os.Geteuid() == 0 {
		if fi, serr := os.Stat(dataDir); serr == nil {
			st := fi.Sys().(*syscall.Stat_t)
			if st.Uid != 0 {
				err = os.Chown(tmp.Name(), int(st.Uid), int(st.Gid))
				if err == nil {
					err = os.Chown(filepath.Dir(path), int(st.Uid), int(st.Gid))
				}
			}
		}
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// listenTLS opens the serve listener: TLS 1.2+ with the data folder's
// certificate (or --tls-cert/--tls-key), or plain HTTP when asked for by
// flag on a loopback address only.
//
// The data folder's CAs, when init made them, are returned too: they
// verify and issue agents' client certificates (mTLS) and make the trust
// bundle of a CA rollover, re-read when `ca rotate|promote|retire` change
// them.
func listenTLS(addr, dataDir string, plain bool, certFile, keyFile string) (net.Listener, string, *pki.Authority, error) {
	if plain {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, "", nil, usagef("serve: --listen %q is not host:port", addr)
		}
		ip := net.ParseIP(host)
		if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return nil, "", nil, usagef("serve: --plain-http is only allowed on a loopback address (127.0.0.1, ::1), not %q; agents elsewhere need TLS: run `annexa-collector init`", addr)
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, "", nil, fmt.Errorf("listen on %s: %w", addr, err)
		}
		return ln, "http", nil, nil
	}
	_, caKey, srvCert, srvKey := pki.Paths(dataDir)
	if certFile == "" {
		certFile, keyFile = srvCert, srvKey
	}
	if _, err := os.Stat(certFile); errors.Is(err, os.ErrNotExist) {
		return nil, "", nil, fmt.Errorf("serve: no TLS certificate at %s; create one with `annexa-collector init --data %s --name HOST`, give your own with --tls-cert/--tls-key, or pass --plain-http on a loopback address for a local trial", certFile, dataDir)
	}
	var ca *pki.Authority
	var err error
	if _, err := os.Stat(caKey); err == nil {
		if ca, err = pki.NewAuthority(dataDir); err != nil {
			return nil, "", nil, fmt.Errorf("serve: %w", err)
		}
	}
	var clientCAs func() *x509.CertPool
	if ca != nil {
		clientCAs = ca.ClientCAs
		if b, err := os.ReadFile(certFile); err == nil {
			if leaf, err := pki.ParseCert(b); err == nil && !ca.Issued(leaf) {
				ca.OfferBundle = false
			}
		}
	}
	cfg, err := pki.ServerConfig(certFile, keyFile, clientCAs)
	if err != nil {
		return nil, "", nil, fmt.Errorf("serve: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return tls.NewListener(ln, cfg), "https", ca, nil
}

// apiTLSOptions fills the mTLS part of the API's options.
func apiTLSOptions(opts *api.Options, ca *pki.Authority, require bool) error {
	opts.ClientAgentID = pki.ClientAgentID
	opts.RequireClientCert = require
	if ca != nil {
		opts.Issuer = ca
	}
	if ca != nil && ca.OfferBundle {
		// Every ingest reply asks for the digest: build the answer once
		// per bundle, not once per batch.
		var last atomic.Pointer[api.TrustBundle]
		opts.Trust = func() *api.TrustBundle {
			b := ca.Bundle()
			if t := last.Load(); t != nil && t.Digest == b.Digest {
				return t
			}
			t := &api.TrustBundle{Bundle: string(b.PEM), Fingerprints: b.Fingerprints, Issuing: b.Issuing, Digest: b.Digest}
			last.Store(t)
			return t
		}
	}
	if require && ca == nil {
		return usagef("serve: --require-client-cert needs the collector's own CA (DATA/tls/ca.key from `annexa-collector init`) to issue and verify agents' certificates")
	}
	return nil
}

// checkServeTLS says now what serve would refuse at start: plain HTTP off
// loopback, or TLS without a certificate.
func checkServeTLS(addr, dataDir string, plain bool) error {
	if plain {
		host, _, err := net.SplitHostPort(addr)
		if ip := net.ParseIP(host); err != nil || (host != "localhost" && (ip == nil || !ip.IsLoopback())) {
			return usagef("service install: --plain-http is only allowed on a loopback --listen address, not %q", addr)
		}
		return nil
	}
	_, _, cert, _ := pki.Paths(dataDir)
	if _, err := os.Stat(cert); err != nil {
		return fmt.Errorf("service install: no TLS certificate at %s; run `annexa-collector init --data %s --name HOST` first (or pass --plain-http with a loopback --listen)", cert, dataDir)
	}
	return nil
}
