package datasets

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/annexa/annexa/plugins/sdk"
)

// On every golden case (nested datasets, hidden and excluded folders,
// root files, symlinks, many formats): the walk ahead counts exactly the
// files and bytes the collection then reports as its datasets' file_count
// and size_bytes; a collection's progress adds up to the same, with the
// walk ahead (unthrottled) or without it; and a rescan examines every file
// again and hashes none.
func TestProgressAddsUpToTheEvidence(t *testing.T) {
	cases, _ := filepath.Glob("testdata/*/config.json")
	if len(cases) == 0 {
		t.Fatal("no golden cases")
	}
	for _, cfgPath := range cases {
		dir := filepath.Dir(cfgPath)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "root")
			copyTree(t, filepath.Join(dir, "root"), root)
			cfg, err := os.ReadFile(cfgPath)
			if err != nil {
				t.Fatal(err)
			}
			configured := func() *Plugin {
				p := quiet()
				raw := bytes.ReplaceAll(cfg, []byte("$ROOT"), []byte(root))
				if _, err := p.Configure(context.Background(), sdk.Config{Raw: raw, StateDir: t.TempDir()}); err != nil {
					t.Fatalf("Configure: %v", err)
				}
				return p
			}
			p := configured()
			files, size, ok := p.count(context.Background())
			if !ok {
				t.Fatal("count did not finish")
			}
			var wantFiles, wantSize int64
			for _, a := range byPath(t, root, collect(t, configured(), sdk.Request{Full: true})) {
				wantFiles, wantSize = wantFiles+int64(a.FileCount), wantSize+a.SizeBytes
			}
			if int64(files) != wantFiles || size != wantSize {
				t.Errorf("counted ahead %d files, %d bytes; the datasets report %d files, %d bytes", files, size, wantFiles, wantSize)
			}
			want := sdk.ProgressCounts{FilesDone: wantFiles, BytesHashed: wantSize, FilesTotal: wantFiles, BytesTotal: wantSize, TotalsFinal: true}
			for _, unthrottled := range []bool{false, true} {
				ctx, prog := sdk.NewProgressContext(context.Background())
				if err := configured().Collect(ctx, sdk.Request{Full: true, Unthrottled: unthrottled}, &recorder{}); err != nil {
					t.Fatal(err)
				}
				if got := prog.Counts(); got != want {
					t.Errorf("unthrottled=%v: progress %+v; want %+v", unthrottled, got, want)
				}
			}
			collect(t, p, sdk.Request{Full: true})
			ctx, prog := sdk.NewProgressContext(context.Background())
			if err := p.Collect(ctx, sdk.Request{Full: true}, &recorder{}); err != nil {
				t.Fatal(err)
			}
			if got, want := prog.Counts(), (sdk.ProgressCounts{FilesDone: wantFiles, FilesTotal: wantFiles, TotalsFinal: true}); got != want {
				t.Errorf("rescan: progress %+v; want %+v", got, want)
			}
		})
	}
}

// BenchmarkProgressCost times a cold full collection of benchTree (20,000
// small files and four 64 MiB shards) without progress, with counts (the
// daemon), and with counts and the walk ahead (collect --once).
func BenchmarkProgressCost(b *testing.B) {
	root, err := benchTree(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name                  string
		progress, unthrottled bool
	}{{"none", false, false}, {"counts", true, false}, {"counts+walk-ahead", true, true}} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				p := quiet()
				p.Configure(context.Background(), sdk.Config{Raw: []byte(`{"roots":["` + root + `"]}`), StateDir: b.TempDir()})
				ctx := context.Background()
				if tc.progress {
					ctx, _ = sdk.NewProgressContext(ctx)
				}
				b.StartTimer()
				if err := p.Collect(ctx, sdk.Request{Full: true, Unthrottled: tc.unthrottled}, &counter{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
