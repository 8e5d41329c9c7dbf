package api

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/annexa/annexa/collector/internal/store"
)

// ClientIssuer signs agents' client certificates for mTLS; the collector's
// own CA (pki.CA) is one.
type ClientIssuer interface {
	IssueClient(csrPEM []byte, agentID string, now time.Time) ([]byte, error)
}

// maxCSR caps a certificate request: a P-256 CSR is about 500 bytes.
const maxCSR = 16 << 10

// RenewRequest is the body of POST /v1/renew.
type RenewRequest struct {
	CSR string `json:"csr"`
}

// RenewResponse carries the new client certificate.
type RenewResponse struct {
	ClientCert string `json:"client_cert"`
}

// issue signs csr for agentID, or returns "" when the collector has no CA
// to sign with and does not require client certificates.
func (s *Server) issue(csr, agentID string) (string, error) {
	if csr == "" {
		if s.opts.RequireClientCert {
			return "", &store.Error{Code: store.EINVALID, Field: "csr", Message: "this collector requires client certificates and the request has no csr; upgrade the agent"}
		}
		return "", nil
	}
	if s.opts.Issuer == nil {
		return "", nil
	}
	if len(csr) > maxCSR {
		return "", &store.Error{Code: store.EINVALID, Field: "csr", Message: "csr is too large"}
	}
	cert, err := s.opts.Issuer.IssueClient([]byte(csr), agentID, s.opts.Now())
	if err != nil {
		return "", &store.Error{Code: store.EINVALID, Field: "csr", Message: err.Error()}
	}
	return string(cert), nil
}

// checkClientCert enforces mTLS on an authenticated request: a client
// certificate the TLS layer verified must name the same agent as the
// bearer credential, and one is required when the collector says so.
func (s *Server) checkClientCert(r *http.Request, agentID string) error {
	var certAgent string
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		id, ok := s.opts.ClientAgentID(r.TLS.PeerCertificates[0])
		if !ok || id != agentID {
			return store.Errorf(store.EUNAUTHORIZED, "the client certificate is not agent %s's; %s", agentID, enrollHint)
		}
		certAgent = id
	}
	if s.opts.RequireClientCert && certAgent == "" {
		return store.Errorf(store.EUNAUTHORIZED, "this collector requires a client certificate and agent %s sent none (or an expired one); %s", agentID, enrollHint)
	}
	return nil
}

// handleRenew gives an enrolled agent a new client certificate for a new
// key. The bearer credential alone authorises it, so an agent that was
// offline past its certificate's end can still renew.
func (s *Server) handleRenew(w http.ResponseWriter, r *http.Request) error {
	a, err := s.authenticateBearer(r)
	if err != nil {
		return err
	}
	if s.opts.Issuer == nil {
		return store.Errorf(store.ENOTFOUND, "this collector issues no client certificates (it has no CA of its own)")
	}
	body, err := readBody(w, r, maxCSR+1024)
	if err != nil {
		return err
	}
	var req RenewRequest
	if err := json.Unmarshal(body, &req); err != nil || req.CSR == "" {
		return &store.Error{Code: store.EINVALID, Field: "csr", Message: `the body must be JSON {"csr": "-----BEGIN CERTIFICATE REQUEST-----..."}`}
	}
	cert, err := s.issue(req.CSR, a.ID)
	if err != nil {
		return err
	}
	s.log.Info("client certificate renewed", "agent_id", a.ID)
	writeJSON(w, http.StatusOK, RenewResponse{ClientCert: cert})
	return nil
}
