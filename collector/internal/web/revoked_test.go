package web

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestRevokedAgentIsHistory: a host that was revoked and enrolled again is
// one host with its assets once on the overview, while the host list keeps
// the revoked agent, marked revoked and with no assets.
func TestRevokedAgentIsHistory(t *testing.T) {
	c := startCollector(t, collectorOpts{})
	recs := loadFixture(t)
	var newest time.Time
	for _, r := range recs {
		if r.ObservedAt.After(newest) {
			newest = r.ObservedAt
		}
	}
	for i := range recs {
		recs[i].shift(time.Since(newest) - 10*time.Minute)
	}
	old, oldCred := c.enroll("gpu-01")
	c.ingest(old, oldCred, 1, recs)
	if err := c.db.Revoke(context.Background(), old); err != nil {
		t.Fatal(err)
	}
	cur, cred := c.enroll("gpu-01")
	c.ingest(cur, cred, 1, recs)
	if err := c.ui.eval.refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	cl := c.client()
	cl.login("otto", auditorPassword)

	_, body := cl.get("/")
	contains(t, "overview", body, "1 host · 7 datasets and models")

	_, body = cl.get("/hosts")
	contains(t, "host list", body, "2 of 2 hosts", "/hosts/"+old, "/hosts/"+cur, "revoked")
	if strings.Count(body, "– revoked") != 1 && strings.Count(body, "</span> revoked") != 1 {
		t.Errorf("want exactly one revoked agent in the host list:\n%s", body)
	}

	_, body = cl.get("/hosts/" + old)
	contains(t, "revoked host page", body, "Its evidence is history")
	if strings.Contains(body, "iris") {
		t.Errorf("the revoked agent's page lists its assets:\n%s", body)
	}
	_, body = cl.get("/hosts/" + cur)
	contains(t, "current host page", body, "iris")

	resp, _ := cl.get(assetURL(old, "dataset", "dataset:/srv/ml/datasets/iris"))
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("the revoked agent's asset page = %d, want 404", resp.StatusCode)
	}
	if resp, _ := cl.get(assetURL(cur, "dataset", "dataset:/srv/ml/datasets/iris")); resp.StatusCode != http.StatusOK {
		t.Errorf("the current agent's asset page = %d", resp.StatusCode)
	}
}
