package datasets

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/annexa/annexa/plugins/sdk"
)

// Attributes are the fields of a dataset record (docs/evidence.md).
type Attributes struct {
	Path               string         `json:"path"`
	Rule               string         `json:"rule"`
	Marker             string         `json:"marker"`
	SizeBytes          int64          `json:"size_bytes"`
	FileCount          int            `json:"file_count"`
	Formats            map[string]int `json:"formats"`
	Owner              string         `json:"owner"`
	Group              string         `json:"group"`
	Mode               string         `json:"mode"`
	WorldReadable      bool           `json:"world_readable"`
	WorldReadableFiles int            `json:"world_readable_files"`
	HasDatasheet       bool           `json:"has_datasheet"`
	Datasheet          string         `json:"datasheet"`
	License            string         `json:"license"`
	LicenseSource      string         `json:"license_source"`
	SHA256             string         `json:"sha256"`
	HashStatus         string         `json:"hash_status"`
	HashError          string         `json:"hash_error,omitempty"`
	ModifiedAt         string         `json:"modified_at"`

	// What the dataset is called, for lineage (docs/evidence.md).
	Name       string   `json:"name"`
	NameSource string   `json:"name_source"`
	Names      []string `json:"names"`
	// Documentation.
	Source           string   `json:"source"`
	DatasheetFields  []string `json:"datasheet_fields"`
	DatasheetMissing []string `json:"datasheet_missing"`
	// What the card records about making and keeping the data; the last
	// four are absent when it says nothing.
	DerivedFrom   string `json:"derived_from"`
	Preparation   string `json:"preparation,omitempty"`
	Quality       string `json:"quality,omitempty"`
	Masked        *bool  `json:"masked,omitempty"`
	RetentionDays *int   `json:"retention_days,omitempty"`
	// Content.
	Rows           int64    `json:"rows"`
	DeclaredRows   int64    `json:"declared_rows,omitempty"`
	Columns        []string `json:"columns"`
	Splits         []string `json:"splits,omitempty"`
	EncryptedFiles int      `json:"encrypted_files"`
	// Personal data (never values).
	PersonalData       bool                `json:"personal_data"`
	PII                map[string]int      `json:"pii"`
	PIIColumns         map[string][]string `json:"pii_columns"`
	PIIFilesSampled    int                 `json:"pii_files_sampled"`
	PIIRowsSampled     int64               `json:"pii_rows_sampled"`
	PIISampledFraction float64             `json:"pii_sampled_fraction"`
	// Classification and the rule that set it.
	Classification       string `json:"classification"`
	ClassificationRule   string `json:"classification_rule"`
	ClassificationReason string `json:"classification_reason"`

	Findings []Finding `json:"findings"`

	// declared is a level the dataset's card declares, and the card.
	declared, declaredIn string
}

// maxFindings bounds the findings one dataset reports.
const maxFindings = 50

func (a *Attributes) find(rule, severity, format string, args ...any) {
	a.addFinding(Finding{Rule: rule, Severity: severity, Detail: fmt.Sprintf(format, args...)})
}

func (a *Attributes) addFinding(f Finding) {
	switch {
	case len(a.Findings) < maxFindings:
		f.Detail = capString(f.Detail, 400)
		a.Findings = append(a.Findings, f)
	case len(a.Findings) == maxFindings:
		a.Findings = append(a.Findings, Finding{Rule: "findings.truncated", Severity: "info", Detail: fmt.Sprintf("more than %d findings; the rest are not listed", maxFindings)})
	}
}

// Why a folder is a dataset.
const (
	ruleMarker    = "marker"     // it holds a dataset marker
	ruleRootChild = "root_child" // an unmarked folder directly under a root
	ruleRootFiles = "root_files" // an unmarked root with data files of its own
)

// target is a folder that may be a dataset.
type target struct {
	path string
	root string
	// needMarker: the folder is a dataset only if it is marked (it is
	// deeper than a root's children, or its root is marked).
	needMarker bool
}

// scanResult is one scanned folder.
type scanResult struct {
	attrs     Attributes
	qualifies bool
	// nested are marked subfolders, which are datasets of their own.
	nested []string
}

// dataFile is a data file found by the walk.
type dataFile struct {
	rel string
	abs string
	// info is the walk's stat of the file, reused so an unchanged
	// rescan costs one stat per file, not two; nil means stat again.
	info fs.FileInfo
}

// maxProblems bounds how many unreadable files hash_error names.
const maxProblems = 5

// problems collects why a scan is partial, keeping the first few.
type problems struct {
	mu    sync.Mutex
	n     int
	first []string
}

func (p *problems) add(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n++
	if len(p.first) < maxProblems {
		msg := fmt.Sprintf(format, args...)
		if len(msg) > 300 {
			msg = msg[:300] + "…"
		}
		p.first = append(p.first, msg)
	}
}

