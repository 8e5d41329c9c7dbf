package sqlite

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/annexa/annexa/collector/internal/store"
	"github.com/annexa/annexa/evidence"
)

func changedKeys(ch *store.Changes) []string {
	var out []string
	for _, c := range ch.Current {
		k := c.AgentID + " " + c.Subject
		if c.Deleted {
			k += " deleted"
		}
		out = append(out, k)
	}
	return out
}

// TestChangeFeed: after a snapshot, Changes returns exactly what was
// written since: upserts, deletions (by delete and by scan.complete),
// a rescan that only moves observed_at, enrollment, contact and revocation.
func TestChangeFeed(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	enroll(t, db, "a1")
	enroll(t, db, "a2")
	ingest(t, db, batch("a1",
		rec(1, "dataset", "dataset:/d1", evidence.OpUpsert, t0, `{"n":1}`),
		rec(2, "dataset", "dataset:/d2", evidence.OpUpsert, t0, `{"n":2}`),
		rec(3, "dataset", "dataset:/d3", evidence.OpUpsert, t0, `{"n":3}`)))
	ingest(t, db, batch("a2", rec(1, "dataset", "dataset:/x", evidence.OpUpsert, t0, `{}`)))
	snap, err := db.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Current) != 4 || snap.Change == 0 {
		t.Fatalf("snapshot: %d rows, clock %d", len(snap.Current), snap.Change)
	}
	none, err := db.Changes(ctx, snap.Change)
	if err != nil {
		t.Fatal(err)
	}
	if none.Through != snap.Change || len(none.Current)+len(none.Agents) != 0 {
		t.Fatalf("nothing written, yet changes %+v", none)
	}

	// d1 changes, d2 is seen again unchanged (only its time moves), d3 is
	// deleted; a2 sends nothing.
	ingest(t, db, batch("a1",
		rec(4, "dataset", "dataset:/d1", evidence.OpUpsert, t0.Add(1), `{"n":10}`),
		rec(5, "dataset", "dataset:/d2", evidence.OpUpsert, t0.Add(1), `{"n":2}`),
		rec(6, "dataset", "dataset:/d3", evidence.OpDelete, t0.Add(1), `{}`)))
	ch, err := db.Changes(ctx, snap.Change)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := changedKeys(ch), []string{"a1 dataset:/d1", "a1 dataset:/d2", "a1 dataset:/d3 deleted"}; !slices.Equal(got, want) {
		t.Errorf("changed rows %q, want %q", got, want)
	}
	if len(ch.Agents) != 1 || ch.Agents[0].ID != "a1" || ch.Agents[0].LastSeenAt.IsZero() {
		t.Errorf("changed agents %+v, want a1 with its last contact", ch.Agents)
	}
	if !ch.Current[1].ObservedAt.Equal(t0.Add(1)) || ch.Current[1].Seq != 5 {
		t.Errorf("the rescanned row reads observed_at %s seq %d", ch.Current[1].ObservedAt, ch.Current[1].Seq)
	}

	// A full scan retires what it did not see; a new agent enrolls; a2 is
	// revoked.
	scanAttrs := `{"plugin":"datasets","kinds":["dataset"],"roots":["/"],"started_at":"2026-03-01T12:00:00.5Z"}`
	ingest(t, db, batch("a1",
		rec(7, "dataset", "dataset:/d2", evidence.OpUpsert, t0.Add(1e9), `{"n":2}`),
		rec(8, "scan.complete", "scan:datasets", evidence.OpUpsert, t0.Add(1e9), scanAttrs)))
	enroll(t, db, "a3")
	if err := db.Revoke(ctx, "a2"); err != nil {
		t.Fatal(err)
	}
	ch2, err := db.Changes(ctx, ch.Through)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := changedKeys(ch2), []string{"a1 dataset:/d1 deleted", "a1 dataset:/d2", "a1 scan:datasets"}; !slices.Equal(got, want) {
		t.Errorf("changed rows %q, want %q", got, want)
	}
	var agents []string
	for _, a := range ch2.Agents {
		agents = append(agents, a.ID)
		if a.ID == "a2" && a.RevokedAt.IsZero() {
			t.Error("a2 changed but does not read revoked")
		}
	}
	if want := []string{"a1", "a2", "a3"}; !slices.Equal(agents, want) {
		t.Errorf("changed agents %q, want %q", agents, want)
	}
	if ch2.Through <= ch.Through {
		t.Errorf("clock went from %d to %d", ch.Through, ch2.Through)
	}
	// The feed replays onto the snapshot to the current state.
	live := map[string]bool{}
	for _, c := range snap.Current {
		live[c.AgentID+" "+c.Subject] = true
	}
	for _, c := range append(ch.Current, ch2.Current...) {
		live[c.AgentID+" "+c.Subject] = !c.Deleted
	}
	now, err := db.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range now.Current {
		if !live[c.AgentID+" "+c.Subject] {
			t.Errorf("%s %s is live in the store but not in the replayed feed", c.AgentID, c.Subject)
		}
		delete(live, c.AgentID+" "+c.Subject)
	}
	for k, v := range live {
		if v {
			t.Errorf("%s is live in the replayed feed but not in the store", k)
		}
	}
}

// TestEveryWriteOfCurrentIsStamped: current has no trigger stamping the
// change clock (it would cost every batch), so every statement of this
// package that writes it must set change_seq itself, or the kept
// evaluation would miss the write until the next full pass.
func TestEveryWriteOfCurrentIsStamped(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	write := regexp.MustCompile("(?s)(UPDATE current |INSERT INTO current|REPLACE INTO current).*?`")
	found := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, stmt := range write.FindAllString(string(b), -1) {
			found++
			if !strings.Contains(stmt, "change_seq") {
				t.Errorf("%s: a statement writes current without setting change_seq:\n%s", f, stmt)
			}
		}
	}
	if found < 4 {
		t.Errorf("found %d statements writing current; the pattern no longer matches the code", found)
	}
}
