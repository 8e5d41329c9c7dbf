package pii

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"
)

// BenchmarkScanCSVCorpus: sampling throughput on realistic rows.
func BenchmarkScanCSVCorpus(b *testing.B) {
	var buf bytes.Buffer
	writeCorpusCSV(csv.NewWriter(&buf), corpus(corpusSeed, 3000))
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		ScanCSV(bytes.NewReader(data), ',', Limits{MaxRows: 1 << 30, MaxBytes: 1 << 30})
	}
}

// BenchmarkScanTextWorst: one long line of characters every pattern
// could start on.
func BenchmarkScanTextWorst(b *testing.B) {
	for _, s := range []string{"x", "1", "1.", "a1:", "1-", "A1"} {
		data := []byte(strings.Repeat(s, (1<<20)/len(s)))
		b.Run(s, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				ScanText(bytes.NewReader(data), Limits{MaxRows: 1000, MaxBytes: 1 << 20})
			}
		})
	}
}
