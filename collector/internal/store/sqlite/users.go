package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/annexa/annexa/collector/internal/store"
)

// AddUser creates or, with replace, replaces a web UI user.
func (db *DB) AddUser(ctx context.Context, u store.User, replace bool) error {
	if !u.Role.Valid() {
		return store.Errorf(store.EINVALID, "role %q is not one of admin, auditor", u.Role)
	}
	if u.Name == "" || u.PasswordHash == "" {
		return store.Errorf(store.EINVALID, "a user needs a name and a password hash")
	}
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("add user: %w", err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM users WHERE name = ?`, u.Name).Scan(&n); err != nil {
		return fmt.Errorf("add user %s: %w", u.Name, err)
	}
	if n > 0 && !replace {
		return store.Errorf(store.ECONFLICT, "user %q exists already; use --replace to set a new password or role", u.Name)
	}
	created := u.CreatedAt
	if created.IsZero() {
		created = db.now()
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO users (name, role, password_hash, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET role = excluded.role, password_hash = excluded.password_hash`,
		u.Name, string(u.Role), u.PasswordHash, formatTime(created)); err != nil {
		return fmt.Errorf("add user %s: %w", u.Name, err)
	}
	// A new password or role must not leave old sessions with the old rights.
	if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_name = ?`, u.Name); err != nil {
		return fmt.Errorf("add user %s: end sessions: %w", u.Name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("add user %s: commit: %w", u.Name, err)
	}
	return nil
}

// User returns one user.
func (db *DB) User(ctx context.Context, name string) (*store.User, error) {
	var u store.User
	var role, created string
	err := db.read.QueryRowContext(ctx, `SELECT name, role, password_hash, created_at FROM users WHERE name = ?`, name).
		Scan(&u.Name, &role, &u.PasswordHash, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.Errorf(store.ENOTFOUND, "no user %q", name)
	}
	if err != nil {
		return nil, fmt.Errorf("read user %s: %w", name, err)
	}
	u.Role = store.Role(role)
	if u.CreatedAt, err = parseTime(created); err != nil {
		return nil, fmt.Errorf("read user %s: created_at: %w", name, err)
	}
	return &u, nil
}

// ListUsers returns every user by name, without password hashes.
func (db *DB) ListUsers(ctx context.Context) ([]store.User, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT name, role, created_at FROM users ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var out []store.User
	for rows.Next() {
		var u store.User
		var role, created string
		if err := rows.Scan(&u.Name, &role, &created); err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		u.Role = store.Role(role)
		if u.CreatedAt, err = parseTime(created); err != nil {
			return nil, fmt.Errorf("list users: %s created_at: %w", u.Name, err)
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// CreateSession stores s and removes sessions that have expired.
func (db *DB) CreateSession(ctx context.Context, s store.Session) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at <= ?`, formatTime(s.CreatedAt)); err != nil {
		return fmt.Errorf("create session: drop expired: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO sessions (token_hash, user_name, csrf, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
		s.TokenHash, s.User, s.CSRF, formatTime(s.CreatedAt), formatTime(s.ExpiresAt)); err != nil {
		return fmt.Errorf("create session for %s: %w", s.User, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("create session: commit: %w", err)
	}
	return nil
}

// Session returns a live session joined with its user's current role.
func (db *DB) Session(ctx context.Context, tokenHash string, now time.Time) (*store.Session, error) {
	var s store.Session
	var role, created, expires string
	err := db.read.QueryRowContext(ctx, `SELECT s.token_hash, s.user_name, u.role, s.csrf, s.created_at, s.expires_at
		FROM sessions s JOIN users u ON u.name = s.user_name WHERE s.token_hash = ? AND s.expires_at > ?`,
		tokenHash, formatTime(now)).Scan(&s.TokenHash, &s.User, &role, &s.CSRF, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.Errorf(store.ENOTFOUND, "no live session")
	}
	if err != nil {
		return nil, fmt.Errorf("read session: %w", err)
	}
	s.Role = store.Role(role)
	if s.CreatedAt, err = parseTime(created); err != nil {
		return nil, fmt.Errorf("read session: %w", err)
	}
	if s.ExpiresAt, err = parseTime(expires); err != nil {
		return nil, fmt.Errorf("read session: %w", err)
	}
	return &s, nil
}

// DeleteSession ends a session.
func (db *DB) DeleteSession(ctx context.Context, tokenHash string) error {
	if _, err := db.write.ExecContext(ctx, `DELETE FROM sessions WHERE token_hash = ?`, tokenHash); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}
