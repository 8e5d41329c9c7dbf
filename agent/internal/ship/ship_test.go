package ship

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/annexa/annexa/agent/internal/spool"
	"github.com/annexa/annexa/evidence"
	"github.com/annexa/annexa/internal/faultproxy"
	ingestv1 "github.com/annexa/annexa/proto/ingest/v1"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newSpool(t testing.TB) *spool.Spool {
	t.Helper()
	sp, err := spool.Open(filepath.Join(t.TempDir(), "spool.db"), spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	return sp
}

func ev(subject string, i int) evidence.Record {
	return evidence.Record{Kind: "access.event", Schema: 1, Subject: subject, Op: evidence.OpEvent,
		ObservedAt: t0.Add(time.Duration(i) * time.Second), Attributes: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i)), Host: "h1"}
}

// commitEvents commits n events in commits of up to per records and
// returns the subjects by the order they were committed.
func commitEvents(t testing.TB, sp *spool.Spool, prefix string, n, per int) {
	t.Helper()
	for i := 0; i < n; i += per {
		var recs []evidence.Record
		for j := i; j < min(i+per, n); j++ {
			recs = append(recs, ev(fmt.Sprintf("%s%d", prefix, j), j))
		}
		if err := sp.Commit(context.Background(), "p", recs, nil); err != nil {
			t.Fatal(err)
		}
	}
}

