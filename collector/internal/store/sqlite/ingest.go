package sqlite

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/annexa/annexa/collector/internal/store"
	"github.com/annexa/annexa/evidence"
)

// Ingest applies a batch in one transaction: either every new record of
// the batch and the agent's new high-water mark are stored, or nothing is.
// Records at or below the high-water mark are duplicates of what an
// earlier, acknowledged batch carried, and are skipped.
func (db *DB) Ingest(ctx context.Context, b *store.Batch) (*store.IngestResult, error) {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	defer tx.Rollback()

	var acked int64
	var host string
	var revoked sql.NullString
	err = tx.QueryRowContext(ctx, `SELECT acked_through, host, revoked_at FROM agents WHERE id = ?`, b.AgentID).Scan(&acked, &host, &revoked)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.Errorf(store.EUNAUTHORIZED, "agent %q is not enrolled here; enroll it with a new token", b.AgentID)
	}
	if err != nil {
		return nil, fmt.Errorf("ingest: read agent %s: %w", b.AgentID, err)
	}
	if revoked.Valid {
		return nil, store.Errorf(store.EUNAUTHORIZED, "agent %q was revoked; enroll it again with a new token", b.AgentID)
	}

	// One value of the change clock stamps every row this batch writes
	// (migration 0040).
	var change int64
	if err := tx.QueryRowContext(ctx, `UPDATE change_clock SET value = value + 1 WHERE id = 1 RETURNING value`).Scan(&change); err != nil {
		return nil, fmt.Errorf("ingest: advance the change clock: %w", err)
	}
	now := db.now()
	ap := &applier{tx: tx, agentID: b.AgentID, agentHost: host, received: formatTime(now), change: change}
	res := &store.IngestResult{}
	for i := range b.Records {
		r := &b.Records[i]
		if r.Seq <= uint64(acked) {
			res.Duplicates++
			continue
		}
		if err := ap.apply(ctx, r); err != nil {
			return nil, fmt.Errorf("ingest: agent %s seq %d: %w", b.AgentID, r.Seq, err)
		}
		res.Stored++
	}
	newAcked := uint64(acked)
	if len(b.Records) > 0 && b.LastSeq > newAcked {
		newAcked = b.LastSeq
	}
	res.AckedThrough = newAcked

	var status, version any
	if b.Status != nil {
		j, err := json.Marshal(b.Status)
		if err != nil {
			return nil, fmt.Errorf("ingest: encode status: %w", err)
		}
		status, version = string(j), b.Status.Version
	}
	if _, err := tx.ExecContext(ctx, `UPDATE agents SET last_seen_at = ?, acked_through = ?,
		status_json = COALESCE(?, status_json), agent_version = COALESCE(NULLIF(?, ''), agent_version), change_seq = ? WHERE id = ?`,
		formatTime(now), int64(newAcked), status, version, change, b.AgentID); err != nil {
		return nil, fmt.Errorf("ingest: update agent %s: %w", b.AgentID, err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("ingest: commit: %w", err)
	}
	return res, nil
}

// applier applies records of one batch inside its transaction.
type applier struct {
	tx        *sql.Tx
	agentID   string
	agentHost string
	received  string
	change    int64 // the change clock value stamped on every row written
	// prevHash is the hash of the last history row, loaded on first use.
	prevHash *string
}

// contentHash identifies what a state record says, leaving out when it was
// seen, so that an identical rescan is recognised as "no change".
func contentHash(kind, subject string, attrs []byte) string {
	h := sha256.New()
	writeField(h, []byte(kind))
	writeField(h, []byte(subject))
	writeField(h, attrs)
	return hex.EncodeToString(h.Sum(nil))
}

func (a *applier) apply(ctx context.Context, r *evidence.Record) error {
	attrs, err := compactJSON(r.Attributes)
	if err != nil {
		return err
	}
	host := r.Host
	if host == "" {
		host = a.agentHost
	}
	hash := contentHash(r.Kind, r.Subject, attrs)
	row := historyRow{
		AgentID: a.agentID, Seq: sql.NullInt64{Int64: int64(r.Seq), Valid: true},
		Kind: r.Kind, Subject: r.Subject, Plugin: r.Plugin, Host: host, Op: string(r.Op),
		ObservedAt: formatTime(r.ObservedAt), Attributes: string(attrs), ReceivedAt: a.received,
	}

	var oldHash, oldOp string
	var deleted bool
	err = a.tx.QueryRowContext(ctx, `SELECT content_hash, op, deleted FROM current WHERE agent_id = ? AND kind = ? AND subject = ?`,
		a.agentID, r.Kind, r.Subject).Scan(&oldHash, &oldOp, &deleted)
	exists := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("read current: %w", err)
	}
	live := exists && !deleted

	switch r.Op {
	case evidence.OpUpsert:
		if live && oldOp == string(evidence.OpUpsert) && oldHash == hash {
			// Same content seen again: only the time moves, so repeated full
			// scans (and a rescan after a crash) leave history unchanged.
			if _, err := a.tx.ExecContext(ctx, `UPDATE current SET observed_at = MAX(observed_at, ?), seq = MAX(seq, ?), updated_at = ?, change_seq = ?
				WHERE agent_id = ? AND kind = ? AND subject = ?`,
				row.ObservedAt, int64(r.Seq), a.received, a.change, a.agentID, r.Kind, r.Subject); err != nil {
				return fmt.Errorf("touch current: %w", err)
			}
		} else {
			if err := a.putCurrent(ctx, &row, hash); err != nil {
				return err
			}
			if err := a.appendHistory(ctx, &row); err != nil {
				return err
			}
		}
		if r.Kind == evidence.KindScanComplete {
			return a.scanComplete(ctx, r)
		}
	case evidence.OpDelete:
		if !live {
			return nil
		}
		if _, err := a.tx.ExecContext(ctx, `UPDATE current SET deleted = 1, op = 'delete', observed_at = ?, seq = ?, updated_at = ?, change_seq = ?
			WHERE agent_id = ? AND kind = ? AND subject = ?`,
			row.ObservedAt, int64(r.Seq), a.received, a.change, a.agentID, r.Kind, r.Subject); err != nil {
			return fmt.Errorf("delete current: %w", err)
		}
		return a.appendHistory(ctx, &row)
	case evidence.OpEvent:
		// The latest event stays visible as current state (e.g. the last
		// plugin.health), and every event goes to history.
		if err := a.putCurrent(ctx, &row, hash); err != nil {
			return err
		}
		return a.appendHistory(ctx, &row)
	default:
		return fmt.Errorf("op %q is not one of upsert, delete, event", r.Op)
	}
	return nil
}

