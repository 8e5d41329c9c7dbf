package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/annexa/annexa/evidence"
	pluginv1 "github.com/annexa/annexa/proto/plugin/v1"
)

// Handshake is shared by the agent and every plugin. The cookie only stops
// a plugin binary from being run by hand by mistake; trust comes from the
// agent pinning each executable's SHA-256 and from go-plugin's AutoMTLS.
var Handshake = goplugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "ANNEXA_PLUGIN_COOKIE",
	MagicCookieValue: "8d6c1f0e-annexa-inventory-plugin",
}

// pluginName is the key of the one plugin each executable serves.
const pluginName = "inventory"

// Limits on what one stream message carries, so a chatty plugin cannot make
// the agent hold an unbounded group in memory before committing it.
const (
	maxGroupRecords = 256
	maxGroupBytes   = 1 << 20
)

// Serve runs p as a plugin process until the agent hangs up. Call it from
// main and nothing else: stdout belongs to the go-plugin handshake.
func Serve(p Plugin) {
	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig:  Handshake,
		VersionedPlugins: map[int]goplugin.PluginSet{ProtocolVersion: {pluginName: &grpcPlugin{impl: p}}},
		GRPCServer:       goplugin.DefaultGRPCServer,
		Logger: hclog.New(&hclog.LoggerOptions{
			Name: p.Info().Name, Output: os.Stderr, JSONFormat: true, Level: hclog.Info,
		}),
	})
}

// grpcPlugin binds the Plugin interface to go-plugin on both ends.
type grpcPlugin struct {
	goplugin.NetRPCUnsupportedPlugin
	impl Plugin
}

func (g *grpcPlugin) GRPCServer(_ *goplugin.GRPCBroker, s *grpc.Server) error {
	pluginv1.RegisterPluginServer(s, &server{impl: g.impl})
	return nil
}

func (g *grpcPlugin) GRPCClient(_ context.Context, _ *goplugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return &Client{rpc: pluginv1.NewPluginClient(c)}, nil
}

// server is the plugin-side gRPC shim.
type server struct {
	pluginv1.UnimplementedPluginServer
	impl Plugin
}

func (s *server) Describe(_ context.Context, _ *pluginv1.DescribeRequest) (*pluginv1.DescribeResponse, error) {
	info := s.impl.Info()
	return &pluginv1.DescribeResponse{
		Name: info.Name, Version: info.Version, Kinds: info.Kinds,
		ConfigSchema:           info.ConfigSchema,
		DefaultIntervalSeconds: int64(info.DefaultInterval / time.Second),
		ProtocolVersion:        ProtocolVersion,
	}, nil
}

func (s *server) Configure(ctx context.Context, req *pluginv1.ConfigureRequest) (*pluginv1.ConfigureResponse, error) {
	raw := json.RawMessage(req.GetConfigJson())
	if len(raw) == 0 {
		raw = json.RawMessage("{}")
	}
	roots, err := s.impl.Configure(ctx, Config{Raw: raw, StateDir: req.GetStateDir()})
	resp := &pluginv1.ConfigureResponse{WatchRoots: roots}
	var fe FieldErrors
	switch {
	case errors.As(err, &fe):
		for _, e := range fe {
			resp.Errors = append(resp.Errors, &pluginv1.FieldError{Field: e.Field, Message: e.Message})
		}
	case err != nil:
		resp.Errors = append(resp.Errors, &pluginv1.FieldError{Message: err.Error()})
	}
	return resp, nil
}

func (s *server) Collect(req *pluginv1.CollectRequest, stream grpc.ServerStreamingServer[pluginv1.CollectResponse]) error {
	// Info is asked again rather than remembered from Describe: gRPC
	// serves calls concurrently, and Info must be cheap and pure anyway.
	em := &streamEmitter{stream: stream, kinds: s.impl.Info().Kinds}
	r := Request{
		Full:        req.GetMode() != pluginv1.CollectRequest_MODE_INCREMENTAL,
		Changed:     req.GetChangedPaths(),
		Checkpoint:  req.GetCheckpoint(),
		Unthrottled: req.GetUnthrottled(),
		// The SDK sends what the agent can read: no progress and no
		// unchanged confirmation unless it asked for them.
		ScratchState:     req.GetScratchState(),
		Quiet:            !req.GetAcceptsProgress(),
		AcceptsUnchanged: req.GetAcceptsUnchanged() && req.GetMode() != pluginv1.CollectRequest_MODE_INCREMENTAL,
	}
	em.acceptsUnchanged = r.AcceptsUnchanged
	if req.GetAcceptsProgress() {
		em.progress = &Progress{}
	}
	ctx := withCollection(stream.Context(), em.progress, r.Unthrottled)
	if r.Unthrottled {
		restore, err := liftIOPriority()
		if err != nil {
			Logger(s.impl.Info().Name).Warn("cannot lift the lowered I/O priority for an unthrottled collection", "err", err)
		}
		defer restore()
	}
	stop := em.tick(ctx)
	err := s.impl.Collect(ctx, r, em)
	stop()
	if err != nil {
		return err
	}
	return em.flush(nil, true)
}

// progressEvery is how often progress goes to the agent while no records
// do: often enough for a smooth bar, rarely enough to cost nothing.
const progressEvery = 250 * time.Millisecond

