package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/annexa/annexa/agent/internal/daemon"
	"github.com/annexa/annexa/plugins/sdk"
)

// progress shows, on a terminal, one line per plugin while `collect
// --once` runs, redrawn in place. A plugin that reports progress (see
// sdk.Progress) gets files and bytes hashed against its totals, a rate
// and an ETA; one that does not gets what the agent sees itself: records,
// evidence bytes, a rate and the time so far. A nil *progress does
// nothing, which is what piped runs get.
type progress struct {
	w   io.Writer
	now func() time.Time
	// cols is the terminal's width, 0 when unknown; lines are cut to it,
	// since a wrapped line cannot be redrawn in place.
	cols func() int

	mu      sync.Mutex
	name    string
	records int
	bytes   int64
	// work is the plugin's last progress report, nil until its first.
	work *sdk.ProgressCounts
	// samples are the reports of the last rateWindow, for the rate.
	samples []sample
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
	return &progress{w: os.Stderr, now: time.Now, cols: func() int { return termCols(os.Stderr) }}
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func termCols(f *os.File) int {
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return 0
	}
	return int(ws.Col)
}

func (p *progress) begin(name string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.name, p.records, p.bytes, p.work, p.start = name, 0, 0, nil, p.now()
	p.samples = []sample{{at: p.start}}
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

// update takes a progress report. The first one, and the first with final
// totals, are drawn at once: a short collection then still shows its
// totals and ETA between two ticks.
func (p *progress) update(c sdk.ProgressCounts) {
	if p == nil {
		return
	}
	p.mu.Lock()
	news := p.work == nil || (c.TotalsFinal && !p.work.TotalsFinal)
	p.work = &c
	p.sample(c)
	p.mu.Unlock()
	if news {
		p.draw(false, nil)
	}
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
	line := p.line(final, err)
	if !final && p.cols != nil {
		if c := p.cols(); c > 1 && utf8.RuneCountInString(line) >= c {
			line = string([]rune(line)[:c-1])
		}
	}
	fmt.Fprint(p.w, "\r\033[K"+line)
	if final {
		fmt.Fprint(p.w, "\n")
	}
}

// line is one plugin's state; the caller holds mu.
func (p *progress) line(final bool, err error) string {
	el := p.now().Sub(p.start)
	took := el.Round(100 * time.Millisecond)
	if p.work != nil {
		return p.workLine(final, err, el)
	}
	rate := 0.0
	if s := el.Seconds(); s > 0 {
		rate = float64(p.records) / s
	}
	switch {
	case final && err != nil:
		return fmt.Sprintf("%-12s failed after %d records in %s: %v", p.name, p.records, took, err)
	case final:
		return fmt.Sprintf("%-12s done: %d records, %s of evidence in %s", p.name, p.records, humanBytes(p.bytes), took)
	}
	spin := `|/-\`[int(el/(200*time.Millisecond))%4]
	return fmt.Sprintf("%-12s %c %d records  %s  %.0f records/s  %s", p.name, spin, p.records, humanBytes(p.bytes), rate, clock(el))
}

// workLine draws a plugin's own progress report.
func (p *progress) workLine(final bool, err error, el time.Duration) string {
	w := *p.work
	took := el.Round(100 * time.Millisecond)
	did := fmt.Sprintf("%d files, %s hashed", w.FilesDone, humanBytes(w.BytesHashed))
	switch {
	case final && err != nil:
		return fmt.Sprintf("%-12s failed after %d records (%s) in %s: %v", p.name, p.records, did, took, err)
	case final:
		return fmt.Sprintf("%-12s done: %d records, %s in %s", p.name, p.records, did, took)
	}
	sp := p.speed(el)
	rate := rateOf(w, sp)
	if w.FilesTotal == 0 {
		spin := `|/-\`[int(el/(200*time.Millisecond))%4]
		return fmt.Sprintf("%-12s %c %d files  %s hashed  %s  %s", p.name, spin, w.FilesDone, humanBytes(w.BytesHashed), rate, clock(el))
	}
	// Totals that may still grow are shown as lower bounds, and so is the
	// ETA computed from them.
	more, atLeast := "", ""
	if !w.TotalsFinal {
		more, atLeast = "+", "≥"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-12s ", p.name)
	left, known := eta(w, sp)
	if w.TotalsFinal {
		frac := 0.0
		switch {
		case known && left+el > 0:
			// The bar and the ETA agree by construction.
			frac = float64(el) / float64(el+left)
		case w.FilesTotal > 0:
			frac = float64(w.FilesDone) / float64(w.FilesTotal)
		}
		fmt.Fprintf(&b, "%s %3.0f%%  ", bar(frac, 20), 100*frac)
	}
	fmt.Fprintf(&b, "%d/%d%s files", w.FilesDone, w.FilesTotal, more)
	if w.BytesTotal > 0 || w.BytesHashed > 0 {
		fmt.Fprintf(&b, "  %s/%s%s", humanBytes(w.BytesHashed), humanBytes(max(w.BytesTotal, w.BytesHashed)), more)
	}
	fmt.Fprintf(&b, "  %s", rate)
	if known {
		fmt.Fprintf(&b, "  ETA %s%s", atLeast, clock(left))
	} else {
		fmt.Fprintf(&b, "  ETA ?")
	}
	return b.String()
}

// rateWindow is how far back the rate looks: long enough to smooth the
// jumps of one large file, short enough to follow a scan from many small
// files to a few large ones, or from cached files to new ones.
const rateWindow = 10 * time.Second

// sample is one progress report and when it came.
type sample struct {
	at           time.Time
	files, bytes int64
}

// speed is work per second.
type speed struct{ files, bytes float64 }

// sample keeps c for the rate, dropping reports older than the window
// but one, so the window stays covered; the caller holds mu.
func (p *progress) sample(c sdk.ProgressCounts) {
	now := p.now()
	p.samples = append(p.samples, sample{at: now, files: c.FilesDone, bytes: c.BytesHashed})
	cut := now.Add(-rateWindow)
	i := 0
	for i+1 < len(p.samples) && !p.samples[i+1].at.After(cut) {
		i++
	}
	p.samples = p.samples[i:]
}

// speed is the rate over the last rateWindow of reports, or over the
// whole collection while less than a second of reports is at hand; the
// caller holds mu.
func (p *progress) speed(el time.Duration) speed {
	if n := len(p.samples); n >= 2 {
		first, last := p.samples[0], p.samples[n-1]
		if d := last.at.Sub(first.at).Seconds(); d >= 1 {
			return speed{files: float64(last.files-first.files) / d, bytes: float64(last.bytes-first.bytes) / d}
		}
	}
	return averageSpeed(*p.work, el)
}

// averageSpeed is the rate since the collection began.
func averageSpeed(w sdk.ProgressCounts, el time.Duration) speed {
	s := el.Seconds()
	if s <= 0 {
		return speed{}
	}
	return speed{files: float64(w.FilesDone) / s, bytes: float64(w.BytesHashed) / s}
}

// rateOf shows the rate: bytes hashed per second once any bytes are
// hashed, files per second before (a scan of files unchanged since they
// were cached hashes nothing).
func rateOf(w sdk.ProgressCounts, sp speed) string {
	if w.BytesHashed > 0 {
		return humanBytes(int64(max(sp.bytes, 0))) + "/s"
	}
	return fmt.Sprintf("%.0f files/s", max(sp.files, 0))
}

// eta estimates the time left: files left at the file rate, and bytes
// left at the byte rate, whichever is longer (a cold scan is bound by
// reading, a warm one by examining files). It is unknown until there is a
// rate to go on for the work that is left.
func eta(w sdk.ProgressCounts, sp speed) (time.Duration, bool) {
	filesLeft := max(w.FilesTotal-w.FilesDone, 0)
	bytesLeft := max(w.BytesTotal-w.BytesHashed, 0)
	if filesLeft == 0 && (bytesLeft == 0 || w.FilesTotal > 0) {
		// Every file found is done: bytes still "left" are those of
		// files that failed or shrank while read.
		return 0, true
	}
	var left time.Duration
	known := false
	if filesLeft > 0 && sp.files > 0 {
		left = time.Duration(float64(filesLeft) / sp.files * float64(time.Second))
		known = true
	}
	if bytesLeft > 0 && sp.bytes > 0 {
		left = max(left, time.Duration(float64(bytesLeft)/sp.bytes*float64(time.Second)))
		known = true
	}
	return left, known
}

// collectingLine describes, for `annexa-agent status`, a collection the
// daemon was running when it last wrote its status (at).
func collectingLine(c daemon.Collecting, at time.Time) string {
	mode := "incremental"
	if c.Full {
		mode = "full"
	}
	el := max(at.Sub(c.StartedAt), 0)
	var b strings.Builder
	fmt.Fprintf(&b, "collecting:     %s (%s) for %s", c.Plugin, mode, clock(el))
	w := c.Progress
	if w == nil {
		return b.String()
	}
	more, atLeast := "", ""
	if !w.TotalsFinal {
		more, atLeast = "+", "≥"
	}
	fmt.Fprintf(&b, ": %d", w.FilesDone)
	if w.FilesTotal > 0 {
		fmt.Fprintf(&b, "/%d%s", w.FilesTotal, more)
	}
	fmt.Fprintf(&b, " files, %s", humanBytes(w.BytesHashed))
	if w.BytesTotal > 0 {
		fmt.Fprintf(&b, "/%s%s", humanBytes(max(w.BytesTotal, w.BytesHashed)), more)
	}
	b.WriteString(" hashed")
	if left, known := eta(*w, averageSpeed(*w, el)); known && w.FilesTotal > 0 {
		fmt.Fprintf(&b, ", ETA %s%s", atLeast, clock(left))
	}
	return b.String()
}

func bar(frac float64, width int) string {
	frac = min(max(frac, 0), 1)
	n := int(frac * float64(width))
	return "[" + strings.Repeat("#", n) + strings.Repeat("-", width-n) + "]"
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
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}
