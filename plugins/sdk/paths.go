package sdk

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// CheckRoots validates a list of folders a plugin scans: required,
// absolute, not nested in one another (or a subject would be reported
// twice). It cleans the paths in place. field is the setting's name,
// what names the things found under them ("datasets").
func CheckRoots(field string, roots []string, what string) FieldErrors {
	var fe FieldErrors
	if len(roots) == 0 {
		fe = append(fe, FieldError{Field: field, Message: fmt.Sprintf("is required: list the absolute folders that hold %s", what)})
	}
	for i, r := range roots {
		f := fmt.Sprintf("%s[%d]", field, i)
		switch {
		case r == "":
			fe = append(fe, FieldError{Field: f, Message: "is empty"})
			continue
		case !filepath.IsAbs(r):
			fe = append(fe, FieldError{Field: f, Message: fmt.Sprintf("%q is not an absolute path", r)})
			continue
		}
		roots[i] = filepath.Clean(r)
		for j := range i {
			if !filepath.IsAbs(roots[j]) {
				continue // already reported; comparing with it means nothing
			}
			if Within(roots[i], roots[j]) || Within(roots[j], roots[i]) {
				fe = append(fe, FieldError{Field: f, Message: fmt.Sprintf("%q overlaps %s[%d] %q; %s would be reported twice", r, field, j, roots[j], what)})
			}
		}
	}
	return fe
}

// CheckGlobs validates exclude patterns as Excluded reads them.
func CheckGlobs(field string, patterns []string) FieldErrors {
	var fe FieldErrors
	for i, pat := range patterns {
		f := fmt.Sprintf("%s[%d]", field, i)
		if _, err := filepath.Match(pat, ""); err != nil || pat == "" {
			fe = append(fe, FieldError{Field: f, Message: fmt.Sprintf("%q is not a glob pattern", pat)})
		} else if strings.Contains(pat, "/") && !filepath.IsAbs(pat) {
			fe = append(fe, FieldError{Field: f, Message: fmt.Sprintf("%q has a slash, so it must be an absolute path pattern (or drop the slashes to match a name anywhere)", pat)})
		}
	}
	return fe
}

// Excluded reports whether a file or folder matches one of the patterns:
// a pattern without a slash matches its name anywhere, one with a slash
// its absolute path.
func Excluded(patterns []string, name, abs string) bool {
	for _, pat := range patterns {
		target := name
		if strings.Contains(pat, "/") {
			target = abs
		}
		if ok, _ := filepath.Match(pat, target); ok {
			return true
		}
	}
	return false
}

// Within reports whether path is dir or beneath it.
func Within(path, dir string) bool {
	if path == dir {
		return true
	}
	if dir == "/" {
		return strings.HasPrefix(path, "/")
	}
	return strings.HasPrefix(path, dir+"/")
}

// WriteFileAtomic replaces path with data so that a crash leaves the old
// content or the new, never a torn file: plugin state must survive the
// agent being killed at any moment.
func WriteFileAtomic(path string, data []byte) (err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(path), err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return fmt.Errorf("create temp file: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("replace %s: %w", path, err)
	}
	return nil
}

// maxPathSetBytes bounds a path set read back (about a million paths).
const maxPathSetBytes = 256 << 20

type pathSetDoc struct {
	Version int      `json:"version"`
	Paths   []string `json:"paths"`
}

// LoadPathSet reads a set saved by SavePathSet: the subjects a plugin last
// reported, so that after a restart it still sends the deletes it owes. A
// missing file is an empty set; a damaged one is an error (the caller
// starts afresh and says so).
func LoadPathSet(path string) (map[string]bool, error) {
	set := map[string]bool{}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return set, nil
	}
	if err != nil {
		return set, err
	}
	defer f.Close()
	var doc pathSetDoc
	if err := json.NewDecoder(io.LimitReader(f, maxPathSetBytes)).Decode(&doc); err != nil {
		return set, fmt.Errorf("%s is damaged: %w", path, err)
	}
	if doc.Version != 1 {
		return set, fmt.Errorf("%s has version %d, not 1", path, doc.Version)
	}
	for _, p := range doc.Paths {
		if filepath.IsAbs(p) {
			set[filepath.Clean(p)] = true
		}
	}
	return set, nil
}

// SavePathSet writes set atomically, sorted so the file diffs cleanly.
func SavePathSet(path string, set map[string]bool) error {
	doc := pathSetDoc{Version: 1, Paths: make([]string, 0, len(set))}
	for p := range set {
		doc.Paths = append(doc.Paths, p)
	}
	slices.Sort(doc.Paths)
	b, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	return WriteFileAtomic(path, b)
}
