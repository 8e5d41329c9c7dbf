package report

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"time"

	"github.com/annexa/annexa/collector/internal/controls"
	"github.com/annexa/annexa/collector/internal/store"
)

// KeptSource is what a Kept evaluation reads: a report's source, and the
// store's change feed.
type KeptSource interface {
	Source
	store.ChangeFeed
}

// Kept is an evaluation that follows the store between full passes. A full
// pass (Full) reads a snapshot and judges everything; Refresh reads only the
// agents and records written since (the store's change feed) and the
// decisions, and hands them to a controls.State, which re-judges only what
// they touch. Reports and the web UI read it instead of evaluating again.
// It is safe for concurrent use; calls run one at a time.
type Kept struct {
	src  KeptSource
	opts Options
	step time.Duration

	mu      sync.Mutex
	state   *controls.State
	through int64 // the store's change clock the state has caught up with
	gov     Governance
}

// NewKept returns a Kept evaluation of src; nothing is read until the
// first Full or Refresh. Its clock moves in steps of step (0 for exact
// times) and never back: everything a step brings is judged as of its
// start, so that a batch within a step costs only its own records, and a
// clock moving once per step re-judges what reads the time once.
func NewKept(src KeptSource, opts Options, step time.Duration) *Kept {
	if opts.Freshness <= 0 {
		opts.Freshness = controls.DefaultFreshness
	}
	if opts.Engine == nil {
		opts.Engine = controls.Default()
	}
	return &Kept{src: src, opts: opts, step: step}
}

// clock is the time the kept evaluation moves to when asked for now.
func (k *Kept) clock(now time.Time) time.Time {
	if k.step > 0 {
		now = now.Truncate(k.step)
	}
	if k.state != nil && now.Before(k.state.Now()) {
		return k.state.Now()
	}
	return now
}

// Full judges everything again from a new snapshot, as of now, and keeps
// the result. When nothing (no batch, no decision) changed between the
// last Refresh and the snapshot, it also compares the kept verdicts with the fresh ones and
// returns the controls whose status differs: incremental evaluation that
// drifted from a full one is a bug, and the full pass wins.
func (k *Kept) Full(ctx context.Context, now time.Time) (drift []string, err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.full(ctx, now)
}

func (k *Kept) full(ctx context.Context, now time.Time) (drift []string, err error) {
	now = k.clock(now)
	var before []controls.Verdict
	if k.state != nil {
		if err := k.refresh(ctx, now); err != nil {
			return nil, err
		}
		before = k.state.Verdicts()
	}
	snap, err := k.src.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	gov, err := readGovernance(ctx, k.src)
	if err != nil {
		return nil, err
	}
	in := controls.Input{Now: now, Options: controls.Options{Freshness: k.opts.Freshness}}
	(&Report{}).addGovernance(&in, gov, now)
	for _, a := range snap.Agents {
		in.Agents = append(in.Agents, agentOf(&a))
	}
	in.Records = make([]controls.Record, 0, len(snap.Current))
	for i := range snap.Current {
		r := recordOf(&snap.Current[i])
		if k.state != nil {
			// Attributes unchanged since the last pass are not decoded again.
			r.Decoded = k.state.Decoded(r.AgentID, r.Kind, r.Subject, r.Seq)
		}
		in.Records = append(in.Records, r)
	}
	fresh := k.opts.Engine.NewState(in)
	if before != nil && snap.Change == k.through && reflect.DeepEqual(*gov, k.gov) {
		for i, v := range fresh.Verdicts() {
			if before[i].Status != v.Status {
				drift = append(drift, fmt.Sprintf("%s: kept %s, full pass %s", v.ControlID, before[i].Status, v.Status))
			}
		}
	}
	k.state, k.through, k.gov = fresh, snap.Change, *gov
	return drift, nil
}

// Refresh applies what the store recorded since the last read and moves
// the clock to now. Without a state yet it makes a full pass.
func (k *Kept) Refresh(ctx context.Context, now time.Time) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.refresh(ctx, now)
}

