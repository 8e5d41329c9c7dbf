package plugintest

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/annexa/annexa/evidence"
	"github.com/annexa/annexa/plugins/sdk"
)

// CancelDeadline is how soon after its context is cancelled a collection
// must end. The agent kills a plugin that takes longer.
var CancelDeadline = 5 * time.Second

// Conformance runs the standard suite against a plugin executable as
// subtests. settingsJSON must be settings the plugin accepts (point it at
// a fixture tree); each subtest starts its own process and state folder.
func Conformance(t *testing.T, executable string, settingsJSON string) {
	t.Helper()
	t.Run("describe", func(t *testing.T) {
		h := Start(t, executable)
		info := h.Info()
		if info.Name == "" || info.Version == "" {
			t.Errorf("Describe gave name %q, version %q; both are required", info.Name, info.Version)
		}
		if len(info.Kinds) == 0 {
			t.Error("Describe lists no kinds; the agent refuses every record of an undeclared kind")
		}
		for _, k := range info.Kinds {
			if !evidence.ValidKind(k) {
				t.Errorf("declared kind %q is not a dotted lower-case name", k)
			}
			if k == evidence.KindScanComplete {
				t.Errorf("declares %q, which only the agent emits", k)
			}
		}
		if h.Negotiated != sdk.ProtocolVersion {
			t.Errorf("handshake negotiated plugin set %d, want %d", h.Negotiated, sdk.ProtocolVersion)
		}
		if h.ProtocolVersion != sdk.ProtocolVersion {
			t.Errorf("Describe says protocol version %d, want %d", h.ProtocolVersion, sdk.ProtocolVersion)
		}
		if info.DefaultInterval < 0 {
			t.Errorf("default interval %v is negative", info.DefaultInterval)
		}
		if info.ConfigSchema != "" && !json.Valid([]byte(info.ConfigSchema)) {
			t.Error("config schema is not valid JSON")
		}
	})

	t.Run("bad settings give field errors", func(t *testing.T) {
		h := Start(t, executable)
		for _, bad := range []struct{ settings, field string }{
			{`{"no_such_setting": 1}`, "no_such_setting"},
			{withField(t, settingsJSON, "no_such_setting", 1), "no_such_setting"},
		} {
			_, err := h.Configure(t, bad.settings, "")
			fe, ok := isFieldErrors(err)
			switch {
			case err == nil:
				t.Errorf("Configure(%s) succeeded; an unknown setting must be refused", bad.settings)
			case !ok:
				t.Errorf("Configure(%s) = %v; want field errors", bad.settings, err)
			case !slices.ContainsFunc(fe, func(e sdk.FieldError) bool { return strings.Contains(e.Field, bad.field) }):
				t.Errorf("Configure(%s) = %v; no error names field %q", bad.settings, fe, bad.field)
			}
		}
		if h.Exited() {
			t.Fatal("the plugin exited after bad settings")
		}
		if _, err := h.Configure(t, settingsJSON, ""); err != nil {
			t.Fatalf("Configure with good settings after bad ones: %v", err)
		}
	})

	t.Run("full collection", func(t *testing.T) {
		h := configured(t, executable, settingsJSON, "")
		recs := collectOK(t, h, sdk.Request{Full: true})
		checkRecords(t, h.Info(), recs)
		checkProgress(t, h.Progress)
		if len(recs) == 0 {
			t.Log("note: the full collection emitted nothing; point the settings at a fixture with something to find")
		}
	})

	t.Run("unthrottled collection", func(t *testing.T) {
		h := configured(t, executable, settingsJSON, "")
		recs := collectOK(t, h, sdk.Request{Full: true, Unthrottled: true})
		checkRecords(t, h.Info(), recs)
		checkProgress(t, h.Progress)
	})

	t.Run("deterministic", func(t *testing.T) {
		h := configured(t, executable, settingsJSON, t.TempDir())
		first := stateOf(t, collectOK(t, h, sdk.Request{Full: true}))
		second := stateOf(t, collectOK(t, h, sdk.Request{Full: true}))
		for k, a := range first {
			if b, ok := second[k]; !ok {
				t.Errorf("%s was in the first full collection, not in the second", k)
			} else if !reflect.DeepEqual(a, b) {
				t.Errorf("%s differs between two full collections of an unchanged tree:\n first %v\nsecond %v", k, a, b)
			}
		}
		for k := range second {
			if _, ok := first[k]; !ok {
				t.Errorf("%s appeared only in the second full collection", k)
			}
		}
	})

	t.Run("quiet scratch collection", func(t *testing.T) {
		// collect --once: a scratch state folder, nobody reading progress.
		h := configured(t, executable, settingsJSON, t.TempDir())
		want := stateOf(t, collectOK(t, h, sdk.Request{Full: true}))
		recs := collectOK(t, h, sdk.Request{Full: true, Unthrottled: true, Quiet: true, ScratchState: true})
		checkRecords(t, h.Info(), recs)
		sameState(t, "a quiet collection with a scratch state folder", stateOf(t, recs), want)
	})

	t.Run("unchanged subjects", func(t *testing.T) {
		checkUnchanged(t, configured(t, executable, settingsJSON, t.TempDir()))
	})

	t.Run("incremental with nothing changed", func(t *testing.T) {
		h := configured(t, executable, settingsJSON, "")
		recs := collectOK(t, h, sdk.Request{Full: false})
		checkRecords(t, h.Info(), recs)
	})

	t.Run("cancel ends promptly", func(t *testing.T) {
		h := configured(t, executable, settingsJSON, "")
		for _, after := range []time.Duration{0, 20 * time.Millisecond} {
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				_, _, err := h.CollectContext(ctx, sdk.Request{Full: true})
				done <- err
			}()
			time.Sleep(after)
			cancel()
			select {
			case <-done:
			case <-time.After(CancelDeadline):
				t.Fatalf("collection cancelled after %v was still running %v later", after, CancelDeadline)
			}
		}
		if h.Exited() {
			t.Fatal("the plugin exited after a cancelled collection")
		}
		collectOK(t, h, sdk.Request{Full: true})
	})
}

