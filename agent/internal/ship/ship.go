// Package ship moves evidence from the spool to the collector: pages of the
// backlog as gzip-compressed protobuf batches over HTTP, deleted from the
// spool only after the collector's 2xx, and heartbeats when there is
// nothing to send. Durable data is never given up: transient failures are
// retried forever with capped, jittered backoff; a refused credential keeps
// the data and says to re-enroll; only a batch the collector calls invalid
// is moved aside, into the spool's quarantine, where it is still counted.
package ship

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-cleanhttp"
	"github.com/hashicorp/go-retryablehttp"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/annexa/annexa/agent/internal/spool"
	"github.com/annexa/annexa/evidence"
	ingestv1 "github.com/annexa/annexa/proto/ingest/v1"
)

// IngestPath is where the collector takes batches.
const IngestPath = "/v1/ingest"

// Defaults for Config fields left zero.
const (
	DefaultTimeout         = 30 * time.Second
	DefaultMaxBatchRecords = 500
	DefaultMaxBatchBytes   = 4 << 20
	DefaultHeartbeat       = time.Minute
	DefaultMinBackoff      = time.Second
	DefaultMaxBackoff      = 5 * time.Minute
)

// innerRetries is how often retryablehttp retries one request before the
// outer loop, which never gives up, takes over; kept small so that health
// reflects an outage within a few attempts.
const innerRetries = 4

// maxRetryAfter bounds a collector's Retry-After, so a wrong clock or a
// typo there cannot park the agent for days.
const maxRetryAfter = time.Hour

// maxReply bounds how much of a reply is read.
const maxReply = 1 << 20

// Config tunes a Shipper.
type Config struct {
	// URL is the collector's base URL, e.g. http://127.0.0.1:8080.
	URL        string
	AgentID    string
	Credential string
	// HTTPClient carries the TLS configuration; its Timeout is replaced by
	// Timeout. Nil means a pooled client of our own.
	HTTPClient *http.Client
	// Timeout bounds each request; default 30s.
	Timeout         time.Duration
	MaxBatchRecords int // default 500
	MaxBatchBytes   int // uncompressed; default 4 MiB
	// Heartbeat is how often at least one request reaches the collector
	// when nothing changes; default 60s.
	Heartbeat  time.Duration
	MinBackoff time.Duration // default 1s
	MaxBackoff time.Duration // default 5m
	// Status describes the agent in every batch; nil sends spool figures.
	Status func(context.Context) *ingestv1.AgentStatus
	Logger *slog.Logger

	// OnReply sees every reply of a stored batch or heartbeat (the agent
	// learns there that the collector's trust bundle changed); it must
	// not block.
	OnReply func(*ingestv1.BatchResponse)
}

// Health is the shipper's part of the agent's health.
type Health struct {
	LastSuccess         time.Time `json:"last_success,omitzero"`
	LastError           string    `json:"last_error,omitempty"`
	LastErrorAt         time.Time `json:"last_error_at,omitzero"`
	ConsecutiveFailures int       `json:"consecutive_failures"`
	// OldestUnsent is when the oldest record still waiting was committed:
	// a pipeline that looks up but forwards nothing shows here.
	OldestUnsent time.Time `json:"oldest_unsent,omitzero"`
	// CredentialRefused is set while the collector answers 401 or 403.
	CredentialRefused bool `json:"credential_refused,omitempty"`
}

// Shipper sends the spool's records to the collector.
type Shipper struct {
	cfg      Config
	sp       *spool.Spool
	log      *slog.Logger
	client   *retryablehttp.Client
	endpoint string
	notify   chan struct{}
	// busy lets one of Run and Flush ship at a time, so a page is never
	// sent twice in parallel; a channel so that waiting honours a context.
	busy chan struct{}

	mu     sync.Mutex
	health Health

	counters struct {
		batches, records, heartbeats, rejected, retries atomic.Uint64
	}
}

// Counters are running totals since the shipper was made, for metrics.
type Counters struct {
	// Batches and Records the collector stored (2xx), heartbeats apart.
	Batches, Records, Heartbeats uint64
	// Rejected batches the collector refused as invalid or too large.
	Rejected uint64
	// Retries are failed attempts that will be tried again.
	Retries uint64
}

