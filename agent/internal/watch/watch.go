// Package watch tells the agent which paths under a plugin's roots changed,
// so that a plugin can collect incrementally instead of rescanning.
//
// inotify is not recursive (fsnotify/fsnotify#18), so the watcher walks the
// roots itself and adds one watch per folder, following folders as they
// appear and go. Kernel watches are a shared, per-user budget that breaks
// file-integrity monitors at scale (wazuh/wazuh#7230): the watcher takes at
// most half of it and polls the folders it cannot watch, comparing a cheap
// per-folder snapshot. A watcher that stops for good after one error
// (osquery#3290) silently turns inventory stale, so every error, overflow
// included, becomes a Change with Rescan set and the watcher carries on,
// recreating its inotify instance if that died.
//
// State is kept per folder, never per file, so that a million files cost a
// few tens of megabytes: the path, its subfolder names, and for polled
// folders a 64-bit hash of the folder's entries.
package watch

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
)

const (
	// DefaultDebounce is Options.Debounce when zero.
	DefaultDebounce = 2 * time.Second
	// DefaultPollInterval is Options.PollInterval when zero.
	DefaultPollInterval = time.Minute
	// MaxAutoWatches caps the automatic watch budget: beyond it, the
	// kernel memory pinned by watches (about 1 KiB each) outweighs the
	// cost of polling.
	MaxAutoWatches = 500000

	// maxDelayFactor bounds how long a constant stream of events can
	// postpone a Change, so that a busy folder never starves its plugin.
	maxDelayFactor = 10
	// maxPendingPaths is where a debounce window stops listing paths and
	// asks for a rescan, which costs the plugin little more than a long
	// list and keeps our memory flat when a tree is copied in.
	maxPendingPaths = 10000
	// fallbackUserWatches stands in for max_user_watches when /proc cannot
	// be read; it is the kernel's historical default.
	fallbackUserWatches = 8192
	// readBatch bounds the directory entries held at once, so that a
	// folder of a million files does not become a million-entry slice.
	readBatch = 512
)

// errNoRoom says a folder is polled because the watch budget is spent.
var errNoRoom = errors.New("watch budget exhausted")

// errNoBackend says a folder is polled because no inotify instance could be
// created; the watcher retries at every poll.
var errNoBackend = errors.New("no inotify instance")

// Options tune a Watcher. The zero value is usable.
type Options struct {
	// Debounce is the quiet time after the last event before a Change is
	// delivered; under a constant stream of events a Change still goes out
	// after 10×Debounce. Default DefaultDebounce.
	Debounce time.Duration
	// PollInterval is how often folders that could not be watched (and
	// roots that do not exist yet) are polled. Default DefaultPollInterval.
	PollInterval time.Duration
	// MaxWatches caps the inotify watches this Watcher adds. 0 means half
	// of fs.inotify.max_user_watches, at most MaxAutoWatches; the other
	// half is left to the rest of the host.
	MaxWatches int
	// Shares splits the automatic budget between this many watchers of
	// one agent (one per plugin), so together they still leave the host
	// its half. 0 and 1 mean the watcher has the budget to itself.
	Shares int
	// ProcRoot is where /proc is mounted; tests point it at a fixture.
	ProcRoot string
	Logger   *slog.Logger
}

// Change says that paths under Root changed.
type Change struct {
	// Root is the root, as given to New, that the paths are under.
	Root string
	// Paths are changed files or folders, deduplicated and sorted. A folder
	// means that something at or under it changed (polled folders are
	// reported this way); a path that no longer exists was removed.
	Paths []string
	// Rescan says events may have been lost (queue overflow, watcher
	// error, too many changes at once): the caller must collect all of
	// Root. Paths is empty then.
	Rescan bool
}

// Stats describe a Watcher for health reports.
type Stats struct {
	// Watched is the number of folders with an inotify watch.
	Watched int `json:"watched"`
	// Polled is the number of folders polled instead, missing roots
	// included.
	Polled int `json:"polled"`
	// Budget is the most watches this Watcher will add.
	Budget int `json:"budget"`
	// MissingRoots counts roots that do not exist (yet).
	MissingRoots int    `json:"missing_roots"`
	Overflows    uint64 `json:"overflows"`
	Errors       uint64 `json:"errors"`
	// LastError is the text of the most recent error, empty if none.
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
}

