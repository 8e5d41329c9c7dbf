package datasets

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/annexa/annexa/plugins/sdk"
)

// ops renders records as "upsert:a=2 delete:b", paths relative to root.
func ops(root string, recs []sdk.Record) string {
	var out []string
	for _, r := range recs {
		path := strings.TrimPrefix(r.Subject, "dataset:")
		rel, _ := filepath.Rel(root, path)
		s := string(r.Op) + ":" + filepath.ToSlash(rel)
		if a, ok := r.Attributes.(Attributes); ok {
			s += "=" + itoa(a.FileCount)
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

func TestIncremental(t *testing.T) {
	root := t.TempDir()
	makeTree(t, root, []file{
		{path: "a/x.csv", body: "1"}, {path: "a/sub/y.csv", body: "2"},
		{path: "b/z.csv", body: "3"}, {path: "top.csv", body: "4"},
	})
	p := newPlugin(t, Settings{Roots: []string{root}}, t.TempDir())
	if got := summary(byPath(t, root, collect(t, p, sdk.Request{Full: true}))); got != ".=1 a=2 b=1" {
		t.Fatalf("full: %s", got)
	}
	abs := func(rel string) string { return filepath.Join(root, rel) }
	steps := []struct {
		name    string
		change  func()
		changed []string
		want    string
	}{
		{"nothing changed", func() {}, nil, ""},
		{"a file added", func() { os.WriteFile(abs("a/sub/w.csv"), []byte("5"), 0o640) }, []string{abs("a/sub/w.csv")}, "upsert:a=3"},
		{"a marker splits a dataset", func() { os.WriteFile(abs("a/sub/.annexa-dataset"), nil, 0o640) },
			[]string{abs("a/sub/.annexa-dataset")}, "upsert:a/sub=2 upsert:a=1"},
		{"the marker goes: merged back", func() { os.Remove(abs("a/sub/.annexa-dataset")) },
			[]string{abs("a/sub/.annexa-dataset")}, "delete:a/sub upsert:a=3"},
		{"a new folder with a nested marked dataset", func() {
			makeTree(t, root, []file{{path: "c/d/e/.annexa-dataset"}, {path: "c/d/e/f.bin", body: "6"}, {path: "c/g.bin", body: "7"}})
		}, []string{abs("c")}, "upsert:c/d/e=1 upsert:c=1"},
		{"a folder deleted with its nested dataset", func() { os.RemoveAll(abs("c")) }, []string{abs("c")}, "delete:c delete:c/d/e upsert:.=1"},
		{"last data file of a child removed", func() { os.Remove(abs("b/z.csv")) }, []string{abs("b/z.csv")}, "delete:b"},
		{"root-level file removed", func() { os.Remove(abs("top.csv")) }, []string{abs("top.csv")}, "delete:."},
		{"path outside the roots", func() {}, []string{"/somewhere/else", "relative"}, ""},
		{"the root itself", func() { makeTree(t, root, []file{{path: "n/x", body: "1"}}) }, []string{root}, "upsert:a=3 upsert:n=1"},
		{"hidden file changed", func() { os.WriteFile(abs("a/.swap"), []byte("x"), 0o640) }, []string{abs("a/.swap")}, "upsert:a=3"},
	}
	for _, s := range steps {
		s.change()
		if got := ops(root, collect(t, p, sdk.Request{Changed: s.changed})); got != s.want {
			t.Errorf("%s: got %q, want %q", s.name, got, s.want)
		}
	}
	// The known list survives a restart: a new process still owes deletes.
	p2 := newPlugin(t, Settings{Roots: []string{root}}, p.stateDir)
	os.RemoveAll(abs("n"))
	if got := ops(root, collect(t, p2, sdk.Request{Changed: []string{abs("n")}})); got != "delete:n" {
		t.Errorf("after restart: %q", got)
	}
}

// TestIncrementalPersonalData: a file that gains personal data changes its
// dataset's digest, sample and classification on the incremental
// collection for that file, and no other dataset is reported.
func TestIncrementalPersonalData(t *testing.T) {
	root := t.TempDir()
	makeTree(t, root, []file{
		{path: "a/users.csv", body: "id,note\n1,hello\n"},
		{path: "b/other.csv", body: "id,email\n1,b@example.com\n"},
	})
	p := newPlugin(t, Settings{Roots: []string{root}}, t.TempDir())
	before := byPath(t, root, collect(t, p, sdk.Request{Full: true}))
	if before["a"].Classification != "internal" || before["b"].Classification != "confidential" {
		t.Fatalf("full: a %s b %s", before["a"].Classification, before["b"].Classification)
	}
	path := filepath.Join(root, "a", "users.csv")
	if err := os.WriteFile(path, []byte("id,note\n1,card 4111 1111 1111 1111\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	recs := collect(t, p, sdk.Request{Changed: []string{path}})
	after := byPath(t, root, recs)
	if len(recs) != 1 || len(after) != 1 {
		t.Fatalf("incremental reported %s, want a only", ops(root, recs))
	}
	a := after["a"]
	if a.SHA256 == before["a"].SHA256 || a.PII["credit_card"] != 1 || a.Classification != "restricted" {
		t.Errorf("after the edit: digest changed %v, pii %v, class %s", a.SHA256 != before["a"].SHA256, a.PII, a.Classification)
	}
	os.Remove(path)
	if got := ops(root, collect(t, p, sdk.Request{Changed: []string{path}})); got != "delete:a" {
		t.Errorf("after removing its only file: %q", got)
	}
}
