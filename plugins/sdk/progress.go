package sdk

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
)

// Progress is how a plugin tells the agent how far a collection has come.
// The agent draws it as a progress bar with a rate and an ETA in
// `annexa-agent collect --once`, and adds it to its files-scanned and
// bytes-hashed metrics. Get it with ProgressFrom(ctx) inside Collect.
//
// Counts are kept in atomics, so every method is cheap and safe from any
// goroutine; the SDK sends them to the agent a few times a second and
// with every group of records, never once per call. A nil *Progress does
// nothing: code that reports progress runs unchanged in unit tests that
// call Collect directly, and for an agent too old to read progress.
//
// The usual sequence for a plugin that walks and hashes files:
//
//	prog := sdk.ProgressFrom(ctx)
//	// while walking, per file to examine:
//	prog.Found(1, size)
//	// when the walk is over (totals will not grow any more):
//	prog.FoundAll()
//	// per file examined: either read it, reporting bytes as they are
//	// hashed (ByteRate.Hashed does this), or say they will not be read:
//	prog.Hashed(n)        // or pacer.Hashed(ctx, n)
//	prog.Skipped(size)    // unchanged since cached, or unreadable
//	prog.Examined(1)
//
// A plugin that learns its totals only as it goes (one dataset at a time)
// calls Found as it finds work and FoundAll at the end; the agent then
// shows its ETA as a lower bound until the totals are final. One whose
// walk is held back by its workers (a bounded queue) can count the tree
// in a walk of its own, ahead of the work, and set the totals with Total
// as soon as that walk is over.
type Progress struct {
	filesDone   atomic.Int64
	bytesHashed atomic.Int64
	skipped     atomic.Int64
	// found and final change together under mu, so that Found after
	// Total or FoundAll adds nothing.
	mu         sync.Mutex
	filesFound int64
	bytesFound int64
	final      bool
	// used says the plugin reported anything: one that never does sends
	// no progress, and the agent shows what it sees itself.
	used atomic.Bool
}

// ProgressCounts is a snapshot of a collection's progress, as the agent
// receives it. Totals of 0 mean unknown.
type ProgressCounts struct {
	FilesDone   int64 `json:"files_done"`
	BytesHashed int64 `json:"bytes_hashed"`
	FilesTotal  int64 `json:"files_total"`
	BytesTotal  int64 `json:"bytes_total"`
	// TotalsFinal says the totals will not grow any more.
	TotalsFinal bool `json:"totals_final"`
}

// ProgressFrom returns the progress of the collection that ctx belongs to,
// or nil (which does nothing) when the agent does not read progress or ctx
// is not a collection's.
func ProgressFrom(ctx context.Context) *Progress {
	p, _ := ctx.Value(progressKey{}).(*Progress)
	return p
}

// Found adds work discovered: files to examine and the bytes expected to
// be hashed among them. Once the totals are final it adds nothing.
func (p *Progress) Found(files int, bytes int64) {
	if p == nil {
		return
	}
	p.used.Store(true)
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.final {
		p.filesFound += int64(files)
		p.bytesFound += bytes
	}
}

// FoundAll says the walk is over: the totals found so far are all there is.
func (p *Progress) FoundAll() {
	if p == nil {
		return
	}
	p.used.Store(true)
	p.mu.Lock()
	p.final = true
	p.mu.Unlock()
}

// Total sets the totals outright and makes them final, for a plugin that
// counted the files to examine (and the bytes among them) in a walk ahead
// of the work. Found calls of the work's own walk add nothing after it.
// If the totals are final already (the work's walk ended first), it does
// nothing.
func (p *Progress) Total(files int, bytes int64) {
	if p == nil {
		return
	}
	p.used.Store(true)
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.final {
		p.filesFound, p.bytesFound, p.final = int64(files), bytes, true
	}
}

// Examined counts files done with, whether read, found unchanged or
// unreadable.
func (p *Progress) Examined(files int) {
	if p == nil {
		return
	}
	p.used.Store(true)
	p.filesDone.Add(int64(files))
}

// Hashed counts bytes read and fed to a digest.
func (p *Progress) Hashed(bytes int64) {
	if p == nil {
		return
	}
	p.used.Store(true)
	p.bytesHashed.Add(bytes)
}

// Skipped takes bytes that were found but will not be hashed (the file is
// unchanged since it was cached, gone, or unreadable) out of the total,
// so the ETA covers only what is left to read.
func (p *Progress) Skipped(bytes int64) {
	if p == nil {
		return
	}
	p.used.Store(true)
	p.skipped.Add(bytes)
}

// Counts returns a snapshot.
func (p *Progress) Counts() ProgressCounts {
	if p == nil {
		return ProgressCounts{}
	}
	// Done before totals: a reader never sees more done than total
	// because of the order it read them in.
	c := ProgressCounts{FilesDone: p.filesDone.Load(), BytesHashed: p.bytesHashed.Load()}
	skipped := p.skipped.Load()
	p.mu.Lock()
	c.FilesTotal, c.BytesTotal, c.TotalsFinal = p.filesFound, max(p.bytesFound-skipped, 0), p.final
	p.mu.Unlock()
	return c
}

type progressKey struct{}

type unthrottledKey struct{}

// withCollection puts the collection's progress (nil when the agent does
// not read it) and its unthrottled flag into ctx, where ProgressFrom and
// ByteRate find them without the plugin passing them down.
func withCollection(ctx context.Context, p *Progress, unthrottled bool) context.Context {
	if p != nil {
		ctx = context.WithValue(ctx, progressKey{}, p)
	}
	if unthrottled {
		ctx = context.WithValue(ctx, unthrottledKey{}, true)
	}
	return ctx
}

func isUnthrottled(ctx context.Context) bool {
	u, _ := ctx.Value(unthrottledKey{}).(bool)
	return u
}

// clampCount turns a count off the wire into one that fits an int64.
func clampCount(v uint64) int64 {
	if v > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(v)
}

func uncount(v int64) uint64 {
	if v < 0 {
		return 0
	}
	return uint64(v)
}

// NewProgressContext returns a context carrying a fresh Progress, as the
// SDK hands one to Collect, for unit tests that call a plugin's Collect
// directly and check what it reports.
func NewProgressContext(ctx context.Context) (context.Context, *Progress) {
	p := &Progress{}
	return withCollection(ctx, p, false), p
}
