package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/annexa/annexa/collector/internal/report"
	"github.com/annexa/annexa/collector/internal/store"
	"github.com/annexa/annexa/collector/internal/store/sqlite"
	"github.com/annexa/annexa/evidence"
)

// FuzzAssetPage renders a dataset whose subject and attributes come from
// an agent, which the collector does not trust: whatever they hold, the
// page renders, within bounded time, and no markup of theirs gets through.
// Seeded with the real evidence of testdata/fleet.jsonl.
func FuzzAssetPage(f *testing.F) {
	for _, r := range loadFixture(f) {
		f.Add(r.Subject, []byte(r.Attributes))
	}
	f.Add("dataset:/x/"+hostileName, []byte(`{"name":"<img src=x onerror=alert(1)>","datasets":["</td><script>"],"pii":{"<b>":1},"findings":[{"rule":"<i>","severity":"critical"}]}`))
	db, err := sqlite.Open(context.Background(), filepath.Join(f.TempDir(), "collector.db"), nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	srv, err := New(db, nil, Options{MaxAge: time.Hour})
	if err != nil {
		f.Fatal(err)
	}
	now := time.Now()
	if err := db.AddUser(context.Background(), store.User{Name: "otto", Role: store.RoleAuditor, PasswordHash: "x"}, false); err != nil {
		f.Fatal(err)
	}
	token := randomToken()
	if err := db.CreateSession(context.Background(), store.Session{TokenHash: hashToken(token), User: "otto", CSRF: "c", CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour)}); err != nil {
		f.Fatal(err)
	}
	h := srv.Handler()
	f.Fuzz(func(t *testing.T, subject string, attrs []byte) {
		if !json.Valid(attrs) || len(attrs) > 64<<10 {
			return // the API refuses these before they reach a store
		}
		snap := &store.Snapshot{TakenAt: now, Agents: []store.Agent{{ID: "a1", Host: "gpu-01", LastSeenAt: now}},
			Current: []store.Current{{AgentID: "a1", Kind: "dataset", Subject: subject, Plugin: "datasets", Host: "gpu-01",
				Op: evidence.OpUpsert, ObservedAt: now, Attributes: attrs, Seq: 1, UpdatedAt: now}}}
		rep := report.Build(snap, now, report.Options{})
		srv.eval.mu.Lock()
		srv.eval.cur = index(rep, snap, now, srv.opts.Freshness)
		srv.eval.mu.Unlock()
		for _, path := range []string{assetURL("a1", "dataset", subject), "/hosts/a1", "/assets"} {
			req := httptest.NewRequest("GET", path, nil)
			req.AddCookie(&http.Cookie{Name: sessionCookie, Value: token})
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != 200 && rec.Code != 404 {
				t.Fatalf("%s: %d", path, rec.Code)
			}
			body := strings.ToLower(rec.Body.String())
			for _, bad := range []string{"<script", "<img", "<b>", "<i>"} {
				if strings.Contains(body, bad) {
					t.Fatalf("%s lets %q through:\n%s", path, bad, rec.Body.String())
				}
			}
		}
	})
}
