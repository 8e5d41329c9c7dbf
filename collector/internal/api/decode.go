package api

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/annexa/annexa/collector/internal/store"
	"github.com/annexa/annexa/evidence"
	ingestv1 "github.com/annexa/annexa/proto/ingest/v1"
)

// Limits bound what one request may cost.
type Limits struct {
	// MaxBody caps the request body as sent (compressed).
	MaxBody int64
	// MaxDecoded caps the batch after decompression, so that a small gzip
	// bomb cannot make the collector allocate gigabytes.
	MaxDecoded int64
}

// DefaultLimits suit batches of tens of thousands of records.
var DefaultLimits = Limits{MaxBody: 16 << 20, MaxDecoded: 64 << 20}

// decompress returns body decoded per Content-Encoding, never more than
// limits.MaxDecoded bytes.
func decompress(encoding string, body []byte, limits Limits) ([]byte, error) {
	switch encoding {
	case "", "identity":
		if int64(len(body)) > limits.MaxDecoded {
			return nil, store.Errorf(store.ETOOLARGE, "the batch is %d bytes, more than the limit of %d; send smaller batches", len(body), limits.MaxDecoded)
		}
		return body, nil
	case "gzip":
	default:
		return nil, store.Errorf(store.EUNSUPPORTED, "Content-Encoding %q is not supported; send gzip or identity", encoding)
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		return nil, store.Errorf(store.EINVALID, "the body is not valid gzip (%v); send it gzip-compressed with Content-Encoding: gzip, or uncompressed without that header", err)
	}
	out, err := io.ReadAll(io.LimitReader(zr, limits.MaxDecoded+1))
	if err != nil {
		return nil, store.Errorf(store.EINVALID, "the body is not valid gzip: %v", err)
	}
	if int64(len(out)) > limits.MaxDecoded {
		return nil, store.Errorf(store.ETOOLARGE, "the batch decompresses to more than %d bytes; send smaller batches", limits.MaxDecoded)
	}
	return out, nil
}

// DecodeBatch turns an ingest body into a validated batch for agentID. It
// is the whole path from untrusted bytes to what the store may apply, and
// the fuzz target covers exactly it.
func DecodeBatch(agentID, encoding string, body []byte, limits Limits) (*store.Batch, error) {
	raw, err := decompress(encoding, body, limits)
	if err != nil {
		return nil, err
	}
	var pb ingestv1.Batch
	if err := proto.Unmarshal(raw, &pb); err != nil {
		return nil, store.Errorf(store.EINVALID, "the body is not a protobuf annexa.ingest.v1.Batch: %v", err)
	}
	if pb.GetAgentId() != agentID {
		return nil, store.Errorf(store.EFORBIDDEN, "the batch is for agent %q but the credential belongs to agent %q; an agent may only send its own evidence", pb.GetAgentId(), agentID)
	}
	return validateBatch(&pb)
}

func batchError(field, format string, args ...any) *store.Error {
	e := store.Errorf(store.EUNPROCESSABLE, "batch %s: "+format, append([]any{field}, args...)...)
	e.Field = field
	return e
}

func validateBatch(pb *ingestv1.Batch) (*store.Batch, error) {
	b := &store.Batch{AgentID: pb.GetAgentId(), FirstSeq: pb.GetFirstSeq(), LastSeq: pb.GetLastSeq(), Status: convertStatus(pb.GetStatus())}
	if len(pb.Records) == 0 {
		return b, nil
	}
	switch {
	case b.FirstSeq == 0:
		return nil, batchError("first_seq", "is 0; sequence numbers start at 1")
	case b.LastSeq < b.FirstSeq:
		return nil, batchError("last_seq", "%d is less than first_seq %d", b.LastSeq, b.FirstSeq)
	case b.LastSeq > math.MaxInt64:
		// The store keeps seq in a signed 64-bit column.
		return nil, batchError("last_seq", "%d is more than %d", b.LastSeq, int64(math.MaxInt64))
	}
	b.Records = make([]evidence.Record, 0, len(pb.Records))
	var prev uint64
	for i, pr := range pb.Records {
		rec, err := convertRecord(pr)
		if err == nil {
			switch {
			case pr.GetSeq() < b.FirstSeq || pr.GetSeq() > b.LastSeq:
				err = &evidence.FieldError{Field: "seq", Message: fmt.Sprintf("%d is outside the batch range [%d, %d]", pr.GetSeq(), b.FirstSeq, b.LastSeq)}
			case i > 0 && pr.GetSeq() <= prev:
				err = &evidence.FieldError{Field: "seq", Message: fmt.Sprintf("%d does not follow %d; seq must strictly increase within a batch", pr.GetSeq(), prev)}
			}
		}
		if err == nil {
			err = rec.Validate()
		}
		if err == nil && rec.Kind == evidence.KindScanComplete && rec.Op == evidence.OpUpsert {
			err = validateScanComplete(rec.Attributes)
		}
		if err != nil {
			return nil, recordError(i, pr.GetSeq(), err)
		}
		prev = pr.GetSeq()
		b.Records = append(b.Records, rec)
	}
	return b, nil
}

