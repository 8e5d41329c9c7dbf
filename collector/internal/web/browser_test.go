package web

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/annexa/annexa/collector/internal/report"
)

// chromiumPath is Debian's Chromium; .ci/run installs the package.
const chromiumPath = "/usr/bin/chromium"

// artifacts is where screenshots go: $ANNEXA_ARTIFACTS when set (CI keeps
// it), else a folder that lives as long as the test.
func artifacts(t *testing.T) string {
	dir := os.Getenv("ANNEXA_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	dir = filepath.Join(dir, "web")
	must(t, os.MkdirAll(dir, 0o755))
	return dir
}

// newBrowser starts headless Chromium with a fresh profile.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	if _, err := exec.LookPath(chromiumPath); err != nil {
		if testing.Short() {
			t.Skip("no Chromium; the browser tests need `apt-get install -y chromium`")
		}
		t.Fatalf("the browser tests need Debian's Chromium at %s: apt-get install -y chromium", chromiumPath)
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	// Start the browser with a context that has no deadline (a deadline on
	// the first Run would bound the browser's whole life).
	must(t, chromedp.Do(ctx))
	return ctx
}

// step runs actions with a deadline, so a page that never shows what is
// awaited fails the test instead of hanging it.
func step(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	s, err := chromedp.Run(sctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("read text of %s: %v", sel, err)
	}
	return s
}

func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	must(t, os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644))
}

func login(t *testing.T, ctx context.Context, base, user, password string) {
	t.Helper()
	step(t, ctx, "log in as "+user,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS("#user")),
		chromedp.SendKeys(chromedp.CSS("#user"), user),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Submit(chromedp.CSS("#password")),
		chromedp.WaitVisible(chromedp.CSS("header .who")),
	)
}

