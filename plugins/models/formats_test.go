package models

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/annexa/annexa/plugins/models/pickle"
)

func analyzeFile(t testing.TB, path string) (Analysis, bool) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	return Analyze(f, fi.Size(), Limits{})
}

func hasRule(a Analysis, rule string, sev pickle.Severity) bool {
	return slices.ContainsFunc(a.Findings, func(f pickle.Finding) bool {
		return f.Rule == rule && (sev == "" || f.Severity == sev)
	})
}

func worst(a Analysis) pickle.Severity {
	r := pickle.Result{Findings: a.Findings}
	return r.Worst()
}

// TestFixtures checks what the committed fixtures (made by
// testdata/make_fixtures.py with the real writers) analyse to.
func TestFixtures(t *testing.T) {
	dir := filepath.Join("testdata", "fixtures")
	cases := []struct {
		file, format string
		params       int64 // -1: not checked
		unsafe       bool
		check        func(t *testing.T, a Analysis)
	}{
		{"state_dict.pt", "pytorch-zip", 6, false, func(t *testing.T, a Analysis) {
			if w := worst(a); w != "" {
				t.Errorf("clean torch.save has findings %v", a.Findings)
			}
			if !slices.ContainsFunc(a.Globals, func(g pickle.Global) bool { return g.Name == "_rebuild_tensor_v2" }) {
				t.Errorf("globals %v", a.Globals)
			}
		}},
		{"legacy.pt", "pytorch-legacy", 6, false, func(t *testing.T, a Analysis) {
			if w := worst(a); w.Rank() > pickle.Info.Rank() {
				t.Errorf("clean legacy torch.save has findings %v", a.Findings)
			}
		}},
		{"evil.pt", "pytorch-zip", -1, true, func(t *testing.T, a Analysis) {
			if !hasRule(a, "pickle.global.posix.system", pickle.Critical) && !hasRule(a, "pickle.global.os.system", pickle.Critical) {
				t.Errorf("findings %v", a.Findings)
			}
		}},
		{"evil.pkl", "pickle", -1, true, nil},
		{"plain.pkl", "pickle", -1, false, func(t *testing.T, a Analysis) {
			if len(a.Findings) != 0 {
				t.Errorf("findings %v", a.Findings)
			}
		}},
		{"floats.npy", "numpy", 6, false, func(t *testing.T, a Analysis) {
			if !slices.Equal(a.Dtypes, []string{"<f4"}) || !slices.Equal(a.Shape, []uint64{2, 3}) {
				t.Errorf("dtypes %v shape %v", a.Dtypes, a.Shape)
			}
		}},
		{"objects.npy", "numpy", 3, false, func(t *testing.T, a Analysis) {
			if !hasRule(a, "numpy.object_dtype", pickle.Suspicious) || len(a.Globals) == 0 {
				t.Errorf("findings %v globals %v", a.Findings, a.Globals)
			}
		}},
		{"arrays.npz", "numpy-npz", 7, false, nil},
		{"tiny.safetensors", "safetensors", 7, false, func(t *testing.T, a Analysis) {
			if len(a.Findings) != 0 || a.Metadata["license"] != "mit" || *a.TensorCount != 2 {
				t.Errorf("findings %v metadata %v", a.Findings, a.Metadata)
			}
			if !slices.Equal(a.Dtypes, []string{"F32", "BF16"}) {
				t.Errorf("dtypes %v", a.Dtypes)
			}
		}},
		{"overlap.safetensors.bin", "safetensors", 3, false, func(t *testing.T, a Analysis) {
			if !hasRule(a, "safetensors.overlap", "") {
				t.Errorf("findings %v", a.Findings)
			}
		}},
		{"tiny.gguf", "gguf", 16, false, func(t *testing.T, a Analysis) {
			if a.Architecture != "llama" || a.ModelName != "tiny-test" || a.License != "apache-2.0" ||
				a.FileType != "MOSTLY_F16" || a.ContextLength != 2048 || a.ChatTemplate == nil || !*a.ChatTemplate ||
				*a.TensorCount != 2 || a.GGUFVersion != 3 || !slices.Equal(a.Datasets, []string{"tatsu-lab/alpaca", "openai/gsm8k"}) {
				b, _ := json.Marshal(a)
				t.Errorf("%s", b)
			}
		}},
		{"tiny.onnx", "onnx", 9, false, func(t *testing.T, a Analysis) {
			if a.IRVersion == nil || *a.IRVersion != 8 || a.Producer != "annexa-fixtures" || a.ProducerVersion != "1.0" ||
				a.Opsets["ai.onnx"] != 13 || a.License != "apache-2.0" || a.Metadata["author"] != "annexa" ||
				*a.TensorCount != 2 || !slices.Equal(a.Dtypes, []string{"FLOAT", "FLOAT16"}) || len(a.Findings) != 0 ||
				a.ModelName != "tiny" {
				b, _ := json.Marshal(a)
				t.Errorf("%s", b)
			}
		}},
		{"custom_op.onnx", "onnx", 0, false, func(t *testing.T, a Analysis) {
			// com.hidden is only in an If branch; local.fns is defined in
			// the file itself, so it is not native code.
			if !slices.Equal(a.CustomDomains, []string{"com.example.ops", "com.hidden"}) || !hasRule(a, "onnx.custom_domain", pickle.Suspicious) {
				t.Errorf("custom domains %v findings %v", a.CustomDomains, a.Findings)
			}
		}},
		{"external_ok.onnx", "onnx", 16, false, func(t *testing.T, a Analysis) {
			if !slices.Equal(a.ExternalData, []string{"external_ok.onnx.data"}) || len(a.Findings) != 0 {
				t.Errorf("external %v findings %v", a.ExternalData, a.Findings)
			}
		}},
		{"external_escape.onnx", "onnx", 4, true, func(t *testing.T, a Analysis) {
			n := 0
			for _, f := range a.Findings {
				if f.Rule == "onnx.external_data.path" && f.Severity == pickle.High {
					n++
				}
			}
			if n != 2 || len(a.ExternalData) != 2 {
				t.Errorf("external %v findings %v", a.ExternalData, a.Findings)
			}
		}},
		{"logreg.joblib", "joblib", 6, false, func(t *testing.T, a Analysis) {
			// classes_ (2 x i8), n_iter_ (i4), coef_ (1x2 f8), intercept_:
			// their raw bytes sit between opcodes and must be skipped exactly.
			if !slices.Equal(a.Dtypes, []string{"i8", "i4", "f8"}) || len(a.Findings) != 1 ||
				!hasRule(a, "pickle.global.sklearn.linear_model._logistic.LogisticRegression", pickle.Suspicious) {
				t.Errorf("dtypes %v findings %v", a.Dtypes, a.Findings)
			}
		}},
		{"arrays.joblib", "joblib", 7, false, func(t *testing.T, a Analysis) {
			if !slices.Equal(a.Dtypes, []string{"i4", "U2", "O8"}) || len(a.Findings) != 0 {
				t.Errorf("dtypes %v findings %v", a.Dtypes, a.Findings)
			}
		}},
		{"evil.joblib", "joblib", 3, true, func(t *testing.T, a Analysis) {
			// os.system is inside the object array's own pickle.
			if !hasRule(a, "pickle.global.posix.system", pickle.Critical) {
				t.Errorf("findings %v", a.Findings)
			}
		}},
		{"logreg.joblib-zlib", "joblib", 6, false, func(t *testing.T, a Analysis) {
			if a.Compression != "zlib" || len(a.Findings) != 1 {
				t.Errorf("compression %q findings %v", a.Compression, a.Findings)
			}
		}},
		{"logreg.joblib-gzip", "joblib", 6, false, func(t *testing.T, a Analysis) {
			if a.Compression != "gzip" || len(a.Findings) != 1 {
				t.Errorf("compression %q findings %v", a.Compression, a.Findings)
			}
		}},
		{"logreg.joblib-bz2", "joblib", 6, false, func(t *testing.T, a Analysis) {
			if a.Compression != "bz2" || len(a.Findings) != 1 {
				t.Errorf("compression %q findings %v", a.Compression, a.Findings)
			}
		}},
		{"logreg.joblib-xz", "joblib", 6, false, func(t *testing.T, a Analysis) {
			if a.Compression != "xz" || len(a.Findings) != 1 {
				t.Errorf("compression %q findings %v", a.Compression, a.Findings)
			}
		}},
		{"logreg.joblib-lzma", "joblib", 6, false, func(t *testing.T, a Analysis) {
			if a.Compression != "lzma" || len(a.Findings) != 1 {
				t.Errorf("compression %q findings %v", a.Compression, a.Findings)
			}
		}},
		{"logreg.joblib-lz4", "joblib", 6, false, func(t *testing.T, a Analysis) {
			if a.Compression != "lz4" || len(a.Findings) != 1 {
				t.Errorf("compression %q findings %v", a.Compression, a.Findings)
			}
		}},
		{"evil.joblib-lz4", "joblib", 3, true, func(t *testing.T, a Analysis) {
			if a.Compression != "lz4" || !hasRule(a, "pickle.global.posix.system", pickle.Critical) {
				t.Errorf("compression %q findings %v", a.Compression, a.Findings)
			}
		}},
		{"logreg.joblib-zf", "joblib", -1, false, func(t *testing.T, a Analysis) {
			// A pre-0.10 joblib file: the model pickled whole (numpy's own
			// reconstructors, allowed), behind joblib's ZF header.
			if a.Compression != "zfile" || len(a.Findings) != 1 ||
				!hasRule(a, "pickle.global.sklearn.linear_model._logistic.LogisticRegression", pickle.Suspicious) {
				t.Errorf("compression %q findings %v", a.Compression, a.Findings)
			}
		}},
		{"evil.joblib-zf", "joblib", -1, true, func(t *testing.T, a Analysis) {
			if a.Compression != "zfile" || !hasRule(a, "pickle.global.posix.system", pickle.Critical) {
				t.Errorf("compression %q findings %v", a.Compression, a.Findings)
			}
		}},
		{"dense.h5", "keras-h5", -1, false, func(t *testing.T, a Analysis) {
			if a.Architecture != "Sequential" || a.KerasVersion != "2.15.0" || a.Backend != "tensorflow" || len(a.Findings) != 0 {
				b, _ := json.Marshal(a)
				t.Errorf("%s", b)
			}
		}},
		{"lambda.h5", "keras-h5", -1, true, func(t *testing.T, a Analysis) {
			if !hasRule(a, "keras.lambda", pickle.High) || len(a.Findings) != 1 || a.ModelName != "with_lambda" {
				t.Errorf("findings %v", a.Findings)
			}
		}},
		{"latest.h5", "keras-h5", -1, true, func(t *testing.T, a Analysis) {
			// Superblock 3, object header 2, str attributes in the global heap.
			if !hasRule(a, "keras.module", pickle.Critical) || a.KerasVersion != "3.3.3" || a.ModelName != "gadget" {
				t.Errorf("findings %v", a.Findings)
			}
		}},
		{"dense.keras", "keras-v3", -1, false, func(t *testing.T, a Analysis) {
			if a.Architecture != "Sequential" || a.KerasVersion != "3.3.3" || len(a.Findings) != 0 {
				b, _ := json.Marshal(a)
				t.Errorf("%s", b)
			}
		}},
		{"lambda.keras", "keras-v3", -1, true, func(t *testing.T, a Analysis) {
			for _, r := range []struct {
				rule string
				sev  pickle.Severity
			}{{"keras.lambda", pickle.High}, {"keras.safe_mode", pickle.High}, {"keras.module", pickle.Suspicious}, {"keras.custom_object", pickle.Suspicious}} {
				if !hasRule(a, r.rule, r.sev) {
					t.Errorf("no %s %s in %v", r.sev, r.rule, a.Findings)
				}
			}
			if len(a.Findings) != 4 {
				t.Errorf("findings %v", a.Findings)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			a, ok := analyzeFile(t, filepath.Join(dir, c.file))
			b, _ := json.Marshal(a)
			t.Logf("%s", b)
			if !ok {
				t.Fatal("not recognised as a model")
			}
			if a.Format != c.format {
				t.Errorf("format %q, want %q", a.Format, c.format)
			}
			if c.params >= 0 && (a.Parameters == nil || *a.Parameters != uint64(c.params)) {
				t.Errorf("parameters %v, want %d", a.Parameters, c.params)
			}
			if a.Unsafe() != c.unsafe {
				t.Errorf("unsafe %v, want %v (findings %v)", a.Unsafe(), c.unsafe, a.Findings)
			}
			if c.check != nil {
				c.check(t, a)
			}
		})
	}
}

const picklescanDir = "../../../shared/testdata/picklescan"

// TestPicklescanCorpus runs the public picklescan test files through the
// whole analysis, in place (they are never copied into this repository).
func TestPicklescanCorpus(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(picklescanDir, "*"))
	if len(files) == 0 {
		t.Skipf("skipping: %s is missing (the public picklescan test files)", picklescanDir)
	}
	for _, f := range files {
		base := filepath.Base(f)
		if base == "LICENSE" {
			continue
		}
		t.Run(base, func(t *testing.T) {
			a, ok := analyzeFile(t, f)
			b, _ := json.Marshal(a)
			t.Logf("ok=%v %s", ok, b)
			switch {
			case base == "not_a_pickle.bin", base == "bad_pytorch.pt", strings.HasSuffix(base, ".7z"):
				if ok {
					t.Errorf("reported as a model (%s)", a.Format)
				}
			case base == "benign_password_protected.zip":
				if !ok || !hasRule(a, "zip.encrypted", "") || a.Unsafe() {
					t.Errorf("want an encrypted, not unsafe model; got ok=%v %v", ok, a.Findings)
				}
			case base == "malicious1_central_directory.zip":
				if !hasRule(a, "zip.name_mismatch", "") || worst(a) != pickle.Critical {
					t.Errorf("want a name mismatch and critical; got %v", a.Findings)
				}
			case strings.HasPrefix(base, "malicious"), base == "pytorch_magic_bypass.pt", base == "sys_module_override_sploit.pkl", base == "broken_model.pkl":
				if !ok || (worst(a) != pickle.Critical && worst(a) != pickle.High) {
					t.Errorf("want critical or high; got ok=%v worst %q", ok, worst(a))
				}
			default: // benign*, pytorch_model.bin, new_pytorch_model.bin
				if !ok || worst(a) == pickle.Critical || a.Unsafe() {
					t.Errorf("want a model that is not critical; got ok=%v worst %q", ok, worst(a))
				}
			}
		})
	}
}

