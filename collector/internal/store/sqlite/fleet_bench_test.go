package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/annexa/annexa/collector/internal/report"
	"github.com/annexa/annexa/collector/internal/store"
	"github.com/annexa/annexa/evidence"
)

// fleetHosts is the synthetic fleet's size; BENCH_HOSTS overrides it.
func fleetHosts() int {
	if n, err := strconv.Atoi(os.Getenv("BENCH_HOSTS")); err == nil && n > 0 {
		return n
	}
	return 10_000
}

// Per host: 50 subjects of every kind (30 datasets, 12 models, 3 volumes,
// 2 endpoints, 3 access summaries), plus the agent's own host record and
// a scan.complete and plugin.health per plugin. One subject in ten of each
// kind carries a planted problem, so failing lists are not empty.
var subjectsPerHost = map[string]int{"dataset": 30, "model": 12, "encryption.volume": 3, "encryption.endpoint": 2, "access.summary": 3}

func fleetAttrs(kind string, h, i int) (subject, plugin, attrs string) {
	bad := i%10 == 0
	switch kind {
	case "dataset":
		p := fmt.Sprintf("/srv/ml/datasets/d%d", i)
		return "dataset:" + p, "datasets", fmt.Sprintf(`{"path":%q,"size_bytes":123456,"file_count":12,"formats":{"csv":12},"owner":"ml","group":"ml","mode":"0750",`+
			`"world_readable":%t,"world_readable_files":0,"has_datasheet":true,"license":"cc-by-4.0","license_source":"README.md","sha256":"ab12","hash_status":"complete",`+
			`"modified_at":"2026-02-01T00:00:00Z","pii":{},"classification":"internal","source":"internal","quality":{"checked":true}}`, p, bad)
	case "model":
		p := fmt.Sprintf("/srv/ml/models/m%d.safetensors", i)
		return "model:" + p, "models", fmt.Sprintf(`{"path":%q,"format":"safetensors","size_bytes":1000000,"sha256":"cd34","hash_status":"complete","license":"mit",`+
			`"has_model_card":true,"unsafe":%t,"findings":[],"owner":"ml","group":"ml","mode":"0640","source":"internal"}`, p, bad)
	case "encryption.volume":
		return fmt.Sprintf("volume:/dev/nvme0n1p%d", i), "encryption", fmt.Sprintf(`{"device":"/dev/nvme0n1p%d","mountpoints":["/srv"],"covers":["/srv/ml"],`+
			`"encrypted":%t,"scheme":"luks2","cipher":"aes-xts-plain64"}`, i, !bad)
	case "encryption.endpoint":
		return fmt.Sprintf("endpoint:10.0.%d.%d:8443", h%250, i), "encryption", `{"address":"10.0.0.1:8443","tls_version":"TLS1.3","cipher":"TLS_AES_128_GCM_SHA256",` +
			`"cert_not_after":"2027-06-01T00:00:00Z","self_signed":false,"verified":true}`
	case "access.summary":
		return fmt.Sprintf("access-summary:auth.log:/var/log/auth%d.log", i), "access", `{"source":"auth.log","window":"1h","by_action":{"login":10},"anomalies":[]}`
	}
	panic(kind)
}

