package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// startServe runs serve on data until the test ends and returns once it
// listens.
func startServe(t *testing.T, data string) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stderr := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--data", data, "--plain-http", "--evaluate-every", "0"}, io.Discard, stderr)
	}()
	for deadline := time.Now().Add(10 * time.Second); !listenRE.MatchString(stderr.String()); {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("no listening line; stderr:\n%s", stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}
	var once bool
	stop = func() {
		if once {
			return
		}
		once = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}
	t.Cleanup(stop)
	return stop
}

// TestServeLocksDataFolder: a second serve on the same folder is refused,
// naming the first; the commands an operator runs beside serve still
// work; and the folder is free again once serve stops.
func TestServeLocksDataFolder(t *testing.T) {
	data := t.TempDir()
	stop := startServe(t, data)

	_, errs, code := cli(t, "serve", "--listen", "127.0.0.1:0", "--data", data, "--plain-http")
	want := "data folder " + data + " is in use by another annexa-collector serve (pid " + strconv.Itoa(os.Getpid()) + "), which holds " + filepath.Join(data, "serve.lock")
	if code != 1 || !strings.Contains(errs, want) {
		t.Fatalf("second serve = %d %q, want exit 1 and %q", code, errs, want)
	}
	for _, args := range [][]string{
		{"token", "create", "--data", data},
		{"agents", "list", "--data", data},
		{"apikey", "create", "--data", data, "--name", "ci", "--role", "auditor"},
		{"report", "--data", data, "--format", "csv"},
		{"verify", "--data", data},
	} {
		if _, errs, code := cli(t, args...); code != 0 {
			t.Errorf("%v beside serve = %d %s", args, code, errs)
		}
	}

	stop()
	startServe(t, data)
}
