package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/annexa/annexa/collector/internal/store"
)

// latestStatuses reads the newest status change of every control.
func latestStatuses(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}) (map[string]store.StatusChange, error) {
	rows, err := q.QueryContext(ctx, `SELECT s.control_id, s.status, s.since FROM status_changes s
		JOIN (SELECT control_id, MAX(evaluation_id) AS e FROM status_changes GROUP BY control_id) m
		ON s.control_id = m.control_id AND s.evaluation_id = m.e`)
	if err != nil {
		return nil, fmt.Errorf("read control statuses: %w", err)
	}
	defer rows.Close()
	out := map[string]store.StatusChange{}
	for rows.Next() {
		var c store.StatusChange
		var since string
		if err := rows.Scan(&c.ControlID, &c.Status, &since); err != nil {
			return nil, fmt.Errorf("read control statuses: %w", err)
		}
		if c.Since, err = parseTime(since); err != nil {
			return nil, fmt.Errorf("read control status %s: since: %w", c.ControlID, err)
		}
		out[c.ControlID] = c
	}
	return out, rows.Err()
}

// RecordEvaluation stores a pass: one row, plus one status_changes row per
// control whose status differs from its latest recorded one.
func (db *DB) RecordEvaluation(ctx context.Context, ev store.Evaluation) (int64, error) {
	counts, err := json.Marshal(ev.Counts)
	if err != nil {
		return 0, fmt.Errorf("record evaluation: %w", err)
	}
	if ev.At.IsZero() {
		ev.At = db.now()
	}
	at := formatTime(ev.At)
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("record evaluation: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `INSERT INTO evaluations (at, catalog_version, counts) VALUES (?, ?, ?)`, at, ev.CatalogVersion, string(counts))
	if err != nil {
		return 0, fmt.Errorf("record evaluation: %w", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("record evaluation: %w", err)
	}
	last, err := latestStatuses(ctx, tx)
	if err != nil {
		return 0, err
	}
	for cid, status := range ev.Statuses {
		if prev, ok := last[cid]; ok && prev.Status == status {
			continue
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO status_changes (control_id, evaluation_id, status, since) VALUES (?, ?, ?, ?)`,
			cid, id, status, at); err != nil {
			return 0, fmt.Errorf("record evaluation: control %s: %w", cid, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("record evaluation: commit: %w", err)
	}
	return id, nil
}

// CurrentStatuses returns each control's latest status and since when.
func (db *DB) CurrentStatuses(ctx context.Context) (map[string]store.StatusChange, error) {
	return latestStatuses(ctx, db.read)
}

// EvaluationTrend returns passes from a time on, oldest first.
func (db *DB) EvaluationTrend(ctx context.Context, from time.Time, limit int) ([]store.Evaluation, error) {
	q := `SELECT id, at, catalog_version, counts FROM evaluations WHERE at >= ? ORDER BY id DESC`
	args := []any{formatTime(from)}
	if limit > 0 {
		q += ` LIMIT ?`
		args = append(args, limit)
	}
	rows, err := db.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read evaluation trend: %w", err)
	}
	defer rows.Close()
	out := []store.Evaluation{}
	for rows.Next() {
		var ev store.Evaluation
		var at, counts string
		if err := rows.Scan(&ev.ID, &at, &ev.CatalogVersion, &counts); err != nil {
			return nil, fmt.Errorf("read evaluation trend: %w", err)
		}
		if ev.At, err = parseTime(at); err != nil {
			return nil, fmt.Errorf("read evaluation %d: at: %w", ev.ID, err)
		}
		if err := json.Unmarshal([]byte(counts), &ev.Counts); err != nil {
			return nil, fmt.Errorf("read evaluation %d: counts: %w", ev.ID, err)
		}
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read evaluation trend: %w", err)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

// ControlHistory returns one control's status changes, oldest first.
func (db *DB) ControlHistory(ctx context.Context, controlID string) ([]store.StatusChange, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT control_id, status, since FROM status_changes WHERE control_id = ? ORDER BY evaluation_id`, controlID)
	if err != nil {
		return nil, fmt.Errorf("read history of %s: %w", controlID, err)
	}
	defer rows.Close()
	out := []store.StatusChange{}
	for rows.Next() {
		var c store.StatusChange
		var since string
		if err := rows.Scan(&c.ControlID, &c.Status, &since); err != nil {
			return nil, fmt.Errorf("read history of %s: %w", controlID, err)
		}
		if c.Since, err = parseTime(since); err != nil {
			return nil, fmt.Errorf("read history of %s: %w", controlID, err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

var _ store.Evaluations = (*DB)(nil)
