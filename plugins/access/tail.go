package access

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/annexa/annexa/plugins/sdk"
)

// headBytes is how much of a log's start identifies it: syslog lines start
// with a timestamp, so a new file with the same inode, or a copy, is told
// apart (or recognised) by the hash of its first bytes.
const headBytes = 256

const checkpointVersion = 1

// checkpoint is what the agent keeps for this plugin between collections.
type checkpoint struct {
	V    int                  `json:"v"`
	Logs map[string]*logState `json:"logs"`
}

// logState is where one configured log was left.
type logState struct {
	Dev uint64 `json:"dev,omitempty"`
	Ino uint64 `json:"ino,omitempty"`
	// Gen counts the files followed at this path after the first, so that
	// a truncated file, or a new one that reuses a freed inode, gives its
	// lines new subjects.
	Gen     int  `json:"gen,omitempty"`
	Started bool `json:"started,omitempty"`
	// Seen says the log was looked for before, present or not: rotated
	// copies made since are not history.
	Seen    bool   `json:"seen,omitempty"`
	Offset  int64  `json:"offset"`
	Size    int64  `json:"size"`
	Lines   int64  `json:"lines"`
	HeadLen int    `json:"head_len,omitempty"`
	Head    string `json:"head,omitempty"`
	// Cursor is the journal's: the last entry read.
	Cursor string `json:"cursor,omitempty"`
	// Tracking says a file is being followed (Offset may still be 0).
	Tracking bool `json:"tracking,omitempty"`
	// Mark is the newest rotated copy when the followed file was taken
	// up: rotated copies newer than it hold lines written since.
	Mark *rotMark `json:"mark,omitempty"`
	// Sibling and SiblingGz are the marks of checkpoints written before
	// Mark (<path>.1 and <path>.1.gz as last seen); read, never written.
	Sibling   *rotMark  `json:"sibling,omitempty"`
	SiblingGz *rotMark  `json:"sibling_gz,omitempty"`
	Year      yearState `json:"year"`
	Det       detector  `json:"det"`
	Vol       volume    `json:"vol"`
	// Win is the summary window still open: counts since the last summary.
	Win window `json:"win"`
}

// window counts what a log held between two summaries.
type window struct {
	Lines     int64 `json:"lines"`
	Events    int64 `json:"events"`
	Skipped   int64 `json:"skipped"`
	Malformed int64 `json:"malformed"`
	TooLong   int64 `json:"too_long"`
	// TooManyRecords counts audit events with more records than
	// max_audit_records: skipped whole.
	TooManyRecords   int64            `json:"too_many_records,omitempty"`
	ByAction         map[string]int64 `json:"by_action"`
	ByResult         map[string]int64 `json:"by_result"`
	FirstAt          string           `json:"first_at,omitempty"`
	LastAt           string           `json:"last_at,omitempty"`
	Anomalies        []Anomaly        `json:"anomalies"`
	AnomaliesDropped int              `json:"anomalies_dropped,omitempty"`
	// Rotations says what was seen happen to the file: rename, gzip,
	// copytruncate, truncate, gap (the rest of a rotated file was not found).
	Rotations []string `json:"rotations,omitempty"`
	// Note says why a source was not (fully) read: journalctl missing or
	// failing.
	Note string `json:"note,omitempty"`
}

func decodeCheckpoint(b []byte) (*checkpoint, error) {
	cp := &checkpoint{V: checkpointVersion, Logs: map[string]*logState{}}
	if len(bytes.TrimSpace(b)) == 0 {
		return cp, nil
	}
	if err := json.Unmarshal(b, cp); err != nil {
		return nil, fmt.Errorf("checkpoint is not this plugin's JSON: %w", err)
	}
	if cp.V != checkpointVersion {
		return nil, fmt.Errorf("checkpoint version %d, this plugin writes %d", cp.V, checkpointVersion)
	}
	if cp.Logs == nil {
		cp.Logs = map[string]*logState{}
	}
	for path, st := range cp.Logs {
		if st == nil {
			delete(cp.Logs, path)
			continue
		}
		if st.Offset < 0 || st.Size < 0 || st.Lines < 0 || st.HeadLen < 0 || st.HeadLen > headBytes || st.Gen < 0 {
			return nil, fmt.Errorf("checkpoint of %s is out of range (offset %d, head %d)", path, st.Offset, st.HeadLen)
		}
		if m := st.Mark; m != nil && (m.HeadLen < 0 || m.HeadLen > headBytes) {
			return nil, fmt.Errorf("checkpoint of %s has a rotation mark out of range (head %d)", path, m.HeadLen)
		}
		if st.Mark == nil {
			st.Mark = st.Sibling
			if st.Mark == nil {
				st.Mark = st.SiblingGz
			}
		}
		st.Sibling, st.SiblingGz = nil, nil
	}
	return cp, nil
}

