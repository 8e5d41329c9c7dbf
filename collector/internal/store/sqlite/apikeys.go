package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/annexa/annexa/collector/internal/store"
)

// CreateAPIKey stores a key and logs its creation in the governance log,
// since keys decide who may record decisions.
func (db *DB) CreateAPIKey(ctx context.Context, k store.APIKey, by string) (*store.APIKey, error) {
	if strings.TrimSpace(by) == "" {
		return nil, store.Errorf(store.EINVALID, "creating an API key needs an actor (who creates it)")
	}
	if strings.TrimSpace(k.Name) == "" {
		return nil, store.Errorf(store.EINVALID, "an API key needs a name (whose key it is)")
	}
	if k.Role != store.RoleAdmin && k.Role != store.RoleAuditor {
		return nil, store.Errorf(store.EINVALID, "role %q: want admin or auditor", k.Role)
	}
	if k.ID == "" || k.SecretHash == "" {
		return nil, store.Errorf(store.EINVALID, "an API key needs an id and a secret hash")
	}
	now := db.now()
	k.CreatedAt = now.UTC()
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("create API key: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO api_keys (id, name, role, secret_hash, created_at) VALUES (?, ?, ?, ?, ?)`,
		k.ID, k.Name, k.Role, k.SecretHash, formatTime(now)); err != nil {
		return nil, fmt.Errorf("create API key: %w", err)
	}
	if err := logEvent(ctx, tx, formatTime(now), by, "apikey.create", k.ID, map[string]string{"name": k.Name, "role": k.Role}); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("create API key: commit: %w", err)
	}
	return &k, nil
}

func scanAPIKey(r rowScanner) (*store.APIKey, error) {
	var k store.APIKey
	var created string
	var revoked sql.NullString
	if err := r.Scan(&k.ID, &k.Name, &k.Role, &k.SecretHash, &created, &revoked); err != nil {
		return nil, err
	}
	var err error
	if k.CreatedAt, err = parseTime(created); err != nil {
		return nil, fmt.Errorf("API key %s: created_at: %w", k.ID, err)
	}
	if k.RevokedAt, err = nullTime(revoked); err != nil {
		return nil, fmt.Errorf("API key %s: revoked_at: %w", k.ID, err)
	}
	return &k, nil
}

// APIKey returns one key.
func (db *DB) APIKey(ctx context.Context, id string) (*store.APIKey, error) {
	k, err := scanAPIKey(db.read.QueryRowContext(ctx, `SELECT id, name, role, secret_hash, created_at, revoked_at FROM api_keys WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.Errorf(store.ENOTFOUND, "no API key with id %q", id)
	}
	if err != nil {
		return nil, fmt.Errorf("read API key %s: %w", id, err)
	}
	return k, nil
}

// APIKeys returns every key, oldest first.
func (db *DB) APIKeys(ctx context.Context) ([]store.APIKey, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT id, name, role, secret_hash, created_at, revoked_at FROM api_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list API keys: %w", err)
	}
	defer rows.Close()
	out := []store.APIKey{}
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, fmt.Errorf("list API keys: %w", err)
		}
		out = append(out, *k)
	}
	return out, rows.Err()
}

// RevokeAPIKey makes a key stop working and logs it.
func (db *DB) RevokeAPIKey(ctx context.Context, id, by string) error {
	if strings.TrimSpace(by) == "" {
		return store.Errorf(store.EINVALID, "revoking an API key needs an actor (who revokes it)")
	}
	now := db.now()
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("revoke API key: %w", err)
	}
	defer tx.Rollback()
	var revoked sql.NullString
	err = tx.QueryRowContext(ctx, `SELECT revoked_at FROM api_keys WHERE id = ?`, id).Scan(&revoked)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Errorf(store.ENOTFOUND, "no API key with id %q; `annexa-collector apikey list` shows them", id)
	}
	if err != nil {
		return fmt.Errorf("revoke API key %s: %w", id, err)
	}
	if revoked.Valid {
		return store.Errorf(store.ECONFLICT, "API key %s was already revoked at %s", id, revoked.String)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE api_keys SET revoked_at = ? WHERE id = ?`, formatTime(now), id); err != nil {
		return fmt.Errorf("revoke API key %s: %w", id, err)
	}
	if err := logEvent(ctx, tx, formatTime(now), by, "apikey.revoke", id, map[string]string{"id": id}); err != nil {
		return err
	}
	return tx.Commit()
}

var _ store.APIKeys = (*DB)(nil)
