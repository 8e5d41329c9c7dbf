package models

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/annexa/annexa/plugins/sdk"
)

// reported counts the subjects the state says the agent knows.
func reported(t testing.TB, p *Plugin) int {
	t.Helper()
	dirs := p.state.dirsUnder(context.Background(), "/")
	n := 0
	for _, d := range dirs {
		for _, r := range p.state.dirRows(context.Background(), d) {
			if r.Reported {
				n++
			}
		}
	}
	return n
}

// rescan runs a full collection and returns what it emitted and how many
// files it hashed.
func rescan(t *testing.T, p *Plugin) (recorder, int64) {
	t.Helper()
	before := p.stats.filesHashed.Load()
	var rec recorder
	if err := p.Collect(context.Background(), sdk.Request{Full: true}, &rec); err != nil {
		t.Fatal(err)
	}
	return rec, p.stats.filesHashed.Load() - before
}

func writeFixture(t *testing.T, path, fixture string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "fixtures", fixture))
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Dir(path), 0o750)
	if err := os.WriteFile(path, b, 0o640); err != nil {
		t.Fatal(err)
	}
}

// TestCacheInvalidation: a cached digest is reused only while device,
// inode, size, mtime and ctime are all unchanged; each change below makes
// the file be read and hashed again, and the evidence follows the file.
func TestCacheInvalidation(t *testing.T) {
	root := t.TempDir()
	path := filepath.Join(root, "m", "model.safetensors")
	writeFixture(t, path, "tiny.safetensors")
	p := configured(t, map[string]any{"roots": []string{root}}, t.TempDir())
	if _, n := rescan(t, p); n != 1 {
		t.Fatalf("cold scan hashed %d files", n)
	}
	if _, n := rescan(t, p); n != 0 {
		t.Fatalf("unchanged file hashed again (%d)", n)
	}
	digest := func(rec recorder) string {
		t.Helper()
		if len(rec.recs) != 1 {
			t.Fatalf("emitted %s", rec.summary())
		}
		return attrsOf(t, rec.recs[0]).SHA256
	}
	orig, _ := os.ReadFile(path)
	fi0, _ := os.Stat(path)
	for _, c := range []struct {
		name   string
		change func()
		same   bool // the digest stays (only metadata changed)
	}{
		{"size", func() { os.WriteFile(path, append(append([]byte{}, orig...), 0), 0o640) }, false},
		{"content, same size, mtime put back", func() {
			b := append([]byte{}, orig...)
			b[len(b)-1] ^= 0xff
			os.WriteFile(path, b, 0o640)
			os.Chtimes(path, fi0.ModTime(), fi0.ModTime()) // ctime still moves
		}, false},
		{"mtime only", func() { os.Chtimes(path, time.Now(), time.Now().Add(-time.Hour)) }, true},
		{"ctime only (chmod and back)", func() { os.Chmod(path, 0o600); os.Chmod(path, 0o640) }, true},
		{"replaced by rename (new inode, same bytes, same mtime)", func() {
			fi, _ := os.Stat(path)
			b, _ := os.ReadFile(path)
			tmp := path + ".new"
			os.WriteFile(tmp, b, 0o640)
			os.Chtimes(tmp, fi.ModTime(), fi.ModTime())
			os.Rename(tmp, path)
		}, true},
		{"replaced by rename with other content", func() {
			tmp := path + ".new"
			writeFixture(t, tmp, "tiny.gguf")
			os.Rename(tmp, path)
		}, false},
	} {
		prev, _ := rescan(t, p)
		was := digest(prev)
		c.change()
		rec, n := rescan(t, p)
		if n != 1 {
			t.Errorf("%s: hashed %d files, want 1", c.name, n)
		}
		now := digest(rec)
		data, _ := os.ReadFile(path)
		if want := sha256Hex(data); now != want {
			t.Errorf("%s: digest %s, the file's is %s", c.name, now, want)
		}
		if (now == was) != c.same {
			t.Errorf("%s: digest before %s, after %s", c.name, was, now)
		}
		if _, n := rescan(t, p); n != 0 {
			t.Errorf("%s: hashed again on the next scan", c.name)
		}
	}
	if a := attrsOf(t, func() recorder { r, _ := rescan(t, p); return r }().recs[0]); a.Format != "gguf" {
		t.Errorf("after the swap the model is %q, want gguf", a.Format)
	}
}

