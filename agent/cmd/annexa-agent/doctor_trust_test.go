package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/annexa/annexa/agent/internal/config"
	"github.com/annexa/annexa/agent/internal/daemon"
)

func caPEMUntil(t *testing.T, name string, end time.Time) []byte {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: end.Add(-10 * 365 * 24 * time.Hour), NotAfter: end,
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// doctor names the pinned CAs, says when a rollover is under way, and
// warns half a year before the newest CA ends.
func TestDoctorPinnedCAs(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name string
		pem  []byte
		want []string
		not  string
	}{
		{"one far from its end", caPEMUntil(t, "Annexa collector CA a", now.Add(5*365*24*time.Hour)), []string{"ok    trust      pinned collector CA sha256:"}, "WARN"},
		{"one near its end", caPEMUntil(t, "Annexa collector CA a", now.Add(100*24*time.Hour)), []string{"WARN  trust      the collector's CA ends on", "annexa-collector ca rotate"}, ""},
		{"a rollover", append(caPEMUntil(t, "Annexa collector CA a", now.Add(100*24*time.Hour)), caPEMUntil(t, "Annexa collector CA b", now.Add(10*365*24*time.Hour))...),
			[]string{"a CA rollover is under way: this agent trusts 2 collector CAs", "Annexa collector CA b"}, "WARN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &config.Config{StateDir: t.TempDir()}
			if err := daemon.SaveCA(cfg.StateDir, tc.pem); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			d := &doctor{out: &out, now: time.Now}
			d.pinnedCAs(cfg)
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("got %q, want %q", out.String(), w)
				}
			}
			if tc.not != "" && strings.Contains(out.String(), tc.not) {
				t.Errorf("got %q, want no %q", out.String(), tc.not)
			}
		})
	}
}