func newShipper(t testing.TB, url string, sp *spool.Spool, tweak func(*Config)) *Shipper {
	t.Helper()
	cfg := Config{
		URL: url, AgentID: "agent-1", Credential: "secret-credential",
		Timeout: 2 * time.Second, MinBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond,
		Heartbeat: time.Hour,
		Logger:    slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	if tweak != nil {
		tweak(&cfg)
	}
	s, err := New(cfg, sp)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func flush(t testing.TB, s *Shipper, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

func spoolStats(t testing.TB, sp *spool.Spool) spool.Stats {
	t.Helper()
	st, err := sp.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// wantSeqs checks that the collector stored exactly the seqs first..last.
func wantSeqs(t testing.TB, got map[uint64]*ingestv1.Record, first, last uint64, skip ...uint64) {
	t.Helper()
	want := map[uint64]bool{}
	for s := first; s <= last; s++ {
		want[s] = true
	}
	for _, s := range skip {
		delete(want, s)
	}
	for s := range got {
		if !want[s] {
			t.Errorf("collector stored seq %d, which it should not have", s)
		}
	}
	for s := range want {
		if got[s] == nil {
			t.Errorf("seq %d never arrived", s)
		}
	}
}

func TestNewChecksConfig(t *testing.T) {
	sp := newSpool(t)
	for _, cfg := range []Config{
		{URL: "", AgentID: "a", Credential: "c"},
		{URL: "ftp://x", AgentID: "a", Credential: "c"},
		{URL: "http://x", AgentID: "", Credential: "c"},
		{URL: "http://x", AgentID: "a"},
	} {
		if _, err := New(cfg, sp); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
	if _, err := New(Config{URL: "http://x", AgentID: "a", Credential: "c"}, nil); err == nil {
		t.Error("New without spool accepted")
	}
	s, err := New(Config{URL: "http://x/", AgentID: "a", Credential: "c"}, sp)
	if err != nil {
		t.Fatal(err)
	}
	if s.cfg.MaxBatchRecords != 500 || s.cfg.MaxBatchBytes != 4<<20 || s.cfg.Heartbeat != time.Minute ||
		s.cfg.Timeout != 30*time.Second || s.cfg.MinBackoff != time.Second || s.cfg.MaxBackoff != 5*time.Minute ||
		s.endpoint != "http://x/v1/ingest" {
		t.Fatalf("defaults %+v %s", s.cfg, s.endpoint)
	}
}

func TestShipsInPages(t *testing.T) {
	c := newCollector(t)
	sp := newSpool(t)
	commitEvents(t, sp, "e", 1234, 100)
	s := newShipper(t, c.srv.URL, sp, func(cfg *Config) { cfg.MaxBatchRecords = 500 })
	flush(t, s, 10*time.Second)
	got := c.storedSeqs()
	wantSeqs(t, got, 1, 1234)
	if r := got[7]; r.Subject != "e6" || r.Kind != "access.event" || r.Op != "event" || r.Schema != 1 ||
		!r.ObservedAt.AsTime().Equal(t0.Add(6*time.Second)) || string(r.AttributesJson) != `{"i":6}` || r.Host != "h1" || r.Plugin != "p" {
		t.Fatalf("record 7 arrived as %v", r)
	}
	c.mu.Lock()
	for _, b := range c.batches {
		if len(b.Records) > 500 {
			t.Errorf("batch of %d records", len(b.Records))
		}
	}
	nb := len(c.batches)
	c.mu.Unlock()
	if nb != 3 {
		t.Errorf("%d batches for 1234 records in pages of 500", nb)
	}
	if st := spoolStats(t, sp); st.Records != 0 || st.LastShippedAt.IsZero() {
		t.Fatalf("spool after flush %+v", st)
	}
	if h := s.Health(); h.LastSuccess.IsZero() || h.LastError != "" || h.ConsecutiveFailures != 0 || !h.OldestUnsent.IsZero() {
		t.Fatalf("health %+v", h)
	}
}

// TestExactlyOnceThroughFaults ships while records are being committed,
// through a proxy that breaks half the requests in every way it knows,
// including losing the reply to a batch the collector stored.
func TestExactlyOnceThroughFaults(t *testing.T) {
	c := newCollector(t)
	proxy, err := faultproxy.New(c.srv.URL, faultproxy.Options{
		Probability: 0.5, Seed: 42, RetryAfter: 0, StallFor: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	sp := newSpool(t)
	var logs bytes.Buffer
	var logMu sync.Mutex
	s := newShipper(t, proxy.URL(), sp, func(cfg *Config) {
		cfg.Timeout = 150 * time.Millisecond
		cfg.MaxBatchRecords = 10
		cfg.Logger = slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	const n = 600
	for i := 0; i < n; i += 20 {
		commitEvents(t, sp, fmt.Sprint("b", i, "-"), 20, 20)
		s.Notify()
		time.Sleep(2 * time.Millisecond)
	}
	flush(t, s, 30*time.Second)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v", err)
	}
	wantSeqs(t, c.storedSeqs(), 1, n)
	counts := proxy.Counts()
	c.mu.Lock()
	resent := 0
	for _, n := range c.received {
		resent += n - 1
	}
	c.mu.Unlock()
	t.Logf("requests %d, faults %v, records the collector received again and dropped: %d", proxy.Requests(), counts, resent)
	for _, f := range faultproxy.AllFaults {
		if counts[f] == 0 {
			t.Errorf("fault %s never happened; the test proves less than it says", f)
		}
	}
	logMu.Lock()
	defer logMu.Unlock()
	if strings.Contains(logs.String(), "secret-credential") {
		t.Fatal("the credential appears in the log")
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestInvalidBatchIsQuarantined(t *testing.T) {
	c := newCollector(t)
	c.reject = func(b *ingestv1.Batch) (int, any) {
		for i, r := range b.Records {
			if r.Subject == "bad" {
				return http.StatusUnprocessableEntity, map[string]any{"error": "attributes.size: not a number", "record": i, "seq": r.Seq, "field": "attributes.size"}
			}
		}
		return 0, nil
	}
	sp := newSpool(t)
	commitEvents(t, sp, "a", 5, 5)
	if err := sp.Commit(context.Background(), "p", []evidence.Record{ev("x", 1), ev("y", 2), ev("bad", 3), ev("z", 4), ev("w", 5)}, nil); err != nil {
		t.Fatal(err)
	}
	commitEvents(t, sp, "c", 5, 5)
	s := newShipper(t, c.srv.URL, sp, func(cfg *Config) { cfg.MaxBatchRecords = 5 })
	flush(t, s, 10*time.Second)
	wantSeqs(t, c.storedSeqs(), 1, 15, 6, 7, 8, 9, 10)
	st := spoolStats(t, sp)
	if st.Records != 0 || st.Quarantined != 5 {
		t.Fatalf("spool %+v", st)
	}
}

func TestTooLargeHalvesThenQuarantinesOne(t *testing.T) {
	c := newCollector(t)
	c.reject = func(b *ingestv1.Batch) (int, any) {
		if len(b.Records) > 3 {
			return http.StatusRequestEntityTooLarge, map[string]any{"error": "body too large"}
		}
		for _, r := range b.Records {
			if r.Subject == "huge" {
				return http.StatusRequestEntityTooLarge, map[string]any{"error": "body too large"}
			}
		}
		return 0, nil
	}
	sp := newSpool(t)
	commitEvents(t, sp, "a", 10, 10)
	if err := sp.Commit(context.Background(), "p", []evidence.Record{ev("huge", 0)}, nil); err != nil {
		t.Fatal(err)
	}
	commitEvents(t, sp, "b", 10, 10)
	s := newShipper(t, c.srv.URL, sp, func(cfg *Config) { cfg.MaxBatchRecords = 16 })
	flush(t, s, 10*time.Second)
	wantSeqs(t, c.storedSeqs(), 1, 21, 11)
	if st := spoolStats(t, sp); st.Records != 0 || st.Quarantined != 1 {
		t.Fatalf("spool %+v", st)
	}
}

func TestCredentialRefusedKeepsData(t *testing.T) {
	c := newCollector(t)
	c.setCredential("the-new-one")
	sp := newSpool(t)
	commitEvents(t, sp, "e", 10, 10)
	s := newShipper(t, c.srv.URL, sp, nil)
	// A flush (the agent stopping) ends at the first refusal instead of
	// waiting out its deadline: a refused credential does not heal.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	err := s.Flush(ctx)
	cancel()
	if !errors.Is(err, ErrCredentialRefused) || errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "10 records still spooled") {
		t.Fatalf("flush with a refused credential: %v", err)
	}
	h := s.Health()
	if !h.CredentialRefused || !strings.Contains(h.LastError, "annexa-agent enroll") || h.ConsecutiveFailures != 1 || h.OldestUnsent.IsZero() {
		t.Fatalf("health %+v", h)
	}
	if st := spoolStats(t, sp); st.Records != 10 || st.Quarantined != 0 {
		t.Fatalf("spool lost data on 401: %+v", st)
	}
	c.setCredential("secret-credential")
	flush(t, s, 5*time.Second)
	wantSeqs(t, c.storedSeqs(), 1, 10)
	if h := s.Health(); h.CredentialRefused || h.LastError != "" {
		t.Fatalf("health after recovery %+v", h)
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	for _, fault := range []faultproxy.Fault{faultproxy.TooMany429, faultproxy.Unavailable503} {
		t.Run(fault.String(), func(t *testing.T) {
			c := newCollector(t)
			var mu sync.Mutex
			var at []time.Time
			proxy, err := faultproxy.New(c.srv.URL, faultproxy.Options{
				RetryAfter: time.Second,
				Decide: func(n int, _ *http.Request) faultproxy.Fault {
					mu.Lock()
					defer mu.Unlock()
					at = append(at, time.Now())
					if n == 0 {
						return fault
					}
					return faultproxy.Pass
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			defer proxy.Close()
			sp := newSpool(t)
			commitEvents(t, sp, "e", 3, 3)
			s := newShipper(t, proxy.URL(), sp, nil)
			flush(t, s, 10*time.Second)
			wantSeqs(t, c.storedSeqs(), 1, 3)
			mu.Lock()
			defer mu.Unlock()
			if len(at) != 2 {
				t.Fatalf("%d requests", len(at))
			}
			if d := at[1].Sub(at[0]); d < time.Second {
				t.Fatalf("retried after %s despite Retry-After: 1", d)
			}
		})
	}
}

func TestHeartbeatWhenIdle(t *testing.T) {
	c := newCollector(t)
	sp := newSpool(t)
	s := newShipper(t, c.srv.URL, sp, func(cfg *Config) {
		cfg.Heartbeat = 100 * time.Millisecond
		cfg.Status = func(context.Context) *ingestv1.AgentStatus {
			return &ingestv1.AgentStatus{Host: "h1", Version: "test"}
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	time.Sleep(550 * time.Millisecond)
	// A commit is shipped at once, not at the next tick.
	commitEvents(t, sp, "e", 1, 1)
	s.Notify()
	deadline := time.Now().Add(2 * time.Second)
	for len(c.storedSeqs()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if n := c.heartbeatCount(); n < 4 || n > 8 {
		t.Fatalf("%d heartbeats in 550ms at 100ms", n)
	}
	wantSeqs(t, c.storedSeqs(), 1, 1)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, b := range c.batches {
		if b.Status.GetHost() != "h1" {
			t.Fatalf("status not sent: %v", b.Status)
		}
	}
}

// TestRenumberAfterLostSpool: the collector has stored seqs 1..100 of this
// agent, whose spool was then lost. Without renumbering, the new spool's
// 1..10 would be dropped as duplicates.
func TestRenumberAfterLostSpool(t *testing.T) {
	t.Run("on a batch", func(t *testing.T) {
		c := newCollector(t)
		for i := uint64(1); i <= 100; i++ {
			c.stored[i] = &ingestv1.Record{Seq: i, Subject: "old"}
		}
		c.maxSeq = 100
		sp := newSpool(t)
		commitEvents(t, sp, "new", 10, 10)
		s := newShipper(t, c.srv.URL, sp, nil)
		flush(t, s, 5*time.Second)
		got := c.storedSeqs()
		wantSeqs(t, got, 1, 110)
		for i := uint64(101); i <= 110; i++ {
			if got[i].Subject != fmt.Sprint("new", i-101) {
				t.Fatalf("seq %d is %q", i, got[i].Subject)
			}
		}
		if st := spoolStats(t, sp); st.Records != 0 || st.LastSeq != 110 {
			t.Fatalf("spool %+v", st)
		}
	})
	t.Run("on the first heartbeat", func(t *testing.T) {
		c := newCollector(t)
		c.stored[200] = &ingestv1.Record{Seq: 200, Subject: "old"}
		c.maxSeq = 200
		sp := newSpool(t)
		s := newShipper(t, c.srv.URL, sp, nil)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- s.Run(ctx) }()
		deadline := time.Now().Add(2 * time.Second)
		for c.heartbeatCount() == 0 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		commitEvents(t, sp, "new", 1, 1)
		s.Notify()
		for len(c.storedSeqs()) < 2 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
		<-done
		if got := c.storedSeqs(); got[201] == nil || got[201].Subject != "new0" {
			t.Fatalf("new record not stored after 200: %v", got)
		}
	})
}

func TestBackoff(t *testing.T) {
	for attempt := range 50 {
		d := fullJitter(10*time.Millisecond, time.Second, attempt)
		if d < 10*time.Millisecond || d > time.Second {
			t.Fatalf("attempt %d: %s", attempt, d)
		}
	}
	mk := func(code int, v string) *http.Response {
		return &http.Response{StatusCode: code, Header: http.Header{"Retry-After": {v}}}
	}
	future := time.Now().Add(3 * time.Second).UTC().Format(http.TimeFormat)
	for _, tc := range []struct {
		resp *http.Response
		ok   bool
		min  time.Duration
		max  time.Duration
	}{
		{mk(429, "2"), true, 2 * time.Second, 2 * time.Second},
		{mk(503, "0"), true, 0, 0},
		{mk(503, future), true, time.Second, 3 * time.Second},
		{mk(503, "Mon, 01 Jan 2001 00:00:00 GMT"), true, 0, 0},
		{mk(429, "999999999"), true, time.Hour, time.Hour},
		{mk(500, "2"), false, 0, 0},
		{mk(429, "soon"), false, 0, 0},
		{mk(429, "-1"), false, 0, 0},
		{nil, false, 0, 0},
	} {
		d, ok := retryAfter(tc.resp)
		if ok != tc.ok || d < tc.min || d > tc.max {
			t.Errorf("retryAfter(%v) = %s %v", tc.resp, d, ok)
		}
	}
	if d := backoff(time.Millisecond, time.Second, 0, mk(429, "2")); d != 2*time.Second {
		t.Errorf("backoff ignored Retry-After: %s", d)
	}
}

func TestDescribe(t *testing.T) {
	got := describe(422, []byte(`{"error":"attributes.size: not a number","record":3,"seq":17,"field":"attributes.size"}`))
	if got != "HTTP 422: attributes.size: not a number (record 3, seq 17, field attributes.size)" {
		t.Fatal(got)
	}
	if got := describe(400, []byte("plain text\n")); got != "HTTP 400: plain text" {
		t.Fatal(got)
	}
}
