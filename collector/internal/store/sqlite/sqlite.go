// Package sqlite is the collector's embedded store: one SQLite file in WAL
// mode, opened the same way everywhere, with versioned migrations and a
// single writer.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	_ "github.com/mattn/go-sqlite3" // registers the "sqlite3" driver

	"github.com/annexa/annexa/collector/internal/store"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// timeFormat is fixed-width so that TEXT comparison in SQL orders by time.
const timeFormat = "2006-01-02T15:04:05.000000000Z"

func formatTime(t time.Time) string { return t.UTC().Format(timeFormat) }

func parseTime(s string) (time.Time, error) { return time.Parse(timeFormat, s) }

func nullTime(s sql.NullString) (time.Time, error) {
	if !s.Valid || s.String == "" {
		return time.Time{}, nil
	}
	return parseTime(s.String)
}

// DB is the SQLite store. The write handle has one connection, so writers
// queue in Go instead of fighting over the file lock; reads use their own
// pool and see WAL snapshots while a write is in flight.
type DB struct {
	path  string
	write *sql.DB
	read  *sql.DB
	log   *slog.Logger
	// now is the clock for received_at and the like; tests may replace it.
	now func() time.Time
}

// Open opens or creates the database at path and brings its schema up to
// date.
func Open(ctx context.Context, path string, log *slog.Logger) (*DB, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	db := &DB{path: path, log: log.With("component", "store"), now: time.Now}
	if err := db.open(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func dsn(path string, extra string) string {
	// _txlock=immediate takes the write lock at BEGIN, so two processes
	// (the server and `agents revoke`) wait on busy_timeout instead of
	// failing with SQLITE_BUSY when a reader upgrades to a writer.
	return "file:" + (&url.URL{Path: path}).EscapedPath() +
		"?_journal_mode=WAL&_busy_timeout=10000&_foreign_keys=on&_synchronous=FULL" + extra
}

func (db *DB) open(ctx context.Context) error {
	var err error
	if db.write, err = sql.Open("sqlite3", dsn(db.path, "&_txlock=immediate")); err != nil {
		return fmt.Errorf("open %s: %w", db.path, err)
	}
	db.write.SetMaxOpenConns(1)
	// Keep the one connection: reopening would redo the PRAGMAs each time.
	db.write.SetConnMaxIdleTime(0)
	db.write.SetConnMaxLifetime(0)

	var mode string
	if err := db.write.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("open %s: read journal mode: %w", db.path, err)
	}
	if !strings.EqualFold(mode, "wal") {
		// Without WAL readers block the writer and a crash can lose more;
		// better to refuse than to run in a mode nobody tested.
		return fmt.Errorf("open %s: journal mode is %q, not WAL; is the file on a network file system?", db.path, mode)
	}
	if err := db.migrate(ctx); err != nil {
		return fmt.Errorf("migrate %s: %w", db.path, err)
	}
	if db.read, err = sql.Open("sqlite3", dsn(db.path, "")); err != nil {
		return fmt.Errorf("open %s for reading: %w", db.path, err)
	}
	db.read.SetMaxOpenConns(4)
	return nil
}

// Close closes both handles; it is safe after a partial Open.
func (db *DB) Close() error {
	var errs []error
	if db.read != nil {
		errs = append(errs, db.read.Close())
	}
	if db.write != nil {
		errs = append(errs, db.write.Close())
	}
	return errors.Join(errs...)
}

// migrate applies every embedded migration not yet recorded, each in its
// own transaction so that a failure leaves the schema at a known version.
func (db *DB) migrate(ctx context.Context) error {
	if _, err := db.write.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
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
		if err := db.migrateOne(ctx, version, name, base); err != nil {
			return err
		}
	}
	return nil
}

func (db *DB) migrateOne(ctx context.Context, version int, name, base string) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	// Checked inside the transaction: another process may have migrated
	// while this one waited for the lock.
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM schema_migrations WHERE version = ?", version).Scan(&n); err != nil {
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
	if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
		version, base, formatTime(db.now())); err != nil {
		return fmt.Errorf("migration %s: %w", base, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migration %s: commit: %w", base, err)
	}
	db.log.Info("applied migration", "name", base)
	return nil
}

// SetClock replaces the clock; for tests.
func (db *DB) SetClock(now func() time.Time) { db.now = now }

var _ store.Store = (*DB)(nil)

// Path is the database file.
func (db *DB) Path() string { return db.path }