// seedFleet writes the synthetic fleet straight into the tables, in one
// transaction: generating it through Ingest would time fsyncs, not the
// evaluation.
func seedFleet(b *testing.B, db *DB, hosts int, now time.Time) {
	b.Helper()
	ctx := context.Background()
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Rollback()
	agent, err := tx.Prepare(`INSERT INTO agents (id, host, agent_version, credential_hash, enrolled_at, last_seen_at, acked_through) VALUES (?, ?, '0.1.0', 'x', ?, ?, 1000)`)
	if err != nil {
		b.Fatal(err)
	}
	cur, err := tx.Prepare(`INSERT INTO current (agent_id, kind, subject, plugin, host, op, observed_at, attributes, content_hash, seq, updated_at)
		VALUES (?, ?, ?, ?, ?, 'upsert', ?, ?, 'h', ?, ?)`)
	if err != nil {
		b.Fatal(err)
	}
	seen := formatTime(now.Add(-time.Minute))
	observed := formatTime(now.Add(-time.Hour))
	for h := range hosts {
		id, name := fmt.Sprintf("a%05d", h), fmt.Sprintf("gpu%05d", h)
		if _, err := agent.Exec(id, name, seen, seen); err != nil {
			b.Fatal(err)
		}
		seq := 0
		put := func(kind, subject, plugin, attrs string) {
			seq++
			if _, err := cur.Exec(id, kind, subject, plugin, name, observed, attrs, seq, observed); err != nil {
				b.Fatal(err)
			}
		}
		put("host", "host:"+name, "agent", `{"hostname":"`+name+`","os":"linux","arch":"amd64","kernel":"6.1.0"}`)
		for _, p := range []string{"datasets", "models", "encryption", "access"} {
			put("scan.complete", "scan:"+p, "agent", `{"plugin":"`+p+`","kinds":[],"roots":["/srv/ml"],"started_at":"2026-03-01T10:00:00Z"}`)
			put("plugin.health", "plugin:"+p, "agent", `{"plugin":"`+p+`","state":"ok"}`)
		}
		for _, kind := range []string{"dataset", "model", "encryption.volume", "encryption.endpoint", "access.summary"} {
			for i := range subjectsPerHost[kind] {
				subject, plugin, attrs := fleetAttrs(kind, h, i)
				put(kind, subject, plugin, attrs)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkFleet times, over a synthetic fleet of BENCH_HOSTS hosts (10,000
// by default) with 50 subjects each in a real SQLite store: a full
// evaluation pass as serve records it (snapshot, every check, the pass
// stored), and the ingest of one 1,000-record batch.
func BenchmarkFleet(b *testing.B) {
	hosts := fleetHosts()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	dir := b.TempDir()
	if keep := os.Getenv("BENCH_STORE"); keep != "" {
		// A store left behind for timing the real command
		// (`annexa-collector report --data $BENCH_STORE`), as of the
		// time it is made: docs/performance.md.
		dir, now = keep, time.Now().UTC().Truncate(time.Second)
	}
	db, err := Open(context.Background(), filepath.Join(dir, "collector.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetClock(func() time.Time { return now })
	start := time.Now()
	seedFleet(b, db, hosts, now)
	b.Logf("seeded %d hosts, %d subjects in %s", hosts, hosts*50, time.Since(start))
	ctx := context.Background()

	b.Run("full-pass", func(b *testing.B) {
		defer cpuMetric(b)()
		for b.Loop() {
			r, err := report.RecordPass(ctx, db, now, report.Options{})
			if err != nil {
				b.Fatal(err)
			}
			if r.Summary.Noncompliant == 0 {
				b.Fatal("the planted problems were not found")
			}
		}
	})
	// What serve pays for its second and later passes: records unchanged
	// since the last pass are not decoded again.
	b.Run("full-pass-cached", func(b *testing.B) {
		opts := report.Options{Cache: new(report.DecodeCache)}
		if _, err := report.RecordPass(ctx, db, now, opts); err != nil {
			b.Fatal(err)
		}
		defer cpuMetric(b)()
		for b.Loop() {
			if _, err := report.RecordPass(ctx, db, now, opts); err != nil {
				b.Fatal(err)
			}
		}
	})
	// The alternative a user might reach for: one check written as SQL
	// over the same table, in the same SQLite. It judges one check of 41,
	// with no freshness, trust, exceptions or failing-subject detail.
	b.Run("sql-one-check", func(b *testing.B) {
		defer cpuMetric(b)()
		for b.Loop() {
			var n int
			if err := db.read.QueryRow(`SELECT count(*) FROM current WHERE kind = 'dataset' AND deleted = 0
				AND json_extract(attributes, '$.world_readable')`).Scan(&n); err != nil {
				b.Fatal(err)
			}
			if n != hosts*3 {
				b.Fatalf("%d world-readable datasets, want %d", n, hosts*3)
			}
		}
	})
	// serve's kept evaluation: a full pass builds it from a snapshot (the
	// second reuses the decoded attributes of the first), then a batch of
	// 1,000 changed datasets from one host is ingested (not timed; see
	// ingest-1000) and the kept evaluation reads the change feed and
	// re-judges what the batch touched. clock-step is the sweep serve makes
	// every 10 s: hosts past a freshness deadline and the checks reading
	// now.
	kept := report.NewKept(db, report.Options{}, 0)
	b.Run("kept-full-pass", func(b *testing.B) {
		stop := cpuMetric(b)
		for b.Loop() {
			if _, err := kept.Full(ctx, now); err != nil {
				b.Fatal(err)
			}
		}
		stop()
		// What the kept evaluation holds: the live heap with it, after
		// a collection (the store's own memory is in SQLite, outside).
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		b.ReportMetric(float64(ms.HeapAlloc)/(1<<20), "heap-MiB")
	})
	b.Run("incremental-1000", func(b *testing.B) {
		if err := kept.Refresh(ctx, now); err != nil { // a full pass, when run alone
			b.Fatal(err)
		}
		runtime.GC()
		seq := uint64(1000)
		var cpu time.Duration
		var wall time.Duration
		for b.Loop() {
			b.StopTimer()
			batch := &store.Batch{AgentID: "a00001", FirstSeq: seq + 1}
			for i := range 1000 {
				seq++
				subject, plugin, attrs := fleetAttrs("dataset", 1, i)
				batch.Records = append(batch.Records, evidence.Record{Seq: seq, Kind: "dataset", Subject: subject, Plugin: plugin, Op: evidence.OpUpsert,
					ObservedAt: now, Attributes: json.RawMessage(attrs[:len(attrs)-1] + `,"n":` + strconv.FormatUint(seq, 10) + `}`)})
			}
			batch.LastSeq = seq
			if _, err := db.Ingest(ctx, batch); err != nil {
				b.Fatal(err)
			}
			c0, w0 := processCPU(), time.Now()
			b.StartTimer()
			if err := kept.Refresh(ctx, now); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			cpu += processCPU() - c0
			wall += time.Since(w0)
			b.StartTimer()
		}
		b.ReportMetric(cpu.Seconds()*1000/float64(b.N), "cpu-ms/op")
		b.ReportMetric(wall.Seconds()*1000/float64(b.N), "wall-ms/op")
	})
	b.Run("clock-step", func(b *testing.B) {
		at := now
		defer cpuMetric(b)()
		for b.Loop() {
			at = at.Add(10 * time.Second)
			if err := kept.Refresh(ctx, at); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("kept-report", func(b *testing.B) {
		defer cpuMetric(b)()
		for b.Loop() {
			if _, _, err := kept.Report(ctx, now.Add(time.Hour)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ingest-1000", func(b *testing.B) {
		defer cpuMetric(b)()
		seq := uint64(1000)
		for b.Loop() {
			batch := &store.Batch{AgentID: "a00000", FirstSeq: seq + 1}
			for i := range 1000 {
				seq++
				subject, plugin, attrs := fleetAttrs("dataset", 0, i)
				batch.Records = append(batch.Records, evidence.Record{Seq: seq, Kind: "dataset", Subject: subject, Plugin: plugin, Op: evidence.OpUpsert,
					ObservedAt: now.Add(time.Duration(seq)), Attributes: json.RawMessage(attrs[:len(attrs)-1] + `,"n":` + strconv.FormatUint(seq, 10) + `}`)})
			}
			batch.LastSeq = seq
			if _, err := db.Ingest(ctx, batch); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// cpuMetric reports the process's CPU seconds per operation: on a machine
// shared with other work, wall time says more about the neighbours than
// about the code, CPU time much less.
func cpuMetric(b *testing.B) func() {
	start := processCPU()
	return func() {
		if b.N > 0 {
			b.ReportMetric((processCPU()-start).Seconds()/float64(b.N), "cpu-s/op")
		}
	}
}

// processCPU is the CPU time the process used so far, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
