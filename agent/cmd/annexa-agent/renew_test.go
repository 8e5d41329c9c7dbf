package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/annexa/annexa/agent/internal/config"
)

// Doctor's advice for a certificate about to expire fits who issued it:
// `init --renew` for the collector's own CA, a new certificate otherwise.
func TestDoctorCertificateRenewalAdvice(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	leaf := srv.Certificate()
	state := t.TempDir()
	os.WriteFile(filepath.Join(state, "collector-ca.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw}), 0o644)
	cfg, err := config.Parse("agent.yaml", []byte("collector: {url: "+srv.URL+"}\nstate_dir: "+state+"\nplugins: {datasets: {}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	d := &doctor{out: &out, now: func() time.Time { return leaf.NotAfter.Add(-10 * 24 * time.Hour) }}
	d.collector(context.Background(), cfg)
	if !strings.Contains(out.String(), "WARN  certificate the collector's certificate expires on") || !strings.Contains(out.String(), "annexa-collector init --cert F --key F") {
		t.Errorf("an operator's own certificate near its end:\n%s", out.String())
	}
	own := &x509.Certificate{Issuer: pkix.Name{CommonName: "Annexa collector CA vm"}}
	if got := renewAdvice(own); !strings.Contains(got, "init --renew") {
		t.Errorf("advice for the collector's own CA: %q", got)
	}
}
