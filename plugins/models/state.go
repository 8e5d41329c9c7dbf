package models

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/mattn/go-sqlite3"

	"github.com/annexa/annexa/plugins/sdk"
)

// The plugin's state is one SQLite file in its state folder: for every
// regular file met under the roots, the key it was seen with, whether it
// is a model, its digest and analysis, the evidence last sent for it and
// whether that subject is known to the agent. Lookups go one folder at a
// time, so memory does not grow with the tree, a rescan of an unchanged
// folder is one query, and only what changed is written.
const (
	stateName = "models-state.db"
	// stateVersion is the schema; a file of another version is rebuilt.
	stateVersion = 1
	// Files of earlier versions of the plugin, removed when found.
	oldCacheName = "hashcache.json"
	oldKnownFile = "known-models.json"
)

const stateSchema = `
CREATE TABLE files (
	dir      TEXT NOT NULL,
	name     TEXT NOT NULL,
	dev      INTEGER NOT NULL,
	ino      INTEGER NOT NULL,
	size     INTEGER NOT NULL,
	mtime_ns INTEGER NOT NULL,
	ctime_ns INTEGER NOT NULL,
	model    INTEGER NOT NULL,
	sha256   TEXT NOT NULL,
	analysis BLOB,
	view     INTEGER NOT NULL,
	attrs    BLOB,
	reported INTEGER NOT NULL,
	sum      INTEGER NOT NULL,
	PRIMARY KEY (dir, name)
) WITHOUT ROWID;
CREATE TABLE meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL) WITHOUT ROWID;
`

// fileKey is what must be unchanged for a cached digest and analysis to be
// reused. ctime is in it because nobody can set it: a tool that restores
// mtime after rewriting a file still moves ctime, and so do chmod and
// chown (the mode and owner in the evidence).
type fileKey struct {
	Dev     uint64
	Ino     uint64
	Size    int64
	MtimeNs int64
	CtimeNs int64
}

func keyOf(fi fs.FileInfo, st sdk.StatInfo) fileKey {
	return fileKey{Dev: st.Dev, Ino: st.Ino, Size: fi.Size(), MtimeNs: fi.ModTime().UnixNano(), CtimeNs: st.CtimeNs}
}

// row is what the state says about one file.
type row struct {
	Name string
	Key  fileKey
	// Model: the file is a model; false rows remember "not a model" so an
	// unchanged file is not sniffed again.
	Model bool
	// SHA256 is the digest for Key, "" when there is none to reuse (a
	// model whose hash is pending or failed: it is read again).
	SHA256 string
	// Analysis is the JSON of the file's Analysis (models only).
	Analysis []byte
	// View fingerprints what the evidence in Attrs took from outside the
	// file (its folder, signature, owner names); Attrs is that evidence.
	View  uint64
	Attrs []byte
	// Reported: the subject model:<path> was last sent as an upsert.
	Reported bool
}

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// sum guards a row against damage SQLite does not see (a flipped bit in
// a value): a row whose sum does not match is not trusted.
func (r *row) sum(dir string) int64 {
	var b [8*5 + 2]byte
	binary.LittleEndian.PutUint64(b[0:], r.Key.Dev)
	binary.LittleEndian.PutUint64(b[8:], r.Key.Ino)
	binary.LittleEndian.PutUint64(b[16:], uint64(r.Key.Size))
	binary.LittleEndian.PutUint64(b[24:], uint64(r.Key.MtimeNs))
	binary.LittleEndian.PutUint64(b[32:], uint64(r.Key.CtimeNs))
	if r.Model {
		b[40] = 1
	}
	if r.Reported {
		b[41] = 1
	}
	c := crc32.Update(0, crcTable, b[:])
	for _, s := range [][]byte{[]byte(dir), {0}, []byte(r.Name), {0}, []byte(r.SHA256), {0}, r.Analysis, {0}, r.Attrs} {
		c = crc32.Update(c, crcTable, s)
	}
	var v [8]byte
	binary.LittleEndian.PutUint64(v[:], r.View)
	c = crc32.Update(c, crcTable, v[:])
	return int64(c)
}

