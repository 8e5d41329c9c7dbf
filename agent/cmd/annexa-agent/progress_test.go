package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/annexa/annexa/agent/internal/daemon"
	"github.com/annexa/annexa/plugins/sdk"
)

func TestProgressLines(t *testing.T) {
	var buf bytes.Buffer
	clock := time.Unix(0, 0)
	p := &progress{w: &buf, now: func() time.Time { return clock }}
	p.begin("datasets")
	p.add(3, 1536)
	clock = clock.Add(1500 * time.Millisecond)
	p.mu.Lock()
	mid := p.line(false, nil)
	p.mu.Unlock()
	if !strings.Contains(mid, "3 records  1.5 KiB  2 records/s  0:01") {
		t.Errorf("running line %q", mid)
	}
	p.end(nil)
	if !strings.HasSuffix(buf.String(), "\r\033[Kdatasets     done: 3 records, 1.5 KiB of evidence in 1.5s\n") {
		t.Errorf("final output %q", buf.String())
	}
	buf.Reset()
	p.begin("models")
	p.end(errors.New("boom"))
	if !strings.Contains(buf.String(), "models       failed after 0 records in 0s: boom\n") {
		t.Errorf("failure line %q", buf.String())
	}
	// A nil progress, as piped runs get, does nothing and does not panic.
	var none *progress
	none.begin("x")
	none.add(1, 1)
	none.end(nil)
	if newProgress("-") != nil {
		t.Error("progress is on while the test's stderr is not a terminal")
	}
}

func TestProgressLinesFromPluginReports(t *testing.T) {
	var buf bytes.Buffer
	clock := time.Unix(0, 0)
	p := &progress{w: &buf, now: func() time.Time { return clock }, cols: func() int { return 0 }}
	line := func() string {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.line(false, nil)
	}
	p.begin("models")
	clock = clock.Add(10 * time.Second)
	// Still walking: totals so far are lower bounds, and so is the ETA.
	p.update(sdk.ProgressCounts{FilesDone: 10, FilesTotal: 40, BytesHashed: 100 << 20, BytesTotal: 300 << 20})
	if got, want := line(), "models       10/40+ files  100.0 MiB/300.0 MiB+  10.0 MiB/s  ETA ≥0:30"; got != want {
		t.Errorf("growing totals:\n got %q\nwant %q", got, want)
	}
	// Walk over: a bar, and the ETA is the longer of files left at the
	// file rate (30 at 1/s) and bytes left at the byte rate (200 MiB at 10 MiB/s).
	p.update(sdk.ProgressCounts{FilesDone: 10, FilesTotal: 40, BytesHashed: 100 << 20, BytesTotal: 300 << 20, TotalsFinal: true})
	if got, want := line(), "models       [#####---------------]  25%  10/40 files  100.0 MiB/300.0 MiB  10.0 MiB/s  ETA 0:30"; got != want {
		t.Errorf("final totals:\n got %q\nwant %q", got, want)
	}
	// A warm rescan hashes nothing: the file rate carries the ETA.
	p.update(sdk.ProgressCounts{FilesDone: 20, FilesTotal: 40, TotalsFinal: true})
	if got, want := line(), "models       [##########----------]  50%  20/40 files  2 files/s  ETA 0:10"; got != want {
		t.Errorf("warm rescan:\n got %q\nwant %q", got, want)
	}
	// No totals: counts and elapsed time, no ETA to invent.
	p.update(sdk.ProgressCounts{FilesDone: 20, BytesHashed: 1 << 20})
	if got := line(); !strings.Contains(got, "20 files  1.0 MiB hashed  102.4 KiB/s  0:10") || strings.Contains(got, "ETA") {
		t.Errorf("no totals: %q", got)
	}
	p.add(7, 10)
	p.update(sdk.ProgressCounts{FilesDone: 40, FilesTotal: 40, BytesHashed: 300 << 20, BytesTotal: 300 << 20, TotalsFinal: true})
	// The first report with final totals was drawn at once, not at a tick.
	if !strings.Contains(buf.String(), "\r\033[Kmodels       [#####---------------]  25%") {
		t.Errorf("report with final totals not drawn at once: %q", buf.String())
	}
	p.end(nil)
	if !strings.HasSuffix(buf.String(), "\r\033[Kmodels       done: 7 records, 40 files, 300.0 MiB hashed in 10s\n") {
		t.Errorf("final output %q", buf.String())
	}
	// A line wider than the terminal is cut, or it would wrap and the
	// next redraw would not replace it.
	p.cols = func() int { return 30 }
	buf.Reset()
	p.begin("datasets")
	p.end(nil)
	p.draw(false, nil)
	if s := strings.TrimPrefix(buf.String()[strings.LastIndex(buf.String(), "\r"):], "\r\033[K"); len([]rune(s)) != 29 {
		t.Errorf("cut line %q has %d runes, want 29", s, len([]rune(s)))
	}
}

