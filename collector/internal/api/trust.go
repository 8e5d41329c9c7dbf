package api

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"time"

	"github.com/annexa/annexa/collector/internal/store"
)

// TrustBundle is the answer of GET /v1/trust: the collector CAs an agent
// should accept a server certificate from. During a CA rollover it holds
// the current and the next (or previous) CA, so agents learn the new CA
// over a channel the old one authenticates, and no host needs a visit.
type TrustBundle struct {
	// Bundle is the PEM certificates, the issuing CA first.
	Bundle string `json:"bundle"`
	// Fingerprints are the SHA-256 fingerprints of the same certificates.
	Fingerprints []string `json:"fingerprints"`
	// Issuing is the CA that issues certificates now; an agent whose
	// client certificate another CA issued renews it.
	Issuing string `json:"issuing"`
	// Digest names this bundle; ingest replies carry it so agents know
	// when to fetch again.
	Digest string `json:"digest"`
}

// handleTrust serves the trust bundle to an enrolled agent, authenticated
// as for ingest (credential, and client certificate where required).
func (s *Server) handleTrust(w http.ResponseWriter, r *http.Request) error {
	a, err := s.authenticate(r)
	if err != nil {
		return err
	}
	if s.opts.Trust == nil {
		return store.Errorf(store.ENOTFOUND, "this collector has no CA of its own, so there is no trust bundle; agents verify it with the system's CAs")
	}
	b := s.opts.Trust()
	s.log.Debug("trust bundle served", "agent_id", a.ID, "digest", b.Digest)
	writeJSON(w, http.StatusOK, b)
	return nil
}

// ingestReply is the ingest result with the trust bundle's digest: a
// call every agent makes anyway tells it when the bundle changed.
type ingestReply struct {
	*store.IngestResult
	TrustBundle string `json:"trust_bundle,omitempty"`
}

func (s *Server) ingestReply(res *store.IngestResult) ingestReply {
	out := ingestReply{IngestResult: res}
	if s.opts.Trust != nil {
		out.TrustBundle = s.opts.Trust().Digest
	}
	return out
}

// observeClientCert records on the batch's status which CA issued the
// client certificate the TLS layer verified, and until when it is valid:
// `ca retire` must know that no agent still relies on the old CA. It is
// the collector's own observation, not the agent's word.
func observeClientCert(r *http.Request, st *store.AgentStatus) {
	if st == nil || r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
		return
	}
	chain := r.TLS.VerifiedChains[0]
	if len(chain) < 2 {
		return
	}
	root := chain[len(chain)-1]
	sum := sha256.Sum256(root.Raw)
	st.ClientCertCA = "sha256:" + hex.EncodeToString(sum[:])
	end := chain[0].NotAfter.UTC().Truncate(time.Second)
	st.ClientCertNotAfter = &end
}
