package store

import (
	"context"
	"encoding/json"
	"time"
)

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

// Timelines reads the change history of one subject, for the web UI's
// asset pages.
type Timelines interface {
	// SubjectHistory returns the history rows of one (agent, kind,
	// subject), newest first, at most limit of them.
	SubjectHistory(ctx context.Context, agentID, kind, subject string, limit int) ([]HistoryEntry, error)
}
