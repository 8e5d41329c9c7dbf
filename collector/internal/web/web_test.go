package web

import (
	"context"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/annexa/annexa/collector/internal/report"
	"github.com/annexa/annexa/collector/internal/store"
	"golang.org/x/crypto/bcrypt"
)

func TestPagesNeedLogin(t *testing.T) {
	c := startCollector(t, collectorOpts{})
	cl := c.client()
	for _, p := range []string{"/", "/controls", "/controls/iso27001-2022/8.24", "/hosts", "/assets", "/exports", "/export/json", "/soa"} {
		resp, _ := cl.get(p)
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login?next=") {
			t.Errorf("GET %s without login: %d to %q, want 303 to the login page", p, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	for _, a := range c.ui.Actions() {
		path := strings.Replace(strings.TrimPrefix(a.Pattern, "POST "), "{agent}", "x", 1)
		if resp, _ := cl.post(path, url.Values{}); resp.StatusCode != http.StatusForbidden {
			t.Errorf("POST %s without login: %d, want 403", path, resp.StatusCode)
		}
	}
}

func TestLoginSessionCookieAndLogout(t *testing.T) {
	c := startCollector(t, collectorOpts{})
	cl := c.client()
	resp, body := cl.tryLogin("lea", "wrong password!", "/")
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "user name or password is wrong") {
		t.Fatalf("wrong password: %d\n%s", resp.StatusCode, body)
	}
	resp, body = cl.tryLogin("nobody", adminPassword, "/")
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "user name or password is wrong") {
		t.Fatalf("unknown user: %d (the answer must not differ from a wrong password)", resp.StatusCode)
	}
	resp, _ = cl.tryLogin("lea", adminPassword, "/controls?status=noncompliant")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/controls?status=noncompliant" {
		t.Fatalf("login: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	var sess *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == sessionCookie && ck.Value != "" {
			sess = ck
		}
	}
	if sess == nil || !sess.HttpOnly || sess.SameSite != http.SameSiteStrictMode || sess.Secure || sess.Path != "/" {
		t.Fatalf("session cookie on plain HTTP: %+v; want HttpOnly, SameSite=Strict, not Secure", sess)
	}
	// Only a hash of the token is stored.
	if _, err := c.db.Session(context.Background(), sess.Value, time.Now()); err == nil {
		t.Error("the session token itself finds a session: it is stored in clear")
	}
	if resp, body := cl.get("/"); resp.StatusCode != 200 || !strings.Contains(body, "lea") {
		t.Fatalf("overview after login: %d", resp.StatusCode)
	}
	tok := cl.formToken("/")
	if resp, _ := cl.post("/logout", url.Values{"csrf": {tok}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	if _, err := c.db.Session(context.Background(), hashToken(sess.Value), time.Now()); err == nil {
		t.Error("the session survived logout")
	}
	// The old cookie, replayed, no longer works.
	req, _ := http.NewRequest("GET", c.url+"/", nil)
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: sess.Value})
	r2, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	must(t, err)
	r2.Body.Close()
	if r2.StatusCode != http.StatusSeeOther {
		t.Errorf("replayed cookie after logout: %d, want a redirect to login", r2.StatusCode)
	}
}

func TestSecureCookiesBehindTLSProxy(t *testing.T) {
	c := startCollector(t, collectorOpts{web: Options{SecureCookies: true}})
	cl := c.client()
	// The jar would not send Secure cookies over http, so read the answer.
	_, body := cl.get("/login")
	m := csrfRE.FindStringSubmatch(body)
	req, _ := http.NewRequest("POST", c.url+"/login", strings.NewReader(url.Values{"csrf": {m[1]}, "user": {"lea"}, "password": {adminPassword}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: secureLoginCookie, Value: m[1]})
	resp, err := cl.http.Do(req)
	must(t, err)
	resp.Body.Close()
	var sess *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == secureSessionCookie && ck.Value != "" {
			sess = ck
		}
	}
	if resp.StatusCode != http.StatusSeeOther || sess == nil || !sess.Secure || !sess.HttpOnly || sess.SameSite != http.SameSiteStrictMode {
		t.Fatalf("login behind TLS: %d, cookie %+v; want a Secure __Host- cookie", resp.StatusCode, sess)
	}
}

