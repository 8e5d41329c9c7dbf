package models

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/annexa/annexa/plugins/sdk"
)

// Provenance: where a model came from (source, third_party), whether the
// operator approved its exact bytes (pinned), and whether it is what an
// inference host serves (deployed). Supply-chain controls (27001 5.19–5.21,
// 42001 A.10.3) and change management (27001 8.32, 42001 A.6.2.5) judge
// these. Every value comes from evidence on the host or from the
// operator's settings; nothing is fetched.

const (
	maxPinsBytes     = 16 << 20
	maxGitConfig     = 64 << 10
	maxHubSnapshots  = 64
	maxSnapshotFiles = 4096
)

// provenance holds the operator's provenance settings, ready to apply.
type provenance struct {
	// sources maps an absolute folder to the source of every model under it.
	sources  map[string]string
	deployed []string
	pinsFile string
	inline   map[string]bool
	mu       sync.Mutex
	pins     map[string]bool
}

// newProvenance checks the provenance settings; errors name the field.
func newProvenance(s *Settings) (*provenance, sdk.FieldErrors) {
	var fe sdk.FieldErrors
	pv := &provenance{sources: map[string]string{}, inline: map[string]bool{}, pinsFile: s.PinnedDigestsFile}
	for dir, src := range s.Sources {
		f := fmt.Sprintf("sources[%q]", dir)
		switch {
		case !filepath.IsAbs(dir):
			fe = append(fe, sdk.FieldError{Field: f, Message: "the key must be an absolute folder"})
		case strings.TrimSpace(src) == "":
			fe = append(fe, sdk.FieldError{Field: f, Message: `is empty: name the supplier (e.g. "huggingface:org/name", "vendor:acme") or "internal"`})
		default:
			pv.sources[filepath.Clean(dir)] = clip(strings.TrimSpace(src), 512)
		}
	}
	for i, d := range s.DeployedRoots {
		f := fmt.Sprintf("deployed_roots[%d]", i)
		if !filepath.IsAbs(d) {
			fe = append(fe, sdk.FieldError{Field: f, Message: fmt.Sprintf("%q is not an absolute path", d)})
			continue
		}
		d = filepath.Clean(d)
		if !slices.ContainsFunc(s.Roots, func(r string) bool { return sdk.Within(d, r) || sdk.Within(r, d) }) {
			fe = append(fe, sdk.FieldError{Field: f, Message: fmt.Sprintf("%s is not under any of roots, so no model there is ever seen; add it to roots", d)})
			continue
		}
		pv.deployed = append(pv.deployed, d)
	}
	for i, d := range s.PinnedDigests {
		d = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(d, "sha256:")))
		if b, err := hex.DecodeString(d); err != nil || len(b) != 32 {
			fe = append(fe, sdk.FieldError{Field: fmt.Sprintf("pinned_digests[%d]", i), Message: "must be a SHA-256 in hex (64 digits, optionally prefixed sha256:)"})
			continue
		}
		pv.inline[d] = true
	}
	if s.PinnedDigestsFile != "" {
		if !filepath.IsAbs(s.PinnedDigestsFile) {
			fe = append(fe, sdk.FieldError{Field: "pinned_digests_file", Message: fmt.Sprintf("%q is not an absolute path", s.PinnedDigestsFile)})
		} else if pins, err := readPins(s.PinnedDigestsFile); err != nil {
			fe = append(fe, sdk.FieldError{Field: "pinned_digests_file", Message: err.Error()})
		} else {
			pv.pins = pins
		}
	}
	return pv, fe
}

// readPins reads an approved-digest list in sha256sum's format: "<hex>
// <name>" (or "<hex> *<name>"), blank lines and # comments allowed; the
// name is the operator's note and is not compared with the file's path,
// since an approved model may be copied anywhere.
func readPins(path string) (map[string]bool, error) {
	b, err := readConfigFile(path, maxPinsBytes+1)
	if err != nil {
		return nil, fmt.Errorf("cannot read the approved-digest list: %w", err)
	}
	if len(b) > maxPinsBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxPinsBytes)
	}
	return parsePins(b, path)
}

func parsePins(b []byte, path string) (map[string]bool, error) {
	pins := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		d, _, _ := strings.Cut(line, " ")
		d = strings.ToLower(strings.TrimPrefix(d, "\\"))
		if h, err := hex.DecodeString(d); err != nil || len(h) != 32 {
			return nil, fmt.Errorf("%s line %d: %q does not start with a SHA-256 in hex (the format of sha256sum's output)", path, n, clip(line, 80))
		}
		pins[d] = true
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return pins, nil
}