func configured(t *testing.T, executable, settingsJSON, stateDir string) *Harness {
	t.Helper()
	h := Start(t, executable)
	if _, err := h.Configure(t, settingsJSON, stateDir); err != nil {
		t.Fatalf("Configure(%s): %v", settingsJSON, err)
	}
	return h
}

func collectOK(t *testing.T, h *Harness, req sdk.Request) []evidence.Record {
	t.Helper()
	recs, _, err := h.Collect(t, req)
	if err != nil {
		var inv *sdk.InvalidRecordError
		if errors.As(err, &inv) {
			t.Fatalf("the plugin sent an invalid record: %v", err)
		}
		t.Fatalf("collect (full=%v): %v", req.Full, err)
	}
	return recs
}

// checkRecords holds records to what the agent and collector rely on.
func checkRecords(t *testing.T, info sdk.Info, recs []evidence.Record) {
	t.Helper()
	seen := map[string]bool{}
	for i, r := range recs {
		if err := r.Validate(); err != nil {
			t.Errorf("record #%d (%s %s): %v", i, r.Kind, r.Subject, err)
		}
		if !slices.Contains(info.Kinds, r.Kind) {
			t.Errorf("record #%d has kind %q, not among the declared %v", i, r.Kind, info.Kinds)
		}
		if r.Kind == evidence.KindScanComplete {
			t.Errorf("record #%d is %s; the agent adds it after a full collection, a plugin must not", i, r.Kind)
		}
		if r.Op == evidence.OpEvent {
			continue
		}
		key := r.Kind + "\x00" + r.Subject
		if seen[key] {
			t.Errorf("record #%d: %s %q is reported twice in one collection", i, r.Kind, r.Subject)
		}
		seen[key] = true
	}
}

// checkProgress holds progress reports, which are optional, to what the
// agent's progress bar and metrics rely on: counts that only grow (the
// bytes total may fall as cached files are skipped), totals that stay
// final once final, and a finished collection that says all its files
// are done.
func checkProgress(t *testing.T, reports []sdk.ProgressCounts) {
	t.Helper()
	var prev sdk.ProgressCounts
	for i, p := range reports {
		switch {
		case p.FilesDone < prev.FilesDone || p.BytesHashed < prev.BytesHashed:
			t.Errorf("progress report #%d went back: %+v after %+v; counts are cumulative", i, p, prev)
		case p.FilesTotal < prev.FilesTotal:
			t.Errorf("progress report #%d has fewer files in total than #%d: %+v after %+v", i, i-1, p, prev)
		case prev.TotalsFinal && (!p.TotalsFinal || p.FilesTotal != prev.FilesTotal):
			t.Errorf("progress report #%d changed totals that were final: %+v after %+v", i, p, prev)
		}
		prev = p
	}
	if len(reports) == 0 {
		return
	}
	if last := reports[len(reports)-1]; last.TotalsFinal && last.FilesDone != last.FilesTotal {
		t.Errorf("the collection ended with %d of %d files done; call Progress.Examined for every file Found, also those skipped or unreadable", last.FilesDone, last.FilesTotal)
	}
}

