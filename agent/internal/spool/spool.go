// Package spool is the agent's outbox: a SQLite file in which evidence is
// committed before it counts as collected, and from which the shipper takes
// it in sequence order, deleting rows only once the collector has stored
// them. It survives a killed process and a power loss (WAL with
// synchronous=FULL), keeps its space in proportion to the inventory by
// coalescing state records per subject, and refuses new records, rather
// than dropping old ones, when it reaches its size cap.
package spool

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/annexa/annexa/evidence"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// ErrFull is returned by Commit when the spool has reached its size cap.
// Nothing of that commit is stored; the caller pauses collection until
// shipping frees space.
var ErrFull = errors.New("spool is full")

// DefaultMaxBytes is the size cap when Options.MaxBytes is zero.
const DefaultMaxBytes int64 = 1 << 30

// rowOverhead approximates what SQLite spends on a row beyond its text and
// blobs (integers, record header, index entry), so that many tiny records
// still count for something against the cap.
const rowOverhead = 64

// reserveSize is kept on disk beside the spool and given back when the
// disk fills, so that deleting acked rows, which needs WAL space too, can
// still commit (the OpenTelemetry Collector's disk queue deadlocked there).
const reserveSize = 4 << 20

// timeFormat is fixed-width so that stored times sort as text.
const timeFormat = "2006-01-02T15:04:05.000000000Z07:00"

// Options tune a spool.
type Options struct {
	// MaxBytes caps the bytes of stored rows, outbox and quarantine
	// together; 0 means DefaultMaxBytes.
	MaxBytes int64
	Logger   *slog.Logger
}

// Stats describe the spool for health reports.
type Stats struct {
	Records int64 `json:"records"`
	Bytes   int64 `json:"bytes"`
	// OldestUnsent is when the oldest record still waiting was committed;
	// zero if there is none.
	OldestUnsent     time.Time `json:"oldest_unsent,omitzero"`
	Quarantined      int64     `json:"quarantined"`
	QuarantinedBytes int64     `json:"quarantined_bytes"`
	LastShippedAt    time.Time `json:"last_shipped_at,omitzero"`
	// LastSeq is the highest sequence number this spool ever issued.
	LastSeq  uint64 `json:"last_seq"`
	MaxBytes int64  `json:"max_bytes"`
	// Full is true while Commit refuses records for want of space.
	Full bool `json:"full"`
}

// Spool is an open outbox. Its methods are safe for concurrent use; writes
// go through a single connection and so queue in Go rather than on the
// file lock.
type Spool struct {
	path     string
	write    *sql.DB
	read     *sql.DB
	log      *slog.Logger
	maxBytes int64
	now      func() time.Time

	// reserveMu guards giving back and re-creating the reserve file.
	reserveMu sync.Mutex
	// reserveGone is set once the reserve was given back; acks then try
	// to put it back, at most once a minute.
	reserveGone    bool
	reserveTriedAt time.Time
}

func dsn(path, extra string) string {
	return "file:" + (&url.URL{Path: path}).EscapedPath() +
		"?_journal_mode=WAL&_busy_timeout=10000&_synchronous=FULL&_foreign_keys=on" + extra
}

// Open opens or creates the spool at path and brings its schema up to date.
func Open(path string, opts Options) (*Spool, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	s := &Spool{path: path, log: opts.Logger, maxBytes: opts.MaxBytes, now: time.Now}
	if err := s.open(context.Background()); err != nil {
		s.Close()
		return nil, fmt.Errorf("open spool %s: %w", path, err)
	}
	return s, nil
}

func (s *Spool) open(ctx context.Context) error {
	var err error
	// _txlock=immediate takes the write lock at BEGIN, so another process
	// (`annexa-agent status`) waits on busy_timeout instead of failing when
	// a reader would upgrade to a writer.
	if s.write, err = sql.Open("sqlite3", dsn(s.path, "&_txlock=immediate")); err != nil {
		return err
	}
	s.write.SetMaxOpenConns(1)
	s.write.SetConnMaxIdleTime(0)
	s.write.SetConnMaxLifetime(0)
	var mode string
	if err := s.write.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("read journal mode: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		// Refuse rather than run with durability nobody tested.
		return fmt.Errorf("journal mode is %q, not WAL; is the state folder on a network file system?", mode)
	}
	var sync int
	if err := s.write.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil {
		return fmt.Errorf("read synchronous: %w", err)
	}
	if sync != 2 {
		return fmt.Errorf("synchronous is %d, not FULL (2)", sync)
	}
	if err := s.migrate(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if s.read, err = sql.Open("sqlite3", dsn(s.path, "")); err != nil {
		return err
	}
	s.read.SetMaxOpenConns(4)
	s.ensureReserve()
	return nil
}

// Close closes the spool; it is safe after a partial Open.
func (s *Spool) Close() error {
	var errs []error
	if s.read != nil {
		errs = append(errs, s.read.Close())
	}
	if s.write != nil {
		errs = append(errs, s.write.Close())
	}
	return errors.Join(errs...)
}

// migrate applies each embedded migration not yet recorded, each in its own
// transaction, so a failure leaves the schema at a known version.
func (s *Spool) migrate(ctx context.Context) error {
	if _, err := s.write.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		version, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return fmt.Errorf("migration %s: name must start with a number", base)
		}
		if err := s.migrateOne(ctx, version, name, base); err != nil {
			return err
		}
	}
	return nil
}

