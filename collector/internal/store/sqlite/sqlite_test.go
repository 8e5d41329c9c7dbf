package sqlite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"testing"
	"time"

	"github.com/annexa/annexa/collector/internal/store"
	"github.com/annexa/annexa/evidence"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func openTest(t *testing.T) *DB {
	t.Helper()
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "collector.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func enroll(t *testing.T, db *DB, id string) {
	t.Helper()
	ctx := context.Background()
	if err := db.CreateToken(ctx, "tok-"+id, time.Now().Add(time.Hour), 1); err != nil {
		t.Fatal(err)
	}
	if err := db.Enroll(ctx, "tok-"+id, store.NewAgent{ID: id, Host: id + ".example", CredentialHash: "h"}); err != nil {
		t.Fatal(err)
	}
}

func rec(seq uint64, kind, subject string, op evidence.Op, at time.Time, attrs string) evidence.Record {
	return evidence.Record{Seq: seq, Kind: kind, Subject: subject, Op: op, ObservedAt: at, Attributes: json.RawMessage(attrs), Plugin: "datasets", Host: "h1"}
}

func batch(agent string, recs ...evidence.Record) *store.Batch {
	b := &store.Batch{AgentID: agent, Records: recs}
	if len(recs) > 0 {
		b.FirstSeq, b.LastSeq = recs[0].Seq, recs[len(recs)-1].Seq
	}
	return b
}

