package access

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Limits of the logrotate configuration read for olddir discovery: it is
// outside data, read on every collection, so its size, its includes and
// the work on it are bounded. Real configurations are a few dozen files
// of a few hundred bytes.
const (
	lrMaxFileBytes  = 1 << 20  // one file
	lrMaxTotalBytes = 16 << 20 // all files of one read
	lrMaxFiles      = 512
	lrMaxDepth      = 8 // nested includes (logrotate.conf → logrotate.d → …)
	lrMaxBlocks     = 10000
	lrMaxPatterns   = 4 * lrMaxBlocks
	lrMaxLineBytes  = 64 << 10
	lrMaxErrors     = 50
	// lrMaxFolderEntries bounds an included folder's listing.
	lrMaxFolderEntries = 4096
)

// lrDefaultTabooExt is logrotate's taboo extension list at start-up
// (logrotate(8), tabooext): files of an included folder ending so are
// not read.
var lrDefaultTabooExt = []string{",v", ".cfsaved", ".disabled", ".dpkg-bak", ".dpkg-del", ".dpkg-dist",
	".dpkg-new", ".dpkg-old", ".rhn-cfg-tmp-*", ".rpmnew", ".rpmorig", ".rpmsave", ".swp",
	".ucf-dist", ".ucf-new", ".ucf-old", "~"}

// lrScripts are the directives whose lines, up to endscript, are a shell
// script, not configuration.
var lrScripts = map[string]bool{"postrotate": true, "prerotate": true, "firstaction": true,
	"lastaction": true, "preremove": true}

// lrRule is one log block of a logrotate configuration, reduced to what
// says where its rotated copies go.
type lrRule struct {
	// Patterns are the block's file names: absolute paths or globs.
	Patterns []string
	// Olddir is the olddir in force for the block ("" for none or
	// noolddir), as written: relative to each log's folder unless
	// absolute. At is where it was set (file:line).
	Olddir, At string
	// Where is the block's first line (file:line).
	Where string
	// Bad says why logrotate skips the block (its logs are then not
	// rotated by it, so nothing is learned of them).
	Bad string
}

// lrConfig is what a logrotate configuration says of olddir.
type lrConfig struct {
	Rules []lrRule
	// Errors are the problems met (file:line: what), at most
	// lrMaxErrors; Files is how many files were read.
	Errors []string
	Files  int
}

// lrSettings are the directives a block inherits from the level around
// it (logrotate copies the defaults into each block as it starts).
type lrSettings struct {
	olddir, at string
	// missingok and createolddir spare a block logrotate's check that
	// its log folder, or its olddir, is there.
	missingok, createolddir bool
}

// lrReader reads one logrotate configuration with its includes.
type lrReader struct {
	cfg      *lrConfig
	total    int64
	stack    []string // files being read, against include cycles
	tabooExt []string
	tabooPat []string
	patterns int
	tooMany  bool // blocks over lrMaxBlocks were met
	// open opens a file to read; the fuzz target reads from memory.
	open func(name string) (io.ReadCloser, error)
	// list lists an included folder's files, in name order, or says it
	// is not a folder.
	list func(name string) ([]string, bool, error)
	// resolve names a file by its real path, against include cycles
	// through links.
	resolve func(name string) string
	// isDir says whether a folder is there (logrotate checks a block's
	// log folder and olddir as it reads the block).
	isDir func(name string) bool
}

// readLogrotateConfig reads the configuration files (or folders) given,
// in order, as logrotate does when given them on its command line.
func readLogrotateConfig(paths []string) *lrConfig {
	r := newLRReader()
	global := &lrSettings{}
	for _, p := range paths {
		r.include(p, "", 0, global, nil)
	}
	return r.cfg
}

func newLRReader() *lrReader {
	return &lrReader{
		cfg:      &lrConfig{},
		tabooExt: slices.Clone(lrDefaultTabooExt),
		open:     func(name string) (io.ReadCloser, error) { return openConfigFile(name) },
		list:     listConfigFolder,
		resolve: func(name string) string {
			if real, err := filepath.EvalSymlinks(name); err == nil {
				return real
			}
			return name
		},
		isDir: func(name string) bool {
			fi, err := os.Stat(name)
			return err == nil && fi.IsDir()
		},
	}
}

