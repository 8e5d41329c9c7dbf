package access

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// generation is one rotated copy of a log, by its names: the plain one
// first, since a compressor writes the compressed file whole before it
// removes the plain one, so while both exist the plain one is complete.
type generation []string

// maxGenerations bounds the rotated copies of one log looked at
// (logrotate's "rotate 365" with dateext keeps a year of days).
const maxGenerations = 1000

// dateSuffix is what logrotate's dateformat makes of a date: -%Y%m%d by
// default, -%Y%m%d%H hourly, or with separators (-%Y-%m-%d), and
// -%Y%m%d-%s when a day has several rotations.
var dateSuffix = regexp.MustCompile(`^[0-9]{8,10}(-[0-9]+)?$|^[0-9]{4}-[0-9]{2}-[0-9]{2}(-[0-9]+)?$`)

// rotatedChain lists the rotated copies of path found in folder dir
// (the log's own, or logrotate's olddir), newest first: logrotate's
// numbered scheme (<name>.1, <name>.2.gz, ...; also auditd's), or, when
// there is no numbered copy, dateext's <name>-<date> (the default on
// RHEL, Fedora and SUSE), whose names of one log share a format, so the
// greatest is the newest. Each may be plain or compressed (.gz, .xz,
// .zst, .bz2).
func rotatedChain(path, dir string) []generation {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	base := filepath.Base(path)
	numbered := map[int]generation{}
	dated := map[string]generation{}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		name := e.Name()
		stem := name
		if compressionOf(name) != "" {
			stem = name[:strings.LastIndexByte(name, '.')]
		}
		full := filepath.Join(dir, name)
		if rest, ok := strings.CutPrefix(stem, base+"."); ok {
			if n, err := strconv.Atoi(rest); err == nil && n >= 1 && rest == strconv.Itoa(n) {
				numbered[n] = append(numbered[n], full)
			}
			continue
		}
		if rest, ok := strings.CutPrefix(stem, base+"-"); ok && dateSuffix.MatchString(rest) {
			dated[rest] = append(dated[rest], full)
		}
	}
	plainFirst := func(g generation) generation {
		slices.SortFunc(g, func(a, b string) int {
			ca, cb := compressionOf(a) != "", compressionOf(b) != ""
			if ca != cb {
				if ca {
					return 1
				}
				return -1
			}
			return strings.Compare(a, b)
		})
		return g
	}
	var out []generation
	if len(numbered) > 0 {
		nums := make([]int, 0, len(numbered))
		for n := range numbered {
			nums = append(nums, n)
		}
		slices.Sort(nums)
		for _, n := range nums {
			out = append(out, plainFirst(numbered[n]))
		}
	} else {
		dates := make([]string, 0, len(dated))
		for d := range dated {
			dates = append(dates, d)
		}
		slices.Sort(dates)
		slices.Reverse(dates)
		for _, d := range dates {
			out = append(out, plainFirst(dated[d]))
		}
	}
	if len(out) > maxGenerations {
		out = out[:maxGenerations]
	}
	return out
}

// rotMark is the newest non-empty rotated copy of a log as it was when
// the followed file was taken up: every rotated copy newer than it was
// written since. It is found again by inode and size while it stays
// plain, by its first bytes once compressed; failing both (deleted), by
// its modification time.
type rotMark struct {
	Dev     uint64 `json:"dev,omitempty"`
	Ino     uint64 `json:"ino,omitempty"`
	Size    int64  `json:"size"`
	MTime   int64  `json:"mtime"`
	HeadLen int    `json:"head_len,omitempty"`
	Head    string `json:"head,omitempty"`
}

// chainView is a log's rotated copies as listed once in a collection,
// with their first (decompressed) bytes read at most once each.
type chainView struct {
	gens  []generation
	heads map[string]rotHead
	stats map[string]fs.FileInfo
}

type rotHead struct {
	b   []byte
	fi  fs.FileInfo
	err error
}

// newChainView lists the rotated copies of path in dir.
func newChainView(path, dir string) *chainView {
	return &chainView{gens: rotatedChain(path, dir), heads: map[string]rotHead{}, stats: map[string]fs.FileInfo{}}
}

// stat is a rotated file's stat (nil if it is gone), without opening it.
func (v *chainView) stat(name string) fs.FileInfo {
	if h, ok := v.heads[name]; ok && h.fi != nil {
		return h.fi
	}
	if fi, ok := v.stats[name]; ok {
		return fi
	}
	fi, err := os.Stat(name)
	if err != nil {
		fi = nil
	}
	v.stats[name] = fi
	return fi
}

// head is a rotated file's first headBytes bytes, decompressed.
func (v *chainView) head(name string) rotHead {
	if h, ok := v.heads[name]; ok {
		return h
	}
	h := readHead(name)
	v.heads[name] = h
	return h
}

func readHead(name string) rotHead {
	f, err := os.Open(name)
	if err != nil {
		return rotHead{err: err}
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return rotHead{err: err}
	}
	var r io.Reader = f
	if kind := compressionOf(name); kind != "" {
		d, closeFn, err := decompressor(kind, f)
		if err != nil {
			return rotHead{fi: fi, err: err}
		}
		defer closeFn()
		r = d
	}
	b := make([]byte, headBytes)
	n, err := io.ReadFull(r, b)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return rotHead{fi: fi, err: err}
	}
	return rotHead{b: b[:n], fi: fi}
}