// reusable says whether the row's digest and analysis hold for key.
func (r *row) reusable(k fileKey) bool {
	return r.Key == k && (!r.Model || (r.SHA256 != "" && len(r.Analysis) > 0))
}

// stateDB is the open state file. A nil *stateDB (no state folder, or a
// file that could not be opened) caches nothing and every method is safe.
type stateDB struct {
	path  string
	read  *sql.DB
	write *sql.DB
	log   *slog.Logger
	// broken is set when SQLite reports damage mid-collection: the rest
	// of the collection runs without the cache, and the file is removed.
	broken atomic.Bool
}

// openState opens (or creates) the state file in dir. A file that is
// damaged, not SQLite or of another version is removed and started
// afresh: a cache that cannot be trusted whole is not trusted at all.
func openState(dir string, log *slog.Logger) *stateDB {
	if dir == "" {
		return nil
	}
	for _, old := range []string{oldCacheName} {
		if err := os.Remove(filepath.Join(dir, old)); err == nil {
			log.Info("removed the hash cache of an earlier version", "file", old)
		}
	}
	path := filepath.Join(dir, stateName)
	s, err := tryOpenState(path, log)
	if err != nil {
		log.Warn("state file refused; starting with an empty cache", "path", path, "err", err)
		removeState(path)
		if s, err = tryOpenState(path, log); err != nil {
			log.Warn("cannot create the state file; every scan reads every file", "path", path, "err", err)
			return nil
		}
	}
	s.importKnown(filepath.Join(dir, oldKnownFile))
	return s
}

func removeState(path string) {
	for _, suffix := range []string{"", "-wal", "-shm"} {
		_ = os.Remove(path + suffix)
	}
}

func stateDSN(path string) string {
	// A cache may lose its last commits in a power cut (they are computed
	// again); synchronous=NORMAL in WAL mode never corrupts it.
	return "file:" + path + "?_journal_mode=WAL&_busy_timeout=5000&_synchronous=NORMAL&_txlock=immediate"
}

