package models

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/annexa/annexa/plugins/models/pickle"
	"github.com/annexa/annexa/plugins/sdk"
)

// A Hugging Face model is a folder: weights files beside config.json, a
// README.md model card, tokenizer files and sometimes Python code. The
// plugin keeps one subject per weights file (a folder of shards stays
// several subjects, each with its own digest, so a changed shard is one
// upsert) and gives every model file the view of its folder: the card's
// license, base_model and datasets, has_model_card, and remote code. The
// folder is read fresh on every collection (it is a few small files), not
// cached with the file's analysis, so editing a card updates its models.

const (
	maxCardBytes   = 1 << 20
	maxConfigBytes = 4 << 20
	maxFolderFiles = 4096
)

// cardNames are the files that count as a model card, in order.
var cardNames = []string{"README.md", "MODEL_CARD.md", "model_card.md", "ModelCard.md"}

// folderView is what a model's folder says about it.
type folderView struct {
	HasModelCard bool
	// Source is where the card says the model came from (provenance.go).
	Source       string
	License      string
	BaseModel    []string
	Datasets     []string
	Architecture string
	Findings     []pickle.Finding
}

// folders caches views by folder for one collection.
type folders struct {
	mu    sync.Mutex
	views map[string]*folderView
	// roots bound the search for a model.sig upwards; hash gives the
	// digest of a file a signature lists.
	roots []string
	hash  func(string) (string, bool, error)
	sigs  map[string]*sigView
	// sigMu is held while a signature's files are hashed, apart from mu.
	sigMu sync.Mutex
	// trust verifies signatures (verify.go).
	trust *trust
	// git caches the git source of each folder, hub the blob index of
	// each hub-cache repository (provenance.go).
	gitMu sync.Mutex
	git   map[string]string
	hubMu sync.Mutex
	hub   map[string]map[string]hubEntry
}

// signature returns the nearest model.sig in dir or a folder above it,
// up to the root, or nil.
func (fs *folders) signature(dir string) *sigView {
	fs.sigMu.Lock()
	defer fs.sigMu.Unlock()
	return fs.sigAt(dir, 0)
}

func (fs *folders) sigAt(dir string, depth int) *sigView {
	if v, ok := fs.sigs[dir]; ok {
		return v
	}
	var v *sigView
	file := filepath.Join(dir, signatureFile)
	if raw, err := readSmall(file, maxSigBytes+1); err == nil {
		if len(raw) > maxSigBytes {
			v = &sigView{Path: file, Dir: dir, digests: map[string]string{}, Unverified: "the bundle is too large to read"}
			v.add("signature.parse_error", pickle.Suspicious, "%s is larger than %d bytes", file, maxSigBytes)
		} else {
			v = parseSignature(raw, file, dir)
			v.verify(fs.trust)
			if fs.hash != nil {
				v.checkFiles(fs.hash)
			}
		}
	} else if depth < 64 && !slices.ContainsFunc(fs.roots, func(r string) bool { return r == dir }) && filepath.Dir(dir) != dir &&
		slices.ContainsFunc(fs.roots, func(r string) bool { return sdk.Within(dir, r) }) {
		v = fs.sigAt(filepath.Dir(dir), depth+1)
	}
	if fs.sigs == nil {
		fs.sigs = map[string]*sigView{}
	}
	fs.sigs[dir] = v
	return v
}

// forFile is the view of a model file's folder; for a Hugging Face hub
// cache blob, that of the snapshot folder that links it, where its card,
// config.json and code are (as links to blobs).
func (fs *folders) forFile(path string) *folderView {
	if v := fs.hubView(path); v != nil {
		return v
	}
	return fs.of(filepath.Dir(path))
}

// hubView is the view of the snapshot folder that links a hub-cache
// blob, or nil for any other file.
func (fs *folders) hubView(path string) *folderView {
	snap, repo, ok := fs.hubFolder(path)
	if !ok {
		return nil
	}
	return fs.view(snap, func() *folderView { return readFolderWith(snap, hubReader(repo), true, nil) })
}

func (fs *folders) of(dir string) *folderView {
	return fs.view(dir, func() *folderView { return readFolder(dir) })
}

func (fs *folders) view(dir string, read func() *folderView) *folderView {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if v, ok := fs.views[dir]; ok {
		return v
	}
	v := read()
	if fs.views == nil {
		fs.views = map[string]*folderView{}
	}
	fs.views[dir] = v
	return v
}

// isFolderFile says whether a change to this file changes the view of
// the models beside it.
func isFolderFile(name string) bool {
	return slices.Contains(cardNames, name) || name == "config.json" || strings.HasSuffix(name, ".py") || name == signatureFile
}

func readFolder(dir string) *folderView {
	return readFolderWith(dir, readSmall, false, nil)
}

// ofListed is of for a folder the walk has just listed: the listing spares
// a second one, and opening names that are not there.
func (fs *folders) ofListed(dir string, entries []entry) *folderView {
	return fs.view(dir, func() *folderView { return readFolderWith(dir, readSmall, false, entries) })
}