// identity names the file being read in event subjects.
func (st *logState) identity() string {
	id := strconv.FormatUint(st.Dev, 10) + ":" + strconv.FormatUint(st.Ino, 10)
	if st.Gen > 0 {
		id += "." + strconv.Itoa(st.Gen)
	}
	return id
}

// follow starts following a file from its beginning, keeping the
// detector, year and window: they belong to the log, not the file.
func (st *logState) follow(fi fs.FileInfo) {
	if st.Started {
		st.Gen++
	}
	st.Started, st.Tracking = true, true
	st.Dev, st.Ino = fileID(fi)
	st.Offset, st.Size, st.Lines, st.HeadLen, st.Head = 0, fi.Size(), 0, 0, ""
}

// stop says no file is followed (the log is gone); Gen is kept.
func (st *logState) stop() {
	st.Dev, st.Ino, st.Offset, st.Size, st.Lines, st.HeadLen, st.Head = 0, 0, 0, 0, 0, 0, ""
	st.Tracking = false
}

// followRotated starts following a rotated file, whose first
// (decompressed) bytes are head.
func (st *logState) followRotated(fi fs.FileInfo, head []byte) {
	st.follow(fi)
	n := min(len(head), headBytes)
	st.HeadLen, st.Head = n, hashHex(head[:n])
}

// blind says nothing of the followed file was seen (it was empty), so it
// cannot be recognised by its first bytes.
func (st *logState) blind() bool { return st.HeadLen == 0 && st.Offset == 0 }

// sameFile says whether fi is the file st follows.
func (st *logState) sameFile(fi fs.FileInfo) bool {
	dev, ino := fileID(fi)
	if ino == 0 || st.Ino == 0 {
		return true // no inodes here: the head hash decides
	}
	return dev == st.Dev && ino == st.Ino
}

// headOf hashes the first n bytes of r; ok is false if r is shorter.
func headOf(r io.Reader, n int) (string, bool) {
	h := sha256.New()
	got, err := io.CopyN(h, r, int64(n))
	if err != nil || got != int64(n) {
		return "", false
	}
	return hex.EncodeToString(h.Sum(nil)), true
}

// headMatches says whether r starts with the bytes st saw.
func (st *logState) headMatches(r io.Reader) bool {
	if st.HeadLen == 0 {
		return true
	}
	h, ok := headOf(r, st.HeadLen)
	return ok && h == st.Head
}

// logSource is one configured log.
type logSource struct {
	kind   string // SourceAuthLog, SourceAudit or SourceHTTP
	path   string
	format string
	// assets maps URL prefixes to asset folders (HTTP logs).
	assets map[string]string
	// rotDir is the folder of its rotated copies (its own, or an
	// olddir), and rotFrom what named it ("" for its own folder).
	rotDir, rotFrom string
}

// collection is one Collect call.
type collection struct {
	p   *Plugin
	ctx context.Context
	out sdk.Emitter
	cp  *checkpoint
	// users resolves audit uids; assets maps paths to dataset and model
	// subjects.
	users  users
	assets *assetMapper
	// accessors is the first-access rule's memory (nil when it is off).
	accessors *accessors
	// budget is what is left of the decompressed bytes this collection
	// may read from compressed rotated files.
	budget int64
	// logrotate is logrotate's configuration as read for this
	// collection (nil: discovery off).
	logrotate *lrConfig
}

// source reads one log: the rest of a rotated or truncated predecessor
// and every rotated copy newer than it first, then the live file up to
// its last complete line, then a summary.
func (c *collection) source(src logSource) error {
	st := c.cp.Logs[src.path]
	if st == nil {
		st = &logState{}
		c.cp.Logs[src.path] = st
	}
	src.rotDir, src.rotFrom = c.rotatedDir(src.path)
	fi, statErr := os.Stat(src.path)
	if statErr == nil && !fi.Mode().IsRegular() {
		c.p.log.Warn("log is not a regular file; skipped", "path", src.path)
		return nil
	}
	if statErr != nil && !errors.Is(statErr, fs.ErrNotExist) {
		// Not readable now (permissions, I/O): that is not a rotation,
		// so keep the state and try again next time.
		c.p.log.Warn("cannot stat log; keeping its checkpoint", "path", src.path, "err", statErr)
		return c.summary(src, st)
	}
	var deferred bool
	var err error
	if st.Tracking {
		deferred, err = c.reconcile(src, st, fi, statErr)
	} else {
		deferred, err = c.untracked(src, st, fi, statErr)
	}
	if err != nil {
		return err
	}
	if !deferred && statErr == nil && st.Tracking {
		if err := c.readLive(src, st); err != nil {
			return err
		}
	}
	return c.summary(src, st)
}

