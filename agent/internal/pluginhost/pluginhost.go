// Package pluginhost starts plugin executables, checks who they are, runs
// their collections under a deadline and a memory ceiling, and kills them
// when they misbehave. It knows nothing of spools or collectors: it hands
// each group of validated records to a callback.
package pluginhost

import (
	"bufio"
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
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/annexa/annexa/plugins/sdk"
)

// ManifestName is the file beside the built-in plugins that pins them.
const ManifestName = "plugins.sha256"

// ErrTimedOut means a collection ran past its deadline; the plugin was killed.
var ErrTimedOut = errors.New("collection ran past its deadline")

// ErrMemory means the plugin process grew past its memory ceiling.
var ErrMemory = errors.New("plugin exceeded its memory ceiling")

// ErrNotPinned means nothing vouches for the executable's SHA-256.
var ErrNotPinned = errors.New("plugin is not pinned")

// Spec is what the host needs to start one plugin.
type Spec struct {
	Name       string
	Executable string
	// SHA256 is the pinned digest of Executable (hex).
	SHA256      string
	StateDir    string
	Settings    []byte
	Timeout     time.Duration
	MemoryLimit int64
	Logger      *slog.Logger
}

// Manifest maps executable base names to their pinned SHA-256 (hex).
type Manifest map[string]string

// ReadManifest reads a sha256sum-style manifest. A missing file is an
// empty manifest: then every plugin needs a pin in the config.
func ReadManifest(dir string) (Manifest, error) {
	path := filepath.Join(dir, ManifestName)
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return Manifest{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open plugin manifest: %w", err)
	}
	defer f.Close()
	m := Manifest{}
	sc := bufio.NewScanner(io.LimitReader(f, 1<<20))
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		sum, name, ok := strings.Cut(text, " ")
		name = strings.TrimLeft(strings.TrimSpace(name), "*")
		if !ok || len(sum) != 64 || name == "" || strings.Contains(name, "/") {
			return nil, fmt.Errorf("%s:%d: expected \"<sha256>  <file name>\" as sha256sum prints it", path, line)
		}
		if _, err := hex.DecodeString(sum); err != nil {
			return nil, fmt.Errorf("%s:%d: %q is not a hex SHA-256", path, line, sum)
		}
		m[name] = strings.ToLower(sum)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return m, nil
}

// Pin decides the digest an executable must have: the config's pin if
// given, else the built-in manifest's entry for a file in the plugin
// folder. Anything else is refused, because a plugin runs with the agent's
// privileges and reads everything the agent can.
func Pin(name, executable, configured, pluginDir string, m Manifest) (string, error) {
	if configured != "" {
		return configured, nil
	}
	if filepath.Dir(executable) == filepath.Clean(pluginDir) {
		if sum, ok := m[filepath.Base(executable)]; ok {
			return sum, nil
		}
	}
	return "", fmt.Errorf("plugin %s (%s): %w: it is not listed in %s and has no sha256 in the config; if you trust it, add plugins.%s.sha256 with the output of `sha256sum %s`",
		name, executable, ErrNotPinned, filepath.Join(pluginDir, ManifestName), name, executable)
}

// Instance is one running plugin process.
type Instance struct {
	spec   Spec
	client *goplugin.Client
	rpc    *sdk.Client
	info   sdk.Info
	roots  []string
	pid    int

	mu       sync.Mutex
	overMem  bool
	stopWD   chan struct{}
	stopOnce sync.Once
}

