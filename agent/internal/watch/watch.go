// Package watch turns file changes under a plugin's roots into batches of
// changed paths. inotify is not recursive, so the watcher walks folders
// itself and adds one watch per folder; it stays under the kernel's watch
// limit and polls what it cannot watch; and it treats a lost event (queue
// overflow, watcher error) as a reason to ask for a full rescan, never as
// a reason to stop.
package watch

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Options tune a Watcher; zero values take the defaults.
type Options struct {
	// Debounce is the quiet time after the last event before a Change is
	// delivered. Under a constant stream of events a Change is still
	// delivered after 10×Debounce, so changes are never starved.
	Debounce time.Duration
	// PollInterval is how often unwatchable folders are compared with
	// their last snapshot.
	PollInterval time.Duration
	// MaxWatches caps inotify watches; 0 means half the kernel's
	// fs.inotify.max_user_watches, at most 500000.
	MaxWatches int
	// ProcRoot is where /proc is, for tests.
	ProcRoot string
	// MaxPending is how many distinct paths one window may hold before it
	// collapses into a rescan.
	MaxPending int
	Logger     *slog.Logger
}

// Change is one debounced batch of changes under a root.
type Change struct {
	Root string
	// Paths that changed, deduplicated and sorted; a folder means
	// "something under here changed".
	Paths []string
	// Rescan means events may have been lost: collect Root in full.
	Rescan bool
}

// Stats say how the watcher is doing.
type Stats struct {
	Watched   int
	Polled    int
	Overflows int
	Errors    int
	LastError string
}

// Watcher watches a set of roots.
type Watcher struct {
	roots []string
	opts  Options
	log   *slog.Logger
	out   chan Change

	mu      sync.Mutex
	fsw     *fsnotify.Watcher
	watched map[string]bool
	polled  map[string]uint64 // folder → snapshot hash
	missing map[string]bool   // roots that do not exist yet
	budget  int
	warned  bool
	stats   Stats

	pending   map[string]map[string]bool // root → paths
	rescan    map[string]bool
	firstSeen time.Time
	lastSeen  time.Time
}