// untracked takes up a log no file of which is followed: on the first
// collection (rotated copies are history then), or while it is gone,
// when rotated copies that appeared meanwhile hold lines written while
// it was there between two collections.
func (c *collection) untracked(src logSource, st *logState, fi fs.FileInfo, statErr error) (bool, error) {
	v := newChainView(src.path, src.rotDir)
	if st.Seen || st.Started {
		order := v.newer(st.Mark)
		for k := len(order) - 1; k >= 0; k-- {
			g := v.gens[order[k]]
			name := v.readable(g)
			if name == "" {
				c.addNote(st, "rotated log not read: "+v.unreadable(g))
				continue
			}
			if deferred, err := c.readRotated(src, st, v, name, false, "missed"); err != nil || deferred {
				return deferred, err
			}
		}
	}
	if statErr == nil {
		st.follow(fi)
	} else {
		st.stop()
	}
	// Watched from now on: what is written and rotated before the next
	// collection is not history.
	st.Seen = true
	st.Mark = v.newestMark()
	return false, c.commit()
}

// reconcile decides whether the followed file is still the one at path;
// if not, it finishes that file where rotation put it, then reads every
// rotated copy made after it, oldest first, so the live file comes last.
// deferred says the collection's decompression budget ran out first:
// the rest waits for the next collection.
func (c *collection) reconcile(src logSource, st *logState, fi fs.FileInfo, statErr error) (bool, error) {
	inPlace := statErr == nil && st.sameFile(fi)
	intact := false
	if inPlace {
		intact = fi.Size() >= st.Offset
		if intact {
			f, err := os.Open(src.path)
			if err != nil {
				return false, nil //nolint:nilerr // unreadable now; readLive says so
			}
			intact = st.headMatches(f)
			f.Close()
		}
		if intact && !st.blind() {
			return false, nil
		}
	}
	if !st.blind() && c.renaming(src.path, st) {
		// logrotate's renamecopy is at work: the followed file is at
		// <path>.tmp until it is copied to its rotated name (in olddir,
		// perhaps on another filesystem); reading it here would read
		// its lines again once the copy appears. The next collection
		// finds the copy.
		c.p.log.Info("the followed log is being copied to its rotated name (renamecopy); it is read from there next time", "path", src.path)
		return true, nil
	}
	v := newChainView(src.path, src.rotDir)
	var order []int // generations to read from their start, newest first
	if st.blind() {
		// Nothing of the followed file was seen, so it cannot be told by
		// its first bytes: every rotated copy made since it was taken up
		// holds lines written since (a copytruncate, or renames — one of
		// them perhaps of an inode the new log reused).
		order = v.newer(st.Mark)
		if inPlace && len(order) == 0 {
			return false, nil
		}
	} else if i, name := v.findFollowed(st); i >= 0 {
		how := v.label(name, st, inPlace, true)
		if deferred, err := c.readRotated(src, st, v, name, true, how); err != nil || deferred {
			return deferred, err
		}
		for k := range i {
			order = append(order, k)
		}
	} else {
		order = v.newer(st.Mark)
		if inPlace && len(order) == 0 {
			c.note(st, "truncate")
		} else {
			c.note(st, "gap")
			why := v.failed()
			c.p.log.Warn("the followed log file was not found among its rotated copies (<name>.N or <name>-<date>, plain or .gz/.xz/.zst/.bz2); lines written to it after the last collection, if any, are missed",
				"path", src.path, "rotated_in", src.rotDir, "offset", st.Offset, "unreadable", strings.Join(why, "; "))
			if len(why) > 0 {
				c.addNote(st, "rotated log not read: "+strings.Join(why, "; "))
			}
		}
	}
	for k := len(order) - 1; k >= 0; k-- {
		g := v.gens[order[k]]
		name := v.readable(g)
		if name == "" {
			c.addNote(st, "rotated log not read: "+v.unreadable(g))
			continue
		}
		how := v.label(name, st, inPlace, false)
		if deferred, err := c.readRotated(src, st, v, name, false, how); err != nil || deferred {
			return deferred, err
		}
	}
	if statErr == nil {
		st.follow(fi)
	} else {
		st.stop()
	}
	st.Mark = v.newestMark()
	return false, c.commit()
}

