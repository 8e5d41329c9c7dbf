// Package store is the collector's domain: the types the API, the report and
// the command line exchange, the Store interface that keeps them, and the
// application error codes every layer speaks. It holds no SQL so that a
// PostgreSQL store can sit beside the SQLite one behind the same interface.
package store

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/annexa/annexa/evidence"
)

// Agent is one enrolled host as the collector knows it.
type Agent struct {
	ID             string
	Host           string
	AgentVersion   string
	CredentialHash string
	EnrolledAt     time.Time
	// RevokedAt, LastSeenAt are zero when the agent was never revoked or seen.
	RevokedAt    time.Time
	LastSeenAt   time.Time
	AckedThrough uint64
	// Status is the last AgentStatus the agent sent; nil until its first batch.
	Status *AgentStatus
}

// Revoked reports whether the agent's credential no longer works.
func (a *Agent) Revoked() bool { return !a.RevokedAt.IsZero() }

// AgentStatus is the agent's own health, stored as JSON on the agent row.
// It mirrors ingestv1.AgentStatus with stable JSON names so that the report
// and the database do not depend on protobuf's JSON mapping.
type AgentStatus struct {
	Host                string         `json:"host"`
	Version             string         `json:"version"`
	SpoolRecords        uint64         `json:"spool_records"`
	SpoolBytes          uint64         `json:"spool_bytes"`
	OldestUnsentSeconds int64          `json:"oldest_unsent_seconds"`
	QuarantinedRecords  uint64         `json:"quarantined_records"`
	CollectionPaused    bool           `json:"collection_paused"`
	Plugins             []PluginStatus `json:"plugins"`
	SentAt              *time.Time     `json:"sent_at,omitempty"`
	// TrustedCAs are the fingerprints of the collector CAs the agent
	// accepts (a CA rollover waits for all agents to list the next CA).
	TrustedCAs []string `json:"trusted_cas,omitempty"`
	// ClientCertCA and ClientCertNotAfter describe the client certificate
	// the agent presented with this batch, as the collector verified it:
	// its CA's fingerprint and end. Empty when it presented none.
	ClientCertCA       string     `json:"client_cert_ca,omitempty"`
	ClientCertNotAfter *time.Time `json:"client_cert_not_after,omitempty"`
}

// PluginStatus is one plugin's state as the agent last saw it.
type PluginStatus struct {
	Name  string `json:"name"`
	State string `json:"state"`
	Error string `json:"error,omitempty"`
}

// NewAgent is what enrollment creates.
type NewAgent struct {
	ID             string
	Host           string
	AgentVersion   string
	CredentialHash string
}

// Batch is a validated ingest batch, ready to apply.
type Batch struct {
	AgentID  string
	FirstSeq uint64
	LastSeq  uint64
	// Records are validated, with Seq set and strictly increasing.
	Records []evidence.Record
	Status  *AgentStatus
}

// IngestResult is what the collector answers an agent.
type IngestResult struct {
	// AckedThrough is the agent's high-water mark, which may exceed the
	// batch's last_seq: that is how an agent learns it lost its spool.
	AckedThrough uint64 `json:"acked_through"`
	Stored       int    `json:"stored"`
	Duplicates   int    `json:"duplicates"`
}

// Current is the latest known state of one (agent, kind, subject).
type Current struct {
	AgentID    string
	Kind       string
	Subject    string
	Plugin     string
	Host       string
	Op         evidence.Op
	ObservedAt time.Time
	Attributes json.RawMessage
	Seq        uint64
	Deleted    bool
	UpdatedAt  time.Time
}

// Snapshot is a consistent view of agents and live state, taken in one
// read transaction so that a report never mixes two moments.
type Snapshot struct {
	TakenAt time.Time
	Agents  []Agent
	// Current holds only rows that are not deleted.
	Current []Current
	// Change is the store's change clock as of the snapshot (ChangeFeed).
	Change int64
}

// Store keeps agents, enrollment tokens and evidence. Each method is one
// transaction: it either happens entirely or not at all.
type Store interface {
	Governance
	SoABulk // many SoA entries at once (soabulk.go)
	Evaluations
	APIKeys
	ChangeFeed
	Users     // web UI users and sessions (users.go)
	Timelines // a subject's history for the web UI (timeline.go)
	// CreateToken stores the hash of a new enrollment token.
	CreateToken(ctx context.Context, hash string, expiresAt time.Time, uses int) error
	// Enroll spends one use of the token with hash tokenHash and creates
	// the agent. EUNAUTHORIZED when the token is unknown, expired or used up.
	Enroll(ctx context.Context, tokenHash string, a NewAgent) error
	// Agent returns one agent; ENOTFOUND when there is none.
	Agent(ctx context.Context, id string) (*Agent, error)
	// Agents returns every agent, oldest enrollment first.
	Agents(ctx context.Context) ([]Agent, error)
	// Revoke makes the agent's credential stop working.
	Revoke(ctx context.Context, id string) error
	// Ingest applies a batch exactly once per (agent, seq).
	Ingest(ctx context.Context, b *Batch) (*IngestResult, error)
	// Snapshot returns agents and live state for controls and reports.
	Snapshot(ctx context.Context) (*Snapshot, error)
	// Verify re-checks the history hash chain; a *ChainError names the
	// first row that does not match.
	Verify(ctx context.Context) (rows int, err error)
	Close() error
}

// ChainError says where the history hash chain breaks.
type ChainError struct {
	RowID  int64
	Reason string
	// Log is the table whose chain breaks; empty means history.
	Log string
}

func (e *ChainError) Error() string {
	log := e.Log
	if log == "" {
		log = "history"
	}
	return log + " row " + strconv.FormatInt(e.RowID, 10) + ": " + e.Reason
}