// refresh rereads the approved-digest list at the start of a collection,
// so an operator's approval shows without restarting the agent. A list
// that cannot be read now keeps the last one read, with a warning: a
// passing read glitch must not unpin the fleet.
func (pv *provenance) refresh(log *slog.Logger) {
	if pv == nil || pv.pinsFile == "" {
		return
	}
	pins, err := readPins(pv.pinsFile)
	pv.mu.Lock()
	defer pv.mu.Unlock()
	if err != nil {
		log.Warn("keeping the approved-digest list read before", "file", pv.pinsFile, "err", err)
		return
	}
	pv.pins = pins
}

// print writes the approved digests, sorted, to w.
func (pv *provenance) print(w io.Writer) {
	if pv == nil {
		return
	}
	pv.mu.Lock()
	all := make([]string, 0, len(pv.pins)+len(pv.inline))
	for d := range pv.pins {
		all = append(all, "f"+d)
	}
	for d := range pv.inline {
		all = append(all, "i"+d)
	}
	pv.mu.Unlock()
	slices.Sort(all)
	for _, d := range all {
		io.WriteString(w, d+"\n")
	}
}

func (pv *provenance) pinned(sum string) bool {
	if sum == "" {
		return false
	}
	pv.mu.Lock()
	defer pv.mu.Unlock()
	return pv.inline[sum] || pv.pins[sum]
}

// apply sets source, third_party, pinned and deployed.
func (pv *provenance) apply(a *Attributes, fv *folders) {
	if pv == nil {
		return
	}
	a.Pinned = a.HashStatus == "ok" && pv.pinned(a.SHA256)
	a.Deployed = slices.ContainsFunc(pv.deployed, func(d string) bool { return sdk.Within(a.Path, d) })
	switch {
	case pv.configured(a):
	case hubSource(a, fv):
	case fv != nil && fv.gitSource(a):
	default:
		// The card's own statement comes last: machine evidence first.
		if fv != nil {
			if src := fv.forFile(a.Path).Source; src != "" {
				a.Source, a.SourceFrom = src, "model_card"
			}
		}
	}
	a.ThirdParty = a.Source != "" && a.Source != "internal" && !strings.HasPrefix(a.Source, "internal:")
}

// configured applies the longest sources entry that holds the model.
func (pv *provenance) configured(a *Attributes) bool {
	best := ""
	for dir := range pv.sources {
		if sdk.Within(a.Path, dir) && len(dir) > len(best) {
			best = dir
		}
	}
	if best == "" {
		return false
	}
	a.Source, a.SourceFrom = pv.sources[best], "config"
	return true
}

// hubSource recognises the Hugging Face hub cache layout,
// <cache>/models--<org>--<name>/{blobs/<etag>, snapshots/<rev>/<file>}:
// the files are blobs, and each snapshot (a commit) links its file names
// to them. The walk never follows links, so a model is met as a blob; its
// revision is that of the snapshot that links it (the one refs/main names
// when several do).
func hubSource(a *Attributes, fv *folders) bool {
	if !strings.Contains(a.Path, "models--") {
		// Runs for every unchanged model of a rescan: no split for the
		// paths that cannot match.
		return false
	}
	parts := strings.Split(a.Path, "/")
	for i := len(parts) - 2; i >= 0; i-- {
		id, ok := hubRepoID(parts[i])
		if !ok {
			continue
		}
		repo := strings.Join(parts[:i+1], "/")
		rev := ""
		switch {
		case parts[i+1] == "snapshots" && i+2 < len(parts)-1:
			rev = parts[i+2]
		case parts[i+1] == "blobs" && i+2 == len(parts)-1:
			rev = fv.hubOf(repo)[parts[i+2]].rev
		}
		a.Source, a.SourceFrom = "huggingface:"+id, "hf_cache"
		if rev != "" {
			a.Source += "@" + rev
		}
		return true
	}
	return false
}

// hubRepoID turns "models--org--name" into "org/name".
func hubRepoID(dir string) (string, bool) {
	rest, ok := strings.CutPrefix(dir, "models--")
	if !ok || rest == "" {
		return "", false
	}
	return strings.ReplaceAll(rest, "--", "/"), true
}

// hubEntry is where a blob is linked from: the snapshot (commit) and
// the folder of the link.
type hubEntry struct{ rev, dir string }

