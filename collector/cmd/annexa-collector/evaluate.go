package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/annexa/annexa/collector/internal/report"
	"github.com/annexa/annexa/collector/internal/store/sqlite"
)

// afterIngestDelay gathers the batches of a burst (every agent shipping
// after a scan) into one pass.
const afterIngestDelay = 10 * time.Second

// evaluator records full evaluation passes in serve: one at start, one
// every interval, and one shortly after new evidence arrives, so that
// "since" and trends follow the fleet without anyone asking for a report.
type evaluator struct {
	st    *sqlite.DB
	log   *slog.Logger
	opts  report.Options
	every time.Duration
	kick  chan struct{}
	// last is how long the latest pass took; passes after ingest wait at
	// least three times that, so that a fleet shipping all the time costs
	// at most about a third of a core, not all of it.
	last time.Duration
}

func newEvaluator(st *sqlite.DB, log *slog.Logger, opts report.Options, every time.Duration) *evaluator {
	// Passes run one at a time, so they can share a decode cache: only
	// records changed since the last pass are decoded again.
	opts.Cache = new(report.DecodeCache)
	return &evaluator{st: st, log: log.With("component", "evaluator"), opts: opts, every: every, kick: make(chan struct{}, 1)}
}

// trigger asks for a pass soon; it never blocks the ingest that calls it.
func (v *evaluator) trigger() {
	select {
	case v.kick <- struct{}{}:
	default:
	}
}

func (v *evaluator) run(ctx context.Context) {
	var tick <-chan time.Time
	if v.every > 0 {
		t := time.NewTicker(v.every)
		defer t.Stop()
		tick = t.C
	}
	var soon <-chan time.Time
	v.pass(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
			v.pass(ctx)
		case <-v.kick:
			if soon == nil {
				soon = time.After(max(afterIngestDelay, 3*v.last))
			}
		case <-soon:
			soon = nil
			v.pass(ctx)
		}
	}
}

func (v *evaluator) pass(ctx context.Context) {
	start := time.Now()
	defer func() { v.last = time.Since(start) }()
	r, err := report.Record(ctx, v.st, start, v.opts)
	if err != nil {
		if ctx.Err() == nil {
			v.log.Error("evaluation pass failed", "err", err)
		}
		return
	}
	v.log.Info("evaluation pass recorded", "duration", time.Since(start), "compliant", r.Summary.Compliant,
		"noncompliant", r.Summary.Noncompliant, "insufficient_evidence", r.Summary.InsufficientEvidence)
}
