// Package e2e holds the delivery proofs: tests that start the real
// executables (plugins, agent, collector on loopback ports of their own)
// and check, in the collector's SQLite store, that every record arrived
// exactly once through crashes, outages and a hostile network.
package e2e
