package soasheet

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/annexa/annexa/collector/internal/controls"
)

// BenchmarkRead reads the largest sheet an import accepts (MaxRows rows
// of a custom catalog, a 216-byte reason each, just under MaxBytes in YAML), in both formats: the
// bound on what one import costs in time and memory.
func BenchmarkRead(b *testing.B) {
	var list []controls.ControlInfo
	for i := range MaxRows {
		list = append(list, controls.ControlInfo{ID: fmt.Sprintf("custom-2026/%d", i), Title: "A control of a custom catalog"})
	}
	ids := make([]string, len(list))
	for i, c := range list {
		ids[i] = c.ID
	}
	lines, _ := Lines(list, nil)
	for i := range lines {
		lines[i].Justification = string(bytes.Repeat([]byte("Treats risk R-12, "), 12))
	}
	for _, f := range []Format{CSV, YAML} {
		var buf bytes.Buffer
		if err := Write(&buf, f, lines, time.Unix(0, 0)); err != nil {
			b.Fatal(err)
		}
		data := buf.Bytes()
		b.Run(string(f), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				s, err := Read(bytes.NewReader(data), "bench", f, ids)
				if err != nil {
					b.Fatal(err)
				}
				if len(s.Rows) != MaxRows {
					b.Fatalf("%d rows", len(s.Rows))
				}
			}
		})
	}
}