// Counters reports the running totals.
func (s *Shipper) Counters() Counters {
	return Counters{
		Batches: s.counters.batches.Load(), Records: s.counters.records.Load(),
		Heartbeats: s.counters.heartbeats.Load(), Rejected: s.counters.rejected.Load(),
		Retries: s.counters.retries.Load(),
	}
}

// New checks cfg, fills in defaults and returns a Shipper for sp. It does
// no I/O.
func New(cfg Config, sp *spool.Spool) (*Shipper, error) {
	if sp == nil {
		return nil, errors.New("shipper: no spool")
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("shipper: collector URL %q is not an http(s) URL such as https://collector.example:8443", cfg.URL)
	}
	if cfg.AgentID == "" || cfg.Credential == "" {
		return nil, errors.New("shipper: no agent id or credential; enroll the agent with `annexa-agent enroll`")
	}
	setDefault(&cfg.Timeout, DefaultTimeout)
	setDefault(&cfg.MaxBatchRecords, DefaultMaxBatchRecords)
	setDefault(&cfg.MaxBatchBytes, DefaultMaxBatchBytes)
	setDefault(&cfg.Heartbeat, DefaultHeartbeat)
	setDefault(&cfg.MinBackoff, DefaultMinBackoff)
	setDefault(&cfg.MaxBackoff, DefaultMaxBackoff)
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = cfg.MinBackoff
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	var hc http.Client
	if cfg.HTTPClient != nil {
		hc = *cfg.HTTPClient
	} else {
		hc = *cleanhttp.DefaultPooledClient()
	}
	hc.Timeout = cfg.Timeout
	s := &Shipper{
		cfg: cfg, sp: sp, log: cfg.Logger,
		endpoint: strings.TrimRight(cfg.URL, "/") + IngestPath,
		notify:   make(chan struct{}, 1),
		busy:     make(chan struct{}, 1),
	}
	s.client = &retryablehttp.Client{
		HTTPClient:   &hc,
		Logger:       retryLogger{cfg.Logger},
		RetryWaitMin: cfg.MinBackoff,
		RetryWaitMax: cfg.MaxBackoff,
		RetryMax:     innerRetries,
		CheckRetry:   checkRetry,
		Backoff:      backoff,
		// Hand back the last response when retries run out, so the outer
		// loop sees its status and Retry-After.
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
	}
	return s, nil
}

func setDefault[T int | time.Duration](v *T, d T) {
	if *v <= 0 {
		*v = d
	}
}

// Notify says new records were committed; it never blocks.
func (s *Shipper) Notify() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// Health reports how shipping goes.
func (s *Shipper) Health() Health {
	s.mu.Lock()
	h := s.health
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if st, err := s.sp.Stats(ctx); err == nil {
		h.OldestUnsent = st.OldestUnsent
	}
	return h
}

// Run ships until ctx ends: a heartbeat first (which also finds out whether
// the collector knows more of this agent than its spool), then the backlog
// in pages, then it waits for Notify or the heartbeat tick. It returns
// ctx's error.
func (s *Shipper) Run(ctx context.Context) error {
	timer := time.NewTimer(0)
	defer timer.Stop()
	first := true
	for {
		if err := s.lock(ctx); err != nil {
			return err
		}
		var err error
		if first || time.Since(s.lastSuccess()) >= s.cfg.Heartbeat {
			err = s.heartbeat(ctx)
		}
		if err == nil {
			err = s.drain(ctx, false)
		}
		s.unlock()
		if err != nil {
			return ctx.Err()
		}
		first = false
		wait := s.cfg.Heartbeat - time.Since(s.lastSuccess())
		timer.Reset(max(wait, 0))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.notify:
		case <-timer.C:
		}
	}
}

// ErrCredentialRefused is in the error of a Flush that ended because the
// collector answered 401 or 403: the agent was revoked or the collector
// forgot it, and waiting longer cannot help.
var ErrCredentialRefused = errors.New("collector refused this agent's credential")