// TestCacheAcrossRestartsAndFolderChange: the state survives the plugin
// process; a new model card changes the stored evidence without a read of
// the model.
func TestCacheAcrossRestartsAndFolderChange(t *testing.T) {
	root := t.TempDir()
	state := t.TempDir()
	writeFixture(t, filepath.Join(root, "bert", "model.safetensors"), "tiny.safetensors")
	p := configured(t, map[string]any{"roots": []string{root}}, state)
	rescan(t, p)
	p.state.close()
	p2 := configured(t, map[string]any{"roots": []string{root}}, state)
	rec, n := rescan(t, p2)
	if n != 0 || len(rec.recs) != 1 || attrsOf(t, rec.recs[0]).HasModelCard {
		t.Fatalf("restart: hashed %d, emitted %s", n, rec.summary())
	}
	if got := p2.stats.storedSent.Load(); got != 1 {
		t.Errorf("unchanged model: stored evidence sent %d times, want 1", got)
	}
	os.WriteFile(filepath.Join(root, "bert", "README.md"), []byte("---\nlicense: mit\n---\n# bert\n"), 0o640)
	rec, n = rescan(t, p2)
	if got := p2.stats.storedSent.Load(); got != 1 {
		t.Errorf("after the card changed the stored evidence was sent as it was")
	}
	a := attrsOf(t, rec.recs[0])
	if n != 0 || !a.HasModelCard || a.License != "mit" || a.HashStatus != "ok" {
		t.Errorf("after a card appeared: hashed %d, %+v", n, a)
	}
}

// TestStateDamaged: a state file that is not SQLite, one whose pages are
// overwritten, one whose row values were edited, and one from another
// schema version are each refused (the files are read again) and the
// evidence is right.
func TestStateDamaged(t *testing.T) {
	root := fixtureTree(t)
	want := func(t *testing.T, p *Plugin) {
		t.Helper()
		rec, n := rescan(t, p)
		if len(rec.recs) != 5 {
			t.Errorf("emitted %s", rec.summary())
		}
		if n != 5 {
			t.Errorf("hashed %d files, want all 5", n)
		}
		for _, r := range rec.recs {
			a := attrsOf(t, r)
			data, _ := os.ReadFile(a.Path)
			if a.SHA256 != sha256Hex(data) {
				t.Errorf("%s: digest %s", a.Path, a.SHA256)
			}
		}
		if _, n := rescan(t, p); n != 0 {
			t.Errorf("rebuilt state not used: hashed %d", n)
		}
	}
	prepare := func(t *testing.T) (string, string) {
		state := t.TempDir()
		p := configured(t, map[string]any{"roots": []string{root}}, state)
		rescan(t, p)
		p.state.close()
		return state, filepath.Join(state, stateName)
	}
	t.Run("not sqlite", func(t *testing.T) {
		state, db := prepare(t)
		removeState(db)
		os.WriteFile(db, []byte("this is not a database, it is a text file of some length ......"), 0o600)
		want(t, configured(t, map[string]any{"roots": []string{root}}, state))
	})
	t.Run("pages overwritten", func(t *testing.T) {
		state, db := prepare(t)
		checkpoint(t, db)
		b, _ := os.ReadFile(db)
		for i := 4096 + 100; i < len(b); i++ {
			b[i] = byte(i * 7)
		}
		os.WriteFile(db, b, 0o600)
		want(t, configured(t, map[string]any{"roots": []string{root}}, state))
	})
	t.Run("digest edited", func(t *testing.T) {
		state, db := prepare(t)
		p := configured(t, map[string]any{"roots": []string{root}}, state)
		// The digest's bytes sit after the flags, key and view print.
		if _, err := p.state.write.Exec(`UPDATE files SET data = substr(data, 1, 51) || zeroblob(32) || substr(data, 84) WHERE length(data) > 90`); err != nil {
			t.Fatal(err)
		}
		p.state.close()
		_ = db
		want(t, configured(t, map[string]any{"roots": []string{root}}, state))
	})
	t.Run("other version", func(t *testing.T) {
		state, db := prepare(t)
		p := configured(t, map[string]any{"roots": []string{root}}, state)
		p.state.write.Exec(`PRAGMA user_version = ` + strconv.Itoa(stateVersion+1))
		p.state.close()
		_ = db
		want(t, configured(t, map[string]any{"roots": []string{root}}, state))
	})
	t.Run("analyser changed", func(t *testing.T) {
		state, _ := prepare(t)
		p := configured(t, map[string]any{"roots": []string{root}}, state)
		p.state.write.Exec(`UPDATE meta SET v = v - 1 WHERE k = 'analyzer'`)
		p.state.close()
		p = configured(t, map[string]any{"roots": []string{root}}, state)
		if n := reported(t, p); n != 5 {
			t.Errorf("analyser change forgot the reported subjects: %d left", n)
		}
		want(t, p)
	})
}