// readFolderWith reads a folder's card, config and code with read; links
// says whether links count as files (a hub snapshot is all links).
// entries is the folder's listing, nil to list it here.
func readFolderWith(dir string, read func(string, int64) ([]byte, error), links bool, entries []entry) *folderView {
	v := &folderView{}
	unlisted := false
	if entries == nil {
		var err error
		entries, err = listDir(dir)
		// A folder that can be searched but not listed still has files.
		unlisted = err != nil
	}
	listed := func(name string) bool {
		if unlisted {
			return true
		}
		// Sorted by the walk and by os.ReadDir alike.
		_, found := slices.BinarySearchFunc(entries, name, func(e entry, n string) int { return strings.Compare(e.name, n) })
		return found
	}
	for _, n := range cardNames {
		if !listed(n) {
			continue
		}
		b, err := read(filepath.Join(dir, n), maxCardBytes)
		if err != nil {
			continue
		}
		v.HasModelCard = true
		if err := v.card(b); err != nil {
			v.add("model_card.parse", pickle.Suspicious, "%s: %v", n, err)
		}
		break
	}
	hasConfig := false
	if listed("config.json") {
		if b, err := read(filepath.Join(dir, "config.json"), maxConfigBytes); err == nil {
			hasConfig = true
			v.config(b)
		}
	}
	{
		var py []string
		for i, e := range entries {
			if i >= maxFolderFiles {
				break
			}
			if (e.mode.IsRegular() || links && e.mode&os.ModeSymlink != 0) && strings.HasSuffix(e.name, ".py") {
				py = append(py, e.name)
			}
		}
		switch {
		case len(py) > 0 && hasConfig:
			v.add("hf.remote_code", pickle.High, "Python files in the model folder (%s): transformers runs them when the model is loaded with trust_remote_code=True", clip(strings.Join(py, ", "), 512))
		case len(py) > 0:
			// A project folder with train.py beside a checkpoint: code
			// that travels with the model, but no loader runs it by itself.
			v.add("hf.remote_code", pickle.Suspicious, "Python files beside the weights (%s), without a config.json: not loaded by transformers, but shipped with the model", clip(strings.Join(py, ", "), 512))
		}
	}
	return v
}

func (v *folderView) add(rule string, sev pickle.Severity, format string, args ...any) {
	v.Findings = append(v.Findings, pickle.Finding{Rule: rule, Severity: sev, Detail: fmt.Sprintf(format, args...)})
}

// readSmall reads a regular file (never through a symlink) up to limit.
func readSmall(path string, limit int64) ([]byte, error) {
	f, err := sdk.OpenNoFollow(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	return io.ReadAll(io.LimitReader(f, limit))
}

// card reads the YAML front matter of a model card.
func (v *folderView) card(b []byte) error {
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), maxCardBytes+1)
	if !sc.Scan() || strings.TrimRight(sc.Text(), " \t\r") != "---" {
		return nil // a card without front matter is still a card
	}
	var block bytes.Buffer
	closed := false
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), " \t\r")
		if line == "---" || line == "..." {
			closed = true
			break
		}
		block.WriteString(sc.Text())
		block.WriteByte('\n')
	}
	if !closed {
		return fmt.Errorf("front matter is not closed by ---")
	}
	var doc struct {
		License   any `yaml:"license"`
		BaseModel any `yaml:"base_model"`
		Datasets  any `yaml:"datasets"`
		Source    any `yaml:"source"`
		Homepage  any `yaml:"homepage"`
	}
	if err := yaml.Unmarshal(block.Bytes(), &doc); err != nil {
		return fmt.Errorf("front matter: %w", err)
	}
	v.License = strings.Join(strList(doc.License, 8, 128), " OR ")
	v.BaseModel = strList(doc.BaseModel, maxListed, 256)
	v.Datasets = strList(doc.Datasets, maxListed, 256)
	if src := strList(doc.Source, 1, 512); len(src) > 0 {
		v.Source = cleanRemote(src[0])
	} else if hp := strList(doc.Homepage, 1, 512); len(hp) > 0 {
		v.Source = cleanRemote(hp[0])
	}
	return nil
}

// strList accepts a string or a list of strings.
func strList(x any, n, width int) []string {
	var out []string
	switch x := x.(type) {
	case string:
		if s := strings.TrimSpace(x); s != "" {
			out = append(out, clip(s, width))
		}
	case []any:
		for _, e := range x {
			if s, ok := e.(string); ok && strings.TrimSpace(s) != "" && len(out) < n {
				out = append(out, clip(strings.TrimSpace(s), width))
			}
		}
	}
	return out
}

// config reads a transformers config.json: auto_map points at classes in
// the repository's own Python files.
func (v *folderView) config(b []byte) {
	var cfg struct {
		AutoMap       map[string]any `json:"auto_map"`
		Architectures []string       `json:"architectures"`
		ModelType     string         `json:"model_type"`
	}
	if json.Unmarshal(b, &cfg) != nil {
		return // not every config.json is a transformers one
	}
	if len(cfg.AutoMap) > 0 {
		keys := make([]string, 0, len(cfg.AutoMap))
		for k := range cfg.AutoMap {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		v.add("hf.remote_code", pickle.High, "config.json auto_map (%s) names classes in Python code shipped with the model, run with trust_remote_code=True", clip(strings.Join(keys, ", "), 256))
	}
	switch {
	case len(cfg.Architectures) > 0:
		v.Architecture = clip(cfg.Architectures[0], 128)
	case cfg.ModelType != "":
		v.Architecture = clip(cfg.ModelType, 128)
	}
}

// apply gives a model the view of its folder.
func (v *folderView) apply(a *Attributes) {
	a.HasModelCard = v.HasModelCard
	a.Datasets = slices.Clip(a.Datasets)
	if a.License == "" {
		a.License = v.License
	}
	if a.Architecture == "" {
		a.Architecture = v.Architecture
	}
	a.BaseModel = v.BaseModel
	for _, d := range v.Datasets {
		if !slices.Contains(a.Datasets, d) && len(a.Datasets) < maxListed {
			a.Datasets = append(a.Datasets, d)
		}
	}
	if len(v.Findings) > 0 {
		a.Findings = append(slices.Clip(a.Findings), v.Findings...)
	}
}
