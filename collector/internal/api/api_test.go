package api

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/annexa/annexa/collector/internal/auth"
	"github.com/annexa/annexa/collector/internal/store/sqlite"
	ingestv1 "github.com/annexa/annexa/proto/ingest/v1"
)

type env struct {
	t   *testing.T
	db  *sqlite.DB
	srv *httptest.Server
}

func newEnv(t *testing.T, limits Limits) *env {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "collector.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(db, nil, Options{Limits: limits}).Handler())
	t.Cleanup(func() { srv.Close(); db.Close() })
	return &env{t: t, db: db, srv: srv}
}

func (e *env) token(ttl time.Duration, uses int) string {
	e.t.Helper()
	tok, hash := auth.NewToken()
	if err := e.db.CreateToken(context.Background(), hash, time.Now().Add(ttl), uses); err != nil {
		e.t.Fatal(err)
	}
	return tok
}

func (e *env) postJSON(path string, body any) (int, map[string]any) {
	e.t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post(e.srv.URL+path, "application/json", bytes.NewReader(b))
	if err != nil {
		e.t.Fatal(err)
	}
	return decode(e.t, resp)
}

func decode(t *testing.T, resp *http.Response) (int, map[string]any) {
	t.Helper()
	defer resp.Body.Close()
	var m map[string]any
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("answer %d is not JSON: %q", resp.StatusCode, b)
	}
	return resp.StatusCode, m
}

