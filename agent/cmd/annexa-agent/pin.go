package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/annexa/annexa/agent/internal/config"
	"github.com/annexa/annexa/agent/internal/daemon"
	"github.com/annexa/annexa/agent/internal/enroll"
)

// pinCollectorCA decides which CA enrollment trusts: the file given with
// --ca, the certificate in the collector's chain matching
// --ca-fingerprint, the CA pinned by an earlier enrollment, or else the
// system's CAs. It returns the client to enroll with and the PEM to pin
// (nil to pin nothing).
func pinCollectorCA(ctx context.Context, cfg *config.Config, url, caFile, fingerprint string) (*http.Client, []byte, error) {
	https := strings.HasPrefix(url, "https://")
	if (caFile != "" || fingerprint != "") && !https {
		return nil, nil, fmt.Errorf("--ca and --ca-fingerprint pin the collector's TLS certificate, but %s is plain http; use the https URL", url)
	}
	if caFile != "" && fingerprint != "" {
		return nil, nil, errors.New("give --ca or --ca-fingerprint, not both")
	}
	var caPEM []byte
	switch {
	case caFile != "":
		b, err := os.ReadFile(caFile)
		if err != nil {
			return nil, nil, fmt.Errorf("--ca: %w", err)
		}
		pemBytes, _, err := enroll.ReadCA(b)
		if err != nil {
			return nil, nil, fmt.Errorf("--ca %s: %w", caFile, err)
		}
		caPEM = pemBytes
	case fingerprint != "":
		pemBytes, err := enroll.FetchCA(ctx, url, fingerprint)
		if err != nil {
			return nil, nil, err
		}
		caPEM = pemBytes
	default:
		pinned, err := daemon.LoadCA(cfg.StateDir)
		if err != nil {
			return nil, nil, err
		}
		caPEM = pinned
	}
	client, err := enroll.Client(caPEM, cfg.Collector.Timeout)
	if err != nil {
		return nil, nil, err
	}
	return client, caPEM, nil
}

// clientKey makes the key and certificate request for mTLS when the
// collector is reached over TLS; a collector without a CA of its own
// ignores the request.
func clientKey(url, host string) (keyPEM, csrPEM []byte, err error) {
	if !strings.HasPrefix(url, "https://") {
		return nil, nil, nil
	}
	return enroll.NewKey(host)
}

// describeTrust tells the operator what enrollment pinned and received.
func describeTrust(caPEM []byte, clientCert string) {
	if caPEM != nil {
		if _, c, err := enroll.ReadCA(caPEM); err == nil {
			fmt.Printf("pinned collector CA %q (%s)\n", c.Subject.CommonName, enroll.Fingerprint(c))
		}
	}
	if clientCert != "" {
		if b, _ := pem.Decode([]byte(clientCert)); b != nil {
			if c, err := x509.ParseCertificate(b.Bytes); err == nil {
				fmt.Printf("client certificate valid until %s; the running agent renews it\n", c.NotAfter.UTC().Format(time.RFC3339))
			}
		}
	}
}
