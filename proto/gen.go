// Package proto holds the wire contracts: the plugin protocol
// (proto/plugin/v1) and the agent→collector batch (proto/ingest/v1). The
// generated Go is committed beside each .proto; `make proto` regenerates
// it and TestGeneratedCodeIsCurrent fails when someone forgot to.
package proto
