package access

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkParseAuthLog parses the real loghub sshd log, repeated, and
// reports lines per second (the issue asks for 300,000 per core).
func BenchmarkParseAuthLog(b *testing.B) {
	for _, name := range []string{"OpenSSH_2k.log", "Linux_2k.log"} {
		b.Run(name, func(b *testing.B) {
			raw, err := os.ReadFile(loghub(b, name))
			if err != nil {
				b.Fatal(err)
			}
			raw = append(bytes.TrimRight(raw, "\r\n"), '\n')
			data := bytes.Repeat(raw, 50)
			lines := bytes.Count(data, []byte("\n"))
			b.SetBytes(int64(len(data)))
			b.ResetTimer()
			start := time.Now()
			for b.Loop() {
				if _, err := ParseAuthLog(bytes.NewReader(data), ParseOptions{Year: 2024, Location: time.UTC}, func(Event) error { return nil }); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(lines)*float64(b.N)/time.Since(start).Seconds(), "lines/s")
		})
	}
}

// BenchmarkCollect is the whole path for one log: read from the
// checkpoint, parse, emit, detect, checkpoint every 200 lines.
func BenchmarkCollect(b *testing.B) {
	raw, err := os.ReadFile(loghub(b, "OpenSSH_2k.log"))
	if err != nil {
		b.Fatal(err)
	}
	raw = append(bytes.TrimRight(raw, "\r\n"), '\n')
	path := b.TempDir() + "/auth.log"
	if err := os.WriteFile(path, bytes.Repeat(raw, 10), 0o640); err != nil {
		b.Fatal(err)
	}
	p := newPlugin(b, map[string]any{"auth_logs": []string{path}, "year": 2024})
	start := time.Now()
	for b.Loop() {
		a := &nullAgent{}
		if err := p.Collect(b.Context(), sdkRequest(), a); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(20000*float64(b.N)/time.Since(start).Seconds(), "lines/s")
}

// BenchmarkParseFile parses the auth log named by ACCESS_BENCH_FILE (make
// bench points it at the file it also gives to grep -c sshd) and reports
// lines per second on one core.
func BenchmarkParseFile(b *testing.B) {
	path := os.Getenv("ACCESS_BENCH_FILE")
	if path == "" {
		b.Skip("ACCESS_BENCH_FILE is not set (make bench sets it)")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	lines := bytes.Count(data, []byte("\n"))
	b.SetBytes(int64(len(data)))
	start := time.Now()
	for b.Loop() {
		if _, err := ParseAuthLog(bytes.NewReader(data), ParseOptions{Year: 2024, Location: time.UTC}, func(Event) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(lines)*float64(b.N)/time.Since(start).Seconds(), "lines/s")
}

// BenchmarkCollectAudit is the whole path for the real audit log,
// repeated: records grouped into events, assets named, checkpoints.
func BenchmarkCollectAudit(b *testing.B) {
	raw, err := os.ReadFile("testdata/audit/audit.log")
	if err != nil {
		b.Fatal(err)
	}
	path := b.TempDir() + "/audit.log"
	const copies = 100
	if err := os.WriteFile(path, bytes.Repeat(raw, copies), 0o640); err != nil {
		b.Fatal(err)
	}
	lines := bytes.Count(raw, []byte("\n")) * copies
	p := newPlugin(b, map[string]any{"audit_logs": []string{path}, "passwd_file": mustAbs(b, "testdata/audit/passwd"),
		"dataset_roots": []string{"/srv/ml/datasets"}, "model_roots": []string{"/srv/ml/models"}})
	start := time.Now()
	for b.Loop() {
		if err := p.Collect(b.Context(), sdkRequest(), &nullAgent{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(lines)*float64(b.N)/time.Since(start).Seconds(), "lines/s")
}

func mustAbs(b *testing.B, p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		b.Fatal(err)
	}
	return abs
}

// BenchmarkDecompressFile reads a compressed rotated log into lines the
// way a collection does (decompressor, caps, line scanner), reporting
// lines/s: ACCESS_BENCH_FILE (make bench gives it the .xz and .zst of its
// sshd file, beside xz -dc and zstd -dc), else OpenSSH_2k ×100 through
// the real xz.
func BenchmarkDecompressFile(b *testing.B) {
	path := os.Getenv("ACCESS_BENCH_FILE")
	if path == "" {
		raw, err := os.ReadFile(loghub(b, "OpenSSH_2k.log"))
		if err != nil {
			b.Fatal(err)
		}
		path = filepath.Join(b.TempDir(), "auth.log.1.xz")
		if err := os.WriteFile(path, compressWith(b, bytes.Repeat(raw, 100), "xz", "-c"), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	kind := compressionOf(path)
	var lines int64
	b.ResetTimer()
	for range b.N {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		d, closeFn, err := decompressor(kind, f)
		if err != nil {
			b.Fatal(err)
		}
		budget := int64(DefaultMaxDecompressedPerCollection)
		sc := newLineScanner(&capReader{r: d, fileCap: DefaultMaxDecompressedPerFile, budget: &budget}, 0, DefaultMaxLineBytes, true)
		lines = 0
		for {
			if _, _, _, err := sc.next(); err != nil {
				break
			}
			lines++
		}
		closeFn()
		f.Close()
	}
	b.ReportMetric(float64(lines)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

// BenchmarkLogrotateConfig is what olddir discovery costs each
// collection: reading this machine's logrotate configuration (with its
// includes) as the plugin does, beside the real `logrotate -d` reading
// the same, the tool a sysadmin would ask instead.
func BenchmarkLogrotateConfig(b *testing.B) {
	if _, err := os.Stat(DefaultLogrotateConfig); err != nil {
		b.Skipf("no %s here", DefaultLogrotateConfig)
	}
	b.Run("parser", func(b *testing.B) {
		for b.Loop() {
			if cfg := readLogrotateConfig([]string{DefaultLogrotateConfig}); len(cfg.Rules) == 0 {
				b.Fatal("no blocks read")
			}
		}
	})
	b.Run("logrotate-d", func(b *testing.B) {
		bin := needTool(b, "logrotate")
		state := filepath.Join(b.TempDir(), "state")
		for b.Loop() {
			if err := exec.Command(bin, "-d", "-s", state, DefaultLogrotateConfig).Run(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
