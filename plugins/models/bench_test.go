package models

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/annexa/annexa/plugins/models/pickle"
	"github.com/annexa/annexa/plugins/sdk"
)

// opcodePickle is a pickle of n small items: strings, floats, ints and
// memo traffic, the worst case per byte for the walker (no bulk data).
func opcodePickle(n int) []byte {
	var b bytes.Buffer
	b.WriteString("\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00]\x94(")
	for i := range n {
		switch i % 4 {
		case 0:
			b.WriteString("\x8c\x05hello\x94")
		case 1:
			b.WriteString("G\x3f\xf0\x00\x00\x00\x00\x00\x00")
		case 2:
			b.WriteString("K\x07")
		case 3:
			b.WriteString("h\x01")
		}
		if i%1000 == 999 {
			b.WriteString("e(")
		}
	}
	b.WriteString("e.")
	return b.Bytes()
}

func BenchmarkPickleScan(b *testing.B) {
	data := opcodePickle(4 << 20)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for range b.N {
		res := pickle.Scan(bytes.NewReader(data), pickle.Limits{})
		if res.Err != nil {
			b.Fatal(res.Err)
		}
	}
}

func BenchmarkHash(b *testing.B) {
	dir := b.TempDir()
	path := filepath.Join(dir, "m.safetensors")
	data := make([]byte, 256<<20)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		b.Fatal(err)
	}
	p := New()
	f, _ := os.Open(path)
	defer f.Close()
	fi, _ := f.Stat()
	key := keyOf(fi, sdk.StatOf(fi))
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for range b.N {
		if _, err := p.hash(context.Background(), osFile{f}, key); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCollect inventories a tree of 2,000 small model files: the
// first iteration is cold (analyse and hash), the rest hit the cache.
func BenchmarkCollect(b *testing.B) {
	root := b.TempDir()
	files, _ := filepath.Glob(filepath.Join("testdata", "fixtures", "*"))
	for i := range 200 {
		dir := filepath.Join(root, "d"+strconv.Itoa(i))
		os.MkdirAll(dir, 0o750)
		for _, f := range files {
			data, _ := os.ReadFile(f)
			os.WriteFile(filepath.Join(dir, filepath.Base(f)), data, 0o640)
		}
	}
	for _, warm := range []bool{false, true} {
		name := "cold"
		if warm {
			name = "warm"
		}
		b.Run(name, func(b *testing.B) {
			state := b.TempDir()
			p := configured(b, map[string]any{"roots": []string{root}}, state)
			if warm {
				p.Collect(context.Background(), sdk.Request{Full: true}, &recorder{})
			}
			b.ResetTimer()
			for range b.N {
				if !warm {
					p.state.close()
					removeState(filepath.Join(state, stateName))
					p.state = openState(state, p.log)
				}
				var rec recorder
				if err := p.Collect(context.Background(), sdk.Request{Full: true}, &rec); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(files)*200*b.N)/b.Elapsed().Seconds(), "files/s")
		})
	}
}

var (
	benchRoot     = flag.String("bench-models-root", "", "an existing tree for BenchmarkInventoryTree (scripts/bench-models.sh makes one)")
	rescanProfile = flag.String("bench-models-rescan-profile", "", "write a CPU profile of BenchmarkInventoryTree's rescans alone to this file")
	onceProfile   = flag.String("bench-models-once-profile", "", "write a CPU profile of BenchmarkInventoryTree's scratch collection (collect --once's share) to this file")
)

// countEmitter counts records and checks their attributes, as the SDK
// does before sending them, so a benchmark pays for building the evidence.
type countEmitter struct {
	n     int
	bytes int
	// What the agent keeps: the last checkpoint, and the unchanged
	// subjects confirmed.
	cp        []byte
	unchanged int
}

func (c *countEmitter) Emit(r sdk.Record) error {
	// The SDK takes raw attributes as they are and checks them once.
	b, ok := r.Attributes.(json.RawMessage)
	if !ok {
		var err error
		if b, err = json.Marshal(r.Attributes); err != nil {
			return err
		}
	}
	if !json.Valid(b) {
		return fmt.Errorf("%s: attributes are not JSON", r.Subject)
	}
	c.n++
	c.bytes += len(b)
	return nil
}
func (c *countEmitter) Checkpoint(cp []byte) error { c.cp = cp; return nil }
func (c *countEmitter) Unchanged(_ time.Time, n int) error {
	c.unchanged = n
	return nil
}

