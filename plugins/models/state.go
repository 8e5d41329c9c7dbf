package models

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
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
	// stateVersion is the schema; a file of another version is rebuilt
	// (version 1 is upgraded in place: it lacks the folders table).
	stateVersion = 2
	// Files of earlier versions of the plugin, removed when found.
	oldCacheName = "hashcache.json"
	oldKnownFile = "known-models.json"
)

// Each file is one row of packed fields (row.encode), so that the rescan
// of a folder decodes two columns per file rather than a dozen; the
// analysis, needed only when a folder's view changed, is apart.
const stateSchema = `
CREATE TABLE files (
	dir      TEXT NOT NULL,
	name     TEXT NOT NULL,
	data     BLOB NOT NULL,
	analysis BLOB,
	PRIMARY KEY (dir, name)
) WITHOUT ROWID;
CREATE TABLE meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL) WITHOUT ROWID;
` + dirsSchema

// dirsSchema holds one row per folder whose files were all as stored when
// it was last scanned: the print of everything their evidence depends on
// (folderPrint), and how many reported models it holds. A rescan that
// computes the same print skips the folder's rows altogether.
const dirsSchema = `
CREATE TABLE dirs (dir TEXT PRIMARY KEY, data BLOB NOT NULL) WITHOUT ROWID;
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
	// Analysis is the JSON of the file's Analysis (models only), read
	// from the state only when asked for (stateDB.analysis).
	Analysis []byte
	aSum     uint32
	// View fingerprints what the evidence in Attrs took from outside the
	// file (its folder, signature, owner names); Attrs is that evidence.
	View  uint64
	Attrs []byte
	// Reported: the subject model:<path> was last sent as an upsert.
	Reported bool
}

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// The packed fields of a row: a format byte, flags, the key, the view
// print, the digest, the CRC-32C of the analysis, the evidence, and last a
// CRC-32C over all of it with the path, which guards against damage SQLite
// does not see (a flipped bit in a value): a row that fails it is not
// trusted, and the file is read again.
const (
	rowFormat     = 1
	flagModel     = 1
	flagReported  = 2
	rowHeaderSize = 2 + 5*8 + 8 + 1 + 4 + 2
)

func (r *row) encode(dir string) []byte {
	var sha []byte
	if r.SHA256 != "" {
		sha, _ = hex.DecodeString(r.SHA256)
	}
	b := make([]byte, 0, rowHeaderSize+len(sha)+len(r.Name)+len(r.Attrs)+4)
	var flags byte
	if r.Model {
		flags |= flagModel
	}
	if r.Reported {
		flags |= flagReported
	}
	b = append(b, rowFormat, flags)
	for _, v := range []uint64{r.Key.Dev, r.Key.Ino, uint64(r.Key.Size), uint64(r.Key.MtimeNs), uint64(r.Key.CtimeNs), r.View} {
		b = binary.LittleEndian.AppendUint64(b, v)
	}
	b = append(b, byte(len(sha)))
	b = append(b, sha...)
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(r.Analysis, crcTable))
	// The name again, so a folder's rows are read as one column.
	b = binary.LittleEndian.AppendUint16(b, uint16(len(r.Name)))
	b = append(b, r.Name...)
	b = append(b, r.Attrs...)
	return binary.LittleEndian.AppendUint32(b, rowSum(dir, b))
}

func rowSum(dir string, b []byte) uint32 {
	c := crc32.Update(0, crcTable, []byte(dir))
	c = crc32.Update(c, crcTable, []byte{0})
	return crc32.Update(c, crcTable, b)
}

var errRowDamaged = errors.New("state row damaged")

// decode fills r (but its Analysis) from packed fields; aSum is the
// CRC-32C the analysis must have.
func (r *row) decode(dir string, b []byte) (aSum uint32, err error) {
	if len(b) < rowHeaderSize+4 || b[0] != rowFormat {
		return 0, errRowDamaged
	}
	body := b[:len(b)-4]
	if rowSum(dir, body) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return 0, errRowDamaged
	}
	flags := body[1]
	r.Model, r.Reported = flags&flagModel != 0, flags&flagReported != 0
	u := func(i int) uint64 { return binary.LittleEndian.Uint64(body[2+8*i:]) }
	r.Key = fileKey{Dev: u(0), Ino: u(1), Size: int64(u(2)), MtimeNs: int64(u(3)), CtimeNs: int64(u(4))}
	r.View = u(5)
	n := int(body[50])
	if n != 0 && n != sha256.Size || len(body) < rowHeaderSize+n {
		return 0, errRowDamaged
	}
	if n > 0 {
		r.SHA256 = hex.EncodeToString(body[51 : 51+n])
	}
	aSum = binary.LittleEndian.Uint32(body[51+n:])
	nl := int(binary.LittleEndian.Uint16(body[55+n:]))
	if len(body) < rowHeaderSize+n+nl {
		return 0, errRowDamaged
	}
	r.Name = string(body[57+n : 57+n+nl])
	if attrs := body[57+n+nl:]; len(attrs) > 0 {
		r.Attrs = attrs
	}
	return aSum, nil
}

// reusable says whether the row's digest (and analysis) hold for key.
func (r *row) reusable(k fileKey) bool {
	return r.Key == k && (!r.Model || r.SHA256 != "")
}

// stateDB is the open state file. A nil *stateDB (no state folder, or a
// file that could not be opened) caches nothing and every method is safe.
type stateDB struct {
	path  string
	read  *sql.DB
	write *sql.DB
	// The writer's statements, prepared once on the write connection.
	putStmt, delStmt, delDirStmt, putFolderStmt, delFolderStmt *sql.Stmt
	// folderStmt reads a folder's print (once per folder of a rescan).
	folderStmt *sql.Stmt
	log        *slog.Logger
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
	// Each connection has a page cache of its own (2 MiB by default):
	// a bounded pool keeps memory bounded whatever the workers setting.
	s.read.SetMaxOpenConns(maxReaders)
	s.read.SetMaxIdleConns(maxReaders)
	if err := s.migrate(); err != nil {
		s.close()
		return nil, err
	}
	if s.folderStmt, err = s.read.Prepare(`SELECT data FROM dirs WHERE dir = ?`); err != nil {
		s.close()
		return nil, fmt.Errorf("prepare: %w", err)
	}
	for q, st := range map[string]**sql.Stmt{
		putSQL: &s.putStmt,
		`DELETE FROM files WHERE dir = ? AND name = ?`:          &s.delStmt,
		`DELETE FROM files WHERE dir = ?`:                       &s.delDirStmt,
		`INSERT OR REPLACE INTO dirs (dir, data) VALUES (?, ?)`: &s.putFolderStmt,
		`DELETE FROM dirs WHERE dir = ?`:                        &s.delFolderStmt,
	} {
		if *st, err = s.write.Prepare(q); err != nil {
			s.close()
			return nil, fmt.Errorf("prepare: %w", err)
		}
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
		return s.inTx(ctx, stateSchema,
			fmt.Sprintf("INSERT INTO meta (k, v) VALUES ('analyzer', %d)", analyzerVersion),
			fmt.Sprintf("PRAGMA user_version = %d", stateVersion))
	case 1:
		// Version 2 added the folders table.
		if err := s.inTx(ctx, dirsSchema, fmt.Sprintf("PRAGMA user_version = %d", stateVersion)); err != nil {
			return fmt.Errorf("upgrade from version 1: %w", err)
		}
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

// inTx runs statements in one transaction on the write connection.
func (s *stateDB) inTx(ctx context.Context, stmts ...string) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, q := range stmts {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// resetReported forgets every row but the reported ones, which become
// placeholders that never match a file (zero key, no digest): the file is
// read again while its subject stays known.
func resetReported(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT dir, name, data FROM files`)
	if err != nil {
		return err
	}
	var keep [][2]string
	for rows.Next() {
		var r row
		var dir string
		var data []byte
		if err := rows.Scan(&dir, &r.Name, &data); err != nil {
			rows.Close()
			return err
		}
		if _, err := r.decode(dir, data); err == nil && r.Reported {
			keep = append(keep, [2]string{dir, r.Name})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM files`); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM dirs`); err != nil {
		return err
	}
	for _, k := range keep {
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
	for _, st := range []*sql.Stmt{s.putStmt, s.delStmt, s.delDirStmt, s.putFolderStmt, s.delFolderStmt, s.folderStmt} {
		if st != nil {
			st.Close()
		}
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

// dirRows returns what the state knows of the files in dir, by name. A
// row that fails its checksum is left out (its file is read again). It
// reads through the driver rather than database/sql: on a rescan this
// query runs once per folder and its rows are most of the plugin's work.
func (s *stateDB) dirRows(ctx context.Context, dir string) map[string]*row {
	if !s.usable() {
		return nil
	}
	conn, err := s.read.Conn(ctx)
	if err != nil {
		s.failed("read "+dir, err)
		return nil
	}
	defer conn.Close()
	out := map[string]*row{}
	err = conn.Raw(func(dc any) error {
		c, ok := dc.(*sqlite3.SQLiteConn)
		if !ok {
			return fmt.Errorf("driver connection is a %T", dc)
		}
		rows, err := c.QueryContext(ctx, `SELECT data FROM files WHERE dir = ?`, []driver.NamedValue{{Ordinal: 1, Value: dir}})
		if err != nil {
			return err
		}
		defer rows.Close()
		dest := make([]driver.Value, 1)
		for {
			if err := rows.Next(dest); err != nil {
				if errors.Is(err, io.EOF) {
					return nil
				}
				return err
			}
			data, _ := dest[0].([]byte)
			r := &row{}
			aSum, err := r.decode(dir, data)
			if err != nil {
				s.log.Warn("state row damaged; the file is read again", "dir", dir)
				continue
			}
			r.aSum = aSum
			out[r.Name] = r
		}
	})
	if err != nil {
		s.failed("read "+dir, err)
	}
	return out
}

// empty says whether the state has no rows at all (a first scan, or
// collect --once): the folder queries can then be skipped.
func (s *stateDB) empty(ctx context.Context) bool {
	if !s.usable() {
		return true
	}
	var one int
	err := s.read.QueryRowContext(ctx, `SELECT 1 FROM files LIMIT 1`).Scan(&one)
	return errors.Is(err, sql.ErrNoRows)
}

// fileRow returns the row of one file, or nil.
func (s *stateDB) fileRow(ctx context.Context, path string) *row {
	if !s.usable() {
		return nil
	}
	dir, name := filepath.Dir(path), filepath.Base(path)
	rows, err := s.read.QueryContext(ctx, `SELECT name, data FROM files WHERE dir = ? AND name = ?`, dir, name)
	if err != nil {
		s.failed("read "+path, err)
		return nil
	}
	defer rows.Close()
	var r *row
	if rows.Next() {
		r = s.scan(rows, dir)
	}
	if err := rows.Err(); err != nil {
		s.failed("read "+path, err)
	}
	return r
}

func (s *stateDB) scan(rows *sql.Rows, dir string) *row {
	var r row
	var name string
	var data sql.RawBytes
	if err := rows.Scan(&name, &data); err != nil {
		s.failed("read a row of "+dir, err)
		return nil
	}
	aSum, err := r.decode(dir, data)
	if err == nil && r.Name != name {
		err = errRowDamaged
	}
	if err != nil {
		s.log.Warn("state row damaged; the file is read again", "path", filepath.Join(dir, name))
		return nil
	}
	// data is only valid until the next row.
	r.Attrs = slices.Clone(r.Attrs)
	r.aSum = aSum
	return &r
}

// analysis reads the stored analysis of a row, nil if it is missing or
// does not match the row.
func (s *stateDB) analysis(ctx context.Context, dir string, r *row) []byte {
	if !s.usable() {
		return nil
	}
	var b []byte
	if err := s.read.QueryRowContext(ctx, `SELECT analysis FROM files WHERE dir = ? AND name = ?`, dir, r.Name).Scan(&b); err != nil {
		if !errors.Is(err, sql.ErrNoRows) {
			s.failed("read "+dir, err)
		}
		return nil
	}
	if len(b) == 0 || crc32.Checksum(b, crcTable) != r.aSum {
		return nil
	}
	return b
}

// dirsUnder lists every folder with rows that is region or below it. It
// seeks from folder to folder on the primary key rather than reading
// every row: one index lookup per folder.
func (s *stateDB) dirsUnder(ctx context.Context, region string) []string {
	if !s.usable() {
		return nil
	}
	base := strings.TrimSuffix(region, "/")
	hi := base + "0" // '0' follows '/': the end of region's subtree
	stmt, err := s.read.PrepareContext(ctx, `SELECT dir FROM files WHERE dir > ? AND dir < ? ORDER BY dir LIMIT 1`)
	if err != nil {
		s.failed("list folders under "+region, err)
		return nil
	}
	defer stmt.Close()
	var out []string
	var d string
	switch err := s.read.QueryRowContext(ctx, `SELECT dir FROM files WHERE dir = ? LIMIT 1`, region).Scan(&d); {
	case err == nil:
		out = append(out, d)
	case !errors.Is(err, sql.ErrNoRows):
		s.failed("list folders under "+region, err)
		return nil
	}
	// Every folder strictly below region sorts after base+"/" and
	// before base+"0".
	cur := base + "/"
	for {
		err := stmt.QueryRowContext(ctx, cur, hi).Scan(&d)
		if errors.Is(err, sql.ErrNoRows) {
			return out
		}
		if err != nil {
			s.failed("list folders under "+region, err)
			return out
		}
		out = append(out, d)
		// The next folder sorts after every name in this one.
		cur = d + "\x00"
	}
}

const putSQL = `INSERT OR REPLACE INTO files (dir, name, data, analysis) VALUES (?, ?, ?, ?)`

func putRow(ctx context.Context, tx *sql.Tx, dir string, r *row) error {
	_, err := tx.ExecContext(ctx, putSQL, dir, r.Name, r.encode(dir), r.Analysis)
	return err
}

// writer applies the changes of one collection on a goroutine of its
// own, batched into transactions on the one write connection, so that the
// emitter never waits for SQLite.
type writer struct {
	s    *stateDB
	ctx  context.Context
	ops  chan writeOp
	done chan struct{}
	tx   *sql.Tx
	put  *sql.Stmt
	del  *sql.Stmt
	deld *sql.Stmt
	putf *sql.Stmt
	delf *sql.Stmt
	n    int
}

type writeOp struct {
	dir string
	row *row // put
	// folder, when set, records the folder's print (folder ops leave
	// its files alone).
	folder *folderRow
	// unfolder forgets the folder's print.
	unfolder bool
	// meta sets the values of meta keys.
	meta map[string]int64
	name string // delete one (row nil, name set) or the folder (both unset)
	// outside, when set, deletes the rows of every folder outside these
	// roots.
	outside []string
}

// maxReaders bounds the read connections to the state.
const maxReaders = 4

// writeBatch is how many changes one transaction carries.
const writeBatch = 4096

// startWriter starts the writer of a collection; nil state gives a writer
// that drops everything.
func (s *stateDB) startWriter(ctx context.Context) *writer {
	w := &writer{s: s, ctx: ctx, ops: make(chan writeOp, 1024), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for o := range w.ops {
			w.apply(o)
		}
		w.commit()
	}()
	return w
}

func (w *writer) putRow(dir string, r *row) { w.ops <- writeOp{dir: dir, row: r} }
func (w *writer) putFolder(dir string, f *folderRow) {
	w.ops <- writeOp{dir: dir, folder: f}
}
func (w *writer) forgetFolder(dir string)     { w.ops <- writeOp{dir: dir, unfolder: true} }
func (w *writer) setMeta(kv map[string]int64) { w.ops <- writeOp{meta: kv} }
func (w *writer) delete(dir, name string)     { w.ops <- writeOp{dir: dir, name: name} }
func (w *writer) deleteDir(dir string)        { w.ops <- writeOp{dir: dir} }
func (w *writer) close()                      { close(w.ops); <-w.done }

func (w *writer) deleteOutside(roots []string) { w.ops <- writeOp{outside: roots} }

// outsideRanges are the ranges of folder names outside every root, as
// [lo, hi) pairs ("" for no bound). A root covers itself, and its subtree
// from root+"/" up to root+"0" ('0' follows '/').
func outsideRanges(roots []string) [][2]string {
	type span struct{ lo, hi string }
	var in []span
	for _, r := range roots {
		r = strings.TrimSuffix(r, "/")
		in = append(in, span{r, r + "\x00"}, span{r + "/", r + "0"})
	}
	slices.SortFunc(in, func(a, b span) int { return strings.Compare(a.lo, b.lo) })
	var out [][2]string
	lo := ""
	for _, sp := range in {
		if sp.lo > lo {
			out = append(out, [2]string{lo, sp.lo})
		}
		lo = max(lo, sp.hi)
	}
	return append(out, [2]string{lo, ""})
}

func (w *writer) apply(o writeOp) {
	if !w.s.usable() {
		return
	}
	if w.tx == nil {
		tx, err := w.s.write.BeginTx(w.ctx, nil)
		if err != nil {
			w.s.failed("begin", err)
			return
		}
		w.tx = tx
		w.put = tx.StmtContext(w.ctx, w.s.putStmt)
		w.del = tx.StmtContext(w.ctx, w.s.delStmt)
		w.deld = tx.StmtContext(w.ctx, w.s.delDirStmt)
		w.putf = tx.StmtContext(w.ctx, w.s.putFolderStmt)
		w.delf = tx.StmtContext(w.ctx, w.s.delFolderStmt)
	}
	var err error
	switch {
	case o.meta != nil:
		for k, v := range o.meta {
			if _, err = w.tx.ExecContext(w.ctx, `INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)`, k, v); err != nil {
				break
			}
		}
	case o.outside != nil:
	outside:
		for _, g := range outsideRanges(o.outside) {
			for _, table := range []string{"files", "dirs"} {
				q, args := `DELETE FROM `+table+` WHERE dir >= ?`, []any{g[0]}
				if g[1] != "" {
					q, args = q+` AND dir < ?`, append(args, g[1])
				}
				if _, err = w.tx.ExecContext(w.ctx, q, args...); err != nil {
					break outside
				}
			}
		}
	case o.folder != nil:
		_, err = w.putf.ExecContext(w.ctx, o.dir, o.folder.encode(o.dir))
	case o.unfolder:
		_, err = w.delf.ExecContext(w.ctx, o.dir)
	case o.row != nil:
		_, err = w.put.ExecContext(w.ctx, o.dir, o.row.Name, o.row.encode(o.dir), o.row.Analysis)
	case o.name != "":
		_, err = w.del.ExecContext(w.ctx, o.dir, o.name)
	default:
		if _, err = w.deld.ExecContext(w.ctx, o.dir); err == nil {
			_, err = w.delf.ExecContext(w.ctx, o.dir)
		}
	}
	if err != nil {
		w.s.failed("write "+o.dir, err)
		return
	}
	if w.n++; w.n >= writeBatch {
		w.commit()
	}
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

// folderRow is what the state remembers of a folder scanned clean: the
// print of its files and of what their evidence took from outside, and
// how many of them are reported models.
type folderRow struct {
	Print  [folderPrintSize]byte
	Models int
}

const (
	folderPrintSize = 16
	folderFormat    = 1
)

func (f *folderRow) encode(dir string) []byte {
	b := make([]byte, 0, 1+folderPrintSize+4+4)
	b = append(b, folderFormat)
	b = append(b, f.Print[:]...)
	b = binary.LittleEndian.AppendUint32(b, uint32(f.Models))
	return binary.LittleEndian.AppendUint32(b, rowSum(dir, b))
}

func (f *folderRow) decode(dir string, b []byte) error {
	if len(b) != 1+folderPrintSize+4+4 || b[0] != folderFormat {
		return errRowDamaged
	}
	body := b[:len(b)-4]
	if rowSum(dir, body) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return errRowDamaged
	}
	copy(f.Print[:], body[1:])
	f.Models = int(binary.LittleEndian.Uint32(body[1+folderPrintSize:]))
	return nil
}

// folder returns the stored print of dir, or nil.
func (s *stateDB) folder(ctx context.Context, dir string) *folderRow {
	if !s.usable() {
		return nil
	}
	var b []byte
	if err := s.folderStmt.QueryRowContext(ctx, dir).Scan(&b); err != nil {
		if !errors.Is(err, sql.ErrNoRows) {
			s.failed("read "+dir, err)
		}
		return nil
	}
	var f folderRow
	if f.decode(dir, b) != nil {
		s.log.Warn("state row of a folder damaged; its files are compared one by one", "dir", dir)
		return nil
	}
	return &f
}

// meta reads a meta value, 0 when unset.
func (s *stateDB) meta(ctx context.Context, k string) int64 {
	if !s.usable() {
		return 0
	}
	var v int64
	if err := s.read.QueryRowContext(ctx, `SELECT v FROM meta WHERE k = ?`, k).Scan(&v); err != nil && !errors.Is(err, sql.ErrNoRows) {
		s.failed("read "+k, err)
	}
	return v
}

// setMeta writes meta values at once, outside any collection's writer.
func (s *stateDB) setMeta(ctx context.Context, kv map[string]int64) error {
	if !s.usable() {
		return errors.New("no state")
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for k, v := range kv {
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)`, k, v); err != nil {
			return err
		}
	}
	return tx.Commit()
}
