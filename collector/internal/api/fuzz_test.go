package api

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/annexa/annexa/collector/internal/store"
)

// FuzzIngestBody drives untrusted ingest bodies through decompression,
// protobuf decoding and validation. Whatever comes in, the answer is either
// a batch the store may apply or an error meant for the caller, and memory
// stays within the limits.
func FuzzIngestBody(f *testing.F) {
	valid := pbBatch("agent-1",
		pbRec(1, "dataset", "dataset:/srv/iris", "upsert", `{"path":"/srv/iris"}`),
		pbRec(2, "scan.complete", "scan:datasets", "upsert", `{"plugin":"datasets","kinds":["dataset"],"roots":["/srv"],"started_at":"2026-03-01T11:00:00Z"}`),
		pbRec(3, "test.event", "e:1", "event", `{}`))
	raw, _ := proto.Marshal(valid)
	heartbeat, _ := proto.Marshal(pbBatch("agent-1"))
	other, _ := proto.Marshal(pbBatch("agent-2", pbRec(1, "dataset", "d", "upsert", `{}`)))
	f.Add(false, raw)
	f.Add(true, gz(raw))
	f.Add(false, heartbeat)
	f.Add(false, other)
	f.Add(true, gz(make([]byte, 1<<20)))
	f.Add(true, []byte("\x1f\x8b\x08\x00garbage"))
	f.Add(false, []byte{})
	f.Add(false, []byte("\x0a\xff\xff\xff\xff\x0f"))

	limits := Limits{MaxBody: 1 << 20, MaxDecoded: 256 << 10}
	f.Fuzz(func(t *testing.T, gzipped bool, body []byte) {
		enc := ""
		if gzipped {
			enc = "gzip"
		}
		b, err := DecodeBatch("agent-1", enc, body, limits)
		if err != nil {
			var e *store.Error
			if !errors.As(err, &e) || e.Code == store.EINTERNAL || e.Message == "" {
				t.Fatalf("error %v is not a caller error with a message", err)
			}
			return
		}
		if b.AgentID != "agent-1" {
			t.Fatalf("accepted a batch for %q", b.AgentID)
		}
		var prev uint64
		for i := range b.Records {
			r := &b.Records[i]
			if err := r.Validate(); err != nil {
				t.Fatalf("accepted invalid record %d: %v", i, err)
			}
			if r.Seq <= prev || r.Seq < b.FirstSeq || r.Seq > b.LastSeq {
				t.Fatalf("accepted seq %d after %d in [%d, %d]", r.Seq, prev, b.FirstSeq, b.LastSeq)
			}
			prev = r.Seq
		}
	})
}
