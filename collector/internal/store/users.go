package store

import (
	"context"
	"time"
)

// Role is what a web UI user may do: RoleAdmin may change what the UI can
// change, RoleAuditor only reads (the same roles as API keys, apikeys.go).
type Role string

// Valid reports whether r is one of the known roles.
func (r Role) Valid() bool { return r == RoleAdmin || r == RoleAuditor }

// User is one person who may log in to the web UI.
type User struct {
	Name string
	Role Role
	// PasswordHash is a bcrypt hash; the password itself is never stored.
	PasswordHash string
	CreatedAt    time.Time
}

// Session is one logged-in browser. Only the SHA-256 of the session token
// is stored, so a copy of the database does not let anyone in.
type Session struct {
	TokenHash string
	User      string
	Role      Role
	// CSRF is the token every form of this session must carry.
	CSRF      string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Users keeps web UI users and their sessions. Each method is one
// transaction.
type Users interface {
	// AddUser creates a user; ECONFLICT when the name is taken, unless
	// replace is set, in which case role and password are replaced and the
	// user's sessions end.
	AddUser(ctx context.Context, u User, replace bool) error
	// User returns one user; ENOTFOUND when there is none.
	User(ctx context.Context, name string) (*User, error)
	// ListUsers returns every user, by name.
	ListUsers(ctx context.Context) ([]User, error)
	// CreateSession stores a session and drops expired ones.
	CreateSession(ctx context.Context, s Session) error
	// Session returns the live session with that token hash, with the
	// user's current role; ENOTFOUND when unknown or expired at now.
	Session(ctx context.Context, tokenHash string, now time.Time) (*Session, error)
	// DeleteSession ends a session; ending an unknown one is no error.
	DeleteSession(ctx context.Context, tokenHash string) error
}
