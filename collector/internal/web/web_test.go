package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/annexa/annexa/collector/internal/report"
	"golang.org/x/crypto/bcrypt"
)

func TestPagesNeedLogin(t *testing.T) {
	c := startCollector(t, collectorOpts{})
	cl := c.client()
	for _, p := range []string{"/", "/controls", "/controls/iso27001-2022/8.24", "/hosts", "/assets", "/exports", "/export/json"} {
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
// server has, with the auditor's own valid CSRF token, and checks both the
// refusal and that nothing changed; then the admin does the same and it
// works, so the refusal is the role's doing.
func TestAuditorCannotChangeAnything(t *testing.T) {
	c := startCollector(t, collectorOpts{})
	c.loadFleet()
	if len(c.ui.Actions()) == 0 {
		t.Fatal("no actions registered")
	}
	before, err := c.db.Snapshot(context.Background())
	must(t, err)
	aud := c.client()
	aud.login("otto", auditorPassword)
	tok := aud.formToken("/")
	if _, body := aud.get("/hosts/" + c.gpu01); strings.Contains(body, "/revoke") {
		t.Error("the host page offers an auditor the revoke form")
	}
	for _, a := range c.ui.Actions() {
		path := strings.Replace(strings.TrimPrefix(a.Pattern, "POST "), "{agent}", c.gpu01, 1)
		resp, body := aud.post(path, url.Values{"csrf": {tok}, "next": {"/"}})
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "may not do this") {
			t.Errorf("auditor POST %s: %d, want 403", path, resp.StatusCode)
		}
	}
	after, err := c.db.Snapshot(context.Background())
	must(t, err)
	for i := range before.Agents {
		if before.Agents[i].Revoked() != after.Agents[i].Revoked() {
			t.Errorf("agent %s changed after the auditor's refused requests", before.Agents[i].ID)
		}
	}
	adm := c.client()
	adm.login("lea", adminPassword)
	atok := adm.formToken("/")
	for _, a := range c.ui.Actions() {
		path := strings.Replace(strings.TrimPrefix(a.Pattern, "POST "), "{agent}", c.gpu01, 1)
		if resp, body := adm.post(path, url.Values{"csrf": {atok}, "next": {"/"}}); resp.StatusCode != http.StatusSeeOther {
			t.Errorf("admin POST %s: %d\n%s", path, resp.StatusCode, body)
		}
	}
	ag, err := c.db.Agent(context.Background(), c.gpu01)
	must(t, err)
	if !ag.Revoked() {
		t.Error("the admin's revoke did not revoke")
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

	_, body = cl.get(assetURL(c.gpu01, "model", "model:/srv/ml/models/classifier/iris-net.safetensors"))
	contains(t, "model lineage", body, "Trained on", "dataset:/srv/ml/datasets/iris")
	_, body = cl.get(assetURL(c.gpu01, "dataset", "dataset:/srv/ml/datasets/iris"))
	contains(t, "dataset lineage", body, "Used by models", "iris-net.safetensors")

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
