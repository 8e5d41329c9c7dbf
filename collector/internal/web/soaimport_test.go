package web

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/csv"
	"html"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/annexa/annexa/collector/internal/soasheet"
	"github.com/annexa/annexa/collector/internal/store"
)

// upload posts a file as the import page's form does.
func (cl *client) upload(name string, content []byte, csrf string) (*http.Response, string) {
	cl.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	must(cl.t, mw.WriteField("csrf", csrf))
	fw, err := mw.CreateFormFile("file", name)
	must(cl.t, err)
	_, err = fw.Write(content)
	must(cl.t, err)
	must(cl.t, mw.Close())
	resp, err := cl.http.Post(cl.c.url+"/soa/import", mw.FormDataContentType(), &body)
	must(cl.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

var hiddenRE = regexp.MustCompile(`<input type="hidden" name="([a-z]+)" value="([^"]*)">`)

// recordForm returns the fields of the preview's "Record" form.
func recordForm(t *testing.T, body string) url.Values {
	t.Helper()
	i := strings.Index(body, `id="import-record"`)
	if i < 0 {
		t.Fatalf("no record form in:\n%s", body)
	}
	form := url.Values{}
	for _, m := range hiddenRE.FindAllStringSubmatch(body[i:strings.Index(body[i:], "</form>")+i], -1) {
		form.Set(m[1], html.UnescapeString(m[2]))
	}
	return form
}

func (c *collector) soaLogCount() int {
	c.t.Helper()
	events, err := c.db.GovernanceLog(context.Background(), 0, 0)
	must(c.t, err)
	n := 0
	for _, e := range events {
		if e.Action == store.ActionSoASet {
			n++
		}
	}
	return n
}

// editSheet sets the applicable and justification cells of some controls.
func editSheet(t *testing.T, sheet []byte, edits map[string][2]string) []byte {
	t.Helper()
	recs, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(sheet, []byte("\uFEFF")))).ReadAll()
	must(t, err)
	for _, r := range recs[1:] {
		if e, ok := edits[r[0]]; ok {
			r[2], r[3] = e[0], e[1]
		}
	}
	var out bytes.Buffer
	w := csv.NewWriter(&out)
	w.UseCRLF = true
	must(t, w.WriteAll(recs))
	return out.Bytes()
}

