package access

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// maxMarkerCache bounds the folders whose dataset markers are remembered
// during one collection.
const maxMarkerCache = 4096

// assetMapper names the dataset or model an accessed path belongs to,
// with the subject ids the datasets and models plugins emit
// (dataset:<folder>, model:<file>). It looks at the file system as it
// is at collection time, and only at a few marker names per folder
// (never at a folder's listing, which may hold millions of shards).
type assetMapper struct {
	datasetRoots []string
	modelRoots   []string
	marked       map[string]bool
	// fsRoot prefixes the paths looked at on disk (tests use a fixture
	// tree); subjects keep the paths as logged.
	fsRoot string
}

func newAssetMapper(datasetRoots, modelRoots []string, fsRoot string) *assetMapper {
	return &assetMapper{datasetRoots: datasetRoots, modelRoots: modelRoots, marked: map[string]bool{}, fsRoot: fsRoot}
}

// under says whether p is root or lies beneath it.
func under(p, root string) bool {
	return p == root || strings.HasPrefix(p, strings.TrimSuffix(root, "/")+"/")
}

// hidden says whether a path below root has a component starting with ".";
// the datasets and models plugins ignore those.
func hidden(rel string) bool {
	for _, part := range strings.Split(rel, "/") {
		if strings.HasPrefix(part, ".") {
			return true
		}
	}
	return false
}

// inRoots says whether p lies under a dataset or model root.
func (m *assetMapper) inRoots(p string) bool {
	for _, r := range m.datasetRoots {
		if under(p, r) {
			return true
		}
	}
	for _, r := range m.modelRoots {
		if under(p, r) {
			return true
		}
	}
	return false
}

// assetOf returns the subject of the asset p belongs to, or "".
func (m *assetMapper) assetOf(p string) string {
	if p == "" || !filepath.IsAbs(p) {
		return ""
	}
	p = filepath.Clean(p)
	for _, root := range m.modelRoots {
		if p != root && under(p, root) && !hidden(strings.TrimPrefix(p, root+"/")) {
			// One subject per model file (models plugin README).
			return "model:" + p
		}
	}
	for _, root := range m.datasetRoots {
		if !under(p, root) {
			continue
		}
		if d := m.datasetOf(root, p); d != "" {
			return "dataset:" + d
		}
	}
	return ""
}

// datasetOf follows the datasets plugin's rule: the nearest marked
// folder at or above p (up to the root) is the dataset; without one, the
// root's immediate child folder that p is in; a file directly in an
// unmarked root belongs to the root itself.
func (m *assetMapper) datasetOf(root, p string) string {
	rel := strings.TrimPrefix(strings.TrimPrefix(p, root), "/")
	if hidden(rel) {
		return ""
	}
	// Nearest marked ancestor (p itself too, when it is a folder).
	for dir := p; ; dir = filepath.Dir(dir) {
		if m.isMarked(dir) {
			return dir
		}
		if dir == root || len(dir) <= len(root) {
			break
		}
	}
	if rel == "" {
		return ""
	}
	child, _, deeper := strings.Cut(rel, "/")
	if deeper {
		return filepath.Join(root, child)
	}
	// rel names a direct entry of the root: a folder is a dataset, a
	// file belongs to the root. A path that is gone is taken as a file
	// when it has an extension.
	fi, err := os.Stat(m.fsRoot + p)
	if (err == nil && fi.IsDir()) || (err != nil && filepath.Ext(child) == "") {
		return filepath.Join(root, child)
	}
	return root
}

// markerNames make a folder a dataset by their presence alone.
var markerNames = []string{".annexa-dataset", "dataset_info.json", "dataset_dict.json", "DATASHEET.md", "datasheet.md", "Datasheet.md"}

// cardNames make a folder a dataset when they open with YAML front matter.
var cardNames = []string{"README.md", "readme.md", "Readme.md", "dataset_card.md"}

func (m *assetMapper) isMarked(dir string) bool {
	if v, ok := m.marked[dir]; ok {
		return v
	}
	v := markedDir(m.fsRoot + dir)
	if len(m.marked) >= maxMarkerCache {
		clear(m.marked)
	}
	m.marked[dir] = v
	return v
}

func markedDir(dir string) bool {
	for _, n := range markerNames {
		if fi, err := os.Lstat(filepath.Join(dir, n)); err == nil && fi.Mode().IsRegular() {
			return true
		}
	}
	for _, n := range cardNames {
		f, err := os.Open(filepath.Join(dir, n))
		if err != nil {
			continue
		}
		head := make([]byte, 5)
		k, _ := io.ReadFull(f, head)
		f.Close()
		if bytes.HasPrefix(head[:k], []byte("---\n")) || bytes.HasPrefix(head[:k], []byte("---\r\n")) {
			return true
		}
	}
	return false
}
