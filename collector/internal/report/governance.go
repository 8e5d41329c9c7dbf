package report

import (
	"context"
	"time"

	"github.com/annexa/annexa/collector/internal/controls"
	"github.com/annexa/annexa/collector/internal/store"
)

// Governance is the human decisions a report applies.
type Governance struct {
	Exceptions   []store.Exception
	Attestations []store.Attestation
	SoA          []store.SoAEntry
}

// Decision states, as of the report's generated_at.
const (
	StateActive  = "active"
	StateExpired = "expired"
	StateRevoked = "revoked"
)

// Exception is a recorded exception and its state.
type Exception struct {
	store.Exception
	State string `json:"state"`
}

// Attestation is a recorded attestation and its state.
type Attestation struct {
	store.Attestation
	State string `json:"state"`
}

func state(revoked, expires, now time.Time) string {
	switch {
	case !revoked.IsZero():
		return StateRevoked
	case !now.Before(expires):
		return StateExpired
	}
	return StateActive
}

func (r *Report) addGovernance(in *controls.Input, g *Governance, now time.Time) {
	r.Exceptions, r.Attestations, r.SoA = []Exception{}, []Attestation{}, []store.SoAEntry{}
	if g == nil {
		return
	}
	for _, e := range g.Exceptions {
		r.Exceptions = append(r.Exceptions, Exception{e, state(e.RevokedAt, e.ExpiresAt, now)})
		in.Exceptions = append(in.Exceptions, controls.Exception{ID: e.ID, CheckID: e.CheckID, SubjectPattern: e.SubjectPattern,
			HostPattern: e.HostPattern, Owner: e.Owner, Approver: e.Approver, ExpiresAt: e.ExpiresAt, RevokedAt: e.RevokedAt})
	}
	for _, a := range g.Attestations {
		r.Attestations = append(r.Attestations, Attestation{a, state(a.RevokedAt, a.ExpiresAt, now)})
		in.Attestations = append(in.Attestations, controls.Attestation{ID: a.ID, ControlID: a.ControlID, DocumentRef: a.DocumentRef,
			Author: a.Author, ExpiresAt: a.ExpiresAt, RevokedAt: a.RevokedAt})
	}
	for _, s := range g.SoA {
		r.SoA = append(r.SoA, s)
		in.SoA = append(in.SoA, controls.Applicability{ControlID: s.ControlID, Applicable: s.Applicable,
			Justification: s.Justification, Author: s.Author})
	}
}

// Source is what Assemble reads: the store's snapshot, decisions and
// recorded evaluations.
type Source interface {
	Snapshot(ctx context.Context) (*store.Snapshot, error)
	store.Governance
	store.Evaluations
}

// Assemble reads everything a report needs from st, in separate reads, and
// builds it as of now. Decisions change rarely and are applied as read; a
// batch landing between the reads only moves the report by that batch.
func Assemble(ctx context.Context, st Source, now time.Time, opts Options) (*Report, error) {
	snap, err := st.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	g := &Governance{}
	if g.Exceptions, err = st.Exceptions(ctx); err != nil {
		return nil, err
	}
	if g.Attestations, err = st.Attestations(ctx); err != nil {
		return nil, err
	}
	if g.SoA, err = st.SoA(ctx); err != nil {
		return nil, err
	}
	opts.Governance = g
	if opts.Since, err = st.CurrentStatuses(ctx); err != nil {
		return nil, err
	}
	return Build(snap, now, opts), nil
}

// Evaluation is the compact form of a report's verdicts that the store
// keeps for trends and "since when".
func (r *Report) Evaluation() store.Evaluation {
	ev := store.Evaluation{At: r.GeneratedAt, CatalogVersion: r.CatalogVersion, Statuses: map[string]string{},
		Counts: map[string]map[string]int{}}
	for _, c := range r.Controls {
		ev.Statuses[c.ControlID] = string(c.Status)
		if ev.Counts[c.Framework] == nil {
			ev.Counts[c.Framework] = map[string]int{}
		}
		ev.Counts[c.Framework][string(c.Status)]++
	}
	return ev
}

// Record builds a report as Assemble does and stores it as an evaluation
// pass, so that its statuses start or continue their "since".
func Record(ctx context.Context, st Source, now time.Time, opts Options) (*Report, error) {
	r, err := Assemble(ctx, st, now, opts)
	if err != nil {
		return nil, err
	}
	if _, err := st.RecordEvaluation(ctx, r.Evaluation()); err != nil {
		return nil, err
	}
	return r, nil
}
