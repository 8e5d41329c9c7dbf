package watch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
)

// wait bounds every wait on the watcher: generous, since a loaded CI box
// under -race can be slow, and never reached when things work.
const wait = 10 * time.Second

// start runs a watcher on roots until the test ends and returns once its
// watches are in place.
func start(t *testing.T, roots []string, opts Options, setup ...func(*Watcher)) *Watcher {
	t.Helper()
	if opts.Debounce == 0 {
		opts.Debounce = 50 * time.Millisecond
	}
	if opts.PollInterval == 0 {
		opts.PollInterval = time.Hour // tests that poll say so
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	w, err := New(roots, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range setup {
		f(w)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Run returned %v, want context.Canceled", err)
			}
		case <-time.After(wait):
			t.Error("Run did not return after cancel")
		}
	})
	select {
	case <-w.Ready():
	case err := <-done:
		t.Fatalf("Run returned early: %v", err)
	case <-time.After(wait):
		t.Fatal("watcher not ready")
	}
	return w
}

// seen accumulates what the watcher reported.
type seen struct {
	paths  map[string]bool
	rescan bool
}

// waitUntil reads changes for root until ok says enough was seen.
func waitUntil(t *testing.T, w *Watcher, root string, what string, ok func(s *seen) bool) *seen {
	t.Helper()
	s := &seen{paths: map[string]bool{}}
	deadline := time.After(wait)
	for !ok(s) {
		select {
		case ch, open := <-w.Changes():
			if !open {
				t.Fatalf("changes closed while waiting for %s", what)
			}
			if ch.Root != root {
				t.Fatalf("change for root %q, want %q", ch.Root, root)
			}
			if !slices.IsSorted(ch.Paths) || len(slices.Compact(slices.Clone(ch.Paths))) != len(ch.Paths) {
				t.Fatalf("paths not sorted and unique: %q", ch.Paths)
			}
			if ch.Rescan && len(ch.Paths) > 0 {
				t.Fatalf("rescan with paths: %q", ch.Paths)
			}
			s.rescan = s.rescan || ch.Rescan
			for _, p := range ch.Paths {
				if !under(p, root) {
					t.Fatalf("path %q outside root %q", p, root)
				}
				s.paths[p] = true
			}
		case <-deadline:
			t.Fatalf("timed out waiting for %s; saw rescan=%v paths %q", what, s.rescan, slices.Sorted(mapKeys(s.paths)))
		}
	}
	return s
}

// waitPaths waits until every one of want has been reported.
func waitPaths(t *testing.T, w *Watcher, root string, want ...string) *seen {
	t.Helper()
	return waitUntil(t, w, root, fmt.Sprintf("paths %q", want), func(s *seen) bool {
		for _, p := range want {
			if !s.paths[p] {
				return false
			}
		}
		return true
	})
}

func waitRescan(t *testing.T, w *Watcher, root string) {
	t.Helper()
	waitUntil(t, w, root, "a rescan", func(s *seen) bool { return s.rescan })
}