// Watcher watches a set of roots. Run drives it; Changes and Stats are safe
// to use from other goroutines.
type Watcher struct {
	roots   []string
	opts    Options
	log     *slog.Logger
	changes chan Change
	ready   chan struct{}
	hooks   chan func()
	started atomic.Bool

	statsMu sync.Mutex
	stats   Stats

	// Everything below belongs to the Run goroutine.
	fsw         *fsnotify.Watcher
	dirs        map[string]*folder
	watched     int
	polled      int
	budget      int
	kernelFull  bool // inotify said ENOSPC; retried at the next poll
	budgetHit   bool // some folder was polled for want of a watch
	budgetWarn  bool // the budget warning was logged
	folderWarn  bool // a folder error was logged at warn level
	present     []bool
	pending     []pendingSet
	queue       []queued
	gen         uint32
	maxPending  int
	needRecon   bool
	lastRecon   time.Time
	userWatches int
}

// folder is all we keep per folder.
type folder struct {
	// sub holds the names of tracked subfolders, so that a removed folder's
	// watches can be dropped without scanning every tracked path.
	sub map[string]struct{}
	// hash is the snapshot of a polled folder's entries.
	hash   uint64
	gen    uint32
	polled bool
}

// pendingSet collects one root's changes during a debounce window.
type pendingSet struct {
	paths       map[string]struct{}
	rescan      bool
	first, last time.Time
	// queued says a Change for this root waits for the consumer; new
	// events keep collecting here meanwhile, so a slow consumer costs at
	// most one queued Change and one capped set per root.
	queued bool
}

type queued struct {
	root int
	ch   Change
}

// New validates roots and options. It has no side effects: nothing is read
// or watched before Run.
func New(roots []string, opts Options) (*Watcher, error) {
	if len(roots) == 0 {
		return nil, errors.New("watch: no roots")
	}
	if opts.Debounce < 0 || opts.PollInterval < 0 || opts.MaxWatches < 0 {
		return nil, fmt.Errorf("watch: negative option (debounce %v, poll interval %v, max watches %d)",
			opts.Debounce, opts.PollInterval, opts.MaxWatches)
	}
	if opts.Debounce == 0 {
		opts.Debounce = DefaultDebounce
	}
	if opts.PollInterval == 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.ProcRoot == "" {
		opts.ProcRoot = "/proc"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	var clean []string
	for _, r := range roots {
		// A relative root would depend on the service's working directory.
		if !filepath.IsAbs(r) {
			return nil, fmt.Errorf("watch: root %q is not an absolute path", r)
		}
		r = filepath.Clean(r)
		if !slices.Contains(clean, r) {
			clean = append(clean, r)
		}
	}
	return &Watcher{
		roots:      clean,
		opts:       opts,
		log:        opts.Logger,
		changes:    make(chan Change),
		ready:      make(chan struct{}),
		hooks:      make(chan func()),
		maxPending: maxPendingPaths,
	}, nil
}

// Changes delivers debounced changes. It is closed when Run returns. Run
// never blocks on it: while the consumer is busy, changes accumulate (and
// collapse into a rescan past a limit).
func (w *Watcher) Changes() <-chan Change { return w.changes }

// Ready is closed once Run has walked the roots and placed its watches. A
// full collection started after Ready misses nothing: anything it does not
// see arrives as a Change.
func (w *Watcher) Ready() <-chan struct{} { return w.ready }

// Stats returns a snapshot of the watcher's counters.
func (w *Watcher) Stats() Stats {
	w.statsMu.Lock()
	defer w.statsMu.Unlock()
	return w.stats
}

// Run watches until ctx ends, then returns ctx.Err(). It returns another
// error only if called twice. Errors while watching are logged, counted in
// Stats and turned into rescans, never returned.
func (w *Watcher) Run(ctx context.Context) error {
	if !w.started.CompareAndSwap(false, true) {
		return errors.New("watch: Run called twice")
	}
	defer close(w.changes)

	w.dirs = make(map[string]*folder)
	w.present = make([]bool, len(w.roots))
	w.pending = make([]pendingSet, len(w.roots))
	w.budget = w.opts.MaxWatches
	if w.budget == 0 {
		w.budget = w.autoBudget()
	}
	w.openBackend()
	defer func() {
		if w.fsw != nil {
			_ = w.fsw.Close()
		}
	}()
	start := time.Now()
	for i := range w.roots {
		w.addRoot(i, false)
	}
	w.warnBudget()
	w.publish()
	w.log.Info("watching", "roots", len(w.roots), "watched", w.watched, "polled", w.polled,
		"budget", w.budget, "duration", time.Since(start))
	close(w.ready)

	poll := time.NewTicker(w.opts.PollInterval)
	defer poll.Stop()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		var out chan<- Change
		var head Change
		if len(w.queue) > 0 {
			out, head = w.changes, w.queue[0].ch
		}
		var events chan fsnotify.Event
		var errs chan error
		if w.fsw != nil {
			events, errs = w.fsw.Events, w.fsw.Errors
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case out <- head:
			w.pending[w.queue[0].root].queued = false
			w.queue[0] = queued{}
			w.queue = w.queue[1:]
		case ev, ok := <-events:
			if !ok {
				w.backendDied()
				break
			}
			w.handle(ev)
			w.drain(events)
		case err, ok := <-errs:
			if !ok {
				w.backendDied()
				break
			}
			w.handleError(err)
		case <-poll.C:
			w.poll()
		case <-timer.C:
		case fn := <-w.hooks:
			fn()
		}
		now := time.Now()
		if w.needRecon && now.Sub(w.lastRecon) >= w.opts.Debounce {
			w.reconcile()
		}
		w.flush(now)
		w.publish()
		w.schedule(timer, now)
	}
}