// checkUnchanged plays the agent over full collections of an unchanged
// tree that accept unchanged confirmations (sdk.ReportUnchanged), each
// handed the last checkpoint of the one before, as the agent commits it.
// A plugin need not confirm anything; one that does must do it only when
// the checkpoint proves the agent holds everything sent before, count
// what it left out, and date it within the collection that sent it all.
func checkUnchanged(t *testing.T, h *Harness) {
	t.Helper()
	collect := func(req sdk.Request) ([]evidence.Record, []byte) {
		t.Helper()
		recs, cps, err := h.Collect(t, req)
		if err != nil {
			t.Fatalf("collect (accepts unchanged %v, checkpoint %q): %v", req.AcceptsUnchanged, req.Checkpoint, err)
		}
		checkRecords(t, h.Info(), recs)
		cp := req.Checkpoint
		if len(cps) > 0 {
			cp = cps[len(cps)-1]
		}
		return recs, cp
	}
	// Only which subjects are sent is compared: a stream plugin's state
	// (a log's summary) may rightly depend on the checkpoint it resumes.
	sentAll := func(what string, recs []evidence.Record, want map[string]any) {
		t.Helper()
		if h.Unchanged != nil {
			t.Errorf("%s confirmed %d subjects unchanged; it must send them all", what, h.Unchanged.Subjects)
		}
		got := stateOf(t, recs)
		for k := range want {
			if _, ok := got[k]; !ok {
				t.Errorf("%s left out %s", what, k)
			}
		}
		for k := range got {
			if _, ok := want[k]; !ok {
				t.Errorf("%s sent %s, which the first full collection of the unchanged tree did not", what, k)
			}
		}
	}

	before1 := time.Now()
	recs, cp1 := collect(sdk.Request{Full: true, AcceptsUnchanged: true})
	all := stateOf(t, recs)
	sentAll("the first collection (no checkpoint, so nothing proves the agent holds anything)", recs, all)

	before2 := time.Now()
	recs, cp2 := collect(sdk.Request{Full: true, AcceptsUnchanged: true, Checkpoint: cp1})
	sent := stateOf(t, recs)
	for k := range sent {
		if _, ok := all[k]; !ok {
			t.Errorf("%s: sent by a second collection of the unchanged tree, not by the first", k)
		}
	}
	if u := h.Unchanged; u != nil {
		if left := len(all) - len(sent); u.Subjects != left {
			t.Errorf("confirmed %d subjects unchanged, but left out %d of %d", u.Subjects, left, len(all))
		}
		if u.Since.Before(before1) || u.Since.After(before2) {
			t.Errorf("unchanged since %v: not within the first collection (%v to %v), the last that sent everything", u.Since, before1, before2)
		}
	} else if len(sent) != len(all) {
		t.Errorf("left out %d of %d subjects without confirming them unchanged; the collector would retire them", len(all)-len(sent), len(all))
	}

	recs, cp3 := collect(sdk.Request{Full: true, Checkpoint: cp2})
	sentAll("a collection for an agent that does not accept confirmations (an older one)", recs, all)
	recs, _ = collect(sdk.Request{Full: true, AcceptsUnchanged: true})
	sentAll("a collection handed no checkpoint (a lost spool)", recs, all)
	if string(cp1) != string(cp3) {
		recs, _ = collect(sdk.Request{Full: true, AcceptsUnchanged: true, Checkpoint: cp1})
		sentAll("a collection handed an older checkpoint (a spool restored from a backup)", recs, all)
	}
}

// sameState reports subjects missing from got, extra or different.
func sameState(t *testing.T, what string, got, want map[string]any) {
	t.Helper()
	for k, w := range want {
		if g, ok := got[k]; !ok {
			t.Errorf("%s left out %s", what, k)
		} else if !reflect.DeepEqual(g, w) {
			t.Errorf("%s: %s differs from a full collection of the unchanged tree:\n got %v\nwant %v", what, k, g, w)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s sent %s, which a full collection of the unchanged tree did not", what, k)
		}
	}
}

// stateOf maps kind+subject of state records to their decoded attributes.
func stateOf(t *testing.T, recs []evidence.Record) map[string]any {
	t.Helper()
	out := map[string]any{}
	for _, r := range recs {
		if r.Op == evidence.OpEvent {
			continue
		}
		var attrs any
		if err := json.Unmarshal(r.Attributes, &attrs); err != nil {
			t.Fatalf("%s %s: attributes: %v", r.Kind, r.Subject, err)
		}
		out[r.Kind+" "+r.Subject+" "+string(r.Op)] = attrs
	}
	return out
}

// withField adds one key to a JSON object of settings.
func withField(t *testing.T, settingsJSON, key string, value any) string {
	t.Helper()
	m := map[string]any{}
	if err := json.Unmarshal([]byte(settingsJSON), &m); err != nil {
		t.Fatalf("settings %s are not a JSON object: %v", settingsJSON, err)
	}
	m[key] = value
	b, _ := json.Marshal(m)
	return string(b)
}