// hubIndex maps each blob of a hub-cache repository to the snapshot that
// links it, preferring the commit refs/main names, else the first by
// name. Links are read, never followed; at most maxHubSnapshots
// snapshots of maxSnapshotFiles entries each are read.
func hubIndex(repo string) map[string]hubEntry {
	idx := map[string]hubEntry{}
	snaps, err := os.ReadDir(filepath.Join(repo, "snapshots"))
	if err != nil {
		return idx
	}
	main := ""
	if b, err := readSmall(filepath.Join(repo, "refs", "main"), 128); err == nil {
		main = strings.TrimSpace(string(b))
	}
	var revs []string
	for i, s := range snaps {
		if i < maxHubSnapshots && s.IsDir() {
			revs = append(revs, s.Name())
		}
	}
	slices.Sort(revs)
	// refs/main first: the first snapshot to claim a blob keeps it.
	if k := slices.Index(revs, main); k > 0 {
		revs = append([]string{main}, slices.Delete(revs, k, k+1)...)
	}
	for _, rev := range revs {
		n := 0
		filepath.WalkDir(filepath.Join(repo, "snapshots", rev), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if n++; n > maxSnapshotFiles {
				return filepath.SkipAll
			}
			if d.Type()&fs.ModeSymlink != 0 {
				if b := hubBlob(repo, p); b != "" {
					if _, seen := idx[filepath.Base(b)]; !seen {
						idx[filepath.Base(b)] = hubEntry{rev: clip(rev, 128), dir: filepath.Dir(p)}
					}
				}
			}
			return nil
		})
	}
	return idx
}

// hubBlob resolves a snapshot link lexically to the blob it names, or ""
// when it points anywhere but the repository's blobs folder.
func hubBlob(repo, link string) string {
	t, err := os.Readlink(link)
	if err != nil {
		return ""
	}
	if !filepath.IsAbs(t) {
		t = filepath.Join(filepath.Dir(link), t)
	}
	t = filepath.Clean(t)
	if filepath.Dir(t) != filepath.Join(repo, "blobs") {
		return ""
	}
	return t
}

// hubOf is the repository's hub index, built once per collection (a nil
// folders builds it afresh).
func (fs *folders) hubOf(repo string) map[string]hubEntry {
	if fs == nil {
		return hubIndex(repo)
	}
	fs.hubMu.Lock()
	defer fs.hubMu.Unlock()
	if idx, ok := fs.hub[repo]; ok {
		return idx
	}
	if fs.hub == nil {
		fs.hub = map[string]map[string]hubEntry{}
	}
	fs.hub[repo] = hubIndex(repo)
	return fs.hub[repo]
}

// hubFolder is the snapshot folder whose links name a hub-cache blob, and
// the repository folder; ok is false for any other file.
func (fs *folders) hubFolder(path string) (snapDir, repo string, ok bool) {
	if !strings.Contains(path, "/models--") {
		return "", "", false
	}
	blobs := filepath.Dir(path)
	repo = filepath.Dir(blobs)
	if filepath.Base(blobs) != "blobs" {
		return "", "", false
	}
	if _, ok := hubRepoID(filepath.Base(repo)); !ok {
		return "", "", false
	}
	snapDir = fs.hubOf(repo)[filepath.Base(path)].dir
	return snapDir, repo, snapDir != ""
}

// hubReader reads a snapshot's file: a link is followed only to a blob
// of the same repository, read without following anything further.
func hubReader(repo string) func(string, int64) ([]byte, error) {
	return func(path string, limit int64) ([]byte, error) {
		fi, err := os.Lstat(path)
		if err != nil {
			return nil, err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			return readSmall(path, limit)
		}
		blob := hubBlob(repo, path)
		if blob == "" {
			return nil, fmt.Errorf("%s links outside the repository's blobs", path)
		}
		return readSmall(blob, limit)
	}
}

// gitSource names the remote of the git checkout holding the model (a
// clone of a Hugging Face or in-house repository): .git/config is read as
// text, never by running git. Credentials in the URL are dropped.
func (fs *folders) gitSource(a *Attributes) bool {
	src := fs.gitAt(filepath.Dir(a.Path), 0)
	if src == "" {
		return false
	}
	a.Source, a.SourceFrom = src, "git"
	return true
}

func (fs *folders) gitAt(dir string, depth int) string {
	fs.gitMu.Lock()
	if s, ok := fs.git[dir]; ok {
		fs.gitMu.Unlock()
		return s
	}
	fs.gitMu.Unlock()
	src := ""
	if fi, err := os.Lstat(filepath.Join(dir, ".git")); err == nil && fi.IsDir() {
		src = gitRemote(filepath.Join(dir, ".git"))
	} else if depth < 64 && !slices.Contains(fs.roots, dir) && filepath.Dir(dir) != dir &&
		slices.ContainsFunc(fs.roots, func(r string) bool { return sdk.Within(dir, r) }) {
		src = fs.gitAt(filepath.Dir(dir), depth+1)
	}
	fs.gitMu.Lock()
	if fs.git == nil {
		fs.git = map[string]string{}
	}
	fs.git[dir] = src
	fs.gitMu.Unlock()
	return src
}

