package models

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/annexa/annexa/plugins/sdk"
)

// listDir must list what os.ReadDir lists, with the same types, also for
// a folder larger than one getdents buffer.
func TestListDirMatchesReadDir(t *testing.T) {
	dir := t.TempDir()
	for i := range 1500 { // more than one 64 KiB getdents buffer holds
		name := fmt.Sprintf("file-with-a-longish-name-%05d.safetensors", i)
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	os.Mkdir(filepath.Join(dir, "sub"), 0o700)
	os.Symlink("sub", filepath.Join(dir, "link"))
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "é ünïcode"), nil, 0o600)
	got, err := listDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadDir(dir)
	if len(got) != len(want) {
		t.Fatalf("listed %d entries, os.ReadDir %d", len(got), len(want))
	}
	for i, w := range want {
		if got[i].name != w.Name() || got[i].mode.Type() != w.Type().Type() && !(w.Type()&os.ModeNamedPipe != 0 && got[i].mode == os.ModeIrregular) {
			t.Errorf("entry %d: %q %v, os.ReadDir %q %v", i, got[i].name, got[i].mode, w.Name(), w.Type())
		}
	}
	if _, err := listDir(filepath.Join(dir, "missing")); !os.IsNotExist(err) {
		t.Errorf("missing folder: %v", err)
	}
}

// A first scan opens files before it stats them: a FIFO put where the
// listing saw a file must not block the open, and is no file.
func TestOpenStatAtRefusesFIFOsAndLinks(t *testing.T) {
	dir := t.TempDir()
	syscall.Mkfifo(filepath.Join(dir, "pipe"), 0o600)
	os.WriteFile(filepath.Join(dir, "file"), []byte("x"), 0o600)
	os.Symlink("file", filepath.Join(dir, "link"))
	d, err := openDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, name := range []string{"pipe", "link"} {
			if st, fh, err := openStatAt(d, name); fh != nil || st.regular || err != nil {
				t.Errorf("%s: regular %v, handle %v, err %v", name, st.regular, fh, err)
			}
		}
		st, fh, err := openStatAt(d, "file")
		if err != nil || fh == nil || !st.regular || st.Key.Size != 1 {
			t.Errorf("file: %+v %v %v", st, fh, err)
		} else {
			fh.Close()
		}
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("opening a FIFO blocked")
	}
}

// Neither a FIFO nor a symlink is reported by a first scan.
func TestFirstScanSkipsFIFOsAndLinks(t *testing.T) {
	root := fixtureTree(t)
	if err := syscall.Mkfifo(filepath.Join(root, "bert", "pipe.safetensors"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Symlink(filepath.Join(root, "bert", "model.safetensors"), filepath.Join(root, "llm", "link.safetensors"))
	p := configured(t, map[string]any{"roots": []string{root}}, t.TempDir())
	var rec recorder
	done := make(chan error, 1)
	go func() { done <- p.Collect(t.Context(), sdk.Request{Full: true}, &rec) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the collection blocked on a FIFO")
	}
	if got, want := rec.summary(), "upsert a.npy, upsert model.safetensors, upsert notes.txt, upsert pytorch_model.bin, upsert q4.weights"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}