// streamEmitter groups records into stream messages. Its methods may be
// called from several goroutines: gRPC allows one sender at a time, and
// progress is sent from a ticker besides.
type streamEmitter struct {
	stream grpc.ServerStreamingServer[pluginv1.CollectResponse]
	kinds  []string
	// progress is nil unless the agent reads it.
	progress *Progress
	// acceptsUnchanged: the agent reads Unchanged (full collections only).
	acceptsUnchanged bool
	// unchanged goes with the last message.
	unchanged *pluginv1.Unchanged

	// mu guards what follows; sendMu orders the sends. A sender takes
	// sendMu before it lets go of mu, so messages leave in the order they
	// were made, while workers go on emitting into the next group instead
	// of waiting for the agent to take the last one.
	mu       sync.Mutex
	sendMu   sync.Mutex
	pending  []*pluginv1.Evidence
	bytes    int
	lastSent ProgressCounts
}

func (e *streamEmitter) Emit(r Record) error {
	rec, err := toEvidence(r, time.Now())
	if err != nil {
		return err
	}
	if !slices.Contains(e.kinds, rec.Kind) {
		return fmt.Errorf("record %s %q: kind is not declared in Info().Kinds %v", rec.Kind, rec.Subject, e.kinds)
	}
	e.mu.Lock()
	e.pending = append(e.pending, toProto(rec))
	e.bytes += len(rec.Attributes) + len(rec.Subject)
	if len(e.pending) >= maxGroupRecords || e.bytes >= maxGroupBytes {
		return e.flushLocked(nil, false)
	}
	e.mu.Unlock()
	return nil
}

func (e *streamEmitter) Unchanged(since time.Time, subjects int) error {
	if !e.acceptsUnchanged {
		return errors.New("the agent did not accept unchanged subjects for this collection (an older agent, or not a full collection); send them all")
	}
	if since.IsZero() || subjects < 0 {
		return fmt.Errorf("unchanged subjects: since %v and count %d make no sense", since, subjects)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.unchanged = &pluginv1.Unchanged{Since: timestamppb.New(since), Subjects: uint64(subjects)}
	return nil
}

func (e *streamEmitter) Checkpoint(cp []byte) error {
	if cp == nil {
		cp = []byte{}
	}
	return e.flush(cp, false)
}

func (e *streamEmitter) flush(cp []byte, last bool) error {
	e.mu.Lock()
	return e.flushLocked(cp, last)
}

// flushLocked sends the pending records and checkpoint, with the progress
// so far. The last message of a collection carries progress even when it
// is otherwise empty, so the agent's figures end exact. It is called with
// e.mu held and returns with it released.
func (e *streamEmitter) flushLocked(cp []byte, last bool) error {
	msg := &pluginv1.CollectResponse{Records: e.pending, Checkpoint: cp}
	if last {
		msg.Unchanged = e.unchanged
	}
	if e.progress != nil && e.progress.used.Load() {
		c := e.progress.Counts()
		if last || c != e.lastSent || len(e.pending) > 0 || cp != nil {
			msg.Progress = progressProto(c)
			e.lastSent = c
		}
	}
	if len(e.pending) == 0 && cp == nil && msg.Progress == nil && msg.Unchanged == nil {
		e.mu.Unlock()
		return nil
	}
	e.pending, e.bytes = nil, 0
	e.sendMu.Lock()
	e.mu.Unlock()
	defer e.sendMu.Unlock()
	if err := e.stream.Send(msg); err != nil {
		return fmt.Errorf("send evidence to agent: %w", err)
	}
	return nil
}

// tick sends progress that changed every progressEvery until stop is
// called; stop waits for a send in flight, so none follows the last one.
func (e *streamEmitter) tick(ctx context.Context) (stop func()) {
	if e.progress == nil {
		return func() {}
	}
	done, quit := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			e.mu.Lock()
			c := e.progress.Counts()
			if c == e.lastSent {
				e.mu.Unlock()
				continue
			}
			e.lastSent = c
			e.sendMu.Lock()
			e.mu.Unlock()
			// Only progress: pending records wait for their group,
			// whose size and checkpoint the plugin decides.
			err := e.stream.Send(&pluginv1.CollectResponse{Progress: progressProto(c)})
			e.sendMu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return func() { close(quit); <-done }
}

func progressProto(c ProgressCounts) *pluginv1.Progress {
	return &pluginv1.Progress{
		FilesDone: uncount(c.FilesDone), BytesHashed: uncount(c.BytesHashed),
		FilesTotal: uncount(c.FilesTotal), BytesTotal: uncount(c.BytesTotal),
		TotalsFinal: c.TotalsFinal,
	}
}

func toProto(r evidence.Record) *pluginv1.Evidence {
	op := pluginv1.Op_OP_UNSPECIFIED
	switch r.Op {
	case evidence.OpUpsert:
		op = pluginv1.Op_OP_UPSERT
	case evidence.OpDelete:
		op = pluginv1.Op_OP_DELETE
	case evidence.OpEvent:
		op = pluginv1.Op_OP_EVENT
	}
	return &pluginv1.Evidence{
		Kind: r.Kind, Schema: r.Schema, Subject: r.Subject, Op: op,
		ObservedAt: timestamppb.New(r.ObservedAt), AttributesJson: r.Attributes,
	}
}

var _ pluginv1.PluginServer = (*server)(nil)
var _ goplugin.GRPCPlugin = (*grpcPlugin)(nil)

// Logger returns the logger a plugin should use: JSON lines on stderr in
// the shape hclog emits (@level, @message), which the agent's go-plugin
// client parses and relays into its own log under the plugin's name.
// stdout is not for logs: it carries the handshake.
func Logger(plugin string) *slog.Logger {
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.TimeKey:
				return slog.Attr{}
			case slog.LevelKey:
				return slog.String("@level", strings.ToLower(a.Value.String()))
			case slog.MessageKey:
				return slog.String("@message", a.Value.String())
			}
			return a
		},
	})).With("plugin", plugin)
}
