package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/annexa/annexa/agent/internal/config"
)

// The inotify check counts the folders under the roots against half the
// kernel's limit, read from a proc tree the test controls.
func TestDoctorInotifyLimit(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"a/b/c", "d/e", "f"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	cfg, err := config.Parse("agent.yaml", []byte("collector: {url: http://127.0.0.1:1}\nplugins:\n  datasets: {roots: ["+root+"]}\n  models: {roots: ["+root+"/a], enabled: false}\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		limit, want string
	}{
		{"8\n", "WARN  inotify    more than 4 folders under the asset roots, over half of fs.inotify.max_user_watches=8"},
		{"100\n", "ok    inotify    7 folders to watch, within half of fs.inotify.max_user_watches=100"},
		{"lots\n", `WARN  inotify    the inotify watch limit "lots" is not a number`},
	} {
		proc := t.TempDir()
		os.MkdirAll(filepath.Join(proc, "sys/fs/inotify"), 0o755)
		os.WriteFile(filepath.Join(proc, "sys/fs/inotify/max_user_watches"), []byte(tc.limit), 0o644)
		var out bytes.Buffer
		d := &doctor{out: &out, now: time.Now, procRoot: proc}
		d.inotify(cfg)
		if !strings.Contains(out.String(), tc.want) {
			t.Errorf("limit %q: got %q, want %q", tc.limit, out.String(), tc.want)
		}
	}
}
