package sqlite

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/annexa/annexa/collector/internal/store"
)

func newID(prefix string) string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// logEvent appends one entry to the governance log inside tx, linked to
// the entry before it.
func logEvent(ctx context.Context, tx *sql.Tx, at, actor, action, ref string, detail any) error {
	d, err := json.Marshal(detail)
	if err != nil {
		return fmt.Errorf("governance log: encode %s: %w", action, err)
	}
	var prev string
	err = tx.QueryRowContext(ctx, `SELECT hash FROM governance_log ORDER BY id DESC LIMIT 1`).Scan(&prev)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("governance log: read head: %w", err)
	}
	hash := govHash(prev, at, actor, action, ref, string(d))
	if _, err := tx.ExecContext(ctx, `INSERT INTO governance_log (at, actor, action, ref, detail, prev_hash, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, at, actor, action, ref, string(d), prev, hash); err != nil {
		return fmt.Errorf("governance log: append %s: %w", action, err)
	}
	return nil
}

func govHash(prev string, fields ...string) string {
	h := sha256.New()
	h.Write([]byte(prev))
	for _, f := range fields {
		writeField(h, []byte(f))
	}
	return hex.EncodeToString(h.Sum(nil))
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

// AddException validates and stores an exception and logs it.
func (db *DB) AddException(ctx context.Context, n store.NewException) (*store.Exception, error) {
	now := db.now()
	if err := n.Validate(now); err != nil {
		return nil, err
	}
	if strings.TrimSpace(n.CreatedBy) == "" {
		return nil, store.Errorf(store.EINVALID, "who records the exception is unknown (created_by is empty)")
	}
	e := &store.Exception{ID: newID("exc_"), CheckID: n.CheckID, SubjectPattern: n.SubjectPattern, HostPattern: n.HostPattern,
		Owner: n.Owner, Approver: n.Approver, Reason: n.Reason, CreatedBy: n.CreatedBy,
		CreatedAt: now.UTC().Truncate(0), ExpiresAt: n.ExpiresAt.UTC()}
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("add exception: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO exceptions (id, check_id, subject_pattern, host_pattern, owner, approver, reason,
		created_by, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.ID, e.CheckID, e.SubjectPattern, e.HostPattern, e.Owner, e.Approver, e.Reason, e.CreatedBy,
		formatTime(e.CreatedAt), formatTime(e.ExpiresAt)); err != nil {
		return nil, fmt.Errorf("add exception: %w", err)
	}
	if err := logEvent(ctx, tx, formatTime(now), e.CreatedBy, store.ActionExceptionAdd, e.ID, e); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("add exception: commit: %w", err)
	}
	return e, nil
}

const exceptionColumns = `id, check_id, subject_pattern, host_pattern, owner, approver, reason, created_by, created_at, expires_at, revoked_at, revoked_by`

func scanException(r rowScanner) (*store.Exception, error) {
	var e store.Exception
	var created, expires string
	var revoked, revokedBy sql.NullString
	if err := r.Scan(&e.ID, &e.CheckID, &e.SubjectPattern, &e.HostPattern, &e.Owner, &e.Approver, &e.Reason, &e.CreatedBy,
		&created, &expires, &revoked, &revokedBy); err != nil {
		return nil, err
	}
	var err error
	if e.CreatedAt, err = parseTime(created); err != nil {
		return nil, fmt.Errorf("exception %s: created_at: %w", e.ID, err)
	}
	if e.ExpiresAt, err = parseTime(expires); err != nil {
		return nil, fmt.Errorf("exception %s: expires_at: %w", e.ID, err)
	}
	if e.RevokedAt, err = nullTime(revoked); err != nil {
		return nil, fmt.Errorf("exception %s: revoked_at: %w", e.ID, err)
	}
	e.RevokedBy = revokedBy.String
	return &e, nil
}

// Exceptions returns every exception, newest first.
func (db *DB) Exceptions(ctx context.Context) ([]store.Exception, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT `+exceptionColumns+` FROM exceptions ORDER BY created_at DESC, id`)
	if err != nil {
		return nil, fmt.Errorf("list exceptions: %w", err)
	}
	defer rows.Close()
	out := []store.Exception{}
	for rows.Next() {
		e, err := scanException(rows)
		if err != nil {
			return nil, fmt.Errorf("list exceptions: %w", err)
		}
		out = append(out, *e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list exceptions: %w", err)
	}
	return out, nil
}