func (s *Spool) migrateOne(ctx context.Context, version int, name, base string) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, version).Scan(&n); err != nil {
		return fmt.Errorf("migration %s: %w", base, err)
	}
	if n > 0 {
		return nil
	}
	body, err := migrationFS.ReadFile(name)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, string(body)); err != nil {
		return fmt.Errorf("migration %s: %w", base, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		version, base, time.Now().UTC().Format(time.RFC3339)); err != nil {
		return fmt.Errorf("migration %s: %w", base, err)
	}
	return tx.Commit()
}

type counters struct {
	lastSeq, records, bytes, quarantined, quarantineBytes, lastShippedAt int64
}

func readCounters(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (counters, error) {
	var c counters
	err := q.QueryRowContext(ctx, `SELECT last_seq, records, bytes, quarantined, quarantine_bytes, last_shipped_at FROM state WHERE id = 1`).
		Scan(&c.lastSeq, &c.records, &c.bytes, &c.quarantined, &c.quarantineBytes, &c.lastShippedAt)
	if err != nil {
		return c, fmt.Errorf("read counters: %w", err)
	}
	return c, nil
}

func writeCounters(ctx context.Context, tx *sql.Tx, c counters) error {
	_, err := tx.ExecContext(ctx, `UPDATE state SET last_seq = ?, records = ?, bytes = ?, quarantined = ?, quarantine_bytes = ?, last_shipped_at = ? WHERE id = 1`,
		c.lastSeq, c.records, c.bytes, c.quarantined, c.quarantineBytes, c.lastShippedAt)
	if err != nil {
		return fmt.Errorf("write counters: %w", err)
	}
	return nil
}

func rowSize(r *evidence.Record, source string) int64 {
	return int64(len(source) + len(r.Kind) + len(r.Subject) + len(r.Op) + len(r.Attributes) + len(r.Host) + len(r.Plugin) + len(timeFormat) + rowOverhead)
}

// Commit assigns sequence numbers to recs and stores them together with
// the plugin's checkpoint (nil keeps the old one) in one transaction: after
// a crash either both are there or neither is, so the plugin resumes from a
// checkpoint that matches what was kept.
//
// State records (upsert, delete) replace any older unsent row with the same
// (plugin, kind, subject), so an outage costs space in proportion to the
// inventory rather than to its length. Events never coalesce.
//
// When the spool already holds MaxBytes, a commit that would add bytes
// returns an error wrapping ErrFull and stores nothing. A commit that only
// replaces state still goes through, as it does not grow the spool.
func (s *Spool) Commit(ctx context.Context, plugin string, recs []evidence.Record, checkpoint []byte) error {
	for i := range recs {
		if err := recs[i].Validate(); err != nil {
			return fmt.Errorf("commit %s: record %d (%s %q): %w", plugin, i, recs[i].Kind, recs[i].Subject, err)
		}
	}
	if err := s.commit(ctx, plugin, recs, checkpoint); err != nil {
		if isDiskFull(err) {
			// The disk, not the cap, is full: the caller must pause all the
			// same, and the reserve stays for the acks that free space.
			return fmt.Errorf("commit %d records for %s: %w: disk full: %v", len(recs), plugin, ErrFull, err)
		}
		return fmt.Errorf("commit %d records for %s: %w", len(recs), plugin, err)
	}
	return nil
}

func (s *Spool) commit(ctx context.Context, plugin string, recs []evidence.Record, checkpoint []byte) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	c, err := readCounters(ctx, tx)
	if err != nil {
		return err
	}
	before := c.bytes + c.quarantineBytes
	now := s.now().UnixNano()

	del, err := tx.PrepareContext(ctx, `DELETE FROM records WHERE source = ? AND kind = ? AND subject = ? AND op <> 'event' RETURNING size`)
	if err != nil {
		return err
	}
	defer del.Close()
	ins, err := tx.PrepareContext(ctx, `INSERT INTO records (seq, source, kind, schema, subject, op, observed_at, attributes, host, plugin, committed_at, size)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer ins.Close()

	for i := range recs {
		r := &recs[i]
		if r.Op != evidence.OpEvent {
			if err := coalesce(ctx, del, plugin, r, &c); err != nil {
				return err
			}
		}
		recPlugin := r.Plugin
		if recPlugin == "" {
			recPlugin = plugin
		}
		c.lastSeq++
		size := rowSize(r, plugin)
		if _, err := ins.ExecContext(ctx, c.lastSeq, plugin, r.Kind, int64(r.Schema), r.Subject, string(r.Op),
			r.ObservedAt.UTC().Format(timeFormat), []byte(r.Attributes), r.Host, recPlugin, now, size); err != nil {
			return fmt.Errorf("insert %s %q: %w", r.Kind, r.Subject, err)
		}
		c.records++
		c.bytes += size
	}
	if after := c.bytes + c.quarantineBytes; before >= s.maxBytes && after > before {
		return fmt.Errorf("%w: %d of %d bytes used", ErrFull, before, s.maxBytes)
	}
	if checkpoint != nil {
		if _, err := tx.ExecContext(ctx, `INSERT INTO checkpoints (plugin, data, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (plugin) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at`,
			plugin, checkpoint, now); err != nil {
			return fmt.Errorf("store checkpoint: %w", err)
		}
	}
	if err := writeCounters(ctx, tx, c); err != nil {
		return err
	}
	return tx.Commit()
}

func coalesce(ctx context.Context, del *sql.Stmt, plugin string, r *evidence.Record, c *counters) error {
	rows, err := del.QueryContext(ctx, plugin, r.Kind, r.Subject)
	if err != nil {
		return fmt.Errorf("coalesce %s %q: %w", r.Kind, r.Subject, err)
	}
	defer rows.Close()
	for rows.Next() {
		var size int64
		if err := rows.Scan(&size); err != nil {
			return err
		}
		c.records--
		c.bytes -= size
	}
	return rows.Err()
}

// Checkpoint returns the plugin's last committed checkpoint, nil if none.
func (s *Spool) Checkpoint(ctx context.Context, plugin string) ([]byte, error) {
	var b []byte
	err := s.read.QueryRowContext(ctx, `SELECT data FROM checkpoints WHERE plugin = ?`, plugin).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read checkpoint of %s: %w", plugin, err)
	}
	if b == nil {
		b = []byte{}
	}
	return b, nil
}

// Next returns unsent records with seq > after in sequence order: at most
// maxRecords, and no more than about maxBytes of them (always at least one
// when any is waiting), so a large backlog is shipped in pages with bounded
// memory.
func (s *Spool) Next(ctx context.Context, after uint64, maxRecords, maxBytes int) ([]evidence.Record, error) {
	if maxRecords <= 0 {
		maxRecords = 1
	}
	rows, err := s.read.QueryContext(ctx, `SELECT seq, kind, schema, subject, op, observed_at, attributes, host, plugin, size
		FROM records WHERE seq > ? ORDER BY seq LIMIT ?`, int64(after), maxRecords)
	if err != nil {
		return nil, fmt.Errorf("read spool after %d: %w", after, err)
	}
	defer rows.Close()
	var (
		out   []evidence.Record
		total int64
	)
	for rows.Next() {
		var (
			r      evidence.Record
			seq    int64
			schema int64
			op, at string
			attrs  []byte
			size   int64
		)
		if err := rows.Scan(&seq, &r.Kind, &schema, &r.Subject, &op, &at, &attrs, &r.Host, &r.Plugin, &size); err != nil {
			return nil, fmt.Errorf("read spool after %d: %w", after, err)
		}
		if len(out) > 0 && total+size > int64(maxBytes) {
			break
		}
		t, err := time.Parse(timeFormat, at)
		if err != nil {
			return nil, fmt.Errorf("record %d: observed_at %q: %w", seq, at, err)
		}
		r.Seq, r.Schema, r.Op, r.ObservedAt, r.Attributes = uint64(seq), uint32(schema), evidence.Op(op), t, attrs
		out = append(out, r)
		total += size
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read spool after %d: %w", after, err)
	}
	return out, nil
}

// Ack deletes every row with seq <= through: the collector has stored them.
// It only deletes, and may use the disk reserve, so it works when the spool
// or the disk is full.
func (s *Spool) Ack(ctx context.Context, through uint64) error {
	err := s.withReserve(func() error { return s.ack(ctx, through) })
	if err != nil {
		return fmt.Errorf("ack through %d: %w", through, err)
	}
	s.restoreReserve()
	return nil
}

// restoreReserve puts a given-back reserve in place again once acks may
// have freed space.
func (s *Spool) restoreReserve() {
	s.reserveMu.Lock()
	due := s.reserveGone && time.Since(s.reserveTriedAt) > time.Minute
	if due {
		s.reserveTriedAt = time.Now()
	}
	s.reserveMu.Unlock()
	if due {
		s.ensureReserve()
	}
}

func (s *Spool) ack(ctx context.Context, through uint64) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	c, err := readCounters(ctx, tx)
	if err != nil {
		return err
	}
	var n, size int64
	if err := tx.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(size), 0) FROM records WHERE seq <= ?`, int64(through)).Scan(&n, &size); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM records WHERE seq <= ?`, int64(through)); err != nil {
		return err
	}
	c.records -= n
	c.bytes -= size
	c.lastShippedAt = s.now().UnixNano()
	if err := writeCounters(ctx, tx, c); err != nil {
		return err
	}
	return tx.Commit()
}

// Quarantine moves the rows in [first, last] out of the outbox into the
// quarantine table with the reason, and returns how many moved. The rows
// are kept and counted, never silently deleted.
func (s *Spool) Quarantine(ctx context.Context, first, last uint64, reason string) (int, error) {
	var n int
	err := s.withReserve(func() error {
		var err error
		n, err = s.quarantine(ctx, first, last, reason)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("quarantine %d..%d: %w", first, last, err)
	}
	if n > 0 {
		s.log.Warn("records quarantined", "first", first, "last", last, "records", n, "reason", reason)
	}
	return n, nil
}

func (s *Spool) quarantine(ctx context.Context, first, last uint64, reason string) (int, error) {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	c, err := readCounters(ctx, tx)
	if err != nil {
		return 0, err
	}
	var n, size int64
	if err := tx.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(size), 0) FROM records WHERE seq BETWEEN ? AND ?`,
		int64(first), int64(last)).Scan(&n, &size); err != nil {
		return 0, err
	}
	// OR REPLACE: a renumbered spool may quarantine a seq it quarantined
	// before it was lost; the newer row is the one worth keeping.
	if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO quarantine
		SELECT seq, source, kind, schema, subject, op, observed_at, attributes, host, plugin, committed_at, size, ?, ?
		FROM records WHERE seq BETWEEN ? AND ?`, reason, s.now().UnixNano(), int64(first), int64(last)); err != nil {
		return 0, err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM records WHERE seq BETWEEN ? AND ?`, int64(first), int64(last)); err != nil {
		return 0, err
	}
	c.records -= n
	c.bytes -= size
	if err := tx.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(size), 0) FROM quarantine`).Scan(&c.quarantined, &c.quarantineBytes); err != nil {
		return 0, err
	}
	if err := writeCounters(ctx, tx, c); err != nil {
		return 0, err
	}
	return int(n), tx.Commit()
}

// Renumber moves every unsent row to sequence numbers from min up, in their
// order, and makes future numbers continue after them. The shipper uses it
// when the collector has stored higher numbers than this spool ever issued:
// the spool was lost and recreated, and the collector would otherwise take
// the new records for duplicates. Numbers this spool already issued are
// never handed out again, so the base is at least LastSeq+1.
func (s *Spool) Renumber(ctx context.Context, min uint64) error {
	if err := s.renumber(ctx, min); err != nil {
		return fmt.Errorf("renumber from %d: %w", min, err)
	}
	return nil
}

func (s *Spool) renumber(ctx context.Context, min uint64) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	c, err := readCounters(ctx, tx)
	if err != nil {
		return err
	}
	base := int64(min)
	if base <= c.lastSeq {
		base = c.lastSeq + 1
	}
	// Every new number is above every old one, so the update cannot
	// collide with a row it has not moved yet.
	if _, err := tx.ExecContext(ctx, `UPDATE records SET seq = m.new
		FROM (SELECT seq AS old, ? + row_number() OVER (ORDER BY seq) - 1 AS new FROM records) AS m
		WHERE records.seq = m.old`, base); err != nil {
		return err
	}
	var n int64
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM records`).Scan(&n); err != nil {
		return err
	}
	c.lastSeq = base + n - 1
	if err := writeCounters(ctx, tx, c); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	s.log.Warn("spool renumbered", "from", base, "records", n, "last_seq", c.lastSeq)
	return nil
}