// drain handles events already waiting, so that a burst costs one round
// of flush and publish rather than one per event.
func (w *Watcher) drain(events chan fsnotify.Event) {
	for range 256 {
		select {
		case ev, ok := <-events:
			if !ok {
				return // the main loop sees the closed channel next
			}
			w.handle(ev)
		default:
			return
		}
	}
}

// autoBudget reads the kernel's per-user watch limit and takes half of it.
func (w *Watcher) autoBudget() int {
	path := filepath.Join(w.opts.ProcRoot, "sys", "fs", "inotify", "max_user_watches")
	n, err := readLimit(path)
	if err != nil {
		w.log.Warn("cannot read the inotify watch limit; assuming the kernel default",
			"path", path, "assumed", fallbackUserWatches, "err", err)
		n = fallbackUserWatches
	}
	w.userWatches = n
	return max(1, min(n/2, MaxAutoWatches)/max(1, w.opts.Shares))
}

func readLimit(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 64))
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", path, err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("parse %s: %q is not a positive number", path, b)
	}
	return n, nil
}

func (w *Watcher) openBackend() {
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		// Most likely fs.inotify.max_user_instances; polling still works.
		w.recordError(fmt.Errorf("create inotify instance: %w", err))
		w.log.Warn("cannot create an inotify instance; polling every folder until one can be created",
			"poll_interval", w.opts.PollInterval, "err", err)
		return
	}
	w.fsw = fsw
}

// backendDied replaces an inotify instance whose channels closed. What
// happened in between is unknown, hence a rescan of every root.
func (w *Watcher) backendDied() {
	w.recordError(errors.New("inotify instance stopped"))
	w.log.Warn("inotify instance stopped; recreating it and rescanning all roots")
	_ = w.fsw.Close()
	w.fsw = nil
	w.openBackend()
	w.restart()
}

// restart forgets all folders and walks the roots again into the current
// backend.
func (w *Watcher) restart() {
	w.dirs = make(map[string]*folder)
	w.watched, w.polled = 0, 0
	w.kernelFull = false
	for i := range w.roots {
		w.present[i] = false
		w.addRoot(i, false)
	}
	w.rescanAll()
	w.warnBudget()
}

func (w *Watcher) handleError(err error) {
	if errors.Is(err, fsnotify.ErrEventOverflow) {
		w.statsMu.Lock()
		w.stats.Overflows++
		w.statsMu.Unlock()
		w.log.Warn("inotify queue overflowed; rescanning all roots (raise fs.inotify.max_queued_events if this repeats)")
	} else {
		w.recordError(fmt.Errorf("inotify: %w", err))
		w.log.Warn("inotify error; rescanning all roots", "err", err)
	}
	// Which roots lost events is unknown, and folders created meanwhile
	// may lack a watch: rescan everything and re-walk, the latter at most
	// once per debounce so that an error storm does not become a walk storm.
	w.rescanAll()
	w.needRecon = true
}

// reconcile walks every root again: folders created while events were lost
// get a watch, folders gone are forgotten.
func (w *Watcher) reconcile() {
	w.needRecon = false
	w.lastRecon = time.Now()
	w.gen++
	for i := range w.roots {
		w.addRoot(i, false)
	}
	var gone []string
	for p, d := range w.dirs {
		if d.gen != w.gen {
			gone = append(gone, p)
		}
	}
	for _, p := range gone {
		w.drop(p)
	}
	w.warnBudget()
}

