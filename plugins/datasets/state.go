package datasets

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/annexa/annexa/plugins/sdk"
)

// knownFile lists the datasets last reported, in the state folder.
const knownFile = "known-datasets.json"

// maxKnownBytes bounds the known list we read back (a million paths).
const maxKnownBytes = 256 << 20

type knownDoc struct {
	Version  int      `json:"version"`
	Datasets []string `json:"datasets"`
}

// loadKnown reads the known list. A missing or damaged one is empty: the
// cost is that an incremental collection may miss a delete, which the
// next full collection settles.
func (p *Plugin) loadKnown() map[string]bool {
	known := map[string]bool{}
	if p.stateDir == "" {
		return known
	}
	path := filepath.Join(p.stateDir, knownFile)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return known
	}
	if err != nil {
		p.log.Warn("cannot read known datasets", "file", path, "err", err)
		return known
	}
	defer f.Close()
	var doc knownDoc
	dec := json.NewDecoder(&limitedReader{r: f, n: maxKnownBytes})
	if err := dec.Decode(&doc); err != nil || doc.Version != 1 {
		p.log.Warn("known datasets list is damaged; starting afresh", "file", path, "err", err)
		return known
	}
	for _, d := range doc.Datasets {
		if filepath.IsAbs(d) {
			known[filepath.Clean(d)] = true
		}
	}
	return known
}

type limitedReader struct {
	r interface{ Read([]byte) (int, error) }
	n int64
}

func (l *limitedReader) Read(b []byte) (int, error) {
	if l.n <= 0 {
		return 0, errors.New("file is larger than the limit")
	}
	if int64(len(b)) > l.n {
		b = b[:l.n]
	}
	n, err := l.r.Read(b)
	l.n -= int64(n)
	return n, err
}

func (p *Plugin) saveKnown() {
	if p.stateDir == "" {
		return
	}
	doc := knownDoc{Version: 1, Datasets: make([]string, 0, len(p.known))}
	for k := range p.known {
		doc.Datasets = append(doc.Datasets, k)
	}
	slices.Sort(doc.Datasets)
	b, err := json.Marshal(doc)
	if err == nil {
		err = sdk.WriteFileAtomic(filepath.Join(p.stateDir, knownFile), b)
	}
	if err != nil {
		p.log.Warn("cannot save known datasets", "err", err)
	}
}

// pruneCaches removes hash caches of datasets no longer reported, and
// temp files a crash left behind.
func (p *Plugin) pruneCaches() {
	if p.stateDir == "" {
		return
	}
	dir := filepath.Join(p.stateDir, "hashcache")
	keep := map[string]bool{}
	for k := range p.known {
		keep[filepath.Base(cacheFile(p.stateDir, k))] = true
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !keep[e.Name()] {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}