// TestSoAImportPage: an admin downloads the sheet, uploads it edited,
// sees the plan (nothing recorded yet), records it (and lands on /soa,
// as after a single edit); one soa.set entry per
// changed control, by the admin. A sheet with a wrong row records nothing
// and lists every problem; a plan that went stale between preview and
// record is shown again, not applied; an auditor may download, not import.
func TestSoAImportPage(t *testing.T) {
	ctx := context.Background()
	c := startCollector(t, collectorOpts{})
	_, err := c.db.SetSoA(ctx, store.SoAEntry{ControlID: "iso27001-2022/7.4", Applicable: false, Justification: "provider", Author: "otto"})
	must(t, err)
	adm := c.client()
	adm.login("lea", adminPassword)

	resp, sheet := adm.get("/soa/sheet")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" ||
		!strings.HasPrefix(resp.Header.Get("Content-Disposition"), `attachment; filename="statement-of-applicability-`) ||
		!strings.HasPrefix(sheet, "\uFEFFcontrol_id,title,applicable,justification,author,updated_at\n") || strings.Count(sheet, "\niso") != 131 {
		t.Fatalf("sheet = %d %v\n%.300s", resp.StatusCode, resp.Header, sheet)
	}
	if !strings.Contains(sheet, "\niso27001-2022/7.4,Physical security monitoring,no,provider,otto,") {
		t.Errorf("the sheet lacks the recorded exclusion")
	}
	_, page := adm.get("/soa")
	contains(t, "/soa", page, `<a href="/soa/import" id="soa-import-link">`)
	tok := adm.formToken("/soa/import")

	// Untouched: nothing to change.
	_, body := adm.upload("soa.csv", []byte(sheet), tok)
	contains(t, "untouched sheet", body, "131 rows: 0 added, 0 changed, 131 unchanged.", `id="import-nothing"`)

	edited := editSheet(t, []byte(sheet), map[string][2]string{
		"iso27001-2022/5.1": {"yes", "Treats R-1 <no policy> & \"more\"\nline two"},
		"iso27001-2022/7.4": {"yes", "Moved into our own data centre."},
	})
	resp, body = adm.upload("soa.csv", edited, tok)
	if resp.StatusCode != 200 {
		t.Fatalf("preview = %d\n%s", resp.StatusCode, body)
	}
	contains(t, "preview", body, "131 rows: 1 added, 1 changed, 129 unchanged.",
		`<tr id="change-iso27001-2022/5.1">`, "<ins>Treats R-1 &lt;no policy&gt; &amp; &#34;more&#34;\nline two</ins>",
		`<tr id="change-iso27001-2022/7.4">`, "no → <strong>yes</strong>", "<del>provider</del>", "Record 2 changes as lea",
		"129 rows include a control with no justification, first iso27001-2022/5.2 (line ")
	if n := c.soaLogCount(); n != 1 {
		t.Fatalf("the preview wrote %d soa.set entries", n-1)
	}
	record := recordForm(t, body)

	// Someone records a decision between preview and record: the plan is
	// shown again and nothing is written.
	_, err = c.db.SetSoA(ctx, store.SoAEntry{ControlID: "iso27001-2022/5.1", Applicable: true, Justification: "other reason", Author: "otto"})
	must(t, err)
	resp, body = adm.post("/soa/import", record)
	if resp.StatusCode != http.StatusConflict || !strings.Contains(body, `id="import-stale"`) || !strings.Contains(body, "<del>other reason</del>") {
		t.Fatalf("stale record = %d\n%s", resp.StatusCode, body)
	}
	if n := c.soaLogCount(); n != 2 {
		t.Fatalf("a stale plan wrote %d soa.set entries", n-2)
	}
	record = recordForm(t, body)
	resp, body = adm.post("/soa/import", record)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/soa" {
		t.Fatalf("record = %d %s\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	if n := c.soaLogCount(); n != 4 {
		t.Errorf("record wrote %d soa.set entries, want 2", n-2)
	}
	list, err := c.db.SoA(ctx)
	must(t, err)
	for _, e := range list {
		if e.Author != "lea" {
			t.Errorf("%s recorded by %s, want lea", e.ControlID, e.Author)
		}
	}
	// The /soa page shows the imported reason from the next evaluation on.
	_, page = adm.get("/soa")
	contains(t, "/soa after import", page, "Moved into our own data centre.")

	// Recording the same form twice writes nothing more.
	resp, body = adm.post("/soa/import", record)
	if resp.StatusCode != http.StatusConflict || c.soaLogCount() != 4 {
		t.Errorf("a second record = %d, %d entries\n%s", resp.StatusCode, c.soaLogCount(), body)
	}

	// A wrong row: nothing recorded, every problem placed.
	bad := append(editSheet(t, []byte(sheet), map[string][2]string{"iso27001-2022/8.1": {"no", ""}}), []byte("iso27001-2022/5.99,,maybe,,,\r\n")...)
	resp, body = adm.upload("soa.csv", bad, tok)
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("bad sheet = %d\n%s", resp.StatusCode, body)
	}
	contains(t, "bad sheet", body, `id="import-problems"`,
		"column D (justification): a control marked not applicable needs a justification (why it does not apply)",
		"<code>soa.csv:133:1</code> column A (control_id): control &#34;iso27001-2022/5.99&#34; is not in any loaded catalog; did you mean iso27001-2022/5.9?",
		"column C (applicable): &#34;maybe&#34;: write yes or no")
	if strings.Contains(body, `id="import-record"`) || c.soaLogCount() != 4 {
		t.Errorf("a bad sheet offered a record form or wrote entries")
	}

	// The report's CSV is refused with the reason.
	_, report := adm.get("/export/csv")
	_, body = adm.upload("statement-of-applicability.csv", []byte(report), tok)
	contains(t, "report csv", body, "this is the report&#39;s statement-of-applicability.csv")

	// Bounded: a body over the limit is refused as such.
	resp, body = adm.upload("huge.csv", bytes.Repeat([]byte("x"), maxActionBody+1), tok)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(body, "The form is larger than 5 MiB") {
		t.Errorf("huge upload = %d\n%s", resp.StatusCode, body)
	}

	aud := c.client()
	aud.login("otto", auditorPassword)
	if resp, _ := aud.get("/soa/sheet?format=yaml"); resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/yaml; charset=utf-8" {
		t.Errorf("auditor yaml sheet = %d %v", resp.StatusCode, resp.Header)
	}
	_, body = aud.get("/soa/import")
	contains(t, "auditor import page", body, "Only admins can import a sheet")
	if strings.Contains(body, `id="import-upload"`) {
		t.Errorf("the auditor sees the upload form")
	}
	if resp, _ := aud.post("/soa/import", url.Values{"csrf": {aud.formToken("/soa")}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("auditor import = %d", resp.StatusCode)
	}
}

