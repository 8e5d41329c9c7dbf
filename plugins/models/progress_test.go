package models

import (
	"context"
	"encoding/json"
	"io/fs"
	"path/filepath"
	"testing"
	"time"

	"github.com/annexa/annexa/plugins/sdk"
)

// A full collection reports every file it examined and the bytes of the
// models it hashed; a rescan of the unchanged tree examines every file
// and hashes nothing.
func TestCollectReportsProgress(t *testing.T) {
	root := fixtureTree(t)
	p := configured(t, map[string]any{"roots": []string{root}}, t.TempDir())
	var files int64
	filepath.WalkDir(root, func(_ string, d fs.DirEntry, _ error) error {
		if d.Type().IsRegular() {
			files++
		}
		return nil
	})
	ctx, prog := sdk.NewProgressContext(context.Background())
	rec := &recorder{}
	if err := p.Collect(ctx, sdk.Request{Full: true}, rec); err != nil {
		t.Fatal(err)
	}
	var size int64
	for _, r := range rec.recs {
		size += attrsOf(t, r).SizeBytes
	}
	want := sdk.ProgressCounts{FilesDone: files, BytesHashed: size, FilesTotal: files, BytesTotal: size, TotalsFinal: true}
	if got := prog.Counts(); got != want || size == 0 {
		t.Errorf("first collection: %+v; want %+v (bytes: the models' size_bytes)", got, want)
	}
	ctx, prog = sdk.NewProgressContext(context.Background())
	if err := p.Collect(ctx, sdk.Request{Full: true}, &recorder{}); err != nil {
		t.Fatal(err)
	}
	if got, want := prog.Counts(), (sdk.ProgressCounts{FilesDone: files, FilesTotal: files, TotalsFinal: true}); got != want {
		t.Errorf("rescan: %+v; want %+v", got, want)
	}
}

// The walk ahead of an unthrottled collection counts what the
// collection's own walk will find, every file and byte.
func TestCountAhead(t *testing.T) {
	root := fixtureTree(t)
	p := configured(t, map[string]any{"roots": []string{root}}, "")
	var files, bytes int64
	filepath.WalkDir(root, func(_ string, d fs.DirEntry, _ error) error {
		if fi, err := d.Info(); err == nil && fi.Mode().IsRegular() {
			files, bytes = files+1, bytes+fi.Size()
		}
		return nil
	})
	ctx, prog := sdk.NewProgressContext(context.Background())
	stop := p.countAhead(ctx, []string{root})
	deadline := time.Now().Add(20 * time.Second)
	for !prog.Counts().TotalsFinal && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	if got, want := prog.Counts(), (sdk.ProgressCounts{FilesTotal: files, BytesTotal: bytes, TotalsFinal: true}); got != want {
		t.Errorf("counted ahead %+v; want %+v", got, want)
	}
	// And through a whole unthrottled collection the totals end the same
	// as without the walk ahead.
	ctx, prog = sdk.NewProgressContext(context.Background())
	rec := &recorder{}
	if err := p.Collect(ctx, sdk.Request{Full: true, Unthrottled: true}, rec); err != nil {
		t.Fatal(err)
	}
	if c := prog.Counts(); c.FilesDone != files || c.FilesTotal != files || !c.TotalsFinal || c.BytesHashed != c.BytesTotal {
		b, _ := json.Marshal(c)
		t.Errorf("unthrottled collection ended with %s; want %d of %d files and every byte left hashed", b, files, files)
	}
}

// BenchmarkProgressCost measures what progress reporting costs a full
// collection without a hash cache (every file read and hashed, page cache
// warm): none, counts only (the daemon), and counts with the walk ahead
// (collect --once). Run with -bench-models-root, as in scripts/bench.sh.
func BenchmarkProgressCost(b *testing.B) {
	if *benchRoot == "" {
		b.Skip("needs -bench-models-root")
	}
	for _, tc := range []struct {
		name        string
		progress    bool
		unthrottled bool
	}{{"none", false, false}, {"counts", true, false}, {"counts+walk-ahead", true, true}} {
		b.Run(tc.name, func(b *testing.B) {
			for range b.N {
				// A fresh plugin each time: no hash cache, as collect --once.
				b.StopTimer()
				p := configured(b, map[string]any{"roots": []string{*benchRoot}, "workers": 2}, "")
				b.StartTimer()
				ctx := context.Background()
				if tc.progress {
					ctx, _ = sdk.NewProgressContext(ctx)
				}
				var rec countEmitter
				if err := p.Collect(ctx, sdk.Request{Full: true, Unthrottled: tc.unthrottled}, &rec); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