// credentialError carries the collector's answer and is ErrCredentialRefused.
type credentialError struct{ reason string }

func (e credentialError) Error() string        { return e.reason }
func (e credentialError) Is(target error) bool { return target == ErrCredentialRefused }

// Flush ships everything now and returns nil once the spool is empty, or
// an error saying how much is left when ctx ends first or the collector
// refuses the credential (ErrCredentialRefused; the records stay spooled).
func (s *Shipper) Flush(ctx context.Context) error {
	if err := s.lock(ctx); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	err := s.drain(ctx, true)
	s.unlock()
	if err != nil {
		st, serr := s.sp.Stats(context.WithoutCancel(ctx))
		if serr == nil {
			return fmt.Errorf("flush: %d records still spooled: %w", st.Records, err)
		}
		return fmt.Errorf("flush: %w", err)
	}
	return nil
}

func (s *Shipper) lock(ctx context.Context) error {
	select {
	case s.busy <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Shipper) unlock() { <-s.busy }

func (s *Shipper) lastSuccess() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.health.LastSuccess
}

// drain ships pages until the spool has nothing left; it returns an error
// when ctx ends, or, with authFails (a flush on the way out), when the
// collector refuses the credential.
func (s *Shipper) drain(ctx context.Context, authFails bool) error {
	limit := s.cfg.MaxBatchRecords
	spoolFailures := 0
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		recs, err := s.sp.Next(ctx, 0, limit, s.cfg.MaxBatchBytes)
		if err != nil {
			// The spool is local; if it cannot be read, waiting is all
			// there is to do, and the data stays where it is.
			spoolFailures++
			s.failed(fmt.Sprintf("read spool: %v", err))
			if err := sleep(ctx, s.jitter(spoolFailures)); err != nil {
				return err
			}
			continue
		}
		if len(recs) == 0 {
			return nil
		}
		first, last := recs[0].Seq, recs[len(recs)-1].Seq
		res, err := s.deliver(ctx, recs, authFails)
		if err != nil {
			return err
		}
		switch res.kind {
		case outcomeStored:
			if lost, err := s.lostSpool(ctx, res.reply, len(recs)); lost {
				// Acking now would drop records the collector took for
				// duplicates; after a renumbering they go again.
				if err != nil {
					spoolFailures++
					if err := sleep(ctx, s.jitter(spoolFailures)); err != nil {
						return err
					}
				}
				continue
			}
			if err := s.sp.Ack(ctx, last); err != nil {
				// The collector has the records; resending them only
				// costs duplicates it drops.
				spoolFailures++
				s.failed(fmt.Sprintf("ack %d..%d in spool: %v", first, last, err))
				if err := sleep(ctx, s.jitter(spoolFailures)); err != nil {
					return err
				}
				continue
			}
			s.log.Debug("batch shipped", "first", first, "last", last, "records", len(recs),
				"stored", res.reply.GetStored(), "duplicates", res.reply.GetDuplicates())
			limit = min(limit*2, s.cfg.MaxBatchRecords)
		case outcomeInvalid:
			s.log.Error("collector rejected a batch as invalid; it is quarantined in the spool",
				"first", first, "last", last, "records", len(recs), "reason", res.reason)
			if err := s.quarantine(ctx, first, last, res.reason); err != nil {
				spoolFailures++
				if err := sleep(ctx, s.jitter(spoolFailures)); err != nil {
					return err
				}
				continue
			}
		case outcomeTooLarge:
			if len(recs) > 1 {
				limit = max(len(recs)/2, 1)
				s.log.Warn("collector says the batch is too large; halving it", "records", len(recs), "next", limit)
				continue
			}
			s.log.Error("collector refuses a single record as too large; it is quarantined in the spool",
				"seq", first, "kind", recs[0].Kind, "subject", recs[0].Subject, "reason", res.reason)
			if err := s.quarantine(ctx, first, last, "too large for the collector: "+res.reason); err != nil {
				spoolFailures++
				if err := sleep(ctx, s.jitter(spoolFailures)); err != nil {
					return err
				}
				continue
			}
		}
		spoolFailures = 0
	}
}

