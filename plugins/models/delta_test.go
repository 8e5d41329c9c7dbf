package models

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/annexa/annexa/plugins/sdk"
)

// agentEmitter stands in for the agent's side of a collection: it keeps
// the records and the last checkpoint, and accepts unchanged subjects as
// the SDK's emitter does when the agent asked for them.
type agentEmitter struct {
	recorder
	cp        []byte
	unchanged *sdk.Unchanged
}

func (e *agentEmitter) Checkpoint(cp []byte) error { e.cp = cp; return nil }
func (e *agentEmitter) Unchanged(since time.Time, n int) error {
	e.unchanged = &sdk.Unchanged{Since: since, Subjects: n}
	return nil
}

// collectAs runs a full collection the way the daemon does, handing back
// the checkpoint it committed last.
func collectAs(t *testing.T, p *Plugin, cp []byte) *agentEmitter {
	t.Helper()
	var e agentEmitter
	if err := p.Collect(context.Background(), sdk.Request{Full: true, AcceptsUnchanged: true, Checkpoint: cp}, &e); err != nil {
		t.Fatal(err)
	}
	return &e
}

func TestFullCollectionConfirmsUnchangedModels(t *testing.T) {
	root := fixtureTree(t)
	p := configured(t, map[string]any{"roots": []string{root}}, t.TempDir())
	before := time.Now()
	first := collectAs(t, p, nil)
	if first.unchanged != nil || len(first.recs) != 5 || first.cp == nil {
		t.Fatalf("first collection: %s, unchanged %+v, checkpoint %q", first.summary(), first.unchanged, first.cp)
	}

	// The agent committed it all: nothing is sent again, all is confirmed
	// against the first collection's start.
	second := collectAs(t, p, first.cp)
	if len(second.recs) != 0 || second.unchanged == nil || second.unchanged.Subjects != 5 {
		t.Fatalf("unchanged tree: %s, unchanged %+v", second.summary(), second.unchanged)
	}
	if since := second.unchanged.Since; since.Before(before) || since.After(first.recs[0].ObservedAt) && !first.recs[0].ObservedAt.IsZero() {
		t.Errorf("confirmed since %v: not the first collection's start (began after %v)", since, before)
	}
	if p.stats.foldersSkipped.Load() == 0 {
		t.Error("no folder was skipped on its print")
	}

	// One model rewritten, one removed, one added: only those are sent.
	bert := filepath.Join(root, "bert")
	data, _ := os.ReadFile(filepath.Join("testdata", "fixtures", "tiny.safetensors"))
	os.WriteFile(filepath.Join(root, "llm", "new.safetensors"), data, 0o640)
	os.Remove(filepath.Join(root, "arrays", "a.npy"))
	future := time.Now().Add(time.Minute)
	os.WriteFile(filepath.Join(bert, "model.safetensors"), append(data[:len(data):len(data)], 0), 0o640)
	os.Chtimes(filepath.Join(bert, "model.safetensors"), future, future)
	third := collectAs(t, p, second.cp)
	if got, want := third.summary(), "delete a.npy, upsert model.safetensors, upsert new.safetensors"; got != want {
		t.Errorf("after changes: %s, want %s", got, want)
	}
	if third.unchanged == nil || third.unchanged.Subjects != 3 || !third.unchanged.Since.Equal(second.unchanged.Since) {
		t.Errorf("after changes: unchanged %+v, want 3 since %v", third.unchanged, second.unchanged.Since)
	}

	// A checkpoint the agent did not commit (a collection cut short, a
	// lost spool): everything is sent again, and that is the new basis.
	fourth := collectAs(t, p, first.cp)
	if fourth.unchanged != nil || len(fourth.recs) != 5 {
		t.Fatalf("stale checkpoint: %s, unchanged %+v", fourth.summary(), fourth.unchanged)
	}
	if fifth := collectAs(t, p, fourth.cp); fifth.unchanged == nil || !fifth.unchanged.Since.After(second.unchanged.Since) {
		t.Errorf("after a resend: unchanged %+v, want confirmed since the resend", fifth.unchanged)
	}

	// An older agent, or collect --once: every model, nothing confirmed.
	var old agentEmitter
	if err := p.Collect(context.Background(), sdk.Request{Full: true, Checkpoint: fourth.cp}, &old); err != nil {
		t.Fatal(err)
	}
	if old.unchanged != nil || len(old.recs) != 5 {
		t.Errorf("agent without accepts_unchanged: %s, unchanged %+v", old.summary(), old.unchanged)
	}
}

