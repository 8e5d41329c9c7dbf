package datasets

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/annexa/annexa/plugins/sdk"
)

func TestWorldReadable(t *testing.T) {
	tests := []struct {
		name      string
		dir       os.FileMode
		files     []os.FileMode
		want      bool
		wantFiles int
	}{
		{"private folder and files", 0o750, []os.FileMode{0o640, 0o600}, false, 0},
		{"folder o+rx", 0o755, []os.FileMode{0o640}, true, 0},
		{"folder o+r without o+x cannot be traversed", 0o754, []os.FileMode{0o640}, false, 0},
		{"folder o+x without o+r", 0o751, []os.FileMode{0o640}, false, 0},
		{"one file o+r in a private folder", 0o750, []os.FileMode{0o640, 0o644}, true, 1},
		{"all files o+r", 0o700, []os.FileMode{0o604, 0o444}, true, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			var files []file
			for i, m := range tt.files {
				files = append(files, file{path: "d/f" + itoa(i) + ".bin", body: "x", mode: m})
			}
			files = append(files, file{path: "d", body: "<dir>", mode: tt.dir})
			makeTree(t, root, files)
			a := byPath(t, root, collect(t, newPlugin(t, Settings{Roots: []string{root}}, ""), sdk.Request{Full: true}))["d"]
			if a.WorldReadable != tt.want || a.WorldReadableFiles != tt.wantFiles {
				t.Errorf("world_readable=%v files=%d, want %v %d", a.WorldReadable, a.WorldReadableFiles, tt.want, tt.wantFiles)
			}
			if want := "0" + strings.TrimPrefix(tt.dir.Perm().String(), "-"); a.Mode != "0"+octal(tt.dir) {
				t.Errorf("mode %q, want %q (%s)", a.Mode, "0"+octal(tt.dir), want)
			}
		})
	}
}

func octal(m os.FileMode) string {
	s := ""
	for i := 2; i >= 0; i-- {
		s += string(rune('0' + (m>>(3*uint(i)))&7))
	}
	return s
}

const mitText = `MIT License

Copyright (c) 2024 Someone

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal`

const apacheText = "                                 Apache License\n                           Version 2.0, January 2004\n"

func TestLicenseSources(t *testing.T) {
	tests := []struct {
		name       string
		files      []file
		want, from string
	}{
		{"card front matter", []file{{path: "README.md", body: "---\nlicense: apache-2.0\n---\n"}}, "Apache-2.0", "README.md front matter"},
		{"card list", []file{{path: "README.md", body: "---\nlicense:\n  - mit\n  - cc-by-sa-4.0\n---\n"}}, "MIT OR CC-BY-SA-4.0", "README.md front matter"},
		{"dataset_card.md wins over README", []file{
			{path: "README.md", body: "---\nlicense: mit\n---\n"}, {path: "dataset_card.md", body: "---\nlicense: cc0-1.0\n---\n"},
		}, "CC0-1.0", "dataset_card.md front matter"},
		{"dataset_info.json", []file{{path: "dataset_info.json", body: `{"description":"x","license":"cc-by-4.0"}`}}, "CC-BY-4.0", "dataset_info.json"},
		{"dataset_info.json free text", []file{{path: "dataset_info.json", body: `{"license":"Creative Commons Attribution-ShareAlike 4.0 International"}`}}, "CC-BY-SA-4.0", "dataset_info.json"},
		{"LICENSE file (MIT)", []file{{path: ".annexa-dataset"}, {path: "LICENSE", body: mitText}}, "MIT", "LICENSE"},
		{"LICENSE.txt (Apache)", []file{{path: ".annexa-dataset"}, {path: "LICENSE.txt", body: apacheText}}, "Apache-2.0", "LICENSE.txt"},
		{"front matter beats LICENSE", []file{{path: "README.md", body: "---\nlicense: mit\n---\n"}, {path: "LICENSE", body: apacheText}}, "MIT", "README.md front matter"},
		{"unknown", []file{{path: "README.md", body: "---\nlicense: unknown\n---\n"}, {path: "LICENSE", body: "all rights reserved"}}, "", ""},
		{"broken YAML still marks, license unknown", []file{{path: "README.md", body: "---\nlicense: [\n---\n"}}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			for i := range tt.files {
				tt.files[i].path = "d/" + tt.files[i].path
			}
			makeTree(t, root, append(tt.files, file{path: "d/data.bin", body: "1"}))
			m := byPath(t, root, collect(t, newPlugin(t, Settings{Roots: []string{root}}, ""), sdk.Request{Full: true}))
			a, ok := m["d"]
			if !ok {
				t.Fatalf("no dataset d in %v", summary(m))
			}
			if a.License != tt.want || a.LicenseSource != tt.from {
				t.Errorf("license %q from %q, want %q from %q", a.License, a.LicenseSource, tt.want, tt.from)
			}
		})
	}
}

