package models

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/annexa/annexa/plugins/models/pickle"
)

// seed adds every committed fixture and, when present, the picklescan
// corpus, so each target starts from real files.
func seed(f *testing.F, pattern string) {
	files, _ := filepath.Glob(filepath.Join("testdata", "fixtures", pattern))
	more, _ := filepath.Glob(filepath.Join(picklescanDir, pattern))
	for _, p := range append(files, more...) {
		if b, err := os.ReadFile(p); err == nil && len(b) <= 64<<10 { // big seeds slow the fuzzer to a crawl
			f.Add(b)
		}
	}
}

// bounded runs fn and fails if it allocated far more than the input
// could justify: a length field must never size an allocation.
func bounded(t *testing.T, in []byte, fn func()) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > uint64(64<<20+200*len(in)) {
		t.Errorf("allocated %d bytes for %d bytes of input", grew, len(in))
	}
}

func analyzeBytes(b []byte) (Analysis, bool) {
	return Analyze(bytes.NewReader(b), int64(len(b)), Limits{MaxScanBytes: 1 << 20})
}

func FuzzAnalyze(f *testing.F) {
	seed(f, "*")
	f.Fuzz(func(t *testing.T, b []byte) {
		bounded(t, b, func() { analyzeBytes(b) })
	})
}

func FuzzPickle(f *testing.F) {
	seed(f, "*.pkl")
	seed(f, "*.pickle")
	seed(f, "*.joblib") // raw array data between opcodes
	f.Add([]byte("cos\nsystem\n(S'ls'\ntR."))
	f.Add([]byte("\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x94\x8c\x06system\x94\x93\x94."))
	f.Fuzz(func(t *testing.T, b []byte) {
		bounded(t, b, func() {
			res := pickle.Scan(bytes.NewReader(b), pickle.Limits{MaxBytes: 1 << 20, MaxMemo: 1000, MaxStack: 1000})
			if res.BytesRead > int64(len(b)) {
				t.Errorf("read %d of %d bytes", res.BytesRead, len(b))
			}
			if len(res.Findings) > pickle.DefaultLimits.MaxFindings+1 {
				t.Errorf("%d findings", len(res.Findings))
			}
		})
	})
}

func FuzzSafetensors(f *testing.F) {
	seed(f, "*.safetensors*")
	f.Add([]byte("\xff\xff\xff\xff\xff\xff\xff\x7f{\"a\":1}"))
	f.Add([]byte("\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		bounded(t, b, func() {
			var a Analysis
			analyzeSafetensors(&a, bytes.NewReader(b), int64(len(b)))
		})
	})
}

func FuzzGGUF(f *testing.F) {
	seed(f, "*.gguf")
	f.Add([]byte("GGUF\x03\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		bounded(t, b, func() {
			var a Analysis
			analyzeGGUF(&a, bytes.NewReader(b), int64(len(b)))
		})
	})
}

func FuzzNpy(f *testing.F) {
	seed(f, "*.npy")
	f.Add([]byte("\x93NUMPY\x02\x00\xff\xff\xff\x7f{'descr': '|O'}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		bounded(t, b, func() {
			var a Analysis
			analyzeNpy(&a, "", bytes.NewReader(b), int64(len(b)), 1<<20)
		})
	})
}

func FuzzZip(f *testing.F) {
	seed(f, "*.pt")
	seed(f, "*.npz")
	seed(f, "*.zip")
	seed(f, "*.keras")
	seed(f, "*.bin")
	f.Fuzz(func(t *testing.T, b []byte) {
		bounded(t, b, func() {
			analyzeZip(Analysis{}, bytes.NewReader(b), int64(len(b)), Limits{MaxScanBytes: 1 << 20})
		})
	})
}

func FuzzONNX(f *testing.F) {
	seed(f, "*.onnx")
	f.Add([]byte("\x08\x08\x12\x01x:\xff\xff\xff\xff\x0f"))
	f.Fuzz(func(t *testing.T, b []byte) {
		bounded(t, b, func() {
			var a Analysis
			analyzeONNX(&a, bytes.NewReader(b), int64(len(b)))
		})
	})
}

func FuzzCompressed(f *testing.F) {
	seed(f, "*.joblib*")
	f.Add([]byte("\xfd7zXZ\x00\x00\x04\xe6\xd6\xb4\x46\x02\x00\x21\x01\x28\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if c := compression(b); c != "" {
			bounded(t, b, func() {
				analyzeCompressed(c, bytes.NewReader(b), Limits{MaxScanBytes: 1 << 20})
			})
		}
	})
}

func FuzzH5(f *testing.F) {
	seed(f, "*.h5")
	f.Fuzz(func(t *testing.T, b []byte) {
		bounded(t, b, func() {
			var a Analysis
			analyzeH5(&a, bytes.NewReader(b), int64(len(b)))
		})
	})
}

func FuzzKerasConfig(f *testing.F) {
	f.Add([]byte(`{"class_name":"Lambda","config":{"name":"x","safe_mode":false}}`))
	f.Add([]byte(`{"module":"os","class_name":"system"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		bounded(t, b, func() {
			var a Analysis
			analyzeKerasConfig(&a, "config.json", b)
		})
	})
}

func FuzzSignature(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("testdata", "signed", "model.sig")); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		bounded(t, b, func() { parseSignature(b, "/m/model.sig", "/m") })
	})
}

func FuzzModelCard(f *testing.F) {
	f.Add([]byte(card))
	f.Add([]byte("---\nlicense: [mit, apache-2.0]\ndatasets: x\n---\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		bounded(t, b, func() {
			v := &folderView{}
			v.card(b)
			v.config(b)
		})
	})
}
