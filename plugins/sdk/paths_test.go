package sdk

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckRoots(t *testing.T) {
	roots := []string{"/srv/ml/", "rel", "", "/srv/ml/sub", "/data"}
	fe := CheckRoots("roots", roots, "datasets")
	got := map[string]string{}
	for _, e := range fe {
		got[e.Field] = e.Message
	}
	if len(fe) != 3 || !strings.Contains(got["roots[1]"], "not an absolute path") || got["roots[2]"] != "is empty" || !strings.Contains(got["roots[3]"], "overlaps roots[0]") {
		t.Errorf("errors = %v", fe)
	}
	if roots[0] != "/srv/ml" {
		t.Errorf("root not cleaned: %q", roots[0])
	}
	if fe := CheckRoots("roots", nil, "models"); len(fe) != 1 || !strings.Contains(fe[0].Message, "is required") {
		t.Errorf("empty roots: %v", fe)
	}
}

func TestGlobsAndExcluded(t *testing.T) {
	if fe := CheckGlobs("exclude", []string{"*.tmp", "[", "a/b", "/srv/*/scratch"}); len(fe) != 2 || fe[0].Field != "exclude[1]" || fe[1].Field != "exclude[2]" {
		t.Errorf("errors = %v", fe)
	}
	pats := []string{"*.tmp", "/srv/*/scratch"}
	for _, c := range []struct {
		name, abs string
		want      bool
	}{
		{"x.tmp", "/a/x.tmp", true},
		{"scratch", "/srv/ml/scratch", true},
		{"scratch", "/home/scratch", false},
		{"x.csv", "/a/x.csv", false},
	} {
		if got := Excluded(pats, c.name, c.abs); got != c.want {
			t.Errorf("Excluded(%s) = %v", c.abs, got)
		}
	}
	if !Within("/a/b", "/a") || Within("/ab", "/a") || !Within("/x", "/") || !Within("/a", "/a") {
		t.Error("Within")
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "state.json")
	for _, body := range []string{"one", "two"} {
		if err := WriteFileAtomic(path, []byte(body)); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(path); string(b) != body {
			t.Errorf("content = %q, want %q", b, body)
		}
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temp files left behind: %v", entries)
	}
}

func TestStatOfAndOwners(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	os.WriteFile(path, []byte("x"), 0o640)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := StatOf(fi)
	if !st.OK || st.Ino == 0 || st.UID != uint32(os.Getuid()) || st.Mode != 0o640 || st.CtimeNs == 0 {
		t.Errorf("StatOf = %+v", st)
	}
	o := NewOwners()
	owner, group := o.Of(st)
	if owner == "" || group == "" {
		t.Errorf("owner %q group %q", owner, group)
	}
	if a, b := o.Of(StatInfo{}); a != "" || b != "" {
		t.Errorf("no stat gave %q %q", a, b)
	}
	link := path + ".link"
	os.Symlink(path, link)
	if f, err := OpenNoFollow(link); err == nil {
		f.Close()
		t.Error("OpenNoFollow followed a symlink")
	}
}

func TestPathSet(t *testing.T) {
	path := filepath.Join(t.TempDir(), "known.json")
	if set, err := LoadPathSet(path); err != nil || len(set) != 0 {
		t.Fatalf("missing file: %v %v", set, err)
	}
	if err := SavePathSet(path, map[string]bool{"/b": true, "/a/": true, "rel": true}); err != nil {
		t.Fatal(err)
	}
	set, err := LoadPathSet(path)
	if err != nil || len(set) != 2 || !set["/a"] || !set["/b"] {
		t.Errorf("round trip = %v, %v (relative paths dropped, paths cleaned)", set, err)
	}
	os.WriteFile(path, []byte(`{"version":1,"paths":["/a"`), 0o600)
	if _, err := LoadPathSet(path); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Errorf("damaged file: %v", err)
	}
	os.WriteFile(path, []byte(`{"version":2,"paths":[]}`), 0o600)
	if _, err := LoadPathSet(path); err == nil {
		t.Error("unknown version accepted")
	}
}