// headIs says whether b starts with the n bytes whose hash is want.
func headIs(b []byte, n int, want string) bool {
	return n > 0 && len(b) >= n && hashHex(b[:n]) == want
}

// isFollowed says whether name is the file st follows: the same inode
// with the same first bytes (renamed), or a copy or compressed copy
// starting with the same bytes; either at least as long as the offset.
func (v *chainView) isFollowed(name string, st *logState) bool {
	h := v.head(name)
	if h.err != nil {
		return false
	}
	plain := compressionOf(name) == ""
	if plain && h.fi.Size() < st.Offset {
		return false
	}
	dev, ino := fileID(h.fi)
	if plain && ino != 0 && dev == st.Dev && ino == st.Ino {
		return st.HeadLen == 0 || headIs(h.b, st.HeadLen, st.Head)
	}
	return headIs(h.b, st.HeadLen, st.Head)
}

// isMark says whether name is the mark: unchanged (device, inode, size
// and time, so renamed as it was — compressed ones too — without reading
// it), or starting with its bytes (compressed since).
func (v *chainView) isMark(name string, m *rotMark) bool {
	if m == nil {
		return false
	}
	if fi := v.stat(name); fi != nil {
		dev, ino := fileID(fi)
		if ino != 0 && dev == m.Dev && ino == m.Ino && fi.Size() == m.Size && fi.ModTime().UnixNano() == m.MTime {
			return true
		}
	}
	if m.HeadLen == 0 {
		return false
	}
	h := v.head(name)
	return h.err == nil && headIs(h.b, m.HeadLen, m.Head)
}

// findFollowed returns the generation and name holding the followed
// file, looking no further back than the mark (it is newer than that),
// or -1.
func (v *chainView) findFollowed(st *logState) (int, string) {
	for i, g := range v.gens {
		for _, name := range g {
			if v.isFollowed(name, st) {
				return i, name
			}
		}
		for _, name := range g {
			if v.isMark(name, st.Mark) {
				return -1, ""
			}
		}
	}
	return -1, ""
}

// newer lists the generations newer than the mark, newest first: all of
// them when there was none; by modification time when it is gone.
func (v *chainView) newer(m *rotMark) []int {
	var out []int
	for i, g := range v.gens {
		for _, name := range g {
			if v.isMark(name, m) {
				return out
			}
		}
		out = append(out, i)
	}
	if m == nil {
		return out
	}
	// Gone (rotated out, or deleted once read): what was written since
	// it was last written. Equal times count, as file times are coarse
	// (a clock tick), and a file written in the same tick as the mark
	// may be newer than it.
	out = out[:0]
	for i, g := range v.gens {
		if fi := v.stat(g[0]); fi != nil && fi.ModTime().UnixNano() >= m.MTime {
			out = append(out, i)
		}
	}
	return out
}

// readable is the first name of g whose start could be read.
func (v *chainView) readable(g generation) string {
	for _, name := range g {
		if v.head(name).err == nil {
			return name
		}
	}
	return ""
}

// unreadable says why g's names could not be read, if none could.
func (v *chainView) unreadable(g generation) string {
	var why []string
	for _, name := range g {
		if err := v.head(name).err; err != nil {
			why = append(why, fmt.Sprintf("%s: %v", filepath.Base(name), err))
		}
	}
	return strings.Join(why, "; ")
}

// failed says why the copies looked at so far could not be read.
func (v *chainView) failed() []string {
	var why []string
	for name, h := range v.heads {
		if h.err != nil {
			why = append(why, fmt.Sprintf("%s: %v", filepath.Base(name), h.err))
		}
	}
	slices.Sort(why)
	return why
}

// newestMark is the mark for a file taken up now.
func (v *chainView) newestMark() *rotMark {
	for _, g := range v.gens {
		for _, name := range g {
			h := v.head(name)
			if h.err != nil || len(h.b) == 0 {
				continue
			}
			dev, ino := fileID(h.fi)
			return &rotMark{Dev: dev, Ino: ino, Size: h.fi.Size(), MTime: h.fi.ModTime().UnixNano(),
				HeadLen: len(h.b), Head: hashHex(h.b)}
		}
	}
	return nil
}

// label says how a rotated file read was found, for the summary's
// rotations: its compression; for the followed file, "rename" (its
// inode), "copytruncate" (a copy of it, truncated in place) or "copy" (a
// copy of it, replaced); a newer plain copy is "rename" however it came
// there: a new log can reuse the inode of a file compressed away, so the
// inode cannot tell a copytruncate from a rename for it.
func (v *chainView) label(name string, st *logState, inPlace, followed bool) string {
	if k := compressionOf(name); k != "" {
		return k
	}
	if h := v.head(name); h.fi != nil {
		if dev, ino := fileID(h.fi); ino != 0 && dev == st.Dev && ino == st.Ino {
			return "rename"
		}
	}
	switch {
	case followed && inPlace:
		return "copytruncate"
	case followed:
		return "copy"
	}
	return "rename"
}