// TestBrowser drives Chromium through what a compliance lead and an
// auditor do: log in, read the overview, follow a failing control to the
// asset and its evidence, download every export, and (as auditor) be
// refused a change.
func TestBrowser(t *testing.T) {
	c := startCollector(t, collectorOpts{})
	c.loadFleet()
	ctx := newBrowser(t)
	shots := artifacts(t)
	t.Logf("screenshots in %s", shots)

	step(t, ctx, "open the login page", chromedp.Navigate(c.url+"/"), chromedp.WaitVisible(chromedp.CSS("#user")))
	screenshot(t, ctx, shots, "login")
	login(t, ctx, c.url, "lea", adminPassword)

	// Overview: both frameworks with counts, the failing checks, the host
	// that never reported, and when it was evaluated.
	main := text(t, ctx, "main")
	for _, want := range []string{"Where we stand", "ISO/IEC 27001:2022", "ISO/IEC 42001:2023", "Top failing checks", "Hosts not reporting", "gpu-02", "Noncompliant"} {
		if !strings.Contains(main, want) {
			t.Errorf("overview does not show %q:\n%s", want, main)
		}
	}
	if asof := text(t, ctx, ".asof"); !strings.Contains(asof, "Evaluated") || !strings.Contains(asof, "UTC") {
		t.Errorf("overview does not say when it was evaluated: %q", asof)
	}
	screenshot(t, ctx, shots, "overview")

	// Printed, the overview keeps its numbers and drops navigation and
	// forms; seen without colour, statuses still differ by sign and word.
	emulate := func(media, deficiency string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: media}); err != nil {
				return err
			}
			_, err := chromedp.Call(ctx, emulation.SetEmulatedVisionDeficiency, emulation.SetEmulatedVisionDeficiencyParams{Type: emulation.SetEmulatedVisionDeficiencyType(deficiency)})
			return err
		})
	}
	step(t, ctx, "print media", emulate("print", "none"))
	if hidden, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`getComputedStyle(document.querySelector('header nav')).display === 'none' && getComputedStyle(document.querySelector('.who form')).display === 'none'`)); err != nil || !hidden {
		t.Errorf("printed, the overview still shows navigation or forms (%v)", err)
	}
	screenshot(t, ctx, shots, "overview-print")
	step(t, ctx, "no colour", emulate("", "achromatopsia"))
	screenshot(t, ctx, shots, "overview-achromatopsia")
	step(t, ctx, "back to screen", emulate("", "none"))

	// Drill down: failing control → failing model → its evidence.
	step(t, ctx, "open the failing control from the overview",
		chromedp.Click(chromedp.CSS(`a[href="/controls/iso42001-2023/A.10.3"]`)),
		chromedp.WaitVisible(chromedp.CSS(".status-line")),
	)
	ctl := text(t, ctx, "main")
	for _, want := range []string{"Suppliers", "Noncompliant", "models.no_critical_findings", "model:/srv/ml/models/downloads/checkpoint.pt", "gpu-01"} {
		if !strings.Contains(ctl, want) {
			t.Errorf("control page does not show %q:\n%s", want, ctl)
		}
	}
	screenshot(t, ctx, shots, "control")
	step(t, ctx, "follow the failing subject to the asset",
		chromedp.Click(chromedp.CSS(`tr.row-fail a[href*="checkpoint.pt"]`)),
		chromedp.WaitVisible(chromedp.CSS("h1.subject")),
	)
	asset := text(t, ctx, "main")
	for _, want := range []string{"model:/srv/ml/models/downloads/checkpoint.pt", "pickle.global", "critical", "reported by plugin models", "Change timeline", "first seen"} {
		if !strings.Contains(asset, want) {
			t.Errorf("asset page does not show %q:\n%s", want, asset)
		}
	}
	screenshot(t, ctx, shots, "asset")
	step(t, ctx, "go to the host", chromedp.Click(chromedp.CSS(".crumbs a")), chromedp.WaitVisible(chromedp.CSS("dl.facts")))
	host := text(t, ctx, "main")
	for _, want := range []string{"gpu-01", "reporting", "datasets", "models", "encryption", "access"} {
		if !strings.Contains(host, want) {
			t.Errorf("host page does not show %q:\n%s", want, host)
		}
	}
	screenshot(t, ctx, shots, "host")
	// Lineage: the churn model was trained on the customers dataset,
	// which holds personal data; follow the link and back.
	step(t, ctx, "open a model trained on personal data",
		chromedp.Navigate(c.url+assetURL(c.gpu01, "model", "model:/srv/ml/models/churn/model.safetensors")),
		chromedp.WaitVisible(chromedp.CSS("#lineage table")),
	)
	// As read, whitespace folded: the status line is a flex row.
	lin := strings.Join(strings.Fields(text(t, ctx, "#lineage")), " ")
	for _, want := range []string{"Trained on personal data: yes", "customers", "dataset:/srv/ml/datasets/customers", "personal data: email", "confidential"} {
		if !strings.Contains(lin, want) {
			t.Errorf("model lineage does not show %q:\n%s", want, lin)
		}
	}
	screenshot(t, ctx, shots, "lineage-model")
	step(t, ctx, "follow the lineage to the dataset",
		chromedp.Click(chromedp.CSS(`#lineage a[href*="datasets%2Fcustomers"]`)),
		chromedp.WaitVisible(chromedp.CSS("#lineage li")),
	)
	if got := text(t, ctx, "#lineage"); !strings.Contains(got, "Lineage: models trained on it") || !strings.Contains(got, "model:/srv/ml/models/churn/model.safetensors") {
		t.Errorf("dataset lineage:\n%s", got)
	}
	if got := text(t, ctx, "h1.subject"); got != "dataset:/srv/ml/datasets/customers" {
		t.Errorf("the lineage link led to %q", got)
	}
	screenshot(t, ctx, shots, "lineage-dataset")
	step(t, ctx, "filter the control list",
		chromedp.Navigate(c.url+"/controls?framework=iso27001-2022&status=noncompliant"),
		chromedp.WaitVisible(chromedp.CSS("table.controls")),
	)
	list := text(t, ctx, "table.controls")
	if !strings.Contains(list, "Noncompliant") || strings.Contains(list, "Compliant\n") || strings.Contains(list, "42001") {
		t.Errorf("filtered control list:\n%s", list)
	}
	step(t, ctx, "ISO/IEC 42001 controls", chromedp.Navigate(c.url+"/controls?framework=iso42001-2023"), chromedp.WaitVisible(chromedp.CSS("table.controls")))
	screenshot(t, ctx, shots, "controls")

	// Every registered export downloads, named for its format and time.
	downloads := t.TempDir()
	step(t, ctx, "open exports",
		chromedp.Navigate(c.url+"/exports"),
		chromedp.WaitVisible(chromedp.CSS("a.download")),
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
				Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads})
			return err
		}),
	)
	screenshot(t, ctx, shots, "exports")
	ev, err := c.ui.eval.get(context.Background())
	must(t, err)
	for _, f := range report.Formats() {
		name, _ := exportFile(f, ev.at)
		step(t, ctx, "download "+f, chromedp.Click(chromedp.CSS(`a[href="/export/`+f+`"]`)))
		path := filepath.Join(downloads, name)
		var data []byte
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
				data = b
				break
			}
			if time.Now().After(deadline) {
				entries, _ := os.ReadDir(downloads)
				t.Fatalf("export %s: no %s after 10 s; downloads: %v", f, name, entries)
			}
		}
		if f == "json" {
			var rep report.Report
			if err := json.Unmarshal(data, &rep); err != nil || len(rep.Controls) == 0 || len(rep.Hosts) != 2 {
				t.Errorf("json export: %d controls, %d hosts, %v", len(rep.Controls), len(rep.Hosts), err)
			}
		}
	}

	// The admin accepts a risk from the failing check's own page.
	step(t, ctx, "record an exception from control 8.3",
		chromedp.Navigate(c.url+"/controls/iso27001-2022/8.3"),
		chromedp.Click(chromedp.CSS(`a[href^="/exceptions?check=datasets.not_world_readable"]`)),
		chromedp.WaitVisible(chromedp.CSS("#subject_pattern")),
		chromedp.SendKeys(chromedp.CSS("#subject_pattern"), "dataset:/srv/ml/datasets/customers"),
		chromedp.SendKeys(chromedp.CSS("#approver"), "ciso"),
		chromedp.SendKeys(chromedp.CSS("#reason"), "Moving to a private bucket this week"),
		chromedp.Submit(chromedp.CSS("#reason")),
		chromedp.WaitVisible(chromedp.CSS(`table.decisions tr[id^="exception-"]`)),
	)
	if row := text(t, ctx, `table.decisions tr[id^="exception-"]`); !strings.Contains(row, "active") || !strings.Contains(row, "datasets.not_world_readable") || !strings.Contains(row, "ciso") {
		t.Errorf("exception row: %q", row)
	}
	screenshot(t, ctx, shots, "exceptions")
	step(t, ctx, "control 8.3 with the exception", chromedp.Navigate(c.url+"/controls/iso27001-2022/8.3"), chromedp.WaitVisible(chromedp.CSS("tr.excepted")))
	if ex := text(t, ctx, "tr.excepted"); !strings.Contains(ex, "customers") || !strings.Contains(ex, "approved by ciso") {
		t.Errorf("excepted subject row: %q", ex)
	}

	// The admin excludes a control in the Statement of Applicability from
	// its page: refused without a justification, with the reason next to
	// the form, then recorded, and the page shows the control not
	// applicable at once.
	step(t, ctx, "exclude 7.4 without a justification",
		chromedp.Navigate(c.url+"/controls/iso27001-2022/7.4"),
		chromedp.WaitVisible(chromedp.CSS(`#soa form`)),
		chromedp.Click(chromedp.CSS(`#soa input[name="applicable"][value="false"]`)),
		chromedp.Submit(chromedp.CSS("#justification")),
		chromedp.WaitVisible(chromedp.CSS("#soa-error")),
	)
	if msg := text(t, ctx, "#soa-error"); !strings.Contains(msg, "a control marked not applicable needs a justification") {
		t.Errorf("empty justification answered %q", msg)
	}
	if kept, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('#soa input[value="false"]').checked && document.querySelector('#justification').getAttribute('aria-invalid') === 'true'`)); err != nil || !kept {
		t.Errorf("the refused form lost the choice or does not mark the justification invalid (%v)", err)
	}
	if st := text(t, ctx, ".status-line"); strings.Contains(st, "Not applicable") {
		t.Errorf("after the refusal the control is already %q", st)
	}
	screenshot(t, ctx, shots, "soa-refused")
	step(t, ctx, "exclude 7.4 with a justification",
		chromedp.SendKeys(chromedp.CSS("#justification"), "No premises of our own: the hosts run in a certified cloud region."),
		chromedp.Submit(chromedp.CSS("#justification")),
		chromedp.WaitVisible(chromedp.CSS("blockquote.justification")),
	)
	if st := text(t, ctx, ".status-line"); !strings.Contains(st, "Not applicable") || !strings.Contains(st, "Excluded in the Statement of Applicability by lea") {
		t.Errorf("after the exclusion the status line says %q", st)
	}
	if j := text(t, ctx, "#soa"); !strings.Contains(j, "not applicable recorded by lea") || !strings.Contains(j, "No premises of our own: the hosts run in a certified cloud region.") {
		t.Errorf("the SoA section says:\n%s", j)
	}
	screenshot(t, ctx, shots, "control-not-applicable")
	step(t, ctx, "the Statement of Applicability lists it",
		chromedp.Navigate(c.url+"/soa?applicable=no"),
		chromedp.WaitVisible(chromedp.CSS("table.soa")),
	)
	if row := text(t, ctx, "table.soa tbody"); !strings.Contains(row, "iso27001-2022/7.4") || !strings.Contains(row, "certified cloud region") || !strings.Contains(row, "Not applicable") {
		t.Errorf("SoA page:\n%s", row)
	}
	screenshot(t, ctx, shots, "soa")

	// Included controls that give no reason are marked and filtered; the
	// lead follows one to its form, gives the reason, and the count drops.
	step(t, ctx, "filter the inclusions without a reason",
		chromedp.Navigate(c.url+"/soa"),
		chromedp.WaitVisible(chromedp.CSS(`select[name="justified"]`)),
		chromedp.SetValue(chromedp.CSS(`select[name="justified"]`), "no"),
		chromedp.Submit(chromedp.CSS(`select[name="justified"]`)),
		chromedp.WaitVisible(chromedp.CSS("tr.incomplete")),
	)
	if p := text(t, ctx, "#soa-incomplete"); !strings.Contains(p, "130 of 131 controls are included without a reason") || !strings.Contains(p, "the risk it treats or the requirement it meets") {
		t.Errorf("the gap paragraph says %q", p)
	}
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('table.soa tbody tr.incomplete .missing').length`)); err != nil || n != 130 {
		t.Errorf("%d rows marked missing, want 130 (%v)", n, err)
	}
	if row := text(t, ctx, "table.soa tbody"); strings.Contains(row, "iso27001-2022/7.4") || !strings.Contains(row, "give a reason for including iso27001-2022/5.1") {
		t.Errorf("justified=no lists:\n%.400s", row)
	}
	screenshot(t, ctx, shots, "soa-unjustified")
	step(t, ctx, "give 5.1 a reason",
		chromedp.Click(chromedp.CSS(`tr[id="soa-iso27001-2022/5.1"] a`)),
		chromedp.WaitVisible(chromedp.CSS("#soa-todo")),
		chromedp.SendKeys(chromedp.CSS("#justification"), "Requirement: our customers' contracts ask for a written security policy."),
		chromedp.Submit(chromedp.CSS("#justification")),
		chromedp.WaitVisible(chromedp.CSS("blockquote.justification")),
	)
	if j := text(t, ctx, "#soa"); !strings.Contains(j, "applicable recorded by lea") || strings.Contains(j, "Incomplete") {
		t.Errorf("after the reason, the SoA section says:\n%s", j)
	}
	step(t, ctx, "the gap shrinks", chromedp.Navigate(c.url+"/soa?justified=no"), chromedp.WaitVisible(chromedp.CSS("#soa-incomplete")))
	if p := text(t, ctx, "#soa-incomplete"); !strings.Contains(p, "129 of 131 controls") {
		t.Errorf("after the reason, the gap paragraph says %q", p)
	}

	// The admin may revoke the idle host from its page.
	step(t, ctx, "revoke gpu-02 as admin",
		chromedp.Navigate(c.url+"/hosts/"+c.idle),
		chromedp.Click(chromedp.CSS("a.danger")),
		chromedp.WaitVisible(chromedp.CSS("button.danger")),
		chromedp.Click(chromedp.CSS("button.danger")),
		chromedp.WaitVisible(chromedp.CSS(".badge.na")),
	)
	if h := text(t, ctx, "dl.facts"); !strings.Contains(h, "revoked") {
		t.Errorf("after revoke the host page says:\n%s", h)
	}

	// The auditor reads everything and may change nothing: no form is
	// offered, and a forged one with the auditor's own token is refused.
	step(t, ctx, "log out", chromedp.Click(chromedp.CSS(".who button")), chromedp.WaitVisible(chromedp.CSS("#user")))
	login(t, ctx, c.url, "otto", auditorPassword)
	step(t, ctx, "open gpu-01 as auditor", chromedp.Navigate(c.url+"/hosts/"+c.gpu01), chromedp.WaitVisible(chromedp.CSS("dl.facts")))
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('form[action$="/revoke"], form[action="/evaluate"]').length`)); err != nil || n != 0 {
		t.Errorf("the auditor is offered %d change forms (%v)", n, err)
	}
	step(t, ctx, "post a revoke as auditor",
		chromedp.Evaluate[chromedp.Void](`(() => {
			const f = document.createElement('form');
			f.method = 'post';
			f.action = '/hosts/`+c.gpu01+`/revoke';
			const i = document.createElement('input');
			i.name = 'csrf';
			i.value = document.querySelector('input[name=csrf]').value;
			f.appendChild(i);
			document.body.appendChild(f);
			f.submit();
		})()`),
		chromedp.WaitVisible(chromedp.CSS("section.error")),
	)
	if msg := text(t, ctx, "section.error"); !strings.Contains(msg, "403") || !strings.Contains(msg, "may not do this") {
		t.Errorf("auditor's revoke answered:\n%s", msg)
	}
	screenshot(t, ctx, shots, "auditor-refused")
	step(t, ctx, "the auditor reads the exclusion", chromedp.Navigate(c.url+"/controls/iso27001-2022/7.4"), chromedp.WaitVisible(chromedp.CSS("blockquote.justification")))
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('form[action^="/soa"], #justification').length`)); err != nil || n != 0 {
		t.Errorf("the auditor is offered the applicability form (%d elements, %v)", n, err)
	}
	a, err := c.db.Agent(context.Background(), c.gpu01)
	must(t, err)
	if a.Revoked() {
		t.Fatal("the auditor revoked gpu-01")
	}
}
