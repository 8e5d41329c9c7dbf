package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/annexa/annexa/collector/internal/api"
	"github.com/annexa/annexa/collector/internal/report"
	"github.com/annexa/annexa/collector/internal/store/sqlite"
)

// clockStep is how far the kept evaluation's clock moves at a time: the
// batches of one step are judged as of its start, so that a batch costs
// only its own records, and a sweep once per step catches what expired
// (hosts falling silent, evidence going stale, exceptions and attestations
// lapsing, checks that read `now`).
const clockStep = 10 * time.Second

// evaluator keeps serve's evaluation current: a full pass at start and
// every interval, recorded as an evaluation pass (the trend and "since"
// snapshot), and in between an incremental update after every ingested
// batch and every clockStep, recorded only when a control's status
// changed, so that "since" is the time of the batch that changed it.
type evaluator struct {
	st    *sqlite.DB
	log   *slog.Logger
	kept  *report.Kept
	every time.Duration
	kick  chan struct{}
	// recorded holds the statuses of the last recorded pass.
	recorded map[string]string
	// took and done are the duration and end of the last update: the next
	// one waits twice as long as it took, so that a fleet shipping all the
	// time keeps at most a third of a core busy evaluating.
	took time.Duration
	done time.Time
	// observe, when set, is told each pass's and update's duration or
	// failure (the collector's evaluation metrics); set it before run.
	observe func(kind string, d time.Duration, err error)
}

func (v *evaluator) observed(ctx context.Context, kind string, start time.Time, err error) {
	// A pass cut short by shutdown is neither a duration nor a failure.
	if v.observe != nil && ctx.Err() == nil {
		v.observe(kind, time.Since(start), err)
	}
}

func newEvaluator(st *sqlite.DB, log *slog.Logger, opts report.Options, every time.Duration) *evaluator {
	return &evaluator{st: st, log: log.With("component", "evaluator"), kept: report.NewKept(st, opts, clockStep),
		every: every, kick: make(chan struct{}, 1)}
}

// trigger asks for an update soon; it never blocks the ingest that calls
// it, and the batches that arrive meanwhile make one update.
func (v *evaluator) trigger() {
	select {
	case v.kick <- struct{}{}:
	default:
	}
}

func (v *evaluator) run(ctx context.Context) {
	var full <-chan time.Time
	if v.every > 0 {
		t := time.NewTicker(v.every)
		defer t.Stop()
		full = t.C
	}
	sweep := time.NewTicker(clockStep)
	defer sweep.Stop()
	var soon <-chan time.Time
	v.full(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-full:
			v.full(ctx)
		case <-v.kick:
			if soon == nil {
				soon = time.After(time.Until(v.done.Add(2 * v.took)))
			}
		case <-soon:
			soon = nil
			v.update(ctx, "batch")
		case <-sweep.C:
			v.update(ctx, "clock")
		}
	}
}

// full judges everything from a new snapshot and records the pass. A kept
// status that differs from the full pass's is logged as an error: the full
// pass wins, and the difference is a bug to report.
func (v *evaluator) full(ctx context.Context) {
	start := time.Now()
	drift, err := v.kept.Full(ctx, start)
	v.observed(ctx, api.EvalFull, start, err)
	if err != nil {
		if ctx.Err() == nil {
			v.log.Error("evaluation pass failed", "err", err)
		}
		return
	}
	for _, d := range drift {
		v.log.Error("incremental evaluation drifted from the full pass; the full pass is kept", "control", d)
	}
	v.record(ctx, "full", start, true)
}

func (v *evaluator) update(ctx context.Context, why string) {
	start := time.Now()
	defer func() { v.done = time.Now(); v.took = v.done.Sub(start) }()
	err := v.kept.Refresh(ctx, start)
	v.observed(ctx, api.EvalIncremental, start, err)
	if err != nil {
		if ctx.Err() == nil {
			v.log.Error("incremental evaluation failed", "after", why, "err", err)
		}
		return
	}
	v.record(ctx, why, start, false)
}

// record stores the kept verdicts as a pass when asked to, or when a
// status changed since the last recorded pass.
func (v *evaluator) record(ctx context.Context, why string, start time.Time, always bool) {
	ev := v.kept.Evaluation()
	changed := 0
	for id, s := range ev.Statuses {
		if v.recorded[id] != s {
			changed++
		}
	}
	took := time.Since(start)
	if !always && changed == 0 {
		v.log.Debug("evaluation updated", "after", why, "duration", took)
		return
	}
	if _, err := v.st.RecordEvaluation(ctx, ev); err != nil {
		if ctx.Err() == nil {
			v.log.Error("evaluation pass not recorded", "err", err)
		}
		return
	}
	v.recorded = ev.Statuses
	n := map[string]int{}
	for _, c := range ev.Counts {
		for s, k := range c {
			n[s] += k
		}
	}
	v.log.Info("evaluation pass recorded", "after", why, "duration", took, "changed", changed, "compliant", n["compliant"],
		"noncompliant", n["noncompliant"], "insufficient_evidence", n["insufficient_evidence"])
}
