package web

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/annexa/annexa/collector/internal/api"
	"github.com/annexa/annexa/collector/internal/auth"
	"github.com/annexa/annexa/collector/internal/report"
	"github.com/annexa/annexa/collector/internal/store"
	"github.com/annexa/annexa/collector/internal/store/sqlite"
	ingestv1 "github.com/annexa/annexa/proto/ingest/v1"
)

// Passwords of the test users; bcrypt makes each login take a while, so
// the tests log in only as often as they need.
const (
	adminPassword   = "correct horse battery staple"
	auditorPassword = "auditor reads everything"
)

// collector is a real collector on loopback: SQLite store, the API and
// the web UI on one listener, as `annexa-collector serve` wires them.
type collector struct {
	t     *testing.T
	db    *sqlite.DB
	ui    *Server
	url   string
	gpu01 string // agent id of the host with the demo's evidence
	idle  string // agent id of a host that enrolled and never reported
}

type collectorOpts struct {
	web Options
	// wrap, when set, is given the store and returns what the UI uses.
	wrap func(store.Store) store.Store
	// kept makes the UI read a kept evaluation, as in serve.
	kept bool
}

func startCollector(t *testing.T, o collectorOpts) *collector {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "collector.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.kept {
		// serve's clock step (collector/cmd/annexa-collector/evaluate.go).
		o.web.Kept = report.NewKept(db, report.Options{Freshness: o.web.Freshness, Engine: o.web.Engine}, 10*time.Second)
	}
	var st store.Store = db
	if o.wrap != nil {
		st = o.wrap(db)
	}
	ui, err := New(st, nil, o.web)
	if err != nil {
		t.Fatal(err)
	}
	// The test users' hashes are cheap (below); so is the unknown user's.
	cheap, _ := bcrypt.GenerateFromPassword([]byte("no such user"), bcrypt.MinCost)
	ui.dummyHash = cheap
	mux := http.NewServeMux()
	mux.Handle("/v1/", api.New(db, nil, api.Options{}).Handler())
	mux.Handle("/", ui.Handler())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close(); db.Close() })
	c := &collector{t: t, db: db, ui: ui, url: "http://" + ln.Addr().String()}
	for _, u := range []struct {
		name, pw string
		role     store.Role
	}{{"lea", adminPassword, store.RoleAdmin}, {"otto", auditorPassword, store.RoleAuditor}} {
		// The lowest bcrypt cost keeps logins quick; HashPassword's cost
		// is tested on its own.
		h, err := bcrypt.GenerateFromPassword([]byte(u.pw), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.AddUser(ctx, store.User{Name: u.name, Role: u.role, PasswordHash: string(h)}, false); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// enroll enrolls a host through the API and returns agent id and credential.
func (c *collector) enroll(host string) (string, string) {
	c.t.Helper()
	tok, hash := auth.NewToken()
	if err := c.db.CreateToken(context.Background(), hash, time.Now().Add(time.Hour), 1); err != nil {
		c.t.Fatal(err)
	}
	body, _ := json.Marshal(api.EnrollRequest{Token: tok, Host: host, AgentVersion: "0.1.0"})
	resp, err := http.Post(c.url+"/v1/enroll", "application/json", bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var er api.EnrollResponse
	if err := json.NewDecoder(resp.Body).Decode(&er); err != nil || resp.StatusCode != 200 {
		c.t.Fatalf("enroll %s: %d %v", host, resp.StatusCode, err)
	}
	return er.AgentID, er.Credential
}

// fixtureRecord is one line of testdata/fleet.jsonl, as
// `annexa-agent collect --once --output -` prints it.
type fixtureRecord struct {
	Kind       string          `json:"kind"`
	Schema     uint32          `json:"schema"`
	Subject    string          `json:"subject"`
	Op         string          `json:"op"`
	ObservedAt time.Time       `json:"observed_at"`
	Attributes json.RawMessage `json:"attributes"`
	Host       string          `json:"host"`
	Plugin     string          `json:"plugin"`
}

func loadFixture(t testing.TB) []fixtureRecord {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "fleet.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []fixtureRecord
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r fixtureRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("fleet.jsonl: %v", err)
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

var rfc3339 = regexp.MustCompile(`"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z)"`)

// shift moves every time in the record by d, so the fixture's evidence is
// fresh whenever the test runs.
func (r *fixtureRecord) shift(d time.Duration) {
	r.ObservedAt = r.ObservedAt.Add(d)
	r.Attributes = rfc3339.ReplaceAllFunc(r.Attributes, func(m []byte) []byte {
		ts, err := time.Parse(time.RFC3339Nano, string(m[1:len(m)-1]))
		if err != nil {
			return m
		}
		return []byte(`"` + ts.Add(d).UTC().Format(time.RFC3339Nano) + `"`)
	})
}

// ingest sends records through POST /v1/ingest as the agent does.
func (c *collector) ingest(agentID, cred string, firstSeq uint64, recs []fixtureRecord) {
	c.t.Helper()
	b := &ingestv1.Batch{AgentId: agentID, Status: &ingestv1.AgentStatus{Host: "gpu-01", Version: "0.1.0",
		Plugins: []*ingestv1.PluginStatus{{Name: "datasets", State: "ok"}, {Name: "models", State: "ok"}, {Name: "access", State: "ok"}, {Name: "encryption", State: "ok"}}}}
	for i, r := range recs {
		b.Records = append(b.Records, &ingestv1.Record{Seq: firstSeq + uint64(i), Kind: r.Kind, Schema: max(r.Schema, 1), Subject: r.Subject,
			Op: r.Op, ObservedAt: timestamppb.New(r.ObservedAt), AttributesJson: r.Attributes, Host: r.Host, Plugin: r.Plugin})
	}
	b.FirstSeq, b.LastSeq = firstSeq, firstSeq+uint64(len(recs))-1
	raw, err := proto.Marshal(b)
	if err != nil {
		c.t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(raw)
	zw.Close()
	req, _ := http.NewRequest("POST", c.url+"/v1/ingest", &gz)
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Content-Encoding", "gzip")
	req.Header.Set("Authorization", "Bearer "+cred)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		c.t.Fatalf("ingest: %d %s", resp.StatusCode, body)
	}
}

// hostileName is a dataset whose path is markup: every page must show it
// as text.
const hostileName = `<script>alert("x")</script>`

// loadFleet gives the collector the demo host's real evidence (shifted to
// now), a later version of one dataset (for its timeline), a model that
// names its training dataset (lineage), a dataset whose name is markup, and
// a second host that enrolled and never reported.
func (c *collector) loadFleet() {
	c.t.Helper()
	recs := loadFixture(c.t)
	var newest time.Time
	for _, r := range recs {
		if r.ObservedAt.After(newest) {
			newest = r.ObservedAt
		}
	}
	d := time.Since(newest) - 10*time.Minute
	for i := range recs {
		recs[i].shift(d)
	}
	id, cred := c.enroll("gpu-01")
	c.gpu01 = id
	c.ingest(id, cred, 1, recs)
	// An earlier recorded pass, before the later evidence below, so the
	// trend and the status history have a change to show.
	if _, err := report.RecordPass(context.Background(), c.db, time.Now().Add(-3*time.Hour), report.Options{}); err != nil {
		c.t.Fatal(err)
	}

	at := time.Now().Add(-5 * time.Minute).UTC()
	var extra []fixtureRecord
	for _, r := range recs {
		if r.Subject == "dataset:/srv/ml/datasets/customers" {
			var a map[string]any
			json.Unmarshal(r.Attributes, &a)
			a["size_bytes"], a["file_count"] = 4096.0, 2.0
			r.Attributes, _ = json.Marshal(a)
			r.ObservedAt = at
			extra = append(extra, r)
		}
	}
	extra = append(extra,
		fixtureRecord{Kind: "dataset", Subject: "dataset:/srv/ml/datasets/" + hostileName, Op: "upsert", ObservedAt: at, Host: "gpu-01", Plugin: "datasets",
			Attributes: json.RawMessage(`{"path":"/srv/ml/datasets/` + strings.ReplaceAll(hostileName, `"`, `\"`) + `","size_bytes":1,"file_count":1,"owner":"root","group":"root","mode":"0700","world_readable":false,"has_datasheet":false,"license":"","formats":{"csv":1},"sha256":"00"}`)},
		fixtureRecord{Kind: "model", Subject: "model:/srv/ml/models/classifier/iris-net.safetensors", Op: "upsert", ObservedAt: at, Host: "gpu-01", Plugin: "models",
			Attributes: json.RawMessage(`{"path":"/srv/ml/models/classifier/iris-net.safetensors","format":"safetensors","size_bytes":190,"sha256":"ab","unsafe":false,"findings":[],"owner":"root","mode":"0640","datasets":["iris"]}`)},
	)
	c.ingest(id, cred, uint64(len(recs))+1, extra)
	c.idle, _ = c.enroll("gpu-02")
	// serve's evaluator records a pass after ingest; the trend reads them.
	if _, err := report.RecordPass(context.Background(), c.db, time.Now(), report.Options{}); err != nil {
		c.t.Fatal(err)
	}
	if err := c.ui.eval.refresh(context.Background()); err != nil {
		c.t.Fatal(err)
	}
}

// client is a browser-like HTTP client with its own cookies, which does
// not follow redirects so tests can see them.
type client struct {
	t    *testing.T
	c    *collector
	http *http.Client
}

func (c *collector) client() *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: c.t, c: c, http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (cl *client) get(path string) (*http.Response, string) {
	cl.t.Helper()
	resp, err := cl.http.Get(cl.c.url + path)
	if err != nil {
		cl.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (cl *client) post(path string, form url.Values) (*http.Response, string) {
	cl.t.Helper()
	resp, err := cl.http.PostForm(cl.c.url+path, form)
	if err != nil {
		cl.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// formToken returns the CSRF token in the page at path.
func (cl *client) formToken(path string) string {
	cl.t.Helper()
	_, body := cl.get(path)
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		cl.t.Fatalf("no csrf field in %s:\n%s", path, body)
	}
	return m[1]
}

// login logs in and fails the test unless it worked.
func (cl *client) login(user, password string) {
	cl.t.Helper()
	resp, body := cl.tryLogin(user, password, "/")
	if resp.StatusCode != http.StatusSeeOther {
		cl.t.Fatalf("login %s: %d\n%s", user, resp.StatusCode, body)
	}
}

func (cl *client) tryLogin(user, password, next string) (*http.Response, string) {
	cl.t.Helper()
	tok := cl.formToken("/login")
	return cl.post("/login", url.Values{"csrf": {tok}, "user": {user}, "password": {password}, "next": {next}})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func contains(t *testing.T, what, body string, wants ...string) {
	t.Helper()
	failed := false
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("%s does not show %q", what, w)
			failed = true
		}
	}
	if failed {
		t.Logf("%s:\n%s", what, body)
	}
}
