package store

import (
	"context"
	"time"
)

// Roles of API keys. An admin records and revokes exceptions, attestations
// and SoA entries; an auditor reads them.
const (
	RoleAdmin   = "admin"
	RoleAuditor = "auditor"
)

// APIKey is a credential for people and scripts using the governance API.
// Only the hash of its secret is stored.
type APIKey struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	Role       string    `json:"role"`
	SecretHash string    `json:"-"`
	CreatedAt  time.Time `json:"created_at"`
	RevokedAt  time.Time `json:"revoked_at,omitzero"`
}

// APIKeys keeps API keys.
type APIKeys interface {
	// CreateAPIKey stores a key and logs by as the actor who created it;
	// EINVALID for an empty name, unknown role or empty by.
	CreateAPIKey(ctx context.Context, k APIKey, by string) (*APIKey, error)
	// APIKey returns one key; ENOTFOUND when there is none.
	APIKey(ctx context.Context, id string) (*APIKey, error)
	// APIKeys returns every key, oldest first.
	APIKeys(ctx context.Context) ([]APIKey, error)
	// RevokeAPIKey makes the key stop working and logs by as the actor;
	// ENOTFOUND, or ECONFLICT when already revoked.
	RevokeAPIKey(ctx context.Context, id, by string) error
}