// New checks the roots; it starts nothing.
func New(roots []string, opts Options) (*Watcher, error) {
	if len(roots) == 0 {
		return nil, errors.New("watch: no roots")
	}
	clean := make([]string, 0, len(roots))
	for _, r := range roots {
		if !filepath.IsAbs(r) {
			return nil, fmt.Errorf("watch: root %q is not an absolute path", r)
		}
		clean = append(clean, filepath.Clean(r))
	}
	if opts.Debounce <= 0 {
		opts.Debounce = 2 * time.Second
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = time.Minute
	}
	if opts.ProcRoot == "" {
		opts.ProcRoot = "/proc"
	}
	if opts.MaxPending <= 0 {
		opts.MaxPending = 10000
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxWatches <= 0 {
		opts.MaxWatches = kernelBudget(opts.ProcRoot)
	}
	return &Watcher{
		roots: clean, opts: opts, log: opts.Logger, out: make(chan Change, 16),
		watched: map[string]bool{}, polled: map[string]uint64{}, missing: map[string]bool{},
		pending: map[string]map[string]bool{}, rescan: map[string]bool{},
	}, nil
}

// kernelBudget is half the per-user inotify limit: other programs of the
// same user (and a second agent during an upgrade) need watches too.
func kernelBudget(procRoot string) int {
	b, err := os.ReadFile(filepath.Join(procRoot, "sys/fs/inotify/max_user_watches"))
	if err != nil {
		return 4096
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n <= 0 {
		return 4096
	}
	return min(n/2, 500000)
}

// Changes delivers debounced changes; it is closed when Run returns.
func (w *Watcher) Changes() <-chan Change { return w.out }

// Stats returns a snapshot of the counters.
func (w *Watcher) Stats() Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.stats
	s.Watched, s.Polled = len(w.watched), len(w.polled)
	return s
}

// Run watches until ctx ends.
func (w *Watcher) Run(ctx context.Context) error {
	defer close(w.out)
	if err := w.open(); err != nil {
		return err
	}
	defer func() {
		w.mu.Lock()
		w.fsw.Close()
		w.mu.Unlock()
	}()
	w.mu.Lock()
	for _, r := range w.roots {
		w.addTree(r, false)
	}
	w.mu.Unlock()

	poll := time.NewTicker(w.opts.PollInterval)
	defer poll.Stop()
	tick := time.NewTicker(max(w.opts.Debounce/4, 5*time.Millisecond))
	defer tick.Stop()
	for {
		w.mu.Lock()
		events, errs := w.fsw.Events, w.fsw.Errors
		w.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev, ok := <-events:
			if !ok {
				w.restart("event channel closed")
				continue
			}
			w.handle(ev)
		case err, ok := <-errs:
			if !ok {
				w.restart("error channel closed")
				continue
			}
			w.handleError(err)
		case <-poll.C:
			w.pollAll()
		case <-tick.C:
		}
		if ch, ok := w.due(time.Now()); ok {
			for _, c := range ch {
				select {
				case w.out <- c:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}
	}
}

func (w *Watcher) open() error {
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch: start inotify: %w", err)
	}
	w.mu.Lock()
	w.fsw = fsw
	w.budget = w.opts.MaxWatches
	w.mu.Unlock()
	return nil
}

// restart recreates the inotify watcher after it died, re-walks every
// root and asks for rescans, since anything may have changed meanwhile.
func (w *Watcher) restart(why string) {
	w.log.Warn("file watcher died; recreating it and rescanning", "reason", why)
	w.mu.Lock()
	w.fsw.Close()
	w.watched = map[string]bool{}
	w.polled = map[string]uint64{}
	w.stats.Errors++
	w.stats.LastError = why
	w.mu.Unlock()
	if err := w.open(); err != nil {
		w.log.Error("cannot recreate the file watcher; polling everything", "err", err)
		time.Sleep(time.Second)
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, r := range w.roots {
		w.addTree(r, false)
		w.markRescan(r)
	}
}

func (w *Watcher) handleError(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if errors.Is(err, fsnotify.ErrEventOverflow) {
		w.stats.Overflows++
		w.log.Warn("inotify queue overflowed; asking for a full rescan")
	} else {
		w.stats.Errors++
		w.stats.LastError = err.Error()
		w.log.Warn("file watcher error; asking for a full rescan", "err", err)
	}
	for _, r := range w.roots {
		w.markRescan(r)
	}
}

// injectError lets tests drive the error path the kernel rarely takes.
func (w *Watcher) injectError(err error) { w.handleError(err) }

func (w *Watcher) handle(ev fsnotify.Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	path := filepath.Clean(ev.Name)
	switch {
	case ev.Has(fsnotify.Create):
		fi, err := os.Lstat(path)
		if err == nil && fi.IsDir() {
			// Files may have landed in the new folder before its watch
			// existed, so its whole tree is reported.
			w.addTree(path, true)
		}
	case ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename):
		w.forgetTree(path)
	}
	w.note(path)
}

// note records a changed path under its root.
func (w *Watcher) note(path string) {
	root := w.rootOf(path)
	if root == "" {
		return
	}
	now := time.Now()
	if w.firstSeen.IsZero() {
		w.firstSeen = now
	}
	w.lastSeen = now
	if w.rescan[root] {
		return
	}
	set := w.pending[root]
	if set == nil {
		set = map[string]bool{}
		w.pending[root] = set
	}
	set[path] = true
	if len(set) > w.opts.MaxPending {
		w.markRescan(root)
	}
}

func (w *Watcher) markRescan(root string) {
	now := time.Now()
	if w.firstSeen.IsZero() {
		w.firstSeen = now
	}
	w.lastSeen = now
	w.rescan[root] = true
	delete(w.pending, root)
}

// rootOf is the most specific root that holds path.
func (w *Watcher) rootOf(path string) string {
	best := ""
	for _, r := range w.roots {
		if (path == r || strings.HasPrefix(path, r+string(filepath.Separator)) || r == "/") && len(r) > len(best) {
			best = r
		}
	}
	return best
}

// due hands out the pending window once it has been quiet for Debounce,
// or has been open for 10×Debounce.
func (w *Watcher) due(now time.Time) ([]Change, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.firstSeen.IsZero() {
		return nil, false
	}
	if now.Sub(w.lastSeen) < w.opts.Debounce && now.Sub(w.firstSeen) < 10*w.opts.Debounce {
		return nil, false
	}
	var out []Change
	for root := range w.rescan {
		out = append(out, Change{Root: root, Rescan: true})
	}
	for root, set := range w.pending {
		paths := make([]string, 0, len(set))
		for p := range set {
			paths = append(paths, p)
		}
		sort.Strings(paths)
		out = append(out, Change{Root: root, Paths: paths})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Root < out[j].Root })
	w.pending = map[string]map[string]bool{}
	w.rescan = map[string]bool{}
	w.firstSeen, w.lastSeen = time.Time{}, time.Time{}
	return out, len(out) > 0
}

