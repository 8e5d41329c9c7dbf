package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"testing"

	"github.com/annexa/annexa/collector/internal/store/sqlite"
	ingestv1 "github.com/annexa/annexa/proto/ingest/v1"
)

// GET /v1/trust answers enrolled agents only; every ingest reply names the
// bundle's digest, and the CAs an agent reports trusting are kept on it.
func TestTrustBundleEndpoint(t *testing.T) {
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "collector.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	bundle := &TrustBundle{Bundle: "-----BEGIN CERTIFICATE-----\n...", Fingerprints: []string{"sha256:aa", "sha256:bb"}, Issuing: "sha256:aa", Digest: "sha256:dd"}
	srv := httptest.NewServer(New(db, nil, Options{Trust: func() *TrustBundle { return bundle }}).Handler())
	t.Cleanup(func() { srv.Close(); db.Close() })
	e := &env{t: t, db: db, srv: srv}
	id, cred := e.agent()

	get := func(cred string) (int, map[string]any) {
		req, _ := http.NewRequest("GET", srv.URL+"/v1/trust", nil)
		if cred != "" {
			req.Header.Set("Authorization", "Bearer "+cred)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return decode(t, resp)
	}
	if code, _ := get(""); code != 401 {
		t.Errorf("without a credential: %d", code)
	}
	code, m := get(cred)
	if code != 200 || m["digest"] != "sha256:dd" || m["issuing"] != "sha256:aa" || m["bundle"] != bundle.Bundle {
		t.Fatalf("trust = %d %v", code, m)
	}

	b := pbBatch(id)
	b.Status = &ingestv1.AgentStatus{Host: "gpu1", TrustedCas: []string{"sha256:aa", "sha256:bb"}}
	code, m = e.ingest(cred, b)
	if code != 200 || m["trust_bundle"] != "sha256:dd" {
		t.Fatalf("ingest reply = %d %v, want the bundle digest", code, m)
	}
	a, err := db.Agent(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if a.Status == nil || !slices.Equal(a.Status.TrustedCAs, []string{"sha256:aa", "sha256:bb"}) {
		t.Errorf("stored status %+v", a.Status)
	}

	// A collector without a CA of its own has no bundle and says so.
	e2 := newEnv(t, Limits{})
	_, cred2 := e2.agent()
	req, _ := http.NewRequest("GET", e2.srv.URL+"/v1/trust", nil)
	req.Header.Set("Authorization", "Bearer "+cred2)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if code, m := decode(t, resp); code != 404 || m["error"] == nil {
		t.Errorf("no CA: %d %v", code, m)
	}
}
