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

// CreateToken stores the hash of a new enrollment token.
func (db *DB) CreateToken(ctx context.Context, hash string, expiresAt time.Time, uses int) error {
	if uses < 1 {
		return store.Errorf(store.EINVALID, "a token needs at least one use, not %d", uses)
	}
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("create token: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO tokens (hash, created_at, expires_at, uses_left) VALUES (?, ?, ?, ?)`,
		hash, formatTime(db.now()), formatTime(expiresAt), uses); err != nil {
		return fmt.Errorf("create token: %w", err)
	}
	return tx.Commit()
}

const newTokenHint = "create a new one on the collector with `annexa-collector token create`"

// Enroll spends one use of a token and creates the agent, atomically, so
// that a one-use token can never enroll two hosts.
func (db *DB) Enroll(ctx context.Context, tokenHash string, a store.NewAgent) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("enroll: %w", err)
	}
	defer tx.Rollback()
	now := db.now()
	var expires string
	var uses int
	err = tx.QueryRowContext(ctx, `SELECT expires_at, uses_left FROM tokens WHERE hash = ?`, tokenHash).Scan(&expires, &uses)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Errorf(store.EUNAUTHORIZED, "the enrollment token is not known to this collector; %s", newTokenHint)
	}
	if err != nil {
		return fmt.Errorf("enroll: read token: %w", err)
	}
	exp, err := parseTime(expires)
	if err != nil {
		return fmt.Errorf("enroll: token expiry %q: %w", expires, err)
	}
	if !now.Before(exp) {
		return store.Errorf(store.EUNAUTHORIZED, "the enrollment token expired at %s; %s", exp.Format(time.RFC3339), newTokenHint)
	}
	if uses <= 0 {
		return store.Errorf(store.EUNAUTHORIZED, "the enrollment token has been used up; %s", newTokenHint)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE tokens SET uses_left = uses_left - 1 WHERE hash = ?`, tokenHash); err != nil {
		return fmt.Errorf("enroll: spend token: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO agents (id, host, agent_version, credential_hash, enrolled_at) VALUES (?, ?, ?, ?, ?)`,
		a.ID, a.Host, a.AgentVersion, a.CredentialHash, formatTime(now)); err != nil {
		return fmt.Errorf("enroll: create agent: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("enroll: commit: %w", err)
	}
	return nil
}

const agentColumns = `id, host, agent_version, credential_hash, enrolled_at, revoked_at, last_seen_at, acked_through, status_json`

type rowScanner interface{ Scan(dest ...any) error }

func scanAgent(r rowScanner) (*store.Agent, error) {
	var a store.Agent
	var enrolled string
	var revoked, seen, status sql.NullString
	var acked int64
	if err := r.Scan(&a.ID, &a.Host, &a.AgentVersion, &a.CredentialHash, &enrolled, &revoked, &seen, &acked, &status); err != nil {
		return nil, err
	}
	var err error
	if a.EnrolledAt, err = parseTime(enrolled); err != nil {
		return nil, fmt.Errorf("agent %s: enrolled_at: %w", a.ID, err)
	}
	if a.RevokedAt, err = nullTime(revoked); err != nil {
		return nil, fmt.Errorf("agent %s: revoked_at: %w", a.ID, err)
	}
	if a.LastSeenAt, err = nullTime(seen); err != nil {
		return nil, fmt.Errorf("agent %s: last_seen_at: %w", a.ID, err)
	}
	a.AckedThrough = uint64(acked)
	if status.Valid && status.String != "" {
		a.Status = new(store.AgentStatus)
		if err := json.Unmarshal([]byte(status.String), a.Status); err != nil {
			return nil, fmt.Errorf("agent %s: status_json: %w", a.ID, err)
		}
	}
	return &a, nil
}

// Agent returns one agent.
func (db *DB) Agent(ctx context.Context, id string) (*store.Agent, error) {
	a, err := scanAgent(db.read.QueryRowContext(ctx, `SELECT `+agentColumns+` FROM agents WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.Errorf(store.ENOTFOUND, "no agent with id %q", id)
	}
	if err != nil {
		return nil, fmt.Errorf("read agent %s: %w", id, err)
	}
	return a, nil
}

// Agents returns every agent, oldest enrollment first.
func (db *DB) Agents(ctx context.Context) ([]store.Agent, error) {
	tx, err := db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("list agents: %w", err)
	}
	defer tx.Rollback()
	return listAgents(ctx, tx)
}

func listAgents(ctx context.Context, tx *sql.Tx) ([]store.Agent, error) {
	rows, err := tx.QueryContext(ctx, `SELECT `+agentColumns+` FROM agents ORDER BY enrolled_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list agents: %w", err)
	}
	defer rows.Close()
	var out []store.Agent
	for rows.Next() {
		a, err := scanAgent(rows)
		if err != nil {
			return nil, fmt.Errorf("list agents: %w", err)
		}
		out = append(out, *a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list agents: %w", err)
	}
	return out, nil
}

// Revoke marks the agent revoked; revoking twice keeps the first time.
func (db *DB) Revoke(ctx context.Context, id string) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("revoke %s: %w", id, err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE agents SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?`, formatTime(db.now()), id)
	if err != nil {
		return fmt.Errorf("revoke %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.Errorf(store.ENOTFOUND, "no agent with id %q; `annexa-collector agents list` shows the ids", id)
	}
	return tx.Commit()
}