// quarantine moves a refused batch aside. If that fails the rows stay in
// the outbox and are offered again after a pause, the safe way to fail.
func (s *Shipper) quarantine(ctx context.Context, first, last uint64, reason string) error {
	if _, err := s.sp.Quarantine(ctx, first, last, reason); err != nil {
		s.failed(err.Error())
		return err
	}
	return nil
}

// heartbeat sends an empty batch: the agent's status, and a way to learn
// that the collector holds higher numbers than this spool issued.
func (s *Shipper) heartbeat(ctx context.Context) error {
	res, err := s.deliver(ctx, nil, false)
	if err != nil {
		return err
	}
	switch res.kind {
	case outcomeStored:
		// A failed renumbering is tried again on the next reply.
		s.lostSpool(ctx, res.reply, 0)
	default:
		s.log.Error("collector refused a heartbeat", "reason", res.reason)
	}
	return nil
}

// lostSpool renumbers the spool when the collector has stored more of this
// agent than the spool ever issued and took the whole batch for
// duplicates: the spool was lost and recreated, and new records under old
// numbers would be dropped as duplicates for ever.
// It reports whether the batch must not be acked, and why not if the
// renumbering failed.
func (s *Shipper) lostSpool(ctx context.Context, reply *ingestv1.BatchResponse, sent int) (bool, error) {
	if reply == nil || reply.GetStored() != 0 || int(reply.GetDuplicates()) != sent || reply.GetAckedThrough() == 0 {
		return false, nil
	}
	st, err := s.sp.Stats(ctx)
	if err != nil {
		// Unknown: keep the batch, it costs only a resend.
		s.failed(err.Error())
		return true, err
	}
	if reply.GetAckedThrough() <= st.LastSeq {
		return false, nil
	}
	s.log.Warn("the collector has stored higher sequence numbers than this spool ever issued; the spool was probably lost. Renumbering unsent records after them",
		"acked_through", reply.GetAckedThrough(), "spool_last_seq", st.LastSeq, "unsent", st.Records)
	if err := s.sp.Renumber(ctx, reply.GetAckedThrough()+1); err != nil {
		s.failed(err.Error())
		return true, err
	}
	return true, nil
}

type outcome int

const (
	outcomeRetry    outcome = iota // transient: try again later
	outcomeStored                  // 2xx
	outcomeInvalid                 // 400, 422: never valid
	outcomeTooLarge                // 413
	outcomeAuth                    // 401, 403
)

type result struct {
	kind   outcome
	reply  *ingestv1.BatchResponse
	reason string
	// retryAfter is the collector's Retry-After, when it sent one.
	retryAfter time.Duration
}

// deliver sends one batch until the collector gives a definite answer,
// retrying everything else for ever; it fails when ctx ends, and with
// authFails on the first refused credential (a credentialError).
func (s *Shipper) deliver(ctx context.Context, recs []evidence.Record, authFails bool) (result, error) {
	for attempt := 1; ; attempt++ {
		res := s.send(ctx, recs)
		if err := ctx.Err(); err != nil {
			return res, err
		}
		var wait time.Duration
		switch res.kind {
		case outcomeStored, outcomeInvalid, outcomeTooLarge:
			s.succeeded(res.kind == outcomeStored)
			switch {
			case res.kind != outcomeStored:
				s.counters.rejected.Add(1)
			case len(recs) == 0:
				s.counters.heartbeats.Add(1)
			default:
				s.counters.batches.Add(1)
				s.counters.records.Add(uint64(len(recs)))
			}
			return res, nil
		case outcomeAuth:
			// A refused credential does not heal by itself; ask slowly,
			// and not at all on the way out.
			s.failedAuth(res.reason)
			if authFails {
				return res, credentialError{res.reason}
			}
			s.counters.retries.Add(1)
			wait = s.cfg.MaxBackoff
		default:
			s.failed(res.reason)
			s.counters.retries.Add(1)
			wait = s.jitter(attempt)
			if res.retryAfter > 0 {
				wait = res.retryAfter
			}
		}
		s.log.Warn("shipping failed; will retry", "err", res.reason, "attempt", attempt, "wait", wait, "records", len(recs))
		if err := sleep(ctx, wait); err != nil {
			return res, err
		}
	}
}

