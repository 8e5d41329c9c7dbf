package spool

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/annexa/annexa/evidence"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)

func open(t testing.TB, path string, opts Options) *Spool {
	t.Helper()
	sp, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	return sp
}

func tempSpool(t testing.TB, opts Options) (*Spool, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "spool.db")
	return open(t, path, opts), path
}

func rec(kind, subject string, op evidence.Op, attrs string) evidence.Record {
	if attrs == "" {
		attrs = `{}`
	}
	return evidence.Record{Kind: kind, Schema: 1, Subject: subject, Op: op, ObservedAt: t0, Attributes: json.RawMessage(attrs), Host: "h1"}
}

func upsert(subject, attrs string) evidence.Record {
	return rec("dataset", subject, evidence.OpUpsert, attrs)
}
func event(subject, attrs string) evidence.Record {
	return rec("access.event", subject, evidence.OpEvent, attrs)
}

func all(t testing.TB, sp *Spool) []evidence.Record {
	t.Helper()
	recs, err := sp.Next(context.Background(), 0, 1<<30, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func seqs(recs []evidence.Record) []uint64 {
	out := make([]uint64, len(recs))
	for i, r := range recs {
		out[i] = r.Seq
	}
	return out
}

func stats(t testing.TB, sp *Spool) Stats {
	t.Helper()
	st, err := sp.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func checkIntegrity(t testing.TB, sp *Spool) {
	t.Helper()
	if err := sp.IntegrityCheck(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestOpenChecksModes(t *testing.T) {
	sp, _ := tempSpool(t, Options{})
	var mode string
	var sync, fk int
	db := sp.write
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode %q %v", mode, err)
	}
	if err := db.QueryRow("PRAGMA synchronous").Scan(&sync); err != nil || sync != 2 {
		t.Fatalf("synchronous %d %v", sync, err)
	}
	if err := db.QueryRow("PRAGMA foreign_keys").Scan(&fk); err != nil || fk != 1 {
		t.Fatalf("foreign_keys %d %v", fk, err)
	}
	if st := stats(t, sp); st.MaxBytes != DefaultMaxBytes || st.Records != 0 || !st.OldestUnsent.IsZero() || st.Full {
		t.Fatalf("fresh stats %+v", st)
	}
}

func TestRoundTripAndSeqAcrossReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "spool.db")
	sp := open(t, path, Options{})
	in := []evidence.Record{upsert("dataset:/a", `{"n":1}`), event("x", `{"i":1}`)}
	in[1].Plugin = "other"
	if err := sp.Commit(ctx, "p", in, nil); err != nil {
		t.Fatal(err)
	}
	got := all(t, sp)
	if len(got) != 2 || got[0].Seq != 1 || got[1].Seq != 2 {
		t.Fatalf("got %+v", got)
	}
	want := in[0]
	want.Seq, want.Plugin = 1, "p"
	if g := got[0]; g.Kind != want.Kind || g.Subject != want.Subject || g.Op != want.Op || !g.ObservedAt.Equal(t0) ||
		string(g.Attributes) != `{"n":1}` || g.Host != "h1" || g.Plugin != "p" || g.Schema != 1 {
		t.Fatalf("round trip: got %+v want %+v", g, want)
	}
	if got[1].Plugin != "other" {
		t.Fatalf("record's own plugin lost: %q", got[1].Plugin)
	}
	// Ack empties the table; the next numbers must still go up, also
	// after reopening.
	if err := sp.Ack(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if st := stats(t, sp); st.Records != 0 || st.Bytes != 0 || st.LastShippedAt.IsZero() || st.LastSeq != 2 {
		t.Fatalf("after ack %+v", st)
	}
	sp.Close()
	sp = open(t, path, Options{})
	if err := sp.Commit(ctx, "p", []evidence.Record{event("y", "")}, nil); err != nil {
		t.Fatal(err)
	}
	if s := seqs(all(t, sp)); !slices.Equal(s, []uint64{3}) {
		t.Fatalf("seq after reopen %v", s)
	}
	// Coalescing removes the highest row; its number is still not reused.
	if err := sp.Commit(ctx, "p", []evidence.Record{upsert("s", ""), upsert("s", "")}, nil); err != nil {
		t.Fatal(err)
	}
	if err := sp.Ack(ctx, 10); err != nil {
		t.Fatal(err)
	}
	if err := sp.Commit(ctx, "p", []evidence.Record{event("z", "")}, nil); err != nil {
		t.Fatal(err)
	}
	if s := seqs(all(t, sp)); !slices.Equal(s, []uint64{6}) {
		t.Fatalf("seq after coalesce+ack %v", s)
	}
	checkIntegrity(t, sp)
}

func TestCommitIsAtomic(t *testing.T) {
	ctx := context.Background()
	sp, _ := tempSpool(t, Options{})
	if err := sp.Commit(ctx, "p", []evidence.Record{event("a", "")}, []byte("cp1")); err != nil {
		t.Fatal(err)
	}
	bad := event("b", "")
	bad.Attributes = json.RawMessage(`[1]`)
	err := sp.Commit(ctx, "p", []evidence.Record{event("ok", ""), bad}, []byte("cp2"))
	var fe *evidence.FieldError
	if !errors.As(err, &fe) || fe.Field != "attributes" || !strings.Contains(err.Error(), "record 1") {
		t.Fatalf("invalid record: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := sp.Commit(cctx, "p", []evidence.Record{event("c", "")}, []byte("cp3")); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled commit: %v", err)
	}
	cp, err := sp.Checkpoint(ctx, "p")
	if err != nil || string(cp) != "cp1" {
		t.Fatalf("checkpoint %q %v", cp, err)
	}
	if got := all(t, sp); len(got) != 1 || got[0].Subject != "a" {
		t.Fatalf("records %+v", got)
	}
	// nil keeps the checkpoint; empty sets it to empty; unknown plugin is nil.
	if err := sp.Commit(ctx, "p", []evidence.Record{event("d", "")}, nil); err != nil {
		t.Fatal(err)
	}
	if cp, _ := sp.Checkpoint(ctx, "p"); string(cp) != "cp1" {
		t.Fatalf("nil checkpoint replaced the old one: %q", cp)
	}
	if err := sp.Commit(ctx, "p", nil, []byte{}); err != nil {
		t.Fatal(err)
	}
	if cp, _ := sp.Checkpoint(ctx, "p"); cp == nil || len(cp) != 0 {
		t.Fatalf("empty checkpoint: %q", cp)
	}
	if cp, err := sp.Checkpoint(ctx, "nobody"); cp != nil || err != nil {
		t.Fatalf("unknown plugin checkpoint %q %v", cp, err)
	}
	checkIntegrity(t, sp)
}

func TestCoalescing(t *testing.T) {
	ctx := context.Background()
	sp, _ := tempSpool(t, Options{})
	commit := func(plugin string, recs ...evidence.Record) {
		t.Helper()
		if err := sp.Commit(ctx, plugin, recs, nil); err != nil {
			t.Fatal(err)
		}
	}
	commit("p", upsert("s1", `{"v":1}`), event("e1", `{"v":1}`), upsert("s2", `{"v":1}`)) // 1 2 3
	// 4 is sent (in flight, then acked) before it changes again.
	commit("p", upsert("s3", `{"v":1}`))                           // 4
	commit("p", event("e1", `{"v":2}`), upsert("s1", `{"v":2}`))   // 5 6, drops 1
	commit("q", upsert("s1", `{"v":1}`))                           // 7: other plugin, kept
	commit("p", rec("model", "s1", evidence.OpUpsert, `{"v":1}`))  // 8: other kind, kept
	commit("p", rec("dataset", "s2", evidence.OpDelete, `{}`))     // 9, drops 3
	commit("p", rec("dataset", "s1", evidence.OpEvent, `{"v":3}`)) // 10: events never replace
	if err := sp.Ack(ctx, 0); err != nil {                         // nothing yet
		t.Fatal(err)
	}
	got := all(t, sp)
	if s := seqs(got); !slices.Equal(s, []uint64{2, 4, 5, 6, 7, 8, 9, 10}) {
		t.Fatalf("seqs %v", s)
	}
	byseq := map[uint64]evidence.Record{}
	for _, r := range got {
		byseq[r.Seq] = r
	}
	if string(byseq[6].Attributes) != `{"v":2}` || byseq[9].Op != evidence.OpDelete {
		t.Fatalf("newest state not kept: %+v %+v", byseq[6], byseq[9])
	}
	// An acked row is gone; the next upsert of its subject stands alone.
	if err := sp.Ack(ctx, 4); err != nil {
		t.Fatal(err)
	}
	commit("p", upsert("s3", `{"v":2}`)) // 11
	if s := seqs(all(t, sp)); !slices.Equal(s, []uint64{5, 6, 7, 8, 9, 10, 11}) {
		t.Fatalf("after ack seqs %v", s)
	}
	// A quarantined row is not touched either.
	if n, err := sp.Quarantine(ctx, 11, 11, "test"); err != nil || n != 1 {
		t.Fatal(n, err)
	}
	commit("p", upsert("s3", `{"v":3}`)) // 12
	if st := stats(t, sp); st.Quarantined != 1 || st.Records != 7 {
		t.Fatalf("stats %+v", st)
	}
	checkIntegrity(t, sp)
}

func TestFullAndRecovery(t *testing.T) {
	ctx := context.Background()
	sp, path := tempSpool(t, Options{MaxBytes: 20000})
	attrs := `{"pad":"` + strings.Repeat("x", 900) + `"}`
	if err := sp.Commit(ctx, "p", []evidence.Record{upsert("s", attrs)}, nil); err != nil {
		t.Fatal(err)
	}
	n := 1
	var err error
	for ; n < 100; n++ {
		if err = sp.Commit(ctx, "p", []evidence.Record{event(fmt.Sprint("e", n), attrs)}, []byte(fmt.Sprint(n))); err != nil {
			break
		}
	}
	if !errors.Is(err, ErrFull) {
		t.Fatalf("after %d commits: %v", n, err)
	}
	st := stats(t, sp)
	if !st.Full || st.Bytes < 20000 || st.Bytes > 21000 || st.Records != int64(n) {
		t.Fatalf("full stats %+v after %d", st, n)
	}
	if cp, _ := sp.Checkpoint(ctx, "p"); string(cp) != fmt.Sprint(n-1) {
		t.Fatalf("refused commit moved the checkpoint to %q", cp)
	}
	// State that only replaces what is there still goes in; new state not.
	if err := sp.Commit(ctx, "p", []evidence.Record{upsert("s", attrs)}, nil); err != nil {
		t.Fatalf("replacing state when full: %v", err)
	}
	if err := sp.Commit(ctx, "p", []evidence.Record{upsert("s2", `{}`)}, nil); !errors.Is(err, ErrFull) {
		t.Fatalf("new state when full: %v", err)
	}
	// Quarantine and Ack work while full.
	if q, err := sp.Quarantine(ctx, 2, 3, "bad"); err != nil || q != 2 {
		t.Fatal(q, err)
	}
	if !stats(t, sp).Full {
		t.Fatal("quarantine counts against the cap, so the spool is still full")
	}
	if err := sp.Ack(ctx, 10); err != nil {
		t.Fatal(err)
	}
	if st := stats(t, sp); st.Full || st.Records != int64(n-9) {
		t.Fatalf("after ack %+v", st)
	}
	if err := sp.Commit(ctx, "p", []evidence.Record{event("after", attrs)}, nil); err != nil {
		t.Fatalf("commit after ack: %v", err)
	}
	// The cap is the caller's to change on reopen.
	sp.Close()
	sp = open(t, path, Options{MaxBytes: 1000})
	if err := sp.Commit(ctx, "p", []evidence.Record{event("tiny", "")}, nil); !errors.Is(err, ErrFull) {
		t.Fatalf("smaller cap: %v", err)
	}
	checkIntegrity(t, sp)
}

func TestNextPaging(t *testing.T) {
	ctx := context.Background()
	sp, _ := tempSpool(t, Options{})
	var batch []evidence.Record
	for i := range 100 {
		// Every tenth record is large, to exercise the byte bound.
		pad := 10
		if i%10 == 0 {
			pad = 5000
		}
		batch = append(batch, event(fmt.Sprint("e", i), `{"p":"`+strings.Repeat("y", pad)+`"}`))
	}
	if err := sp.Commit(ctx, "p", batch, nil); err != nil {
		t.Fatal(err)
	}
	var (
		after uint64
		got   []uint64
		pages int
	)
	for {
		page, err := sp.Next(ctx, after, 7, 4000)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		pages++
		if len(page) > 7 {
			t.Fatalf("page of %d records", len(page))
		}
		var size int
		for _, r := range page {
			size += len(r.Attributes)
		}
		if len(page) > 1 && size > 4000 {
			t.Fatalf("page of %d bytes with %d records", size, len(page))
		}
		got = append(got, seqs(page)...)
		after = page[len(page)-1].Seq
	}
	want := make([]uint64, 100)
	for i := range want {
		want[i] = uint64(i + 1)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("pages lost or reordered records: %v", got)
	}
	if pages < 100/7 {
		t.Fatalf("%d pages", pages)
	}
	// One record larger than maxBytes still comes out alone.
	if page, _ := sp.Next(ctx, 0, 10, 1); len(page) != 1 || page[0].Seq != 1 {
		t.Fatalf("oversized first record: %v", seqs(page))
	}
}

func TestQuarantine(t *testing.T) {
	ctx := context.Background()
	sp, _ := tempSpool(t, Options{})
	for i := range 10 {
		if err := sp.Commit(ctx, "p", []evidence.Record{event(fmt.Sprint("e", i), "")}, nil); err != nil {
			t.Fatal(err)
		}
	}
	before := stats(t, sp)
	n, err := sp.Quarantine(ctx, 3, 5, "collector: attributes.size: not a number")
	if err != nil || n != 3 {
		t.Fatal(n, err)
	}
	if s := seqs(all(t, sp)); !slices.Equal(s, []uint64{1, 2, 6, 7, 8, 9, 10}) {
		t.Fatalf("seqs %v", s)
	}
	st := stats(t, sp)
	if st.Quarantined != 3 || st.Records != 7 || st.Bytes+st.QuarantinedBytes != before.Bytes {
		t.Fatalf("stats %+v before %+v", st, before)
	}
	var reason string
	var cnt int
	if err := sp.read.QueryRow(`SELECT count(*), max(reason) FROM quarantine`).Scan(&cnt, &reason); err != nil || cnt != 3 || !strings.Contains(reason, "not a number") {
		t.Fatalf("quarantine rows %d %q %v", cnt, reason, err)
	}
	if n, err := sp.Quarantine(ctx, 100, 200, "nothing there"); err != nil || n != 0 {
		t.Fatal(n, err)
	}
	checkIntegrity(t, sp)
}

func TestRenumber(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "spool.db")
	sp := open(t, path, Options{})
	if err := sp.Commit(ctx, "p", []evidence.Record{event("a", ""), upsert("s", ""), event("b", ""), upsert("s", ""), event("c", "")}, nil); err != nil {
		t.Fatal(err)
	}
	// 1 a, 3 b, 4 s, 5 c
	if err := sp.Renumber(ctx, 1001); err != nil {
		t.Fatal(err)
	}
	got := all(t, sp)
	if s := seqs(got); !slices.Equal(s, []uint64{1001, 1002, 1003, 1004}) {
		t.Fatalf("seqs %v", s)
	}
	if got[0].Subject != "a" || got[1].Subject != "b" || got[2].Subject != "s" || got[3].Subject != "c" {
		t.Fatalf("order lost: %+v", got)
	}
	if err := sp.Commit(ctx, "p", []evidence.Record{event("d", "")}, nil); err != nil {
		t.Fatal(err)
	}
	sp.Close()
	sp = open(t, path, Options{})
	if st := stats(t, sp); st.LastSeq != 1005 {
		t.Fatalf("last seq %d", st.LastSeq)
	}
	// A lower minimum never hands out old numbers again.
	if err := sp.Renumber(ctx, 10); err != nil {
		t.Fatal(err)
	}
	if s := seqs(all(t, sp)); !slices.Equal(s, []uint64{1006, 1007, 1008, 1009, 1010}) {
		t.Fatalf("seqs after low renumber %v", s)
	}
	// On an empty spool it only moves the counter.
	if err := sp.Ack(ctx, 2000); err != nil {
		t.Fatal(err)
	}
	if err := sp.Renumber(ctx, 5000); err != nil {
		t.Fatal(err)
	}
	if err := sp.Commit(ctx, "p", []evidence.Record{event("e", "")}, nil); err != nil {
		t.Fatal(err)
	}
	if s := seqs(all(t, sp)); !slices.Equal(s, []uint64{5000}) {
		t.Fatalf("seqs on empty renumber %v", s)
	}
	checkIntegrity(t, sp)
}

func TestMetaAndStats(t *testing.T) {
	ctx := context.Background()
	sp, _ := tempSpool(t, Options{})
	if v, err := sp.GetMeta(ctx, "agent_id"); v != "" || err != nil {
		t.Fatal(v, err)
	}
	if err := sp.SetMeta(ctx, "agent_id", "a1"); err != nil {
		t.Fatal(err)
	}
	if err := sp.SetMeta(ctx, "agent_id", "a2"); err != nil {
		t.Fatal(err)
	}
	if v, err := sp.GetMeta(ctx, "agent_id"); v != "a2" || err != nil {
		t.Fatal(v, err)
	}
	sp.now = func() time.Time { return t0 }
	if err := sp.Commit(ctx, "p", []evidence.Record{event("a", "")}, nil); err != nil {
		t.Fatal(err)
	}
	sp.now = func() time.Time { return t0.Add(time.Hour) }
	if err := sp.Commit(ctx, "p", []evidence.Record{event("b", "")}, nil); err != nil {
		t.Fatal(err)
	}
	if st := stats(t, sp); !st.OldestUnsent.Equal(t0) || st.Records != 2 || st.LastSeq != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestReserveReleasedOnDiskFull(t *testing.T) {
	sp, path := tempSpool(t, Options{})
	if _, err := osStat(path + "-reserve"); err != nil {
		t.Fatalf("no reserve: %v", err)
	}
	calls := 0
	err := sp.withReserve(func() error {
		calls++
		if calls == 1 {
			return fmt.Errorf("delete: %w", diskFullErr)
		}
		return nil
	})
	if err != nil || calls != 2 {
		t.Fatalf("retry after disk full: calls %d err %v", calls, err)
	}
	if _, err := osStat(path + "-reserve"); err == nil {
		t.Fatal("reserve still there after a disk-full error")
	}
	// An ack puts it back, once the minute since giving it back is over.
	if err := sp.Ack(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := osStat(path + "-reserve"); err == nil {
		t.Fatal("reserve restored at once; expected a pause")
	}
	sp.reserveMu.Lock()
	sp.reserveTriedAt = time.Now().Add(-2 * time.Minute)
	sp.reserveMu.Unlock()
	if err := sp.Ack(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	if fi, err := osStat(path + "-reserve"); err != nil || fi.Size() != reserveSize {
		t.Fatalf("reserve not restored: %v", err)
	}
}

var diskFullErr = sqlite3.Error{Code: sqlite3.ErrFull}

func osStat(p string) (os.FileInfo, error) { return os.Stat(p) }