// handle applies one fsnotify event.
func (w *Watcher) handle(ev fsnotify.Event) {
	p := ev.Name
	w.pend(p)
	switch {
	case ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename):
		// A rename is seen as the old name going; the new name, if inside
		// a root, arrives as a Create.
		w.gone(p)
	case ev.Has(fsnotify.Create):
		fi, err := os.Lstat(p)
		if err != nil {
			return // already gone again; its Remove follows
		}
		if d := w.dirs[p]; d != nil && !fi.IsDir() {
			w.drop(p) // a folder replaced by a file
			return
		}
		// Lstat, so a symlink to a folder is a file here: following it
		// could loop or leave the root.
		if fi.IsDir() && w.dirs[p] == nil {
			// Files may have landed before the watch did (mkdir -p a/b &&
			// touch a/b/f), so the walk reports everything it finds.
			w.walk(p, true)
			w.warnBudget()
		}
	}
}

// gone forgets a path that was removed or renamed, and any root at or
// under it.
func (w *Watcher) gone(p string) {
	w.drop(p)
	for i, r := range w.roots {
		if w.present[i] && under(r, p) {
			w.present[i] = false
			if w.dirs[r] != nil {
				w.drop(r)
			}
			// rm -rf root && mkdir root: take it back at once, not at the
			// next poll.
			w.addRoot(i, true)
			if !w.present[i] {
				w.log.Info("root disappeared; polling until it is back", "root", r)
			}
		}
	}
}

// addRoot walks root i if it exists as a folder; otherwise it stays
// missing and is polled.
func (w *Watcher) addRoot(i int, report bool) {
	r := w.roots[i]
	// Stat, not Lstat: a root given as a symlink is followed on purpose.
	fi, err := os.Stat(r)
	if err != nil || !fi.IsDir() {
		if err == nil {
			err = errors.New("not a folder")
		}
		w.present[i] = false
		w.log.Debug("root not available; polling for it", "root", r, "err", err)
		return
	}
	w.present[i] = true
	w.walk(r, report)
}

// walk tracks top and every folder under it, watching each before reading
// it so that an entry created in between still raises an event. With
// report, every entry found is a change.
func (w *Watcher) walk(top string, report bool) {
	stack := []string{top}
	for len(stack) > 0 {
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		d := w.dirs[p]
		if d == nil {
			if d = w.track(p); d == nil {
				continue
			}
		}
		d.gen = w.gen
		h, subs, err := w.scan(p, d.polled, func(child string) {
			if report {
				w.pend(child)
			}
		})
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				w.drop(p)
			} else {
				w.folderError(p, err)
			}
			continue
		}
		if d.polled {
			d.hash = h
		}
		stack = append(stack, subs...)
	}
}

// track starts following folder p: a watch if the budget allows, polling
// otherwise. It returns nil if p vanished.
func (w *Watcher) track(p string) *folder {
	d := &folder{gen: w.gen}
	if err := w.addWatch(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil
		}
		d.polled = true
		w.polled++
	} else {
		w.watched++
	}
	w.dirs[p] = d
	if !w.isRoot(p) {
		if parent := w.dirs[filepath.Dir(p)]; parent != nil {
			if parent.sub == nil {
				parent.sub = make(map[string]struct{})
			}
			parent.sub[filepath.Base(p)] = struct{}{}
		}
	}
	return d
}

func (w *Watcher) addWatch(p string) error {
	switch {
	case w.fsw == nil:
		return errNoBackend
	case w.watched >= w.budget || w.kernelFull:
		w.budgetHit = true
		return errNoRoom
	}
	err := w.fsw.Add(p)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, syscall.ENOSPC):
		// The per-user limit is shared with every other process of the
		// user; once hit, stop asking until the next poll.
		w.kernelFull, w.budgetHit = true, true
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
	default:
		w.folderError(p, fmt.Errorf("watch %s: %w", p, err))
	}
	return err
}

// drop forgets folder p and everything tracked under it.
func (w *Watcher) drop(p string) {
	d := w.dirs[p]
	if d == nil {
		return
	}
	for name := range d.sub {
		w.drop(filepath.Join(p, name))
	}
	delete(w.dirs, p)
	if d.polled {
		w.polled--
	} else {
		w.watched--
		if w.fsw != nil {
			// Fails harmlessly when the kernel already dropped the watch
			// with the folder.
			_ = w.fsw.Remove(p)
		}
	}
	if parent := w.dirs[filepath.Dir(p)]; parent != nil {
		delete(parent.sub, filepath.Base(p))
	}
}

