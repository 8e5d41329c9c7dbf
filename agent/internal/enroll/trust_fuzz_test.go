package enroll

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"slices"
	"testing"
)

// FuzzCheckTrust feeds GET /v1/trust answers to the check an agent runs
// before it adopts a bundle: whatever the collector (or a machine in its
// place) sends, the check must not panic, and a bundle it accepts must
// hold only CA certificates, including the one the connection verified.
func FuzzCheckTrust(f *testing.F) {
	pinned := selfSignedCA(f)
	next := selfSignedCA(f)
	_, pinnedCert, err := ReadCA(pinned)
	if err != nil {
		f.Fatal(err)
	}
	_, nextCert, _ := ReadCA(next)
	good := Trust{Bundle: string(pinned) + string(next), Fingerprints: []string{Fingerprint(pinnedCert), Fingerprint(nextCert)}, Issuing: Fingerprint(pinnedCert)}
	good.Digest = TrustDigest(good.Issuing, good.Fingerprints)
	seed, _ := json.Marshal(good)
	f.Add(seed)
	lacking := good
	lacking.Bundle, lacking.Fingerprints, lacking.Issuing = string(next), good.Fingerprints[1:], good.Fingerprints[1]
	lacking.Digest = TrustDigest(lacking.Issuing, lacking.Fingerprints)
	seed, _ = json.Marshal(lacking)
	f.Add(seed)
	f.Add([]byte(`{"bundle":"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n","fingerprints":["x"],"issuing":"x","digest":"y"}`))
	f.Add([]byte(`{}`))
	cs := &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{pinnedCert}}}
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) > 256<<10 {
			return // FetchTrust reads no more
		}
		var tr Trust
		if json.Unmarshal(body, &tr) != nil {
			return
		}
		if err := CheckTrust(&tr, cs); err != nil {
			return
		}
		if len(tr.CAs) == 0 || len(tr.CAs) > maxTrustCAs {
			t.Fatalf("accepted %d certificates", len(tr.CAs))
		}
		var fps []string
		for _, c := range tr.CAs {
			if !c.IsCA {
				t.Fatal("accepted a certificate that is not a CA")
			}
			fps = append(fps, Fingerprint(c))
		}
		if !slices.Contains(fps, Fingerprint(pinnedCert)) {
			t.Fatal("accepted a bundle without the CA that verified the connection")
		}
	})
}
