package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/annexa/annexa/agent/internal/pluginhost"
	"github.com/annexa/annexa/agent/internal/ship"
	"github.com/annexa/annexa/agent/internal/spool"
	"github.com/annexa/annexa/evidence"
	"github.com/annexa/annexa/plugins/sdk"
)

// counterExe is the e2e counter test plugin, built once for the package.
var counterExe string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "daemon-test-")
	if err != nil {
		panic(err)
	}
	counterExe = filepath.Join(dir, "annexa-plugin-counter")
	cmd := exec.Command("go", "build", "-o", counterExe, "github.com/annexa/annexa/e2e/testplugins/counter")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build counter: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// testDaemon is a daemon with a real spool and the counter plugin, whose
// shipper is never run: the test reads what the collection committed.
func testDaemon(t *testing.T, settings string) (*Daemon, *pluginhost.Supervisor) {
	t.Helper()
	dir := t.TempDir()
	sp, err := spool.Open(filepath.Join(dir, SpoolFile), spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	shipper, err := ship.New(ship.Config{URL: "http://127.0.0.1:1", AgentID: "a", Credential: "c"}, sp)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(counterExe)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	sup := pluginhost.NewSupervisor(pluginhost.Spec{
		Name: "counter", Executable: counterExe, SHA256: hex.EncodeToString(sum[:]),
		StateDir: filepath.Join(dir, "plugins", "counter"), Settings: []byte(settings),
		Timeout: 20 * time.Second, MemoryLimit: 512 << 20, Logger: slog.New(slog.DiscardHandler),
	})
	t.Cleanup(sup.Stop)
	d := &Daemon{log: slog.New(slog.DiscardHandler), host: "h", spool: sp, shipper: shipper, sups: []*pluginhost.Supervisor{sup},
		creds: &Credentials{AgentID: "agent-1", Credential: "c"}}
	d.metrics = newMetrics(d)
	return d, sup
}

// spooled returns the records committed since the last call and acks
// them, as a shipper would.
func spooled(t *testing.T, d *Daemon) []evidence.Record {
	t.Helper()
	ctx := context.Background()
	recs, err := d.spool.Next(ctx, 0, 10000, 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) > 0 {
		if err := d.spool.Ack(ctx, recs[len(recs)-1].Seq); err != nil {
			t.Fatal(err)
		}
	}
	return recs
}

// requestEcho is the last request the counter plugin echoed back.
func requestEcho(t *testing.T, recs []evidence.Record) sdk.Request {
	t.Helper()
	var req struct {
		Full             bool `json:"full"`
		AcceptsUnchanged bool `json:"accepts_unchanged"`
		ScratchState     bool `json:"scratch_state"`
		Quiet            bool `json:"quiet"`
	}
	found := false
	for _, r := range recs {
		if r.Subject == "request" {
			found = true
			if err := json.Unmarshal(r.Attributes, &req); err != nil {
				t.Fatal(err)
			}
		}
	}
	if !found {
		t.Fatal("the plugin echoed no request")
	}
	return sdk.Request{Full: req.Full, AcceptsUnchanged: req.AcceptsUnchanged, ScratchState: req.ScratchState, Quiet: req.Quiet}
}

type scanAttrs struct {
	Plugin              string    `json:"plugin"`
	StartedAt           time.Time `json:"started_at"`
	CollectionStartedAt time.Time `json:"collection_started_at"`
	Unchanged           *int      `json:"unchanged"`
}

// scanComplete is the one scan.complete among recs.
func scanComplete(t *testing.T, recs []evidence.Record) scanAttrs {
	t.Helper()
	var found []scanAttrs
	for _, r := range recs {
		if r.Kind == evidence.KindScanComplete {
			var a scanAttrs
			if err := json.Unmarshal(r.Attributes, &a); err != nil {
				t.Fatalf("scan.complete attributes %s: %v", r.Attributes, err)
			}
			found = append(found, a)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d scan.complete records, want 1", len(found))
	}
	return found[0]
}

// A plugin that confirms unchanged subjects moves scan.complete's
// started_at back to the time it last sent everything, so the collector
// keeps the subjects it did not resend; the collection's own start stays
// on record. Its confirmation arrives in a last message holding nothing
// else, which must not be dropped as an empty group. The agent allows a
// confirmation only once a full collection sent everything under its
// current agent ID: not on the first one, and not on the first after the
// agent enrolled anew, whose collector knows none of its subjects.
func TestFullCollectionConfirmingUnchanged(t *testing.T) {
	since := time.Date(2026, 11, 1, 8, 30, 0, 123456789, time.UTC)
	d, sup := testDaemon(t, fmt.Sprintf(`{"total":100,"per_collection":3,"group":3,"items":2,"echo_request":true,"unchanged_since":%q,"unchanged":40}`, since.Format(time.RFC3339Nano)))
	ctx := context.Background()
	sentAll := func(step string) {
		t.Helper()
		before := time.Now().UTC()
		if err := d.collect(ctx, sup, sdk.Request{Full: true}); err != nil {
			t.Fatal(err)
		}
		recs := spooled(t, d)
		if req := requestEcho(t, recs); req.AcceptsUnchanged || !req.Full {
			t.Errorf("%s: request %+v accepts unchanged subjects", step, req)
		}
		sc := scanComplete(t, recs)
		if sc.StartedAt.Before(before) || sc.Unchanged != nil || !sc.CollectionStartedAt.Equal(sc.StartedAt) {
			t.Errorf("%s: scan.complete %+v, want started_at the collection's start (after %v) and no unchanged count", step, sc, before)
		}
	}
	confirmed := func(step string) {
		t.Helper()
		before := time.Now().UTC()
		if err := d.collect(ctx, sup, sdk.Request{Full: true}); err != nil {
			t.Fatal(err)
		}
		recs := spooled(t, d)
		if req := requestEcho(t, recs); !req.AcceptsUnchanged {
			t.Errorf("%s: request %+v does not accept unchanged subjects", step, req)
		}
		sc := scanComplete(t, recs)
		if !sc.StartedAt.Equal(since) {
			t.Errorf("%s: started_at = %v, want the plugin's since %v", step, sc.StartedAt, since)
		}
		if sc.Unchanged == nil || *sc.Unchanged != 40 {
			t.Errorf("%s: unchanged = %v, want 40", step, sc.Unchanged)
		}
		if sc.CollectionStartedAt.Before(before) || sc.CollectionStartedAt.After(time.Now()) {
			t.Errorf("%s: collection_started_at = %v, not the collection's start (after %v)", step, sc.CollectionStartedAt, before)
		}
	}
	sentAll("first collection")
	confirmed("second collection")
	confirmed("third collection")

	d.creds = &Credentials{AgentID: "agent-2", Credential: "c2"} // enroll --force
	sentAll("first collection as a new agent")
	// The stream's checkpoint survived the new enrollment: events go on
	// from where they were, none sent twice.
	if cp, err := d.spool.Checkpoint(ctx, "counter"); err != nil || string(cp) != "12" {
		t.Errorf("checkpoint after 4 collections = %q, %v; want 12", cp, err)
	}
	confirmed("second collection as a new agent")

	// The agent restarts: its first full collection sends everything
	// again (a collector restored from a backup is refilled at once), and
	// the stream's checkpoint is kept.
	d = &Daemon{log: d.log, host: d.host, spool: d.spool, shipper: d.shipper, sups: d.sups, creds: d.creds, metrics: d.metrics}
	sentAll("first collection after a restart")
	confirmed("second collection after a restart")
}

// Without a confirmation, even where one is accepted, started_at is the
// collection's start and no unchanged count is claimed.
func TestFullCollectionWithoutUnchanged(t *testing.T) {
	d, sup := testDaemon(t, `{"total":3,"per_collection":3,"group":3,"items":2,"echo_request":true}`)
	if err := d.collect(context.Background(), sup, sdk.Request{Full: true}); err != nil {
		t.Fatal(err)
	}
	spooled(t, d)
	before := time.Now().UTC()
	if err := d.collect(context.Background(), sup, sdk.Request{Full: true}); err != nil {
		t.Fatal(err)
	}
	recs := spooled(t, d)
	if req := requestEcho(t, recs); !req.AcceptsUnchanged {
		t.Errorf("second full collection did not accept unchanged subjects: %+v", req)
	}
	sc := scanComplete(t, recs)
	if sc.StartedAt.Before(before) || sc.StartedAt.After(time.Now()) {
		t.Errorf("started_at = %v, not the collection's start (after %v)", sc.StartedAt, before)
	}
	if !sc.CollectionStartedAt.Equal(sc.StartedAt) {
		t.Errorf("collection_started_at = %v, want started_at %v", sc.CollectionStartedAt, sc.StartedAt)
	}
	if sc.Unchanged != nil {
		t.Errorf("unchanged = %d claimed by a plugin that confirmed nothing", *sc.Unchanged)
	}
}

// A since later than the collection's start cannot retire more than the
// collection itself saw: started_at stays the collection's start.
func TestUnchangedSinceAfterStartKeepsStart(t *testing.T) {
	started := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	rec := ScanCompleteRecord("h", "p", []string{"x"}, nil, started, &sdk.Unchanged{Since: started.Add(time.Hour), Subjects: 1}, started.Add(2*time.Hour))
	var sc scanAttrs
	if err := json.Unmarshal(rec.Attributes, &sc); err != nil {
		t.Fatal(err)
	}
	if !sc.StartedAt.Equal(started) {
		t.Errorf("started_at = %v, want %v", sc.StartedAt, started)
	}
}

// Incremental collections never accept unchanged subjects: they send
// only what changed, and end with no scan.complete.
func TestIncrementalCollectionDoesNotAcceptUnchanged(t *testing.T) {
	d, sup := testDaemon(t, `{"total":3,"per_collection":3,"group":3,"items":2,"echo_request":true,"unchanged_since":"2026-11-01T00:00:00Z","unchanged":5}`)
	if err := d.collect(context.Background(), sup, sdk.Request{Changed: []string{"/x"}}); err != nil {
		t.Fatal(err)
	}
	recs := spooled(t, d)
	if req := requestEcho(t, recs); req.AcceptsUnchanged || req.Full {
		t.Errorf("incremental request = %+v", req)
	}
	for _, r := range recs {
		if r.Kind == evidence.KindScanComplete {
			t.Errorf("incremental collection recorded %s", r.Attributes)
		}
	}
}