func TestResendEveryBoundsConfirmation(t *testing.T) {
	root := fixtureTree(t)
	p := configured(t, map[string]any{"roots": []string{root}, "resend_every": "0s"}, t.TempDir())
	cp := collectAs(t, p, nil).cp
	again := collectAs(t, p, cp)
	if again.unchanged != nil || len(again.recs) != 5 {
		t.Errorf("resend_every 0s: %s, unchanged %+v", again.summary(), again.unchanged)
	}
	raw := []byte(`{"roots":["/srv"],"resend_every":"daily"}`)
	if _, err := New().Configure(context.Background(), sdk.Config{Raw: raw}); err == nil {
		t.Error("resend_every \"daily\" accepted")
	}
}

// A folder's stored print must follow everything its models' evidence
// took from outside: here the approved-digest list, changed and changed
// back, which leaves every file and the folder as they were.
func TestFolderPrintFollowsPins(t *testing.T) {
	root := fixtureTree(t)
	data, _ := os.ReadFile(filepath.Join(root, "llm", "q4.weights"))
	sum := sha256.Sum256(data)
	pins := filepath.Join(t.TempDir(), "approved.txt")
	approve := func(on bool) {
		body := ""
		if on {
			body = hex.EncodeToString(sum[:]) + "  q4.weights\n"
		}
		if err := os.WriteFile(pins, []byte(body), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	approve(true)
	p := configured(t, map[string]any{"roots": []string{root}, "pinned_digests_file": pins}, t.TempDir())
	e := collectAs(t, p, nil)
	e = collectAs(t, p, e.cp) // prints stored, all confirmed
	for i, on := range []bool{false, true, false} {
		approve(on)
		e = collectAs(t, p, e.cp)
		if len(e.recs) != 1 || attrsOf(t, e.recs[0]).Pinned != on {
			t.Fatalf("step %d (pinned %v): sent %s", i, on, e.summary())
		}
		if e.unchanged == nil || e.unchanged.Subjects != 4 {
			t.Fatalf("step %d: unchanged %+v", i, e.unchanged)
		}
	}
}

func TestScratchStateWritesNothing(t *testing.T) {
	root := fixtureTree(t)
	state := t.TempDir()
	p := configured(t, map[string]any{"roots": []string{root}}, state)
	var e agentEmitter
	if err := p.Collect(context.Background(), sdk.Request{Full: true, ScratchState: true}, &e); err != nil {
		t.Fatal(err)
	}
	if len(e.recs) != 5 || e.cp != nil {
		t.Fatalf("scratch collection: %s, checkpoint %q", e.summary(), e.cp)
	}
	if !p.state.empty(context.Background()) {
		t.Error("a scratch collection wrote rows to the state")
	}
}

// Dropping a root sends everything again: a delta collection could not
// retire the models under it (they get no delete).
func TestNewSettingsSendEverything(t *testing.T) {
	root := fixtureTree(t)
	other := t.TempDir()
	data, _ := os.ReadFile(filepath.Join("testdata", "fixtures", "tiny.safetensors"))
	os.WriteFile(filepath.Join(other, "x.safetensors"), data, 0o640)
	state := t.TempDir()
	p := configured(t, map[string]any{"roots": []string{root, other}}, state)
	e := collectAs(t, p, collectAs(t, p, nil).cp)
	if e.unchanged == nil || e.unchanged.Subjects != 6 {
		t.Fatalf("two roots, unchanged: %+v", e.unchanged)
	}
	p.state.close()
	p = configured(t, map[string]any{"roots": []string{root}}, state)
	e = collectAs(t, p, e.cp)
	if e.unchanged != nil || len(e.recs) != 5 {
		t.Errorf("a root dropped: sent %s, unchanged %+v; want all 5 sent", e.summary(), e.unchanged)
	}
}