// BenchmarkBareHashTree is the floor under BenchmarkInventoryTree: the
// same tree walked and hashed by the plainest Go there is, with no
// parsing and no evidence. It runs in a process of its own, so the
// inventory's peak RSS stays its own.
func BenchmarkBareHashTree(b *testing.B) {
	if *benchRoot == "" {
		b.Skip("needs -bench-models-root")
	}
	cpu0 := cpuTime()
	for range b.N {
		if n := bareHash(b, *benchRoot, 2); n == 0 {
			b.Fatal("the bare hasher found no files")
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "bare-s")
	b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N), "bare-cpu-s")
}

// bareHash walks root and SHA-256s every regular file with workers
// goroutines, as a minimal Go hasher would: no parsing, no stat beyond
// the walk's, no evidence. It returns the number of files hashed.
func bareHash(b *testing.B, root string, workers int) int {
	paths := make(chan string, 1024)
	var n atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			buf := make([]byte, 1<<20)
			for p := range paths {
				f, err := os.Open(p)
				if err != nil {
					b.Error(err)
					continue
				}
				h := sha256.New()
				if _, err := io.CopyBuffer(h, f, buf); err != nil {
					b.Error(err)
				}
				f.Close()
				h.Sum(nil)
				n.Add(1)
			}
		})
	}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() && !strings.HasPrefix(d.Name(), ".complete-") {
			paths <- p
		}
		return nil
	})
	close(paths)
	wg.Wait()
	if err != nil {
		b.Fatal(err)
	}
	return int(n.Load())
}

// startProfile starts a CPU profile into path and returns what stops it.
func startProfile(b *testing.B, path string) (stop func()) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkInventoryTree runs in process on the tree scripts/bench-models.sh
// generates: collect --once's collection (once-s, once-cpu-s: a scratch
// state, nothing written), then the daemon's case: one full collection with a cold hash
// cache (reported as cold-s and cold-cpu-s), one full collection that
// sends every model again from the state (resend-s, as after a lost
// checkpoint or each resend_every), then full rescans of the unchanged
// tree that confirm the models rather than send them (rescan-s,
// rescan-cpu-s), as the daemon's periodic collections do.
func BenchmarkInventoryTree(b *testing.B) {
	if *benchRoot == "" {
		b.Skip("needs -bench-models-root")
	}
	TuneGC() // as the plugin's executable does
	p := configured(b, map[string]any{"roots": []string{*benchRoot}, "workers": 2, "exclude": []string{".complete-*"}}, b.TempDir())
	// collect --once's case first: a scratch state, nothing written.
	stopOnce := func() {}
	if *onceProfile != "" {
		stopOnce = startProfile(b, *onceProfile)
	}
	start, cpu0 := time.Now(), cpuTime()
	var once countEmitter
	if err := p.Collect(context.Background(), sdk.Request{Full: true, ScratchState: true, Unthrottled: true}, &once); err != nil {
		b.Fatal(err)
	}
	onceWall, onceCPU := time.Since(start), cpuTime()-cpu0
	stopOnce()
	start, cpu0 = time.Now(), cpuTime()
	var first countEmitter
	if err := p.Collect(context.Background(), sdk.Request{Full: true}, &first); err != nil {
		b.Fatal(err)
	}
	cold, coldCPU := time.Since(start), cpuTime()-cpu0
	req := sdk.Request{Full: true, AcceptsUnchanged: true}
	start = time.Now()
	var resent countEmitter
	if err := p.Collect(context.Background(), req, &resent); err != nil {
		b.Fatal(err)
	}
	resend := time.Since(start)
	if resent.n != first.n || resent.bytes != first.bytes {
		b.Fatalf("resend reported %d models (%d bytes), the first scan %d (%d bytes)", resent.n, resent.bytes, first.n, first.bytes)
	}
	req.Checkpoint = resent.cp
	if *rescanProfile != "" {
		defer startProfile(b, *rescanProfile)()
	}
	b.ResetTimer()
	cpu0 = cpuTime()
	for range b.N {
		var rec countEmitter
		if err := p.Collect(context.Background(), req, &rec); err != nil {
			b.Fatal(err)
		}
		if rec.n != 0 || rec.unchanged != first.n {
			b.Fatalf("rescan sent %d models and confirmed %d; the first scan sent %d", rec.n, rec.unchanged, first.n)
		}
		req.Checkpoint = rec.cp
	}
	rescanCPU := cpuTime() - cpu0
	b.ReportMetric(cold.Seconds(), "cold-s")
	b.ReportMetric(coldCPU.Seconds(), "cold-cpu-s")
	b.ReportMetric(onceWall.Seconds(), "once-s")
	b.ReportMetric(onceCPU.Seconds(), "once-cpu-s")
	b.ReportMetric(resend.Seconds(), "resend-s")
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "rescan-s")
	b.ReportMetric(rescanCPU.Seconds()/float64(b.N), "rescan-cpu-s")
	b.ReportMetric(float64(first.n), "models")
}
