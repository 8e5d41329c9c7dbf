package datasets

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/annexa/annexa/plugins/sdk"
)

// benchTree builds 20 datasets of 1,000 small files each, plus one
// dataset of four 64 MiB shards.
func benchTree(root string) (string, error) {
	small := make([]byte, 4096)
	for d := range 20 {
		dir := filepath.Join(root, fmt.Sprintf("ds%02d", d), "part")
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return "", err
		}
		for f := range 1000 {
			small[0] = byte(f)
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%04d.bin", f)), small, 0o640); err != nil {
				return "", err
			}
		}
	}
	big := make([]byte, 64<<20)
	for i := range big {
		big[i] = byte(i * 7)
	}
	os.MkdirAll(filepath.Join(root, "shards"), 0o750)
	for s := range 4 {
		big[0] = byte(s)
		if err := os.WriteFile(filepath.Join(root, "shards", fmt.Sprintf("shard-%d.bin", s)), big, 0o640); err != nil {
			return "", err
		}
	}
	return root, nil
}

func benchScan(b *testing.B, warm bool) {
	root, err := benchTree(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	files, bytes := 0, int64(0)
	for b.Loop() {
		b.StopTimer()
		state := b.TempDir()
		p := quiet()
		p.Configure(context.Background(), sdk.Config{Raw: []byte(`{"roots":["` + root + `"]}`), StateDir: state})
		if warm {
			p.Collect(context.Background(), sdk.Request{Full: true}, &recorder{})
		}
		b.StartTimer()
		var r recorder
		if err := p.Collect(context.Background(), sdk.Request{Full: true}, &r); err != nil {
			b.Fatal(err)
		}
		files, bytes = 0, 0
		for _, rec := range r.recs {
			a := rec.Attributes.(Attributes)
			files += a.FileCount
			bytes += a.SizeBytes
		}
	}
	sec := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(float64(files)/sec, "files/s")
	b.ReportMetric(float64(bytes)/sec/1e6, "MB/s")
}

func BenchmarkScanCold(b *testing.B) { benchScan(b, false) }
func BenchmarkScanWarm(b *testing.B) { benchScan(b, true) }
