package datasets

import (
	"testing"

	"github.com/annexa/annexa/plugins/sdk"
)

const card = "---\nlicense: cc-by-4.0\n---\n# Card\n"

func TestDatasetRule(t *testing.T) {
	tests := []struct {
		name     string
		files    []file
		settings func(*Settings)
		want     string
	}{
		{"children of a root", []file{
			{path: "a/x.csv", body: "1,2\n"}, {path: "b/deep/er/y.bin", body: "y"}, {path: "README.md", body: "# all"},
		}, nil, "a=1 b=1"},
		{"files directly in the root", []file{
			{path: "x.csv", body: "1"}, {path: "y.csv", body: "2"}, {path: "a/z.csv", body: "3"},
		}, nil, ".=2 a=1"},
		{"marked root owns everything", []file{
			{path: ".annexa-dataset"}, {path: "a/x", body: "1"}, {path: "b/y", body: "2"}, {path: "z", body: "3"},
		}, nil, ".=3"},
		{"nearest marker wins", []file{
			{path: "a/x.csv", body: "1"}, {path: "a/sub/dataset_info.json", body: "{}"}, {path: "a/sub/y.csv", body: "2"},
			{path: "a/sub/deep/z.csv", body: "3"}, {path: "a/sub/deep/er/DATASHEET.md", body: "# ds"}, {path: "a/sub/deep/er/w", body: "4"},
		}, nil, "a=1 a/sub=2 a/sub/deep/er=1"},
		{"unmarked child whose data is all in marked subfolders", []file{
			{path: "a/b/c/datasheet.md", body: "x"}, {path: "a/b/c/x.bin", body: "1"},
		}, nil, "a/b/c=1"},
		{"hidden files and folders are ignored", []file{
			{path: "a/.git/objects/1", body: "1"}, {path: "a/.hidden.csv", body: "1"}, {path: ".cache/x.csv", body: "1"},
			{path: "b/.DS_Store", body: "1"}, {path: "b/ok.csv", body: "1"},
		}, nil, "b=1"},
		{"empty folders are not datasets", []file{
			{path: "a", body: "<dir>"}, {path: "b/c/d", body: "<dir>"},
		}, nil, ""},
		{"docs alone are not data", []file{
			{path: "a/README.md", body: "# no front matter"}, {path: "a/LICENSE", body: "MIT"}, {path: "a/CITATION.cff", body: "x"},
		}, nil, ""},
		{"a card with front matter marks even an empty folder", []file{
			{path: "a/README.md", body: card},
		}, nil, "a=0"},
		{"state.json marks only beside arrow files", []file{
			{path: "a/hf/state.json", body: "{}"}, {path: "a/hf/data-00000-of-00001.arrow", body: "\xff\xff\xff\xff"},
			{path: "a/other/state.json", body: "{}"}, {path: "a/other/x.bin", body: "x"},
		}, nil, "a=1 a/hf=1"},
		{"temp and lock files are not data", []file{
			{path: "a/x.tmp", body: "1"}, {path: "a/y.lock", body: "1"}, {path: "a/z.csv~", body: "1"}, {path: "a/w.incomplete", body: "1"},
		}, nil, ""},
		{"excluded globs", []file{
			{path: "scratch/x.csv", body: "1"}, {path: "a/x.bak", body: "1"}, {path: "a/y.csv", body: "1"},
			{path: "b/skip/z.csv", body: "1"}, {path: "b/keep.csv", body: "1"},
		}, func(s *Settings) { s.Exclude = []string{"scratch", "*.bak", s.Roots[0] + "/b/skip"} }, "a=1 b=1"},
		{"symlinks are not followed", []file{
			{path: "a/x.csv", body: "1"}, {path: "b", body: "-> a"}, {path: "a/link.csv", body: "-> x.csv"},
			{path: "c/loop", body: "-> .."}, {path: "c/y", body: "1"},
		}, nil, "a=1 c=1"},
		{"symlinks followed when asked, without loops", []file{
			{path: "a/x.csv", body: "1"}, {path: "b", body: "-> a"}, {path: "a/link.csv", body: "-> x.csv"},
			{path: "c/loop", body: "-> ../c"}, {path: "c/y", body: "1"},
		}, func(s *Settings) { s.FollowSymlinks = true }, "a=2 b=2 c=1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			makeTree(t, root, tt.files)
			s := Settings{Roots: []string{root}}
			if tt.settings != nil {
				tt.settings(&s)
			}
			p := newPlugin(t, s, t.TempDir())
			if got := summary(byPath(t, root, collect(t, p, sdk.Request{Full: true}))); got != tt.want {
				t.Errorf("datasets = %q, want %q", got, tt.want)
			}
		})
	}
}
