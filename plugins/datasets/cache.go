package datasets

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// cacheMagic opens every hash cache file, followed by the file format and
// a tag naming the sniffer and inspector versions and the sampling
// limits, so a plugin upgrade or a settings change that would read a file
// differently starts from a cold cache instead of reporting stale facts.
const cacheMagic = "annexa-datasets-hashcache"

const cacheFormat = 3

// maxCacheLine bounds one line of a cache file: a path is at most 4 KiB,
// and a file's facts are capped well below the rest (column names,
// findings and sampled columns are all bounded).
const maxCacheLine = 256 << 10

// errCacheVersion: the cache was written by another plugin version or
// under other sampling settings; expected after an upgrade, not damage.
var errCacheVersion = errors.New("hash cache of another plugin version or settings")

// fileKey is what must be unchanged for a cached digest to be reused.
// ctime is in it because nobody can set it: a tool that restores mtime
// after rewriting a file (rsync -t, touch -r) still moves ctime.
type fileKey struct {
	Dev     uint64 `json:"d"`
	Ino     uint64 `json:"i"`
	Size    int64  `json:"s"`
	MtimeNs int64  `json:"m"`
	CtimeNs int64  `json:"c"`
}

type cacheEntry struct {
	Path string `json:"p"`
	fileKey
	SHA256 string `json:"h"`
	Format string `json:"f"`
	Facts  *facts `json:"x,omitempty"`
}

// hashCache holds one dataset's digests, keyed by path relative to it.
type hashCache struct {
	dataset string
	entries map[string]cacheEntry
}

func cacheFile(stateDir, dataset string) string {
	sum := sha256.Sum256([]byte(dataset))
	return filepath.Join(stateDir, "hashcache", hex.EncodeToString(sum[:12])+".cache")
}

// lookup returns the cached entry for rel when its key still matches.
func (c *hashCache) lookup(rel string, k fileKey) (cacheEntry, bool) {
	if c == nil {
		return cacheEntry{}, false
	}
	e, ok := c.entries[rel]
	if !ok || e.fileKey != k {
		return cacheEntry{}, false
	}
	return e, true
}

// readCache parses a cache file. Any flaw (wrong header, bad line, wrong
// dataset, missing or wrong trailing checksum) rejects the whole file: a
// truncated or edited cache must never lend a digest to a file.
func readCache(r io.Reader, dataset, tag string) (*hashCache, error) {
	h := sha256.New()
	br := bufio.NewReaderSize(r, maxCacheLine)
	line, err := readLine(br, h)
	if err != nil {
		return nil, fmt.Errorf("read header: %w", err)
	}
	var gotPath string
	fields := strings.SplitN(line, " ", 4)
	if len(fields) != 4 || fields[0] != cacheMagic || fields[1] != strconv.Itoa(cacheFormat) || fields[2] != tag {
		return nil, errCacheVersion
	}
	if err := json.Unmarshal([]byte(fields[3]), &gotPath); err != nil || gotPath != dataset {
		return nil, errors.New("cache belongs to another dataset")
	}
	c := &hashCache{dataset: dataset, entries: map[string]cacheEntry{}}
	for {
		// The trailer's checksum covers every line before it.
		want := hex.EncodeToString(h.Sum(nil))
		line, err := readLine(br, h)
		if err != nil {
			return nil, fmt.Errorf("read entry: %w", err)
		}
		if trailer, ok := strings.CutPrefix(line, "end "); ok {
			n, sum, _ := strings.Cut(trailer, " ")
			if n != strconv.Itoa(len(c.entries)) || sum != want {
				return nil, errors.New("checksum does not match: cache is damaged")
			}
			if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
				return nil, errors.New("data after the trailer")
			}
			return c, nil
		}
		e, err := decodeEntry(line)
		if err != nil {
			return nil, fmt.Errorf("parse entry: %w", err)
		}
		if b, err := hex.DecodeString(e.SHA256); err != nil || len(b) != sha256.Size || e.Path == "" || e.Format == "" {
			return nil, errors.New("malformed entry")
		}
		if _, dup := c.entries[e.Path]; dup {
			return nil, errors.New("duplicate entry")
		}
		c.entries[e.Path] = e
	}
}