// Stats reads the counters; it costs two indexed lookups, not a scan.
func (s *Spool) Stats(ctx context.Context) (Stats, error) {
	tx, err := s.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return Stats{}, fmt.Errorf("spool stats: %w", err)
	}
	defer tx.Rollback()
	c, err := readCounters(ctx, tx)
	if err != nil {
		return Stats{}, fmt.Errorf("spool stats: %w", err)
	}
	st := Stats{
		Records: c.records, Bytes: c.bytes, Quarantined: c.quarantined, QuarantinedBytes: c.quarantineBytes,
		LastSeq: uint64(c.lastSeq), MaxBytes: s.maxBytes, Full: c.bytes+c.quarantineBytes >= s.maxBytes,
	}
	if c.lastShippedAt != 0 {
		st.LastShippedAt = time.Unix(0, c.lastShippedAt).UTC()
	}
	var oldest int64
	err = tx.QueryRowContext(ctx, `SELECT committed_at FROM records ORDER BY seq LIMIT 1`).Scan(&oldest)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return Stats{}, fmt.Errorf("spool stats: %w", err)
	default:
		st.OldestUnsent = time.Unix(0, oldest).UTC()
	}
	return st, nil
}

// SetMeta stores a small value for the daemon, such as its agent id.
func (s *Spool) SetMeta(ctx context.Context, key, value string) error {
	if _, err := s.write.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value); err != nil {
		return fmt.Errorf("set spool meta %s: %w", key, err)
	}
	return nil
}

