package models

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/annexa/annexa/plugins/sdk"
)

// A collection runs as a pipeline, so that memory stays bounded whatever
// the tree and the cores are kept busy:
//
//	walker (1) ─ folders ─► folder workers (N) ─ large files ─► file workers (N)
//	                              │                                   │
//	                              └────────── ops ───────────────────►┴─► emitter: Emit + state writes (1)
//
// The walker only lists folders. A folder worker reads the state rows of
// its folder in one query, stats each file relative to the open folder,
// sends the stored evidence of every unchanged model as it is (nothing is
// read, parsed or marshalled again), analyses small changed files itself
// and hands large ones on, so several shards hash in parallel. At most N
// files are read at once (the workers setting). Only the emitter talks to
// the agent and writes the state.

type dirJob struct {
	dir   string
	names []string
	// entries is the folder's whole listing (a whole job only), which its
	// view reads instead of listing it again.
	entries []entry
	// whole: names is the folder's full listing, so rows of other names
	// are files that are gone.
	whole bool
}

type fileJob struct {
	dir, name string
	// fd is the open folder while its worker runs the job, else nil.
	fd *os.File
	// fh, when set, is the file already open (examine closes it).
	fh   fileHandle
	st   fileStat
	prev *row
	view *dirView
}

// op is one outcome for the emitter.
type op struct {
	dir, name string
	// emit is the evidence to send (nil: nothing to send).
	emit json.RawMessage
	// del sends a delete for dir/name.
	del bool
	// put writes the row; forget removes dir/name.
	put    *row
	forget bool
	// folder records the folder's print (after the ops of its files);
	// unfolder forgets it.
	folder   *folderRow
	unfolder bool
}

type collection struct {
	p       *Plugin
	ctx     context.Context
	folders *folders
	ops     chan op
	// sem bounds the files read at once.
	sem chan struct{}
	mu  sync.Mutex
	// unsure are missing roots and folders that could not be listed: the
	// models under them are neither reported nor forgotten.
	unsure []string
	// visited are the folders listed whole, for the sweep of vanished ones.
	visited map[string]bool
	// fresh: the state had no rows when the collection began.
	fresh bool
	// full: the regions are the roots; rows outside them are dropped.
	full bool
	// delta: models found as they were last sent are counted in unchanged,
	// not sent (the agent accepted it and holds everything sent before;
	// see Collect).
	delta     bool
	unchanged atomic.Int64
	// global prints what every model's evidence takes from the settings
	// and the pins list, for folderPrint; nil turns folder prints off.
	global []byte
	// scratch: the state is not written (collect --once).
	scratch bool
}

func (c *collection) addUnsure(path string) {
	c.mu.Lock()
	c.unsure = append(c.unsure, path)
	c.mu.Unlock()
}

func (c *collection) isUnsure(path string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, u := range c.unsure {
		if sdk.Within(path, u) {
			return true
		}
	}
	return false
}

func (c *collection) send(o op) {
	c.ops <- o
}

// run collects the regions (roots, or changed paths) and returns when
// everything is sent and written.
func (c *collection) run(regions []string, out sdk.Emitter) error {
	ctx, cancel := context.WithCancel(c.ctx)
	defer cancel()
	c.ctx = ctx
	workers := c.p.set.Workers
	if workers == 0 {
		workers = runtime.NumCPU()
	}
	c.sem = make(chan struct{}, workers)
	c.ops = make(chan op, workers*64)
	c.visited = map[string]bool{}

	dirs := make(chan dirJob, workers*2)
	files := make(chan fileJob, workers*16)

	// The folders the state knew before the walk, listed while it runs
	// (one index seek per folder), for the sweep of vanished ones.
	known := make(chan [][]string, 1)
	go func() {
		out := make([][]string, len(regions))
		for i, r := range regions {
			out[i] = c.p.state.dirsUnder(ctx, r)
		}
		known <- out
	}()
	var walkErr error
	go func() {
		defer close(dirs)
		for _, r := range regions {
			if err := c.walk(r, dirs); err != nil {
				walkErr = err
				return
			}
		}
	}()
	var dirWG, fileWG sync.WaitGroup
	for range workers {
		dirWG.Go(func() {
			for j := range dirs {
				if ctx.Err() == nil {
					c.folder(j, files)
				}
			}
		})
		fileWG.Go(func() {
			for j := range files {
				if ctx.Err() == nil {
					c.file(j)
				}
			}
		})
	}
	go func() {
		dirWG.Wait()
		// Every file was found (the folder workers stat them).
		sdk.ProgressFrom(ctx).FoundAll()
		close(files)
		fileWG.Wait()
		close(c.ops)
	}()

	state := c.p.state
	if c.scratch {
		state = nil // a writer that drops everything
	}
	w := state.startWriter(context.WithoutCancel(ctx))
	defer w.close()
	var emitErr error
	for o := range c.ops {
		if emitErr == nil {
			if emitErr = c.apply(o, out, w); emitErr != nil {
				cancel()
			}
		}
	}
	if emitErr == nil && walkErr != nil {
		emitErr = walkErr
	}
	if emitErr == nil {
		emitErr = ctx.Err()
	}
	if emitErr == nil {
		emitErr = c.sweep(regions, <-known, out, w)
	}
	return emitErr
}

