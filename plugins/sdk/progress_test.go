package sdk

import (
	"context"
	"errors"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pluginv1 "github.com/annexa/annexa/proto/plugin/v1"
)

// progressPlugin "hashes" three files of 100 bytes through a ByteRate,
// reporting progress as a real plugin does, and notes what it was asked.
type progressPlugin struct {
	pacer *ByteRate
	// hold, if set, is waited on after the first file, so a test can see
	// progress arrive while no records do.
	hold chan struct{}

	mu          sync.Mutex
	unthrottled bool
	prioDuring  int
}

func (p *progressPlugin) Info() Info {
	return Info{Name: "progress", Version: "1", Kinds: []string{"thing"}}
}

func (p *progressPlugin) Configure(context.Context, Config) ([]string, error) { return nil, nil }

func (p *progressPlugin) Collect(ctx context.Context, req Request, out Emitter) error {
	prio, _ := threadIOPriority()
	p.mu.Lock()
	p.unthrottled, p.prioDuring = req.Unthrottled, prio
	p.mu.Unlock()
	prog := ProgressFrom(ctx)
	prog.Found(3, 300)
	prog.FoundAll()
	for i := range 3 {
		if err := p.pacer.Hashed(ctx, 100); err != nil {
			return err
		}
		prog.Examined(1)
		if i == 0 && p.hold != nil {
			select {
			case <-p.hold:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if err := out.Emit(Upsert("thing", "thing:"+string(rune('a'+i)), map[string]int{"i": i})); err != nil {
			return err
		}
	}
	return nil
}

// serveInProcess serves impl with the SDK's gRPC shim on a loopback port.
func serveInProcess(t *testing.T, impl Plugin) (*Client, pluginv1.PluginClient) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	pluginv1.RegisterPluginServer(s, &server{impl: impl})
	go s.Serve(ln)
	t.Cleanup(s.Stop)
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	rpc := pluginv1.NewPluginClient(conn)
	return &Client{rpc: rpc}, rpc
}

func TestProgressReachesTheAgent(t *testing.T) {
	impl := &progressPlugin{hold: make(chan struct{})}
	client, _ := serveInProcess(t, impl)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var reports []ProgressCounts
	records, progressOnly := 0, 0
	err := client.Collect(ctx, Request{Full: true}, []string{"thing"}, func(g Group) error {
		if g.Progress != nil {
			reports = append(reports, *g.Progress)
		}
		if g.Empty() && g.Progress != nil {
			progressOnly++
			if progressOnly == 1 {
				// Progress came while the plugin sat on its first file
				// with no records to send: now let it go on.
				close(impl.hold)
			}
		}
		records += len(g.Records)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if records != 3 || progressOnly == 0 {
		t.Fatalf("%d records, %d progress-only messages; want 3 and at least 1", records, progressOnly)
	}
	first, last := reports[0], reports[len(reports)-1]
	if first != (ProgressCounts{FilesDone: 1, BytesHashed: 100, FilesTotal: 3, BytesTotal: 300, TotalsFinal: true}) {
		t.Errorf("first report %+v; want the first file done of 3", first)
	}
	if last != (ProgressCounts{FilesDone: 3, BytesHashed: 300, FilesTotal: 3, BytesTotal: 300, TotalsFinal: true}) {
		t.Errorf("last report %+v; want everything done", last)
	}
}

// An agent that does not say it accepts progress (one built before it)
// never gets a message carrying only progress, which it would take for an
// empty group of records.
func TestNoProgressForAnAgentThatDoesNotAskForIt(t *testing.T) {
	impl := &progressPlugin{}
	_, rpc := serveInProcess(t, impl)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	stream, err := rpc.Collect(ctx, &pluginv1.CollectRequest{Mode: pluginv1.CollectRequest_MODE_FULL})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
		if msg.GetProgress() != nil || len(msg.GetRecords()) == 0 {
			t.Errorf("message %d carries progress or no records: %v", n, msg)
		}
	}
	if n == 0 {
		t.Fatal("no messages")
	}
}

// An unthrottled collection reaches the plugin as Request.Unthrottled,
// its ByteRate waits for nothing, and a lowered I/O priority is lifted for
// the collection and put back after it.
func TestUnthrottledCollection(t *testing.T) {
	impl := &progressPlugin{pacer: NewByteRate(1)} // 1 byte/s: 300 bytes would take minutes
	client, _ := serveInProcess(t, impl)
	low := ioprioClassBE<<ioprioClassShift | 7
	if runtime.GOOS == "linux" {
		if err := setProcessIOPriority(low); err != nil {
			t.Fatalf("lower the test's I/O priority: %v", err)
		}
		t.Cleanup(func() { _ = setProcessIOPriority(ioprioDefault) })
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := client.Collect(ctx, Request{Full: true, Unthrottled: true}, []string{"thing"}, func(Group) error { return nil }); err != nil {
		t.Fatalf("unthrottled collection: %v", err)
	}
	impl.mu.Lock()
	if !impl.unthrottled {
		t.Error("the plugin's Request.Unthrottled is false")
	}
	if runtime.GOOS == "linux" && impl.prioDuring != ioprioDefault {
		t.Errorf("I/O priority during the collection %#x; want the default %#x", impl.prioDuring, ioprioDefault)
	}
	impl.mu.Unlock()
	if runtime.GOOS == "linux" {
		if p, err := threadIOPriority(); err != nil || p != low {
			t.Errorf("I/O priority after the collection %#x (%v); want the lowered %#x back", p, err, low)
		}
	}

	// The same plugin throttled: the limit binds, which is what makes the
	// unthrottled run above mean something.
	ctx, cancel = context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := client.Collect(ctx, Request{Full: true}, []string{"thing"}, func(Group) error { return nil })
	if err == nil {
		t.Fatal("a collection limited to 1 byte/s read 300 bytes within 2s")
	}
}

func TestProgressNilAndCounts(t *testing.T) {
	var none *Progress
	none.Found(1, 2)
	none.FoundAll()
	none.Examined(1)
	none.Hashed(3)
	none.Skipped(4)
	none.Total(5, 6)
	if none.Counts() != (ProgressCounts{}) || ProgressFrom(context.Background()) != nil {
		t.Error("a nil Progress is not a silent no-op")
	}
	p := &Progress{}
	p.Found(2, 100)
	p.Skipped(60)
	p.Hashed(40)
	p.Examined(2)
	p.Skipped(500) // more skipped than found: the total stops at 0
	if c := p.Counts(); c != (ProgressCounts{FilesDone: 2, BytesHashed: 40, FilesTotal: 2, BytesTotal: 0}) {
		t.Errorf("counts %+v", c)
	}

	// A walk ahead of the work sets the totals; the work's own walk, still
	// finding files, adds nothing after that, and skips still count.
	p = &Progress{}
	p.Found(3, 300)
	p.Skipped(100)
	p.Total(10, 1000)
	p.Found(1, 50)
	p.Skipped(100)
	p.Total(20, 2000) // final already: ignored
	if c := p.Counts(); c != (ProgressCounts{FilesTotal: 10, BytesTotal: 800, TotalsFinal: true}) {
		t.Errorf("counts after Total %+v", c)
	}
	p = &Progress{}
	p.Found(2, 20)
	p.FoundAll()
	p.Found(1, 10)
	if c := p.Counts(); c != (ProgressCounts{FilesTotal: 2, BytesTotal: 20, TotalsFinal: true}) {
		t.Errorf("Found after FoundAll changed the totals: %+v", c)
	}
}

// A wait that would pass the deadline ends with the context's error, so a
// plugin sees its collection end, not a file it could not read.
func TestByteRateWaitPastTheDeadline(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := NewByteRate(1).Wait(ctx, 10); !errors.Is(err, context.DeadlineExceeded) || ctx.Err() == nil {
		t.Errorf("Wait = %v with ctx.Err() = %v; want the deadline, reached", err, ctx.Err())
	}
}
