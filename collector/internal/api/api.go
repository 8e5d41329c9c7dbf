// Package api is the collector's HTTP interface: agents enroll and ship
// batches here, and reports are served from here. Every error answer is
// JSON that says what to fix; application error codes become HTTP status
// codes in one place (statusOf), and internal details go to the log only.
package api

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/annexa/annexa/collector/internal/auth"
	"github.com/annexa/annexa/collector/internal/controls"
	"github.com/annexa/annexa/collector/internal/report"
	"github.com/annexa/annexa/collector/internal/store"
	"github.com/annexa/annexa/evidence"
)

// maxEnrollBody caps POST /v1/enroll: three short strings.
const maxEnrollBody = 64 << 10

// Options configure a Server.
type Options struct {
	Limits Limits
	// Freshness is handed to the report's controls.
	Freshness time.Duration
	// Engine judges the controls; nil means the embedded catalogs.
	Engine *controls.Engine
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Authenticate finds who calls the governance endpoints; nil means
	// API keys (governance.go).
	Authenticate Authenticator
	// Report builds the JSON report of GET /v1/report as of now; nil
	// assembles one from the store (serve hands in its kept evaluation).
	Report func(ctx context.Context, now time.Time) (*report.Report, error)
	// AfterIngest is called after a batch stored new records, to trigger
	// an evaluation; it must not block.
	AfterIngest func()
	// Issuer signs agents' client certificates; nil issues none.
	Issuer ClientIssuer
	// ClientAgentID reads the agent ID from a verified client certificate.
	ClientAgentID func(*x509.Certificate) (string, bool)
	// RequireClientCert refuses ingest without a client certificate.
	RequireClientCert bool
	// Trust returns the CA trust bundle agents fetch from GET /v1/trust;
	// nil when the collector has no CA of its own.
	Trust func() *TrustBundle
}

// Server serves the collector API over a Store.
type Server struct {
	store store.Store
	log   *slog.Logger
	opts  Options
	mux   *http.ServeMux
	// known maps each path to its method, for JSON 404/405 answers.
	known map[string]string
	m     *metrics
}

// New returns a Server; it does nothing until its Handler is served.
func New(st store.Store, log *slog.Logger, opts Options) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Limits.MaxBody <= 0 {
		opts.Limits.MaxBody = DefaultLimits.MaxBody
	}
	if opts.Limits.MaxDecoded <= 0 {
		opts.Limits.MaxDecoded = DefaultLimits.MaxDecoded
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ClientAgentID == nil {
		opts.ClientAgentID = func(*x509.Certificate) (string, bool) { return "", false }
	}
	s := &Server{store: st, log: log.With("component", "api"), opts: opts, mux: http.NewServeMux(), known: map[string]string{}, m: newMetrics()}
	s.m.reg.MustRegister(agentsCollector{st})
	s.route("POST /v1/enroll", s.handleEnroll)
	s.route("POST /v1/ingest", s.handleIngest)
	s.route("GET /v1/healthz", s.handleHealthz)
	s.route("GET /v1/report", s.handleReport)
	s.routeGovernance()
	s.route("POST /v1/renew", s.handleRenew)
	s.route("GET /v1/trust", s.handleTrust)
	s.route("GET /healthz", s.handleHealthz)
	s.mux.Handle("GET /metrics", s.m.handler())
	s.known["/metrics"] = "GET"
	s.mux.HandleFunc("/", s.handleNotFound)
	return s
}

func (s *Server) route(pattern string, h func(http.ResponseWriter, *http.Request) error) {
	method, path, _ := strings.Cut(pattern, " ")
	if m, ok := s.known[path]; ok {
		method = m + ", " + method
	}
	s.known[path] = method
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		w = sw
		err := h(w, r)
		if err != nil {
			s.fail(w, r, err)
		}
		s.m.requests.WithLabelValues(path, strconv.Itoa(sw.code)).Inc()
		if path == "/v1/ingest" {
			result := "stored"
			if err != nil {
				result = store.ErrorCode(err)
			}
			s.m.batches.WithLabelValues(result).Inc()
		}
		s.log.Debug("request", "method", r.Method, "path", r.URL.Path, "duration", time.Since(start))
	})
}

// Handler returns the HTTP handler.
func (s *Server) Handler() http.Handler { return s.mux }