// addTree watches dir and every folder below it, or polls them when the
// budget is spent. With report, every entry found is noted as changed.
// Symlinked folders are not followed: they can loop, and they can lead
// out of the roots.
func (w *Watcher) addTree(dir string, report bool) {
	fi, err := os.Lstat(dir)
	if err != nil || !fi.IsDir() {
		if w.isRoot(dir) {
			w.missing[dir] = true
		}
		return
	}
	if w.isRoot(dir) && w.missing[dir] {
		delete(w.missing, dir)
		report = true
	}
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			w.stats.Errors++
			w.stats.LastError = err.Error()
			return nil
		}
		if report && path != dir {
			w.note(path)
		}
		if !d.IsDir() {
			return nil
		}
		w.addDir(path)
		return nil
	})
}

func (w *Watcher) isRoot(p string) bool {
	for _, r := range w.roots {
		if r == p {
			return true
		}
	}
	return false
}

func (w *Watcher) addDir(path string) {
	if w.watched[path] {
		return
	}
	if _, ok := w.polled[path]; ok {
		return
	}
	if len(w.watched) < w.budget {
		err := w.fsw.Add(path)
		if err == nil {
			w.watched[path] = true
			return
		}
		if errors.Is(err, syscall.ENOSPC) {
			// The kernel's limit is lower than we read, or others use it.
			w.budget = len(w.watched)
		} else if !errors.Is(err, os.ErrNotExist) {
			w.stats.Errors++
			w.stats.LastError = err.Error()
		}
		if errors.Is(err, os.ErrNotExist) {
			return
		}
	}
	if !w.warned {
		w.warned = true
		w.log.Warn("inotify watch budget spent; polling the remaining folders. Raise fs.inotify.max_user_watches (sysctl fs.inotify.max_user_watches=1048576) to watch them",
			"watched", len(w.watched), "budget", w.budget, "poll_interval", w.opts.PollInterval)
	}
	w.polled[path] = snapshot(path)
}

// forgetTree drops watches and polls of a removed or renamed folder.
func (w *Watcher) forgetTree(path string) {
	prefix := path + string(filepath.Separator)
	for p := range w.watched {
		if p == path || strings.HasPrefix(p, prefix) {
			_ = w.fsw.Remove(p)
			delete(w.watched, p)
		}
	}
	for p := range w.polled {
		if p == path || strings.HasPrefix(p, prefix) {
			delete(w.polled, p)
		}
	}
	if w.isRoot(path) {
		w.missing[path] = true
	}
}

// pollAll compares polled folders with their snapshots and looks for
// roots that have appeared.
func (w *Watcher) pollAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for root := range w.missing {
		if fi, err := os.Lstat(root); err == nil && fi.IsDir() {
			w.addTree(root, true)
		}
	}
	for dir, old := range w.polled {
		now := snapshot(dir)
		if now == old {
			continue
		}
		w.polled[dir] = now
		if now == 0 {
			delete(w.polled, dir)
		}
		w.note(dir)
		// New subfolders of a polled folder are watched or polled too.
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if e.IsDir() {
				w.addTree(filepath.Join(dir, e.Name()), true)
			}
		}
	}
}

// snapshot hashes a folder's direct entries (name, size, mtime, mode):
// cheap, and enough to see that something in it changed. Per-folder, not
// per-file, state keeps memory flat for a million files.
func snapshot(dir string) uint64 {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	h := fnv.New64a()
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			continue
		}
		fmt.Fprintf(h, "%s\x00%d\x00%d\x00%d\n", e.Name(), fi.Size(), fi.ModTime().UnixNano(), fi.Mode())
	}
	return h.Sum64() | 1
}
