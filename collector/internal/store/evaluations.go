package store

import (
	"context"
	"time"
)

// Evaluation is one full pass of the controls engine, kept compactly: the
// status of every control, and counts per framework for trends.
type Evaluation struct {
	ID             int64     `json:"id"`
	At             time.Time `json:"at"`
	CatalogVersion string    `json:"catalog_version"`
	// Statuses maps each namespaced control id to its status.
	Statuses map[string]string `json:"-"`
	// Counts maps framework id → status → number of controls.
	Counts map[string]map[string]int `json:"counts"`
}

// StatusChange says a control entered a status at a time (the time of the
// evaluation that first saw it).
type StatusChange struct {
	ControlID string    `json:"control_id"`
	Status    string    `json:"status"`
	Since     time.Time `json:"since"`
}

// Evaluations keeps the results of full evaluation passes, so that "since
// when" and trends can be shown. Only changes of a control's status are
// stored per control; a pass costs one row plus one per change.
type Evaluations interface {
	// RecordEvaluation stores a pass and the status changes it brings.
	RecordEvaluation(ctx context.Context, ev Evaluation) (int64, error)
	// CurrentStatuses returns, per control, the status of the latest pass
	// and since when it has held.
	CurrentStatuses(ctx context.Context) (map[string]StatusChange, error)
	// EvaluationTrend returns passes at or after from, oldest first, at most
	// limit (0 for all) — the newest ones when there are more.
	EvaluationTrend(ctx context.Context, from time.Time, limit int) ([]Evaluation, error)
	// ControlHistory returns the status changes of one control, oldest first.
	ControlHistory(ctx context.Context, controlID string) ([]StatusChange, error)
}
