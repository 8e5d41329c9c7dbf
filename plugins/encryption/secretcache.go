package encryption

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/annexa/annexa/plugins/sdk"
)

// The secret scan remembers, per file, what it found (fingerprints and
// lines, never a secret) under the file's identity: a file whose size,
// mtime, ctime and inode are unchanged is not read again. ctime cannot be
// set back by cp -p or rsync -t, so a rewrite with the old mtime is still
// seen. Each collection keeps only the files it met, so the cache holds
// no more entries than the roots hold candidates.
const (
	secretCacheFile = "secret-scan-cache.json"
	// secretRulesVersion changes when the rules would find something else
	// in the same bytes: a cache made by other rules is dropped.
	secretRulesVersion = 1
	maxSecretCacheSize = 64 << 20
)

type secretCacheEntry struct {
	Size    int64    `json:"s"`
	MtimeNs int64    `json:"m"`
	CtimeNs int64    `json:"c"`
	Dev     uint64   `json:"d"`
	Ino     uint64   `json:"i"`
	Binary  bool     `json:"b,omitempty"`
	Secrets []Secret `json:"f,omitempty"`
	Total   int      `json:"t,omitempty"`
}

type secretCacheDoc struct {
	Version int                         `json:"version"`
	Rules   int                         `json:"rules"`
	KeyID   string                      `json:"key_id"`
	Files   map[string]secretCacheEntry `json:"files"`
}

// secretCache is used by one collection at a time (the walk is
// sequential).
type secretCache struct {
	keyID string
	old   map[string]secretCacheEntry
	seen  map[string]secretCacheEntry
}

// cacheKeyID names the fingerprint key without revealing it: a cache
// made under another key holds fingerprints no longer comparable.
func cacheKeyID(key []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("annexa secret-scan cache"))
	return hex.EncodeToString(m.Sum(nil)[:8])
}

// loadSecretCache reads the cache from the state folder; a missing,
// damaged or outdated one gives an empty cache (and, when damaged, an
// error to log).
func loadSecretCache(dir string, key []byte) (*secretCache, error) {
	c := &secretCache{keyID: cacheKeyID(key), old: map[string]secretCacheEntry{}, seen: map[string]secretCacheEntry{}}
	if dir == "" {
		return c, nil
	}
	f, err := os.Open(filepath.Join(dir, secretCacheFile))
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("read secret-scan cache: %w", err)
	}
	defer f.Close()
	var doc secretCacheDoc
	if err := json.NewDecoder(io.LimitReader(f, maxSecretCacheSize)).Decode(&doc); err != nil || doc.Version != 1 {
		return c, fmt.Errorf("%s is damaged (%v): every candidate is read again", f.Name(), err)
	}
	if doc.Rules == secretRulesVersion && doc.KeyID == c.keyID && doc.Files != nil {
		c.old = doc.Files
	}
	return c, nil
}

func cacheEntryOf(fi fs.FileInfo) (secretCacheEntry, bool) {
	st := sdk.StatOf(fi)
	if !st.OK {
		return secretCacheEntry{}, false
	}
	return secretCacheEntry{Size: fi.Size(), MtimeNs: fi.ModTime().UnixNano(), CtimeNs: st.CtimeNs, Dev: st.Dev, Ino: st.Ino}, true
}

// lookup returns what an unchanged file held when last read.
func (c *secretCache) lookup(path string, fi fs.FileInfo) (secretCacheEntry, bool) {
	if c == nil {
		return secretCacheEntry{}, false
	}
	id, ok := cacheEntryOf(fi)
	e, found := c.old[path]
	if !ok || !found || e.Size != id.Size || e.MtimeNs != id.MtimeNs || e.CtimeNs != id.CtimeNs || e.Dev != id.Dev || e.Ino != id.Ino {
		return secretCacheEntry{}, false
	}
	c.seen[path] = e
	return e, true
}

// keep records a file just read, under the identity it had before.
func (c *secretCache) keep(path string, fi fs.FileInfo, binary bool, res fileScan) {
	if c == nil {
		return
	}
	e, ok := cacheEntryOf(fi)
	if !ok {
		return
	}
	e.Binary, e.Secrets, e.Total = binary, res.Secrets, res.Total
	c.seen[path] = e
}

// save writes the files met in this collection.
func (c *secretCache) save(dir string) error {
	if c == nil || dir == "" {
		return nil
	}
	b, err := json.Marshal(secretCacheDoc{Version: 1, Rules: secretRulesVersion, KeyID: c.keyID, Files: c.seen})
	if err != nil {
		return err
	}
	return sdk.WriteFileAtomic(filepath.Join(dir, secretCacheFile), b)
}