// apply sends and records one outcome (on the emitter goroutine only).
func (c *collection) apply(o op, out sdk.Emitter, w *writer) error {
	subject := "model:" + filepath.Join(o.dir, o.name)
	switch {
	case o.emit != nil:
		if err := out.Emit(sdk.Upsert(Kind, subject, o.emit)); err != nil {
			return fmt.Errorf("emit %s: %w", subject, err)
		}
	case o.del:
		if err := out.Emit(sdk.Delete(Kind, subject)); err != nil {
			return fmt.Errorf("emit delete of %s: %w", subject, err)
		}
	}
	switch {
	case o.put != nil:
		w.putRow(o.dir, o.put)
	case o.forget:
		w.delete(o.dir, o.name)
	case o.folder != nil:
		w.putFolder(o.dir, o.folder)
	case o.unfolder:
		w.forgetFolder(o.dir)
	}
	return nil
}

// walk lists region and every folder beneath it (symlinks are not
// followed; excluded names and paths are skipped) and hands each folder's
// files to the folder workers. A region that is a file is one job.
func (c *collection) walk(region string, dirs chan<- dirJob) error {
	stat := os.Lstat
	if slices.Contains(c.p.set.Roots, region) {
		// A root may be a symlink (/srv/ml/models -> /mnt/nvme/models);
		// nothing below it is followed.
		stat = os.Stat
	}
	fi, err := stat(region)
	if err != nil {
		return nil // gone: the sweep says so
	}
	switch {
	case fi.Mode().IsRegular():
		return c.queue(dirs, dirJob{dir: filepath.Dir(region), names: []string{filepath.Base(region)}})
	case fi.IsDir():
		return c.walkDir(region, dirs)
	}
	return nil
}

func (c *collection) walkDir(dir string, dirs chan<- dirJob) error {
	if err := c.ctx.Err(); err != nil {
		return err
	}
	entries, err := listDir(dir)
	if err != nil {
		// Not listed is not gone: keep what was known below it.
		c.p.log.Warn("cannot read folder", "path", dir, "err", err)
		c.addUnsure(dir)
		return nil
	}
	c.visited[dir] = true
	var names, subdirs []string
	for _, e := range entries {
		if c.p.excludedIn(dir, e.name) {
			continue
		}
		switch {
		case e.mode.IsRegular():
			names = append(names, e.name)
		case e.mode.IsDir():
			subdirs = append(subdirs, filepath.Join(dir, e.name))
		}
	}
	if err := c.queue(dirs, dirJob{dir: dir, names: names, entries: entries, whole: true}); err != nil {
		return err
	}
	for _, s := range subdirs {
		if err := c.walkDir(s, dirs); err != nil {
			return err
		}
	}
	return nil
}

func (c *collection) queue(dirs chan<- dirJob, j dirJob) error {
	select {
	case dirs <- j:
		return nil
	case <-c.ctx.Done():
		return c.ctx.Err()
	}
}

// dirView is what a folder lends its models, computed when its first
// model needs it.
type dirView struct {
	once    sync.Once
	dir     string
	entries []entry
	fv      *folderView
	sv      *sigView
	print   []byte
}

func (c *collection) view(d *dirView) *dirView {
	d.once.Do(func() {
		if d.entries != nil {
			d.fv = c.folders.ofListed(d.dir, d.entries)
		} else {
			d.fv = c.folders.of(d.dir)
		}
		d.sv = c.folders.signature(d.dir)
		d.print = viewPrint(d.fv, d.sv)
	})
	return d
}

