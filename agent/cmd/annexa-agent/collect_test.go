package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/annexa/annexa/agent/internal/config"
	"github.com/annexa/annexa/evidence"
)

var (
	counterOnce sync.Once
	counterPath string
	counterErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if counterPath != "" {
		os.RemoveAll(filepath.Dir(counterPath))
	}
	os.Exit(code)
}

// counterPlugin builds the e2e counter test plugin once per test binary.
func counterPlugin(t *testing.T) (exe, sum string) {
	t.Helper()
	counterOnce.Do(func() {
		dir, err := os.MkdirTemp("", "agent-cmd-test-")
		if err != nil {
			counterErr = err
			return
		}
		counterPath = filepath.Join(dir, "annexa-plugin-counter")
		out, err := exec.Command("go", "build", "-o", counterPath, "github.com/annexa/annexa/e2e/testplugins/counter").CombinedOutput()
		if err != nil {
			counterErr = fmt.Errorf("build counter: %v\n%s", err, out)
		}
	})
	if counterErr != nil {
		t.Fatal(counterErr)
	}
	b, err := os.ReadFile(counterPath)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return counterPath, hex.EncodeToString(s[:])
}

func counterConfig(t *testing.T, settings string) *config.Config {
	t.Helper()
	exe, sum := counterPlugin(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "agent.yaml")
	conf := fmt.Sprintf("collector: {url: http://127.0.0.1:1}\nstate_dir: %s\nplugins:\n  counter: {executable: %s, sha256: %s, %s}\n",
		filepath.Join(dir, "state"), exe, sum, settings)
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// collectLines runs collectOnce and parses its JSON lines.
func collectLines(t *testing.T, cfg *config.Config, prog *progress) []evidence.Record {
	t.Helper()
	var out bytes.Buffer
	w := bufio.NewWriter(&out)
	if err := collectOnce(context.Background(), cfg, w, slog.New(slog.DiscardHandler), prog); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	var recs []evidence.Record
	sc := bufio.NewScanner(&out)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r evidence.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		recs = append(recs, r)
	}
	return recs
}

// collect --once hands plugins a scratch state folder, asks for progress
// only when a progress line is shown, and never lets a plugin leave out
// unchanged subjects: its output must list every one.
func TestCollectOnceRequestFlags(t *testing.T) {
	cfg := counterConfig(t, `items: 2, per_collection: 2, group: 2, echo_request: true, unchanged_since: "2026-11-01T00:00:00Z", unchanged: 9`)
	type flags struct {
		Full             bool `json:"full"`
		Unthrottled      bool `json:"unthrottled"`
		ScratchState     bool `json:"scratch_state"`
		Quiet            bool `json:"quiet"`
		AcceptsUnchanged bool `json:"accepts_unchanged"`
	}
	for _, tc := range []struct {
		name string
		prog *progress
		want flags
	}{
		{"piped", nil, flags{Full: true, Unthrottled: true, ScratchState: true, Quiet: true}},
		{"progress shown", &progress{w: io.Discard, now: time.Now, cols: func() int { return 0 }},
			flags{Full: true, Unthrottled: true, ScratchState: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recs := collectLines(t, cfg, tc.prog)
			var got *flags
			items := 0
			for _, r := range recs {
				switch {
				case r.Subject == "request":
					got = &flags{}
					if err := json.Unmarshal(r.Attributes, got); err != nil {
						t.Fatal(err)
					}
				case r.Kind == "test.state":
					items++
				case r.Kind == evidence.KindScanComplete:
					var a map[string]any
					json.Unmarshal(r.Attributes, &a)
					if _, ok := a["unchanged"]; ok {
						t.Errorf("scan.complete claims unchanged subjects: %s", r.Attributes)
					}
				}
			}
			if got == nil {
				t.Fatal("the plugin echoed no request")
			}
			if *got != tc.want {
				t.Errorf("request flags = %+v, want %+v", *got, tc.want)
			}
			if items != 2 {
				t.Errorf("%d state subjects listed, want 2", items)
			}
		})
	}
}