// Start runs the executable, verifies its digest and identity, and
// configures it. On any error the process is already gone.
func Start(ctx context.Context, spec Spec) (_ *Instance, err error) {
	if spec.Logger == nil {
		spec.Logger = slog.New(slog.DiscardHandler)
	}
	if err := checkExecutable(spec.Executable); err != nil {
		return nil, err
	}
	sum, err := hex.DecodeString(spec.SHA256)
	if err != nil || len(sum) != sha256.Size {
		return nil, fmt.Errorf("plugin %s: pinned sha256 %q is not 64 hex digits", spec.Name, spec.SHA256)
	}
	if err := os.MkdirAll(spec.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("plugin %s: create state folder: %w", spec.Name, err)
	}
	cmd := exec.Command(spec.Executable)
	cmd.Env = pluginEnv(spec)
	cmd.Dir = spec.StateDir
	client := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		VersionedPlugins: sdk.PluginSets(),
		Cmd:              cmd,
		SecureConfig:     &goplugin.SecureConfig{Checksum: sum, Hash: sha256.New()},
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		AutoMTLS:         true,
		StartTimeout:     30 * time.Second,
		SkipHostEnv:      true,
		Logger: hclog.New(&hclog.LoggerOptions{
			Name:   "plugin." + spec.Name,
			Output: &slogWriter{l: spec.Logger},
			Level:  hclog.Info,
		}),
	})
	inst := &Instance{spec: spec, client: client, stopWD: make(chan struct{})}
	defer func() {
		if err != nil {
			inst.Kill()
		}
	}()
	rpc, err := sdk.Dispense(client)
	if err != nil {
		if errors.Is(err, goplugin.ErrChecksumsDoNotMatch) {
			return nil, fmt.Errorf("plugin %s: %s does not match its pinned sha256 %s; it was changed or replaced, refusing to run it", spec.Name, spec.Executable, spec.SHA256)
		}
		return nil, fmt.Errorf("plugin %s: start %s: %w", spec.Name, spec.Executable, err)
	}
	inst.rpc = rpc
	if rc := client.ReattachConfig(); rc != nil {
		inst.pid = rc.Pid
	}
	go inst.watchdog()

	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	info, err := rpc.Describe(ctx)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %w", spec.Name, err)
	}
	if info.Name != spec.Name {
		return nil, fmt.Errorf("plugin %s: %s says it is %q; the config section name must match the plugin's name", spec.Name, spec.Executable, info.Name)
	}
	if len(info.Kinds) == 0 {
		return nil, fmt.Errorf("plugin %s: declares no evidence kinds", spec.Name)
	}
	inst.info = info
	roots, err := rpc.Configure(ctx, sdk.Config{Raw: spec.Settings, StateDir: spec.StateDir})
	if err != nil {
		var fe sdk.FieldErrors
		if errors.As(err, &fe) {
			return nil, &ConfigError{Plugin: spec.Name, Errors: fe}
		}
		return nil, fmt.Errorf("plugin %s: %w", spec.Name, err)
	}
	inst.roots = roots
	return inst, nil
}

// ConfigError carries the plugin's complaints about its settings. The
// plugin ran and answered: it is not broken, its settings are, so the
// message says so before naming each field (it is the plugin.health error
// that status, the collector and the auditor read).
type ConfigError struct {
	Plugin string
	Errors sdk.FieldErrors
}

func (e *ConfigError) Error() string {
	parts := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		field := "plugins." + e.Plugin
		if fe.Field != "" {
			field += "." + fe.Field
		}
		parts[i] = field + ": " + fe.Message
	}
	return "plugin " + e.Plugin + " refused its settings, so it collects nothing: " + strings.Join(parts, "; ") +
		" (fix the agent config; `annexa-agent config check` shows the lines)"
}

// checkExecutable refuses files anyone else could have rewritten: a pin
// checked against a file that a non-root user can swap is no pin at all.
func checkExecutable(path string) error {
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("plugin executable %s does not exist; check plugin_dir or the plugin's executable setting", path)
	}
	if err != nil {
		return fmt.Errorf("stat plugin executable: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("plugin executable %s is not a regular file", path)
	}
	if fi.Mode().Perm()&0o002 != 0 {
		return fmt.Errorf("plugin executable %s is writable by every user; fix it with chmod o-w", path)
	}
	if fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("plugin executable %s is not executable", path)
	}
	return nil
}