// viewPrint fingerprints a folder's view: the stored evidence of an
// unchanged model is sent as it is only while this (and the rest of
// filePrint) is unchanged. Whatever finish takes from outside the file
// itself must feed it or filePrint. The signature's view holds the
// outcome of its verification, so new trust settings or a new bundle
// change it.
func viewPrint(fv *folderView, sv *sigView) []byte {
	h := fnv.New128a()
	b, _ := json.Marshal(fv)
	h.Write(b)
	if sv != nil {
		b, _ = json.Marshal(sv)
		h.Write(b)
		keys := make([]string, 0, len(sv.digests))
		for k := range sv.digests {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			h.Write([]byte(k + "\x00" + sv.digests[k] + "\x00"))
		}
	}
	return h.Sum(nil)
}

// outside sets a model's provenance (provenance.go) and returns the
// folder view it takes (that of its hub-cache snapshot for a blob, else
// its folder's) and its filePrint. It runs for every unchanged model
// too, on a probe holding only the path, digest and owner names: the
// pins list is reread each collection, and sources, deployed_roots, a
// snapshot or a clone's .git can change while the file does not, so
// their outcome must feed the print. It costs no read beyond what the
// collection caches once per folder (hub index, .git).
func (c *collection) outside(a *Attributes, d *dirView) (*folderView, uint64) {
	fv := d.fv
	if hv := c.folders.hubView(a.Path); hv != nil {
		fv = hv
	}
	c.p.prov.apply(a, c.folders)
	return fv, filePrint(d, fv, a)
}

// filePrint adds to its folder's print what else a model's evidence
// took from outside the file: a snapshot's view (hub-cache blobs), the
// owner and group names, and the provenance. Keep it in step with
// outside and finish.
func filePrint(d *dirView, fv *folderView, a *Attributes) uint64 {
	h := fnv.New64a()
	h.Write(d.print)
	if fv != d.fv {
		b, _ := json.Marshal(fv)
		h.Write(b)
	}
	flags := []byte{'0', '0', '0'}
	for i, on := range []bool{a.ThirdParty, a.Pinned, a.Deployed} {
		if on {
			flags[i] = '1'
		}
	}
	for _, s := range []string{a.Owner, a.Group, a.Source, a.SourceFrom, string(flags), strconv.Itoa(analyzerVersion)} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return h.Sum64()
}

