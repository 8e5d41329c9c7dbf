// Package plugintest is the conformance kit for Annexa plugin authors: it
// builds a plugin's main package, runs the executable the way the agent
// does (go-plugin over gRPC, AutoMTLS, SHA-256 pinned) and drives it from
// an ordinary `go test`, with no agent or collector. Conformance runs the
// standard suite every plugin must pass before the agent will trust it.
package plugintest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"

	"github.com/annexa/annexa/evidence"
	"github.com/annexa/annexa/plugins/sdk"
	pluginv1 "github.com/annexa/annexa/proto/plugin/v1"
)

// CallTimeout bounds every call the harness makes unless the caller
// passes its own context: a hung plugin fails the test instead of
// hanging it.
var CallTimeout = 2 * time.Minute

// builds caches one build per package per test binary: linking a plugin
// costs about a second, and a suite starts it dozens of times.
var (
	buildMu  sync.Mutex
	builds   = map[string]*buildResult{}
	buildDir string
)

type buildResult struct {
	once sync.Once
	path string
	err  error
}

// Build compiles the plugin's main package pkg (an import path, or a
// path relative to the test's package folder such as
// "./cmd/annexa-plugin-x") and returns the executable. Each package is
// built once per test binary; call Cleanup from TestMain to remove the
// executables afterwards.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	wd, _ := os.Getwd()
	key := wd + "\x00" + pkg
	buildMu.Lock()
	if buildDir == "" {
		dir, err := os.MkdirTemp("", "annexa-plugintest-")
		if err != nil {
			buildMu.Unlock()
			t.Fatalf("plugintest: create build folder: %v", err)
		}
		buildDir = dir
	}
	b, ok := builds[key]
	if !ok {
		b = &buildResult{}
		builds[key] = b
	}
	dir := buildDir
	n := len(builds)
	buildMu.Unlock()
	b.once.Do(func() {
		goBin, err := exec.LookPath("go")
		if err != nil {
			b.err = fmt.Errorf("find the go command: %w", err)
			return
		}
		out := filepath.Join(dir, fmt.Sprintf("%d-%s", n, filepath.Base(pkg)))
		cmd := exec.Command(goBin, "build", "-o", out, pkg)
		// cgo as the Makefile builds: the models plugin keeps its state
		// in SQLite (mattn/go-sqlite3).
		cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
		if msg, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build %s: %w\n%s", pkg, err, msg)
			return
		}
		b.path = out
	})
	if b.err != nil {
		t.Fatalf("plugintest: %v", b.err)
	}
	return b.path
}

// Cleanup removes what Build made. Call it from TestMain after m.Run.
func Cleanup() {
	buildMu.Lock()
	defer buildMu.Unlock()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	buildDir, builds = "", map[string]*buildResult{}
}

// Harness is one running plugin process.
type Harness struct {
	client *goplugin.Client
	rpc    *sdk.Client
	raw    pluginv1.PluginClient
	info   sdk.Info
	// ProtocolVersion is what the plugin's Describe answered.
	ProtocolVersion uint32
	// Negotiated is the plugin set go-plugin agreed on in the handshake.
	Negotiated int
	// Progress holds the progress reports of the last collection, in the
	// order they came; empty when the plugin reports none.
	Progress []sdk.ProgressCounts
	// Unchanged is the last collection's confirmation of subjects it
	// did not resend (sdk.ReportUnchanged), nil when it sent them all.
	Unchanged *sdk.Unchanged
}

