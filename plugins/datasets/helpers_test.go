package datasets

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/annexa/annexa/plugins/sdk"
)

// recorder is an sdk.Emitter that keeps what it is given.
type recorder struct {
	recs []sdk.Record
}

func (r *recorder) Emit(rec sdk.Record) error { r.recs = append(r.recs, rec); return nil }
func (r *recorder) Checkpoint([]byte) error   { return nil }

// file describes one fixture entry; a body of "<dir>" makes a folder and
// "-> target" a symlink.
type file struct {
	path string
	body string
	mode os.FileMode
}

func makeTree(t *testing.T, root string, files []file) {
	t.Helper()
	for _, f := range files {
		p := filepath.Join(root, f.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			t.Fatal(err)
		}
		switch {
		case f.body == "<dir>":
			if err := os.MkdirAll(p, 0o750); err != nil {
				t.Fatal(err)
			}
		case strings.HasPrefix(f.body, "-> "):
			if err := os.Symlink(strings.TrimPrefix(f.body, "-> "), p); err != nil {
				t.Fatal(err)
			}
			continue
		default:
			if err := os.WriteFile(p, []byte(f.body), 0o640); err != nil {
				t.Fatal(err)
			}
		}
		if f.mode != 0 {
			if err := os.Chmod(p, f.mode); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func quiet() *Plugin {
	p := New()
	p.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	return p
}

func newPlugin(t *testing.T, settings Settings, stateDir string) *Plugin {
	t.Helper()
	p := quiet()
	raw, _ := json.Marshal(settings)
	if _, err := p.Configure(context.Background(), sdk.Config{Raw: raw, StateDir: stateDir}); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	return p
}

func collect(t *testing.T, p *Plugin, req sdk.Request) []sdk.Record {
	t.Helper()
	var r recorder
	if err := p.Collect(context.Background(), req, &r); err != nil {
		t.Fatalf("Collect: %v", err)
	}
	return r.recs
}

// byPath maps upserted datasets (relative to root, "." for the root) to
// their attributes.
func byPath(t *testing.T, root string, recs []sdk.Record) map[string]Attributes {
	t.Helper()
	out := map[string]Attributes{}
	for _, r := range recs {
		if r.Op != sdk.OpUpsert {
			continue
		}
		a := r.Attributes.(Attributes)
		rel, err := filepath.Rel(root, a.Path)
		if err != nil {
			t.Fatal(err)
		}
		if r.Subject != "dataset:"+a.Path {
			t.Errorf("subject %q does not match path %q", r.Subject, a.Path)
		}
		out[filepath.ToSlash(rel)] = a
	}
	return out
}

// summary is "<dataset>=<file count>" for every dataset, sorted.
func summary(m map[string]Attributes) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + itoa(m[k].FileCount)
	}
	return strings.Join(parts, " ")
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }
