package ship

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	ingestv1 "github.com/annexa/annexa/proto/ingest/v1"
)

// fakeCollector is the one stand-in in these tests, because the real
// collector is written at the same time: it speaks the ingest protocol as
// specified (gzip protobuf in, JSON out, bearer credential, dedupe on seq)
// and remembers what it stored.
type fakeCollector struct {
	t   testing.TB
	srv *httptest.Server

	mu         sync.Mutex
	credential string
	agentID    string
	stored     map[uint64]*ingestv1.Record
	received   map[uint64]int
	maxSeq     uint64
	batches    []*ingestv1.Batch
	heartbeats int
	// reject, if set, may refuse a batch before it is stored.
	reject func(b *ingestv1.Batch) (code int, body any)
}

func newCollector(t testing.TB) *fakeCollector {
	c := &fakeCollector{t: t, credential: "secret-credential", agentID: "agent-1",
		stored: map[uint64]*ingestv1.Record{}, received: map[uint64]int{}}
	c.srv = httptest.NewServer(http.HandlerFunc(c.serve))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *fakeCollector) reply(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func (c *fakeCollector) serve(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r.Method != http.MethodPost || r.URL.Path != "/v1/ingest" {
		c.reply(w, http.StatusNotFound, map[string]any{"error": "no such endpoint"})
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+c.credential {
		c.reply(w, http.StatusUnauthorized, map[string]any{"error": "unknown or revoked credential"})
		return
	}
	if r.Header.Get("Content-Type") != "application/x-protobuf" || r.Header.Get("Content-Encoding") != "gzip" {
		c.reply(w, http.StatusUnsupportedMediaType, map[string]any{"error": "want gzip protobuf"})
		return
	}
	zr, err := gzip.NewReader(r.Body)
	if err != nil {
		c.reply(w, http.StatusBadRequest, map[string]any{"error": "gzip: " + err.Error()})
		return
	}
	raw, err := io.ReadAll(io.LimitReader(zr, 64<<20))
	if err != nil {
		c.reply(w, http.StatusBadRequest, map[string]any{"error": "gzip: " + err.Error()})
		return
	}
	var b ingestv1.Batch
	if err := proto.Unmarshal(raw, &b); err != nil {
		c.reply(w, http.StatusBadRequest, map[string]any{"error": "protobuf: " + err.Error()})
		return
	}
	if b.AgentId != c.agentID || b.Status == nil {
		c.reply(w, http.StatusBadRequest, map[string]any{"error": fmt.Sprintf("agent %q, status %v", b.AgentId, b.Status)})
		return
	}
	// The envelope must describe the records exactly.
	if n := len(b.Records); n == 0 {
		if b.FirstSeq != 0 || b.LastSeq != 0 {
			c.reply(w, http.StatusBadRequest, map[string]any{"error": "heartbeat with a range"})
			return
		}
	} else if b.FirstSeq != b.Records[0].Seq || b.LastSeq != b.Records[n-1].Seq {
		c.reply(w, http.StatusBadRequest, map[string]any{"error": "range does not match records"})
		return
	}
	for i, rec := range b.Records {
		if i > 0 && rec.Seq <= b.Records[i-1].Seq {
			c.reply(w, http.StatusBadRequest, map[string]any{"error": "seqs not increasing", "record": i, "seq": rec.Seq})
			return
		}
		if rec.ObservedAt == nil || !json.Valid(rec.AttributesJson) || rec.Op == "" {
			c.reply(w, http.StatusUnprocessableEntity, map[string]any{"error": "incomplete record", "record": i, "seq": rec.Seq})
			return
		}
	}
	if c.reject != nil {
		if code, body := c.reject(&b); code != 0 {
			c.reply(w, code, body)
			return
		}
	}
	c.batches = append(c.batches, &b)
	if len(b.Records) == 0 {
		c.heartbeats++
	}
	var stored, dups int
	for _, rec := range b.Records {
		c.received[rec.Seq]++
		if _, ok := c.stored[rec.Seq]; ok {
			dups++
			continue
		}
		c.stored[rec.Seq] = rec
		stored++
		c.maxSeq = max(c.maxSeq, rec.Seq)
	}
	c.reply(w, http.StatusOK, map[string]any{"acked_through": c.maxSeq, "stored": stored, "duplicates": dups})
}

func (c *fakeCollector) storedSeqs() map[uint64]*ingestv1.Record {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[uint64]*ingestv1.Record, len(c.stored))
	for k, v := range c.stored {
		out[k] = v
	}
	return out
}

func (c *fakeCollector) heartbeatCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.heartbeats
}

func (c *fakeCollector) setCredential(s string) {
	c.mu.Lock()
	c.credential = s
	c.mu.Unlock()
}
