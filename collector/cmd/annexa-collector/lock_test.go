package main

import (
	"bytes"
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

	// Bounded, so that a serve that wrongly starts fails the test instead
	// of running until the test binary times out.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var errb bytes.Buffer
	err := run(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--data", data, "--plain-http"}, io.Discard, &errb)
	want := "data folder " + data + " is in use by another annexa-collector serve (pid " + strconv.Itoa(os.Getpid()) + "), which holds " + filepath.Join(data, "serve.lock")
	if code := exitCode(err, &errb); code != 1 || !strings.Contains(errb.String(), want) || ctx.Err() != nil {
		t.Fatalf("second serve = %d %q, want exit 1 at once and %q", code, errb.String(), want)
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
