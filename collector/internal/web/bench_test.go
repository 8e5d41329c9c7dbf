package web

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/annexa/annexa/collector/internal/report"
	"github.com/annexa/annexa/collector/internal/store"
	"github.com/annexa/annexa/collector/internal/store/sqlite"
	"github.com/annexa/annexa/evidence"
)

// benchHosts is the fleet size the issue sets the 300 ms budget for.
const benchHosts = 10_000

// benchSnapshot is the demo host's real evidence (testdata/fleet.jsonl)
// on each of benchHosts hosts, one in fifty of them silent for two days.
func benchSnapshot(tb testing.TB, now time.Time) *store.Snapshot {
	recs := loadFixture(tb)
	var newest time.Time
	for _, r := range recs {
		if r.ObservedAt.After(newest) {
			newest = r.ObservedAt
		}
	}
	d := now.Sub(newest) - 10*time.Minute
	for i := range recs {
		recs[i].shift(d)
	}
	snap := &store.Snapshot{TakenAt: now}
	for h := range benchHosts {
		id := fmt.Sprintf("%032x", h)
		host := fmt.Sprintf("gpu-%05d", h)
		seen := now.Add(-time.Minute)
		if h%50 == 0 {
			seen = now.Add(-48 * time.Hour)
		}
		snap.Agents = append(snap.Agents, store.Agent{ID: id, Host: host, AgentVersion: "0.1.0", EnrolledAt: now.Add(-30 * 24 * time.Hour), LastSeenAt: seen,
			Status: &store.AgentStatus{Host: host, Plugins: []store.PluginStatus{{Name: "datasets", State: "ok"}, {Name: "models", State: "ok"}}}})
		for i, r := range recs {
			snap.Current = append(snap.Current, store.Current{AgentID: id, Kind: r.Kind, Subject: r.Subject, Plugin: r.Plugin, Host: host,
				Op: evidence.Op(r.Op), ObservedAt: r.ObservedAt, Attributes: r.Attributes, Seq: uint64(i + 1), UpdatedAt: now})
		}
	}
	return snap
}

var benchState struct {
	once     sync.Once
	srv      *Server
	cookie   *http.Cookie
	evalTook time.Duration
	records  int
}

// benchServer is a web server over a real SQLite store (users, sessions,
// trend) whose evaluation is the 10,000-host fleet, built once.
func benchServer(b *testing.B) (*Server, *http.Cookie) {
	benchState.once.Do(func() {
		now := time.Now()
		db, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "collector.db"), nil)
		if err != nil {
			b.Fatal(err)
		}
		srv, err := New(db, nil, Options{MaxAge: time.Hour})
		if err != nil {
			b.Fatal(err)
		}
		snap := benchSnapshot(b, now)
		start := time.Now()
		rep := report.Build(snap, now, report.Options{})
		ev := index(rep, snap, now, srv.opts.Freshness)
		benchState.evalTook = time.Since(start)
		benchState.records = len(snap.Current)
		ev.took = benchState.evalTook
		srv.eval.cur = ev
		if _, err := db.RecordEvaluation(context.Background(), rep.Evaluation()); err != nil {
			b.Fatal(err)
		}
		token := randomToken()
		if err := db.AddUser(context.Background(), store.User{Name: "lea", Role: store.RoleAuditor, PasswordHash: "x"}, false); err != nil {
			b.Fatal(err)
		}
		if err := db.CreateSession(context.Background(), store.Session{TokenHash: hashToken(token), User: "lea", CSRF: "c", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			b.Fatal(err)
		}
		benchState.srv, benchState.cookie = srv, &http.Cookie{Name: sessionCookie, Value: token}
	})
	if benchState.srv == nil {
		b.Fatal("bench setup failed")
	}
	return benchState.srv, benchState.cookie
}

// BenchmarkPages is the server time of the main pages for a fleet of
// 10,000 hosts: session check, the page's own queries and rendering, from
// the evaluation the server keeps (its cost is reported as eval-ms).
func BenchmarkPages(b *testing.B) {
	for _, page := range []string{"/", "/controls", "/controls?status=noncompliant&q=model", "/controls/iso42001-2023/A.10.3", "/hosts?reporting=no", "/assets"} {
		b.Run(page, func(b *testing.B) {
			srv, cookie := benchServer(b)
			h := srv.Handler()
			for b.Loop() {
				req := httptest.NewRequest("GET", page, nil)
				req.AddCookie(cookie)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != 200 {
					b.Fatalf("%s: %d", page, rec.Code)
				}
			}
			b.ReportMetric(float64(benchState.evalTook.Milliseconds()), "eval-ms")
			b.ReportMetric(float64(benchState.records), "records")
		})
	}
}