// folder handles one folder's files: unchanged ones from the state, the
// rest analysed here (small) or by the file workers (large). A whole
// folder whose print matches the one stored when it was last found clean
// is done with its stats alone.
func (c *collection) folder(j dirJob, files chan<- fileJob) {
	p := c.p
	d, err := openDir(j.dir)
	if err != nil {
		p.log.Warn("cannot open folder", "path", j.dir, "err", err)
		c.addUnsure(j.dir)
		return
	}
	defer d.Close()
	view := &dirView{dir: j.dir, entries: j.entries}
	stats := make([]fileStat, len(j.names))
	errs := make([]error, len(j.names))
	if !c.fresh {
		// A first scan opens each file as it comes to it instead.
		for i, name := range j.names {
			stats[i], errs[i] = statAt(d, name)
		}
	}
	prog := sdk.ProgressFrom(c.ctx)
	// clean: every file ends as the state says (nothing left to read
	// again), so the folder's print may be stored.
	clean := j.whole && c.global != nil && !strings.Contains(j.dir, "/models--")
	var print [folderPrintSize]byte
	if clean && !c.fresh {
		print = c.folderPrint(j, stats, errs, view)
		if f := p.state.folder(c.ctx, j.dir); f != nil && f.Print == print && c.delta {
			for i := range j.names {
				if st := stats[i]; errs[i] == nil && st.regular && st.Key.Size > 0 {
					prog.Found(1, st.Key.Size)
					c.skipped(st)
				}
			}
			p.stats.cacheHits.Add(int64(len(j.names)))
			p.stats.foldersSkipped.Add(1)
			c.unchanged.Add(int64(f.Models))
			return
		}
	}
	var rows map[string]*row
	switch {
	case c.fresh:
	case j.whole:
		rows = p.state.dirRows(c.ctx, j.dir)
	case len(j.names) == 1:
		if r := p.state.fileRow(c.ctx, filepath.Join(j.dir, j.names[0])); r != nil {
			rows = map[string]*row{r.Name: r}
		}
	}
	seen := make(map[string]bool, len(j.names))
	models := 0
	for i, name := range j.names {
		if c.ctx.Err() != nil {
			return
		}
		var fh fileHandle
		if c.fresh {
			stats[i], fh, errs[i] = openStatAt(d, name)
		}
		st, err := stats[i], errs[i]
		if err != nil {
			clean = false
			if !errors.Is(err, fs.ErrNotExist) {
				p.log.Warn("cannot stat", "path", filepath.Join(j.dir, name), "err", err)
				seen[name] = true
			}
			continue
		}
		if !st.regular || st.Key.Size == 0 {
			if fh != nil {
				fh.Close()
			}
			continue
		}
		seen[name] = true
		prog.Found(1, st.Key.Size)
		prev := rows[name]
		var out outcome
		switch {
		case prev != nil && prev.reusable(st.Key):
			p.stats.cacheHits.Add(1)
			if prev.Model {
				out = c.unchangedFile(j.dir, name, st, prev, view)
			} else {
				prog.Skipped(st.Key.Size)
				prog.Examined(1)
				out = outcome{final: true}
			}
		case st.Key.Size <= smallFile:
			out = c.file(fileJob{dir: j.dir, name: name, st: st, prev: prev, view: view, fd: d, fh: fh})
		default:
			if fh != nil {
				fh.Close() // the file worker opens it when its turn comes
			}
			clean = false
			select {
			case files <- fileJob{dir: j.dir, name: name, st: st, prev: prev, view: view}:
			case <-c.ctx.Done():
				return
			}
			continue
		}
		clean = clean && out.final
		if out.model {
			models++
		}
	}
	if j.whole {
		for name, r := range rows {
			if !seen[name] {
				c.send(op{dir: j.dir, name: name, del: r.Reported, forget: true})
			}
		}
	}
	if len(seen) == 0 {
		// Nothing to skip next time, and no file row for the sweep to
		// find the folder by when it goes.
		clean = false
	}
	switch {
	case clean && c.fresh:
		// The first scan stores prints too, so the next one can use them.
		c.send(op{dir: j.dir, folder: &folderRow{Print: c.folderPrint(j, stats, errs, view), Models: models}})
	case clean:
		c.send(op{dir: j.dir, folder: &folderRow{Print: print, Models: models}})
	case !c.fresh:
		// The rows changed apart from a print: a stored one is stale.
		c.send(op{dir: j.dir, unfolder: true})
	}
}

// outcome is where a file ended: final when its row is as the state will
// keep it (nothing to read again), model when that row is a reported
// model.
type outcome struct{ final, model bool }

// folderPrint fingerprints everything the evidence of a folder's models
// depends on: each listed name with its stat (size, times, inode: a
// changed file; ctime moves with chmod and chown) and owner names, the
// folder's view (card, config, code, signature and its verification), the
// git source above it, and the settings and pins list (global). Hub-cache
// folders, whose views come from snapshot folders elsewhere, have none.
// Whatever outside and finish take from elsewhere must feed it too.
func (c *collection) folderPrint(j dirJob, stats []fileStat, errs []error, view *dirView) [folderPrintSize]byte {
	h := sha256.New()
	h.Write(c.global)
	h.Write(c.view(view).print)
	h.Write([]byte(c.folders.gitAt(j.dir, 0)))
	h.Write([]byte{0})
	b := make([]byte, 0, len(j.names)*96)
	var owner, group string
	var lastUID, lastGID uint32
	for i, name := range j.names {
		b = append(b, name...)
		b = append(b, 0)
		st := stats[i]
		switch {
		case errs[i] != nil:
			b = append(b, 'e')
		case st.regular:
			b = append(b, 'f')
		default:
			b = append(b, 'o')
		}
		for _, v := range []uint64{st.Key.Dev, st.Key.Ino, uint64(st.Key.Size), uint64(st.Key.MtimeNs), uint64(st.Key.CtimeNs), uint64(st.Info.Mode)} {
			b = binary.LittleEndian.AppendUint64(b, v)
		}
		if st.Info.UID != lastUID || st.Info.GID != lastGID || i == 0 || !st.Info.OK {
			// Files of a folder mostly share their owner: one look-up.
			lastUID, lastGID = st.Info.UID, st.Info.GID
			owner, group = c.p.users.Of(st.Info)
		}
		b = append(b, owner...)
		b = append(b, 0)
		b = append(b, group...)
		b = append(b, 0)
	}
	h.Write(b)
	var out [folderPrintSize]byte
	copy(out[:], h.Sum(nil))
	return out
}