// pluginEnv gives a plugin only what it needs: a PATH, a locale, and a
// soft memory target below its hard ceiling so a Go plugin collects
// garbage before the watchdog kills it.
func pluginEnv(spec Spec) []string {
	env := []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"}
	if spec.MemoryLimit > 0 {
		env = append(env, "GOMEMLIMIT="+strconv.FormatInt(spec.MemoryLimit*7/10, 10))
	}
	if tz, ok := os.LookupEnv("TZ"); ok {
		env = append(env, "TZ="+tz)
	}
	return env
}

// Info is what the plugin said about itself.
func (i *Instance) Info() sdk.Info { return i.info }

// Roots are the folders the plugin asked to be watched.
func (i *Instance) Roots() []string { return i.roots }

// Pid of the plugin process, 0 if unknown.
func (i *Instance) Pid() int { return i.pid }

// Exited reports whether the process has gone.
func (i *Instance) Exited() bool { return i.client.Exited() }

// Kill ends the process; safe to call more than once.
func (i *Instance) Kill() {
	i.stopOnce.Do(func() { close(i.stopWD) })
	i.client.Kill()
}

// Collect runs one collection under the instance's deadline. fn is called
// with each group in order; if it fails, the collection stops. A plugin
// that overruns, outgrows its memory or sends an invalid record is killed
// and the error says which.
func (i *Instance) Collect(ctx context.Context, req sdk.Request, fn func(sdk.Group) error) error {
	cctx, cancel := context.WithTimeout(ctx, i.spec.Timeout)
	defer cancel()
	err := i.rpc.Collect(cctx, req, i.info.Kinds, fn)
	if err == nil {
		return nil
	}
	var inv *sdk.InvalidRecordError
	switch {
	case i.overMemory():
		i.Kill()
		return fmt.Errorf("plugin %s: %w (%d bytes)", i.spec.Name, ErrMemory, i.spec.MemoryLimit)
	case errors.As(err, &inv):
		i.Kill()
		return fmt.Errorf("plugin %s: %w", i.spec.Name, err)
	case ctx.Err() != nil:
		return ctx.Err()
	case cctx.Err() != nil || status.Code(err) == codes.DeadlineExceeded:
		// gRPC's own deadline timer can fire a moment before the
		// context's, so its status code counts as the deadline too.
		i.Kill()
		return fmt.Errorf("plugin %s: %w (%s)", i.spec.Name, ErrTimedOut, i.spec.Timeout)
	}
	return fmt.Errorf("plugin %s: %w", i.spec.Name, err)
}

func (i *Instance) overMemory() bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.overMem
}

// watchdog kills the process when its resident memory passes the
// ceiling. Reading /proc works for plugins in any language, where a
// runtime's own limit would only bind Go.
func (i *Instance) watchdog() {
	if i.pid == 0 || i.spec.MemoryLimit <= 0 {
		return
	}
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-i.stopWD:
			return
		case <-t.C:
		}
		rss, err := residentBytes(i.pid)
		if err != nil {
			return
		}
		if rss > i.spec.MemoryLimit {
			i.mu.Lock()
			i.overMem = true
			i.mu.Unlock()
			i.spec.Logger.Error("plugin exceeded its memory ceiling; killing it",
				"plugin", i.spec.Name, "rss_bytes", rss, "limit_bytes", i.spec.MemoryLimit)
			i.client.Kill()
			return
		}
	}
}

func residentBytes(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				kb, err := strconv.ParseInt(f[0], 10, 64)
				return kb << 10, err
			}
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}

// slogWriter relays the plugin's stderr (hclog lines) into the agent's log.
type slogWriter struct{ l *slog.Logger }

func (w *slogWriter) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		if line != "" {
			w.l.Info("plugin log", "line", line)
		}
	}
	return len(p), nil
}