func (a *applier) putCurrent(ctx context.Context, row *historyRow, hash string) error {
	_, err := a.tx.ExecContext(ctx, `INSERT INTO current
		(agent_id, kind, subject, plugin, host, op, observed_at, attributes, content_hash, seq, deleted, updated_at, change_seq)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)
		ON CONFLICT (agent_id, kind, subject) DO UPDATE SET
			plugin = excluded.plugin, host = excluded.host, op = excluded.op, observed_at = excluded.observed_at,
			attributes = excluded.attributes, content_hash = excluded.content_hash, seq = excluded.seq,
			deleted = 0, updated_at = excluded.updated_at, change_seq = excluded.change_seq`,
		row.AgentID, row.Kind, row.Subject, row.Plugin, row.Host, row.Op, row.ObservedAt, row.Attributes, hash, row.Seq.Int64, a.received, a.change)
	if err != nil {
		return fmt.Errorf("write current: %w", err)
	}
	return nil
}

// scanScope is what a scan.complete record says it covered.
type scanScope struct {
	Plugin    string    `json:"plugin"`
	Kinds     []string  `json:"kinds"`
	Roots     []string  `json:"roots"`
	StartedAt time.Time `json:"started_at"`
}

// scanComplete marks deleted every live subject of the scan's plugin and
// kinds that the scan did not see (observed before it started).
func (a *applier) scanComplete(ctx context.Context, r *evidence.Record) error {
	var sc scanScope
	if err := json.Unmarshal(r.Attributes, &sc); err != nil || sc.Plugin == "" || sc.StartedAt.IsZero() || len(sc.Kinds) == 0 {
		// The API rejects such records; a store caller that skipped it gets
		// no deletions rather than deletions of the wrong scope.
		return nil
	}
	type victim struct{ kind, subject, plugin, host, attrs string }
	var victims []victim
	for _, kind := range sc.Kinds {
		rows, err := a.tx.QueryContext(ctx, `SELECT kind, subject, plugin, host, attributes FROM current
			WHERE agent_id = ? AND plugin = ? AND kind = ? AND deleted = 0 AND op = 'upsert' AND observed_at < ?
			ORDER BY subject`, a.agentID, sc.Plugin, kind, formatTime(sc.StartedAt))
		if err != nil {
			return fmt.Errorf("scan.complete: find unseen subjects: %w", err)
		}
		for rows.Next() {
			var v victim
			if err := rows.Scan(&v.kind, &v.subject, &v.plugin, &v.host, &v.attrs); err != nil {
				rows.Close()
				return fmt.Errorf("scan.complete: %w", err)
			}
			victims = append(victims, v)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("scan.complete: %w", err)
		}
	}
	observed := formatTime(r.ObservedAt)
	for _, v := range victims {
		if _, err := a.tx.ExecContext(ctx, `UPDATE current SET deleted = 1, op = 'delete', updated_at = ?, change_seq = ?
			WHERE agent_id = ? AND kind = ? AND subject = ?`, a.received, a.change, a.agentID, v.kind, v.subject); err != nil {
			return fmt.Errorf("scan.complete: delete %s: %w", v.subject, err)
		}
		// Keep the last known attributes: history should say what vanished.
		row := historyRow{
			AgentID: a.agentID, CauseSeq: sql.NullInt64{Int64: int64(r.Seq), Valid: true},
			Kind: v.kind, Subject: v.subject, Plugin: v.plugin, Host: v.host, Op: string(evidence.OpDelete),
			ObservedAt: observed, Attributes: v.attrs, ReceivedAt: a.received,
		}
		if err := a.appendHistory(ctx, &row); err != nil {
			return err
		}
	}
	return nil
}

func compactJSON(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return nil, fmt.Errorf("attributes: %w", err)
	}
	return buf.Bytes(), nil
}