func tryOpenState(path string, log *slog.Logger) (*stateDB, error) {
	s := &stateDB{path: path, log: log}
	var err error
	if s.write, err = sql.Open("sqlite3", stateDSN(path)); err != nil {
		return nil, err
	}
	s.write.SetMaxOpenConns(1)
	s.write.SetConnMaxIdleTime(0)
	if s.read, err = sql.Open("sqlite3", stateDSN(path)+"&mode=ro"); err != nil {
		s.close()
		return nil, err
	}
	if err := s.migrate(); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

func (s *stateDB) migrate() error {
	ctx := context.Background()
	var mode string
	if err := s.write.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("read journal mode: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("journal mode is %q, not WAL", mode)
	}
	var version int
	if err := s.write.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("read version: %w", err)
	}
	var analyzer int
	switch version {
	case 0:
		tx, err := s.write.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if _, err := tx.ExecContext(ctx, stateSchema); err != nil {
			return fmt.Errorf("create schema: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO meta (k, v) VALUES ('analyzer', ?)`, analyzerVersion); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", stateVersion)); err != nil {
			return err
		}
		return tx.Commit()
	case stateVersion:
	default:
		return fmt.Errorf("written by another version (schema %d, this is %d)", version, stateVersion)
	}
	if err := s.write.QueryRowContext(ctx, `SELECT v FROM meta WHERE k = 'analyzer'`).Scan(&analyzer); err != nil {
		return fmt.Errorf("read analyzer version: %w", err)
	}
	if analyzer != analyzerVersion {
		// What the analyser says changed: digests stay true, analyses do
		// not, and both live in one row; start afresh but keep knowing
		// which subjects were reported, so their deletes are not lost.
		tx, err := s.write.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if _, err := tx.ExecContext(ctx, `DELETE FROM files WHERE reported = 0`); err != nil {
			return err
		}
		if err := resetReported(ctx, tx); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE meta SET v = ? WHERE k = 'analyzer'`, analyzerVersion); err != nil {
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
		s.log.Info("analyser changed: every model is analysed again")
	}
	return nil
}

// resetReported turns every reported row into a placeholder that never
// matches a file (zero key, no digest), so the file is read again while
// the subject stays known.
func resetReported(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT dir, name FROM files`)
	if err != nil {
		return err
	}
	var keys [][2]string
	for rows.Next() {
		var d, n string
		if err := rows.Scan(&d, &n); err != nil {
			rows.Close()
			return err
		}
		keys = append(keys, [2]string{d, n})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, k := range keys {
		if err := putRow(ctx, tx, k[0], &row{Name: k[1], Model: true, Reported: true}); err != nil {
			return err
		}
	}
	return nil
}

// importKnown carries over the subjects an earlier version listed in
// known-models.json, so their deletes are still sent.
func (s *stateDB) importKnown(path string) {
	known, err := sdk.LoadPathSet(path)
	if err != nil || len(known) == 0 {
		_ = os.Remove(path)
		return
	}
	ctx := context.Background()
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return
	}
	defer tx.Rollback()
	for p := range known {
		if !filepath.IsAbs(p) {
			continue
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM files WHERE dir = ? AND name = ?`, filepath.Dir(p), filepath.Base(p)); err != nil {
			return
		}
		if err := putRow(ctx, tx, filepath.Dir(p), &row{Name: filepath.Base(p), Model: true, Reported: true}); err != nil {
			return
		}
	}
	if tx.Commit() == nil {
		_ = os.Remove(path)
		s.log.Info("imported the known models of an earlier version", "count", len(known))
	}
}

func (s *stateDB) close() {
	if s == nil {
		return
	}
	if s.read != nil {
		s.read.Close()
	}
	if s.write != nil {
		s.write.Close()
	}
}

// usable says whether the cache may be consulted.
func (s *stateDB) usable() bool { return s != nil && !s.broken.Load() }

// failed records an error from SQLite: damage stops the cache for the
// rest of the collection (see finish).
func (s *stateDB) failed(what string, err error) {
	var se sqlite3.Error
	if errors.As(err, &se) && (se.Code == sqlite3.ErrCorrupt || se.Code == sqlite3.ErrNotADB) {
		if !s.broken.Swap(true) {
			s.log.Warn("state file is damaged; carrying on without it, it is rebuilt on the next collection", "err", err)
		}
		return
	}
	s.log.Warn("state file: "+what, "err", err)
}

// finish ends a collection: a damaged file is removed, so the next
// collection starts afresh rather than trusting part of it.
func (s *stateDB) finish() *stateDB {
	if s == nil || !s.broken.Load() {
		return s
	}
	s.close()
	removeState(s.path)
	return openState(filepath.Dir(s.path), s.log)
}

const rowColumns = `name, dev, ino, size, mtime_ns, ctime_ns, model, sha256, analysis, view, attrs, reported, sum`

// dirRows returns what the state knows of the files in dir, by name. A
// row that fails its checksum is left out (its file is read again).
func (s *stateDB) dirRows(ctx context.Context, dir string) map[string]*row {
	if !s.usable() {
		return nil
	}
	rows, err := s.read.QueryContext(ctx, `SELECT `+rowColumns+` FROM files WHERE dir = ?`, dir)
	if err != nil {
		s.failed("read "+dir, err)
		return nil
	}
	defer rows.Close()
	out := map[string]*row{}
	for rows.Next() {
		r, ok := s.scan(rows, dir)
		if !ok {
			continue
		}
		out[r.Name] = r
	}
	if err := rows.Err(); err != nil {
		s.failed("read "+dir, err)
	}
	return out
}

// fileRow returns the row of one file, or nil.
func (s *stateDB) fileRow(ctx context.Context, path string) *row {
	if !s.usable() {
		return nil
	}
	dir, name := filepath.Dir(path), filepath.Base(path)
	rows, err := s.read.QueryContext(ctx, `SELECT `+rowColumns+` FROM files WHERE dir = ? AND name = ?`, dir, name)
	if err != nil {
		s.failed("read "+path, err)
		return nil
	}
	defer rows.Close()
	if rows.Next() {
		if r, ok := s.scan(rows, dir); ok {
			return r
		}
	}
	if err := rows.Err(); err != nil {
		s.failed("read "+path, err)
	}
	return nil
}

func (s *stateDB) scan(rows *sql.Rows, dir string) (*row, bool) {
	var r row
	var dev, ino, view, sum int64
	if err := rows.Scan(&r.Name, &dev, &ino, &r.Key.Size, &r.Key.MtimeNs, &r.Key.CtimeNs, &r.Model,
		&r.SHA256, &r.Analysis, &view, &r.Attrs, &r.Reported, &sum); err != nil {
		s.failed("read a row of "+dir, err)
		return nil, false
	}
	r.Key.Dev, r.Key.Ino, r.View = uint64(dev), uint64(ino), uint64(view)
	if r.sum(dir) != sum {
		s.log.Warn("state row damaged; the file is read again", "path", filepath.Join(dir, r.Name))
		return nil, false
	}
	return &r, true
}

// dirsUnder calls fn for every folder with rows that is region or below it.
func (s *stateDB) dirsUnder(ctx context.Context, region string) []string {
	if !s.usable() {
		return nil
	}
	lo := strings.TrimSuffix(region, "/") + "/"
	hi := strings.TrimSuffix(region, "/") + "0" // '0' follows '/'
	rows, err := s.read.QueryContext(ctx, `SELECT DISTINCT dir FROM files WHERE dir = ? OR (dir >= ? AND dir < ?) ORDER BY dir`, region, lo, hi)
	if err != nil {
		s.failed("list folders under "+region, err)
		return nil
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			s.failed("list folders", err)
			return out
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		s.failed("list folders", err)
	}
	return out
}

func putRow(ctx context.Context, tx *sql.Tx, dir string, r *row) error {
	_, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO files (dir, `+rowColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		dir, r.Name, int64(r.Key.Dev), int64(r.Key.Ino), r.Key.Size, r.Key.MtimeNs, r.Key.CtimeNs, r.Model,
		r.SHA256, r.Analysis, int64(r.View), r.Attrs, r.Reported, r.sum(dir))
	return err
}

// writer batches the changes of one collection into transactions on the
// one write connection. It is used from one goroutine.
type writer struct {
	s   *stateDB
	ctx context.Context
	tx  *sql.Tx
	put *sql.Stmt
	n   int
}

// writeBatch is how many changes one transaction carries.
const writeBatch = 4096

func (s *stateDB) writer(ctx context.Context) *writer {
	return &writer{s: s, ctx: ctx}
}

func (w *writer) begin() bool {
	if !w.s.usable() {
		return false
	}
	if w.tx != nil {
		return true
	}
	tx, err := w.s.write.BeginTx(w.ctx, nil)
	if err != nil {
		w.s.failed("begin", err)
		return false
	}
	w.tx = tx
	return true
}

func (w *writer) done(what string, err error) {
	if err != nil {
		w.s.failed(what, err)
		return
	}
	if w.n++; w.n >= writeBatch {
		w.commit()
	}
}

func (w *writer) putRow(dir string, r *row) {
	if !w.begin() {
		return
	}
	w.done("write "+dir, putRow(w.ctx, w.tx, dir, r))
}

func (w *writer) delete(dir, name string) {
	if !w.begin() {
		return
	}
	_, err := w.tx.ExecContext(w.ctx, `DELETE FROM files WHERE dir = ? AND name = ?`, dir, name)
	w.done("delete from "+dir, err)
}

func (w *writer) deleteDir(dir string) {
	if !w.begin() {
		return
	}
	_, err := w.tx.ExecContext(w.ctx, `DELETE FROM files WHERE dir = ?`, dir)
	w.done("forget "+dir, err)
}

func (w *writer) commit() {
	if w.tx == nil {
		return
	}
	if err := w.tx.Commit(); err != nil {
		w.s.failed("commit", err)
	}
	w.tx, w.n = nil, 0
}
