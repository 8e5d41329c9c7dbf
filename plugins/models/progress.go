package models

import (
	"context"
	"sync"

	"github.com/annexa/annexa/plugins/sdk"
)

// countAhead counts the files a collection of regions will examine, and
// their bytes, in a walk of its own, and sets them as the collection's
// totals when it is over. The collection's own walk cannot tell: it runs
// only a few files ahead of the workers, to keep memory bounded. It costs
// a second walk (of metadata the first one has just cached), so it runs
// only when a person waits for the collection; the daemon's scans show
// totals as they are found. The returned stop ends the walk and waits
// for it.
func (p *Plugin) countAhead(ctx context.Context, regions []string) (stop func()) {
	prog := sdk.ProgressFrom(ctx)
	if prog == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	found := make(chan int64, 256)
	complete := false // written before found is closed, read after
	go func() {
		defer wg.Done()
		defer close(found)
		for _, r := range regions {
			// The same walk as the collection's, so the same files.
			if err := p.countWalk(ctx, r, found); err != nil {
				return
			}
		}
		complete = true
	}()
	go func() {
		defer wg.Done()
		var files int
		var bytes int64
		for size := range found {
			files++
			bytes += size
		}
		if complete && ctx.Err() == nil {
			prog.Total(files, bytes)
		}
	}()
	return func() { cancel(); wg.Wait() }
}
