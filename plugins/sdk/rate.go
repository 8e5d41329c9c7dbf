package sdk

import (
	"context"

	"golang.org/x/time/rate"
)

// ByteRate caps how fast a plugin reads, across all its goroutines, so a
// full scan does not starve a training job of disk bandwidth. A burst of
// one second's worth lets small files through without each paying a wait.
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
	if b == nil {
		return nil
	}
	// The limiter refuses a request larger than its burst; a large read
	// simply waits for several bursts.
	for n > 0 {
		step := min(n, b.lim.Burst())
		if err := b.lim.WaitN(ctx, step); err != nil {
			return err
		}
		n -= step
	}
	return nil
}