// checkpoint moves the WAL into the database file, so damage to the file
// hits the rows.
func checkpoint(t *testing.T, db string) {
	t.Helper()
	s, err := tryOpenState(db, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.write.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
	s.close()
}

// TestOldStateFiles: the hash cache of an earlier version is removed and
// its known models are carried over, so a model deleted meanwhile still
// gets its delete.
func TestOldStateFiles(t *testing.T) {
	root := t.TempDir()
	state := t.TempDir()
	writeFixture(t, filepath.Join(root, "a.safetensors"), "tiny.safetensors")
	gone := filepath.Join(root, "gone.safetensors")
	if err := sdk.SavePathSet(filepath.Join(state, oldKnownFile), map[string]bool{gone: true, filepath.Join(root, "a.safetensors"): true}); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(state, oldCacheName), []byte(`{"version":1,"entries":{}}`), 0o600)
	p := configured(t, map[string]any{"roots": []string{root}}, state)
	for _, f := range []string{oldKnownFile, oldCacheName} {
		if _, err := os.Stat(filepath.Join(state, f)); err == nil {
			t.Errorf("%s left behind", f)
		}
	}
	rec, _ := rescan(t, p)
	if got := rec.summary(); got != "delete gone.safetensors, upsert a.safetensors" {
		t.Errorf("got %s", got)
	}
}