// readLine returns one newline-terminated line without the newline and
// feeds the raw bytes to h. A missing final newline means a torn write.
func readLine(br *bufio.Reader, h hash.Hash) (string, error) {
	b, err := br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return "", errors.New("line too long")
	}
	if errors.Is(err, io.EOF) {
		return "", io.ErrUnexpectedEOF
	}
	if err != nil {
		return "", err
	}
	h.Write(b)
	return string(b[:len(b)-1]), nil
}

// writeCache replaces the cache file atomically: a crash leaves either the
// old file or the new one, never half of one.
func writeCache(path, dataset, tag string, entries []cacheEntry) (err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create hash cache folder: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*.cache")
	if err != nil {
		return fmt.Errorf("create hash cache: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(tmp, h), 64<<10)
	quoted, _ := json.Marshal(dataset)
	fmt.Fprintf(bw, "%s %d %s %s\n", cacheMagic, cacheFormat, tag, quoted)
	for _, e := range entries {
		b, err := encodeEntry(e)
		if err != nil {
			return fmt.Errorf("encode hash cache entry: %w", err)
		}
		bw.Write(b)
		bw.WriteByte('\n')
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write hash cache: %w", err)
	}
	if _, err := fmt.Fprintf(tmp, "end %d %s\n", len(entries), hex.EncodeToString(h.Sum(nil))); err != nil {
		return fmt.Errorf("write hash cache: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("sync hash cache: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close hash cache: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("replace hash cache: %w", err)
	}
	return nil
}

// An entry is one line: the quoted path, then device, inode, size, mtime
// and ctime in decimal, the digest, the format and, when there are any,
// the file's facts as JSON:
//
//	"part/000.bin" 2049 1234567 4096 1732867200000000000 1732867200000000000 9f86…08 other
//
// Plain fields parse without encoding/json: an unchanged rescan of a
// million files spends its time here.
func encodeEntry(e cacheEntry) ([]byte, error) {
	b := strconv.AppendQuote(nil, e.Path)
	b = append(b, ' ')
	b = strconv.AppendUint(b, e.Dev, 10)
	b = append(b, ' ')
	b = strconv.AppendUint(b, e.Ino, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, e.Size, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, e.MtimeNs, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, e.CtimeNs, 10)
	b = append(b, ' ')
	b = append(b, e.SHA256...)
	b = append(b, ' ')
	b = append(b, e.Format...)
	if e.Facts != nil {
		fb, err := json.Marshal(e.Facts)
		if err != nil {
			return nil, err
		}
		b = append(b, ' ')
		b = append(b, fb...)
	}
	return b, nil
}

func decodeEntry(line string) (cacheEntry, error) {
	var e cacheEntry
	q, err := strconv.QuotedPrefix(line)
	if err != nil {
		return e, errors.New("no quoted path")
	}
	if e.Path, err = strconv.Unquote(q); err != nil {
		return e, err
	}
	rest, ok := strings.CutPrefix(line[len(q):], " ")
	if !ok {
		return e, errors.New("no fields after the path")
	}
	f := strings.SplitN(rest, " ", 8)
	if len(f) < 7 {
		return e, errors.New("missing fields")
	}
	var errs [5]error
	e.Dev, errs[0] = strconv.ParseUint(f[0], 10, 64)
	e.Ino, errs[1] = strconv.ParseUint(f[1], 10, 64)
	e.Size, errs[2] = strconv.ParseInt(f[2], 10, 64)
	e.MtimeNs, errs[3] = strconv.ParseInt(f[3], 10, 64)
	e.CtimeNs, errs[4] = strconv.ParseInt(f[4], 10, 64)
	if err := errors.Join(errs[:]...); err != nil {
		return e, err
	}
	e.SHA256, e.Format = f[5], f[6]
	if len(f) == 8 {
		e.Facts = &facts{}
		if err := json.Unmarshal([]byte(f[7]), e.Facts); err != nil {
			return e, err
		}
	}
	return e, nil
}