func mapKeys(m map[string]bool) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func mkdirs(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func wantStats(t *testing.T, w *Watcher, watched, polled int) {
	t.Helper()
	if s := w.Stats(); s.Watched != watched || s.Polled != polled {
		t.Fatalf("stats: watched %d polled %d, want %d and %d (%+v)", s.Watched, s.Polled, watched, polled, s)
	}
}

// waitStats drains changes until the stats satisfy ok.
func waitStats(t *testing.T, w *Watcher, what string, ok func(Stats) bool) {
	t.Helper()
	deadline := time.After(wait)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !ok(w.Stats()) {
		select {
		case <-w.Changes():
		case <-tick.C:
		case <-deadline:
			t.Fatalf("timed out waiting for %s: %+v", what, w.Stats())
		}
	}
}

// blockLoop holds the Run goroutine until the returned func is called, so
// that a test can pile events up in the kernel queue.
func blockLoop(t *testing.T, w *Watcher) (release func()) {
	t.Helper()
	entered, free := make(chan struct{}), make(chan struct{})
	go func() {
		_ = w.do(context.Background(), func() {
			close(entered)
			<-free
		})
	}()
	select {
	case <-entered:
	case <-time.After(wait):
		t.Fatal("loop did not take the hook")
	}
	return func() { close(free) }
}

func TestNewValidates(t *testing.T) {
	for name, tc := range map[string]struct {
		roots []string
		opts  Options
	}{
		"no roots":          {nil, Options{}},
		"relative root":     {[]string{"data"}, Options{}},
		"negative debounce": {[]string{"/data"}, Options{Debounce: -1}},
		"negative poll":     {[]string{"/data"}, Options{PollInterval: -1}},
		"negative watches":  {[]string{"/data"}, Options{MaxWatches: -1}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := New(tc.roots, tc.opts); err == nil {
				t.Fatal("New accepted it")
			}
		})
	}
	w, err := New([]string{"/srv/ml/", "/srv/ml"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(w.roots, []string{"/srv/ml"}) || w.opts.Debounce != DefaultDebounce || w.opts.PollInterval != DefaultPollInterval || w.opts.ProcRoot != "/proc" {
		t.Fatalf("defaults not applied: %q %+v", w.roots, w.opts)
	}
}

func TestFileEvents(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	nested := filepath.Join(root, "a", "b")
	mkdirs(t, nested)
	old := filepath.Join(nested, "old.bin")
	write(t, old, "x")
	kept := filepath.Join(root, "kept.txt")
	write(t, kept, "x")
	w := start(t, []string{root}, Options{})
	wantStats(t, w, 3, 0)

	created := filepath.Join(root, "new.txt")
	write(t, created, "hello")
	deep := filepath.Join(nested, "deep.txt")
	write(t, deep, "hello")
	waitPaths(t, w, root, created, deep)

	f, err := os.OpenFile(kept, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("more"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Remove(created); err != nil {
		t.Fatal(err)
	}
	renamed := filepath.Join(nested, "renamed.bin")
	if err := os.Rename(old, renamed); err != nil {
		t.Fatal(err)
	}
	waitPaths(t, w, root, kept, created, old, renamed)
}

func TestNewFolderTreeIsReportedThenWatched(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	w := start(t, []string{root}, Options{})

	// mkdir -p and writes race the watcher: most files exist before the
	// watches on their folders do.
	x := filepath.Join(root, "x")
	y := filepath.Join(x, "y")
	z := filepath.Join(y, "z")
	mkdirs(t, z)
	files := []string{filepath.Join(x, "1"), filepath.Join(y, "2"), filepath.Join(z, "3")}
	for _, f := range files {
		write(t, f, "data")
	}
	waitPaths(t, w, root, append([]string{x, y, z}, files...)...)
	wantStats(t, w, 4, 0)

	later := filepath.Join(z, "4")
	write(t, later, "data")
	waitPaths(t, w, root, later)
}

func TestFolderRemoved(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	d := filepath.Join(root, "d")
	mkdirs(t, filepath.Join(d, "e", "f"))
	write(t, filepath.Join(d, "e", "file"), "x")
	w := start(t, []string{root}, Options{})
	wantStats(t, w, 4, 0)

	if err := os.RemoveAll(d); err != nil {
		t.Fatal(err)
	}
	waitPaths(t, w, root, d)
	// The change naming d is built after d's removal was handled.
	wantStats(t, w, 1, 0)

	// The name is free for a new folder, which is followed again.
	mkdirs(t, d)
	f := filepath.Join(d, "again")
	write(t, f, "x")
	waitPaths(t, w, root, d, f)
	wantStats(t, w, 2, 0)
}

func TestFolderRenamed(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	oldDir := filepath.Join(root, "old")
	mkdirs(t, filepath.Join(oldDir, "sub"))
	write(t, filepath.Join(oldDir, "sub", "f"), "x")
	w := start(t, []string{root}, Options{})
	wantStats(t, w, 3, 0)

	newDir := filepath.Join(root, "new")
	if err := os.Rename(oldDir, newDir); err != nil {
		t.Fatal(err)
	}
	waitPaths(t, w, root, oldDir, newDir, filepath.Join(newDir, "sub"), filepath.Join(newDir, "sub", "f"))
	wantStats(t, w, 3, 0)

	g := filepath.Join(newDir, "sub", "g")
	write(t, g, "x")
	waitPaths(t, w, root, g)
}

func TestRootAppearsLater(t *testing.T) {
	t.Parallel()
	root := filepath.Join(t.TempDir(), "later")
	w := start(t, []string{root}, Options{PollInterval: 20 * time.Millisecond})
	if s := w.Stats(); s.MissingRoots != 1 || s.Watched != 0 {
		t.Fatalf("stats before the root exists: %+v", s)
	}

	mkdirs(t, filepath.Join(root, "sub"))
	f := filepath.Join(root, "sub", "f")
	write(t, f, "x")
	waitPaths(t, w, root, f)
	if s := w.Stats(); s.MissingRoots != 0 || s.Watched != 2 {
		t.Fatalf("stats after the root appeared: %+v", s)
	}
	g := filepath.Join(root, "g")
	write(t, g, "x")
	waitPaths(t, w, root, g)

	// Removing the root is reported, and it is taken back when it returns.
	if err := os.RemoveAll(root); err != nil {
		t.Fatal(err)
	}
	waitPaths(t, w, root, root)
	mkdirs(t, root)
	h := filepath.Join(root, "h")
	write(t, h, "x")
	waitPaths(t, w, root, h)
}

func TestBudgetExhaustedPolls(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	dirs := []string{filepath.Join(root, "a"), filepath.Join(root, "b"), filepath.Join(root, "c")}
	mkdirs(t, dirs...)
	w := start(t, []string{root}, Options{MaxWatches: 2, PollInterval: 30 * time.Millisecond})
	wantStats(t, w, 2, 2)

	// Which folders are polled depends on the walk order; every change
	// must arrive either as the file or as its (polled) folder.
	for _, d := range dirs {
		write(t, filepath.Join(d, "f"), "x")
	}
	waitUntil(t, w, root, "every folder's change", func(s *seen) bool {
		for _, d := range dirs {
			if !s.paths[d] && !s.paths[filepath.Join(d, "f")] {
				return false
			}
		}
		return true
	})

	// A folder created under a polled one is found by the poll, polled
	// too (no budget left), and its files are reported.
	var polledDir string
	if err := w.do(t.Context(), func() {
		for _, d := range dirs {
			if w.dirs[d].polled {
				polledDir = d
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	// The folder arrives whole (made beside the root, then renamed in): a
	// poll between its mkdir and its file would rightly report the file
	// only as a change of the folder.
	sub := filepath.Join(polledDir, "sub")
	staging := filepath.Join(t.TempDir(), "sub")
	mkdirs(t, staging)
	write(t, filepath.Join(staging, "g"), "x")
	if err := os.Rename(staging, sub); err != nil {
		t.Fatal(err)
	}
	inSub := filepath.Join(sub, "g")
	waitPaths(t, w, root, sub, inSub)
	wantStats(t, w, 2, 3)

	// A content change without a new name is seen through size and mtime.
	f := filepath.Join(sub, "g")
	write(t, f, "longer content")
	waitUntil(t, w, root, "the rewrite", func(s *seen) bool { return s.paths[sub] })

	// Removing a polled folder is seen at the next poll.
	if err := os.RemoveAll(sub); err != nil {
		t.Fatal(err)
	}
	waitPaths(t, w, root, polledDir)
	wantStats(t, w, 2, 2)
}

func TestPolledFolderPromotedWhenRoomFrees(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	a, b := filepath.Join(root, "a"), filepath.Join(root, "b")
	mkdirs(t, a, b)
	w := start(t, []string{root}, Options{MaxWatches: 2, PollInterval: 30 * time.Millisecond})
	wantStats(t, w, 2, 1)

	var watchedSub, polledSub string
	if err := w.do(t.Context(), func() {
		watchedSub, polledSub = a, b
		if w.dirs[a].polled {
			watchedSub, polledSub = b, a
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(watchedSub); err != nil {
		t.Fatal(err)
	}
	waitPaths(t, w, root, watchedSub)
	// The next poll moves the polled folder onto the freed watch; then a
	// file appears as itself, not as its folder.
	waitStats(t, w, "promotion", func(s Stats) bool { return s.Watched == 2 && s.Polled == 0 })
	f := filepath.Join(polledSub, "f")
	write(t, f, "x")
	waitPaths(t, w, root, f)
}

func TestProcRootLimit(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	mkdirs(t, filepath.Join(root, "a", "b", "c", "d"))
	proc := t.TempDir()
	limits := filepath.Join(proc, "sys", "fs", "inotify")
	mkdirs(t, limits)
	write(t, filepath.Join(limits, "max_user_watches"), "6\n")
	w := start(t, []string{root}, Options{ProcRoot: proc})
	if s := w.Stats(); s.Budget != 3 || s.Watched != 3 || s.Polled != 2 {
		t.Fatalf("stats: %+v, want budget 3, watched 3, polled 2", s)
	}

	for _, tc := range []struct{ content, name string }{{"", "empty"}, {"lots", "garbage"}, {"-4", "negative"}} {
		t.Run(tc.name, func(t *testing.T) {
			proc := t.TempDir()
			limits := filepath.Join(proc, "sys", "fs", "inotify")
			mkdirs(t, limits)
			write(t, filepath.Join(limits, "max_user_watches"), tc.content)
			w := start(t, []string{root}, Options{ProcRoot: proc})
			if s := w.Stats(); s.Budget != fallbackUserWatches/2 {
				t.Fatalf("budget %d, want the fallback %d", s.Budget, fallbackUserWatches/2)
			}
		})
	}

	huge := t.TempDir()
	limits = filepath.Join(huge, "sys", "fs", "inotify")
	mkdirs(t, limits)
	write(t, filepath.Join(limits, "max_user_watches"), "8000000")
	w = start(t, []string{root}, Options{ProcRoot: huge})
	if s := w.Stats(); s.Budget != MaxAutoWatches {
		t.Fatalf("budget %d, want the cap %d", s.Budget, MaxAutoWatches)
	}
	// Watchers of one agent split the budget between them.
	w = start(t, []string{root}, Options{ProcRoot: huge, Shares: 4})
	if s := w.Stats(); s.Budget != MaxAutoWatches/4 {
		t.Fatalf("budget %d with 4 shares, want %d", s.Budget, MaxAutoWatches/4)
	}
}

func TestSymlinkedFoldersNotFollowed(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	outside := t.TempDir()
	mkdirs(t, filepath.Join(outside, "deep"))
	if err := os.Symlink(root, filepath.Join(root, "loop")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "out")); err != nil {
		t.Fatal(err)
	}
	w := start(t, []string{root}, Options{})
	wantStats(t, w, 1, 0)

	link := filepath.Join(root, "later")
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}
	waitPaths(t, w, root, link)
	wantStats(t, w, 1, 0)
}

func TestInjectedOverflowRescansAndReconciles(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	sub := filepath.Join(root, "sub")
	mkdirs(t, sub)
	w := start(t, []string{root}, Options{})
	wantStats(t, w, 2, 0)

	// Forget sub as if its creation had been lost with the overflow; the
	// reconcile after the overflow must watch it again.
	if err := w.do(t.Context(), func() {
		w.drop(sub)
		w.handleError(fmt.Errorf("read: %w", fsnotify.ErrEventOverflow))
	}); err != nil {
		t.Fatal(err)
	}
	waitRescan(t, w, root)
	if s := w.Stats(); s.Overflows != 1 || s.Errors != 0 {
		t.Fatalf("stats: %+v", s)
	}
	f := filepath.Join(sub, "f")
	write(t, f, "x")
	waitPaths(t, w, root, f)
	wantStats(t, w, 2, 0)
}

func TestInjectedErrorRescans(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	w := start(t, []string{root}, Options{})
	if err := w.do(t.Context(), func() { w.handleError(errors.New("read inotify: input/output error")) }); err != nil {
		t.Fatal(err)
	}
	waitRescan(t, w, root)
	if s := w.Stats(); s.Errors != 1 || !strings.Contains(s.LastError, "input/output error") || s.LastErrorAt.IsZero() {
		t.Fatalf("stats: %+v", s)
	}
	f := filepath.Join(root, "f")
	write(t, f, "x")
	waitPaths(t, w, root, f)
}

func TestDeadBackendIsRecreated(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	mkdirs(t, filepath.Join(root, "sub"))
	w := start(t, []string{root}, Options{})
	var old *fsnotify.Watcher
	if err := w.do(t.Context(), func() {
		old = w.fsw
		_ = w.fsw.Close()
	}); err != nil {
		t.Fatal(err)
	}
	waitRescan(t, w, root)
	if err := w.do(t.Context(), func() {
		if w.fsw == nil || w.fsw == old {
			t.Error("inotify instance not recreated")
		}
	}); err != nil {
		t.Fatal(err)
	}
	if s := w.Stats(); s.Errors == 0 || s.Watched != 2 {
		t.Fatalf("stats: %+v", s)
	}
	f := filepath.Join(root, "sub", "f")
	write(t, f, "x")
	waitPaths(t, w, root, f)
}

func TestRealQueueOverflow(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("creates tens of thousands of files")
	}
	b, err := os.ReadFile("/proc/sys/fs/inotify/max_queued_events")
	if err != nil {
		t.Skipf("cannot read the queue size: %v", err)
	}
	queue, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || queue > 1<<16 {
		t.Skipf("queue of %q events is too large to overflow cheaply", b)
	}
	root := t.TempDir()
	w := start(t, []string{root}, Options{})
	release := blockLoop(t, w)
	// fsnotify holds one read (at most 4096 events) besides the kernel
	// queue; this many creations overflow both.
	for i := range queue + 8192 {
		f, err := os.Create(filepath.Join(root, strconv.Itoa(i)))
		if err != nil {
			release()
			t.Fatal(err)
		}
		f.Close()
	}
	release()
	// So many creations also overflow the pending set, so the rescan
	// alone proves nothing: wait for the kernel's overflow itself.
	waitStats(t, w, "an overflow", func(s Stats) bool { return s.Overflows > 0 })
	waitRescan(t, w, root)
}

func TestTooManyChangesCollapseIntoRescan(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	w := start(t, []string{root}, Options{}, func(w *Watcher) { w.maxPending = 10 })
	// Holding the loop keeps all creations in one debounce window.
	release := blockLoop(t, w)
	for i := range 30 {
		write(t, filepath.Join(root, strconv.Itoa(i)), "x")
	}
	release()
	waitRescan(t, w, root)
}

func TestConstantStreamIsNotStarved(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	w := start(t, []string{root}, Options{Debounce: 100 * time.Millisecond})
	f := filepath.Join(root, "busy")
	stop := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
				_ = os.WriteFile(f, []byte(strconv.Itoa(i)), 0o644)
			}
		}
	}()
	// The writer never pauses for Debounce, so only the cap lets this
	// change out.
	waitPaths(t, w, root, f)
	close(stop)
	<-stopped
}

func TestNestedRootsBothHearChanges(t *testing.T) {
	t.Parallel()
	outer := t.TempDir()
	inner := filepath.Join(outer, "models")
	mkdirs(t, inner)
	w := start(t, []string{outer, inner}, Options{})
	wantStats(t, w, 2, 0)
	f := filepath.Join(inner, "m.bin")
	write(t, f, "x")
	got := map[string]bool{}
	deadline := time.After(wait)
	for !got[outer] || !got[inner] {
		select {
		case ch := <-w.Changes():
			if slices.Contains(ch.Paths, f) {
				got[ch.Root] = true
			}
		case <-deadline:
			t.Fatalf("roots that saw %s: %v", f, got)
		}
	}
}

// benchTree makes 20,000 files in 2,000 folders (20 folders of 99 folders
// each, 10 files in every one).
func benchTree(b *testing.B) string {
	b.Helper()
	root := b.TempDir()
	for i := range 20 {
		top := filepath.Join(root, fmt.Sprintf("d%02d", i))
		for j := range 100 {
			d := top
			if j > 0 {
				d = filepath.Join(top, fmt.Sprintf("e%02d", j))
			}
			if err := os.MkdirAll(d, 0o755); err != nil {
				b.Fatal(err)
			}
			for k := range 10 {
				if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("f%d", k)), nil, 0o644); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	return root
}

// runBench starts a watcher for a benchmark and returns its stop func.
func runBench(b *testing.B, root string, opts Options) (*Watcher, func()) {
	b.Helper()
	w, err := New([]string{root}, opts)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = w.Run(ctx); close(done) }()
	<-w.Ready()
	return w, func() { cancel(); <-done }
}

// BenchmarkSetup measures the walk that places watches on 20,000 files in
// 2,000 folders, from New to Ready, and the heap it keeps per folder.
func BenchmarkSetup(b *testing.B) {
	root := benchTree(b)
	var watched int
	var heap uint64
	for b.Loop() {
		var before, after runtime.MemStats
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&before)
		b.StartTimer()
		w, stop := runBench(b, root, Options{})
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&after)
		heap = after.HeapAlloc - min(before.HeapAlloc, after.HeapAlloc)
		watched = w.Stats().Watched
		stop()
		b.StartTimer()
	}
	b.ReportMetric(float64(watched), "watches")
	b.ReportMetric(float64(heap)/float64(max(watched, 1)), "heapB/folder")
}

// BenchmarkPoll measures one poll of the same tree when nothing can be
// watched: the cost of falling back to polling at that size.
func BenchmarkPoll(b *testing.B) {
	root := benchTree(b)
	w, stop := runBench(b, root, Options{MaxWatches: 1, PollInterval: time.Hour})
	defer stop()
	for b.Loop() {
		if err := w.do(context.Background(), w.poll); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(w.Stats().Polled), "polled")
}