// RevokeException ends an exception now and logs it.
func (db *DB) RevokeException(ctx context.Context, id, by string) (*store.Exception, error) {
	if strings.TrimSpace(by) == "" {
		return nil, store.Errorf(store.EINVALID, "who revokes the exception is unknown (revoked_by is empty)")
	}
	now := db.now()
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("revoke exception: %w", err)
	}
	defer tx.Rollback()
	e, err := scanException(tx.QueryRowContext(ctx, `SELECT `+exceptionColumns+` FROM exceptions WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.Errorf(store.ENOTFOUND, "no exception with id %q; `annexa-collector exceptions list` shows them", id)
	}
	if err != nil {
		return nil, fmt.Errorf("revoke exception %s: %w", id, err)
	}
	if !e.RevokedAt.IsZero() {
		return nil, store.Errorf(store.ECONFLICT, "exception %s was already revoked at %s by %s", id, e.RevokedAt.Format("2006-01-02T15:04:05Z"), e.RevokedBy)
	}
	e.RevokedAt, e.RevokedBy = now.UTC(), by
	if _, err := tx.ExecContext(ctx, `UPDATE exceptions SET revoked_at = ?, revoked_by = ? WHERE id = ?`,
		formatTime(now), by, id); err != nil {
		return nil, fmt.Errorf("revoke exception %s: %w", id, err)
	}
	if err := logEvent(ctx, tx, formatTime(now), by, store.ActionExceptionRevoke, id, map[string]any{"id": id}); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("revoke exception %s: commit: %w", id, err)
	}
	return e, nil
}

// AddAttestation validates and stores an attestation and logs it.
func (db *DB) AddAttestation(ctx context.Context, n store.NewAttestation) (*store.Attestation, error) {
	now := db.now()
	if err := n.Validate(now); err != nil {
		return nil, err
	}
	if strings.TrimSpace(n.CreatedBy) == "" {
		return nil, store.Errorf(store.EINVALID, "who records the attestation is unknown (created_by is empty)")
	}
	a := &store.Attestation{ID: newID("att_"), ControlID: n.ControlID, DocumentRef: n.DocumentRef, Author: n.Author, Note: n.Note,
		CreatedBy: n.CreatedBy, CreatedAt: now.UTC(), ExpiresAt: n.ExpiresAt.UTC()}
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("add attestation: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO attestations (id, control_id, document_ref, author, note, created_by, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, a.ID, a.ControlID, a.DocumentRef, a.Author, a.Note, a.CreatedBy,
		formatTime(a.CreatedAt), formatTime(a.ExpiresAt)); err != nil {
		return nil, fmt.Errorf("add attestation: %w", err)
	}
	if err := logEvent(ctx, tx, formatTime(now), a.CreatedBy, store.ActionAttestationAdd, a.ID, a); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("add attestation: commit: %w", err)
	}
	return a, nil
}

const attestationColumns = `id, control_id, document_ref, author, note, created_by, created_at, expires_at, revoked_at, revoked_by`

func scanAttestation(r rowScanner) (*store.Attestation, error) {
	var a store.Attestation
	var created, expires string
	var revoked, revokedBy sql.NullString
	if err := r.Scan(&a.ID, &a.ControlID, &a.DocumentRef, &a.Author, &a.Note, &a.CreatedBy, &created, &expires, &revoked, &revokedBy); err != nil {
		return nil, err
	}
	var err error
	if a.CreatedAt, err = parseTime(created); err != nil {
		return nil, fmt.Errorf("attestation %s: created_at: %w", a.ID, err)
	}
	if a.ExpiresAt, err = parseTime(expires); err != nil {
		return nil, fmt.Errorf("attestation %s: expires_at: %w", a.ID, err)
	}
	if a.RevokedAt, err = nullTime(revoked); err != nil {
		return nil, fmt.Errorf("attestation %s: revoked_at: %w", a.ID, err)
	}
	a.RevokedBy = revokedBy.String
	return &a, nil
}

// Attestations returns every attestation, newest first.
func (db *DB) Attestations(ctx context.Context) ([]store.Attestation, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT `+attestationColumns+` FROM attestations ORDER BY created_at DESC, id`)
	if err != nil {
		return nil, fmt.Errorf("list attestations: %w", err)
	}
	defer rows.Close()
	out := []store.Attestation{}
	for rows.Next() {
		a, err := scanAttestation(rows)
		if err != nil {
			return nil, fmt.Errorf("list attestations: %w", err)
		}
		out = append(out, *a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list attestations: %w", err)
	}
	return out, nil
}

// RevokeAttestation ends an attestation now and logs it.
func (db *DB) RevokeAttestation(ctx context.Context, id, by string) (*store.Attestation, error) {
	if strings.TrimSpace(by) == "" {
		return nil, store.Errorf(store.EINVALID, "who revokes the attestation is unknown (revoked_by is empty)")
	}
	now := db.now()
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("revoke attestation: %w", err)
	}
	defer tx.Rollback()
	a, err := scanAttestation(tx.QueryRowContext(ctx, `SELECT `+attestationColumns+` FROM attestations WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.Errorf(store.ENOTFOUND, "no attestation with id %q; `annexa-collector attest list` shows them", id)
	}
	if err != nil {
		return nil, fmt.Errorf("revoke attestation %s: %w", id, err)
	}
	if !a.RevokedAt.IsZero() {
		return nil, store.Errorf(store.ECONFLICT, "attestation %s was already revoked at %s by %s", id, a.RevokedAt.Format("2006-01-02T15:04:05Z"), a.RevokedBy)
	}
	a.RevokedAt, a.RevokedBy = now.UTC(), by
	if _, err := tx.ExecContext(ctx, `UPDATE attestations SET revoked_at = ?, revoked_by = ? WHERE id = ?`,
		formatTime(now), by, id); err != nil {
		return nil, fmt.Errorf("revoke attestation %s: %w", id, err)
	}
	if err := logEvent(ctx, tx, formatTime(now), by, store.ActionAttestationRevoke, id, map[string]any{"id": id}); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("revoke attestation %s: commit: %w", id, err)
	}
	return a, nil
}

// SetSoA records a control's applicability and logs it; the previous
// entry survives in the log.
func (db *DB) SetSoA(ctx context.Context, e store.SoAEntry) (*store.SoAEntry, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	now := db.now()
	e.SetAt = now.UTC()
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("set SoA: %w", err)
	}
	defer tx.Rollback()
	if err := putSoA(ctx, tx, now, e); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("set SoA %s: commit: %w", e.ControlID, err)
	}
	return &e, nil
}

// putSoA writes e (SetAt already set to now) and its soa.set log entry
// inside tx: the one path of a single edit and of an import.
func putSoA(ctx context.Context, tx *sql.Tx, now time.Time, e store.SoAEntry) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO soa (control_id, applicable, justification, author, set_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (control_id) DO UPDATE SET applicable = excluded.applicable, justification = excluded.justification,
		author = excluded.author, set_at = excluded.set_at`, e.ControlID, e.Applicable, e.Justification, e.Author, formatTime(now)); err != nil {
		return fmt.Errorf("set SoA %s: %w", e.ControlID, err)
	}
	return logEvent(ctx, tx, formatTime(now), e.Author, store.ActionSoASet, e.ControlID, e)
}

// SoA returns the current entries, by control id.
func (db *DB) SoA(ctx context.Context) ([]store.SoAEntry, error) { return readSoA(ctx, db.read) }

func readSoA(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}) ([]store.SoAEntry, error) {
	rows, err := q.QueryContext(ctx, `SELECT control_id, applicable, justification, author, set_at FROM soa ORDER BY control_id`)
	if err != nil {
		return nil, fmt.Errorf("read SoA: %w", err)
	}
	defer rows.Close()
	out := []store.SoAEntry{}
	for rows.Next() {
		var e store.SoAEntry
		var at string
		if err := rows.Scan(&e.ControlID, &e.Applicable, &e.Justification, &e.Author, &at); err != nil {
			return nil, fmt.Errorf("read SoA: %w", err)
		}
		if e.SetAt, err = parseTime(at); err != nil {
			return nil, fmt.Errorf("read SoA %s: set_at: %w", e.ControlID, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read SoA: %w", err)
	}
	return out, nil
}

// GovernanceLog returns log entries after id after, oldest first.
func (db *DB) GovernanceLog(ctx context.Context, after int64, limit int) ([]store.GovernanceEvent, error) {
	q := `SELECT id, at, actor, action, ref, detail, hash FROM governance_log WHERE id > ? ORDER BY id`
	args := []any{after}
	if limit > 0 {
		q += ` LIMIT ?`
		args = append(args, limit)
	}
	rows, err := db.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read governance log: %w", err)
	}
	defer rows.Close()
	out := []store.GovernanceEvent{}
	for rows.Next() {
		var ev store.GovernanceEvent
		var at, detail string
		if err := rows.Scan(&ev.ID, &at, &ev.Actor, &ev.Action, &ev.Ref, &detail, &ev.Hash); err != nil {
			return nil, fmt.Errorf("read governance log: %w", err)
		}
		if ev.At, err = parseTime(at); err != nil {
			return nil, fmt.Errorf("read governance log %d: at: %w", ev.ID, err)
		}
		ev.Detail = json.RawMessage(detail)
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read governance log: %w", err)
	}
	return out, nil
}

// verifyGovernance walks the governance log and recomputes every hash.
func verifyGovernance(ctx context.Context, tx *sql.Tx) (int, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, at, actor, action, ref, detail, prev_hash, hash FROM governance_log ORDER BY id`)
	if err != nil {
		return 0, fmt.Errorf("verify governance log: %w", err)
	}
	defer rows.Close()
	prev, n := "", 0
	for rows.Next() {
		var id int64
		var at, actor, action, ref, detail, prevHash, hash string
		if err := rows.Scan(&id, &at, &actor, &action, &ref, &detail, &prevHash, &hash); err != nil {
			return n, &store.ChainError{RowID: id, Log: "governance_log", Reason: fmt.Sprintf("cannot be read: %v", err)}
		}
		if prevHash != prev {
			return n, &store.ChainError{RowID: id, Log: "governance_log", Reason: "prev_hash does not match the hash of the entry before it: an entry was removed, inserted or reordered"}
		}
		if govHash(prev, at, actor, action, ref, detail) != hash {
			return n, &store.ChainError{RowID: id, Log: "governance_log", Reason: "content does not match its hash: the entry was changed after it was written"}
		}
		prev = hash
		n++
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("verify governance log: %w", err)
	}
	return n, nil
}

var _ store.Governance = (*DB)(nil)