func (p *problems) String() string {
	if p.n == 0 {
		return ""
	}
	s := strings.Join(p.first, "; ")
	if p.n > len(p.first) {
		s += fmt.Sprintf("; and %d more", p.n-len(p.first))
	}
	return fmt.Sprintf("%d file(s) or folder(s) could not be read: %s", p.n, s)
}

// scan measures one folder, walking it down to (not into) marked
// subfolders, hashing every data file or taking the digest from the cache.
func (p *Plugin) scan(ctx context.Context, t target) (scanResult, error) {
	fi, err := p.statDir(t.path)
	if err != nil {
		return scanResult{}, err
	}
	entries, err := os.ReadDir(t.path)
	if err != nil && len(entries) == 0 && !errors.Is(err, fs.ErrPermission) {
		return scanResult{}, fmt.Errorf("list %s: %w", t.path, err)
	}
	var probs problems
	if err != nil {
		probs.add("list %s: %v", ".", errors.Unwrap(err))
	}
	mk := marker(t.path, entries)
	if t.needMarker && mk == "" {
		return scanResult{}, nil
	}
	a := Attributes{Path: t.path, Marker: mk, Formats: map[string]int{}, PII: map[string]int{}, PIIColumns: map[string][]string{}, Findings: []Finding{}, Columns: []string{}}
	topOnly := false
	switch {
	case mk != "":
		a.Rule = ruleMarker
	case t.path == t.root:
		a.Rule, topOnly = ruleRootFiles, true
	default:
		a.Rule = ruleRootChild
	}
	st := sdk.StatOf(fi)
	a.Mode = fmt.Sprintf("%04o", st.Mode)
	a.Owner, a.Group = p.users.Of(st)
	dirWorld := st.Mode&0o004 != 0 && st.Mode&0o001 != 0
	p.describe(t.path, entries, &a)

	w := walker{p: p, ctx: ctx, dataset: t.path, topOnly: topOnly, probs: &probs, visited: map[[2]uint64]bool{}}
	if st.OK {
		w.visited[[2]uint64{st.Dev, st.Ino}] = true
	}
	w.walkEntries(t.path, "", entries)
	if err := ctx.Err(); err != nil {
		return scanResult{}, err
	}
	res := scanResult{nested: w.nested}

	hashed, err := p.hashAll(ctx, t.path, w.files, &probs)
	if err != nil {
		return scanResult{}, err
	}
	newest := w.newest
	lines := make([]string, 0, len(hashed))
	content := newContent(&a)
	for _, h := range hashed {
		a.FileCount++
		a.SizeBytes += h.size
		a.Formats[content.add(h)]++
		if h.mode&0o004 != 0 {
			a.WorldReadableFiles++
		}
		if h.mtime.After(newest) {
			newest = h.mtime
		}
		if h.sha != "" {
			lines = append(lines, h.sha+"  "+h.rel+"\n")
		}
	}
	a.WorldReadable = dirWorld || a.WorldReadableFiles > 0
	if newest.IsZero() {
		newest = fi.ModTime()
	}
	a.ModifiedAt = newest.UTC().Format(time.RFC3339)
	if probs.n == 0 {
		a.SHA256, a.HashStatus = manifestDigest(lines), "complete"
	} else {
		// A digest over the readable part would not match what an auditor
		// recomputes, so a partial scan reports none.
		a.HashStatus, a.HashError = "partial", probs.String()
		a.find("file.unreadable", "medium", "%s; their content is neither hashed nor checked for personal data", probs.String())
	}
	content.finish()
	p.set.Classification.classify(&a)
	res.attrs = a
	res.qualifies = mk != "" || a.FileCount > 0 || (probs.n > 0 && !topOnly)
	return res, nil
}