func ingest(t *testing.T, db *DB, b *store.Batch) *store.IngestResult {
	t.Helper()
	res, err := db.Ingest(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func count(t *testing.T, db *DB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := db.read.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func TestOpenUsesWALAndIsIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	for i := 0; i < 2; i++ {
		db, err := Open(context.Background(), path, nil)
		if err != nil {
			t.Fatal(err)
		}
		var mode string
		db.read.QueryRow("PRAGMA journal_mode").Scan(&mode)
		if mode != "wal" {
			t.Errorf("journal_mode = %q", mode)
		}
		files, _ := fs.Glob(migrationFS, "migrations/*.sql")
		if n := count(t, db, "SELECT count(*) FROM schema_migrations"); n != len(files) || n == 0 {
			t.Errorf("schema_migrations has %d rows after open %d, want one per migration file (%d)", n, i+1, len(files))
		}
		db.Close()
	}
}

func TestDedupeAndHighWaterMark(t *testing.T) {
	db := openTest(t)
	enroll(t, db, "a")
	b := batch("a",
		rec(1, "dataset", "dataset:/x", evidence.OpUpsert, t0, `{"n":1}`),
		rec(2, "test.event", "e:1", evidence.OpEvent, t0, `{}`),
		rec(3, "test.event", "e:2", evidence.OpEvent, t0, `{}`))
	if res := ingest(t, db, b); *res != (store.IngestResult{AckedThrough: 3, Stored: 3}) {
		t.Errorf("first = %+v", res)
	}
	if res := ingest(t, db, b); *res != (store.IngestResult{AckedThrough: 3, Duplicates: 3}) {
		t.Errorf("again = %+v", res)
	}
	// An overlapping batch stores only what is new.
	b2 := batch("a", rec(3, "test.event", "e:2", evidence.OpEvent, t0, `{}`), rec(5, "test.event", "e:3", evidence.OpEvent, t0, `{}`))
	b2.LastSeq = 6
	if res := ingest(t, db, b2); *res != (store.IngestResult{AckedThrough: 6, Stored: 1, Duplicates: 1}) {
		t.Errorf("overlap = %+v", res)
	}
	// An agent that lost its spool and starts again at 1 learns the
	// high-water mark from the answer.
	if res := ingest(t, db, batch("a", rec(1, "test.event", "e:new", evidence.OpEvent, t0, `{}`))); res.AckedThrough != 6 || res.Duplicates != 1 {
		t.Errorf("renumbered = %+v", res)
	}
	if n := count(t, db, "SELECT count(*) FROM history WHERE kind = 'test.event'"); n != 3 {
		t.Errorf("history has %d events, want 3", n)
	}
}

func TestHeartbeatUpdatesStatusOnly(t *testing.T) {
	db := openTest(t)
	enroll(t, db, "a")
	db.SetClock(func() time.Time { return t0 })
	b := &store.Batch{AgentID: "a", FirstSeq: 7, LastSeq: 9, Status: &store.AgentStatus{Host: "h1", Version: "1.2.3", SpoolRecords: 5}}
	if res := ingest(t, db, b); res.AckedThrough != 0 {
		t.Errorf("heartbeat moved acked_through to %d", res.AckedThrough)
	}
	a, err := db.Agent(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	if !a.LastSeenAt.Equal(t0) || a.Status == nil || a.Status.SpoolRecords != 5 || a.AgentVersion != "1.2.3" {
		t.Errorf("agent after heartbeat = %+v status %+v", a, a.Status)
	}
}

func TestIdenticalUpsertsDoNotGrowHistory(t *testing.T) {
	db := openTest(t)
	enroll(t, db, "a")
	var seq uint64
	for i := 0; i < 5; i++ {
		seq++
		ingest(t, db, batch("a", rec(seq, "dataset", "dataset:/x", evidence.OpUpsert, t0.Add(time.Duration(i)*time.Hour), `{"size": 10, "mode": "0640"}`)))
	}
	if n := count(t, db, "SELECT count(*) FROM history"); n != 1 {
		t.Errorf("history has %d rows after 5 identical upserts, want 1", n)
	}
	var observed string
	db.read.QueryRow("SELECT observed_at FROM current").Scan(&observed)
	if want := formatTime(t0.Add(4 * time.Hour)); observed != want {
		t.Errorf("current.observed_at = %s, want %s", observed, want)
	}
	// A change, a delete and a re-creation each leave one row.
	seq++
	ingest(t, db, batch("a", rec(seq, "dataset", "dataset:/x", evidence.OpUpsert, t0.Add(5*time.Hour), `{"size": 11}`)))
	seq++
	ingest(t, db, batch("a", rec(seq, "dataset", "dataset:/x", evidence.OpDelete, t0.Add(6*time.Hour), `{}`)))
	seq++
	ingest(t, db, batch("a", rec(seq, "dataset", "dataset:/x", evidence.OpDelete, t0.Add(6*time.Hour), `{}`)))
	seq++
	ingest(t, db, batch("a", rec(seq, "dataset", "dataset:/x", evidence.OpUpsert, t0.Add(7*time.Hour), `{"size": 11}`)))
	if n := count(t, db, "SELECT count(*) FROM history"); n != 4 {
		t.Errorf("history has %d rows, want 4 (create, change, delete, re-create)", n)
	}
	if n := count(t, db, "SELECT count(*) FROM current WHERE deleted = 0"); n != 1 {
		t.Errorf("%d live rows, want 1", n)
	}
}

func TestEventsKeepLatestAsCurrent(t *testing.T) {
	db := openTest(t)
	enroll(t, db, "a")
	ingest(t, db, batch("a",
		rec(1, "plugin.health", "plugin:datasets", evidence.OpEvent, t0, `{"state":"ok"}`),
		rec(2, "plugin.health", "plugin:datasets", evidence.OpEvent, t0.Add(time.Minute), `{"state":"crashed"}`),
		rec(3, "plugin.health", "plugin:datasets", evidence.OpEvent, t0.Add(2*time.Minute), `{"state":"crashed"}`)))
	if n := count(t, db, "SELECT count(*) FROM history"); n != 3 {
		t.Errorf("history has %d events, want 3", n)
	}
	var attrs string
	db.read.QueryRow("SELECT attributes FROM current").Scan(&attrs)
	if attrs != `{"state":"crashed"}` {
		t.Errorf("current = %s", attrs)
	}
}

func scanComplete(seq uint64, at, started time.Time) evidence.Record {
	return rec(seq, "scan.complete", "scan:datasets", evidence.OpUpsert, at,
		fmt.Sprintf(`{"plugin":"datasets","kinds":["dataset"],"roots":["/srv"],"started_at":%q}`, started.Format(time.RFC3339Nano)))
}

func TestScanCompleteDeletesUnseen(t *testing.T) {
	db := openTest(t)
	enroll(t, db, "a")
	enroll(t, db, "b")
	ds := func(seq uint64, path string, at time.Time) evidence.Record {
		return rec(seq, "dataset", "dataset:"+path, evidence.OpUpsert, at, `{"path":"`+path+`"}`)
	}
	// Scan 1 sees x, y, z; agent b has its own x, which a's scans never touch.
	ingest(t, db, batch("a", ds(1, "/x", t0), ds(2, "/y", t0), ds(3, "/z", t0), scanComplete(4, t0.Add(time.Second), t0.Add(-time.Second))))
	ingest(t, db, batch("b", ds(1, "/x", t0)))
	// A model from the models plugin of the same agent is out of scope.
	m := rec(5, "model", "model:/m", evidence.OpUpsert, t0, `{}`)
	m.Plugin = "models"
	ingest(t, db, batch("a", m))
	// Scan 2 sees only x.
	s2 := t0.Add(time.Hour)
	ingest(t, db, batch("a", ds(6, "/x", s2.Add(time.Second)), scanComplete(7, s2.Add(2*time.Second), s2)))

	live := func(agent string) int {
		return count(t, db, "SELECT count(*) FROM current WHERE agent_id = ? AND deleted = 0 AND kind IN ('dataset','model')", agent)
	}
	if n := live("a"); n != 2 {
		t.Errorf("agent a has %d live datasets and models, want 2 (/x and the model)", n)
	}
	if n := live("b"); n != 1 {
		t.Errorf("agent b has %d live datasets, want 1", n)
	}
	if n := count(t, db, "SELECT count(*) FROM history WHERE op = 'delete' AND seq IS NULL AND cause_seq = 7 AND agent_id = 'a'"); n != 2 {
		t.Errorf("%d derived delete rows caused by seq 7, want 2", n)
	}
	var attrs string
	db.read.QueryRow("SELECT attributes FROM history WHERE op = 'delete' AND subject = 'dataset:/y'").Scan(&attrs)
	if attrs != `{"path":"/y"}` {
		t.Errorf("deleted row keeps attributes %s, want the last known ones", attrs)
	}
	// The same scan again deletes nothing more.
	ingest(t, db, batch("a", ds(8, "/x", s2.Add(time.Minute)), scanComplete(9, s2.Add(2*time.Minute), s2.Add(time.Minute/2))))
	if n := count(t, db, "SELECT count(*) FROM history WHERE op = 'delete'"); n != 2 {
		t.Errorf("%d delete rows after a repeated scan, want 2", n)
	}
	if _, err := db.Verify(context.Background()); err != nil {
		t.Errorf("verify: %v", err)
	}
}

// Events are history, not inventory: a scan that did not "see" an old
// event must not retire it.
func TestScanCompleteLeavesEventsAlone(t *testing.T) {
	db := openTest(t)
	enroll(t, db, "a")
	ev := rec(1, "dataset", "dataset:/login", evidence.OpEvent, t0, `{"n":1}`)
	ingest(t, db, batch("a", ev, scanComplete(2, t0.Add(time.Hour), t0.Add(time.Minute))))
	if n := count(t, db, "SELECT count(*) FROM history WHERE op = 'delete'"); n != 0 {
		t.Errorf("scan.complete wrote %d delete rows for an event subject", n)
	}
	if n := count(t, db, "SELECT count(*) FROM current WHERE subject = 'dataset:/login' AND deleted = 0"); n != 1 {
		t.Errorf("the latest event is no longer current")
	}
}

func TestVerifyDetectsTampering(t *testing.T) {
	db := openTest(t)
	enroll(t, db, "a")
	ingest(t, db, batch("a",
		rec(1, "dataset", "dataset:/x", evidence.OpUpsert, t0, `{"world_readable":true}`),
		rec(2, "dataset", "dataset:/y", evidence.OpUpsert, t0, `{}`),
		rec(3, "dataset", "dataset:/z", evidence.OpUpsert, t0, `{}`)))
	ctx := context.Background()
	if n, err := db.Verify(ctx); err != nil || n != 3 {
		t.Fatalf("verify before tampering = %d, %v", n, err)
	}
	if _, err := db.write.Exec(`UPDATE history SET attributes = '{"world_readable":false}' WHERE subject = 'dataset:/x'`); err != nil {
		t.Fatal(err)
	}
	_, err := db.Verify(ctx)
	var ce *store.ChainError
	if !errors.As(err, &ce) || ce.RowID != 1 {
		t.Fatalf("verify after editing row 1 = %v, want a ChainError at row 1", err)
	}

	db2 := openTest(t)
	enroll(t, db2, "a")
	ingest(t, db2, batch("a", rec(1, "k", "s:1", evidence.OpEvent, t0, `{}`), rec(2, "k", "s:2", evidence.OpEvent, t0, `{}`), rec(3, "k", "s:3", evidence.OpEvent, t0, `{}`)))
	if _, err := db2.write.Exec(`DELETE FROM history WHERE id = 2`); err != nil {
		t.Fatal(err)
	}
	if _, err := db2.Verify(ctx); !errors.As(err, &ce) || ce.RowID != 3 {
		t.Fatalf("verify after deleting row 2 = %v, want a ChainError at row 3", err)
	}
}

func TestEnrollTokens(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	if err := db.CreateToken(ctx, "two", time.Now().Add(time.Hour), 2); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateToken(ctx, "old", time.Now().Add(-time.Second), 5); err != nil {
		t.Fatal(err)
	}
	for i, tc := range []struct {
		hash string
		ok   bool
	}{{"two", true}, {"two", true}, {"two", false}, {"old", false}, {"nope", false}} {
		err := db.Enroll(ctx, tc.hash, store.NewAgent{ID: fmt.Sprint("agent", i), Host: "h"})
		if tc.ok && err != nil {
			t.Errorf("enroll %d with %s: %v", i, tc.hash, err)
		}
		if !tc.ok && store.ErrorCode(err) != store.EUNAUTHORIZED {
			t.Errorf("enroll %d with %s = %v, want unauthorized", i, tc.hash, err)
		}
	}
	if n := count(t, db, "SELECT count(*) FROM agents"); n != 2 {
		t.Errorf("%d agents, want 2", n)
	}
}

func TestRevoke(t *testing.T) {
	db := openTest(t)
	enroll(t, db, "a")
	ctx := context.Background()
	if err := db.Revoke(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := db.Revoke(ctx, "zzz"); store.ErrorCode(err) != store.ENOTFOUND {
		t.Errorf("revoke unknown = %v", err)
	}
	if _, err := db.Ingest(ctx, batch("a", rec(1, "k", "s", evidence.OpEvent, t0, `{}`))); store.ErrorCode(err) != store.EUNAUTHORIZED {
		t.Errorf("ingest after revoke = %v", err)
	}
}
