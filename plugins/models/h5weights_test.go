package models

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestKerasWeights: the parameter count and dtypes of Keras files come
// from their weight datasets, through both group layouts h5py writes
// (symbol tables in dense.h5 and lambda.h5, link messages in latest.h5)
// and from the model.weights.h5 inside a .keras file.
func TestKerasWeights(t *testing.T) {
	for _, name := range []string{"dense.h5", "lambda.h5", "latest.h5", "dense.keras", "lambda.keras"} {
		a, ok := analyzeFile(t, filepath.Join("testdata", "fixtures", name))
		if !ok || a.Parameters == nil || *a.Parameters != 4*2+2 || !slices.Equal(a.Dtypes, []string{"float32"}) {
			p := -1
			if a.Parameters != nil {
				p = int(*a.Parameters)
			}
			t.Errorf("%s: parameters %d dtypes %v findings %v", name, p, a.Dtypes, a.Findings)
		}
	}
}

// TestKerasWeightLayouts: only the model's weights count, a dataset
// linked twice counts once, and links the walk cannot read give no count
// rather than a wrong one.
func TestKerasWeightLayouts(t *testing.T) {
	for _, c := range []struct {
		name   string
		params int
		dtype  string
	}{
		{"optimizer.h5", 4*3 + 3, "float32"},
		{"weights_only.h5", 8*4 + 4, "float16"},
		{"dense_links.h5", -1, ""},
	} {
		a, ok := analyzeFile(t, filepath.Join("testdata", "fixtures", c.name))
		p := -1
		if a.Parameters != nil {
			p = int(*a.Parameters)
		}
		if !ok || a.Format != "keras-h5" || p != c.params || (c.dtype != "" && !slices.Equal(a.Dtypes, []string{c.dtype})) || worst(a) != "" && worst(a) != "info" {
			t.Errorf("%s: format %s parameters %d dtypes %v findings %v", c.name, a.Format, p, a.Dtypes, a.Findings)
		}
	}
}

// TestKerasWeightsMutated: every byte of the weight files' metadata set
// to 0xff or 0x00 in turn (addresses, sizes, counts, signatures) costs
// bounded time and memory and never panics.
func TestKerasWeightsMutated(t *testing.T) {
	for _, name := range []string{"dense.h5", "latest.h5"} {
		orig, err := os.ReadFile(filepath.Join("testdata", "fixtures", name))
		if err != nil {
			t.Fatal(err)
		}
		b := slices.Clone(orig)
		for i := range b {
			for _, v := range []byte{0xff, 0x00} {
				b[i] = v
				bounded(t, b, func() {
					var a Analysis
					analyzeH5(&a, bytes.NewReader(b), int64(len(b)))
				})
				b[i] = orig[i]
			}
		}
	}
}