// manifestDigest is SHA-256 over the manifest lines "<hex>  <path>\n" in
// byte order, as `... | sha256sum | LC_ALL=C sort | sha256sum` computes it.
func manifestDigest(lines []string) string {
	slices.Sort(lines)
	h := sha256.New()
	for _, l := range lines {
		io.WriteString(h, l)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// statDir stats a candidate dataset folder. A root is always followed (it
// was named in the config); other folders only with follow_symlinks.
func (p *Plugin) statDir(path string) (fs.FileInfo, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%s: %w", path, errNotDir)
	}
	return fi, nil
}

var errNotDir = errors.New("not a folder")

func readMeta[T any](path string, parse func(io.Reader, int64) (T, error)) (T, error) {
	f, err := os.Open(path)
	if err != nil {
		var zero T
		return zero, err
	}
	defer f.Close()
	return parse(f, maxMetaBytes)
}

// walker lists one dataset's files.
type walker struct {
	p       *Plugin
	ctx     context.Context
	dataset string
	topOnly bool
	probs   *problems
	visited map[[2]uint64]bool
	files   []dataFile
	nested  []string
	newest  time.Time
}

func (w *walker) walkEntries(dir, rel string, entries []fs.DirEntry) {
	for _, e := range entries {
		if w.ctx.Err() != nil {
			return
		}
		name := e.Name()
		abs := filepath.Join(dir, name)
		if isHidden(name) || w.p.excluded(name, abs) {
			continue
		}
		crel := name
		if rel != "" {
			crel = rel + "/" + name
		}
		typ := e.Type()
		var info fs.FileInfo
		if typ&fs.ModeSymlink != 0 {
			if !w.p.set.FollowSymlinks {
				continue
			}
			fi, err := os.Stat(abs)
			if err != nil {
				continue // a dangling link holds no data
			}
			info, typ = fi, fi.Mode().Type()
		}
		switch {
		case typ.IsDir():
			if w.topOnly {
				continue
			}
			if info == nil {
				fi, err := e.Info()
				if err != nil {
					continue
				}
				info = fi
			}
			if st := sdk.StatOf(info); st.OK {
				id := [2]uint64{st.Dev, st.Ino}
				if w.visited[id] {
					continue // a link loop, or a second way into a folder we counted
				}
				w.visited[id] = true
			}
			sub, err := os.ReadDir(abs)
			if err != nil {
				w.probs.add("list %s: %v", crel, errors.Unwrap(err))
			}
			if mk := marker(abs, sub); mk != "" {
				w.nested = append(w.nested, abs)
				continue
			}
			w.walkEntries(abs, crel, sub)
		case typ.IsRegular():
			if info == nil {
				fi, err := e.Info()
				if err != nil {
					continue // gone since the listing
				}
				info = fi
			}
			if info.ModTime().After(w.newest) {
				w.newest = info.ModTime()
			}
			if isDataName(name) {
				w.files = append(w.files, dataFile{rel: crel, abs: abs, info: info})
			}
		}
	}
}

// hashedFile is a data file after hashing (or a cache hit).
type hashedFile struct {
	rel    string
	size   int64
	mode   uint32
	mtime  time.Time
	sha    string // "" when it could not be read
	format string
	key    fileKey
	facts  *facts
}

// appendCapped appends b to the sample up to its capacity; a nil sample
// stays nil.
func appendCapped(sample, b []byte) []byte {
	if sample == nil {
		return nil
	}
	return append(sample, b[:min(len(b), cap(sample)-len(sample))]...)
}

// hashAll stats and digests files, reusing cached digests whose key still
// matches, and hashes the rest on a few workers.
func (p *Plugin) hashAll(ctx context.Context, dataset string, files []dataFile, probs *problems) ([]hashedFile, error) {
	cache := p.loadCache(dataset)
	out := make([]hashedFile, len(files))
	prog := sdk.ProgressFrom(ctx)
	var todo []int
	for i, f := range files {
		fi, err := f.info, error(nil)
		if fi == nil {
			fi, err = p.statFile(f.abs)
		}
		if err != nil {
			probs.add("stat %s: %v", f.rel, errors.Unwrap(err))
			out[i] = hashedFile{rel: f.rel, format: "other"}
			prog.Found(1, 0)
			prog.Examined(1)
			continue
		}
		// Totals grow one dataset at a time: the datasets are walked and
		// hashed in turn, so that memory holds one file list, not all.
		prog.Found(1, fi.Size())
		st := sdk.StatOf(fi)
		h := hashedFile{rel: f.rel, size: fi.Size(), mode: st.Mode, mtime: fi.ModTime(), key: keyOf(fi, st)}
		if e, ok := cache.lookup(f.rel, h.key); ok {
			h.sha, h.format, h.facts = e.SHA256, e.Format, e.Facts
			p.stats.cacheHits.Add(1)
			prog.Skipped(h.size)
			prog.Examined(1)
		} else {
			todo = append(todo, i)
		}
		out[i] = h
	}
	if err := p.hashFiles(ctx, files, out, todo, probs); err != nil {
		return nil, err
	}
	p.saveCache(dataset, cache, out, len(todo))
	return out, nil
}

func (p *Plugin) statFile(path string) (fs.FileInfo, error) {
	if p.set.FollowSymlinks {
		return os.Stat(path)
	}
	return os.Lstat(path)
}

func keyOf(fi fs.FileInfo, st sdk.StatInfo) fileKey {
	return fileKey{Dev: st.Dev, Ino: st.Ino, Size: fi.Size(), MtimeNs: fi.ModTime().UnixNano(), CtimeNs: st.CtimeNs}
}

func (p *Plugin) hashFiles(ctx context.Context, files []dataFile, out []hashedFile, todo []int, probs *problems) error {
	if len(todo) == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan int)
	var wg sync.WaitGroup
	workers := min(p.workers, len(todo))
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, hashChunk)
			for i := range jobs {
				err := p.hashOne(ctx, files[i].abs, &out[i], buf)
				sdk.ProgressFrom(ctx).Examined(1)
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					out[i].sha = ""
					probs.add("%s: %v", out[i].rel, err)
				}
			}
		}()
	}
