package datasets

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/annexa/annexa/plugins/sdk"
)

func TestCacheReuse(t *testing.T) {
	root, state := t.TempDir(), t.TempDir()
	makeTree(t, root, []file{{path: "d/a.bin", body: "aaaa"}, {path: "d/b.bin", body: "bbbb"}, {path: "e/c.bin", body: "c"}})
	p := newPlugin(t, Settings{Roots: []string{root}}, state)
	first := byPath(t, root, collect(t, p, sdk.Request{Full: true}))
	if n := p.stats.filesHashed.Load(); n != 3 {
		t.Fatalf("cold scan hashed %d files, want 3", n)
	}
	second := byPath(t, root, collect(t, p, sdk.Request{Full: true}))
	if n := p.stats.filesHashed.Load(); n != 3 {
		t.Errorf("warm scan hashed again: %d files in all", n)
	}
	if first["d"].SHA256 != second["d"].SHA256 || first["d"].Formats["other"] != second["d"].Formats["other"] {
		t.Errorf("warm scan differs: %+v vs %+v", first["d"], second["d"])
	}
	// A new plugin process with the same state folder reuses the cache too.
	p2 := newPlugin(t, Settings{Roots: []string{root}}, state)
	collect(t, p2, sdk.Request{Full: true})
	if n := p2.stats.filesHashed.Load(); n != 0 {
		t.Errorf("restarted plugin hashed %d files", n)
	}
	// Same size, same mtime, different content: ctime (and the key) moves.
	path := filepath.Join(root, "d/a.bin")
	fi, _ := os.Stat(path)
	time.Sleep(10 * time.Millisecond)
	os.WriteFile(path, []byte("AAAA"), 0o640)
	os.Chtimes(path, fi.ModTime(), fi.ModTime())
	third := byPath(t, root, collect(t, p2, sdk.Request{Full: true}))
	if n := p2.stats.filesHashed.Load(); n != 1 {
		t.Errorf("after one change %d files were hashed, want 1", n)
	}
	if third["d"].SHA256 == first["d"].SHA256 {
		t.Error("digest did not change with content")
	}
}

func TestCacheCorruption(t *testing.T) {
	root, state := t.TempDir(), t.TempDir()
	makeTree(t, root, []file{{path: "d/a.bin", body: "aaaa"}, {path: "d/b.bin", body: "bbbb"}})
	p := newPlugin(t, Settings{Roots: []string{root}}, state)
	want := byPath(t, root, collect(t, p, sdk.Request{Full: true}))["d"].SHA256
	cf := cacheFile(state, filepath.Join(root, "d"))
	good, err := os.ReadFile(cf)
	if err != nil {
		t.Fatal(err)
	}
	// A lying entry: right key, another well-formed digest — only the
	// trailer checksum catches it.
	sum := sha256.Sum256([]byte("aaaa"))
	digest := hex.EncodeToString(sum[:])
	if !bytes.Contains(good, []byte(digest)) {
		t.Fatalf("cache does not hold the digest of a.bin:\n%s", good)
	}
	lie := bytes.Replace(good, []byte(digest), []byte(strings.Repeat("0", 64)), 1)
	for name, damaged := range map[string][]byte{
		"truncated":     good[:len(good)/2],
		"garbage":       []byte("\x00\x01not a cache"),
		"no trailer":    good[:bytes.LastIndex(good[:len(good)-1], []byte("\n"))+1],
		"edited digest": lie,
		"empty":         {},
	} {
		t.Run(name, func(t *testing.T) {
			if err := os.WriteFile(cf, damaged, 0o600); err != nil {
				t.Fatal(err)
			}
			rejected, hashed := p.stats.cacheRejected.Load(), p.stats.filesHashed.Load()
			got := byPath(t, root, collect(t, p, sdk.Request{Full: true}))["d"].SHA256
			if got != want {
				t.Errorf("digest %s after a damaged cache, want %s", got, want)
			}
			if len(damaged) > 0 && p.stats.cacheRejected.Load() != rejected+1 {
				t.Error("damaged cache was not rejected")
			}
			if p.stats.filesHashed.Load() != hashed+2 {
				t.Error("files were not rehashed")
			}
			// It was rebuilt: the next scan hashes nothing.
			hashed = p.stats.filesHashed.Load()
			collect(t, p, sdk.Request{Full: true})
			if p.stats.filesHashed.Load() != hashed {
				t.Error("cache was not rebuilt")
			}
		})
	}
	if _, err := readCache(bytes.NewReader(good), "/other/dataset", New().cacheTag()); err == nil {
		t.Error("a cache of another dataset was accepted")
	}
	matches, _ := filepath.Glob(filepath.Join(state, "hashcache", ".tmp-*"))
	if len(matches) > 0 {
		t.Errorf("temp files left behind: %v", matches)
	}
}

func TestStaleCachesPruned(t *testing.T) {
	root, state := t.TempDir(), t.TempDir()
	makeTree(t, root, []file{{path: "d/a.bin", body: "a"}, {path: "e/b.bin", body: "b"}})
	p := newPlugin(t, Settings{Roots: []string{root}}, state)
	collect(t, p, sdk.Request{Full: true})
	os.RemoveAll(filepath.Join(root, "e"))
	collect(t, p, sdk.Request{Full: true})
	entries, _ := os.ReadDir(filepath.Join(state, "hashcache"))
	if len(entries) != 1 {
		t.Errorf("%d cache files, want 1", len(entries))
	}
}

func TestCancel(t *testing.T) {
	root := t.TempDir()
	big := bytes.Repeat([]byte("x"), 8<<20)
	makeTree(t, root, []file{{path: "d/big.bin", body: string(big)}, {path: "d/b2.bin", body: string(big)}})
	// A slow rate makes the scan take minutes unless cancellation works
	// inside a file.
	p := newPlugin(t, Settings{Roots: []string{root}, MaxHashBytesPerSecond: 1 << 20}, t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	var r recorder
	err := p.Collect(ctx, sdk.Request{Full: true}, &r)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Collect = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("cancel took %v", d)
	}
	if len(r.recs) != 0 {
		t.Errorf("a cancelled scan emitted %d records", len(r.recs))
	}
}

func TestRateLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("takes a second")
	}
	root := t.TempDir()
	makeTree(t, root, []file{{path: "d/a.bin", body: strings.Repeat("x", 3<<19)}}) // 1.5 MiB
	p := newPlugin(t, Settings{Roots: []string{root}, MaxHashBytesPerSecond: 1 << 20}, "")
	start := time.Now()
	collect(t, p, sdk.Request{Full: true})
	// One second's burst, then 0.5 MiB at 1 MiB/s.
	if d := time.Since(start); d < 400*time.Millisecond || d > 3*time.Second {
		t.Errorf("1.5 MiB at 1 MiB/s took %v, want about 0.5s", d)
	}
}
