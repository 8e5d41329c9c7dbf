package access

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

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
	Gen     int    `json:"gen,omitempty"`
	Started bool   `json:"started,omitempty"`
	Offset  int64  `json:"offset"`
	Size    int64  `json:"size"`
	Lines   int64  `json:"lines"`
	HeadLen int    `json:"head_len,omitempty"`
	Head    string `json:"head,omitempty"`
	// Cursor is the journal's: the last entry read.
	Cursor string `json:"cursor,omitempty"`
	// Tracking says a file is being followed (Offset may still be 0).
	Tracking bool `json:"tracking,omitempty"`
	// Sibling is <path>.1 as it was at the end of the last collection: a
	// new one beside an unchanged, still empty log is a copytruncate
	// that the log's size and head cannot show.
	Sibling   *sibling  `json:"sibling,omitempty"`
	SiblingGz *sibling  `json:"sibling_gz,omitempty"`
	Year      yearState `json:"year"`
	Det       detector  `json:"det"`
	Vol       volume    `json:"vol"`
	// Win is the summary window still open: counts since the last summary.
	Win window `json:"win"`
}

type sibling struct {
	Dev   uint64 `json:"dev,omitempty"`
	Ino   uint64 `json:"ino,omitempty"`
	Size  int64  `json:"size"`
	MTime int64  `json:"mtime"`
}

func siblingOf(path string) *sibling {
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() {
		return nil
	}
	dev, ino := fileID(fi)
	return &sibling{Dev: dev, Ino: ino, Size: fi.Size(), MTime: fi.ModTime().UnixNano()}
}

// siblings records the newest rotated copies as they are now.
func (st *logState) siblings(path string) {
	plain, gz := rotatedNames(path)
	st.Sibling, st.SiblingGz = siblingOf(plain), siblingOf(gz)
}

// rotatedNames says where rotation put the newest old copy of path:
// <path>.1 and <path>.1.gz (logrotate's numbered scheme, also auditd's), or
// with logrotate's dateext (the default on RHEL, Fedora and SUSE) the
// newest <path>-<date> and <path>-<date>.gz. Date suffixes of one log share
// a format, so the greatest name is the newest.
func rotatedNames(path string) (plain, gz string) {
	plain, gz = path+".1", path+".1.gz"
	if _, err := os.Lstat(plain); err == nil {
		return plain, gz
	}
	if _, err := os.Lstat(gz); err == nil {
		return plain, gz
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		return plain, gz
	}
	prefix := filepath.Base(path) + "-"
	newest := ""
	for _, e := range entries {
		suffix, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok {
			continue
		}
		suffix = strings.TrimSuffix(suffix, ".gz")
		if dateSuffix.MatchString(suffix) && suffix > newest {
			newest = suffix
		}
	}
	if newest == "" {
		return plain, gz
	}
	plain = path + "-" + newest
	return plain, plain + ".gz"
}

// dateSuffix is what logrotate's dateformat makes of a date: -%Y%m%d by
// default, -%Y%m%d%H hourly, or with separators (-%Y-%m-%d), and
// -%Y%m%d-%s when a day has several rotations.
var dateSuffix = regexp.MustCompile(`^[0-9]{8,10}(-[0-9]+)?$|^[0-9]{4}-[0-9]{2}-[0-9]{2}(-[0-9]+)?$`)

// isNew says whether a rotated file is not the one recorded.
func isNew(path string, recorded *sibling) bool {
	now := siblingOf(path)
	return now != nil && now.Size > 0 && (recorded == nil || *now != *recorded)
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
}

// source reads one log: the rest of a rotated or truncated predecessor
// first, then the live file up to its last complete line, then a summary.
func (c *collection) source(src logSource) error {
	st := c.cp.Logs[src.path]
	if st == nil {
		st = &logState{}
		c.cp.Logs[src.path] = st
	}
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
	if st.Tracking {
		if err := c.reconcile(src, st, fi, statErr); err != nil {
			return err
		}
	} else {
		if err := c.missedFile(src, st); err != nil {
			return err
		}
		if statErr == nil {
			st.follow(fi)
			st.siblings(src.path)
		}
	}
	if statErr == nil && st.Tracking {
		if err := c.readLive(src, st); err != nil {
			return err
		}
	}
	st.siblings(src.path)
	return c.summary(src, st)
}

// missedFile reads a <path>.1.gz or <path>.1 that appeared while the log
// was gone: the log came back, was written and rotated between two
// collections.
func (c *collection) missedFile(src logSource, st *logState) error {
	if !st.Started {
		return nil
	}
	plain, gzName := rotatedNames(src.path)
	for _, cand := range []struct {
		path string
		gz   bool
	}{{gzName, true}, {plain, false}} {
		rec := st.Sibling
		if cand.gz {
			rec = st.SiblingGz
		}
		if !isNew(cand.path, rec) {
			continue
		}
		if err := c.readMissed(src, st, cand.path, cand.gz); err != nil {
			return err
		}
		if cand.gz {
			st.SiblingGz = siblingOf(cand.path)
		} else {
			st.Sibling = siblingOf(cand.path)
		}
		if err := c.commit(); err != nil {
			return err
		}
	}
	return nil
}