// renamingFor bounds how long a followed file at <path>.tmp is taken for
// a renamecopy under way; a .tmp left behind longer (logrotate killed)
// is read where it is, as the gap it otherwise would be.
const renamingFor = 10 * time.Minute

// renaming says whether the followed file is at <path>.tmp, where
// logrotate's renamecopy puts it before copying it to its rotated name,
// and was put there within renamingFor.
func (c *collection) renaming(path string, st *logState) bool {
	fi, err := os.Stat(path + ".tmp")
	if err != nil || !fi.Mode().IsRegular() || st.Ino == 0 {
		return false
	}
	dev, ino := fileID(fi)
	return dev == st.Dev && ino == st.Ino && fi.Size() >= st.Offset && time.Since(changeTime(fi)) < renamingFor
}

func (c *collection) note(st *logState, how string) {
	if len(st.Win.Rotations) < 32 {
		st.Win.Rotations = append(st.Win.Rotations, how)
	}
}

// addNote adds to the summary's note: why a source was not fully read.
func (c *collection) addNote(st *logState, msg string) {
	switch n := &st.Win.Note; {
	case *n == "":
		*n = msg
	case len(*n) < 2000 && !strings.Contains(*n, msg):
		*n += "; " + msg
	}
}

// readRotated reads a rotated file: the followed one from its offset
// (resume), or a newer one from its start, which it then follows, so a
// read cut short resumes there. Compressed files are read through capped
// decompressors; it returns true when the collection's budget ran out.
func (c *collection) readRotated(src logSource, st *logState, v *chainView, name string, resume bool, how string) (bool, error) {
	if !resume && len(v.head(name).b) == 0 {
		// Empty: no lines, and nothing to know it by if a read stopped
		// there; the next file is taken up instead.
		return false, nil
	}
	f, err := os.Open(name)
	if err != nil {
		c.p.log.Warn("cannot open rotated log", "path", name, "err", err)
		return false, nil
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return false, nil //nolint:nilerr // as above
	}
	kind := compressionOf(name)
	var r io.Reader = f
	if kind != "" {
		d, closeFn, err := decompressor(kind, f)
		if err != nil {
			c.addNote(st, fmt.Sprintf("rotated log %s not read: %v", name, err))
			c.p.log.Warn("rotated log not read", "path", name, "err", err)
			return false, nil
		}
		defer closeFn()
		r = &capReader{r: d, fileCap: c.p.set.MaxDecompressedPerFile, budget: &c.budget}
	}
	if !resume {
		st.followRotated(fi, v.head(name).b)
		if err := c.commit(); err != nil {
			return false, err
		}
	}
	c.note(st, how)
	if st.Offset > 0 {
		if kind == "" {
			if _, err := f.Seek(st.Offset, io.SeekStart); err != nil {
				return false, fmt.Errorf("seek %s: %w", name, err)
			}
		} else if n, _ := io.CopyN(io.Discard, r, st.Offset); n < st.Offset {
			if deferred(r) {
				c.deferNote(st, name)
				return true, nil
			}
			c.note(st, "gap")
			c.p.log.Warn("rotated log is shorter than where it was left; the rest of it is missed", "path", name, "offset", st.Offset, "length", n)
			return false, nil
		}
	}
	if err := c.read(src, st, name, r, true); err != nil {
		return false, err
	}
	if z, ok := r.(*capReader); ok {
		switch {
		case z.capped == "collection":
			c.deferNote(st, name)
			return true, nil
		case z.capped == "file":
			c.addNote(st, fmt.Sprintf("rotated log %s decompresses to more than max_decompressed_per_file (%d bytes); the rest of it was not read", name, z.fileCap))
			c.p.log.Warn("rotated log capped at max_decompressed_per_file; the rest is not read", "path", name, "max", z.fileCap)
		case z.err != nil:
			c.addNote(st, fmt.Sprintf("rotated log %s is corrupt after %d bytes (%v); the rest of it was not read", name, z.pos, z.err))
			c.p.log.Warn("rotated log corrupt; the rest is not read", "path", name, "at", z.pos, "err", z.err)
		}
	}
	return false, nil
}