func TestETA(t *testing.T) {
	for _, tc := range []struct {
		name  string
		w     sdk.ProgressCounts
		el    time.Duration
		left  time.Duration
		known bool
	}{
		{"nothing done yet", sdk.ProgressCounts{FilesTotal: 5, BytesTotal: 100}, time.Second, 0, false},
		{"bytes bound", sdk.ProgressCounts{FilesDone: 1, FilesTotal: 2, BytesHashed: 10, BytesTotal: 100}, time.Second, 9 * time.Second, true},
		{"files bound", sdk.ProgressCounts{FilesDone: 1, FilesTotal: 10, BytesHashed: 50, BytesTotal: 100}, time.Second, 9 * time.Second, true},
		{"all files done, a read failed", sdk.ProgressCounts{FilesDone: 3, FilesTotal: 3, BytesHashed: 5, BytesTotal: 100}, time.Second, 0, true},
		{"no time yet", sdk.ProgressCounts{FilesDone: 1, FilesTotal: 3}, 0, 0, false},
	} {
		left, known := eta(tc.w, averageSpeed(tc.w, tc.el))
		if left != tc.left || known != tc.known {
			t.Errorf("%s: eta = %v, %v; want %v, %v", tc.name, left, known, tc.left, tc.known)
		}
	}
}

func TestCollectingLine(t *testing.T) {
	start := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	at := start.Add(100 * time.Second)
	for _, tc := range []struct {
		c    daemon.Collecting
		want string
	}{
		{daemon.Collecting{Plugin: "access", StartedAt: start}, "collecting:     access (incremental) for 1:40"},
		{daemon.Collecting{Plugin: "models", Full: true, StartedAt: start, Progress: &sdk.ProgressCounts{
			FilesDone: 50, FilesTotal: 100, BytesHashed: 1 << 30, BytesTotal: 3 << 30, TotalsFinal: true}},
			"collecting:     models (full) for 1:40: 50/100 files, 1.0 GiB/3.0 GiB hashed, ETA 3:20"},
		{daemon.Collecting{Plugin: "datasets", Full: true, StartedAt: start, Progress: &sdk.ProgressCounts{
			FilesDone: 10, FilesTotal: 20}},
			"collecting:     datasets (full) for 1:40: 10/20+ files, 0 B hashed, ETA ≥1:40"},
	} {
		if got := collectingLine(tc.c, at); got != tc.want {
			t.Errorf("got  %q\nwant %q", got, tc.want)
		}
	}
}

// The rate, and so the ETA, follows the last ten seconds: a scan that
// moves from small files to fast large ones is not judged by its start.
func TestProgressRateFollowsRecentWork(t *testing.T) {
	var buf bytes.Buffer
	clock := time.Unix(0, 0)
	p := &progress{w: &buf, now: func() time.Time { return clock }}
	p.begin("models")
	defer p.end(nil)
	const mib = 1 << 20
	report := func(hashed int64) {
		clock = clock.Add(time.Second)
		p.update(sdk.ProgressCounts{FilesDone: 1, FilesTotal: 2, BytesHashed: hashed, BytesTotal: 2000 * mib, TotalsFinal: true})
	}
	for i := range 20 {
		report(int64(i+1) * mib) // 1 MiB/s for 20 s
	}
	for j := range 10 {
		report(20*mib + int64(j+1)*100*mib) // then 100 MiB/s for 10 s
	}
	p.mu.Lock()
	line := p.line(false, nil)
	p.mu.Unlock()
	if !strings.Contains(line, "1020.0 MiB/2.0 GiB  100.0 MiB/s  ETA 0:09") {
		t.Errorf("line %q; want the last 10 s's 100 MiB/s and 980 MiB left at it", line)
	}
}