// agent enrolls a new agent and returns its id and credential.
func (e *env) agent() (string, string) {
	e.t.Helper()
	code, m := e.postJSON("/v1/enroll", EnrollRequest{Token: e.token(time.Hour, 1), Host: "gpu1", AgentVersion: "0.1.0"})
	if code != 200 {
		e.t.Fatalf("enroll = %d %v", code, m)
	}
	return m["agent_id"].(string), m["credential"].(string)
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func (e *env) ingestRaw(cred, encoding string, body []byte) (int, map[string]any) {
	e.t.Helper()
	req, _ := http.NewRequest("POST", e.srv.URL+"/v1/ingest", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-protobuf")
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	if cred != "" {
		req.Header.Set("Authorization", "Bearer "+cred)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	return decode(e.t, resp)
}

func (e *env) ingest(cred string, b *ingestv1.Batch) (int, map[string]any) {
	e.t.Helper()
	raw, err := proto.Marshal(b)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.ingestRaw(cred, "gzip", gz(raw))
}

func (e *env) count(q string) int {
	e.t.Helper()
	var n int
	db, err := sqlOpen(e.db)
	if err != nil {
		e.t.Fatal(err)
	}
	defer db.Close()
	if err := db.QueryRow(q).Scan(&n); err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
	return n
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func pbRec(seq uint64, kind, subject, op, attrs string) *ingestv1.Record {
	return &ingestv1.Record{Seq: seq, Kind: kind, Schema: 1, Subject: subject, Op: op,
		ObservedAt: timestamppb.New(t0), AttributesJson: []byte(attrs), Host: "gpu1", Plugin: "datasets"}
}

func pbBatch(agentID string, recs ...*ingestv1.Record) *ingestv1.Batch {
	b := &ingestv1.Batch{AgentId: agentID, Records: recs,
		Status: &ingestv1.AgentStatus{Host: "gpu1", Version: "0.1.0", SpoolRecords: 3, SentAt: timestamppb.New(t0),
			Plugins: []*ingestv1.PluginStatus{{Name: "datasets", State: "ok"}}}}
	if len(recs) > 0 {
		b.FirstSeq, b.LastSeq = recs[0].Seq, recs[len(recs)-1].Seq
	}
	return b
}

func TestEnroll(t *testing.T) {
	e := newEnv(t, Limits{})
	tok := e.token(time.Hour, 1)
	code, m := e.postJSON("/v1/enroll", EnrollRequest{Token: tok, Host: "gpu1"})
	if code != 200 || !strings.HasPrefix(m["credential"].(string), "ak_"+m["agent_id"].(string)+"_") {
		t.Fatalf("good token: %d %v", code, m)
	}
	if e.count(`SELECT count(*) FROM agents WHERE credential_hash LIKE 'ak_%'`) != 0 {
		t.Error("a credential is stored in clear")
	}
	cases := []struct {
		name, token string
		want        int
		says        string
	}{
		{"reused token", tok, 401, "annexa-collector token create"},
		{"expired token", e.token(-time.Minute, 1), 401, "expired"},
		{"unknown token", "at_nope", 401, "annexa-collector token create"},
		{"missing token", "", 400, "token"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, m := e.postJSON("/v1/enroll", EnrollRequest{Token: tc.token, Host: "gpu2"})
			if code != tc.want || !strings.Contains(fmt.Sprint(m["error"]), tc.says) {
				t.Errorf("= %d %v, want %d saying %q", code, m, tc.want, tc.says)
			}
		})
	}
	// A body past the cap is refused before it is parsed.
	resp, err := http.Post(e.srv.URL+"/v1/enroll", "application/json", strings.NewReader(`{"token":"`+strings.Repeat("a", 70<<10)+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := decode(t, resp); code != 413 {
		t.Errorf("huge enroll body = %d, want 413", code)
	}
	if n := e.count(`SELECT count(*) FROM agents`); n != 1 {
		t.Errorf("%d agents, want 1", n)
	}
}

func TestIngestHappyPathAndDedupe(t *testing.T) {
	e := newEnv(t, Limits{})
	id, cred := e.agent()
	b := pbBatch(id,
		pbRec(1, "dataset", "dataset:/srv/iris", "upsert", `{"path":"/srv/iris","world_readable":false}`),
		pbRec(2, "test.event", "counter:1", "event", `{}`),
		pbRec(4, "test.event", "counter:2", "event", `{}`))
	code, m := e.ingest(cred, b)
	if code != 200 || m["acked_through"] != 4.0 || m["stored"] != 3.0 || m["duplicates"] != 0.0 {
		t.Fatalf("first = %d %v", code, m)
	}
	code, m = e.ingest(cred, b)
	if code != 200 || m["acked_through"] != 4.0 || m["stored"] != 0.0 || m["duplicates"] != 3.0 {
		t.Fatalf("again = %d %v", code, m)
	}
	if n := e.count(`SELECT count(*) FROM history`); n != 3 {
		t.Errorf("history has %d rows, want 3", n)
	}
	// Identity encoding works too, and an empty batch is a heartbeat.
	raw, _ := proto.Marshal(pbBatch(id))
	code, m = e.ingestRaw(cred, "", raw)
	if code != 200 || m["acked_through"] != 4.0 {
		t.Fatalf("heartbeat = %d %v", code, m)
	}
	if n := e.count(`SELECT count(*) FROM agents WHERE status_json LIKE '%"spool_records":3%' AND last_seen_at IS NOT NULL`); n != 1 {
		t.Error("status not stored on the agent row")
	}
}

func TestIngestInvalidRecordStoresNothing(t *testing.T) {
	e := newEnv(t, Limits{})
	id, cred := e.agent()
	good := pbRec(1, "dataset", "dataset:/a", "upsert", `{}`)
	cases := []struct {
		name  string
		bad   *ingestv1.Record
		field string
	}{
		{"bad kind", pbRec(2, "Bad Kind", "x", "upsert", `{}`), "kind"},
		{"bad op", pbRec(2, "dataset", "x", "replace", `{}`), "op"},
		{"attributes not an object", pbRec(2, "dataset", "x", "upsert", `[1]`), "attributes"},
		{"no observed_at", func() *ingestv1.Record { r := pbRec(2, "dataset", "x", "upsert", `{}`); r.ObservedAt = nil; return r }(), "observed_at"},
		{"seq not increasing", pbRec(1, "dataset", "x", "upsert", `{}`), "seq"},
		{"scan.complete without started_at", pbRec(2, "scan.complete", "scan:datasets", "upsert", `{"plugin":"datasets","kinds":["dataset"]}`), "attributes.started_at"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := pbBatch(id, good, tc.bad, pbRec(3, "dataset", "dataset:/c", "upsert", `{}`))
			code, m := e.ingest(cred, b)
			if code != 422 || m["record"] != 1.0 || m["seq"] != float64(tc.bad.Seq) || m["field"] != tc.field {
				t.Fatalf("= %d %v, want 422 naming record 1 and field %s", code, m, tc.field)
			}
			if !strings.Contains(m["error"].(string), "record 1") {
				t.Errorf("message %q does not name the record", m["error"])
			}
		})
	}
	b := pbBatch(id, good)
	b.FirstSeq, b.LastSeq = 2, 5
	if code, m := e.ingest(cred, b); code != 422 || m["field"] != "seq" {
		t.Errorf("seq outside range = %d %v", code, m)
	}
	if n := e.count(`SELECT count(*) FROM history`) + e.count(`SELECT count(*) FROM current`) + e.count(`SELECT acked_through FROM agents`); n != 0 {
		t.Errorf("an invalid batch left %d rows or acks behind", n)
	}
	if code, _ := e.ingestRaw(cred, "", []byte("\xff\xff not protobuf")); code != 400 {
		t.Errorf("garbage body = %d, want 400", code)
	}
}

func TestIngestLimits(t *testing.T) {
	e := newEnv(t, Limits{MaxBody: 64 << 10, MaxDecoded: 1 << 20})
	_, cred := e.agent()
	// 100 MiB of zeros gzip to about 100 KiB; with a 1 MiB decoded cap the
	// collector must stop early. Use 8 MiB to keep the test fast.
	bomb := gz(make([]byte, 8<<20))
	if len(bomb) > 64<<10 {
		t.Fatalf("bomb is %d bytes, larger than the body cap", len(bomb))
	}
	code, m := e.ingestRaw(cred, "gzip", bomb)
	if code != 413 {
		t.Errorf("gzip bomb = %d %v, want 413", code, m)
	}
	code, _ = e.ingestRaw(cred, "", make([]byte, 128<<10))
	if code != 413 {
		t.Errorf("oversized body = %d, want 413", code)
	}
	if code, _ := e.ingestRaw(cred, "br", []byte("x")); code != 415 {
		t.Errorf("brotli = %d, want 415", code)
	}
}

func TestIngestAuth(t *testing.T) {
	e := newEnv(t, Limits{})
	id, cred := e.agent()
	other, otherCred := e.agent()
	b := pbBatch(id, pbRec(1, "dataset", "dataset:/a", "upsert", `{}`))
	if code, m := e.ingest(otherCred, b); code != 403 || !strings.Contains(m["error"].(string), other) {
		t.Errorf("wrong agent = %d %v, want 403", code, m)
	}
	if code, _ := e.ingest("", b); code != 401 {
		t.Errorf("no credential = %d, want 401", code)
	}
	wrong := cred[:len(cred)-4] + "0000"
	if wrong == cred {
		wrong = cred[:len(cred)-4] + "1111"
	}
	if code, _ := e.ingest(wrong, b); code != 401 {
		t.Errorf("wrong secret = %d, want 401", code)
	}
	if err := e.db.Revoke(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if code, m := e.ingest(cred, b); code != 401 || !strings.Contains(m["error"].(string), "revoked") {
		t.Errorf("revoked = %d %v, want 401 saying revoked", code, m)
	}
	if n := e.count(`SELECT count(*) FROM history`); n != 0 {
		t.Errorf("%d history rows after refused batches", n)
	}
}

func TestOtherEndpoints(t *testing.T) {
	e := newEnv(t, Limits{})
	for _, tc := range []struct {
		method, path string
		want         int
	}{{"GET", "/v1/healthz", 200}, {"GET", "/v1/report", 401}, {"GET", "/v1/enroll", 405}, {"GET", "/nope", 404}} {
		req, _ := http.NewRequest(tc.method, e.srv.URL+tc.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if code, m := decode(t, resp); code != tc.want {
			t.Errorf("%s %s = %d %v, want %d", tc.method, tc.path, code, m, tc.want)
		}
	}
}

// Several agents shipping at once while reports are read must neither
// fail with SQLITE_BUSY nor break the hash chain.
func TestConcurrentIngestAndReport(t *testing.T) {
	e := newEnv(t, Limits{})
	type agent struct{ id, cred string }
	agents := []agent{}
	for i := 0; i < 4; i++ {
		id, cred := e.agent()
		agents = append(agents, agent{id, cred})
	}
	errs := make(chan string, 100)
	done := make(chan struct{})
	for _, a := range agents {
		go func() {
			defer func() { done <- struct{}{} }()
			for seq := uint64(1); seq <= 20; seq++ {
				b := pbBatch(a.id, pbRec(seq, "test.event", fmt.Sprintf("e:%d", seq), "event", `{}`))
				if code, m := e.ingest(a.cred, b); code != 200 {
					errs <- fmt.Sprintf("%s seq %d: %d %v", a.id, seq, code, m)
					return
				}
			}
		}()
	}
	key := e.apiKey("reader", "auditor")
	go func() {
		defer func() { done <- struct{}{} }()
		for i := 0; i < 20; i++ {
			req, _ := http.NewRequest("GET", e.srv.URL+"/v1/report", nil)
			req.Header.Set("Authorization", "Bearer "+key)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				errs <- err.Error()
				return
			}
			if code, _ := decode(t, resp); code != 200 {
				errs <- fmt.Sprintf("report: %d", code)
			}
		}
	}()
	for range len(agents) + 1 {
		<-done
	}
	close(errs)
	for msg := range errs {
		t.Error(msg)
	}
	if n := e.count(`SELECT count(*) FROM history`); n != 80 {
		t.Errorf("history has %d rows, want 80", n)
	}
	// The chain holds the 80 records and the reader's key creation.
	if n, err := e.db.Verify(context.Background()); err != nil || n != 80+1 {
		t.Errorf("verify = %d, %v", n, err)
	}
}

func TestScanCompleteOverHTTP(t *testing.T) {
	e := newEnv(t, Limits{})
	id, cred := e.agent()
	at := func(r *ingestv1.Record, d time.Duration) *ingestv1.Record {
		r.ObservedAt = timestamppb.New(t0.Add(d))
		return r
	}
	scan := func(seq uint64, started time.Duration) *ingestv1.Record {
		return at(pbRec(seq, "scan.complete", "scan:datasets", "upsert",
			`{"plugin":"datasets","kinds":["dataset"],"roots":["/srv"],"started_at":"`+t0.Add(started).Format(time.RFC3339Nano)+`"}`), started+time.Minute)
	}
	e.ingest(cred, pbBatch(id, pbRec(1, "dataset", "dataset:/a", "upsert", `{}`), pbRec(2, "dataset", "dataset:/b", "upsert", `{}`), scan(3, -time.Second)))
	if code, m := e.ingest(cred, pbBatch(id, at(pbRec(4, "dataset", "dataset:/a", "upsert", `{}`), time.Hour+time.Second), scan(5, time.Hour))); code != 200 {
		t.Fatalf("second scan = %d %v", code, m)
	}
	if n := e.count(`SELECT count(*) FROM current WHERE kind = 'dataset' AND deleted = 0`); n != 1 {
		t.Errorf("%d live datasets after /b vanished, want 1", n)
	}
	if n := e.count(`SELECT count(*) FROM history WHERE subject = 'dataset:/b' AND op = 'delete' AND seq IS NULL AND cause_seq = 5`); n != 1 {
		t.Errorf("%d delete rows for /b, want 1", n)
	}
	// /a was seen again unchanged: still one history row.
	if n := e.count(`SELECT count(*) FROM history WHERE subject = 'dataset:/a'`); n != 1 {
		t.Errorf("%d history rows for unchanged /a, want 1", n)
	}
}
