package access

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/annexa/annexa/plugins/sdk"
)

// errCrash is what the fake agent returns when it "dies" at a checkpoint.
var errCrash = errors.New("simulated crash")

// fakeAgent behaves like the agent's spool: records become durable only
// together with the checkpoint that follows them; whatever was emitted
// after the last checkpoint is lost in a crash.
type fakeAgent struct {
	committed []sdk.Record
	pending   []sdk.Record
	cp        []byte
	// crashAt makes the crashAt-th Checkpoint call (counted over the
	// agent's life) fail without committing; 0 never.
	crashAt int
	calls   int
}

func (a *fakeAgent) Emit(r sdk.Record) error {
	if _, err := json.Marshal(r.Attributes); err != nil {
		return err
	}
	a.pending = append(a.pending, r)
	return nil
}

func (a *fakeAgent) Checkpoint(cp []byte) error {
	a.calls++
	if a.crashAt > 0 && a.calls == a.crashAt {
		return errCrash
	}
	a.committed = append(a.committed, a.pending...)
	a.pending = nil
	a.cp = append([]byte(nil), cp...)
	return nil
}

// collect runs one collection from the last committed checkpoint and
// returns the records it committed.
func (a *fakeAgent) collect(t *testing.T, p *Plugin) ([]sdk.Record, error) {
	t.Helper()
	before := len(a.committed)
	a.pending = nil
	err := p.Collect(context.Background(), sdk.Request{Full: true, Checkpoint: a.cp}, a)
	if err == nil && len(a.pending) > 0 {
		t.Errorf("%d records emitted after the last checkpoint", len(a.pending))
	}
	a.pending = nil
	return a.committed[before:], err
}

func newPlugin(t testing.TB, settings map[string]any) *Plugin {
	t.Helper()
	p := New()
	p.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	p.loc = time.UTC
	p.now = func() time.Time { return time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC) }
	if _, ok := settings["year"]; !ok {
		settings["year"] = 2025
	}
	raw, _ := json.Marshal(settings)
	if _, err := p.Configure(context.Background(), sdk.Config{Raw: raw, StateDir: t.TempDir()}); err != nil {
		t.Fatalf("Configure(%s): %v", raw, err)
	}
	return p
}

// eventsOf returns the access.event records' attributes by subject,
// failing on a subject seen twice.
func eventsOf(t *testing.T, recs []sdk.Record, seen map[string]Event) []Event {
	t.Helper()
	var out []Event
	for _, r := range recs {
		if r.Kind != KindEvent {
			continue
		}
		ev := r.Attributes.(Event)
		if prev, dup := seen[r.Subject]; dup {
			t.Errorf("subject %s reported twice: %q and %q", r.Subject, prev.Line, ev.Line)
		}
		seen[r.Subject] = ev
		out = append(out, ev)
	}
	return out
}

func summariesOf(recs []sdk.Record) []Summary {
	var out []Summary
	for _, r := range recs {
		if r.Kind == KindSummary {
			out = append(out, r.Attributes.(Summary))
		}
	}
	return out
}

func appendFile(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

// sshLine makes a distinct sshd failure line.
func sshLine(i int) string {
	return "Mar  3 10:" + two(i/60%60) + ":" + two(i%60) + " gpu01 sshd[" + itoa(2000+i) + "]: Failed password for u" + itoa(i) + " from 10.0." + itoa(i/250%250) + "." + itoa(i%250) + " port 22 ssh2\n"
}

func sshLines(from, to int) string {
	var b strings.Builder
	for i := from; i < to; i++ {
		b.WriteString(sshLine(i))
	}
	return b.String()
}

func two(i int) string {
	if i < 10 {
		return "0" + itoa(i)
	}
	return itoa(i)
}

func itoa(i int) string { return strconv.Itoa(i) }

// actors returns the actors of events, in order.
func actors(evs []Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Actor)
	}
	return out
}

func logPath(t *testing.T) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "auth.log")
}

// quiet is an unconfigured plugin that logs nowhere.
func quiet() *Plugin {
	p := New()
	p.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	return p
}

// nullAgent drops what it is given (for benchmarks).
type nullAgent struct{ cps int }

func (a *nullAgent) Emit(sdk.Record) error      { return nil }
func (a *nullAgent) Checkpoint(cp []byte) error { a.cps++; return nil }

func sdkRequest() sdk.Request { return sdk.Request{Full: true} }
