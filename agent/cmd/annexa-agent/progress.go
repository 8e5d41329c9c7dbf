package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// progress shows, on a terminal, one line per plugin while `collect
// --once` runs: records so far, evidence bytes, rate and elapsed time,
// redrawn in place. Plugins announce no totals, so there is no ETA to
// show honestly. A nil *progress does nothing, which is what piped runs
// get.
type progress struct {
	w   io.Writer
	now func() time.Time

	mu      sync.Mutex
	name    string
	records int
	bytes   int64
	start   time.Time
	stop    chan struct{}
	done    chan struct{}
}

// newProgress returns a progress for stderr when a person watches it:
// stderr is a terminal, and the evidence is not printed to that terminal
// too (lines would tear through the bar).
func newProgress(output string) *progress {
	if !isTerminal(os.Stderr) || (output == "-" && isTerminal(os.Stdout)) {
		return nil
	}
	return &progress{w: os.Stderr, now: time.Now}
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func (p *progress) begin(name string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.name, p.records, p.bytes, p.start = name, 0, 0, p.now()
	p.stop, p.done = make(chan struct{}), make(chan struct{})
	p.mu.Unlock()
	go func() {
		defer close(p.done)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			p.draw(false, nil)
			select {
			case <-p.stop:
				return
			case <-t.C:
			}
		}
	}()
}

func (p *progress) add(records int, bytes int) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.records += records
	p.bytes += int64(bytes)
	p.mu.Unlock()
}

func (p *progress) end(err error) {
	if p == nil {
		return
	}
	close(p.stop)
	<-p.done
	p.draw(true, err)
}

func (p *progress) draw(final bool, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprint(p.w, "\r\033[K"+p.line(final, err))
	if final {
		fmt.Fprint(p.w, "\n")
	}
}

// line is one plugin's state; the caller holds mu.
func (p *progress) line(final bool, err error) string {
	el := p.now().Sub(p.start)
	rate := 0.0
	if s := el.Seconds(); s > 0 {
		rate = float64(p.records) / s
	}
	switch {
	case final && err != nil:
		return fmt.Sprintf("%-12s failed after %d records in %s: %v", p.name, p.records, el.Round(100*time.Millisecond), err)
	case final:
		return fmt.Sprintf("%-12s done: %d records, %s of evidence in %s", p.name, p.records, humanBytes(p.bytes), el.Round(100*time.Millisecond))
	}
	spin := `|/-\`[int(el/(200*time.Millisecond))%4]
	return fmt.Sprintf("%-12s %c %d records  %s  %.0f records/s  %s", p.name, spin, p.records, humanBytes(p.bytes), rate, clock(el))
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func clock(d time.Duration) string {
	s := int(d.Seconds())
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}