feed:
	for _, i := range todo {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	return ctx.Err()
}

// hashChunk is how much is read between checks of the context and the
// rate limit.
const hashChunk = 256 << 10

// hashOne streams one file through SHA-256, sniffing its format from the
// first bytes on the way. The key cached is the one of the open file, and
// a file that changes while being read is reported, not cached.
func (p *Plugin) hashOne(ctx context.Context, path string, h *hashedFile, buf []byte) error {
	f, err := p.openFile(path)
	if err != nil {
		return errors.Unwrap(err)
	}
	defer f.Close()
	before, err := f.Stat()
	if err != nil {
		return err
	}
	if !before.Mode().IsRegular() {
		return errors.New("not a regular file")
	}
	sum := sha256.New()
	head := buf[:sniffLen]
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return err
	}
	h.format = sniffBytes(head[:n], path)
	// Text formats are sampled for personal data from the bytes read for
	// the digest: the file is read once.
	var sample []byte
	if sampledText(h.format) && p.set.PersonalData.enabled() {
		sample = make([]byte, 0, min(before.Size(), p.piiLimits().MaxBytes))
		sample = appendCapped(sample, head[:n])
	}
	sum.Write(head[:n])
	total := int64(n)
	if err := p.pacer.Hashed(ctx, n); err != nil {
		return err
	}
	for n == len(head) {
		m, err := f.Read(buf)
		if m > 0 {
			sum.Write(buf[:m])
			sample = appendCapped(sample, buf[:m])
			total += int64(m)
			if werr := p.pacer.Hashed(ctx, m); werr != nil {
				return werr
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
	}
	after, err := f.Stat()
	if err != nil {
		return err
	}
	stB, stA := sdk.StatOf(before), sdk.StatOf(after)
	kb, ka := keyOf(before, stB), keyOf(after, stA)
	if kb != ka || total != after.Size() {
		return errors.New("changed while it was being hashed")
	}
	h.sha = hex.EncodeToString(sum.Sum(nil))
	h.key, h.size, h.mode, h.mtime = ka, after.Size(), stA.Mode, after.ModTime()
	if fa := p.inspect(f, h.size, h.format, h.rel, sample); !fa.empty() {
		h.facts = fa
	}
	p.stats.filesHashed.Add(1)
	p.stats.bytesHashed.Add(total)
	return nil
}

// openFile opens without following a final symlink unless asked to, so a
// file swapped for a link between walk and read is not read through it.
func (p *Plugin) openFile(path string) (*os.File, error) {
	if p.set.FollowSymlinks {
		return os.Open(path)
	}
	return sdk.OpenNoFollow(path)
}

// loadCache reads the dataset's hash cache; a missing one is empty and a
// damaged one is logged and ignored.
func (p *Plugin) loadCache(dataset string) *hashCache {
	if p.stateDir == "" {
		return nil
	}
	path := cacheFile(p.stateDir, dataset)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		p.log.Warn("hash cache unreadable; rehashing", "dataset", dataset, "err", err)
		return nil
	}
	defer f.Close()
	c, err := readCache(f, dataset, p.cacheTag())
	if errors.Is(err, errCacheVersion) {
		// After an upgrade or a settings change every dataset says this
		// once; it is not worth a warning each.
		p.log.Debug("hash cache from another version or settings; rehashing", "dataset", dataset)
		return nil
	}
	if err != nil {
		p.stats.cacheRejected.Add(1)
		p.log.Warn("hash cache rejected; rehashing", "dataset", dataset, "file", path, "err", err)
		return nil
	}
	return c
}

// saveCache writes the cache back when anything changed: new digests, or
// entries of files that are gone.
func (p *Plugin) saveCache(dataset string, old *hashCache, files []hashedFile, rehashed int) {
	if p.stateDir == "" {
		return
	}
	entries := make([]cacheEntry, 0, len(files))
	for _, f := range files {
		if f.sha != "" {
			entries = append(entries, cacheEntry{Path: f.rel, fileKey: f.key, SHA256: f.sha, Format: f.format, Facts: f.facts})
		}
	}
	if old != nil && rehashed == 0 && len(old.entries) == len(entries) {
		return
	}
	if err := writeCache(cacheFile(p.stateDir, dataset), dataset, p.cacheTag(), entries); err != nil {
		p.log.Warn("cannot save hash cache", "dataset", dataset, "err", err)
	}
}

func defaultWorkers() int { return max(1, min(4, runtime.GOMAXPROCS(0))) }
