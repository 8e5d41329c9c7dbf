package web

import (
	"bytes"
	"context"
	"encoding/json"
	"html/template"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/annexa/annexa/collector/internal/api"
	"github.com/annexa/annexa/collector/internal/auth"
	"github.com/annexa/annexa/collector/internal/store"
)

// soaEvents returns the governance log's soa.set events.
func soaEvents(t *testing.T, c *collector) []store.GovernanceEvent {
	t.Helper()
	log, err := c.db.GovernanceLog(context.Background(), 0, 0)
	must(t, err)
	var out []store.GovernanceEvent
	for _, e := range log {
		if e.Action == store.ActionSoASet {
			out = append(out, e)
		}
	}
	return out
}

// TestSoAFromTheUI excludes a failing control from its page: refused
// without a justification (the form comes back with what was chosen and
// the store's own message), then recorded with the user as author and a
// log entry, and the page returned to shows the control not applicable at
// once. Included again, the failure is back.
func TestSoAFromTheUI(t *testing.T) {
	ctx := context.Background()
	c := startCollector(t, collectorOpts{})
	c.loadFleet()
	adm := c.client()
	adm.login("lea", adminPassword)
	const page = "/controls/iso27001-2022/8.3"

	_, body := adm.get(page)
	contains(t, "control 8.3 before", body, "Noncompliant", `id="soa"`, "No entry: the control applies", `<form method="post" action="/soa#soa"`,
		`<input type="hidden" name="control_id" value="iso27001-2022/8.3">`, `name="applicable" value="true" checked`)
	if strings.Contains(body, "history-pending") {
		t.Error("before any change, the page says the status history is behind")
	}
	tok := csrfRE.FindStringSubmatch(body)[1]

	const needsWhy = "a control marked not applicable needs a justification (why it does not apply)"
	for _, empty := range []string{"", " \r\n\t "} {
		resp, body := adm.post("/soa", url.Values{"csrf": {tok}, "control_id": {"iso27001-2022/8.3"}, "applicable": {"false"}, "justification": {empty}})
		if resp.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("empty justification %q: %d, want 422\n%s", empty, resp.StatusCode, body)
		}
		contains(t, "refused exclusion", body, `<p class="alert" role="alert" id="soa-error">`+needsWhy,
			`name="applicable" value="false" checked`, `aria-describedby="justification-hint soa-error" aria-invalid="true"`,
			"Noncompliant", "Checks")
	}
	resp, body := adm.post("/soa", url.Values{"csrf": {tok}, "control_id": {"iso27001-2022/8.3"}, "applicable": {"maybe"}, "justification": {"x"}})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "choose whether the control is applicable") ||
		!strings.Contains(body, `<fieldset class="choice" aria-invalid="true"`) {
		t.Fatalf("applicable=maybe: %d\n%s", resp.StatusCode, body)
	}
	resp, body = adm.post("/soa", url.Values{"csrf": {tok}, "control_id": {"iso27001-2022/99.9"}, "applicable": {"false"}, "justification": {"x"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `control &#34;iso27001-2022/99.9&#34; is not in any loaded catalog`) {
		t.Fatalf("unknown control: %d\n%s", resp.StatusCode, body)
	}
	if list, err := c.db.SoA(ctx); err != nil || len(list) != 0 || len(soaEvents(t, c)) != 0 {
		t.Fatalf("refused forms recorded something: %v %v", list, err)
	}

	why := "Our datasets live in a managed store; <b>no</b> host of ours\r\nkeeps a copy.  "
	resp, body = adm.post("/soa", url.Values{"csrf": {tok}, "control_id": {"iso27001-2022/8.3"}, "applicable": {"false"}, "justification": {why}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/controls/iso27001-2022/8.3#soa" {
		t.Fatalf("exclusion: %d to %q\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	stored := "Our datasets live in a managed store; <b>no</b> host of ours\nkeeps a copy."
	list, err := c.db.SoA(ctx)
	must(t, err)
	if len(list) != 1 || list[0].ControlID != "iso27001-2022/8.3" || list[0].Applicable || list[0].Justification != stored || list[0].Author != "lea" {
		t.Fatalf("stored entry: %+v", list)
	}
	evs := soaEvents(t, c)
	if len(evs) != 1 || evs[0].Actor != "lea" || evs[0].Ref != "iso27001-2022/8.3" || !strings.Contains(string(evs[0].Detail), `"applicable":false`) {
		t.Fatalf("governance log: %+v", evs)
	}

	// The page the browser is sent to reflects the decision at once.
	_, body = adm.get(page)
	esc := template.HTMLEscapeString(stored)
	contains(t, "control 8.3 excluded", body, `<span class="badge big na">`, "Not applicable",
		"Excluded in the Statement of Applicability by lea: "+template.HTMLEscapeString(stored),
		`<span aria-hidden="true">–</span> not applicable</span> recorded by lea`, `<blockquote class="justification">`+esc+`</blockquote>`,
		`name="applicable" value="false" checked`,
		// serve records the pass the status history reads; until then the
		// page says the history is behind.
		`id="history-pending">The current status, Not applicable, enters this history`)
	if strings.Contains(body, "<b>no</b>") {
		t.Error("the justification is rendered as markup")
	}

	// The Statement of Applicability page lists it, and filters.
	_, body = adm.get("/soa?applicable=no")
	contains(t, "excluded controls", body, `id="soa-iso27001-2022/8.3"`, esc, "1 of 131 controls shown; 1 excluded")
	if strings.Contains(body, "iso27001-2022/8.2") {
		t.Error("applicable=no lists a control without an entry")
	}
	_, body = adm.get("/soa?framework=iso27001-2022")
	contains(t, "27001 SoA", body, "iso27001-2022/8.2", "yes <span class=\"muted small\">(no entry)</span>", "93 of 93 controls shown; 1 excluded")
	_, body = adm.get("/soa?applicable=undecided")
	if strings.Contains(body, `id="soa-iso27001-2022/8.3"`) {
		t.Error("applicable=undecided lists a control with an entry")
	}
	if resp, body := adm.get("/soa?applicable=perhaps"); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "use yes, no or undecided") {
		t.Errorf("bad filter: %d", resp.StatusCode)
	}

	// Included again, without a justification (it is optional then): the
	// checks decide once more.
	resp, body = adm.post("/soa", url.Values{"csrf": {tok}, "control_id": {"iso27001-2022/8.3"}, "applicable": {"true"}, "justification": {""}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("inclusion: %d\n%s", resp.StatusCode, body)
	}
	_, body = adm.get(page)
	contains(t, "control 8.3 included again", body, `<span class="badge big fail">`, "applicable</span> recorded by lea", "without a justification")
	if n := len(soaEvents(t, c)); n != 2 {
		t.Errorf("%d soa.set log entries, want 2", n)
	}
}

// TestSoAFormRecordsAsTheAPIDoes sends the same decisions through the UI
// and through POST /v1/soa: the refusal has the same words, and the
// entries and their log events have the same shape, each with its caller
// as author.
func TestSoAFormRecordsAsTheAPIDoes(t *testing.T) {
	ctx := context.Background()
	c := startCollector(t, collectorOpts{})
	key, id, hash := auth.NewAPIKey()
	_, err := c.db.CreateAPIKey(ctx, store.APIKey{ID: id, Name: "grc-sync", Role: store.RoleAdmin, SecretHash: hash}, "test")
	must(t, err)
	callAPI := func(req api.SoARequest) (int, api.ErrorBody) {
		b, _ := json.Marshal(req)
		r, _ := http.NewRequest("POST", c.url+"/v1/soa", bytes.NewReader(b))
		r.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(r)
		must(t, err)
		defer resp.Body.Close()
		var e api.ErrorBody
		json.NewDecoder(resp.Body).Decode(&e)
		return resp.StatusCode, e
	}
	no := false
	code, apiErr := callAPI(api.SoARequest{ControlID: "iso27001-2022/7.4", Applicable: &no})
	if code != http.StatusBadRequest || apiErr.Field != "justification" {
		t.Fatalf("API without justification: %d %+v", code, apiErr)
	}
	adm := c.client()
	adm.login("lea", adminPassword)
	tok := adm.formToken("/controls/iso27001-2022/7.5")
	_, body := adm.post("/soa", url.Values{"csrf": {tok}, "control_id": {"iso27001-2022/7.5"}, "applicable": {"false"}})
	contains(t, "UI without justification", body, template.HTMLEscapeString(apiErr.Error))

	if code, e := callAPI(api.SoARequest{ControlID: "iso27001-2022/7.4", Applicable: &no, Justification: "no premises"}); code != 200 {
		t.Fatalf("API: %d %+v", code, e)
	}
	if resp, _ := adm.post("/soa", url.Values{"csrf": {tok}, "control_id": {"iso27001-2022/7.5"}, "applicable": {"false"}, "justification": {"no premises"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("UI: %d", resp.StatusCode)
	}
	list, err := c.db.SoA(ctx)
	must(t, err)
	if len(list) != 2 || list[0].Author != "grc-sync" || list[1].Author != "lea" || list[0].Justification != list[1].Justification || list[0].Applicable != list[1].Applicable {
		t.Fatalf("entries: %+v", list)
	}
	evs := soaEvents(t, c)
	if len(evs) != 2 || evs[0].Actor != "grc-sync" || evs[1].Actor != "lea" {
		t.Fatalf("log: %+v", evs)
	}
	var api, ui map[string]any
	must(t, json.Unmarshal(evs[0].Detail, &api))
	must(t, json.Unmarshal(evs[1].Detail, &ui))
	if a, u := slices.Sorted(maps.Keys(api)), slices.Sorted(maps.Keys(ui)); !slices.Equal(a, u) || ui["author"] != "lea" || ui["control_id"] != "iso27001-2022/7.5" {
		t.Errorf("log detail from the API %v, from the UI %v", api, ui)
	}
}

// TestSoAFormNeedsTheSessionsToken: the applicability form is refused
// without the session's token or from another site, and records nothing.
func TestSoAFormNeedsTheSessionsToken(t *testing.T) {
	c := startCollector(t, collectorOpts{})
	adm := c.client()
	adm.login("lea", adminPassword)
	form := url.Values{"control_id": {"iso27001-2022/7.4"}, "applicable": {"false"}, "justification": {"no premises"}}
	for name, tok := range map[string]string{"no": "", "a forged": "forged"} {
		f := maps.Clone(form)
		if tok != "" {
			f.Set("csrf", tok)
		}
		if resp, body := adm.post("/soa", f); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "security token") {
			t.Errorf("with %s token: %d", name, resp.StatusCode)
		}
	}
	f := maps.Clone(form)
	f.Set("csrf", adm.formToken("/controls/iso27001-2022/7.4"))
	req, _ := http.NewRequest("POST", c.url+"/soa", strings.NewReader(f.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	resp, err := adm.http.Do(req)
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-origin post with a valid token: %d, want 403", resp.StatusCode)
	}
	if list, err := c.db.SoA(context.Background()); err != nil || len(list) != 0 {
		t.Fatalf("a refused form recorded %v (%v)", list, err)
	}
}

// pausingStore is the real store, except that once armed, the first
// evaluation to read the SoA stops right after reading it until released:
// an evaluation in flight, holding decisions from before a change.
type pausingStore struct {
	store.Store
	armed   atomic.Bool
	once    sync.Once
	read    chan struct{}
	release chan struct{}
}

func (p *pausingStore) SoA(ctx context.Context) ([]store.SoAEntry, error) {
	list, err := p.Store.SoA(ctx)
	if p.armed.Load() {
		p.once.Do(func() {
			close(p.read)
			<-p.release
		})
	}
	return list, err
}

// TestSoAPageAfterSaveIsNotFromAnEarlierEvaluation: when an evaluation
// that read the decisions before the save is still running, the page
// after the save must not be that evaluation's.
func TestSoAPageAfterSaveIsNotFromAnEarlierEvaluation(t *testing.T) {
	ps := &pausingStore{read: make(chan struct{}), release: make(chan struct{})}
	c := startCollector(t, collectorOpts{wrap: func(st store.Store) store.Store { ps.Store = st; return ps }})
	c.loadFleet()
	adm := c.client()
	adm.login("lea", adminPassword)
	tok := adm.formToken("/controls/iso27001-2022/8.3")

	ps.armed.Store(true)
	c.ui.eval.mu.Lock()
	c.ui.eval.startLocked()
	c.ui.eval.mu.Unlock()
	select {
	case <-ps.read:
	case <-time.After(15 * time.Second):
		t.Fatal("the evaluation never read the SoA")
	}
	posted := make(chan *http.Response, 1)
	go func() {
		resp, err := adm.http.PostForm(c.url+"/soa", url.Values{"csrf": {tok}, "control_id": {"iso27001-2022/8.3"},
			"applicable": {"false"}, "justification": {"managed store only"}})
		if err != nil {
			t.Error(err)
			close(posted)
			return
		}
		resp.Body.Close()
		posted <- resp
	}()
	// Release the old evaluation only once the decision is stored, so the
	// save's refresh finds it running. (Released before the handler
	// reaches its refresh, this test would pass without catching the bug;
	// it never fails wrongly.)
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		list, err := c.db.SoA(context.Background())
		must(t, err)
		if len(list) == 1 {
			break
		}
		if time.Now().After(deadline) {
			close(ps.release)
			t.Fatal("the form's decision was never stored")
		}
	}
	time.Sleep(50 * time.Millisecond)
	close(ps.release)
	resp := <-posted
	if resp == nil || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("save: %v", resp)
	}
	_, body := adm.get("/controls/iso27001-2022/8.3")
	contains(t, "control 8.3 after the save", body, `<span class="badge big na">`, "Excluded in the Statement of Applicability by lea: managed store only")
}

// TestSoAWithServesKeptEvaluation: in serve the pages read the kept
// evaluation, which follows decisions incrementally; an exclusion and its
// reversal show on the next page there too.
func TestSoAWithServesKeptEvaluation(t *testing.T) {
	c := startCollector(t, collectorOpts{kept: true})
	c.loadFleet()
	adm := c.client()
	adm.login("lea", adminPassword)
	const page = "/controls/iso27001-2022/8.3"
	tok := adm.formToken(page)
	for _, step := range []struct {
		applicable, justification, badge string
	}{
		{"false", "managed store only", `<span class="badge big na">`},
		{"true", "", `<span class="badge big fail">`},
	} {
		resp, body := adm.post("/soa", url.Values{"csrf": {tok}, "control_id": {"iso27001-2022/8.3"}, "applicable": {step.applicable}, "justification": {step.justification}})
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("applicable=%s: %d\n%s", step.applicable, resp.StatusCode, body)
		}
		_, body = adm.get(page)
		contains(t, "control 8.3 after applicable="+step.applicable, body, step.badge)
	}
}
