package encryption

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/annexa/annexa/plugins/sdk"
)

// BenchmarkReadLUKS reads and parses a real LUKS2 header (binary header,
// checksum, JSON area) from memory: the per-volume cost of a collection.
func BenchmarkReadLUKS(b *testing.B) {
	for _, name := range []string{"luks1-aes-xts.hdr", "luks2-aes-xts.hdr"} {
		hdr := luksFixture(b, name)
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(hdr)))
			for b.Loop() {
				if _, err := readLUKSFrom(bytes.NewReader(hdr)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkScanKeys walks a dataset-like tree of 10,000 files in 100
// folders, a few of them keys: the key scan's cost per root.
func BenchmarkScanKeys(b *testing.B) {
	root := b.TempDir()
	for d := range 100 {
		dir := filepath.Join(root, fmt.Sprintf("ds%d", d))
		os.MkdirAll(dir, 0o755)
		for f := range 100 {
			os.WriteFile(filepath.Join(dir, fmt.Sprintf("part-%d.bin", f)), []byte("x"), 0o644)
		}
	}
	os.WriteFile(filepath.Join(root, "ds1", "tls.key"), []byte("-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n"), 0o644)
	owners := sdk.NewOwners()
	for b.Loop() {
		keys, sum, err := scanKeys(context.Background(), root, 1<<20, owners)
		if err != nil || len(keys) != 1 || sum.Files != 10001 {
			b.Fatal(len(keys), sum, err)
		}
	}
	b.ReportMetric(float64(10001*b.N)/b.Elapsed().Seconds(), "files/s")
}
