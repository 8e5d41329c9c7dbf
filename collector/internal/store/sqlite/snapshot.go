package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/annexa/annexa/collector/internal/store"
	"github.com/annexa/annexa/evidence"
)

// Snapshot reads agents and live state in one read transaction, so that
// both come from the same moment even while batches are being applied.
func (db *DB) Snapshot(ctx context.Context) (*store.Snapshot, error) {
	tx, err := db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	defer tx.Rollback()
	snap := &store.Snapshot{TakenAt: db.now()}
	if snap.Agents, err = listAgents(ctx, tx); err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT agent_id, kind, subject, plugin, host, op, observed_at, attributes, seq, updated_at
		FROM current WHERE deleted = 0 ORDER BY agent_id, kind, subject`)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var c store.Current
		var op, observed, updated, attrs string
		var seq int64
		if err := rows.Scan(&c.AgentID, &c.Kind, &c.Subject, &c.Plugin, &c.Host, &op, &observed, &attrs, &seq, &updated); err != nil {
			return nil, fmt.Errorf("snapshot: %w", err)
		}
		c.Op, c.Seq, c.Attributes = evidence.Op(op), uint64(seq), []byte(attrs)
		if c.ObservedAt, err = parseTime(observed); err != nil {
			return nil, fmt.Errorf("snapshot: %s %s observed_at: %w", c.Kind, c.Subject, err)
		}
		if c.UpdatedAt, err = parseTime(updated); err != nil {
			return nil, fmt.Errorf("snapshot: %s %s updated_at: %w", c.Kind, c.Subject, err)
		}
		snap.Current = append(snap.Current, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	return snap, nil
}
