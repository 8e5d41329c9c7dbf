// Command counter is a test plugin for the delivery proofs: it emits a
// numbered stream of events, checkpointed after each group, plus a fixed
// set of state records, so a test can tell exactly what was lost or
// doubled anywhere between the plugin and the collector's store.
package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/annexa/annexa/plugins/sdk"
)

type settings struct {
	// Total events to emit over the plugin's life (across restarts).
	Total int `json:"total"`
	// PerCollection caps events emitted by one collection.
	PerCollection int `json:"per_collection"`
	// Group is how many events share one checkpoint.
	Group int `json:"group"`
	// Items is the number of state subjects in a full collection.
	Items int `json:"items"`
	// DelayMS slows each group, to widen the windows a kill can hit.
	DelayMS int `json:"delay_ms"`
	// Pad adds this many bytes to each event, to fill a spool quickly.
	Pad      int `json:"pad"`
	Interval int `json:"interval_seconds"`
	// UnchangedSince, when set (RFC 3339) and the agent accepts it, ends
	// each full collection with ReportUnchanged(UnchangedSince, Unchanged).
	UnchangedSince string `json:"unchanged_since"`
	Unchanged      int    `json:"unchanged"`
	// ConfirmItems leaves the items out of a full collection that
	// accepts unchanged subjects, once one sent them all in this process,
	// and confirms them. A real plugin must also check that the agent
	// committed what it sent (a checkpointed generation); this one trusts
	// its agent, which is what the tests using it need.
	ConfirmItems bool `json:"confirm_items"`
	// EchoRequest sends the request's flags as test.state "request", so a
	// test sees what the agent asked for.
	EchoRequest bool `json:"echo_request"`
}

type counter struct {
	s settings
	// sentAll is when the last full collection that sent every item began.
	sentAll time.Time
}

func (c *counter) Info() sdk.Info {
	return sdk.Info{Name: "counter", Version: "1.0.0", Kinds: []string{"test.event", "test.state"}, DefaultInterval: time.Second}
}

func (c *counter) Configure(_ context.Context, cfg sdk.Config) ([]string, error) {
	c.s = settings{Total: 100, PerCollection: 10, Group: 3, Items: 5}
	if err := cfg.Decode(&c.s); err != nil {
		return nil, err
	}
	if c.s.Group < 1 {
		return nil, sdk.FieldErrors{{Field: "group", Message: "must be at least 1"}}
	}
	if c.s.UnchangedSince != "" {
		if _, err := time.Parse(time.RFC3339Nano, c.s.UnchangedSince); err != nil {
			return nil, sdk.FieldErrors{{Field: "unchanged_since", Message: err.Error()}}
		}
	}
	return nil, nil
}

func (c *counter) Collect(ctx context.Context, req sdk.Request, out sdk.Emitter) (err error) {
	if c.s.EchoRequest {
		if err := out.Emit(sdk.Upsert("test.state", "request", map[string]any{
			"full": req.Full, "unthrottled": req.Unthrottled, "scratch_state": req.ScratchState,
			"quiet": req.Quiet, "accepts_unchanged": req.AcceptsUnchanged,
		})); err != nil {
			return err
		}
	}
	if req.Full && req.AcceptsUnchanged && c.s.UnchangedSince != "" {
		since, _ := time.Parse(time.RFC3339Nano, c.s.UnchangedSince)
		defer func() {
			if err == nil {
				err = sdk.ReportUnchanged(out, since, c.s.Unchanged)
			}
		}()
	}
	started := time.Now()
	if req.Full && req.AcceptsUnchanged && c.s.ConfirmItems && !c.sentAll.IsZero() {
		defer func() {
			if err == nil {
				err = sdk.ReportUnchanged(out, c.sentAll, c.s.Items)
			}
		}()
	} else if req.Full {
		defer func() {
			if err == nil {
				c.sentAll = started
			}
		}()
		for i := 1; i <= c.s.Items; i++ {
			if err := out.Emit(sdk.Upsert("test.state", fmt.Sprintf("item:%d", i), map[string]any{"i": i})); err != nil {
				return err
			}
		}
	}
	next := 1
	if len(req.Checkpoint) > 0 {
		n, err := strconv.Atoi(string(req.Checkpoint))
		if err != nil {
			return fmt.Errorf("bad checkpoint %q", req.Checkpoint)
		}
		next = n + 1
	}
	end := min(next+c.s.PerCollection-1, c.s.Total)
	for n := next; n <= end; n++ {
		attrs := map[string]any{"n": n}
		if c.s.Pad > 0 {
			attrs["pad"] = strings.Repeat("x", c.s.Pad)
		}
		if err := out.Emit(sdk.Event("test.event", fmt.Sprintf("counter:%d", n), attrs)); err != nil {
			return err
		}
		if (n-next+1)%c.s.Group == 0 || n == end {
			if err := out.Checkpoint([]byte(strconv.Itoa(n))); err != nil {
				return err
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(c.s.DelayMS) * time.Millisecond):
			}
		}
	}
	return nil
}

func main() { sdk.Serve(&counter{}) }
