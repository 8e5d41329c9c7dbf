package encryption

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/annexa/annexa/plugins/sdk"
	"golang.org/x/sys/unix"
)

// A FIFO named as a key file is refused before it is opened: opening it
// would block the plugin until someone wrote to it.
func TestInspectKeyFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo.key")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if k := inspectKey(fifo, "key_files", sdk.NewOwners()); !strings.Contains(k.Error, "not a regular file") || k.Mode != "0600" {
		t.Errorf("fifo: %+v", k)
	}
}