func TestAttributes(t *testing.T) {
	root := t.TempDir()
	old := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	makeTree(t, root, []file{
		{path: "d/DATASHEET.md", body: "# Datasheet"},
		{path: "d/a.parquet", body: "PAR1xxxxPAR1"},
		{path: "d/b.csv", body: "x,y\n1,2\n"},
		{path: "d/c/d.jsonl", body: "{\"a\":1}\n{\"a\":2}\n"},
		{path: "d/c/e.npy", body: "\x93NUMPYxx"},
	})
	for _, f := range []string{"d/DATASHEET.md", "d/a.parquet", "d/b.csv", "d/c/d.jsonl"} {
		os.Chtimes(filepath.Join(root, f), old, old)
	}
	newest := old.Add(time.Hour)
	os.Chtimes(filepath.Join(root, "d/c/e.npy"), newest, newest)
	a := byPath(t, root, collect(t, newPlugin(t, Settings{Roots: []string{root}}, ""), sdk.Request{Full: true}))["d"]
	if a.FileCount != 4 || a.SizeBytes != 12+8+16+8 {
		t.Errorf("file_count %d size %d", a.FileCount, a.SizeBytes)
	}
	want := map[string]int{"parquet": 1, "csv": 1, "jsonl": 1, "npy": 1}
	if len(a.Formats) != len(want) {
		t.Errorf("formats %v, want %v", a.Formats, want)
	}
	for k, v := range want {
		if a.Formats[k] != v {
			t.Errorf("formats %v, want %v", a.Formats, want)
		}
	}
	if !a.HasDatasheet || a.Datasheet != "DATASHEET.md" || a.Marker != "DATASHEET.md" || a.Rule != ruleMarker {
		t.Errorf("datasheet %v %q marker %q rule %q", a.HasDatasheet, a.Datasheet, a.Marker, a.Rule)
	}
	if a.ModifiedAt != newest.Format(time.RFC3339) {
		t.Errorf("modified_at %s, want %s", a.ModifiedAt, newest.Format(time.RFC3339))
	}
	if a.HashStatus != "complete" || len(a.SHA256) != 64 || a.Owner == "" || a.Group == "" {
		t.Errorf("hash %q %q owner %q group %q", a.HashStatus, a.SHA256, a.Owner, a.Group)
	}
}