func (k *Kept) refresh(ctx context.Context, now time.Time) error {
	if k.state == nil {
		_, err := k.full(ctx, now)
		return err
	}
	now = k.clock(now)
	ch, err := k.src.Changes(ctx, k.through)
	if err != nil {
		return err
	}
	gov, err := readGovernance(ctx, k.src)
	if err != nil {
		return err
	}
	if !reflect.DeepEqual(*gov, k.gov) {
		var in controls.Input
		(&Report{}).addGovernance(&in, gov, now)
		k.state.SetGovernance(in.Exceptions, in.Attestations, in.SoA)
		k.gov = *gov
	}
	var d controls.Delta
	for i := range ch.Agents {
		d.Agents = append(d.Agents, agentOf(&ch.Agents[i]))
	}
	for i := range ch.Current {
		c := &ch.Current[i]
		if c.Deleted {
			d.Deletes = append(d.Deletes, controls.RecordKey{AgentID: c.AgentID, Kind: c.Kind, Subject: c.Subject})
			continue
		}
		d.Upserts = append(d.Upserts, recordOf(c))
	}
	k.state.Update(d, now)
	k.through = ch.Through
	return nil
}

// Verdicts are the kept statuses of every control, as of Now.
func (k *Kept) Verdicts() (now time.Time, v []controls.Verdict) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.state == nil {
		return time.Time{}, nil
	}
	return k.state.Now(), k.state.Verdicts()
}

// Report brings the kept evaluation up to now and builds a report from it
// and a snapshot of the store, which it also returns (the web UI indexes
// it). The report is generated as of the kept clock. A batch landing
// between the two reads moves the report by that batch, as with Assemble.
func (k *Kept) Report(ctx context.Context, now time.Time) (*Report, *store.Snapshot, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.refresh(ctx, now); err != nil {
		return nil, nil, err
	}
	snap, err := k.src.Snapshot(ctx)
	if err != nil {
		return nil, nil, err
	}
	opts := k.opts
	gov := k.gov
	opts.Governance = &gov
	if opts.Since, err = k.src.CurrentStatuses(ctx); err != nil {
		return nil, nil, err
	}
	opts.results = k.state.Results()
	return Build(snap, k.state.Now(), opts), snap, nil
}

// Evaluation is the kept verdicts in the compact form the store records.
func (k *Kept) Evaluation() store.Evaluation {
	at, verdicts := k.Verdicts()
	ev := store.Evaluation{At: at.UTC(), CatalogVersion: k.opts.Engine.Version, Statuses: map[string]string{},
		Counts: map[string]map[string]int{}}
	for _, v := range verdicts {
		ev.Statuses[v.ControlID] = string(v.Status)
		if ev.Counts[v.Framework] == nil {
			ev.Counts[v.Framework] = map[string]int{}
		}
		ev.Counts[v.Framework][string(v.Status)]++
	}
	return ev
}

func readGovernance(ctx context.Context, st store.Governance) (*Governance, error) {
	g := &Governance{}
	var err error
	if g.Exceptions, err = st.Exceptions(ctx); err != nil {
		return nil, err
	}
	if g.Attestations, err = st.Attestations(ctx); err != nil {
		return nil, err
	}
	if g.SoA, err = st.SoA(ctx); err != nil {
		return nil, err
	}
	return g, nil
}

func agentOf(a *store.Agent) controls.Agent {
	return controls.Agent{ID: a.ID, Host: a.Host, Revoked: a.Revoked(), LastSeen: a.LastSeenAt}
}

func recordOf(c *store.Current) controls.Record {
	return controls.Record{AgentID: c.AgentID, Host: c.Host, Kind: c.Kind, Subject: c.Subject,
		Plugin: c.Plugin, Seq: c.Seq, ObservedAt: c.ObservedAt.UTC(), Attributes: c.Attributes}
}