// TestBrowserSoAImport uploads a sheet from Chromium's file chooser,
// reviews the plan, records it and lands on the updated statement.
func TestBrowserSoAImport(t *testing.T) {
	c := startCollector(t, collectorOpts{})
	ctx := newBrowser(t)
	shots := artifacts(t)
	login(t, ctx, c.url, "lea", adminPassword)
	adm := c.client()
	adm.login("lea", adminPassword)
	_, sheet := adm.get("/soa/sheet")
	file := filepath.Join(t.TempDir(), "soa.csv")
	must(t, os.WriteFile(file, editSheet(t, []byte(sheet), map[string][2]string{
		"iso27001-2022/5.1": {"yes", "Treats R-1: no common policy."},
		"iso27001-2022/8.1": {"no", "No endpoints in scope: training hosts only."},
	}), 0o600))

	step(t, ctx, "open the import page from /soa",
		chromedp.Navigate(c.url+"/soa"),
		chromedp.Click(chromedp.CSS("#soa-import-link")),
		chromedp.WaitVisible(chromedp.CSS("#import-upload")),
		chromedp.SetUploadFiles(chromedp.CSS("#import-file"), []string{file}),
		chromedp.Submit(chromedp.CSS("#import-file")),
		chromedp.WaitVisible(chromedp.CSS("#import-summary")),
	)
	if s := text(t, ctx, "#import-summary"); !strings.Contains(s, "soa.csv: 131 rows: 2 added, 0 changed, 129 unchanged.") {
		t.Errorf("summary = %q", s)
	}
	if row := text(t, ctx, `tr[id="change-iso27001-2022/8.1"]`); !strings.Contains(row, "No endpoints in scope") || !strings.Contains(row, "added") {
		t.Errorf("8.1 row = %q", row)
	}
	screenshot(t, ctx, shots, "soa-import-preview")
	if n := c.soaLogCount(); n != 0 {
		t.Fatalf("the preview wrote %d entries", n)
	}
	step(t, ctx, "record",
		chromedp.Click(chromedp.CSS("#import-record button")),
		chromedp.WaitVisible(chromedp.CSS("table.soa")),
	)
	if row := text(t, ctx, `tr[id="soa-iso27001-2022/8.1"]`); !strings.Contains(row, "No endpoints in scope: training hosts only.") || !strings.Contains(row, "lea") {
		t.Errorf("/soa row of 8.1 after the import = %q", row)
	}
	if p := text(t, ctx, "#soa-incomplete"); !strings.Contains(p, "129 of 131 controls are included without a reason") {
		t.Errorf("/soa after the import = %q", p)
	}
	screenshot(t, ctx, shots, "soa-import-done")
	if n := c.soaLogCount(); n != 2 {
		t.Errorf("%d soa.set entries, want 2", n)
	}
}

// soaImportAction is a record form of POST /soa/import an admin (lea)
// may send as is: it excludes iso27001-2022/8.1, which no other action of
// TestAuditorCannotChangeAnything touches.
func soaImportAction(t *testing.T) url.Values {
	t.Helper()
	sheet := "control_id,applicable,justification\r\niso27001-2022/8.1,no,no endpoints in scope\r\n"
	s, err := soasheet.Read(strings.NewReader(sheet), "soa.csv", soasheet.CSV, []string{"iso27001-2022/8.1"})
	must(t, err)
	plan, err := soasheet.NewPlan(s, nil, "lea")
	must(t, err)
	return url.Values{"name": {"soa.csv"}, "format": {"csv"}, "sheet": {base64.StdEncoding.EncodeToString([]byte(sheet))},
		"plan": {planDigest(plan, "lea")}}
}