// send makes one request (with retryablehttp's few quick retries) and
// sorts the answer.
func (s *Shipper) send(ctx context.Context, recs []evidence.Record) result {
	body, err := s.encode(ctx, recs)
	if err != nil {
		// Cannot happen for records that passed Validate; if it does,
		// the batch can never be sent as it is.
		return result{kind: outcomeInvalid, reason: "encode batch: " + err.Error()}
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodPost, s.endpoint, body)
	if err != nil {
		return result{reason: err.Error()}
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Content-Encoding", "gzip")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+s.cfg.Credential)
	resp, err := s.client.Do(req)
	if resp == nil {
		if err == nil {
			err = errors.New("no response")
		}
		return result{reason: fmt.Sprintf("POST %s: %v", s.endpoint, err)}
	}
	defer resp.Body.Close()
	reply, rerr := io.ReadAll(io.LimitReader(resp.Body, maxReply))
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxReply))
	code := resp.StatusCode
	switch {
	case code >= 200 && code < 300:
		var br ingestv1.BatchResponse
		if rerr != nil {
			s.log.Warn("collector stored the batch but its reply was cut short", "err", rerr)
		} else if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(reply, &br); err != nil {
			// The 2xx is what counts; the figures are only for renumbering
			// and logs.
			s.log.Warn("collector stored the batch but its reply is not the expected JSON", "err", err)
		}
		if s.cfg.OnReply != nil {
			s.cfg.OnReply(&br)
		}
		return result{kind: outcomeStored, reply: &br}
	case code == http.StatusBadRequest || code == http.StatusUnprocessableEntity:
		return result{kind: outcomeInvalid, reason: describe(code, reply)}
	case code == http.StatusRequestEntityTooLarge:
		return result{kind: outcomeTooLarge, reason: describe(code, reply)}
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return result{kind: outcomeAuth, reason: fmt.Sprintf("collector refused this agent's credential (%s); re-enroll it with `annexa-agent enroll`", describe(code, reply))}
	default:
		res := result{reason: describe(code, reply)}
		if d, ok := retryAfter(resp); ok {
			res.retryAfter = d
		}
		return res
	}
}

func (s *Shipper) encode(ctx context.Context, recs []evidence.Record) ([]byte, error) {
	b := &ingestv1.Batch{AgentId: s.cfg.AgentID, Records: make([]*ingestv1.Record, len(recs))}
	for i := range recs {
		b.Records[i] = toProto(&recs[i])
	}
	if len(recs) > 0 {
		b.FirstSeq, b.LastSeq = recs[0].Seq, recs[len(recs)-1].Seq
	}
	b.Status = s.status(ctx)
	raw, err := proto.Marshal(b)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(raw); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func (s *Shipper) status(ctx context.Context) *ingestv1.AgentStatus {
	if s.cfg.Status != nil {
		if st := s.cfg.Status(ctx); st != nil {
			return st
		}
	}
	st := &ingestv1.AgentStatus{SentAt: timestamppb.Now()}
	if ss, err := s.sp.Stats(ctx); err == nil {
		st.SpoolRecords, st.SpoolBytes, st.QuarantinedRecords = uint64(ss.Records), uint64(ss.Bytes), uint64(ss.Quarantined)
		st.CollectionPaused = ss.Full
		if !ss.OldestUnsent.IsZero() {
			st.OldestUnsentSeconds = int64(time.Since(ss.OldestUnsent).Seconds())
		}
	}
	return st
}

// toProto keeps the envelope field for field; attributes travel as the
// JSON bytes the plugin sent, so the collector stores what was validated.
func toProto(r *evidence.Record) *ingestv1.Record {
	return &ingestv1.Record{
		Seq: r.Seq, Kind: r.Kind, Schema: r.Schema, Subject: r.Subject, Op: string(r.Op),
		ObservedAt: timestamppb.New(r.ObservedAt), AttributesJson: r.Attributes, Host: r.Host, Plugin: r.Plugin,
	}
}

// describe turns an error reply into one line, using the collector's JSON
// error when there is one.
func describe(code int, body []byte) string {
	var e struct {
		Error  string  `json:"error"`
		Record *int    `json:"record"`
		Seq    *uint64 `json:"seq"`
		Field  string  `json:"field"`
	}
	msg := fmt.Sprintf("HTTP %d", code)
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		msg += ": " + e.Error
		var where []string
		if e.Record != nil {
			where = append(where, "record "+strconv.Itoa(*e.Record))
		}
		if e.Seq != nil {
			where = append(where, "seq "+strconv.FormatUint(*e.Seq, 10))
		}
		if e.Field != "" {
			where = append(where, "field "+e.Field)
		}
		if len(where) > 0 {
			msg += " (" + strings.Join(where, ", ") + ")"
		}
		return msg
	}
	if t := strings.TrimSpace(string(body)); t != "" {
		if len(t) > 300 {
			t = t[:300] + "…"
		}
		msg += ": " + t
	}
	return msg
}

