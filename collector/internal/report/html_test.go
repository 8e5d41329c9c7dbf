package report

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestHTML(t *testing.T) {
	r := realFleet(t)
	out := string(writeFormat(t, "html", r))
	if dir := os.Getenv("ANNEXA_ARTIFACTS"); dir != "" {
		// Kept for a look in a browser or a print preview.
		_ = os.WriteFile(filepath.Join(dir, "report.html"), []byte(out), 0o644)
	}

	// The dataset named <script>alert('x') is text, not markup, and the
	// page has no script and loads nothing from anywhere.
	if !strings.Contains(out, "dataset:/fleet/srv/ml/datasets/&lt;script&gt;alert(&#39;x&#39;)") {
		t.Error("the <script> dataset is not shown escaped")
	}
	if i := strings.Index(strings.ToLower(out), "<script"); i >= 0 {
		t.Errorf("the page contains a script element: %q", out[i:min(len(out), i+80)])
	}
	for _, re := range []string{`(?i)\bsrc\s*=`, `(?i)href\s*=\s*"?(https?:)?//`, `(?i)url\(`, `(?i)@import`, `(?i)<link\b`, `(?i)\bon[a-z]+\s*=`} {
		if m := regexp.MustCompile(re).FindString(out); m != "" {
			t.Errorf("the page is not self-contained or runs code: %q", m)
		}
	}
	if !strings.Contains(out, `content="default-src 'none'; style-src 'unsafe-inline'"`) {
		t.Error("the page lacks its Content-Security-Policy")
	}

	// What a reader needs: the date, the per-framework counts with their
	// symbols, the failing control with the failing subject and what was
	// observed, and the hosts with their plugins' health.
	for _, want := range []string{
		"As of <b><time datetime=\"" + r.GeneratedAt.UTC().Format("2006-01-02T15:04:05Z") + "\">",
		"ISO/IEC 27001:2022",
		"✖ noncompliant</span> <span class=\"mono\">iso27001-2022/8.3</span>",
		"? insufficient evidence",
		"models: <b>✖ crashed</b>",
		"critical pickle.global.posix.system",
		"<td class=\"mono\">encryption.endpoint</td>",
		// Lineage: which models were trained on personal data.
		"4 models name the datasets they were trained on (matched as docs/report.md describes); 1 name none. For 2 of them it is not known",
		`<tr><td class="mono">model:/fleet/srv/ml/models/churn/model.safetensors</td><td>gpu1</td>` + "\n" +
			`<td><span class="mono">dataset:/fleet/srv/ml/datasets/customers</span> on gpu1: email, person_name, phone<br></td><td>confidential</td></tr>`,
		`<tr><td class="mono">model:/srv/ml/models/triage.onnx</td><td>gpu2</td>`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if !regexp.MustCompile(`<li><span class="mono">dataset:/fleet/srv/ml/datasets/customers</span> on gpu1 · [^<]*<span class="mono">0755</span> · world_readable = <span class="mono">true</span></li>`).MatchString(out) {
		t.Error("the page does not show the customers dataset failing with what was observed")
	}
	f := r.Frameworks[0]
	counts := regexp.MustCompile(`✖ noncompliant</span></td><td class="num">(\d+)</td>`).FindStringSubmatch(out)
	if counts == nil || counts[1] != itoa(uint64(f.Noncompliant)) {
		t.Errorf("framework %s noncompliant count on the page = %v, want %d", f.ID, counts, f.Noncompliant)
	}
	// Every control is listed once in the full table.
	if n := strings.Count(out, "<tr><td class=\"mono\">iso"); n != len(r.Controls) {
		t.Errorf("%d control rows, want %d", n, len(r.Controls))
	}
}

// On a large fleet the page stays e-mailable: it names the first failing
// subjects of each check and the failing assets, and says how many more
// there are.
func TestHTMLLargeFleet(t *testing.T) {
	r := Build(largeFleet(60), now, Options{})
	out := string(writeFormat(t, "html", r))
	if n := len(r.Assets); n != 1200 {
		t.Fatalf("%d assets", n)
	}
	if !strings.Contains(out, "<h2>Datasets and models (1200)</h2>") || !strings.Contains(out, "more are in the\nJSON report") {
		t.Error("the page does not say that assets were left out")
	}
	if rows := strings.Count(out, "<tr><td>dataset<br>") + strings.Count(out, "<tr><td>model<br>"); rows != maxHTMLAssets {
		t.Errorf("%d asset rows", rows)
	}
	for _, c := range r.Controls {
		for _, ch := range c.Checks {
			if len(ch.Failing) > maxHTMLFailing && ch.Status == "noncompliant" {
				want := "and " + itoa(uint64(len(ch.Failing)-maxHTMLFailing)) + " more: every failing subject"
				if !strings.Contains(out, want) {
					t.Errorf("check %s fails on %d subjects; the page lacks %q", ch.ID, len(ch.Failing), want)
				}
			}
		}
	}
	if len(out) > 2<<20 {
		t.Errorf("the page is %d bytes for 60 hosts", len(out))
	}
	// Assets that fail nothing still fill the table.
	for i := range r.Controls {
		for j := range r.Controls[i].Checks {
			r.Controls[i].Checks[j].Failing = nil
		}
	}
	out = string(writeFormat(t, "html", r))
	if rows := strings.Count(out, "<tr><td>dataset<br>") + strings.Count(out, "<tr><td>model<br>"); rows != maxHTMLAssets {
		t.Errorf("with nothing failing, %d asset rows", rows)
	}
}