// Start runs the executable as the agent would: pinned to the SHA-256 of
// the file as it is now, over gRPC with AutoMTLS, and describes it. The
// process is killed when the test ends; its log lines go to t.Log.
func Start(t testing.TB, executable string) *Harness {
	t.Helper()
	sum, err := fileSHA256(executable)
	if err != nil {
		t.Fatalf("plugintest: %v", err)
	}
	logw := &testLogWriter{t: t}
	client := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		VersionedPlugins: sdk.PluginSets(),
		Cmd:              exec.Command(executable),
		SecureConfig:     &goplugin.SecureConfig{Checksum: sum, Hash: sha256.New()},
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		AutoMTLS:         true,
		StartTimeout:     30 * time.Second,
		Logger: hclog.New(&hclog.LoggerOptions{
			Name: filepath.Base(executable), Output: logw, Level: hclog.Info,
		}),
	})
	t.Cleanup(func() {
		client.Kill()
		logw.stop()
	})
	rpc, err := sdk.Dispense(client)
	if err != nil {
		t.Fatalf("plugintest: start %s: %v", executable, err)
	}
	h := &Harness{client: client, rpc: rpc, Negotiated: client.NegotiatedVersion()}
	if proto, err := client.Client(); err == nil {
		if gc, ok := proto.(*goplugin.GRPCClient); ok {
			h.raw = pluginv1.NewPluginClient(gc.Conn)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), CallTimeout)
	defer cancel()
	if h.info, err = rpc.Describe(ctx); err != nil {
		t.Fatalf("plugintest: %s: %v", executable, err)
	}
	// sdk.Client.Describe does not pass the protocol version on, so ask
	// over the raw service as well.
	if h.raw != nil {
		resp, err := h.raw.Describe(ctx, &pluginv1.DescribeRequest{ProtocolVersion: sdk.ProtocolVersion})
		if err != nil {
			t.Fatalf("plugintest: %s: describe: %v", executable, err)
		}
		h.ProtocolVersion = resp.GetProtocolVersion()
	}
	return h
}

func fileSHA256(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open plugin executable: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, fmt.Errorf("hash plugin executable: %w", err)
	}
	return h.Sum(nil), nil
}

// Info is what the plugin said in Describe.
func (h *Harness) Info() sdk.Info { return h.info }

// Exited reports whether the plugin process has ended.
func (h *Harness) Exited() bool { return h.client.Exited() }

// Configure sends settings (a JSON object) and a state folder; an empty
// stateDir means a fresh t.TempDir(). Wrong settings come back as
// sdk.FieldErrors.
func (h *Harness) Configure(t testing.TB, settingsJSON string, stateDir string) ([]string, error) {
	t.Helper()
	if stateDir == "" {
		stateDir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), CallTimeout)
	defer cancel()
	return h.rpc.Configure(ctx, sdk.Config{Raw: []byte(settingsJSON), StateDir: stateDir})
}

// Collect runs one collection and returns its records and the checkpoints
// that closed groups, in order; its progress reports are left in
// h.Progress, and its confirmation of unchanged subjects in h.Unchanged. Records are checked as the agent checks
// them: an invalid one is an *sdk.InvalidRecordError.
func (h *Harness) Collect(t testing.TB, req sdk.Request) ([]evidence.Record, [][]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), CallTimeout)
	defer cancel()
	return h.CollectContext(ctx, req)
}

// CollectContext is Collect under the caller's context, for tests of
// cancellation and deadlines.
func (h *Harness) CollectContext(ctx context.Context, req sdk.Request) ([]evidence.Record, [][]byte, error) {
	var recs []evidence.Record
	var cps [][]byte
	h.Progress, h.Unchanged = nil, nil
	err := h.rpc.Collect(ctx, req, h.info.Kinds, func(g sdk.Group) error {
		if g.Progress != nil {
			h.Progress = append(h.Progress, *g.Progress)
		}
		if g.Unchanged != nil {
			h.Unchanged = g.Unchanged
		}
		recs = append(recs, g.Records...)
		if g.HasCheckpoint {
			cps = append(cps, g.Checkpoint)
		}
		return nil
	})
	return recs, cps, err
}

// testLogWriter sends the plugin's log lines to the test log until the
// test is over; after that there is nobody to tell.
type testLogWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (w *testLogWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(b), "\n"))
	}
	return len(b), nil
}

func (w *testLogWriter) stop() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
}

// isFieldErrors reports whether err carries field errors.
func isFieldErrors(err error) (sdk.FieldErrors, bool) {
	var fe sdk.FieldErrors
	ok := errors.As(err, &fe)
	return fe, ok
}
