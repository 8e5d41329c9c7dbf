package store

import (
	"context"
	"encoding/json"
	"time"
)

// TrendPoint is the count of controls by status in one framework at one
// moment, recorded by the collector after it evaluates the controls.
type TrendPoint struct {
	At        time.Time
	Framework string
	// Counts maps a control status to how many controls had it.
	Counts map[string]int
}

// ControlStatus is one control's status from a moment on.
type ControlStatus struct {
	ControlID string
	Status    string
	Since     time.Time
}

// HistoryEntry is one row of the evidence history of a subject.
type HistoryEntry struct {
	ID         int64
	AgentID    string
	Seq        uint64 // 0 for rows the collector derived (deletions by scan.complete)
	Kind       string
	Subject    string
	Plugin     string
	Host       string
	Op         string
	ObservedAt time.Time
	ReceivedAt time.Time
	Attributes json.RawMessage
}

// Trends keeps what the web UI needs to show change over time: framework
// status counts, each control's status changes, and a subject's history.
type Trends interface {
	// RecordEvaluation stores points and, for each control whose status
	// differs from the last one recorded, a status change at `at`.
	RecordEvaluation(ctx context.Context, at time.Time, points []TrendPoint, statuses map[string]string) error
	// Trend returns the points recorded at or after since, oldest first.
	Trend(ctx context.Context, since time.Time) ([]TrendPoint, error)
	// ControlHistory returns a control's status changes, newest first, at
	// most limit of them.
	ControlHistory(ctx context.Context, controlID string, limit int) ([]ControlStatus, error)
	// SubjectHistory returns the history rows of one (agent, kind,
	// subject), newest first, at most limit of them.
	SubjectHistory(ctx context.Context, agentID, kind, subject string, limit int) ([]HistoryEntry, error)
}