// gitRemote reads origin's URL (else the first remote's) and the commit
// checked out, from a .git folder.
func gitRemote(gitDir string) string {
	b, err := readSmall(filepath.Join(gitDir, "config"), maxGitConfig)
	if err != nil {
		return ""
	}
	remote := parseGitRemote(b)
	if remote == "" {
		return ""
	}
	src := "git:" + remote
	if id, ok := hubURL(remote); ok {
		src = "huggingface:" + id
	}
	if rev := gitHead(gitDir); rev != "" {
		src += "@" + rev
	}
	return src
}

// parseGitRemote returns origin's url, else the first remote's, cleaned
// of credentials.
func parseGitRemote(b []byte) string {
	var first, origin, section string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), maxGitConfig)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "[") {
			section = strings.ToLower(strings.Join(strings.Fields(strings.Trim(line, "[]")), " "))
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "url") || !strings.HasPrefix(section, "remote ") {
			continue
		}
		v = strings.Trim(strings.TrimSpace(v), `"`)
		if first == "" {
			first = v
		}
		if section == `remote "origin"` && origin == "" {
			origin = v
		}
	}
	if origin != "" {
		first = origin
	}
	return cleanRemote(first)
}

// cleanRemote drops user and password from a remote URL: a token in a
// clone URL must never reach the evidence.
func cleanRemote(raw string) string {
	if raw == "" {
		return ""
	}
	if u, err := url.Parse(raw); err == nil && u.Scheme != "" && u.Host != "" {
		u.User = nil
		u.RawQuery, u.Fragment = "", ""
		return clip(u.String(), 512)
	}
	// scp-like syntax, user@host:path: the user is not a secret, but
	// anything before the host could be.
	if host, _, ok := strings.Cut(raw, ":"); ok && !strings.Contains(host, "/") {
		if i := strings.LastIndex(host, "@"); i >= 0 {
			raw = raw[i+1:]
		}
	}
	return clip(raw, 512)
}

// hubURL recognises https://huggingface.co/<org>/<name> (model repos).
func hubURL(remote string) (string, bool) {
	u, err := url.Parse(remote)
	if err != nil || (u.Host != "huggingface.co" && u.Host != "hf.co") {
		return "", false
	}
	p := strings.Trim(strings.TrimSuffix(u.Path, ".git"), "/")
	if strings.HasPrefix(p, "datasets/") || strings.HasPrefix(p, "spaces/") || p == "" {
		return "", false
	}
	return p, true
}

// gitHead reads the commit HEAD names: detached, or through a loose or
// packed ref.
func gitHead(gitDir string) string {
	b, err := readSmall(filepath.Join(gitDir, "HEAD"), 512)
	if err != nil {
		return ""
	}
	head := strings.TrimSpace(string(b))
	ref, ok := strings.CutPrefix(head, "ref: ")
	if !ok {
		return commitID(head)
	}
	ref = filepath.Clean(ref)
	if !strings.HasPrefix(ref, "refs/") {
		return ""
	}
	if b, err := readSmall(filepath.Join(gitDir, filepath.FromSlash(ref)), 512); err == nil {
		return commitID(strings.TrimSpace(string(b)))
	}
	b, err = readSmall(filepath.Join(gitDir, "packed-refs"), maxGitConfig)
	if err != nil {
		return ""
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if id, name, ok := strings.Cut(strings.TrimSpace(line), " "); ok && name == ref {
			return commitID(id)
		}
	}
	return ""
}

func commitID(s string) string {
	if b, err := hex.DecodeString(s); err == nil && (len(b) == 20 || len(b) == 32) {
		return strings.ToLower(s)
	}
	return ""
}

// hubRegion maps a change inside a hub-cache snapshot (a new commit's
// links, a card) to the repository's blobs, where its models are met:
// their revision and folder view come from the snapshots.
func hubRegion(changed string) string {
	parts := strings.Split(changed, "/")
	for i := len(parts) - 2; i > 0; i-- {
		if _, ok := hubRepoID(parts[i]); ok && parts[i+1] == "snapshots" {
			return strings.Join(parts[:i+1], "/") + "/blobs"
		}
	}
	return changed
}