func recordError(i int, seq uint64, err error) *store.Error {
	e := &store.Error{Code: store.EUNPROCESSABLE, Record: &i, Seq: &seq}
	var fe *evidence.FieldError
	if errors.As(err, &fe) {
		e.Field = fe.Field
		e.Message = fmt.Sprintf("record %d (seq %d): %s %s; nothing of this batch was stored", i, seq, fe.Field, fe.Message)
	} else {
		e.Message = fmt.Sprintf("record %d (seq %d): %v; nothing of this batch was stored", i, seq, err)
	}
	return e
}

func convertRecord(pr *ingestv1.Record) (evidence.Record, error) {
	rec := evidence.Record{Kind: pr.GetKind(), Schema: pr.GetSchema(), Subject: pr.GetSubject(),
		Attributes: pr.GetAttributesJson(), Host: pr.GetHost(), Plugin: pr.GetPlugin(), Seq: pr.GetSeq()}
	op, err := evidence.ParseOp(pr.GetOp())
	if err != nil {
		return rec, &evidence.FieldError{Field: "op", Message: err.Error()}
	}
	rec.Op = op
	if ts := pr.GetObservedAt(); ts != nil {
		if err := ts.CheckValid(); err != nil {
			return rec, &evidence.FieldError{Field: "observed_at", Message: err.Error()}
		}
		rec.ObservedAt = ts.AsTime().UTC()
	}
	return rec, nil
}

// validateScanComplete checks what the store needs to act on a scan: a
// wrong scope would delete the wrong subjects, so it is refused up front.
func validateScanComplete(attrs []byte) error {
	var sc struct {
		Plugin    string   `json:"plugin"`
		Kinds     []string `json:"kinds"`
		StartedAt string   `json:"started_at"`
	}
	if err := json.Unmarshal(attrs, &sc); err != nil {
		return &evidence.FieldError{Field: "attributes", Message: "of scan.complete must be {\"plugin\": string, \"kinds\": [string], \"roots\": [string], \"started_at\": RFC 3339}: " + err.Error()}
	}
	if sc.Plugin == "" {
		return &evidence.FieldError{Field: "attributes.plugin", Message: "is missing; name the plugin whose scan completed"}
	}
	// Empty kinds are allowed (a plugin may declare no state kinds): such a
	// scan retires nothing, and refusing it would block the agent's spool.
	for _, k := range sc.Kinds {
		if !evidence.ValidKind(k) {
			return &evidence.FieldError{Field: "attributes.kinds", Message: fmt.Sprintf("%q is not a valid kind", k)}
		}
	}
	if _, err := time.Parse(time.RFC3339Nano, sc.StartedAt); err != nil {
		return &evidence.FieldError{Field: "attributes.started_at", Message: fmt.Sprintf("%q is not an RFC 3339 time", sc.StartedAt)}
	}
	return nil
}

// Status is informational and stored on every batch, so its strings and
// plugin list are clipped rather than refused: a heartbeat must never fail.
const (
	maxStatusString  = 1024
	maxStatusPlugins = 256
	// A rollover trusts two CAs; a few more leaves room without letting a
	// status grow without bound.
	maxStatusCAs = 8
)

func clip(s string) string {
	if len(s) > maxStatusString {
		s = s[:maxStatusString]
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

func convertStatus(s *ingestv1.AgentStatus) *store.AgentStatus {
	if s == nil {
		return nil
	}
	out := &store.AgentStatus{Host: clip(s.GetHost()), Version: clip(s.GetVersion()), SpoolRecords: s.GetSpoolRecords(),
		SpoolBytes: s.GetSpoolBytes(), OldestUnsentSeconds: s.GetOldestUnsentSeconds(), QuarantinedRecords: s.GetQuarantinedRecords(),
		CollectionPaused: s.GetCollectionPaused(), Plugins: []store.PluginStatus{}}
	for i, p := range s.GetPlugins() {
		if i == maxStatusPlugins {
			break
		}
		out.Plugins = append(out.Plugins, store.PluginStatus{Name: clip(p.GetName()), State: clip(p.GetState()), Error: clip(p.GetError())})
	}
	if ts := s.GetSentAt(); ts != nil && ts.CheckValid() == nil {
		t := ts.AsTime().UTC()
		out.SentAt = &t
	}
	for i, fp := range s.GetTrustedCas() {
		if i == maxStatusCAs {
			break
		}
		out.TrustedCAs = append(out.TrustedCAs, clip(fp))
	}
	return out
}
