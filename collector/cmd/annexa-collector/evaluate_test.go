package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	ingestv1 "github.com/annexa/annexa/proto/ingest/v1"
)

// TestServeEvaluatesBatches: with no periodic pass, serve still judges each
// batch as it lands (the kept, incremental evaluation) and records the
// status it changes, and GET /v1/report answers from the same evaluation.
func TestServeEvaluatesBatches(t *testing.T) {
	data := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	stderr := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--data", data, "--evaluate-every", "0", "--plain-http"}, io.Discard, stderr)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	var base string
	for deadline := time.Now().Add(10 * time.Second); base == ""; {
		if m := listenRE.FindStringSubmatch(stderr.String()); m != nil {
			base = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("no listening line; stderr:\n%s", stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}
	tok, _, _ := cli(t, "token", "create", "--data", data, "--ttl", "1h")
	resp, err := http.Post(base+"/v1/enroll", "application/json",
		strings.NewReader(`{"token":"`+strings.TrimSpace(tok)+`","host":"gpu1","agent_version":"0.1.0"}`))
	if err != nil {
		t.Fatal(err)
	}
	var enrolled struct {
		AgentID    string `json:"agent_id"`
		Credential string `json:"credential"`
	}
	json.NewDecoder(resp.Body).Decode(&enrolled)
	resp.Body.Close()

	db, err := sql.Open("sqlite3", "file:"+filepath.Join(data, dbName)+"?mode=ro&_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// status83 waits until control 8.3's latest recorded status is want.
	status83 := func(want string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			var got string
			db.QueryRow(`SELECT status FROM status_changes WHERE control_id = 'iso27001-2022/8.3' ORDER BY evaluation_id DESC LIMIT 1`).Scan(&got)
			if got == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("8.3 is recorded %q, want %q; stderr:\n%s", got, want, stderr)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	status83("insufficient_evidence") // the pass at start: no evidence yet

	seq := uint64(0)
	now := time.Now().UTC()
	send := func(worldReadable string) {
		t.Helper()
		rec := func(kind, subject, plugin, attrs string) *ingestv1.Record {
			seq++
			return &ingestv1.Record{Seq: seq, Kind: kind, Schema: 1, Subject: subject, Op: "upsert", Host: "gpu1", Plugin: plugin,
				ObservedAt: timestamppb.New(now), AttributesJson: []byte(attrs)}
		}
		recs := []*ingestv1.Record{
			rec("dataset", "dataset:/srv/ml/datasets/iris", "datasets", `{"path":"/srv/ml/datasets/iris","mode":"0755","world_readable":`+worldReadable+`}`),
			rec("scan.complete", "scan:datasets", "agent", `{"plugin":"datasets","kinds":["dataset"],"roots":["/srv/ml/datasets"],"started_at":"`+now.Add(-time.Minute).Format(time.RFC3339Nano)+`"}`),
			rec("plugin.health", "plugin:datasets", "agent", `{"plugin":"datasets","state":"ok"}`),
		}
		body, err := proto.Marshal(&ingestv1.Batch{AgentId: enrolled.AgentID, FirstSeq: recs[0].Seq, LastSeq: seq, Records: recs})
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("POST", base+"/v1/ingest", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-protobuf")
		req.Header.Set("Authorization", "Bearer "+enrolled.Credential)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("ingest = %s", resp.Status)
		}
	}
	// report83 is control 8.3 as GET /v1/report gives it, from the kept
	// evaluation.
	key, _, _ := cli(t, "apikey", "create", "--data", data, "--name", "reader", "--role", "auditor")
	report83 := func() (status string, failing []string) {
		t.Helper()
		req, _ := http.NewRequest("GET", base+"/v1/report", nil)
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(key))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var rep struct {
			Controls []struct {
				ControlID string `json:"control_id"`
				Status    string `json:"status"`
				Checks    []struct {
					Failing []struct{ Subject string } `json:"failing_subjects"`
				} `json:"checks"`
			} `json:"controls"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
			t.Fatal(err)
		}
		for _, c := range rep.Controls {
			if c.ControlID == "iso27001-2022/8.3" {
				for _, ch := range c.Checks {
					for _, f := range ch.Failing {
						failing = append(failing, f.Subject)
					}
				}
				return c.Status, failing
			}
		}
		t.Fatal("no 8.3 in the report")
		return "", nil
	}
	send("true")
	status83("noncompliant")
	if s, f := report83(); s != "noncompliant" || len(f) != 1 || f[0] != "dataset:/srv/ml/datasets/iris" {
		t.Errorf("GET /v1/report: 8.3 %s failing %q", s, f)
	}
	send("false")
	status83("compliant")
	if s, f := report83(); s != "compliant" || len(f) != 0 {
		t.Errorf("GET /v1/report: 8.3 %s failing %q", s, f)
	}
	if log := stderr.String(); strings.Count(log, `"after":"full"`) != 1 || !strings.Contains(log, `"after":"batch"`) {
		t.Errorf("want one full pass at start and passes recorded after batches; log:\n%s", log)
	}
	// The metrics show serve's own evaluation work, not only the reports
	// read: the pass at start, the updates after the two batches, the two
	// reports.
	resp, err = http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	count := func(kind string) float64 {
		m := regexp.MustCompile(`(?m)^annexa_collector_evaluation_duration_seconds_count\{kind="` + kind + `"\} (\S+)$`).FindSubmatch(metrics)
		if m == nil {
			t.Fatalf("no evaluation count of kind %s in /metrics:\n%s", kind, metrics)
		}
		n, _ := strconv.ParseFloat(string(m[1]), 64)
		return n
	}
	if full, inc, rep := count("full"), count("incremental"), count("report"); full != 1 || inc < 2 || rep != 2 {
		t.Errorf("evaluations counted: full %v, incremental %v, report %v; want 1, at least 2, 2", full, inc, rep)
	}
	if !bytes.Contains(metrics, []byte(`annexa_collector_evaluation_failures_total{kind="incremental"} 0`)) {
		t.Errorf("no zero failure count for incremental updates in /metrics")
	}
}