func TestSecurityHeaders(t *testing.T) {
	c := startCollector(t, collectorOpts{})
	cl := c.client()
	cl.login("otto", auditorPassword)
	for _, p := range []string{"/login", "/", "/controls", "/nope", "/static/style.css"} {
		resp, _ := cl.get(p)
		h := resp.Header
		csp := h.Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: CSP %q must allow no script and no inline style, and forbid framing", p, csp)
		}
		if h.Get("X-Frame-Options") != "DENY" || h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "same-origin" {
			t.Errorf("%s: headers %v", p, h)
		}
	}
}

func TestLoginIsRateLimitedPerUserAndAddress(t *testing.T) {
	c := startCollector(t, collectorOpts{web: Options{LoginBurst: 3, LoginRate: time.Hour}})
	cl := c.client()
	for i := range 3 {
		if resp, _ := cl.tryLogin("lea", "not the password", "/"); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d, want 401", i+1, resp.StatusCode)
		}
	}
	// The right password is refused too until the wait is over.
	resp, body := cl.tryLogin("lea", adminPassword, "/")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "Too many login attempts") {
		t.Fatalf("fourth attempt: %d Retry-After=%q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// Another user from the same address is not locked out by lea's attempts.
	cl.login("otto", auditorPassword)
}

func TestFormsNeedTheSessionsCSRFToken(t *testing.T) {
	c := startCollector(t, collectorOpts{})
	c.loadFleet()
	cl := c.client()
	cl.login("lea", adminPassword)
	path := "/hosts/" + c.gpu01 + "/revoke"
	for name, form := range map[string]url.Values{"none": {}, "wrong": {"csrf": {"forged"}}} {
		if resp, body := cl.post(path, form); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "security token") {
			t.Errorf("revoke with %s token: %d", name, resp.StatusCode)
		}
	}
	// A form posted from another site is refused before the token is read.
	tok := cl.formToken("/hosts/" + c.gpu01)
	req, _ := http.NewRequest("POST", c.url+path, strings.NewReader(url.Values{"csrf": {tok}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := cl.http.Do(req)
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site revoke: %d, want 403", resp.StatusCode)
	}
	// The login form has its own token, bound to a cookie.
	if resp, _ := cl.post("/login", url.Values{"user": {"lea"}, "password": {adminPassword}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("login without token: %d, want 403", resp.StatusCode)
	}
	a, err := c.db.Agent(context.Background(), c.gpu01)
	must(t, err)
	if a.Revoked() {
		t.Fatal("a refused form revoked the agent")
	}
}

// TestAuditorCannotChangeAnything posts every state-changing route the
// server has, with the auditor's own valid CSRF token and a form that
// would work for an admin, and checks both the refusal and that nothing
// changed; then the admin sends the same and it works, so the refusal is
// the role's doing.
func TestAuditorCannotChangeAnything(t *testing.T) {
	ctx := context.Background()
	c := startCollector(t, collectorOpts{})
	c.loadFleet()
	exc, err := c.db.AddException(ctx, store.NewException{CheckID: "datasets.licensed", SubjectPattern: "dataset:/srv/ml/datasets/images",
		Owner: "lea", Approver: "ciso", Reason: "public images", ExpiresAt: time.Now().Add(24 * time.Hour), CreatedBy: "lea"})
	must(t, err)
	att, err := c.db.AddAttestation(ctx, store.NewAttestation{ControlID: "iso27001-2022/5.1", DocumentRef: "POL-1", Author: "lea",
		ExpiresAt: time.Now().Add(24 * time.Hour), CreatedBy: "lea"})
	must(t, err)
	expires := time.Now().Add(30 * 24 * time.Hour).UTC().Format(dateLayout)
	// Every action, with an admin's valid form. A new action must be added
	// here, or the test fails.
	forms := map[string]struct {
		path string
		form url.Values
	}{
		"POST /hosts/{agent}/revoke": {"/hosts/" + c.gpu01 + "/revoke", url.Values{}},
		"POST /evaluate":             {"/evaluate", url.Values{"next": {"/"}}},
		"POST /exceptions": {"/exceptions", url.Values{"check_id": {"datasets.not_world_readable"}, "subject_pattern": {"dataset:/srv/ml/datasets/customers"},
			"owner": {"lea"}, "approver": {"ciso"}, "reason": {"migrating"}, "expires_at": {expires}}},
		"POST /exceptions/{id}/revoke":   {"/exceptions/" + exc.ID + "/revoke", url.Values{}},
		"POST /attestations":             {"/attestations", url.Values{"control_id": {"iso27001-2022/5.2"}, "document_ref": {"ROLES-1"}, "author": {"lea"}, "expires_at": {expires}}},
		"POST /attestations/{id}/revoke": {"/attestations/" + att.ID + "/revoke", url.Values{}},
		"POST /soa":                      {"/soa", url.Values{"control_id": {"iso27001-2022/7.4"}, "applicable": {"false"}, "justification": {"no premises of our own"}}},
		"POST /soa/import":               {"/soa/import", soaImportAction(t)}, // soaimport_test.go
	}
	for _, a := range c.ui.Actions() {
		if _, ok := forms[a.Pattern]; !ok {
			t.Fatalf("action %s is not in this test's table", a.Pattern)
		}
	}
	type state struct {
		revoked            bool
		exceptions, attest int
		excRevoked         bool
		attRevoked         bool
		soa                int
	}
	read := func() state {
		ag, err := c.db.Agent(ctx, c.gpu01)
		must(t, err)
		es, err := c.db.Exceptions(ctx)
		must(t, err)
		as, err := c.db.Attestations(ctx)
		must(t, err)
		soa, err := c.db.SoA(ctx)
		must(t, err)
		st := state{revoked: ag.Revoked(), exceptions: len(es), attest: len(as), soa: len(soa)}
		for _, e := range es {
			st.excRevoked = st.excRevoked || (e.ID == exc.ID && !e.RevokedAt.IsZero())
		}
		for _, a := range as {
			st.attRevoked = st.attRevoked || (a.ID == att.ID && !a.RevokedAt.IsZero())
		}
		return st
	}
	before := read()

	aud := c.client()
	aud.login("otto", auditorPassword)
	tok := aud.formToken("/")
	for _, p := range []string{"/hosts/" + c.gpu01, "/hosts/" + c.gpu01 + "/revoke", "/exceptions", "/attestations", "/controls/iso42001-2023/A.10.3",
		"/controls/iso27001-2022/7.4", "/soa"} {
		if _, body := aud.get(p); strings.Contains(body, `method="post" action="/hosts`) || strings.Contains(body, `action="/exceptions`) ||
			strings.Contains(body, `action="/attestations`) || strings.Contains(body, "Record an exception") || strings.Contains(body, `method="post" action="/soa`) {
			t.Errorf("%s offers an auditor a form that changes something", p)
		}
	}
	for _, a := range c.ui.Actions() {
		f := forms[a.Pattern]
		form := url.Values{"csrf": {tok}}
		for k, v := range f.form {
			form[k] = v
		}
		resp, body := aud.post(f.path, form)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "may not do this") {
			t.Errorf("auditor POST %s: %d, want 403", f.path, resp.StatusCode)
		}
	}
	if after := read(); after != before {
		t.Fatalf("the auditor's refused requests changed the store: %+v -> %+v", before, after)
	}

	adm := c.client()
	adm.login("lea", adminPassword)
	atok := adm.formToken("/")
	for _, a := range c.ui.Actions() {
		f := forms[a.Pattern]
		form := url.Values{"csrf": {atok}}
		for k, v := range f.form {
			form[k] = v
		}
		if resp, body := adm.post(f.path, form); resp.StatusCode != http.StatusSeeOther {
			t.Errorf("admin POST %s: %d\n%s", f.path, resp.StatusCode, body)
		}
	}
	after := read()
	want := state{revoked: true, exceptions: before.exceptions + 1, attest: before.attest + 1, excRevoked: true, attRevoked: true, soa: before.soa + 2}
	if after != want {
		t.Errorf("after the admin's requests: %+v, want %+v", after, want)
	}
}

func TestLoginRedirectStaysOnSite(t *testing.T) {
	c := startCollector(t, collectorOpts{})
	cl := c.client()
	for _, next := range []string{"//evil.example/", "https://evil.example/", "/\\evil.example"} {
		resp, _ := cl.tryLogin("otto", auditorPassword, next)
		if loc := resp.Header.Get("Location"); loc != "/" {
			t.Errorf("next=%q: redirected to %q, want /", next, loc)
		}
	}
}

func TestPagesShowTheFleet(t *testing.T) {
	c := startCollector(t, collectorOpts{})
	c.loadFleet()
	cl := c.client()
	cl.login("otto", auditorPassword)

	_, body := cl.get("/")
	contains(t, "overview", body, "ISO/IEC 27001", "ISO/IEC 42001", "Top failing checks", "gpu-02", "Evaluated",
		"models.no_critical_findings", `<svg class="trend"`, `<svg class="bar"`)
	if strings.Contains(body, "gpu-01</a></td>") {
		t.Error("gpu-01 reports, yet the overview lists it as not reporting")
	}
	// Training data of the models: the churn model on personal data, the
	// chat model's hub datasets unseen, the iris models clean, the
	// downloaded checkpoint naming nothing.
	for _, want := range []string{
		`trained on personal data</span></a></td><td class="num"><strong>1</strong>`,
		`personal data not known</span></a></td><td class="num"><strong>1</strong>`,
		`no personal data found</span></a></td><td class="num"><strong>2</strong>`,
		`names no dataset</span></a></td><td class="num"><strong>1</strong>`,
		`href="/assets?trained=personal"`,
	} {
		contains(t, "overview training data", body, want)
	}

	_, body = cl.get("/controls?status=noncompliant")
	contains(t, "noncompliant control list", body, "iso42001-2023/A.10.3", "Noncompliant")
	if strings.Contains(body, "✓ Compliant</span></td>") {
		t.Error("the noncompliant filter lists a compliant control")
	}
	_, body = cl.get("/controls?q=suppliers")
	contains(t, "search", body, "Suppliers", "1 of")

	_, body = cl.get("/controls/iso42001-2023/A.10.3")
	contains(t, "control A.10.3", body, "model:/srv/ml/models/downloads/checkpoint.pt", "models.no_critical_findings", "gpu-01", "Status history", "Noncompliant")

	_, body = cl.get(assetURL(c.gpu01, "model", "model:/srv/ml/models/downloads/checkpoint.pt"))
	contains(t, "unsafe model", body, "pickle.global", "critical", "Change timeline", "models")

	_, body = cl.get(assetURL(c.gpu01, "dataset", "dataset:/srv/ml/datasets/customers"))
	contains(t, "customers dataset", body, "file_count, size_bytes", "4096", "world_readable")

	// Lineage, from the demo host's model cards: the churn model was
	// trained on the customers dataset, which holds personal data; the
	// chat model's GGUF names hub datasets no host holds.
	irisURL := assetURL(c.gpu01, "dataset", "dataset:/srv/ml/datasets/iris")
	custURL := assetURL(c.gpu01, "dataset", "dataset:/srv/ml/datasets/customers")
	_, body = cl.get(assetURL(c.gpu01, "model", "model:/srv/ml/models/classifier/iris-net.safetensors"))
	contains(t, "model lineage", body, "Lineage: trained on", `<a href="`+template.HTMLEscapeString(irisURL)+`">dataset:/srv/ml/datasets/iris</a>`,
		`Trained on personal data: <span class="badge ok">none found</span>`)
	_, body = cl.get(assetURL(c.gpu01, "model", "model:/srv/ml/models/churn/model.safetensors"))
	contains(t, "personal-data lineage", body, `<a href="`+template.HTMLEscapeString(custURL)+`">dataset:/srv/ml/datasets/customers</a>`,
		`Trained on personal data: <span class="badge fail">yes</span>`, `<span class="badge fail">personal data: email</span>`, "confidential")
	_, body = cl.get(assetURL(c.gpu01, "model", "model:/srv/ml/models/classifier/chat.gguf"))
	contains(t, "unmatched lineage", body, "<q>tatsu-lab/alpaca</q>", "no dataset of the fleet has this name",
		`Trained on personal data: <span class="badge insufficient">not known</span>`)
	_, body = cl.get(assetURL(c.gpu01, "model", "model:/srv/ml/models/downloads/checkpoint.pt"))
	contains(t, "no lineage", body, "names no dataset it was trained on")
	_, body = cl.get(irisURL)
	contains(t, "dataset lineage", body, "Lineage: models trained on it", "model:/srv/ml/models/classifier/iris-net.safetensors",
		"model:/srv/ml/models/classifier/model.safetensors")
	_, body = cl.get(custURL)
	contains(t, "customers lineage", body, "model:/srv/ml/models/churn/model.safetensors")

	// The assets page answers "which models were trained on personal
	// data" with a filter, and says it of every model in a column.
	_, body = cl.get("/assets?trained=personal")
	contains(t, "models trained on personal data", body, "churn/model.safetensors", `<span class="badge fail">personal data</span>`, "1 of ")
	for _, other := range []string{"iris-net.safetensors", "chat.gguf", "checkpoint.pt", "dataset:/srv/ml/datasets/customers"} {
		if strings.Contains(body, other) {
			t.Errorf("trained=personal lists %s", other)
		}
	}
	_, body = cl.get("/assets?trained=undocumented")
	contains(t, "models naming no dataset", body, "checkpoint.pt", "names no dataset")
	if strings.Contains(body, "churn/model.safetensors") {
		t.Error("trained=undocumented lists the churn model")
	}
	_, body = cl.get("/assets?trained=unknown")
	contains(t, "models with unknown training data", body, "chat.gguf")
	_, body = cl.get("/assets?kind=dataset&q=customers")
	contains(t, "dataset used by a model", body, "1 model trained on it")
	if resp, body := cl.get("/assets?trained=maybe"); resp.StatusCode != 400 || !strings.Contains(body, "use personal, unknown, none or undocumented") {
		t.Errorf("bad trained filter = %d", resp.StatusCode)
	}

	_, body = cl.get("/hosts/" + c.gpu01)
	contains(t, "host page", body, "gpu-01", "datasets", "models", "encryption", "access", "reporting", "checkpoint.pt")
	_, body = cl.get("/hosts/" + c.idle)
	contains(t, "idle host page", body, "not reporting", "never")

	_, body = cl.get("/exports")
	for _, f := range report.Formats() {
		contains(t, "exports", body, `href="/export/`+f+`"`)
	}
	resp, body := cl.get("/export/json")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment;") || !strings.Contains(body, `"controls"`) {
		t.Errorf("json export: %d %q", resp.StatusCode, resp.Header.Get("Content-Disposition"))
	}
	if resp, _ := cl.get("/controls/iso27001-2022/99.99"); resp.StatusCode != 404 {
		t.Errorf("unknown control: %d", resp.StatusCode)
	}
}

func TestEverythingRenderedIsEscaped(t *testing.T) {
	c := startCollector(t, collectorOpts{})
	c.loadFleet()
	cl := c.client()
	cl.login("otto", auditorPassword)
	subject := "dataset:/srv/ml/datasets/" + hostileName
	for _, p := range []string{"/assets?q=script", assetURL(c.gpu01, "dataset", subject), "/hosts/" + c.gpu01} {
		_, body := cl.get(p)
		if strings.Contains(body, "<script") {
			t.Errorf("%s contains a live <script> tag", p)
		}
		if !strings.Contains(body, "&lt;script&gt;") {
			t.Errorf("%s does not show the dataset's name as text", p)
		}
	}
	// The login page echoes the user name back.
	_, body := cl.tryLogin(`"><script>x</script>`, "whatever password", "/")
	if strings.Contains(body, "<script>x") {
		t.Error("the login page echoes the user name unescaped")
	}
}

func TestHashPassword(t *testing.T) {
	if _, err := HashPassword("short"); err == nil || !strings.Contains(err.Error(), "at least 12") {
		t.Errorf("short password: %v", err)
	}
	if _, err := HashPassword(strings.Repeat("x", 73)); err == nil || !strings.Contains(err.Error(), "at most 72") {
		t.Errorf("long password: %v", err)
	}
	// bcryptCost is slow on purpose; the test hashes at the lowest cost.
	h, err := hashPassword(adminPassword, bcrypt.MinCost)
	must(t, err)
	if bcrypt.CompareHashAndPassword([]byte(h), []byte(adminPassword)) != nil || bcrypt.CompareHashAndPassword([]byte(h), []byte(auditorPassword)) == nil {
		t.Errorf("hash %q does not verify the password alone", h)
	}
	if cost, err := bcrypt.Cost(dummyHash); err != nil || cost != bcryptCost {
		t.Errorf("dummyHash cost %d (%v): an unknown user must cost as much as a known one", cost, err)
	}
}

func TestExceptionFromTheUIIsApplied(t *testing.T) {
	c := startCollector(t, collectorOpts{})
	c.loadFleet()
	adm := c.client()
	adm.login("lea", adminPassword)
	_, body := adm.get("/controls/iso27001-2022/8.3")
	contains(t, "control 8.3 before", body, "dataset:/srv/ml/datasets/customers", "Noncompliant", `href="/exceptions?check=datasets.not_world_readable#add"`)
	_, body = adm.get("/exceptions?check=datasets.not_world_readable#add")
	contains(t, "exception form", body, `<option value="datasets.not_world_readable" selected>`)
	tok := csrfRE.FindStringSubmatch(body)[1]

	// Refused: too long a term; the form comes back with what was typed.
	form := url.Values{"csrf": {tok}, "check_id": {"datasets.not_world_readable"}, "subject_pattern": {"dataset:/srv/ml/datasets/customers"},
		"owner": {"lea"}, "approver": {"ciso"}, "reason": {"moving to a private bucket <b>this week</b>"},
		"expires_at": {time.Now().AddDate(2, 0, 0).Format(dateLayout)}}
	resp, body := adm.post("/exceptions", form)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "12 months") || !strings.Contains(body, `id="expires_at" name="expires_at" type="date" required value="`+form.Get("expires_at")+`" aria-invalid="true"`) {
		t.Fatalf("two-year exception: %d\n%s", resp.StatusCode, body)
	}
	form.Set("check_id", "no.such.check")
	form.Set("expires_at", time.Now().AddDate(0, 1, 0).Format(dateLayout))
	if resp, body := adm.post("/exceptions", form); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "is not loaded") {
		t.Fatalf("unknown check: %d", resp.StatusCode)
	}
	form.Set("check_id", "datasets.not_world_readable")
	if resp, body := adm.post("/exceptions", form); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("exception: %d\n%s", resp.StatusCode, body)
	}
	_, body = adm.get("/exceptions")
	contains(t, "exceptions list", body, "active", "dataset:/srv/ml/datasets/customers", "moving to a private bucket &lt;b&gt;this week&lt;/b&gt;", "recorded by lea")
	_, body = adm.get("/controls/iso27001-2022/8.3")
	contains(t, "control 8.3 after", body, "Excepted subject (accepted risk)", "approved by ciso")
	if strings.Contains(body, `<tr class="row-fail">`) {
		t.Error("the excepted subject is still listed as failing")
	}

	// Revoked, the failure is back.
	es, err := c.db.Exceptions(context.Background())
	must(t, err)
	tok = adm.formToken("/exceptions")
	if resp, _ := adm.post("/exceptions/"+es[0].ID+"/revoke", url.Values{"csrf": {tok}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	if resp, body := adm.post("/exceptions/"+es[0].ID+"/revoke", url.Values{"csrf": {tok}}); resp.StatusCode != http.StatusConflict {
		t.Errorf("second revoke: %d\n%s", resp.StatusCode, body)
	}
	_, body = adm.get("/controls/iso27001-2022/8.3")
	contains(t, "control 8.3 after revoke", body, `<tr class="row-fail">`)
}

func TestAttestationFromTheUI(t *testing.T) {
	c := startCollector(t, collectorOpts{})
	c.loadFleet()
	adm := c.client()
	adm.login("lea", adminPassword)
	_, body := adm.get("/controls/iso27001-2022/5.1")
	contains(t, "manual control", body, "Manual", `href="/attestations?control=iso27001-2022%2F5.1#add"`)
	tok := adm.formToken("/attestations?control=iso27001-2022/5.1")
	form := url.Values{"csrf": {tok}, "control_id": {"iso27001-2022/8.3"}, "document_ref": {"POL-1 v3"}, "author": {"lea"},
		"expires_at": {time.Now().AddDate(0, 6, 0).Format(dateLayout)}}
	if resp, body := adm.post("/attestations", form); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "has automated checks") {
		t.Fatalf("attesting an automated control: %d", resp.StatusCode)
	}
	form.Set("control_id", "iso27001-2022/5.1")
	if resp, body := adm.post("/attestations", form); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("attestation: %d\n%s", resp.StatusCode, body)
	}
	_, body = adm.get("/controls/iso27001-2022/5.1")
	contains(t, "attested control", body, "Attested", "POL-1 v3", "Compliant")
}