func (s *Server) handleNotFound(w http.ResponseWriter, r *http.Request) {
	if m, ok := s.known[r.URL.Path]; ok {
		w.Header().Set("Allow", m)
		s.fail(w, r, store.Errorf(EMETHOD, "%s %s is not allowed; use %s", r.Method, r.URL.Path, m))
		return
	}
	s.fail(w, r, store.Errorf(store.ENOTFOUND, "no such endpoint %s; the API has POST /v1/enroll, POST /v1/ingest, POST /v1/renew, GET /v1/trust, GET /v1/healthz, GET /v1/report, GET /metrics and the governance endpoints of docs/controls.md", r.URL.Path))
}

// EMETHOD is local to HTTP: the store never needs it.
const EMETHOD = "method_not_allowed"

// statusOf is the one place application error codes become HTTP statuses.
var statusOf = map[string]int{
	store.EINVALID:       http.StatusBadRequest,
	store.EUNAUTHORIZED:  http.StatusUnauthorized,
	store.EFORBIDDEN:     http.StatusForbidden,
	store.ENOTFOUND:      http.StatusNotFound,
	EMETHOD:              http.StatusMethodNotAllowed,
	store.ECONFLICT:      http.StatusConflict,
	store.ETOOLARGE:      http.StatusRequestEntityTooLarge,
	store.EUNSUPPORTED:   http.StatusUnsupportedMediaType,
	store.EUNPROCESSABLE: http.StatusUnprocessableEntity,
	store.EINTERNAL:      http.StatusInternalServerError,
}

