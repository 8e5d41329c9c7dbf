package sdk

import (
	"context"

	"golang.org/x/time/rate"
)

// ByteRate caps how fast a plugin reads, across all its goroutines, so a
// full scan does not starve a training job of disk bandwidth. A burst of
// one second's worth lets small files through without each paying a wait.
//
// The cap binds unattended collections only: in a collection the agent
// asks for unthrottled (Request.Unthrottled: a person waits for it), Wait
// returns at once. Pass the Collect context, or one derived from it.
type ByteRate struct {
	lim *rate.Limiter
}

// NewByteRate limits to bytesPerSecond; 0 or less means no limit (nil,
// which is a valid, unlimited ByteRate).
func NewByteRate(bytesPerSecond int64) *ByteRate {
	if bytesPerSecond <= 0 {
		return nil
	}
	burst := int(min(bytesPerSecond, 1<<30))
	return &ByteRate{lim: rate.NewLimiter(rate.Limit(bytesPerSecond), burst)}
}

// Wait blocks until n more bytes may be read or ctx ends.
func (b *ByteRate) Wait(ctx context.Context, n int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if b == nil || isUnthrottled(ctx) {
		return nil
	}
	// The limiter refuses a request larger than its burst; a large read
	// simply waits for several bursts.
	for n > 0 {
		step := min(n, b.lim.Burst())
		if err := b.lim.WaitN(ctx, step); err != nil {
			// The limiter gives up at once when the wait would pass ctx's
			// deadline. Waiting for the deadline instead keeps the promise
			// above, and the caller sees its collection end rather than a
			// read that failed (which a plugin would report as a file it
			// could not read).
			<-ctx.Done()
			return ctx.Err()
		}
		n -= step
	}
	return nil
}

// Hashed is Wait for a plugin that paces after each read: it counts the n
// bytes just read and digested in the collection's Progress, then waits
// until n more may be read. One call per block keeps the bytes-hashed
// figure moving while a large file is read.
func (b *ByteRate) Hashed(ctx context.Context, n int) error {
	ProgressFrom(ctx).Hashed(int64(n))
	return b.Wait(ctx, n)
}
