package sdk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	goplugin "github.com/hashicorp/go-plugin"

	"github.com/annexa/annexa/evidence"
	pluginv1 "github.com/annexa/annexa/proto/plugin/v1"
)

// PluginSets is what the host passes to go-plugin as VersionedPlugins.
func PluginSets() map[int]goplugin.PluginSet {
	return map[int]goplugin.PluginSet{ProtocolVersion: {pluginName: &grpcPlugin{}}}
}

// Dispense returns the host-side Client of a started go-plugin client.
func Dispense(c *goplugin.Client) (*Client, error) {
	rpc, err := c.Client()
	if err != nil {
		return nil, fmt.Errorf("connect to plugin: %w", err)
	}
	raw, err := rpc.Dispense(pluginName)
	if err != nil {
		return nil, fmt.Errorf("dispense plugin: %w", err)
	}
	cl, ok := raw.(*Client)
	if !ok {
		return nil, fmt.Errorf("plugin served %T, not an Annexa inventory plugin", raw)
	}
	return cl, nil
}

// Client is the agent's view of one running plugin. Records that arrive
// from it are untrusted and checked before they are handed on.
type Client struct {
	rpc pluginv1.PluginClient
}

// Describe asks the plugin who it is.
func (c *Client) Describe(ctx context.Context) (Info, error) {
	resp, err := c.rpc.Describe(ctx, &pluginv1.DescribeRequest{ProtocolVersion: ProtocolVersion})
	if err != nil {
		return Info{}, fmt.Errorf("describe: %w", err)
	}
	if v := resp.GetProtocolVersion(); v != ProtocolVersion {
		return Info{}, fmt.Errorf("describe: plugin speaks protocol version %d, this agent speaks %d; install a plugin built for this agent", v, ProtocolVersion)
	}
	return Info{
		Name: resp.GetName(), Version: resp.GetVersion(), Kinds: resp.GetKinds(),
		ConfigSchema:    resp.GetConfigSchema(),
		DefaultInterval: time.Duration(resp.GetDefaultIntervalSeconds()) * time.Second,
	}, nil
}

// Configure sends settings; FieldErrors come back as a FieldErrors error.
func (c *Client) Configure(ctx context.Context, cfg Config) ([]string, error) {
	resp, err := c.rpc.Configure(ctx, &pluginv1.ConfigureRequest{ConfigJson: cfg.Raw, StateDir: cfg.StateDir})
	if err != nil {
		return nil, fmt.Errorf("configure: %w", err)
	}
	if len(resp.GetErrors()) > 0 {
		fe := make(FieldErrors, 0, len(resp.GetErrors()))
		for _, e := range resp.GetErrors() {
			fe = append(fe, FieldError{Field: e.GetField(), Message: e.GetMessage()})
		}
		return nil, fe
	}
	return resp.GetWatchRoots(), nil
}

// Group is one stream message: records to commit together with the
// checkpoint, if HasCheckpoint. A message may carry only Progress: then
// there is nothing to commit.
type Group struct {
	Records       []evidence.Record
	Checkpoint    []byte
	HasCheckpoint bool
	// Progress is the collection's progress so far, nil when the message
	// carries none (a plugin built before progress never sends it).
	Progress *ProgressCounts
	// Unchanged is set on the last group of a full collection whose
	// plugin left out subjects it found unchanged (ReportUnchanged).
	Unchanged *Unchanged
}

// Unchanged is what a plugin confirmed without resending: every subject
// of its kinds it did not send is as sent no earlier than Since.
type Unchanged struct {
	Since    time.Time
	Subjects int
}

// Empty says the group has nothing to commit.
func (g Group) Empty() bool { return len(g.Records) == 0 && !g.HasCheckpoint }

// InvalidRecordError says a plugin sent a record that breaks the envelope
// rules or its own declared kinds; the agent treats the plugin as
// misbehaving rather than storing it.
type InvalidRecordError struct {
	Index int
	Err   error
}

