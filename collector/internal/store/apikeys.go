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
	// CreateAPIKey stores a key; EINVALID for an empty name or unknown role.
	CreateAPIKey(ctx context.Context, k APIKey) (*APIKey, error)
	// APIKey returns one key; ENOTFOUND when there is none.
	APIKey(ctx context.Context, id string) (*APIKey, error)
	// APIKeys returns every key, oldest first.
	APIKeys(ctx context.Context) ([]APIKey, error)
	// RevokeAPIKey makes the key stop working; ENOTFOUND, or ECONFLICT when
	// already revoked.
	RevokeAPIKey(ctx context.Context, id string) error
}