// unchangedFile handles a model whose file is as it was. While the
// folder's view and owner names are too, its stored evidence is sent as
// it is, or in a delta collection only counted; else evidence is rebuilt
// from the stored analysis (nothing is read again).
func (c *collection) unchangedFile(dir, name string, st fileStat, prev *row, view *dirView) outcome {
	path := filepath.Join(dir, name)
	c.view(view)
	owner, group := c.p.users.Of(st.Info)
	probe := &Attributes{Path: path, Owner: owner, Group: group, SHA256: prev.SHA256, HashStatus: "ok"}
	if _, print := c.outside(probe, view); prev.View == print && prev.Reported && len(prev.Attrs) > 0 {
		c.skipped(st)
		if c.delta {
			c.unchanged.Add(1)
			return outcome{final: true, model: true}
		}
		c.p.stats.storedSent.Add(1)
		c.send(op{dir: dir, name: name, emit: prev.Attrs})
		return outcome{final: true, model: true}
	}
	a := c.p.baseAttributes(path, st)
	stored := c.p.state.analysis(c.ctx, dir, prev)
	if stored == nil || json.Unmarshal(stored, &a.Analysis) != nil {
		// No analysis to reuse: read the file again (file counts it).
		return c.file(fileJob{dir: dir, name: name, st: st, prev: prev, view: view})
	}
	c.skipped(st)
	a.SHA256, a.HashStatus = prev.SHA256, "ok"
	return c.finish(dir, name, st.Key, a, view)
}

// skipped counts a file done with without reading it.
func (c *collection) skipped(st fileStat) {
	prog := sdk.ProgressFrom(c.ctx)
	prog.Skipped(st.Key.Size)
	prog.Examined(1)
}

// file reads, analyses and hashes one file and sends the outcome.
func (c *collection) file(j fileJob) outcome {
	path := filepath.Join(j.dir, j.name)
	select {
	case c.sem <- struct{}{}:
	case <-c.ctx.Done():
		if j.fh != nil {
			j.fh.Close()
		}
		return outcome{}
	}
	a, read := c.p.examine(c.ctx, j.fd, j.fh, path, j.st)
	<-c.sem
	prog := sdk.ProgressFrom(c.ctx)
	if a == nil {
		// Not a model, or unreadable: its bytes are not hashed.
		prog.Skipped(j.st.Key.Size)
	}
	prog.Examined(1)
	switch {
	case c.ctx.Err() != nil || !read:
		// Unreadable is not gone: the row, if any, stays as it was.
		return outcome{}
	case a == nil:
		if j.prev != nil && j.prev.Reported {
			c.send(op{dir: j.dir, name: j.name, del: true, put: &row{Name: j.name, Key: j.st.Key}})
			return outcome{final: true}
		}
		c.send(op{dir: j.dir, name: j.name, put: &row{Name: j.name, Key: j.st.Key}})
		return outcome{final: true}
	}
	return c.finish(j.dir, j.name, j.st.Key, a, j.view)
}