func (e *InvalidRecordError) Error() string {
	return fmt.Sprintf("plugin sent invalid record #%d: %v", e.Index, e.Err)
}

func (e *InvalidRecordError) Unwrap() error { return e.Err }

// Collect runs one collection and hands each group to fn in order, also
// those that carry only progress (see Group.Empty). kinds are the
// plugin's declared kinds; a record of any other kind is invalid.
func (c *Client) Collect(ctx context.Context, req Request, kinds []string, fn func(Group) error) error {
	mode := pluginv1.CollectRequest_MODE_FULL
	if !req.Full {
		mode = pluginv1.CollectRequest_MODE_INCREMENTAL
	}
	stream, err := c.rpc.Collect(ctx, &pluginv1.CollectRequest{
		Mode: mode, ChangedPaths: req.Changed, Checkpoint: req.Checkpoint,
		Unthrottled: req.Unthrottled, AcceptsProgress: !req.Quiet,
		ScratchState: req.ScratchState, AcceptsUnchanged: req.AcceptsUnchanged && req.Full,
	})
	if err != nil {
		return fmt.Errorf("collect: %w", err)
	}
	allowed := make(map[string]bool, len(kinds))
	for _, k := range kinds {
		allowed[k] = true
	}
	n := 0
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("collect: %w", err)
		}
		g := Group{Checkpoint: msg.GetCheckpoint(), HasCheckpoint: msg.Checkpoint != nil}
		if p := msg.GetProgress(); p != nil {
			g.Progress = &ProgressCounts{
				FilesDone: clampCount(p.GetFilesDone()), BytesHashed: clampCount(p.GetBytesHashed()),
				FilesTotal: clampCount(p.GetFilesTotal()), BytesTotal: clampCount(p.GetBytesTotal()),
				TotalsFinal: p.GetTotalsFinal(),
			}
		}
		if u := msg.GetUnchanged(); u != nil {
			if !req.AcceptsUnchanged || !req.Full {
				return &InvalidRecordError{Index: n, Err: errors.New("the plugin reported unchanged subjects in a collection that did not accept them")}
			}
			since := u.GetSince().AsTime().UTC()
			if u.GetSince() == nil || since.Year() < 2000 || u.GetSubjects() > math.MaxInt32 {
				return &InvalidRecordError{Index: n, Err: fmt.Errorf("unchanged subjects: since %v, count %d are not plausible", since, u.GetSubjects())}
			}
			g.Unchanged = &Unchanged{Since: since, Subjects: int(u.GetSubjects())}
		}
		for _, p := range msg.GetRecords() {
			rec, err := fromProto(p)
			if err == nil && !allowed[rec.Kind] {
				err = &evidence.FieldError{Field: "kind", Message: fmt.Sprintf("%q is not among the kinds the plugin declared %v", rec.Kind, kinds)}
			}
			if err != nil {
				return &InvalidRecordError{Index: n, Err: err}
			}
			g.Records = append(g.Records, rec)
			n++
		}
		if err := fn(g); err != nil {
			return err
		}
	}
}

func fromProto(p *pluginv1.Evidence) (evidence.Record, error) {
	var op evidence.Op
	switch p.GetOp() {
	case pluginv1.Op_OP_UPSERT:
		op = evidence.OpUpsert
	case pluginv1.Op_OP_DELETE:
		op = evidence.OpDelete
	case pluginv1.Op_OP_EVENT:
		op = evidence.OpEvent
	}
	r := evidence.Record{
		Kind: p.GetKind(), Schema: p.GetSchema(), Subject: p.GetSubject(), Op: op,
		Attributes: p.GetAttributesJson(),
	}
	if p.GetObservedAt() != nil {
		r.ObservedAt = p.GetObservedAt().AsTime().UTC()
	}
	if r.Schema == 0 {
		r.Schema = 1
	}
	return r, r.Validate()
}
