package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/annexa/annexa/collector/internal/store"
)

// SubjectHistory returns the history of one subject, newest first.
func (db *DB) SubjectHistory(ctx context.Context, agentID, kind, subject string, limit int) ([]store.HistoryEntry, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT id, agent_id, seq, kind, subject, plugin, host, op, observed_at, received_at, attributes
		FROM history WHERE agent_id = ? AND kind = ? AND subject = ? ORDER BY id DESC LIMIT ?`, agentID, kind, subject, limit)
	if err != nil {
		return nil, fmt.Errorf("history of %s: %w", subject, err)
	}
	defer rows.Close()
	var out []store.HistoryEntry
	for rows.Next() {
		var h store.HistoryEntry
		var seq sql.NullInt64
		var observed, received, attrs string
		if err := rows.Scan(&h.ID, &h.AgentID, &seq, &h.Kind, &h.Subject, &h.Plugin, &h.Host, &h.Op, &observed, &received, &attrs); err != nil {
			return nil, fmt.Errorf("history of %s: %w", subject, err)
		}
		h.Seq, h.Attributes = uint64(seq.Int64), json.RawMessage(attrs)
		var err1, err2 error
		h.ObservedAt, err1 = parseTime(observed)
		h.ReceivedAt, err2 = parseTime(received)
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("history of %s row %d: %w", subject, h.ID, err)
		}
		out = append(out, h)
	}
	return out, rows.Err()
}
