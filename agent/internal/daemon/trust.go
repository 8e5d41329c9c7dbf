package daemon

import (
	"bytes"
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/annexa/annexa/agent/internal/enroll"
	ingestv1 "github.com/annexa/annexa/proto/ingest/v1"
)

// trustSync keeps the pinned collector CAs in step with the collector's
// trust bundle during a CA rollover. Every ingest reply names the
// bundle's digest; when it differs from the last one handled, the bundle
// is fetched over the connection the pinned CAs verify, checked, and
// stored. The next batch reports the new trust, which is what the
// collector waits for before `ca promote`.
type trustSync struct {
	wanted chan struct{}
	// renewNow asks renewLoop for a client certificate from the bundle's
	// issuing CA, once the collector issues from a new one.
	renewNow chan struct{}

	mu sync.Mutex
	// handled is the digest last taken; pending the one asked for.
	handled, pending string
	// failed is a digest whose fetch or check failed at failedAt: it is
	// tried again after retryFailed, not on every heartbeat.
	failed   string
	failedAt time.Time
}

// retryFailed spaces out fetches of a bundle that failed: the log says
// why once, and a collector that is only passing through trouble is
// asked again soon enough.
const retryFailed = 10 * time.Minute

func newTrustSync() *trustSync {
	return &trustSync{wanted: make(chan struct{}, 1), renewNow: make(chan struct{}, 1)}
}

// onReply runs on the shipper's goroutine: it only signals.
func (t *trustSync) onReply(br *ingestv1.BatchResponse) {
	digest := br.GetTrustBundle()
	if digest == "" {
		return
	}
	t.mu.Lock()
	skip := digest == t.handled || digest == t.failed && time.Since(t.failedAt) < retryFailed
	if !skip {
		t.pending = digest
	}
	t.mu.Unlock()
	if !skip {
		select {
		case t.wanted <- struct{}{}:
		default:
		}
	}
}

func (d *Daemon) trustLoop(ctx context.Context, client *http.Client) {
	log := d.log.With("component", "trust")
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.trust.wanted:
		}
		if err := d.syncTrust(ctx, client); err != nil {
			d.trust.mu.Lock()
			d.trust.failed, d.trust.failedAt = d.trust.pending, time.Now()
			d.trust.mu.Unlock()
			log.Warn("the collector's trust bundle was not taken; the pinned CAs stay as they are", "err", err, "retry_in", retryFailed)
		}
	}
}

// syncTrust fetches, checks and stores the bundle.
func (d *Daemon) syncTrust(ctx context.Context, client *http.Client) error {
	pinned, err := LoadCA(d.cfg.StateDir)
	if err != nil || pinned == nil {
		// An agent trusting the system's CAs has nothing to roll over.
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, d.cfg.Collector.Timeout)
	defer cancel()
	t, err := enroll.FetchTrust(rctx, client, d.cfg.Collector.URL, d.creds.Credential)
	if err != nil {
		return err
	}
	d.trust.mu.Lock()
	d.trust.handled = t.Digest
	d.trust.mu.Unlock()
	if pem := t.PEM(); !bytes.Equal(pem, pinned) {
		if err := SaveCA(d.cfg.StateDir, pem); err != nil {
			return err
		}
		d.log.Info("collector trust bundle updated", "component", "trust", "trusted", t.Fingerprints, "issuing", t.Issuing)
	}
	// A certificate the collector's issuing CA did not sign is renewed
	// now, so the old CA can be retired without waiting for it to age.
	if cert, err := readClientCert(d.cfg.StateDir); err == nil && cert != nil {
		if ca := t.IssuingCA(); ca != nil && cert.CheckSignatureFrom(ca) != nil {
			select {
			case d.trust.renewNow <- struct{}{}:
			default:
			}
		}
	}
	return nil
}

// trustedCAs are the fingerprints of the pinned CAs, for the status every
// batch carries.
func (d *Daemon) trustedCAs() []string {
	if d.cfg == nil {
		return nil
	}
	b, err := LoadCA(d.cfg.StateDir)
	if err != nil {
		return nil
	}
	return enroll.Fingerprints(b)
}
