package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"

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
	if snap.Change, err = changeClock(ctx, tx); err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	if snap.Current, err = readCurrent(ctx, tx, `WHERE deleted = 0`, `ORDER BY agent_id, kind, subject`); err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	return snap, nil
}

// currentColumns are the columns readCurrent scans.
const currentColumns = `agent_id, kind, subject, plugin, host, op, observed_at, attributes, seq, updated_at, deleted`

// readCurrent reads rows of current chosen by where, ordered by order.
func readCurrent(ctx context.Context, tx *sql.Tx, where, order string, args ...any) ([]store.Current, error) {
	rows, err := tx.QueryContext(ctx, `SELECT `+currentColumns+` FROM current `+where+` `+order, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Current
	for rows.Next() {
		var c store.Current
		var op, observed, updated, attrs string
		var seq int64
		if err := rows.Scan(&c.AgentID, &c.Kind, &c.Subject, &c.Plugin, &c.Host, &op, &observed, &attrs, &seq, &updated, &c.Deleted); err != nil {
			return nil, err
		}
		c.Op, c.Seq, c.Attributes = evidence.Op(op), uint64(seq), []byte(attrs)
		if c.ObservedAt, err = parseTime(observed); err != nil {
			return nil, fmt.Errorf("%s %s observed_at: %w", c.Kind, c.Subject, err)
		}
		if c.UpdatedAt, err = parseTime(updated); err != nil {
			return nil, fmt.Errorf("%s %s updated_at: %w", c.Kind, c.Subject, err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func changeClock(ctx context.Context, tx *sql.Tx) (int64, error) {
	var v int64
	if err := tx.QueryRowContext(ctx, `SELECT value FROM change_clock WHERE id = 1`).Scan(&v); err != nil {
		return 0, fmt.Errorf("read change clock: %w", err)
	}
	return v, nil
}

// Changes returns the agents and rows of current written after the change
// clock value since, deleted rows included, in one read transaction.
func (db *DB) Changes(ctx context.Context, since int64) (*store.Changes, error) {
	tx, err := db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("read changes: %w", err)
	}
	defer tx.Rollback()
	ch := &store.Changes{}
	if ch.Through, err = changeClock(ctx, tx); err != nil {
		return nil, fmt.Errorf("read changes: %w", err)
	}
	if ch.Through == since {
		return ch, nil
	}
	// No ORDER BY: the planner would walk a whole table in that order
	// instead of the few rows the change_seq index finds; they are sorted
	// here.
	rows, err := tx.QueryContext(ctx, `SELECT `+agentColumns+` FROM agents WHERE change_seq > ?`, since)
	if err != nil {
		return nil, fmt.Errorf("read changed agents: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		a, err := scanAgent(rows)
		if err != nil {
			return nil, fmt.Errorf("read changed agents: %w", err)
		}
		ch.Agents = append(ch.Agents, *a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read changed agents: %w", err)
	}
	slices.SortFunc(ch.Agents, func(a, b store.Agent) int { return cmp.Or(a.EnrolledAt.Compare(b.EnrolledAt), cmp.Compare(a.ID, b.ID)) })
	if ch.Current, err = readCurrent(ctx, tx, `WHERE change_seq > ?`, ``, since); err != nil {
		return nil, fmt.Errorf("read changed records: %w", err)
	}
	slices.SortFunc(ch.Current, func(a, b store.Current) int {
		return cmp.Or(cmp.Compare(a.AgentID, b.AgentID), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Subject, b.Subject))
	})
	return ch, nil
}

var _ store.ChangeFeed = (*DB)(nil)
