package datasets

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

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

// counter is an sdk.Emitter that keeps nothing, as the agent's stream
// does not: memory measured is the plugin's own.
type counter struct{ n, files int }

func (c *counter) Emit(rec sdk.Record) error {
	c.n++
	if a, ok := rec.Attributes.(Attributes); ok {
		c.files += a.FileCount
	}
	return nil
}
func (c *counter) Checkpoint([]byte) error { return nil }

// peakRSS is the process's high-water resident set, from /proc.
func peakRSS(b *testing.B) int64 {
	b.Helper()
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Skip("no /proc/self/status")
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// BenchmarkScale inventories ANNEXA_BENCH_SCALE_FILES files (make bench
// sets 1,000,000) in datasets of 100 files each, cold and then unchanged,
// and reports peak RSS and how many files the unchanged rescan read (it
// must be none). It runs only when that variable is set: building the
// tree takes minutes.
func BenchmarkScale(b *testing.B) {
	total, _ := strconv.Atoi(os.Getenv("ANNEXA_BENCH_SCALE_FILES"))
	if total <= 0 {
		b.Skip("set ANNEXA_BENCH_SCALE_FILES (make bench does)")
	}
	const perDataset = 100
	root := filepath.Join(b.TempDir(), "root")
	datasets := total / perDataset
	body := make([]byte, 64)
	for d := range datasets {
		dir := filepath.Join(root, fmt.Sprintf("ds%05d", d), "part")
		if err := os.MkdirAll(dir, 0o750); err != nil {
			b.Fatal(err)
		}
		for f := range perDataset {
			name := fmt.Sprintf("%03d.bin", f)
			data := body
			if f == 0 {
				// One CSV per dataset keeps the personal-data sampler in the work.
				name, data = "users.csv", []byte("id,email\n1,user"+strconv.Itoa(d)+"@example.com\n")
			} else {
				binary.LittleEndian.PutUint64(body, uint64(d*perDataset+f))
			}
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o640); err != nil {
				b.Fatal(err)
			}
		}
	}
	state := b.TempDir()
	p := quiet()
	if _, err := p.Configure(context.Background(), sdk.Config{Raw: []byte(`{"roots":["` + root + `"]}`), StateDir: state}); err != nil {
		b.Fatal(err)
	}
	timed := func(name string) (time.Duration, *counter) {
		var c counter
		start := time.Now()
		if err := p.Collect(context.Background(), sdk.Request{Full: true}, &c); err != nil {
			b.Fatal(err)
		}
		return time.Since(start), &c
	}
	b.ResetTimer()
	cold, c := timed("cold")
	rssCold := peakRSS(b)
	hashed := p.stats.filesHashed.Load()
	warm, c2 := timed("warm")
	rssWarm := peakRSS(b)
	reread := p.stats.filesHashed.Load() - hashed
	b.StopTimer()
	if c.files != total || c2.files != total || c.n != datasets {
		b.Fatalf("reported %d datasets, %d then %d files; want %d and %d", c.n, c.files, c2.files, datasets, total)
	}
	if reread != 0 {
		b.Errorf("unchanged rescan read %d files", reread)
	}
	start := time.Now()
	if err := exec.Command("find", root, "-type", "f").Run(); err != nil {
		b.Fatal(err)
	}
	find := time.Since(start)
	b.ReportMetric(cold.Seconds(), "cold-s")
	b.ReportMetric(warm.Seconds(), "warm-s")
	b.ReportMetric(float64(rssWarm)/(1<<20), "peak-RSS-MiB")
	b.ReportMetric(float64(reread), "files-reread")
	fmt.Printf("| datasets plugin, %d files in %d datasets: cold scan / unchanged rescan (0 files read) | %.1f s / %.1f s, peak RSS %.0f MiB (after cold: %.0f MiB) | find -type f: %.1f s | %.1f (rescan time) |\n",
		total, datasets, cold.Seconds(), warm.Seconds(), float64(rssWarm)/(1<<20), float64(rssCold)/(1<<20), find.Seconds(), warm.Seconds()/find.Seconds())
}
