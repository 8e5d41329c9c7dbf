package web

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/annexa/annexa/collector/internal/api"
	"github.com/annexa/annexa/collector/internal/auth"
	"github.com/annexa/annexa/collector/internal/store"
)

// soaRows returns the control ids of the rows of a /soa page.
func soaRows(body string) []string {
	var ids []string
	for _, part := range strings.Split(body, `<tr id="soa-`)[1:] {
		ids = append(ids, part[:strings.IndexByte(part, '"')])
	}
	return ids
}

// TestSoAMarksUnjustifiedInclusions: lines the store accepted without a
// reason for the inclusion (recorded, or no entry at all) stay readable,
// and the Statement of Applicability page and the control page mark them
// incomplete, count them, filter them and say what to write; giving a
// reason from the form completes the line.
func TestSoAMarksUnjustifiedInclusions(t *testing.T) {
	ctx := context.Background()
	c := startCollector(t, collectorOpts{})
	c.loadFleet()
	for _, e := range []store.SoAEntry{
		{ControlID: "iso27001-2022/5.1", Applicable: true, Justification: "Risk R-12: no common policy", Author: "lea"},
		{ControlID: "iso27001-2022/5.2", Applicable: true, Author: "lea"}, // accepted before; still is
		{ControlID: "iso27001-2022/7.4", Applicable: false, Justification: "no premises of our own", Author: "lea"},
	} {
		_, err := c.db.SetSoA(ctx, e)
		must(t, err)
	}
	// Written behind the UI's back, as by the command line: the pages
	// show them from the next evaluation.
	must(t, c.ui.eval.refresh(ctx))
	adm := c.client()
	adm.login("lea", adminPassword)

	_, body := adm.get("/soa")
	contains(t, "whole SoA", body,
		`<p class="remedy" id="soa-incomplete"><strong>Incomplete:</strong> 129 of 131 controls are included without a reason.`,
		`(<a href="/soa?justified=no">list them</a>)`,
		"131 of 131 controls shown; 1 excluded; 129 included without a justification.",
		`<tr id="soa-iso27001-2022/5.2" class="incomplete">`,
		`No reason given:</span> give a reason for including iso27001-2022/5.2, e.g. the risk it treats or the requirement it meets.`,
		`No reason given:</span> give a reason for including iso27001-2022/5.9, e.g.`,
		`<tr id="soa-iso27001-2022/5.1">`, "Risk R-12: no common policy", `<tr id="soa-iso27001-2022/7.4">`)
	if rows := soaRows(body); len(rows) != 131 {
		t.Fatalf("%d rows, want 131", len(rows))
	}

	_, body = adm.get("/soa?justified=no")
	rows := soaRows(body)
	if len(rows) != 129 || slices.Contains(rows, "iso27001-2022/5.1") || slices.Contains(rows, "iso27001-2022/7.4") ||
		!slices.Contains(rows, "iso27001-2022/5.2") || !slices.Contains(rows, "iso42001-2023/A.7.5") {
		t.Errorf("justified=no lists %d rows: %v", len(rows), rows)
	}
	contains(t, "justified=no", body, `<option value="no" selected>missing: included without a reason</option>`, "129 of 131 controls shown")
	_, body = adm.get("/soa?justified=yes")
	if rows := soaRows(body); !slices.Equal(rows, []string{"iso27001-2022/5.1", "iso27001-2022/7.4"}) {
		t.Errorf("justified=yes lists %v", rows)
	}
	_, body = adm.get("/soa?framework=iso42001-2023&justified=no")
	contains(t, "42001 gaps", body, "38 of 38 controls of iso42001-2023 are included without a reason", "38 of 38 controls shown; 0 excluded; 38 included without a justification.")
	_, body = adm.get("/soa?applicable=yes&justified=no&framework=iso27001-2022")
	if rows := soaRows(body); len(rows) != 91 || slices.Contains(rows, "iso27001-2022/7.4") {
		t.Errorf("applicable=yes&justified=no lists %d rows", len(rows))
	}
	if resp, body := adm.get("/soa?justified=maybe"); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "use yes, or no for the included controls that give no reason") {
		t.Errorf("bad filter: %d", resp.StatusCode)
	}

	// The overview leads to them.
	_, body = adm.get("/")
	contains(t, "overview", body, `<a href="/soa?justified=no" id="soa-gaps">129 included controls give no reason for their inclusion</a> in the Statement of Applicability.`)

	// The control pages say what their line lacks, and the form asks for
	// the reason of an inclusion.
	_, body = adm.get("/controls/iso27001-2022/5.2")
	contains(t, "control 5.2", body, `<p class="remedy" id="soa-todo"><strong>Incomplete:</strong> give a reason for including iso27001-2022/5.2, e.g. the risk it treats or the requirement it meets.`,
		"applicable</span> recorded by lea", "without a justification",
		"Applicable: include it, with the reason it is needed", "Applicable: why the control is included, e.g. the risk it treats or the requirement it meets.")
	_, body = adm.get("/controls/iso27001-2022/8.3")
	contains(t, "control 8.3 (no entry)", body, "No entry: the control applies", `id="soa-todo"`, "give a reason for including iso27001-2022/8.3, e.g.")
	for _, id := range []string{"5.1", "7.4"} {
		if _, body := adm.get("/controls/iso27001-2022/" + id); strings.Contains(body, `id="soa-todo"`) {
			t.Errorf("control %s is marked incomplete", id)
		}
	}

	// A reason given from the form completes the line.
	tok := adm.formToken("/controls/iso27001-2022/5.2")
	resp, body := adm.post("/soa", url.Values{"csrf": {tok}, "control_id": {"iso27001-2022/5.2"}, "applicable": {"true"},
		"justification": {"Requirement: the customer contract names a security officer"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("inclusion with a reason: %d\n%s", resp.StatusCode, body)
	}
	if _, body := adm.get("/controls/iso27001-2022/5.2"); strings.Contains(body, `id="soa-todo"`) || !strings.Contains(body, "the customer contract names a security officer") {
		t.Error("the justified inclusion is still marked incomplete, or its reason is not shown")
	}
	_, body = adm.get("/soa?justified=no")
	if rows := soaRows(body); len(rows) != 128 || slices.Contains(rows, "iso27001-2022/5.2") {
		t.Errorf("after the reason, justified=no lists %d rows", len(rows))
	}
	contains(t, "after the reason", body, "128 of 131 controls are included without a reason")

	// An auditor sees the same marks.
	aud := c.client()
	aud.login("otto", auditorPassword)
	_, body = aud.get("/soa?justified=no")
	contains(t, "auditor", body, `id="soa-incomplete"`, "128 of 131 controls shown")
}

// TestSoAInclusionWithoutReasonAsTheAPIDoes: an inclusion without a reason
// is recorded (existing scripts and forms keep working) by the API and the
// form alike, with the same entry and log shape; the API answers with a
// warning saying what to add, and the page the form returns to says it.
func TestSoAInclusionWithoutReasonAsTheAPIDoes(t *testing.T) {
	ctx := context.Background()
	c := startCollector(t, collectorOpts{})
	key, id, hash := auth.NewAPIKey()
	_, err := c.db.CreateAPIKey(ctx, store.APIKey{ID: id, Name: "grc-sync", Role: store.RoleAdmin, SecretHash: hash}, "test")
	must(t, err)
	callAPI := func(req api.SoARequest) (int, map[string]any) {
		b, _ := json.Marshal(req)
		r, _ := http.NewRequest("POST", c.url+"/v1/soa", bytes.NewReader(b))
		r.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(r)
		must(t, err)
		defer resp.Body.Close()
		var m map[string]any
		must(t, json.NewDecoder(resp.Body).Decode(&m))
		return resp.StatusCode, m
	}
	yes := true
	code, m := callAPI(api.SoARequest{ControlID: "iso27001-2022/7.4", Applicable: &yes, Justification: "  "})
	if code != http.StatusOK || m["applicable"] != true || m["author"] != "grc-sync" ||
		m["warning"] != "saved, but the Statement of Applicability is incomplete until you give a reason for including iso27001-2022/7.4, e.g. the risk it treats or the requirement it meets (ISO/IEC 27001:2022 6.1.3 d)" {
		t.Fatalf("API inclusion without a reason: %d %v", code, m)
	}
	code, m = callAPI(api.SoARequest{ControlID: "iso27001-2022/7.6", Applicable: &yes, Justification: "Risk R-3: laptops leave the office"})
	if _, warned := m["warning"]; code != http.StatusOK || warned {
		t.Fatalf("API inclusion with a reason: %d %v", code, m)
	}

	adm := c.client()
	adm.login("lea", adminPassword)
	tok := adm.formToken("/controls/iso27001-2022/7.5")
	resp, body := adm.post("/soa", url.Values{"csrf": {tok}, "control_id": {"iso27001-2022/7.5"}, "applicable": {"true"}, "justification": {"  "}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("UI inclusion without a reason: %d\n%s", resp.StatusCode, body)
	}
	_, body = adm.get(resp.Header.Get("Location"))
	contains(t, "the page after the save", body, `id="soa-todo"`, "give a reason for including iso27001-2022/7.5, e.g.")

	list, err := c.db.SoA(ctx)
	must(t, err)
	if len(list) != 3 || !list[0].Unjustified() || !list[1].Unjustified() || list[2].Unjustified() || list[0].Author != "grc-sync" || list[1].Author != "lea" {
		t.Fatalf("entries: %+v", list)
	}
	evs := soaEvents(t, c)
	if len(evs) != 3 {
		t.Fatalf("log: %+v", evs)
	}
	var fromAPI, fromUI map[string]any
	must(t, json.Unmarshal(evs[0].Detail, &fromAPI))
	must(t, json.Unmarshal(evs[2].Detail, &fromUI))
	if a, u := slices.Sorted(maps.Keys(fromAPI)), slices.Sorted(maps.Keys(fromUI)); !slices.Equal(a, u) || fromUI["applicable"] != true || fromAPI["applicable"] != true {
		t.Errorf("log detail from the API %v, from the UI %v", fromAPI, fromUI)
	}
	// The two unjustified lines, and not the justified one, are on the
	// page of gaps.
	_, body = adm.get("/soa?justified=no")
	rows := soaRows(body)
	if !slices.Contains(rows, "iso27001-2022/7.4") || !slices.Contains(rows, "iso27001-2022/7.5") || slices.Contains(rows, "iso27001-2022/7.6") {
		t.Errorf("justified=no: %v", rows)
	}
}

// TestSoAUnjustifiedWithServesKeptEvaluation: in serve the pages read the
// kept evaluation; an inclusion without a reason is marked there too, and
// the mark goes once the reason is given.
func TestSoAUnjustifiedWithServesKeptEvaluation(t *testing.T) {
	c := startCollector(t, collectorOpts{kept: true})
	c.loadFleet()
	adm := c.client()
	adm.login("lea", adminPassword)
	const page = "/controls/iso27001-2022/8.3"
	tok := adm.formToken(page)
	for _, step := range []struct {
		justification string
		marked        bool
		gaps          string
	}{
		{"", true, "131 of 131 controls are included without a reason"},
		{"Risk R-9: customer data on shared hosts", false, "130 of 131 controls are included without a reason"},
	} {
		resp, body := adm.post("/soa", url.Values{"csrf": {tok}, "control_id": {"iso27001-2022/8.3"}, "applicable": {"true"}, "justification": {step.justification}})
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("justification %q: %d\n%s", step.justification, resp.StatusCode, body)
		}
		if _, body = adm.get(page); strings.Contains(body, `id="soa-todo"`) != step.marked {
			t.Errorf("justification %q: control page marked %v, want %v", step.justification, !step.marked, step.marked)
		}
		_, body = adm.get("/soa?justified=no")
		contains(t, "kept /soa", body, step.gaps)
		if slices.Contains(soaRows(body), "iso27001-2022/8.3") != step.marked {
			t.Errorf("justification %q: justified=no lists 8.3: %v", step.justification, !step.marked)
		}
	}
}