// TestManifestMatchesShell recomputes the digest with the README's
// command, so the documentation cannot drift from the code.
func TestManifestMatchesShell(t *testing.T) {
	for _, tool := range []string{"bash", "find", "xargs", "sha256sum", "sed", "sort"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "<!-- manifest-command -->\n```sh\n")
	cmd, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("README.md has no manifest command block")
	}
	root := t.TempDir()
	makeTree(t, root, []file{
		{path: "d/README.md", body: card}, {path: "d/LICENSE", body: mitText}, {path: "d/.annexa-dataset"},
		{path: "d/train/part-0.parquet", body: "PAR1aaaa"}, {path: "d/train/part 1.parquet", body: "PAR1bbbb"},
		{path: "d/test/x.csv", body: "a,b\n"}, {path: "d/Ünïcode/ß.txt", body: "ok"}, {path: "d/notes.md", body: "data too"},
		{path: "d/.git/HEAD", body: "ref"}, {path: "d/x.tmp", body: "t"}, {path: "d/dataset_info.json", body: "{}"},
		{path: "d/readme.txt", body: "doc"}, {path: "d/licenses.csv", body: "id\n1\n"}, {path: "d/empty", body: ""},
		{path: "d/CHANGELOG", body: "c"}, {path: "d/y.partial", body: "p"}, {path: "d/~$lock.xlsx", body: "l"},
	})
	a := byPath(t, root, collect(t, newPlugin(t, Settings{Roots: []string{root}}, ""), sdk.Request{Full: true}))["d"]
	if a.FileCount != 7 {
		t.Errorf("file_count %d, want 7", a.FileCount)
	}
	sh := exec.Command("bash", "-c", "set -o pipefail; DATASET="+shellQuote(filepath.Join(root, "d"))+"\n"+cmd)
	out, err := sh.Output()
	if err != nil {
		t.Fatalf("command: %v\n%s", err, cmd)
	}
	got, _, _ := strings.Cut(string(out), " ")
	if got != a.SHA256 {
		t.Errorf("shell digest %s, plugin %s", got, a.SHA256)
	}
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func TestPartialHash(t *testing.T) {
	root := t.TempDir()
	makeTree(t, root, []file{{path: "d/a.bin", body: "a"}, {path: "d/b.bin", body: "b"}})
	p := newPlugin(t, Settings{Roots: []string{root}}, "")
	var probs problems
	files := []dataFile{
		{rel: "a.bin", abs: filepath.Join(root, "d/a.bin")},
		{rel: "gone.bin", abs: filepath.Join(root, "d/gone.bin")},
	}
	out, err := p.hashAll(context.Background(), filepath.Join(root, "d"), files, &probs)
	if err != nil {
		t.Fatal(err)
	}
	if out[0].sha == "" || out[1].sha != "" || probs.n != 1 || !strings.Contains(probs.String(), "gone.bin") {
		t.Errorf("sha %q %q problems %q", out[0].sha, out[1].sha, probs.String())
	}
	// A file swapped for a symlink after the walk is refused, not read through.
	link := filepath.Join(root, "d/link.bin")
	os.Symlink("a.bin", link)
	probs = problems{}
	out, _ = p.hashAll(context.Background(), filepath.Join(root, "d"), []dataFile{{rel: "link.bin", abs: link}}, &probs)
	if out[0].sha != "" || probs.n != 1 {
		t.Errorf("symlink hashed: %q, problems %q", out[0].sha, probs.String())
	}
}

func TestConfigureErrors(t *testing.T) {
	tests := []struct {
		settings string
		fields   []string
	}{
		{`{}`, []string{"roots"}},
		{`{"roots": []}`, []string{"roots"}},
		{`{"roots": ["/ok", "relative/path"]}`, []string{"roots[1]"}},
		{`{"roots": [""]}`, []string{"roots[0]"}},
		{`{"roots": ["/a", "/a/b"]}`, []string{"roots[1]"}},
		{`{"roots": ["/a"], "exclude": ["[", "rel/path"]}`, []string{"exclude[0]", "exclude[1]"}},
		{`{"roots": ["/a"], "max_hash_bytes_per_second": -1}`, []string{"max_hash_bytes_per_second"}},
		{`{"roots": ["/a"], "follow_symlinks": "yes"}`, []string{"follow_symlinks"}},
		{`{"roots": ["/a"], "root": "/b"}`, []string{"root"}},
	}
	for _, tt := range tests {
		_, err := quiet().Configure(context.Background(), sdk.Config{Raw: []byte(tt.settings)})
		fe, ok := err.(sdk.FieldErrors)
		if !ok {
			t.Errorf("%s: %v; want field errors", tt.settings, err)
			continue
		}
		var got []string
		for _, e := range fe {
			got = append(got, e.Field)
		}
		if strings.Join(got, ",") != strings.Join(tt.fields, ",") {
			t.Errorf("%s: fields %v, want %v (%v)", tt.settings, got, tt.fields, fe)
		}
	}
	// A root that is not there yet is fine.
	roots, err := quiet().Configure(context.Background(), sdk.Config{Raw: []byte(`{"roots":["/no/such/mount/"]}`)})
	if err != nil || len(roots) != 1 || roots[0] != "/no/such/mount" {
		t.Errorf("missing root: %v %v", roots, err)
	}
}

func TestMissingRootYieldsNothing(t *testing.T) {
	root := filepath.Join(t.TempDir(), "later")
	p := newPlugin(t, Settings{Roots: []string{root}}, t.TempDir())
	if recs := collect(t, p, sdk.Request{Full: true}); len(recs) != 0 {
		t.Errorf("got %d records from a missing root", len(recs))
	}
	makeTree(t, root, []file{{path: "a/x", body: "1"}})
	if got := summary(byPath(t, root, collect(t, p, sdk.Request{Full: true}))); got != "a=1" {
		t.Errorf("after mount: %q", got)
	}
}