// openConfigFile opens a configuration file as logrotate would read it:
// a regular file not writable by group or others (logrotate refuses
// those, for anyone could then make it run commands as root).
func openConfigFile(name string) (io.ReadCloser, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	switch {
	case err != nil:
	case !fi.Mode().IsRegular():
		err = errors.New("not a regular file")
	case fi.Mode().Perm()&0o022 != 0:
		err = fmt.Errorf("writable by group or others (%v), so logrotate ignores it", fi.Mode().Perm())
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func listConfigFolder(name string) ([]string, bool, error) {
	fi, err := os.Stat(name)
	if err != nil {
		return nil, false, err
	}
	if !fi.IsDir() {
		return nil, false, nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, true, err
	}
	defer f.Close()
	// A folder of configuration holds dozens of files; one with more
	// than this (a wrong include) is not listed whole.
	entries, err := f.ReadDir(lrMaxFolderEntries + 1)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, true, err
	}
	if len(entries) > lrMaxFolderEntries {
		return nil, true, fmt.Errorf("more than %d entries; not read", lrMaxFolderEntries)
	}
	slices.SortFunc(entries, func(a, b os.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	var out []string
	for _, e := range entries {
		full := filepath.Join(name, e.Name())
		// logrotate skips what is not a regular file (following links).
		if fi, err := os.Stat(full); err == nil && fi.Mode().IsRegular() {
			out = append(out, e.Name())
		}
		if len(out) > lrMaxFiles {
			break
		}
	}
	return out, true, nil
}

func (r *lrReader) errorf(at, format string, args ...any) {
	if len(r.cfg.Errors) < lrMaxErrors {
		r.cfg.Errors = append(r.cfg.Errors, at+": "+fmt.Sprintf(format, args...))
	}
}

// taboo says whether an included folder's file is left out.
func (r *lrReader) taboo(name string) bool {
	for _, ext := range r.tabooExt {
		if ok, _ := filepath.Match("*"+ext, name); ok || strings.HasSuffix(name, ext) {
			return true
		}
	}
	for _, pat := range r.tabooPat {
		if ok, _ := filepath.Match(pat, name); ok {
			return true
		}
	}
	return false
}

// include reads a file, or a folder's files in name order, with the
// settings of the level it is included at (a block's own, inside one).
func (r *lrReader) include(path, at string, depth int, defaults *lrSettings, block *lrRule) {
	if at == "" {
		at = path
	}
	if depth > lrMaxDepth {
		r.errorf(at, "includes nested deeper than %d; %s not read", lrMaxDepth, path)
		return
	}
	if !filepath.IsAbs(path) {
		// logrotate takes it from its working folder, unknown here.
		r.errorf(at, "include %q is not an absolute path; not read", path)
		return
	}
	if r.cfg.Files >= lrMaxFiles {
		r.errorf(at, "more than %d configuration files; %s not read", lrMaxFiles, path)
		return
	}
	names, isDir, err := r.list(path)
	switch {
	case err != nil && depth == 0 && errors.Is(err, fs.ErrNotExist):
		return // no logrotate here: nothing to learn, nothing wrong
	case err != nil && depth == 0:
		r.errorf(at, "%v", err)
		return
	case err != nil:
		r.errorf(at, "include %s: %v", path, err)
		return
	}
	if !isDir {
		r.file(path, depth, defaults, block)
		return
	}
	for _, n := range names {
		if r.taboo(n) {
			continue
		}
		r.file(filepath.Join(path, n), depth, defaults, block)
	}
}

// file reads one configuration file.
func (r *lrReader) file(name string, depth int, defaults *lrSettings, block *lrRule) {
	clean := r.resolve(filepath.Clean(name))
	if slices.Contains(r.stack, clean) {
		r.errorf(name, "includes itself (through %s); not read again", strings.Join(r.stack, " → "))
		return
	}
	if r.cfg.Files >= lrMaxFiles {
		r.errorf(name, "more than %d configuration files; the rest are not read", lrMaxFiles)
		return
	}
	if r.total >= lrMaxTotalBytes {
		r.errorf(name, "more than %d bytes of configuration; the rest is not read", lrMaxTotalBytes)
		return
	}
	f, err := r.open(name)
	if err != nil {
		r.errorf(name, "%v", err)
		return
	}
	defer f.Close()
	r.cfg.Files++
	r.stack = append(r.stack, clean)
	defer func() { r.stack = r.stack[:len(r.stack)-1] }()
	limit := min(int64(lrMaxFileBytes), lrMaxTotalBytes-r.total)
	lr := &io.LimitedReader{R: f, N: limit + 1}
	r.parse(name, lr, depth, defaults, block)
	r.total += limit + 1 - lr.N
	if lr.N <= 0 {
		r.errorf(name, "longer than %d bytes; the rest is not read", limit)
	}
}

// parse reads the lines of one file. Outside a block, a line starting
// with a letter is a directive, any other starts a block's file names,
// which may run over several lines up to "{"; inside a block, each line
// is a directive up to "}". Comments are lines whose first non-blank is
// "#"; scripts run from postrotate (and the like) to endscript.
// Only the directives that say where rotated copies go, or whether
// logrotate keeps a block (olddir, noolddir, missingok, createolddir and
// their negations), and include, tabooext and taboopat are read; the
// others are passed over.
func (r *lrReader) parse(name string, in io.Reader, depth int, defaults *lrSettings, outer *lrRule) {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 4096), lrMaxLineBytes)
	var (
		lineNo  int
		header  []string // file names of a block being opened
		headAt  string
		block   *lrRule // the block open in this file
		own     lrSettings
		script  string // the script directive being skipped, and where
		scriptT string
	)
	at := func() string { return fmt.Sprintf("%s:%d", name, lineNo) }
	// A block logrotate cannot use (its folders missing), or a bad
	// global olddir, makes it skip the rest of the file and forget the
	// file's global settings.
	saved := *defaults
	abandon := false
	// cur is the settings directives change here: the open block's, or
	// those of the level this file was included at.
	cur := func() *lrSettings {
		if block != nil {
			return &own
		}
		return defaults
	}
	closeBlock := func() {
		block.Olddir, block.At = own.olddir, own.at
		if block.Bad == "" {
			if why := r.verify(block, &own); why != "" {
				r.errorf(at(), "%s; logrotate skips the rest of this file", why)
				r.bad(block, at(), why)
				abandon = true
			}
		}
		if len(r.cfg.Rules) < lrMaxBlocks {
			r.cfg.Rules = append(r.cfg.Rules, *block)
		} else if !r.tooMany {
			r.tooMany = true
			r.errorf(block.Where, "more than %d log blocks; the rest are not read", lrMaxBlocks)
		}
		block = nil
	}
	directive := func(line string) {
		key, val := splitDirective(line)
		switch {
		case lrScripts[key]:
			script, scriptT = key, at()
		case key == "endscript":
			r.errorf(at(), "endscript without a script")
		case key == "olddir":
			why := ""
			switch {
			case val == "":
				why = "olddir needs a folder"
			case strings.ContainsAny(val, " \t"):
				// logrotate takes the rest of the line, and refuses a
				// path with blanks ("bad olddir path"): quotes are not
				// removed, so a trailing comment is part of it too.
				why = fmt.Sprintf("olddir %q holds a blank; logrotate refuses it (bad olddir path)", val)
			}
			switch {
			case why != "" && block != nil:
				r.errorf(at(), "%s", why)
				r.bad(block, at(), why)
			case why != "":
				// Outside a block, logrotate gives up the whole file.
				r.errorf(at(), "%s; logrotate skips the rest of this file", why)
				abandon = true
			default:
				s := cur()
				s.olddir, s.at = val, at()
			}
		case key == "noolddir":
			s := cur()
			s.olddir, s.at = "", at()
		case key == "missingok" || key == "nomissingok":
			cur().missingok = key == "missingok"
		case key == "createolddir" || key == "nocreateolddir":
			cur().createolddir = key == "createolddir"
		case key == "include":
			if val == "" {
				r.errorf(at(), "include needs a file or folder")
				return
			}
			if block != nil {
				// Its directives apply to this block, as if written here.
				r.include(val, at(), depth+1, &own, block)
				return
			}
			r.include(val, at(), depth+1, defaults, outer)
		case key == "tabooext" || key == "taboopat":
			list := &r.tabooExt
			if key == "taboopat" {
				list = &r.tabooPat
			}
			add := strings.HasPrefix(val, "+")
			if !add {
				*list = nil
			}
			for _, f := range strings.FieldsFunc(strings.TrimPrefix(val, "+"), func(c rune) bool { return c == ',' || c == ' ' || c == '\t' }) {
				if len(*list) < 256 {
					*list = append(*list, f)
				}
			}
		}
	}
	openBlock := func(rest string) {
		block = &lrRule{Patterns: header, Where: headAt}
		own = *defaults
		header, headAt = nil, ""
		if outer != nil {
			// A block in a file included inside a block.
			r.errorf(block.Where, "a log block inside another (through include); logrotate refuses it")
			block.Bad = "nested block"
		}
		if rest = strings.TrimSpace(rest); rest != "" && rest[0] != '#' {
			blockLine(r, rest, block, directive, closeBlock, at)
		}
	}
	for !abandon && sc.Scan() {
		lineNo++
		text := strings.TrimSpace(sc.Text())
		if script != "" {
			if k, _ := splitDirective(text); k == "endscript" {
				script = ""
			}
			continue
		}
		if text == "" || text[0] == '#' {
			continue
		}
		if block != nil {
			blockLine(r, text, block, directive, closeBlock, at)
			continue
		}
		if header == nil && isLetter(text[0]) {
			directive(text)
			continue
		}
		if text[0] == '}' {
			r.errorf(at(), "} without a block")
			continue
		}
		// File names, up to an unquoted "{".
		if headAt == "" {
			headAt = at()
		}
		names, rest, opened, err := splitNames(text)
		if err != nil {
			r.errorf(at(), "%v", err)
		}
		for _, n := range names {
			if r.patterns++; r.patterns > lrMaxPatterns {
				if r.patterns == lrMaxPatterns+1 {
					r.errorf(at(), "more than %d log file names; the rest are not read", lrMaxPatterns)
				}
				continue
			}
			header = append(header, n)
		}
		if header == nil {
			header = []string{}
		}
		if opened {
			openBlock(rest)
		}
	}
	if abandon {
		*defaults = saved
		return
	}
	if err := sc.Err(); err != nil {
		r.errorf(fmt.Sprintf("%s:%d", name, lineNo+1), "%v; the rest of the file is not read", err)
	}
	switch {
	case script != "":
		r.errorf(scriptT, "%s without endscript", script)
		if block != nil {
			r.bad(block, scriptT, "script without endscript")
		}
	case header != nil:
		r.errorf(headAt, "log file names without a { block")
	}
	if block != nil {
		r.errorf(block.Where, "block not closed with }; logrotate skips it")
		r.bad(block, block.Where, "block not closed")
		closeBlock()
	}
}

// line handles one line inside a block: "}" closes it (with nothing but
// a comment after it), anything else is a directive.
func blockLine(r *lrReader, text string, block *lrRule, directive func(string), closeBlock func(), at func() string) {
	if text[0] != '}' {
		directive(text)
		return
	}
	if rest := strings.TrimSpace(text[1:]); rest != "" && rest[0] != '#' {
		r.errorf(at(), "text after }: %q", rest)
	}
	closeBlock()
}

// verify checks what logrotate checks of a block as it reads it: each
// log's folder is there (unless missingok), and so is the olddir (unless
// createolddir; a relative one from the first log's folder, when that
// is there). Folders holding a pattern are not looked at.
func (r *lrReader) verify(block *lrRule, s *lrSettings) string {
	if r.isDir == nil {
		return ""
	}
	for _, p := range block.Patterns {
		if d := filepath.Dir(p); filepath.IsAbs(p) && !isGlob(d) && !s.missingok && !r.isDir(d) {
			return fmt.Sprintf("the folder %s of log %s is not there (and no missingok)", d, p)
		}
	}
	if s.olddir == "" || s.createolddir || len(block.Patterns) == 0 {
		return ""
	}
	d := s.olddir
	if !filepath.IsAbs(d) {
		base := filepath.Dir(block.Patterns[0])
		if !filepath.IsAbs(base) || isGlob(base) || !r.isDir(base) {
			return "" // a missing log (missingok) is not checked further
		}
		d = filepath.Join(base, d)
	}
	if !isGlob(d) && !r.isDir(d) {
		return fmt.Sprintf("olddir %s is not there (and no createolddir)", d)
	}
	return ""
}

// bad marks a block logrotate skips for an error (the first one).
func (r *lrReader) bad(block *lrRule, at, why string) {
	if block != nil && block.Bad == "" {
		block.Bad = at + ": " + why
	}
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// splitDirective splits "key value" or "key = value": the value is the
// rest of the line.
func splitDirective(line string) (key, val string) {
	i := strings.IndexAny(line, " \t=")
	if i < 0 {
		return line, ""
	}
	key, val = line[:i], strings.TrimSpace(line[i:])
	val = strings.TrimSpace(strings.TrimPrefix(val, "="))
	return key, val
}

// splitNames splits a block header line into file names as logrotate
// does (shell quoting: '…', "…", and \ escapes), up to an unquoted "{";
// rest is what follows it.
func splitNames(text string) (names []string, rest string, opened bool, err error) {
	var cur strings.Builder
	inWord := false
	var quote byte
	flush := func() {
		if inWord {
			names = append(names, cur.String())
			cur.Reset()
			inWord = false
		}
	}
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case quote != 0:
			switch {
			case c == quote:
				quote = 0
			case c == '\\' && quote == '"' && i+1 < len(text) && strings.IndexByte(`"\$`+"`", text[i+1]) >= 0:
				i++
				cur.WriteByte(text[i])
			default:
				cur.WriteByte(c)
			}
		case c == '\'' || c == '"':
			quote, inWord = c, true
		case c == '\\' && i+1 < len(text):
			i++
			cur.WriteByte(text[i])
			inWord = true
		case c == ' ' || c == '\t':
			flush()
		case c == '{':
			flush()
			return names, text[i+1:], true, nil
		case c == '#' && !inWord:
			flush()
			return names, "", false, nil
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if quote != 0 {
		err = fmt.Errorf("unterminated %c quote in log file names", quote)
	}
	flush()
	return names, "", false, err
}

// lookup finds the block that names log (the first, as logrotate
// refuses a log named twice), by exact path or glob, among those
// logrotate keeps.
func (c *lrConfig) lookup(log string) (*lrRule, bool) { return c.find(log, false) }

// find is lookup, and with bad also sees the blocks logrotate drops.
func (c *lrConfig) find(log string, bad bool) (*lrRule, bool) {
	if c == nil {
		return nil, false
	}
	for i := range c.Rules {
		if c.Rules[i].Bad != "" && !bad {
			continue // logrotate drops it: a later block may name the log
		}
		for _, p := range c.Rules[i].Patterns {
			if !filepath.IsAbs(p) {
				continue // ~/…: another user's home, not a system log
			}
			p = filepath.Clean(p)
			if p == log {
				return &c.Rules[i], true
			}
			if isGlob(p) {
				if ok, _ := filepath.Match(p, log); ok {
					return &c.Rules[i], true
				}
			}
		}
	}
	return nil, false
}
