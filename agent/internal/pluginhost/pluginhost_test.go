package pluginhost

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/annexa/annexa/plugins/sdk"
)

// binDir holds the test plugins, built once for the package's tests.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pluginhost-test-")
	if err != nil {
		panic(err)
	}
	binDir = dir
	for _, p := range []string{"counter", "faulty"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "annexa-plugin-"+p), "github.com/annexa/annexa/e2e/testplugins/"+p)
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", p, err, out)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func digest(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func spec(t *testing.T, name, settings string) Spec {
	exe := filepath.Join(binDir, "annexa-plugin-"+name)
	return Spec{
		Name: name, Executable: exe, SHA256: digest(t, exe), StateDir: t.TempDir(),
		Settings: []byte(settings), Timeout: 5 * time.Second, MemoryLimit: 512 << 20,
		Logger: slog.New(slog.DiscardHandler),
	}
}

func collectAll(t *testing.T, inst *Instance, req sdk.Request) ([]string, []string, error) {
	var subjects, cps []string
	err := inst.Collect(context.Background(), req, func(g sdk.Group) error {
		for _, r := range g.Records {
			subjects = append(subjects, r.Subject)
		}
		if g.HasCheckpoint {
			cps = append(cps, string(g.Checkpoint))
		}
		return nil
	})
	return subjects, cps, err
}

func TestCollectWithCheckpoints(t *testing.T) {
	inst, err := Start(context.Background(), spec(t, "counter", `{"total":7,"per_collection":5,"group":2,"items":2}`))
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Kill()
	if inst.Info().Name != "counter" || len(inst.Info().Kinds) != 2 {
		t.Errorf("info = %+v", inst.Info())
	}
	subjects, cps, err := collectAll(t, inst, sdk.Request{Full: true})
	if err != nil {
		t.Fatal(err)
	}
	want := "item:1 item:2 counter:1 counter:2 counter:3 counter:4 counter:5"
	if got := strings.Join(subjects, " "); got != want {
		t.Errorf("subjects = %s, want %s", got, want)
	}
	if got := strings.Join(cps, ","); got != "2,4,5" {
		t.Errorf("checkpoints = %s", got)
	}
	subjects, _, err = collectAll(t, inst, sdk.Request{Checkpoint: []byte("5")})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(subjects, " "); got != "counter:6 counter:7" {
		t.Errorf("resumed subjects = %s", got)
	}
}

func TestPinning(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "annexa-plugin-counter")
	b, _ := os.ReadFile(filepath.Join(binDir, "annexa-plugin-counter"))
	if err := os.WriteFile(exe, b, 0o755); err != nil {
		t.Fatal(err)
	}
	sum := digest(t, exe)

	if _, err := Pin("counter", exe, "", dir, Manifest{}); !errors.Is(err, ErrNotPinned) || !strings.Contains(err.Error(), "plugins.counter.sha256") {
		t.Errorf("unpinned plugin: err = %v", err)
	}
	if got, err := Pin("counter", exe, "", dir, Manifest{"annexa-plugin-counter": sum}); err != nil || got != sum {
		t.Errorf("manifest pin = %q, %v", got, err)
	}
	// A manifest entry vouches only for files in the plugin folder.
	if _, err := Pin("counter", "/elsewhere/annexa-plugin-counter", "", dir, Manifest{"annexa-plugin-counter": sum}); !errors.Is(err, ErrNotPinned) {
		t.Errorf("file outside plugin folder: err = %v", err)
	}

	os.WriteFile(filepath.Join(dir, ManifestName), []byte(sum+"  annexa-plugin-counter\n"), 0o644)
	m, err := ReadManifest(dir)
	if err != nil || m["annexa-plugin-counter"] != sum {
		t.Fatalf("ReadManifest = %v, %v", m, err)
	}
	os.WriteFile(filepath.Join(dir, ManifestName), []byte("nonsense\n"), 0o644)
	if _, err := ReadManifest(dir); err == nil || !strings.Contains(err.Error(), ":1:") {
		t.Errorf("bad manifest: err = %v", err)
	}

	s := spec(t, "counter", `{}`)
	s.Executable = exe
	s.SHA256 = strings.Repeat("0", 64)
	if _, err := Start(context.Background(), s); err == nil || !strings.Contains(err.Error(), "does not match its pinned sha256") {
		t.Errorf("wrong digest: err = %v", err)
	}
	os.Chmod(exe, 0o777)
	s.SHA256 = sum
	if _, err := Start(context.Background(), s); err == nil || !strings.Contains(err.Error(), "writable by every user") {
		t.Errorf("world-writable: err = %v", err)
	}
}

func TestNameMismatchAndFieldErrors(t *testing.T) {
	s := spec(t, "counter", `{}`)
	s.Name = "datasets"
	if _, err := Start(context.Background(), s); err == nil || !strings.Contains(err.Error(), `says it is "counter"`) {
		t.Errorf("name mismatch: err = %v", err)
	}
	_, err := Start(context.Background(), spec(t, "counter", `{"group":0}`))
	var ce *ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "plugin counter refused its settings, so it collects nothing: plugins.counter.group: must be at least 1") {
		t.Errorf("field error: err = %v", err)
	}
	_, err = Start(context.Background(), spec(t, "counter", `{"no_such":1}`))
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "plugins.counter.no_such") {
		t.Errorf("unknown setting: err = %v", err)
	}
}

