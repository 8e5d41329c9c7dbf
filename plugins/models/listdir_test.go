package models

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
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