func (s *Shipper) succeeded(stored bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.health.ConsecutiveFailures = 0
	s.health.CredentialRefused = false
	if stored {
		s.health.LastSuccess = time.Now()
		s.health.LastError = ""
	}
}

func (s *Shipper) failed(msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.health.ConsecutiveFailures++
	s.health.LastError = msg
	s.health.LastErrorAt = time.Now()
}

func (s *Shipper) failedAuth(msg string) {
	s.failed(msg)
	s.mu.Lock()
	s.health.CredentialRefused = true
	s.mu.Unlock()
}

// jitter is the outer loop's backoff: exponential in the attempt, capped,
// with full jitter so a fleet coming back after an outage spreads out.
func (s *Shipper) jitter(attempt int) time.Duration {
	return fullJitter(s.cfg.MinBackoff, s.cfg.MaxBackoff, attempt)
}

func fullJitter(lo, hi time.Duration, attempt int) time.Duration {
	ceil := hi
	if attempt < 40 {
		if c := lo << attempt; c > 0 && c < hi {
			ceil = c
		}
	}
	if ceil <= lo {
		return lo
	}
	return lo + rand.N(ceil-lo)
}

// checkRetry retries connection errors, 429 and 5xx inside one Do; any
// other answer is for the caller to judge.
func checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if err != nil {
		return retryablehttp.DefaultRetryPolicy(ctx, resp, err)
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
		return true, nil
	}
	return false, nil
}

// backoff honours Retry-After on 429 and 503, and otherwise uses full
// jitter between min and an exponentially growing ceiling.
func backoff(lo, hi time.Duration, attempt int, resp *http.Response) time.Duration {
	if d, ok := retryAfter(resp); ok {
		return d
	}
	return fullJitter(lo, hi, attempt)
}

// retryAfter reads Retry-After, in seconds or as an HTTP date, from a 429
// or 503.
func retryAfter(resp *http.Response) (time.Duration, bool) {
	if resp == nil || (resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable) {
		return 0, false
	}
	v := strings.TrimSpace(resp.Header.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	var d time.Duration
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		d = time.Duration(min(n, int64(maxRetryAfter/time.Second))) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = time.Until(t)
	} else {
		return 0, false
	}
	return min(max(d, 0), maxRetryAfter), true
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// retryLogger sends retryablehttp's own messages to debug: the outer loop
// reports what matters once, and retryablehttp logs URLs, never headers,
// so the credential stays out of the log.
type retryLogger struct{ l *slog.Logger }

func (r retryLogger) Error(msg string, kv ...any) { r.l.Debug("http: "+msg, kv...) }
func (r retryLogger) Warn(msg string, kv ...any)  { r.l.Debug("http: "+msg, kv...) }
func (r retryLogger) Info(msg string, kv ...any)  { r.l.Debug("http: "+msg, kv...) }
func (r retryLogger) Debug(msg string, kv ...any) { r.l.Debug("http: "+msg, kv...) }

var _ retryablehttp.LeveledLogger = retryLogger{}
