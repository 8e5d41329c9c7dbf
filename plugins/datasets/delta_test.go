package datasets

import (
	"context"
	"encoding/json"
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

// collectAs runs a collection the way the daemon does, handing back the
// checkpoint it committed last.
func collectAs(t *testing.T, p *Plugin, req sdk.Request) *agentEmitter {
	t.Helper()
	var e agentEmitter
	if err := p.Collect(context.Background(), req, &e); err != nil {
		t.Fatal(err)
	}
	return &e
}

func fullAs(t *testing.T, p *Plugin, cp []byte) *agentEmitter {
	t.Helper()
	return collectAs(t, p, sdk.Request{Full: true, AcceptsUnchanged: true, Checkpoint: cp})
}

// deltaTree holds four datasets: the root's own file, a, b and c.
func deltaTree(t *testing.T) string {
	root := t.TempDir()
	makeTree(t, root, []file{
		{path: "a/x.csv", body: "id,name\n1,ann\n"}, {path: "a/sub/y.csv", body: "2"},
		{path: "b/z.csv", body: "3"}, {path: "c/README.md", body: "# C\n"}, {path: "c/w.jsonl", body: "{\"k\":1}\n"},
		{path: "top.csv", body: "4"},
	})
	return root
}

func TestFullCollectionConfirmsUnchangedDatasets(t *testing.T) {
	root := deltaTree(t)
	p := newPlugin(t, Settings{Roots: []string{root}}, t.TempDir())
	before := time.Now()
	first := fullAs(t, p, nil)
	if first.unchanged != nil || ops(root, first.recs) != "upsert:.=1 upsert:a=2 upsert:b=1 upsert:c=1" || string(first.cp) != "datasets-generation:1" {
		t.Fatalf("first collection: %s, unchanged %+v, checkpoint %q", ops(root, first.recs), first.unchanged, first.cp)
	}

	// The agent committed it all: nothing is sent again, all is confirmed
	// against the first collection's start.
	second := fullAs(t, p, first.cp)
	if len(second.recs) != 0 || second.unchanged == nil || second.unchanged.Subjects != 4 {
		t.Fatalf("unchanged tree: %s, unchanged %+v", ops(root, second.recs), second.unchanged)
	}
	if since := second.unchanged.Since; since.Before(before) || since.After(time.Now()) {
		t.Errorf("confirmed since %v: not the first collection's start (began after %v)", since, before)
	}
	hashed := p.stats.filesHashed.Load()

	// One dataset changed, one added, one removed: only those are sent.
	future := time.Now().Add(time.Minute)
	os.WriteFile(filepath.Join(root, "b", "z.csv"), []byte("33"), 0o640)
	os.Chtimes(filepath.Join(root, "b", "z.csv"), future, future)
	makeTree(t, root, []file{{path: "d/new.csv", body: "5"}})
	os.RemoveAll(filepath.Join(root, "c"))
	third := fullAs(t, p, second.cp)
	if got, want := ops(root, third.recs), "delete:c upsert:b=1 upsert:d=1"; got != want {
		t.Errorf("after changes: %s, want %s", got, want)
	}
	if third.unchanged == nil || third.unchanged.Subjects != 2 || !third.unchanged.Since.Equal(second.unchanged.Since) {
		t.Errorf("after changes: unchanged %+v, want 2 since %v", third.unchanged, second.unchanged.Since)
	}
	if n := p.stats.filesHashed.Load() - hashed; n != 2 {
		t.Errorf("after changes %d files hashed, want the 2 changed or new", n)
	}

	// A checkpoint the agent did not commit (a collection cut short, a
	// lost spool): everything is sent again, and that is the new basis.
	fourth := fullAs(t, p, first.cp)
	if fourth.unchanged != nil || ops(root, fourth.recs) != "upsert:.=1 upsert:a=2 upsert:b=1 upsert:d=1" {
		t.Fatalf("stale checkpoint: %s, unchanged %+v", ops(root, fourth.recs), fourth.unchanged)
	}
	fifth := fullAs(t, p, fourth.cp)
	if fifth.unchanged == nil || fifth.unchanged.Subjects != 4 || !fifth.unchanged.Since.After(second.unchanged.Since) {
		t.Errorf("after a resend: unchanged %+v, want 4 confirmed since the resend", fifth.unchanged)
	}

	// An older agent, or collect --once: every dataset, nothing confirmed.
	old := collectAs(t, p, sdk.Request{Full: true, Checkpoint: fifth.cp})
	if old.unchanged != nil || len(old.recs) != 4 {
		t.Errorf("agent without accepts_unchanged: %s, unchanged %+v", ops(root, old.recs), old.unchanged)
	}
}

// An incremental collection between full ones is numbered too: what it
// sent is what the next full collection compares with, and a stale
// checkpoint handed to it still forces the next full one to resend.
func TestIncrementalKeepsTheChain(t *testing.T) {
	root := deltaTree(t)
	p := newPlugin(t, Settings{Roots: []string{root}}, t.TempDir())
	cp := fullAs(t, p, nil).cp
	os.WriteFile(filepath.Join(root, "b", "z.csv"), []byte("333"), 0o640)
	inc := collectAs(t, p, sdk.Request{Changed: []string{filepath.Join(root, "b", "z.csv")}, Checkpoint: cp})
	if got := ops(root, inc.recs); got != "upsert:b=1" || string(inc.cp) != "datasets-generation:2" {
		t.Fatalf("incremental: %s, checkpoint %q", got, inc.cp)
	}
	full := fullAs(t, p, inc.cp)
	if len(full.recs) != 0 || full.unchanged == nil || full.unchanged.Subjects != 4 {
		t.Fatalf("after the incremental: %s, unchanged %+v", ops(root, full.recs), full.unchanged)
	}

	// The agent lost the incremental's records: the next full collection
	// must not trust what it sent, even after another incremental.
	os.WriteFile(filepath.Join(root, "b", "z.csv"), []byte("3333"), 0o640)
	lost := collectAs(t, p, sdk.Request{Changed: []string{filepath.Join(root, "b", "z.csv")}, Checkpoint: full.cp})
	inc = collectAs(t, p, sdk.Request{Changed: []string{filepath.Join(root, "a", "x.csv")}, Checkpoint: full.cp})
	if lost.cp == nil || inc.cp == nil {
		t.Fatal("an incremental collection was not checkpointed")
	}
	if again := fullAs(t, p, inc.cp); again.unchanged != nil || len(again.recs) != 4 {
		t.Errorf("after a lost incremental: %s, unchanged %+v; want all 4 sent", ops(root, again.recs), again.unchanged)
	}
}

func TestResendEveryBoundsConfirmation(t *testing.T) {
	root := deltaTree(t)
	p := newPlugin(t, Settings{Roots: []string{root}, ResendEvery: "0s"}, t.TempDir())
	cp := fullAs(t, p, nil).cp
	again := fullAs(t, p, cp)
	if again.unchanged != nil || len(again.recs) != 4 {
		t.Errorf("resend_every 0s: %s, unchanged %+v", ops(root, again.recs), again.unchanged)
	}
	for _, bad := range []string{`"daily"`, `"-1h"`} {
		raw := []byte(`{"roots":["/srv"],"resend_every":` + bad + `}`)
		if _, err := quiet().Configure(context.Background(), sdk.Config{Raw: raw}); err == nil {
			t.Errorf("resend_every %s accepted", bad)
		}
	}
}

func TestScratchStateWritesNothing(t *testing.T) {
	root := deltaTree(t)
	state := t.TempDir()
	p := newPlugin(t, Settings{Roots: []string{root}}, state)
	e := collectAs(t, p, sdk.Request{Full: true, ScratchState: true, AcceptsUnchanged: true})
	if len(e.recs) != 4 || e.cp != nil || e.unchanged != nil {
		t.Fatalf("scratch collection: %s, checkpoint %q, unchanged %+v", ops(root, e.recs), e.cp, e.unchanged)
	}
	if entries, _ := os.ReadDir(state); len(entries) != 0 {
		t.Errorf("a scratch collection wrote %d entries to the state folder, first %s", len(entries), entries[0].Name())
	}
}

// A new setting sends everything again: here an exclude puts a dataset
// out of scope, which a confirming collection could not retire.
func TestNewSettingsSendEverything(t *testing.T) {
	root := deltaTree(t)
	state := t.TempDir()
	p := newPlugin(t, Settings{Roots: []string{root}}, state)
	e := fullAs(t, p, fullAs(t, p, nil).cp)
	if e.unchanged == nil || e.unchanged.Subjects != 4 {
		t.Fatalf("unchanged: %+v", e.unchanged)
	}
	p = newPlugin(t, Settings{Roots: []string{root}, Exclude: []string{"c"}}, state)
	e = fullAs(t, p, e.cp)
	if e.unchanged != nil || ops(root, e.recs) != "upsert:.=1 upsert:a=2 upsert:b=1" {
		t.Errorf("an exclude added: sent %s, unchanged %+v; want the 3 in scope sent", ops(root, e.recs), e.unchanged)
	}
}

// A confirmed dataset's stored evidence must be what a resend would
// send: evidence taken from outside its files (the classification rules
// here would be a settings change; a mode change of the folder moves no
// file) is compared, not the files' stats.
func TestConfirmationFollowsTheEvidence(t *testing.T) {
	root := deltaTree(t)
	p := newPlugin(t, Settings{Roots: []string{root}}, t.TempDir())
	e := fullAs(t, p, fullAs(t, p, nil).cp)
	if err := os.Chmod(filepath.Join(root, "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	e = fullAs(t, p, e.cp)
	if got := ops(root, e.recs); got != "upsert:b=1" || e.unchanged == nil || e.unchanged.Subjects != 3 {
		t.Errorf("folder mode changed: sent %s, unchanged %+v", got, e.unchanged)
	}
}

// genAtEmit reads the stored generation when the first record goes out.
type genAtEmit struct {
	agentEmitter
	state string
	gen   int64
}

func (e *genAtEmit) Emit(r sdk.Record) error {
	if e.gen == 0 {
		b, _ := os.ReadFile(filepath.Join(e.state, deliveryFile))
		var d delivery
		json.Unmarshal(b, &d)
		e.gen = d.Generation
	}
	return e.agentEmitter.Emit(r)
}

// The generation is stored before anything is sent: a collection cut
// short after sending leaves a stored number the agent never committed.
func TestGenerationStoredBeforeSending(t *testing.T) {
	root := deltaTree(t)
	state := t.TempDir()
	p := newPlugin(t, Settings{Roots: []string{root}}, state)
	e := &genAtEmit{state: state}
	if err := p.Collect(context.Background(), sdk.Request{Full: true, AcceptsUnchanged: true}, e); err != nil {
		t.Fatal(err)
	}
	if e.gen != 1 || string(e.cp) != "datasets-generation:1" {
		t.Errorf("generation stored at the first record %d, checkpoint %q; want 1 and datasets-generation:1", e.gen, e.cp)
	}
}

// A root that is no longer a folder yields deletes for the datasets last
// sent from it, as a collection sending everything would retire them.
func TestMissingRootDeletesItsDatasets(t *testing.T) {
	root, other := deltaTree(t), t.TempDir()
	makeTree(t, other, []file{{path: "e/v.csv", body: "6"}})
	p := newPlugin(t, Settings{Roots: []string{root, other}}, t.TempDir())
	e := fullAs(t, p, fullAs(t, p, nil).cp)
	if e.unchanged == nil || e.unchanged.Subjects != 5 {
		t.Fatalf("two roots, unchanged: %+v", e.unchanged)
	}
	os.RemoveAll(other)
	e = fullAs(t, p, e.cp)
	if len(e.recs) != 1 || e.recs[0].Op != sdk.OpDelete || e.recs[0].Subject != "dataset:"+filepath.Join(other, "e") ||
		e.unchanged == nil || e.unchanged.Subjects != 4 {
		t.Errorf("a root gone: sent %s, unchanged %+v; want a delete of e and 4 confirmed", ops(root, e.recs), e.unchanged)
	}
}