// scan reads folder p in batches, calling each for every entry's path, and
// returns its subfolders and, if wantHash, a snapshot hash of its entries.
// The hash is a sum of per-entry hashes so that it does not depend on the
// order in which the file system lists entries.
func (w *Watcher) scan(p string, wantHash bool, each func(string)) (uint64, []string, error) {
	f, err := os.Open(p)
	if err != nil {
		return 0, nil, err
	}
	defer f.Close()
	var sum uint64
	var subs []string
	h := fnv.New64a()
	for {
		entries, err := f.ReadDir(readBatch)
		for _, e := range entries {
			child := filepath.Join(p, e.Name())
			each(child)
			// DirEntry types come from lstat: a symlink to a folder is not
			// a folder here, and so is never followed.
			isDir := e.IsDir()
			if isDir {
				subs = append(subs, child)
			}
			if !wantHash {
				continue
			}
			h.Reset()
			_, _ = h.Write([]byte(e.Name()))
			var buf [8 * 3]byte
			mode := e.Type()
			// Subfolders are tracked on their own; their size and mtime
			// would only report this folder again for their changes.
			if !isDir {
				if fi, err := e.Info(); err == nil {
					mode = fi.Mode()
					putUint64(buf[0:], uint64(fi.Size()))
					putUint64(buf[8:], uint64(fi.ModTime().UnixNano()))
				}
			}
			putUint64(buf[16:], uint64(mode))
			_, _ = h.Write(buf[:])
			sum += h.Sum64()
		}
		if errors.Is(err, io.EOF) {
			return sum, subs, nil
		}
		if err != nil {
			return 0, nil, fmt.Errorf("read folder %s: %w", p, err)
		}
	}
}

func putUint64(b []byte, v uint64) {
	for i := range 8 {
		b[i] = byte(v >> (8 * i))
	}
}

// poll compares each polled folder with its snapshot, looks for missing
// roots, and moves polled folders to watches when there is room again.
func (w *Watcher) poll() {
	w.kernelFull = false
	if w.fsw == nil {
		w.openBackend()
		if w.fsw != nil {
			w.log.Info("inotify instance created; watching again")
			w.restart()
			return
		}
	}
	for i := range w.roots {
		if !w.present[i] {
			w.addRoot(i, true)
			if w.present[i] {
				w.log.Info("root appeared; watching it", "root", w.roots[i])
			}
		}
	}
	var paths []string
	for p, d := range w.dirs {
		if d.polled {
			paths = append(paths, p)
		}
	}
	// Parents first, so that a parent found gone takes its children along
	// before they are looked at.
	slices.Sort(paths)
	for _, p := range paths {
		d := w.dirs[p]
		if d == nil || !d.polled {
			continue
		}
		// Watch first, then compare: a change between the two is caught
		// by the comparison, one after it by the watch.
		promoted := w.addWatch(p) == nil
		if promoted {
			d.polled = false
			w.polled--
			w.watched++
		}
		h, subs, err := w.scan(p, true, func(string) {})
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				w.pend(p)
				w.gone(p)
			} else {
				w.folderError(p, err)
			}
			continue
		}
		if h == d.hash {
			continue
		}
		d.hash = h
		w.pend(p)
		seen := make(map[string]struct{}, len(subs))
		for _, s := range subs {
			seen[filepath.Base(s)] = struct{}{}
			if w.dirs[s] == nil {
				w.pend(s)
				w.walk(s, true)
			}
		}
		for name := range d.sub {
			if _, ok := seen[name]; !ok {
				w.drop(filepath.Join(p, name))
			}
		}
	}
	w.warnBudget()
}

// pend records p as changed for every root it is under.
func (w *Watcher) pend(p string) {
	var now time.Time
	for i, r := range w.roots {
		if !under(p, r) {
			continue
		}
		if now.IsZero() {
			now = time.Now()
		}
		ps := &w.pending[i]
		if ps.first.IsZero() {
			ps.first = now
		}
		ps.last = now
		if ps.rescan {
			continue
		}
		if ps.paths == nil {
			ps.paths = make(map[string]struct{})
		}
		ps.paths[p] = struct{}{}
		if len(ps.paths) > w.maxPending {
			ps.paths, ps.rescan = nil, true
		}
	}
}

