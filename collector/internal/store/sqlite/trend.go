package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/annexa/annexa/collector/internal/store"
)

// RecordEvaluation stores framework counts and the controls whose status
// changed since the last recorded evaluation, in one transaction.
func (db *DB) RecordEvaluation(ctx context.Context, at time.Time, points []store.TrendPoint, statuses map[string]string) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("record evaluation: %w", err)
	}
	defer tx.Rollback()
	ts := formatTime(at)
	for _, p := range points {
		counts, err := json.Marshal(p.Counts)
		if err != nil {
			return fmt.Errorf("record evaluation: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO trend_points (at, framework, counts) VALUES (?, ?, ?)`,
			ts, p.Framework, string(counts)); err != nil {
			return fmt.Errorf("record evaluation: %s: %w", p.Framework, err)
		}
	}
	last := map[string]string{}
	rows, err := tx.QueryContext(ctx, `SELECT c.control_id, c.status FROM control_status c
		JOIN (SELECT control_id, MAX(since) AS since FROM control_status GROUP BY control_id) m
		ON m.control_id = c.control_id AND m.since = c.since`)
	if err != nil {
		return fmt.Errorf("record evaluation: read statuses: %w", err)
	}
	for rows.Next() {
		var id, st string
		if err := rows.Scan(&id, &st); err != nil {
			rows.Close()
			return fmt.Errorf("record evaluation: %w", err)
		}
		last[id] = st
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("record evaluation: %w", err)
	}
	for id, st := range statuses {
		if last[id] == st {
			continue
		}
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO control_status (control_id, since, status) VALUES (?, ?, ?)`, id, ts, st); err != nil {
			return fmt.Errorf("record evaluation: %s: %w", id, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("record evaluation: commit: %w", err)
	}
	return nil
}

// Trend returns the points at or after since, oldest first.
func (db *DB) Trend(ctx context.Context, since time.Time) ([]store.TrendPoint, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT at, framework, counts FROM trend_points WHERE at >= ? ORDER BY at, framework`, formatTime(since))
	if err != nil {
		return nil, fmt.Errorf("trend: %w", err)
	}
	defer rows.Close()
	var out []store.TrendPoint
	for rows.Next() {
		var p store.TrendPoint
		var at, counts string
		if err := rows.Scan(&at, &p.Framework, &counts); err != nil {
			return nil, fmt.Errorf("trend: %w", err)
		}
		if p.At, err = parseTime(at); err != nil {
			return nil, fmt.Errorf("trend: %w", err)
		}
		if err := json.Unmarshal([]byte(counts), &p.Counts); err != nil {
			return nil, fmt.Errorf("trend: %s at %s: %w", p.Framework, at, err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// ControlHistory returns a control's status changes, newest first.
func (db *DB) ControlHistory(ctx context.Context, controlID string, limit int) ([]store.ControlStatus, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT control_id, status, since FROM control_status WHERE control_id = ? ORDER BY since DESC LIMIT ?`, controlID, limit)
	if err != nil {
		return nil, fmt.Errorf("control history %s: %w", controlID, err)
	}
	defer rows.Close()
	var out []store.ControlStatus
	for rows.Next() {
		var c store.ControlStatus
		var since string
		if err := rows.Scan(&c.ControlID, &c.Status, &since); err != nil {
			return nil, fmt.Errorf("control history %s: %w", controlID, err)
		}
		if c.Since, err = parseTime(since); err != nil {
			return nil, fmt.Errorf("control history %s: %w", controlID, err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

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