// finish gives a model its folder's view, sends it and stores it. The
// stored evidence is sent as it is on later scans while the file's key
// and filePrint are unchanged, so anything added here from outside the
// file must feed viewPrint (or filePrint, through outside), or it would
// go stale.
func (c *collection) finish(dir, name string, key fileKey, a *Attributes, view *dirView) outcome {
	var analysis []byte
	if !c.scratch {
		// Stored so that a new view rebuilds evidence without a read;
		// a scratch state is never read.
		var err error
		if analysis, err = json.Marshal(&a.Analysis); err != nil {
			c.p.log.Warn("cannot encode analysis", "path", a.Path, "err", err)
			return outcome{}
		}
	}
	d := c.view(view)
	fv, print := c.outside(a, d)
	fv.apply(a)
	if d.sv != nil {
		d.sv.apply(a)
	}
	a.Unsafe = a.Analysis.Unsafe()
	attrs, err := json.Marshal(a)
	if err != nil {
		c.p.log.Warn("cannot encode evidence", "path", a.Path, "err", err)
		return outcome{}
	}
	r := &row{Name: name, Key: key, Model: true, Analysis: analysis, View: print, Attrs: attrs, Reported: true}
	if a.HashStatus == "ok" {
		r.SHA256 = a.SHA256
	}
	if !utf8.ValidString(a.Path) || strings.ContainsAny(a.Path, "\x00\n") {
		c.p.log.Warn("model path is not valid UTF-8 or holds a newline; not reported", "path", strconv.Quote(a.Path))
		r.Reported = false
		c.send(op{dir: dir, name: name, put: r})
		return outcome{final: r.SHA256 != ""}
	}
	c.send(op{dir: dir, name: name, emit: attrs, put: r})
	return outcome{final: r.SHA256 != "", model: true}
}

// sweep runs after the walk: known models under a region whose folder
// was not listed (removed, excluded, no longer a folder) are gone, unless
// they sit where nothing could be seen (a missing root, an unreadable
// folder).
func (c *collection) sweep(regions []string, known [][]string, out sdk.Emitter, w *writer) error {
	if c.full {
		// Files under a root no longer configured: forgotten without a
		// delete, as the collector retires what a full scan of this
		// plugin did not mention.
		w.deleteOutside(c.p.set.Roots)
	}
	for i, region := range regions {
		if c.isUnsure(region) {
			continue
		}
		// A region that was a file, and is gone or no longer a file.
		if !c.visited[region] {
			if r := c.p.state.fileRow(c.ctx, region); r != nil {
				if fi, err := os.Lstat(region); err != nil || !fi.Mode().IsRegular() {
					if err := c.apply(op{dir: filepath.Dir(region), name: filepath.Base(region), del: r.Reported, forget: true}, out, w); err != nil {
						return err
					}
				}
			}
		}
		for _, dir := range known[i] {
			if c.visited[dir] || c.isUnsure(dir) {
				continue
			}
			if !sdk.Within(dir, region) {
				continue
			}
			for name, r := range c.p.state.dirRows(c.ctx, dir) {
				if r.Reported {
					if err := c.apply(op{dir: dir, name: name, del: true}, out, w); err != nil {
						return err
					}
				}
			}
			w.deleteDir(dir)
		}
	}
	return nil
}

// fileStat is what one stat of a file gives the inventory.
type fileStat struct {
	Key     fileKey
	Info    sdk.StatInfo
	regular bool
}

func statOf(fi fs.FileInfo) fileStat {
	st := sdk.StatOf(fi)
	return fileStat{Key: keyOf(fi, st), Info: st, regular: fi.Mode().IsRegular()}
}

// countWalk sends the size of every file the collection's walk of
// region will find (regular, not empty, not excluded; a root may be a
// symlink, nothing below it is followed), for countAhead. Folders it
// cannot list hold nothing for it, as for the collection.
func (p *Plugin) countWalk(ctx context.Context, region string, found chan<- int64) error {
	stat := os.Lstat
	if slices.Contains(p.set.Roots, region) {
		stat = os.Stat
	}
	fi, err := stat(region)
	switch {
	case err != nil:
		return nil
	case fi.Mode().IsRegular():
		return countFile(ctx, fi, found)
	case fi.IsDir():
		return p.countDir(ctx, region, found)
	}
	return nil
}

func (p *Plugin) countDir(ctx context.Context, dir string, found chan<- int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		if p.excluded(e.Name(), path) {
			continue
		}
		switch t := e.Type(); {
		case t.IsRegular():
			if fi, err := e.Info(); err == nil {
				if err := countFile(ctx, fi, found); err != nil {
					return err
				}
			}
		case t.IsDir():
			if err := p.countDir(ctx, path, found); err != nil {
				return err
			}
		}
	}
	return nil
}

func countFile(ctx context.Context, fi fs.FileInfo, found chan<- int64) error {
	if fi.Size() == 0 {
		return nil
	}
	select {
	case found <- fi.Size():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// entry is one name a folder lists, with its type (fs.ModeDir,
// fs.ModeSymlink, 0 for a regular file, fs.ModeIrregular for the rest).
type entry struct {
	name string
	mode fs.FileMode
}
