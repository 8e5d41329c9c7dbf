package models

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/annexa/annexa/plugins/sdk"
)

// State files in the plugin's state folder.
const (
	knownFile = "known-models.json"
	cacheName = "hashcache.json"
	// maxStateBytes bounds a state file we read back.
	maxStateBytes = 512 << 20
)

// fileKey is what must be unchanged for a cached digest and analysis to be
// reused. ctime is in it because nobody can set it: a tool that restores
// mtime after rewriting a file still moves ctime.
type fileKey struct {
	Dev     uint64 `json:"d"`
	Ino     uint64 `json:"i"`
	Size    int64  `json:"s"`
	MtimeNs int64  `json:"m"`
	CtimeNs int64  `json:"c"`
}

func keyOf(fi fs.FileInfo, st sdk.StatInfo) fileKey {
	return fileKey{Dev: st.Dev, Ino: st.Ino, Size: fi.Size(), MtimeNs: fi.ModTime().UnixNano(), CtimeNs: st.CtimeNs}
}

// cacheEntry remembers one file. Analysis nil means "not a model".
type cacheEntry struct {
	fileKey
	SHA256   string    `json:"h,omitempty"`
	Analysis *Analysis `json:"a,omitempty"`
}

// hashCache maps absolute paths to entries; safe for the workers to share.
type hashCache struct {
	mu      sync.Mutex
	entries map[string]cacheEntry
	dirty   bool
}

type cacheDoc struct {
	Version  int                   `json:"version"`
	Analyzer int                   `json:"analyzer"`
	Entries  map[string]cacheEntry `json:"entries"`
	// Sum is the SHA-256 of Entries as written, so a damaged or edited
	// cache is refused whole rather than lending a digest to a file.
	Sum string `json:"sum"`
}

func (c *hashCache) lookup(path string, k fileKey) *cacheEntry {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[path]
	if !ok || e.fileKey != k {
		return nil
	}
	return &e
}

// get returns the entry for path whatever its key.
func (c *hashCache) get(path string) *Analysis {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.entries[path].Analysis
}

func (c *hashCache) put(path string, e cacheEntry) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries[path] = e
	c.dirty = true
}

// prune keeps only the files a full collection saw.
func (c *hashCache) prune(seen map[string]bool) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.entries {
		if !seen[k] {
			delete(c.entries, k)
			c.dirty = true
		}
	}
}

func (p *Plugin) loadCache() *hashCache {
	c := &hashCache{entries: map[string]cacheEntry{}}
	if p.stateDir == "" {
		return c
	}
	b, err := readLimited(filepath.Join(p.stateDir, cacheName))
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			p.log.Warn("cannot read hash cache; starting cold", "err", err)
		}
		return c
	}
	doc, err := parseCache(b)
	if err != nil {
		p.log.Warn("hash cache refused; starting cold", "err", err)
		return c
	}
	c.entries = doc.Entries
	return c
}

// parseCache checks a cache file whole: version, analyzer and checksum.
func parseCache(b []byte) (cacheDoc, error) {
	var doc cacheDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		return doc, fmt.Errorf("parse: %w", err)
	}
	if doc.Version != 1 || doc.Analyzer != analyzerVersion {
		return doc, errors.New("written by another version")
	}
	if doc.Entries == nil {
		doc.Entries = map[string]cacheEntry{}
	}
	raw, _ := json.Marshal(doc.Entries)
	sum := sha256.Sum256(raw)
	if hex.EncodeToString(sum[:]) != doc.Sum {
		return doc, errors.New("checksum does not match: cache is damaged")
	}
	for k, e := range doc.Entries {
		if !filepath.IsAbs(k) {
			return doc, errors.New("malformed entry")
		}
		if e.Analysis != nil {
			if h, err := hex.DecodeString(e.SHA256); err != nil || len(h) != sha256.Size {
				return doc, errors.New("malformed entry")
			}
		}
	}
	return doc, nil
}

func (p *Plugin) saveCache() {
	if p.stateDir == "" || p.cache == nil {
		return
	}
	p.cache.mu.Lock()
	if !p.cache.dirty {
		p.cache.mu.Unlock()
		return
	}
	raw, err := json.Marshal(p.cache.entries)
	p.cache.dirty = false
	p.cache.mu.Unlock()
	if err == nil {
		// Assembled around the marshalled entries rather than marshalled
		// again: on a large tree that second copy was the peak of memory.
		sum := sha256.Sum256(raw)
		b := make([]byte, 0, len(raw)+128)
		b = fmt.Appendf(b, `{"version":1,"analyzer":%d,"entries":`, analyzerVersion)
		b = append(b, raw...)
		b = fmt.Appendf(b, `,"sum":%q}`, hex.EncodeToString(sum[:]))
		raw = nil
		err = sdk.WriteFileAtomic(filepath.Join(p.stateDir, cacheName), b)
	}
	if err != nil {
		p.log.Warn("cannot save hash cache", "err", err)
	}
}

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxStateBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxStateBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxStateBytes)
	}
	return b, nil
}

// loadKnown reads the models last reported; a damaged list starts afresh.
func (p *Plugin) loadKnown() map[string]bool {
	if p.stateDir == "" {
		return map[string]bool{}
	}
	known, err := sdk.LoadPathSet(filepath.Join(p.stateDir, knownFile))
	if err != nil {
		p.log.Warn("known models list unreadable; starting afresh", "err", err)
	}
	return known
}

func (p *Plugin) saveKnown() {
	if p.stateDir == "" {
		return
	}
	if err := sdk.SavePathSet(filepath.Join(p.stateDir, knownFile), p.known); err != nil {
		p.log.Warn("cannot save known models", "err", err)
	}
}
