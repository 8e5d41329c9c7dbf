package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestBundleNotToATerminal: `report --format bundle` without --out on a
// terminal would fill it with zip bytes; it is refused and says what to
// do. Redirected (a file, /dev/null) it still writes the zip.
func TestBundleNotToATerminal(t *testing.T) {
	data := t.TempDir()
	cli(t, "token", "create", "--data", data) // creates the store
	tty := openPTY(t)
	var errb bytes.Buffer
	err := run(context.Background(), []string{"report", "--data", data, "--format", "bundle"}, tty, &errb)
	if code := exitCode(err, &errb); code != 2 || !strings.Contains(errb.String(), "give --out FILE (or redirect standard output)") {
		t.Errorf("bundle to a terminal = exit %d %q, want 2 asking for --out", code, errb.String())
	}
	for _, name := range []string{os.DevNull, t.TempDir() + "/b.zip"} {
		f, err := os.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		errb.Reset()
		err = run(context.Background(), []string{"report", "--data", data, "--format", "bundle"}, f, &errb)
		f.Close()
		if err != nil {
			t.Errorf("bundle to %s: %v %s", name, err, errb.String())
		}
	}
	// Other formats are text and still go to a terminal.
	errb.Reset()
	if err := run(context.Background(), []string{"report", "--data", data, "--format", "summary"}, tty, &errb); err != nil {
		t.Errorf("summary to a terminal: %v %s", err, errb.String())
	}
}

// openPTY opens a pseudo-terminal and returns its terminal side; the
// master side is drained so writes never block.
func openPTY(t *testing.T) *os.File {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	tty, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("cannot open the terminal side: %v", err)
	}
	t.Cleanup(func() { tty.Close() })
	go func() {
		buf := make([]byte, 4096)
		for {
			if _, err := master.Read(buf); err != nil {
				return
			}
		}
	}()
	return tty
}
