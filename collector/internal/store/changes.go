package store

import "context"

// Changes are the agents and rows of current state written after a value of
// the store's change clock: what a kept evaluation reads instead of a new
// snapshot.
type Changes struct {
	// Through is the clock value the read saw; every write up to it is
	// included. Pass it as since to the next call.
	Through int64
	// Agents changed (enrolled, seen, revoked), oldest enrollment first.
	Agents []Agent
	// Current holds the changed rows, deleted ones too (Deleted set), in
	// the snapshot's order: agent, kind, subject.
	Current []Current
}

// ChangeFeed lets a reader follow the store from a snapshot on.
type ChangeFeed interface {
	// Changes returns what was written after the clock value since, from
	// Snapshot.Change or the Through of an earlier call.
	Changes(ctx context.Context, since int64) (*Changes, error)
}
