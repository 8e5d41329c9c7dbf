// Package enroll exchanges a one-time token for the agent's own credential.
package enroll

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Request is the body of POST /v1/enroll.
type Request struct {
	Token        string `json:"token"`
	Host         string `json:"host"`
	AgentVersion string `json:"agent_version"`
	// CSR asks for a client certificate (mTLS); see NewKey.
	CSR string `json:"csr,omitempty"`
}

// Response is the collector's answer.
type Response struct {
	AgentID    string `json:"agent_id"`
	Credential string `json:"credential"`
	// ClientCert is set when the collector issues client certificates.
	ClientCert string `json:"client_cert,omitempty"`
}

// Enroll asks the collector at baseURL for a credential.
func Enroll(ctx context.Context, client *http.Client, baseURL string, req Request) (*Response, error) {
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	body, _ := json.Marshal(req)
	url := strings.TrimRight(baseURL, "/") + "/v1/enroll"
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("enroll: %w", err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(hreq)
	if err != nil {
		return nil, fmt.Errorf("enroll: cannot reach the collector at %s: %w", baseURL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return nil, fmt.Errorf("enroll refused by the collector (%s): %s", resp.Status, e.Error)
		}
		return nil, fmt.Errorf("enroll refused by the collector: %s", resp.Status)
	}
	var out Response
	if err := json.Unmarshal(b, &out); err != nil || out.AgentID == "" || out.Credential == "" {
		return nil, fmt.Errorf("enroll: the collector's answer has no agent id or credential; is %s an Annexa collector?", baseURL)
	}
	return &out, nil
}