func (c *collection) readMissed(src logSource, st *logState, path string, gz bool) error {
	f, err := os.Open(path)
	if err != nil {
		return nil //nolint:nilerr // gone again: nothing to read
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil //nolint:nilerr // as above
	}
	var r io.Reader = f
	if gz {
		zr, err := gzip.NewReader(f)
		if err != nil {
			c.p.log.Warn("rotated log is not gzip", "path", path, "err", err)
			return nil
		}
		r = zr
	}
	st.follow(fi)
	// Its head lets a cut-short read be found and resumed next time.
	head := make([]byte, headBytes)
	n, _ := io.ReadFull(r, head)
	st.HeadLen, st.Head = n, hashHex(head[:n])
	if err := c.read(src, st, path, io.MultiReader(bytes.NewReader(head[:n]), r), true); err != nil {
		return err
	}
	c.note(st, "missed")
	st.stop()
	return nil
}

func hashHex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// reconcile decides whether the followed file is still the one at path;
// if not, it finishes the old file where rotation put it.
func (c *collection) reconcile(src logSource, st *logState, fi fs.FileInfo, statErr error) error {
	rotated, rotatedGz := rotatedNames(src.path)
	if statErr == nil && st.sameFile(fi) {
		intact := fi.Size() >= st.Offset
		if intact {
			f, err := os.Open(src.path)
			if err != nil {
				return nil //nolint:nilerr // unreadable now; readLive says so
			}
			intact = st.headMatches(f)
			f.Close()
		}
		if intact && st.Offset == 0 && st.HeadLen == 0 &&
			(isNew(rotated, st.Sibling) || isNew(rotatedGz, st.SiblingGz)) {
			// Nothing read yet, so no size or head to compare: a rotated
			// file that is new since the last collection holds lines
			// written meanwhile (copytruncate, or a rename whose freed
			// inode the new log reused).
			if err := c.missedFile(src, st); err != nil {
				return err
			}
			st.follow(fi)
			st.siblings(src.path)
			return c.commit()
		}
		if intact {
			return nil
		}
		// Truncated in place: copytruncate leaves the old lines in <path>.1.
		how, err := c.finishElsewhere(src, st, false)
		if err != nil {
			return err
		}
		switch how {
		case "", "empty":
			how = "truncate"
		case "copy":
			how = "copytruncate"
		}
		c.note(st, how)
		st.follow(fi)
		st.siblings(src.path)
		return c.commit()
	}
	how, err := c.finishElsewhere(src, st, true)
	if err != nil {
		return err
	}
	if how == "" {
		how = "gap"
		c.p.log.Warn("the log was replaced and its old file is not where rotation puts it (<path>.1, <path>-<date>, or either .gz); lines written to it after the last collection, if any, are missed",
			"path", src.path, "offset", st.Offset)
	}
	if how != "empty" {
		c.note(st, how)
	}
	if statErr == nil {
		st.follow(fi)
	} else {
		st.stop()
	}
	st.siblings(src.path)
	return c.commit()
}

func (c *collection) note(st *logState, how string) {
	if len(st.Win.Rotations) < 32 {
		st.Win.Rotations = append(st.Win.Rotations, how)
	}
}

// finishElsewhere reads the rest of the followed file from its newest
// rotated copy (rotatedNames): the plain one with the same inode (renamed)
// or starting with the same bytes (copied), or the .gz one starting with
// the same bytes.
// It returns how it was found, or "" when it was not.
func (c *collection) finishElsewhere(src logSource, st *logState, renamed bool) (string, error) {
	// With no head seen (the file was empty when last read), a copy can
	// only be recognised as new since the last collection.
	blind := st.HeadLen == 0
	rotated, gz := rotatedNames(src.path)
	if fi, err := os.Stat(rotated); err == nil && fi.Mode().IsRegular() && fi.Size() >= st.Offset {
		dev, ino := fileID(fi)
		sameInode := ino != 0 && dev == st.Dev && ino == st.Ino
		f, err := os.Open(rotated)
		if err == nil {
			defer f.Close()
			ok := renamed && sameInode
			if !sameInode {
				if blind {
					ok = isNew(rotated, st.Sibling)
				} else {
					ok = st.headMatches(f)
				}
			}
			if ok {
				if blind {
					// Take its head, so a read cut short is found again.
					n := int(min(fi.Size(), headBytes))
					if h, ok := headOf(io.NewSectionReader(f, 0, int64(n)), n); ok {
						st.HeadLen, st.Head = n, h
					}
				}
				if _, err := f.Seek(st.Offset, io.SeekStart); err != nil {
					return "", fmt.Errorf("seek %s: %w", rotated, err)
				}
				if err := c.read(src, st, rotated, f, true); err != nil {
					return "", err
				}
				if sameInode {
					return "rename", nil
				}
				return "copy", nil
			}
		}
	}
	if blind && !isNew(gz, st.SiblingGz) {
		return "empty", nil
	}
	f, err := os.Open(gz)
	if err != nil {
		if blind {
			return "empty", nil
		}
		return "", nil
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		c.p.log.Warn("rotated log is not gzip", "path", gz, "err", err)
		return "", nil
	}
	var head []byte
	if blind {
		head = make([]byte, headBytes)
		n, _ := io.ReadFull(zr, head)
		head = head[:n]
		st.HeadLen, st.Head = n, hashHex(head)
	} else {
		head = make([]byte, st.HeadLen)
		if _, err := io.ReadFull(zr, head); err != nil || !st.headMatches(bytes.NewReader(head)) {
			return "", nil
		}
	}
	r := io.MultiReader(bytes.NewReader(head), zr)
	if n, err := io.CopyN(io.Discard, r, st.Offset); err != nil || n != st.Offset {
		return "", nil
	}
	if err := c.read(src, st, gz, r, true); err != nil {
		return "", err
	}
	return "gzip", nil
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