// TestReadmeListsMatch keeps the README's deny, high and allow lists the
// ones the code uses.
func TestReadmeListsMatch(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	all := slices.Concat(pickle.Denylist, pickle.Highlist)
	for k := range pickle.Allowlist {
		all = append(all, k)
	}
	for _, e := range all {
		if !strings.Contains(readme, "`"+e+"`") {
			t.Errorf("README.md does not list %q", e)
		}
	}
}

// TestLegacyTorchParametersNeedExactStorages: the count from a legacy
// file's storages stands only when they fill the file exactly.
func TestLegacyTorchParametersNeedExactStorages(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "fixtures", "legacy.pt"))
	if err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func([]byte) []byte{
		"one byte short":   func(b []byte) []byte { return b[:len(b)-1] },
		"three bytes more": func(b []byte) []byte { return append(b, 1, 2, 3) },
		"a count past the end": func(b []byte) []byte {
			return append(b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f)
		},
	} {
		m := mutate(bytes.Clone(b))
		a, ok := Analyze(bytes.NewReader(m), int64(len(m)), Limits{})
		if !ok || a.Format != "pytorch-legacy" {
			t.Fatalf("%s: format %q", name, a.Format)
		}
		if a.Parameters != nil {
			t.Errorf("%s: parameters %d, want none", name, *a.Parameters)
		}
	}
}