func TestMisbehavingPlugins(t *testing.T) {
	cases := []struct {
		mode   string
		state  string
		errHas string
	}{
		{"crash", StateCrashed, "faulty"},
		{"hang", StateTimedOut, "deadline"},
		{"invalid", StateDegraded, "attributes"},
		{"undeclared", StateDegraded, "not among the kinds"},
		{"memory", StateDegraded, "memory ceiling"},
	}
	for _, tc := range cases {
		t.Run(tc.mode, func(t *testing.T) {
			t.Parallel()
			s := spec(t, "faulty", `{"mode":"`+tc.mode+`"}`)
			s.Timeout = 2 * time.Second
			s.MemoryLimit = 96 << 20
			sup := NewSupervisor(s)
			start := time.Now()
			err := sup.Collect(context.Background(), sdk.Request{Full: true}, func(sdk.Group) error { return nil })
			if err == nil {
				t.Fatal("collection succeeded")
			}
			if time.Since(start) > 20*time.Second {
				t.Errorf("took %s to give up", time.Since(start))
			}
			h := sup.Health()
			if h.State != tc.state || !strings.Contains(h.Error, tc.errHas) {
				t.Errorf("health = %s %q, want %s containing %q", h.State, h.Error, tc.state, tc.errHas)
			}
			if sup.inst != nil {
				t.Error("the misbehaving instance was kept")
			}
		})
	}
}

// TestRefusedSettingsHealth: a plugin that refuses its settings is
// degraded, not crashed (docs/evidence.md), and its health error says
// that it refused them and names the field, not a bare field path.
func TestRefusedSettingsHealth(t *testing.T) {
	sup := NewSupervisor(spec(t, "counter", `{"group":0}`))
	if err := sup.Collect(context.Background(), sdk.Request{Full: true}, func(sdk.Group) error { return nil }); err == nil {
		t.Fatal("collection with refused settings succeeded")
	}
	h := sup.Health()
	if h.State != StateDegraded || !strings.HasPrefix(h.Error, "plugin counter refused its settings, so it collects nothing: ") ||
		!strings.Contains(h.Error, "plugins.counter.group: must be at least 1") {
		t.Errorf("health = %s %q", h.State, h.Error)
	}
}

func TestRestartWithBackoffAndRecovery(t *testing.T) {
	modeFile := filepath.Join(t.TempDir(), "mode")
	os.WriteFile(modeFile, []byte("crash"), 0o644)
	s := spec(t, "faulty", `{"mode_file":"`+modeFile+`"}`)
	sup := NewSupervisor(s)
	sup.MinDelay, sup.MaxDelay = 200*time.Millisecond, time.Second
	noop := func(sdk.Group) error { return nil }

	for i := 0; i < 3; i++ {
		err := sup.Collect(context.Background(), sdk.Request{Full: true}, noop)
		for errors.Is(err, ErrBackingOff) {
			time.Sleep(50 * time.Millisecond)
			err = sup.Collect(context.Background(), sdk.Request{Full: true}, noop)
		}
		if err == nil {
			t.Fatal("crashing plugin succeeded")
		}
	}
	if h := sup.Health(); h.State != StateDegraded || h.Failures != 3 {
		t.Errorf("after 3 crashes: %+v", h)
	}
	// Right after a failure the supervisor refuses to restart at once.
	if err := sup.Collect(context.Background(), sdk.Request{Full: true}, noop); !errors.Is(err, ErrBackingOff) {
		t.Errorf("no backoff after a crash: %v", err)
	}
	os.WriteFile(modeFile, []byte("ok"), 0o644)
	deadline := time.Now().Add(10 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		if err = sup.Collect(context.Background(), sdk.Request{Full: true}, noop); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("never recovered: %v", err)
	}
	h := sup.Health()
	if h.Restarts < 1 || h.LastSuccess.IsZero() {
		t.Errorf("health after recovery = %+v", h)
	}
	// Still degraded: three failures remain inside the window.
	if h.State != StateDegraded {
		t.Errorf("state = %s, want degraded while failures are recent", h.State)
	}
	sup.Window = time.Millisecond
	time.Sleep(5 * time.Millisecond)
	if err := sup.Collect(context.Background(), sdk.Request{Full: true}, noop); err != nil {
		t.Fatal(err)
	}
	if h := sup.Health(); h.State != StateOK {
		t.Errorf("state after the window passed = %s", h.State)
	}
	sup.Stop()
}

func TestOneInstanceAtATime(t *testing.T) {
	sup := NewSupervisor(spec(t, "counter", `{"total":4,"per_collection":4,"group":1,"delay_ms":50}`))
	defer sup.Stop()
	a, err := sup.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	b, err := sup.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if a != b || a.Pid() == 0 {
		t.Errorf("Start twice gave two instances (pids %d, %d)", a.Pid(), b.Pid())
	}
}