func (w *Watcher) rescanAll() {
	now := time.Now()
	for i := range w.pending {
		ps := &w.pending[i]
		if ps.first.IsZero() {
			ps.first = now
		}
		ps.last = now
		ps.paths, ps.rescan = nil, true
	}
}

// flush turns every pending set that is due into a queued Change.
func (w *Watcher) flush(now time.Time) {
	for i := range w.pending {
		ps := &w.pending[i]
		if ps.queued || ps.first.IsZero() || now.Before(w.due(ps)) {
			continue
		}
		ch := Change{Root: w.roots[i], Rescan: ps.rescan}
		if !ps.rescan {
			ch.Paths = make([]string, 0, len(ps.paths))
			for p := range ps.paths {
				ch.Paths = append(ch.Paths, p)
			}
			slices.Sort(ch.Paths)
		}
		*ps = pendingSet{queued: true}
		w.queue = append(w.queue, queued{root: i, ch: ch})
	}
}

func (w *Watcher) due(ps *pendingSet) time.Time {
	quiet := ps.last.Add(w.opts.Debounce)
	if capped := ps.first.Add(maxDelayFactor * w.opts.Debounce); capped.Before(quiet) {
		return capped
	}
	return quiet
}

// schedule arms timer for the next pending set or deferred reconcile.
func (w *Watcher) schedule(timer *time.Timer, now time.Time) {
	var next time.Time
	for i := range w.pending {
		ps := &w.pending[i]
		if ps.queued || ps.first.IsZero() {
			continue
		}
		if d := w.due(ps); next.IsZero() || d.Before(next) {
			next = d
		}
	}
	if w.needRecon {
		if d := w.lastRecon.Add(w.opts.Debounce); next.IsZero() || d.Before(next) {
			next = d
		}
	}
	if next.IsZero() {
		timer.Stop()
		return
	}
	timer.Reset(max(next.Sub(now), 0))
}

func (w *Watcher) warnBudget() {
	if !w.budgetHit || w.budgetWarn {
		return
	}
	w.budgetWarn = true
	args := []any{"watched", w.watched, "polled", w.polled, "budget", w.budget, "poll_interval", w.opts.PollInterval}
	if w.userWatches > 0 {
		args = append(args, "max_user_watches", w.userWatches)
	}
	if w.kernelFull {
		args = append(args, "cause", "the kernel refused more watches (ENOSPC): other processes of this user hold the rest")
	}
	args = append(args, "hint", "raise the limit with: sysctl -w fs.inotify.max_user_watches=N, persisted in /etc/sysctl.d/")
	w.log.Warn("inotify watch budget exhausted; polling the remaining folders", args...)
}

// folderError counts an error about one folder. The first is logged at
// warn level, later ones at debug level, so that a tree of unreadable
// folders does not flood the log.
func (w *Watcher) folderError(p string, err error) {
	w.recordError(err)
	if !w.folderWarn {
		w.folderWarn = true
		w.log.Warn("cannot follow a folder; further folder errors are logged at debug level", "path", p, "err", err)
		return
	}
	w.log.Debug("cannot follow a folder", "path", p, "err", err)
}

func (w *Watcher) recordError(err error) {
	w.statsMu.Lock()
	defer w.statsMu.Unlock()
	w.stats.Errors++
	w.stats.LastError = err.Error()
	w.stats.LastErrorAt = time.Now()
}

func (w *Watcher) publish() {
	missing := 0
	for _, ok := range w.present {
		if !ok {
			missing++
		}
	}
	w.statsMu.Lock()
	defer w.statsMu.Unlock()
	w.stats.Watched = w.watched
	w.stats.Polled = w.polled + missing
	w.stats.MissingRoots = missing
	w.stats.Budget = w.budget
}

func (w *Watcher) isRoot(p string) bool { return slices.Contains(w.roots, p) }

// under reports whether p is dir or inside it.
func under(p, dir string) bool {
	if p == dir {
		return true
	}
	if dir == "/" {
		return strings.HasPrefix(p, "/")
	}
	return strings.HasPrefix(p, dir) && len(p) > len(dir) && p[len(dir)] == '/'
}

// do runs fn on the Run goroutine and waits for it; tests use it to reach
// state that belongs to that goroutine.
func (w *Watcher) do(ctx context.Context, fn func()) error {
	done := make(chan struct{})
	select {
	case w.hooks <- func() { fn(); close(done) }:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