func (c *collection) deferNote(st *logState, name string) {
	c.addNote(st, fmt.Sprintf("max_decompressed_per_collection (%d bytes) was spent in %s; the rest is read by the next collection", c.p.set.MaxDecompressedPerCollection, name))
	c.p.log.Info("decompression budget of this collection spent; the rest of the log is read next time", "path", name, "max", c.p.set.MaxDecompressedPerCollection)
}

// readLive reads the live file from the saved offset to its last complete
// line, remembering its first bytes to recognise it later.
func (c *collection) readLive(src logSource, st *logState) error {
	f, err := os.Open(src.path)
	if err != nil {
		c.p.log.Warn("cannot open log", "path", src.path, "err", err)
		return nil
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil {
		if !st.sameFile(fi) {
			// Rotated after it was looked at: the next collection
			// finishes the followed file where rotation put it.
			return nil
		}
		st.Size = fi.Size()
		if st.HeadLen < headBytes && fi.Size() > int64(st.HeadLen) {
			n := int(min(fi.Size(), headBytes))
			if h, ok := headOf(io.NewSectionReader(f, 0, int64(n)), n); ok {
				st.HeadLen, st.Head = n, h
			}
		}
	}
	if _, err := f.Seek(st.Offset, io.SeekStart); err != nil {
		return fmt.Errorf("seek %s: %w", src.path, err)
	}
	return c.read(src, st, src.path, f, false)
}

// read parses lines from r (positioned at st.Offset) and emits their
// events, committing a checkpoint after every batch. final says r will
// not grow, so a last line without a newline is complete.
func (c *collection) read(src logSource, st *logState, file string, r io.Reader, final bool) error {
	if src.kind == SourceAudit {
		return c.readAudit(src, st, file, r, final)
	}
	set := c.p.set
	var parse func([]byte) (Event, lineResult)
	var ap *authParser
	if src.kind == SourceAuthLog {
		ap = newAuthParser(ParseOptions{Year: set.Year, Location: c.p.loc, Now: c.p.now()}, st.Year)
		parse = ap.parse
	} else {
		parse = httpParser(src.format)
	}
	ident := st.identity()
	sc := newLineScanner(r, st.Offset, set.MaxLineBytes, final)
	batch := 0
	flush := func() error {
		st.Offset = sc.off
		if ap != nil {
			st.Year = ap.year
		}
		batch = 0
		return c.commit()
	}
	for {
		line, off, tooLong, err := sc.next()
		if errors.Is(err, io.EOF) || errors.Is(err, errPartial) {
			break
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", file, err)
		}
		st.Lines++
		w := &st.Win
		w.Lines++
		batch++
		var ev Event
		res := lineMalformed
		if tooLong {
			w.TooLong++
		} else if ev, res = parse(line); res == lineSkipped {
			w.Skipped++
		} else if res == lineMalformed {
			w.Malformed++
		}
		if res == lineEvent && ev.Action == ActionHTTPRequest {
			// Only requests that reached an asset are worth an event.
			fsPath := httpAssetPath(src.assets, ev.Object)
			if fsPath == "" || c.assets.assetOf(fsPath) == "" {
				res = lineSkipped
				w.Skipped++
			}
		}
		if res == lineEvent {
			if err := c.event(src, st, &ev, file, ident, off, st.Lines); err != nil {
				return err
			}
		}
		if batch >= set.BatchLines {
			if err := flush(); err != nil {
				return err
			}
			if err := c.ctx.Err(); err != nil {
				return err
			}
		}
	}
	if batch > 0 || st.Offset != sc.off {
		return flush()
	}
	return nil
}

// event emits one access.event and runs the anomaly rules on it.
func (c *collection) event(src logSource, st *logState, ev *Event, file, ident string, off, lineNo int64) error {
	ev.File, ev.Offset, ev.LineNo = file, off, lineNo
	switch ev.Source {
	case SourceAuthLog, SourceJournal:
		if ev.Command != "" || ev.PWD != "" {
			paths := append(pathsIn(ev.Command), ev.PWD)
			ev.Watched = c.p.watchedRoots(paths...)
			// A sudo command naming an asset, or run inside one.
			for _, p := range paths {
				if a := c.assets.assetOf(p); a != "" {
					ev.Asset = a
					break
				}
			}
		}
	case SourceHTTP:
		if fsPath := httpAssetPath(src.assets, ev.Object); fsPath != "" {
			ev.Paths = []string{fsPath}
			ev.Asset = c.assets.assetOf(fsPath)
		}
	case SourceAudit:
		if len(ev.Paths) > 0 {
			ev.Watched = c.p.watchedRoots(ev.Paths...)
		}
		for _, p := range append([]string{ev.Object}, ev.Paths...) {
			if a := c.assets.assetOf(p); a != "" {
				ev.Asset = a
				break
			}
		}
	}
	subject := "access:" + ident + ":" + strconv.FormatInt(off, 10)
	if src.kind == SourceJournal {
		subject = ident // the entry's own id, from its cursor
	}
	if err := c.out.Emit(sdk.Event(KindEvent, subject, *ev)); err != nil {
		return fmt.Errorf("emit %s: %w", subject, err)
	}
	w := &st.Win
	w.Events++
	if w.ByAction == nil {
		w.ByAction = map[string]int64{}
	}
	if w.ByResult == nil {
		w.ByResult = map[string]int64{}
	}
	w.ByAction[ev.Action]++
	w.ByResult[ev.Result]++
	if w.FirstAt == "" || ev.At < w.FirstAt {
		w.FirstAt = ev.At
	}
	if ev.At > w.LastAt {
		w.LastAt = ev.At
	}
	found := st.Det.observe(&c.p.rules, ev, subject)
	found = append(found, c.assetAnomalies(st, ev, subject)...)
	if a := st.Vol.observe(&c.p.rules.asset, ev, subject); a != nil {
		found = append(found, *a)
	}
	for _, a := range found {
		a.Severity = severities[a.Rule]
		if len(w.Anomalies) >= maxAnomalies {
			w.AnomaliesDropped++
			continue
		}
		w.Anomalies = append(w.Anomalies, a)
	}
	return nil
}

// pathsIn lists the absolute paths among a command's words.
func pathsIn(cmd string) []string {
	var out []string
	for _, f := range bytes.Fields([]byte(cmd)) {
		if len(f) > 1 && f[0] == '/' {
			out = append(out, string(f))
		}
	}
	return out
}

// Summary is the attributes of an access.summary record: what one log
// held in one collection window.
type Summary struct {
	Source string `json:"source"`
	Path   string `json:"path"`
	window
	// FileID and Offset say where reading stopped.
	FileID string `json:"file_id"`
	Offset int64  `json:"offset"`
	Rules  string `json:"rules"`
	// Olddir is the folder the log's rotated copies were looked for in
	// when not its own, and OlddirSource what named it: "setting
	// olddirs" or "logrotate FILE:LINE".
	Olddir       string `json:"olddir,omitempty"`
	OlddirSource string `json:"olddir_source,omitempty"`
}

// summary emits the log's open window and closes it, in one commit.
func (c *collection) summary(src logSource, st *logState) error {
	w := st.Win
	if w.ByAction == nil {
		w.ByAction = map[string]int64{}
	}
	if w.ByResult == nil {
		w.ByResult = map[string]int64{}
	}
	if w.Anomalies == nil {
		w.Anomalies = []Anomaly{}
	}
	r := c.p.rules
	s := Summary{
		Source: src.kind, Path: src.path, window: w, FileID: st.identity(), Offset: st.Offset,
		Rules: fmt.Sprintf("brute_force=%d/%s success_after_failures=%d/%s root_login=%v", r.bruteN, r.bruteWinText, r.safN, r.safWindowText, r.rootLogin) + r.asset.text(),
	}
	if src.rotFrom != "" {
		s.Olddir, s.OlddirSource = src.rotDir, src.rotFrom
	}
	subject := "access-summary:" + src.kind + ":" + src.path
	if err := c.out.Emit(sdk.Upsert(KindSummary, subject, s)); err != nil {
		return fmt.Errorf("emit %s: %w", subject, err)
	}
	st.Win = window{}
	return c.commit()
}

func (c *collection) commit() error {
	b, err := json.Marshal(c.cp)
	if err != nil {
		return fmt.Errorf("encode checkpoint: %w", err)
	}
	if err := c.out.Checkpoint(b); err != nil {
		return fmt.Errorf("commit checkpoint: %w", err)
	}
	if c.accessors != nil {
		// After the commit: the anomalies it raised are durable now.
		if err := c.accessors.save(); err != nil {
			c.p.log.Warn("cannot save the first-access memory; pairs may be reported again", "err", err)
		}
	}
	return nil
}

func hashHex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
