package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/annexa/annexa/collector/internal/auth"
	"github.com/annexa/annexa/collector/internal/controls"
	"github.com/annexa/annexa/collector/internal/store"
)

// maxDecisionBody caps the body of a governance request: a few short
// strings and a reason.
const maxDecisionBody = 64 << 10

// Principal is who a governance request comes from.
type Principal struct {
	Name string
	Role string // store.RoleAdmin or store.RoleAuditor
}

// Authenticator finds the principal of a request, or returns an
// EUNAUTHORIZED error. Options.Authenticate replaces the default, which
// reads an API key (`annexa-collector apikey create`) from the
// Authorization header; the web UI plugs its sessions in here.
type Authenticator func(r *http.Request) (*Principal, error)

const apiKeyHint = "an administrator creates one on the collector host with `annexa-collector apikey create --data DIR --name NAME --role auditor|admin`; send it as Authorization: Bearer <key>"

// apiKeyPrincipal authenticates a request by its API key.
func (s *Server) apiKeyPrincipal(r *http.Request) (*Principal, error) {
	key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || strings.TrimSpace(key) == "" {
		return nil, store.Errorf(store.EUNAUTHORIZED, "missing header Authorization: Bearer <API key>; %s", apiKeyHint)
	}
	id, secret, err := auth.ParseAPIKey(strings.TrimSpace(key))
	if err != nil {
		return nil, store.Errorf(store.EUNAUTHORIZED, "%v; %s", err, apiKeyHint)
	}
	k, err := s.store.APIKey(r.Context(), id)
	if store.ErrorCode(err) == store.ENOTFOUND || (err == nil && !auth.CheckSecret(secret, k.SecretHash)) {
		return nil, store.Errorf(store.EUNAUTHORIZED, "the API key is not known to this collector; %s", apiKeyHint)
	}
	if err != nil {
		return nil, err
	}
	if !k.RevokedAt.IsZero() {
		return nil, store.Errorf(store.EUNAUTHORIZED, "API key %s (%s) was revoked at %s; %s", k.ID, k.Name, k.RevokedAt.Format(time.RFC3339), apiKeyHint)
	}
	return &Principal{Name: k.Name, Role: k.Role}, nil
}

// principal authenticates r and requires the admin role when write is set.
func (s *Server) principal(r *http.Request, write bool) (*Principal, error) {
	authn := s.opts.Authenticate
	if authn == nil {
		authn = s.apiKeyPrincipal
	}
	p, err := authn(r)
	if err != nil {
		return nil, err
	}
	if p.Role != store.RoleAdmin && p.Role != store.RoleAuditor {
		return nil, store.Errorf(store.EFORBIDDEN, "%s has no role that may use this endpoint", p.Name)
	}
	if write && p.Role != store.RoleAdmin {
		return nil, store.Errorf(store.EFORBIDDEN, "%s is an auditor and may only read; recording or revoking decisions needs an admin", p.Name)
	}
	return p, nil
}

func (s *Server) engine() *controls.Engine {
	if s.opts.Engine != nil {
		return s.opts.Engine
	}
	return controls.Default()
}

func (s *Server) routeGovernance() {
	s.route("GET /v1/exceptions", s.handleExceptions)
	s.route("POST /v1/exceptions", s.handleAddException)
	s.route("POST /v1/exceptions/{id}/revoke", s.handleRevokeException)
	s.route("GET /v1/attestations", s.handleAttestations)
	s.route("POST /v1/attestations", s.handleAddAttestation)
	s.route("POST /v1/attestations/{id}/revoke", s.handleRevokeAttestation)
	s.route("GET /v1/soa", s.handleSoA)
	s.route("POST /v1/soa", s.handleSetSoA)
	s.route("POST /v1/soa/import", s.handleImportSoA) // soaimport.go
	s.route("GET /v1/governance/log", s.handleGovernanceLog)
	s.route("GET /v1/evaluations", s.handleEvaluations)
	s.route("GET /v1/controls/history", s.handleControlHistory)
}

// decodeStrict reads a JSON body into v, refusing unknown fields so that a
// misspelt field is an error, not a silently missing value.
func decodeStrict(w http.ResponseWriter, r *http.Request, v any, shape string) error {
	body, err := readBody(w, r, maxDecisionBody)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return store.Errorf(store.EINVALID, "the body must be JSON %s: %v", shape, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return store.Errorf(store.EINVALID, "the body must hold one JSON object %s", shape)
	}
	return nil
}

func invalidField(name string, err error) error {
	return &store.Error{Code: store.EINVALID, Field: name, Message: err.Error()}
}

func (s *Server) handleExceptions(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.principal(r, false); err != nil {
		return err
	}
	list, err := s.store.Exceptions(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"exceptions": list})
	return nil
}

const exceptionShape = `{"check_id", "subject_pattern", "host_pattern" (optional), "owner", "approver", "reason", "expires_at" (RFC 3339, at most 12 months ahead)}`

func (s *Server) handleAddException(w http.ResponseWriter, r *http.Request) error {
	p, err := s.principal(r, true)
	if err != nil {
		return err
	}
	var n store.NewException
	if err := decodeStrict(w, r, &n, exceptionShape); err != nil {
		return err
	}
	if n.CheckID != "" {
		if err := s.engine().CheckExceptionTarget(n.CheckID); err != nil {
			return invalidField("check_id", err)
		}
	}
	n.CreatedBy = p.Name
	e, err := s.store.AddException(r.Context(), n)
	if err != nil {
		return err
	}
	s.log.Info("exception added", "id", e.ID, "check", e.CheckID, "subject_pattern", e.SubjectPattern, "by", p.Name, "expires_at", e.ExpiresAt)
	writeJSON(w, http.StatusCreated, e)
	return nil
}

