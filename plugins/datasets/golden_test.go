package datasets

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/annexa/annexa/plugins/sdk"
)

var update = flag.Bool("update", false, "rewrite testdata/*/expected.json from the current output")

// copyTree copies a committed fixture into dst with fixed modes (git keeps
// none but the x bit) so mode and world_readable are reproducible.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o750)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o640)
	})
	if err != nil {
		t.Fatal(err)
	}
	filepath.WalkDir(dst, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(path, 0o750)
		}
		return nil
	})
}

// TestGolden runs each testdata/<case> through the real settings decoder
// and compares the evidence, with host-specific fields normalised.
func TestGolden(t *testing.T) {
	cases, _ := filepath.Glob("testdata/*/config.json")
	if len(cases) == 0 {
		t.Fatal("no golden cases")
	}
	for _, cfgPath := range cases {
		dir := filepath.Dir(cfgPath)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "root")
			copyTree(t, filepath.Join(dir, "root"), root)
			cfg, err := os.ReadFile(cfgPath)
			if err != nil {
				t.Fatal(err)
			}
			p := quiet()
			raw := bytes.ReplaceAll(cfg, []byte("$ROOT"), []byte(root))
			if _, err := p.Configure(context.Background(), sdk.Config{Raw: raw, StateDir: t.TempDir()}); err != nil {
				t.Fatalf("Configure: %v", err)
			}
			recs := collect(t, p, sdk.Request{Full: true})
			got := normalise(t, root, recs)
			want := filepath.Join(dir, "expected.json")
			if *update {
				if err := os.WriteFile(want, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			exp, err := os.ReadFile(want)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(exp, got) {
				t.Errorf("evidence differs from %s (run with -update if intended):\n%s", want, got)
			}
		})
	}
}

func normalise(t *testing.T, root string, recs []sdk.Record) []byte {
	t.Helper()
	type rec struct {
		Kind       string     `json:"kind"`
		Subject    string     `json:"subject"`
		Op         string     `json:"op"`
		Attributes Attributes `json:"attributes"`
	}
	out := make([]rec, 0, len(recs))
	for _, r := range recs {
		a := r.Attributes.(Attributes)
		a.Path = strings.Replace(a.Path, root, "$ROOT", 1)
		a.Owner, a.Group, a.ModifiedAt = "<owner>", "<group>", "<time>"
		out = append(out, rec{r.Kind, strings.Replace(r.Subject, root, "$ROOT", 1), string(r.Op), a})
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
