package sqlite

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/annexa/annexa/collector/internal/store"
)

func soaLog(t *testing.T, db *DB) []store.GovernanceEvent {
	t.Helper()
	events, err := db.GovernanceLog(context.Background(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	return events
}

func detailKeys(t *testing.T, ev store.GovernanceEvent) []string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(ev.Detail, &m); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func TestImportSoA(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	t0 := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	db.SetClock(func() time.Time { return t0 })
	for _, e := range []store.SoAEntry{
		{ControlID: "iso27001-2022/5.1", Applicable: true, Author: "alice"},
		{ControlID: "iso27001-2022/7.4", Applicable: false, Justification: "provider's data centre", Author: "alice"},
	} {
		if _, err := db.SetSoA(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	before := soaLog(t, db)
	t1 := t0.Add(time.Hour)
	db.SetClock(func() time.Time { return t1 })
	sheet := []store.SoAEntry{
		{ControlID: "iso27001-2022/5.1", Applicable: true, Justification: "treats R-1", Author: "bob"},
		{ControlID: "iso27001-2022/7.4", Applicable: false, Justification: "provider's data centre", Author: "bob"},
		{ControlID: "iso27001-2022/5.2", Applicable: true, Author: "bob"},
		{ControlID: "iso27001-2022/8.1", Applicable: false, Justification: "no endpoints", Author: "bob"},
	}

	// One bad entry anywhere: nothing is written, not even the good ones
	// before it.
	for name, bad := range map[string][]store.SoAEntry{
		"exclusion without reason": append(slices.Clone(sheet), store.SoAEntry{ControlID: "iso27001-2022/8.2", Applicable: false, Author: "bob"}),
		"control twice":            append(slices.Clone(sheet), sheet[0]),
		"no author":                append(slices.Clone(sheet), store.SoAEntry{ControlID: "iso27001-2022/8.2", Applicable: true}),
	} {
		if _, err := db.ImportSoA(ctx, bad); store.ErrorCode(err) != store.EINVALID {
			t.Errorf("%s: err = %v, want EINVALID", name, err)
		}
		if got := soaLog(t, db); len(got) != len(before) {
			t.Errorf("%s: the log grew from %d to %d entries", name, len(before), len(got))
		}
		if list, _ := db.SoA(ctx); len(list) != 2 || list[0].Justification != "" {
			t.Errorf("%s: the SoA changed: %+v", name, list)
		}
	}

	changes, err := db.ImportSoA(ctx, sheet)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 2 || changes[0].New.ControlID != "iso27001-2022/5.1" || changes[0].Old == nil || changes[0].Old.Author != "alice" ||
		changes[1].New.ControlID != "iso27001-2022/8.1" || !changes[1].Added() {
		t.Fatalf("changes = %+v", changes)
	}
	after := soaLog(t, db)
	if len(after) != len(before)+2 {
		t.Fatalf("log has %d new entries, want one per changed control (2)", len(after)-len(before))
	}
	for i, ev := range after[len(before):] {
		want := changes[i].New
		if ev.Action != store.ActionSoASet || ev.Actor != "bob" || ev.Ref != want.ControlID || !ev.At.Equal(t1) {
			t.Errorf("log entry %d = %+v", i, ev)
		}
		var logged store.SoAEntry
		if err := json.Unmarshal(ev.Detail, &logged); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(logged, want) || !want.SetAt.Equal(t1) {
			t.Errorf("log entry %d detail = %+v, want %+v", i, logged, want)
		}
		// The same shape as a single edit's entry: an auditor's tooling
		// reads both alike.
		if got, single := detailKeys(t, ev), detailKeys(t, before[0]); !reflect.DeepEqual(got, single) {
			t.Errorf("import detail keys %v, soa set detail keys %v", got, single)
		}
	}
	list, err := db.SoA(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range list {
		got[e.ControlID] = e.Author + ": " + e.Justification
	}
	want := map[string]string{"iso27001-2022/5.1": "bob: treats R-1", "iso27001-2022/7.4": "alice: provider's data centre",
		"iso27001-2022/8.1": "bob: no endpoints"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("SoA = %v, want %v (unchanged 7.4 keeps its author; 5.2 gets no entry)", got, want)
	}
	if n, err := db.Verify(ctx); err != nil || n == 0 {
		t.Errorf("verify after import = %d, %v", n, err)
	}

	// The same sheet again changes nothing and writes nothing.
	if changes, err := db.ImportSoA(ctx, sheet); err != nil || len(changes) != 0 {
		t.Errorf("re-import = %+v, %v", changes, err)
	}
	if n := len(soaLog(t, db)); n != len(after) {
		t.Errorf("re-import wrote %d log entries", n-len(after))
	}
}