// GetMeta returns the value stored under key, "" if there is none.
func (s *Spool) GetMeta(ctx context.Context, key string) (string, error) {
	var v string
	err := s.read.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("get spool meta %s: %w", key, err)
	}
	return v, nil
}

// IntegrityCheck runs SQLite's own consistency check and also compares the
// counters with the rows they count.
func (s *Spool) IntegrityCheck(ctx context.Context) error {
	var res string
	if err := s.read.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&res); err != nil {
		return fmt.Errorf("integrity check: %w", err)
	}
	if res != "ok" {
		return fmt.Errorf("integrity check: %s", res)
	}
	tx, err := s.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	c, err := readCounters(ctx, tx)
	if err != nil {
		return err
	}
	var n, size, maxSeq int64
	if err := tx.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(size), 0), coalesce(max(seq), 0) FROM records`).Scan(&n, &size, &maxSeq); err != nil {
		return err
	}
	if n != c.records || size != c.bytes || maxSeq > c.lastSeq {
		return fmt.Errorf("integrity check: counters say %d records, %d bytes, last seq %d; rows say %d, %d, max %d",
			c.records, c.bytes, c.lastSeq, n, size, maxSeq)
	}
	return nil
}

func (s *Spool) reservePath() string { return s.path + "-reserve" }

// ensureReserve puts the reserve file back if there is room for it; without
// room it is simply not there, and the next Open tries again.
func (s *Spool) ensureReserve() {
	s.reserveMu.Lock()
	defer s.reserveMu.Unlock()
	p := s.reservePath()
	if fi, err := os.Stat(p); err == nil && fi.Size() >= reserveSize {
		s.reserveGone = false
		return
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		s.log.Warn("could not create spool disk reserve", "path", p, "err", err)
		return
	}
	// Write real blocks: a sparse file would reserve nothing.
	_, werr := f.Write(make([]byte, reserveSize))
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(p)
		s.log.Warn("could not create spool disk reserve", "path", p, "err", err)
		return
	}
	s.reserveGone = false
}

// withReserve runs op, and if it fails because the disk is full, gives
// back the reserve and tries once more.
func (s *Spool) withReserve(op func() error) error {
	err := op()
	if !isDiskFull(err) {
		return err
	}
	s.reserveMu.Lock()
	rerr := os.Remove(s.reservePath())
	if rerr == nil {
		s.reserveGone, s.reserveTriedAt = true, time.Now()
	}
	s.reserveMu.Unlock()
	if rerr != nil {
		return err
	}
	s.log.Warn("disk full: released the spool's disk reserve to delete shipped records", "err", err)
	return op()
}

func isDiskFull(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.Code == sqlite3.ErrFull
}