func (s *Server) handleRevokeException(w http.ResponseWriter, r *http.Request) error {
	p, err := s.principal(r, true)
	if err != nil {
		return err
	}
	e, err := s.store.RevokeException(r.Context(), r.PathValue("id"), p.Name)
	if err != nil {
		return err
	}
	s.log.Info("exception revoked", "id", e.ID, "by", p.Name)
	writeJSON(w, http.StatusOK, e)
	return nil
}

func (s *Server) handleAttestations(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.principal(r, false); err != nil {
		return err
	}
	list, err := s.store.Attestations(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"attestations": list})
	return nil
}

const attestationShape = `{"control_id" (iso27001-2022/5.1), "document_ref", "author", "note" (optional), "expires_at" (RFC 3339, at most 12 months ahead)}`

func (s *Server) handleAddAttestation(w http.ResponseWriter, r *http.Request) error {
	p, err := s.principal(r, true)
	if err != nil {
		return err
	}
	var n store.NewAttestation
	if err := decodeStrict(w, r, &n, attestationShape); err != nil {
		return err
	}
	if n.ControlID != "" {
		if err := s.engine().CheckAttestationTarget(n.ControlID); err != nil {
			return invalidField("control_id", err)
		}
	}
	n.CreatedBy = p.Name
	a, err := s.store.AddAttestation(r.Context(), n)
	if err != nil {
		return err
	}
	s.log.Info("attestation added", "id", a.ID, "control", a.ControlID, "by", p.Name, "expires_at", a.ExpiresAt)
	writeJSON(w, http.StatusCreated, a)
	return nil
}

func (s *Server) handleRevokeAttestation(w http.ResponseWriter, r *http.Request) error {
	p, err := s.principal(r, true)
	if err != nil {
		return err
	}
	a, err := s.store.RevokeAttestation(r.Context(), r.PathValue("id"), p.Name)
	if err != nil {
		return err
	}
	s.log.Info("attestation revoked", "id", a.ID, "by", p.Name)
	writeJSON(w, http.StatusOK, a)
	return nil
}

func (s *Server) handleSoA(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.principal(r, false); err != nil {
		return err
	}
	list, err := s.store.SoA(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"statement_of_applicability": list})
	return nil
}

// SoARequest is the body of POST /v1/soa; the author is the caller.
type SoARequest struct {
	ControlID     string `json:"control_id"`
	Applicable    *bool  `json:"applicable"`
	Justification string `json:"justification"`
}

// SoAResponse is the answer to POST /v1/soa: the entry as recorded, and a
// warning when it includes the control without a reason. The inclusion is
// recorded all the same, so that existing scripts keep working; the
// reports mark the line incomplete until a reason is given.
type SoAResponse struct {
	store.SoAEntry
	Warning string `json:"warning,omitempty"`
}

func (s *Server) handleSetSoA(w http.ResponseWriter, r *http.Request) error {
	p, err := s.principal(r, true)
	if err != nil {
		return err
	}
	var req SoARequest
	if err := decodeStrict(w, r, &req, `{"control_id", "applicable" (true or false), "justification" (why it is included or excluded; required when not applicable)}`); err != nil {
		return err
	}
	if req.Applicable == nil {
		return &store.Error{Code: store.EINVALID, Field: "applicable", Message: "applicable is required: true, or false with a justification"}
	}
	if req.ControlID != "" {
		if err := s.engine().CheckSoATarget(req.ControlID); err != nil {
			return invalidField("control_id", err)
		}
	}
	e, err := s.store.SetSoA(r.Context(), store.SoAEntry{ControlID: req.ControlID, Applicable: *req.Applicable,
		Justification: req.Justification, Author: p.Name})
	if err != nil {
		return err
	}
	s.log.Info("statement of applicability set", "control", e.ControlID, "applicable", e.Applicable, "justified", !e.Unjustified(), "by", p.Name)
	writeJSON(w, http.StatusOK, SoAResponse{SoAEntry: *e, Warning: e.Warning()})
	return nil
}

func intParam(r *http.Request, name string) (int64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, &store.Error{Code: store.EINVALID, Field: name, Message: name + " must be a non-negative integer"}
	}
	return n, nil
}

func (s *Server) handleGovernanceLog(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.principal(r, false); err != nil {
		return err
	}
	after, err := intParam(r, "after")
	if err != nil {
		return err
	}
	limit, err := intParam(r, "limit")
	if err != nil {
		return err
	}
	if limit == 0 || limit > 1000 {
		limit = 1000
	}
	log, err := s.store.GovernanceLog(r.Context(), after, int(limit))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": log})
	return nil
}

func (s *Server) handleEvaluations(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.principal(r, false); err != nil {
		return err
	}
	var from time.Time
	if v := r.URL.Query().Get("from"); v != "" {
		var err error
		if from, err = time.Parse(time.RFC3339, v); err != nil {
			return &store.Error{Code: store.EINVALID, Field: "from", Message: "from must be an RFC 3339 time such as 2026-03-01T00:00:00Z"}
		}
	}
	limit, err := intParam(r, "limit")
	if err != nil {
		return err
	}
	if limit == 0 || limit > 10000 {
		limit = 10000
	}
	evs, err := s.store.EvaluationTrend(r.Context(), from, int(limit))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"evaluations": evs})
	return nil
}

func (s *Server) handleControlHistory(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.principal(r, false); err != nil {
		return err
	}
	id := r.URL.Query().Get("control")
	if err := s.engine().CheckSoATarget(id); err != nil {
		return invalidField("control", err)
	}
	h, err := s.store.ControlHistory(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"control_id": id, "changes": h})
	return nil
}