// TestStateMemoryBounded: the plugin's heap after a rescan of a tree of
// 2,000 models is not larger than after one of 200: the state is read a
// folder at a time, not held.
func TestStateMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 2,200 files")
	}
	heapAfter := func(files int) uint64 {
		root := t.TempDir()
		b, _ := os.ReadFile(filepath.Join("testdata", "fixtures", "tiny.safetensors"))
		for i := range files {
			dir := filepath.Join(root, "d"+strconv.Itoa(i%20))
			os.MkdirAll(dir, 0o750)
			os.WriteFile(filepath.Join(dir, "m"+strconv.Itoa(i)+".safetensors"), b, 0o640)
		}
		p := configured(t, map[string]any{"roots": []string{root}}, t.TempDir())
		var peak uint64
		for range 2 {
			var rec countEmitter
			if err := p.Collect(context.Background(), sdk.Request{Full: true}, &rec); err != nil {
				t.Fatal(err)
			}
			if rec.n != files {
				t.Fatalf("emitted %d, want %d", rec.n, files)
			}
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
		p.state.close()
		return peak
	}
	small, large := heapAfter(200), heapAfter(2000)
	t.Logf("heap after 200 files %d KiB, after 2,000 files %d KiB", small>>10, large>>10)
	// Ten times the files: the heap may grow by the Go runtime's noise
	// (tens of KiB), not by a per-file amount (the in-memory cache of
	// earlier versions held over 1 KiB a file: 1,800 more files, 1.8 MiB).
	if large > small+512<<10 {
		t.Errorf("heap after 200 files %d KiB, after 2,000 files %d KiB: it grows with the tree", small>>10, large>>10)
	}
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestFolderRemoved: removing a folder deletes the models of it and of
// every folder below, and nothing of the siblings whose names it prefixes.
func TestFolderRemoved(t *testing.T) {
	root := t.TempDir()
	for _, f := range []string{"bert/a.safetensors", "bert/x/y/b.safetensors", "bert.old/c.safetensors", "bert-2/d.safetensors", "bert0/e.safetensors", "bertz/f.safetensors"} {
		writeFixture(t, filepath.Join(root, f), "tiny.safetensors")
	}
	p := configured(t, map[string]any{"roots": []string{root}}, t.TempDir())
	if rec, _ := rescan(t, p); len(rec.recs) != 6 {
		t.Fatalf("emitted %s", rec.summary())
	}
	os.RemoveAll(filepath.Join(root, "bert"))
	var rec recorder
	if err := p.Collect(context.Background(), sdk.Request{Changed: []string{filepath.Join(root, "bert")}}, &rec); err != nil {
		t.Fatal(err)
	}
	if got := rec.summary(); got != "delete a.safetensors, delete b.safetensors" {
		t.Errorf("incremental: %s", got)
	}
	// A full scan after a folder went while nobody watched.
	os.RemoveAll(filepath.Join(root, "bert.old"))
	rec, _ = rescan(t, p)
	if got := rec.summary(); got != "delete c.safetensors, upsert d.safetensors, upsert e.safetensors, upsert f.safetensors" {
		t.Errorf("full: %s", got)
	}
	if n := reported(t, p); n != 3 {
		t.Errorf("%d subjects known, want 3", n)
	}
}

// TestSymlinkedRoot: a root that is a symlink is walked; a symlink below
// a root is not followed.
func TestSymlinkedRoot(t *testing.T) {
	real := t.TempDir()
	writeFixture(t, filepath.Join(real, "m", "a.safetensors"), "tiny.safetensors")
	other := t.TempDir()
	writeFixture(t, filepath.Join(other, "b.safetensors"), "tiny.safetensors")
	if err := os.Symlink(other, filepath.Join(real, "m", "link")); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(t.TempDir(), "models")
	if err := os.Symlink(real, root); err != nil {
		t.Fatal(err)
	}
	p := configured(t, map[string]any{"roots": []string{root}}, t.TempDir())
	rec, _ := rescan(t, p)
	if got := rec.summary(); got != "upsert a.safetensors" {
		t.Fatalf("got %s", got)
	}
	if a := attrsOf(t, rec.recs[0]); a.Path != filepath.Join(root, "m", "a.safetensors") {
		t.Errorf("path %s, want it under the configured root", a.Path)
	}
	if rec, n := rescan(t, p); len(rec.recs) != 1 || n != 0 {
		t.Errorf("rescan: %s, hashed %d", rec.summary(), n)
	}
}

// FuzzStateRow: a state row decodes to what was encoded, and damaged bytes
// never panic and are refused or decode to a row whose checksum held.
func FuzzStateRow(f *testing.F) {
	r := row{Name: "model.safetensors", Key: fileKey{1, 2, 3, 4, 5}, Model: true, SHA256: sha256Hex([]byte("x")),
		View: 7, Attrs: []byte(`{"path":"/m/model.safetensors"}`), Reported: true, Analysis: []byte(`{"format":"safetensors"}`)}
	f.Add(r.encode("/m"))
	f.Add((&row{Name: "n"}).encode("/"))
	f.Add([]byte{rowFormat})
	f.Fuzz(func(t *testing.T, b []byte) {
		var got row
		if _, err := got.decode("/m", b); err != nil {
			return
		}
		// Whatever decodes encodes back to the same bytes.
		got.Analysis = r.Analysis
		if enc := got.encode("/m"); len(enc) != len(b) {
			t.Errorf("decoded %d bytes, re-encoded %d", len(b), len(enc))
		}
	})
}

func TestStateRowRoundTrip(t *testing.T) {
	r := row{Name: "m.gguf", Key: fileKey{9, 8, 7, 6, 5}, Model: true, SHA256: sha256Hex([]byte("y")), View: 42,
		Attrs: []byte(`{"a":1}`), Reported: true, Analysis: []byte(`{"format":"gguf"}`)}
	b := r.encode("/srv/models")
	var got row
	aSum, err := got.decode("/srv/models", b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != r.Name || got.Key != r.Key || got.SHA256 != r.SHA256 || got.View != r.View || string(got.Attrs) != string(r.Attrs) ||
		!got.Model || !got.Reported || aSum != crc32.Checksum(r.Analysis, crcTable) {
		t.Errorf("round trip: %+v", got)
	}
	if _, err := got.decode("/srv/other", b); err == nil {
		t.Error("a row moved to another folder was accepted")
	}
	for i := range b {
		c := slices.Clone(b)
		c[i] ^= 0x10
		if _, err := (&row{}).decode("/srv/models", c); err == nil {
			t.Errorf("a flipped bit at byte %d was accepted", i)
		}
	}
}

// TestRootRemoved: files of a root no longer configured leave the state
// on the next full collection, and those of the remaining roots (one of
// whose names the removed one prefixes) stay.
func TestRootRemoved(t *testing.T) {
	parent := t.TempDir()
	a, b := filepath.Join(parent, "m"), filepath.Join(parent, "m.old")
	writeFixture(t, filepath.Join(a, "x", "a.safetensors"), "tiny.safetensors")
	writeFixture(t, filepath.Join(b, "b.safetensors"), "tiny.safetensors")
	state := t.TempDir()
	p := configured(t, map[string]any{"roots": []string{a, b}}, state)
	rescan(t, p)
	if n := reported(t, p); n != 2 {
		t.Fatalf("%d known", n)
	}
	p.state.close()
	p = configured(t, map[string]any{"roots": []string{a}}, state)
	rec, n := rescan(t, p)
	if got := rec.summary(); got != "upsert a.safetensors" || n != 0 {
		t.Errorf("got %s, hashed %d", got, n)
	}
	if n := reported(t, p); n != 1 {
		t.Errorf("%d known after the root was removed, want 1", n)
	}
}

func TestOutsideRanges(t *testing.T) {
	got := outsideRanges([]string{"/srv/m", "/data", "/srv/m.old"})
	want := [][2]string{{"", "/data"}, {"/data\x00", "/data/"}, {"/data0", "/srv/m"}, {"/srv/m\x00", "/srv/m.old"},
		{"/srv/m.old\x00", "/srv/m.old/"}, {"/srv/m.old0", "/srv/m/"}, {"/srv/m0", ""}}
	if !slices.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

// A state file of version 1 (no folders table) is upgraded in place: its
// rows are kept, so nothing is read again, and folder prints work after.
func TestStateUpgradeFromVersion1(t *testing.T) {
	root := fixtureTree(t)
	state := t.TempDir()
	p := configured(t, map[string]any{"roots": []string{root}}, state)
	rescan(t, p)
	if _, err := p.state.write.Exec(`DROP TABLE dirs; PRAGMA user_version = 1`); err != nil {
		t.Fatal(err)
	}
	p.state.close()
	p = configured(t, map[string]any{"roots": []string{root}}, state)
	var version int
	p.state.read.QueryRow(`PRAGMA user_version`).Scan(&version)
	if version != stateVersion {
		t.Fatalf("user_version %d after the upgrade, want %d", version, stateVersion)
	}
	if _, n := rescan(t, p); n != 0 {
		t.Errorf("the upgrade lost the rows: %d files hashed again", n)
	}
	e := collectAs(t, p, collectAs(t, p, nil).cp)
	e = collectAs(t, p, e.cp)
	if e.unchanged == nil || e.unchanged.Subjects != 5 || p.stats.foldersSkipped.Load() == 0 {
		t.Errorf("after the upgrade: unchanged %+v, folders skipped %d", e.unchanged, p.stats.foldersSkipped.Load())
	}
}