// ErrorBody is the JSON of every error answer.
type ErrorBody struct {
	Error  string  `json:"error"`
	Record *int    `json:"record,omitempty"`
	Seq    *uint64 `json:"seq,omitempty"`
	Field  string  `json:"field,omitempty"`
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := store.ErrorCode(err)
	status, ok := statusOf[code]
	if !ok {
		status = http.StatusInternalServerError
	}
	body := ErrorBody{}
	var e *store.Error
	if code == store.EINTERNAL || !errors.As(err, &e) {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		body.Error = "internal error in the collector; its log has the details"
	} else {
		s.log.Info("request refused", "method", r.Method, "path", r.URL.Path, "status", status, "reason", e.Message)
		body = ErrorBody{Error: e.Message, Record: e.Record, Seq: e.Seq, Field: e.Field}
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="annexa"`)
	}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	// Messages quote commands like `annexa-collector token create` <ID>;
	// this is not HTML, so keep them readable.
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// readBody reads at most limit bytes of the body.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, store.Errorf(store.ETOOLARGE, "the request body is larger than the limit of %d bytes", limit)
	}
	if err != nil {
		return nil, store.Errorf(store.EINVALID, "reading the request body failed: %v", err)
	}
	return b, nil
}

// EnrollRequest is the body of POST /v1/enroll.
type EnrollRequest struct {
	Token        string `json:"token"`
	Host         string `json:"host"`
	AgentVersion string `json:"agent_version"`
	// CSR asks for a client certificate (PEM), for mTLS.
	CSR string `json:"csr,omitempty"`
}

// EnrollResponse is its answer. The credential is shown only here.
type EnrollResponse struct {
	AgentID    string `json:"agent_id"`
	Credential string `json:"credential"`
	ClientCert string `json:"client_cert,omitempty"`
}

func (s *Server) handleEnroll(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(w, r, maxEnrollBody)
	if err != nil {
		return err
	}
	var req EnrollRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return store.Errorf(store.EINVALID, `the body must be JSON {"token": "...", "host": "...", "agent_version": "..."}: %v`, err)
	}
	switch {
	case req.Token == "":
		return &store.Error{Code: store.EINVALID, Field: "token", Message: "token is missing; create one with `annexa-collector token create`"}
	case req.Host == "" || len(req.Host) > evidence.MaxHostLen || !utf8.ValidString(req.Host):
		return &store.Error{Code: store.EINVALID, Field: "host", Message: "host must be the host name, 1 to 255 bytes of UTF-8"}
	case len(req.AgentVersion) > 128 || !utf8.ValidString(req.AgentVersion):
		return &store.Error{Code: store.EINVALID, Field: "agent_version", Message: "agent_version must be at most 128 bytes of UTF-8"}
	}
	id := auth.NewAgentID()
	// Signed before the token is spent, so a bad request costs no use.
	clientCert, err := s.issue(req.CSR, id)
	if err != nil {
		return err
	}
	cred, hash := auth.NewCredential(id)
	if err := s.store.Enroll(r.Context(), auth.Hash(req.Token), store.NewAgent{ID: id, Host: req.Host, AgentVersion: req.AgentVersion, CredentialHash: hash}); err != nil {
		return err
	}
	s.m.enrolled.Inc()
	s.log.Info("agent enrolled", "agent_id", id, "host", req.Host, "agent_version", req.AgentVersion)
	writeJSON(w, http.StatusOK, EnrollResponse{AgentID: id, Credential: cred, ClientCert: clientCert})
	return nil
}

const enrollHint = "enroll the agent again with a token from `annexa-collector token create`"

// authenticate returns the agent the request's bearer credential belongs
// to, after the client certificate check mTLS asks for.
func (s *Server) authenticate(r *http.Request) (*store.Agent, error) {
	a, err := s.authenticateBearer(r)
	if err != nil {
		return nil, err
	}
	if err := s.checkClientCert(r, a.ID); err != nil {
		return nil, err
	}
	return a, nil
}

// authenticateBearer checks the bearer credential alone.
func (s *Server) authenticateBearer(r *http.Request) (*store.Agent, error) {
	h := r.Header.Get("Authorization")
	cred, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || cred == "" {
		return nil, store.Errorf(store.EUNAUTHORIZED, "missing header Authorization: Bearer <credential>; %s", enrollHint)
	}
	id, secret, err := auth.ParseCredential(strings.TrimSpace(cred))
	if err != nil {
		return nil, store.Errorf(store.EUNAUTHORIZED, "the %v; %s", err, enrollHint)
	}
	a, err := s.store.Agent(r.Context(), id)
	if store.ErrorCode(err) == store.ENOTFOUND {
		return nil, store.Errorf(store.EUNAUTHORIZED, "agent %s is not enrolled with this collector; %s", id, enrollHint)
	}
	if err != nil {
		return nil, err
	}
	if !auth.CheckSecret(secret, a.CredentialHash) {
		return nil, store.Errorf(store.EUNAUTHORIZED, "the credential of agent %s is wrong; %s", id, enrollHint)
	}
	if a.Revoked() {
		return nil, store.Errorf(store.EUNAUTHORIZED, "agent %s was revoked at %s and may not send evidence; %s", id, a.RevokedAt.UTC().Format(time.RFC3339), enrollHint)
	}
	return a, nil
}

func (s *Server) handleIngest(w http.ResponseWriter, r *http.Request) error {
	// Authenticate before reading the body, so strangers cannot make the
	// collector decompress anything.
	a, err := s.authenticate(r)
	if err != nil {
		return err
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/x-protobuf") {
		return store.Errorf(store.EUNSUPPORTED, "Content-Type %q is not supported; send application/x-protobuf", ct)
	}
	body, err := readBody(w, r, s.opts.Limits.MaxBody)
	if err != nil {
		return err
	}
	b, err := DecodeBatch(a.ID, strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))), body, s.opts.Limits)
	if err != nil {
		return err
	}
	observeClientCert(r, b.Status)
	res, err := s.store.Ingest(r.Context(), b)
	if err != nil {
		return err
	}
	if res.Stored > 0 && s.opts.AfterIngest != nil {
		s.opts.AfterIngest()
	}
	s.log.Debug("batch stored", "agent_id", a.ID, "first_seq", b.FirstSeq, "last_seq", b.LastSeq,
		"stored", res.Stored, "duplicates", res.Duplicates, "acked_through", res.AckedThrough)
	s.m.records.WithLabelValues("stored").Add(float64(res.Stored))
	s.m.records.WithLabelValues("duplicate").Add(float64(res.Duplicates))
	writeJSON(w, http.StatusOK, s.ingestReply(res))
	return nil
}

func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

// handleReport serves the JSON report to the same readers as the
// governance endpoints (an API key of role auditor or admin): it names
// every host, asset and failing subject of the fleet.
func (s *Server) handleReport(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.principal(r, false); err != nil {
		return err
	}
	if f := r.URL.Query().Get("format"); f != "" && f != "json" {
		return store.Errorf(store.EINVALID, "format %s is not served over HTTP yet; supported: json", f)
	}
	start := time.Now()
	var rep *report.Report
	var err error
	kind := EvalReport
	if s.opts.Report != nil {
		rep, err = s.opts.Report(r.Context(), s.opts.Now())
	} else {
		kind = EvalFull
		rep, err = report.Assemble(r.Context(), s.store, s.opts.Now(), report.Options{Freshness: s.opts.Freshness, Engine: s.opts.Engine})
	}
	if r.Context().Err() == nil {
		s.ObserveEvaluation(kind, time.Since(start), err)
	}
	if err != nil {
		return err
	}
	// Rendered in full first, so a failure can still become an error answer.
	var buf bytes.Buffer
	if err := report.Write(&buf, "json", rep); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, err = w.Write(buf.Bytes())
	return err
}
