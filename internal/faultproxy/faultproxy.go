// Package faultproxy is a reverse proxy for tests that breaks requests on
// purpose: it resets connections, answers 500, 503 or 429 with Retry-After,
// or stalls past the client's timeout, chosen per request from a schedule
// or at random with a seed. It sits between a real agent and a real (or
// fake) collector, so delivery guarantees are tested against the failures
// a network really produces rather than against mocks.
package faultproxy

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"time"
)

// Fault is what the proxy does with one request.
type Fault int

const (
	// Pass forwards the request and its response unchanged.
	Pass Fault = iota
	// Reset closes the connection with a TCP RST before forwarding: the
	// upstream never sees the request.
	Reset
	// ResetAfterForward forwards the request, then resets the connection
	// instead of answering: the upstream stored it, the client cannot
	// know, and must resend without causing a duplicate.
	ResetAfterForward
	// Error500 answers 500 without forwarding.
	Error500
	// Unavailable503 answers 503 with Retry-After without forwarding.
	Unavailable503
	// TooMany429 answers 429 with Retry-After without forwarding.
	TooMany429
	// Stall holds the request without answering until the client gives
	// up or Options.StallFor passes, then closes the connection.
	Stall
)

var faultNames = [...]string{"pass", "reset", "reset-after-forward", "500", "503", "429", "stall"}

func (f Fault) String() string {
	if f >= 0 && int(f) < len(faultNames) {
		return faultNames[f]
	}
	return "fault(" + strconv.Itoa(int(f)) + ")"
}

// AllFaults are the faults drawn by default when Options.Probability hits.
var AllFaults = []Fault{Reset, ResetAfterForward, Error500, Unavailable503, TooMany429, Stall}

// Options choose the fault for each request. The n-th request (from 0)
// gets Schedule[n] while the schedule lasts; after it, a fault drawn from
// Faults with Probability, else Pass. Decide, if set, overrides both.
type Options struct {
	Schedule    []Fault
	Probability float64
	Faults      []Fault
	Seed        uint64
	Decide      func(n int, r *http.Request) Fault
	// RetryAfter is sent with 429 and 503, in whole seconds; 0 sends
	// "Retry-After: 0", negative sends none.
	RetryAfter time.Duration
	// StallFor bounds a stall; default one minute.
	StallFor time.Duration
}

// Proxy is a running fault-injecting proxy on 127.0.0.1.
type Proxy struct {
	srv    *httptest.Server
	target string
	opts   Options
	client *http.Client

	mu     sync.Mutex
	rng    *rand.Rand
	n      int
	counts map[Fault]int
}

// New starts a proxy in front of target, a base URL such as
// "http://127.0.0.1:8080".
func New(target string, opts Options) (*Proxy, error) {
	if target == "" {
		return nil, fmt.Errorf("faultproxy: no target URL")
	}
	if opts.Probability < 0 || opts.Probability > 1 {
		return nil, fmt.Errorf("faultproxy: probability %v is not between 0 and 1", opts.Probability)
	}
	if len(opts.Faults) == 0 {
		opts.Faults = AllFaults
	}
	if opts.StallFor <= 0 {
		opts.StallFor = time.Minute
	}
	p := &Proxy{
		target: target, opts: opts, counts: map[Fault]int{},
		rng:    rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)),
		client: &http.Client{Transport: &http.Transport{DisableCompression: true}},
	}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	return p, nil
}

// URL is the proxy's base URL, to give to the client instead of target.
func (p *Proxy) URL() string { return p.srv.URL }

// Close stops the proxy and ends stalled requests.
func (p *Proxy) Close() {
	p.srv.CloseClientConnections()
	p.srv.Close()
	p.client.CloseIdleConnections()
}

// Counts says how many requests got each fault so far.
func (p *Proxy) Counts() map[Fault]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[Fault]int, len(p.counts))
	for k, v := range p.counts {
		out[k] = v
	}
	return out
}

// Requests is the number of requests seen so far.
func (p *Proxy) Requests() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}

func (p *Proxy) choose(r *http.Request) Fault {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.n
	p.n++
	var f Fault
	switch {
	case p.opts.Decide != nil:
		f = p.opts.Decide(n, r)
	case n < len(p.opts.Schedule):
		f = p.opts.Schedule[n]
	case p.opts.Probability > 0 && p.rng.Float64() < p.opts.Probability:
		f = p.opts.Faults[p.rng.IntN(len(p.opts.Faults))]
	}
	p.counts[f]++
	return f
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	switch f := p.choose(r); f {
	case Reset:
		io.Copy(io.Discard, r.Body)
		reset(w)
	case ResetAfterForward:
		resp, err := p.forward(r)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		reset(w)
	case Error500:
		io.Copy(io.Discard, r.Body)
		http.Error(w, `{"error":"faultproxy: injected 500"}`, http.StatusInternalServerError)
	case Unavailable503, TooMany429:
		io.Copy(io.Discard, r.Body)
		if p.opts.RetryAfter >= 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(p.opts.RetryAfter/time.Second)))
		}
		code := http.StatusServiceUnavailable
		if f == TooMany429 {
			code = http.StatusTooManyRequests
		}
		http.Error(w, fmt.Sprintf(`{"error":"faultproxy: injected %d"}`, code), code)
	case Stall:
		io.Copy(io.Discard, r.Body)
		t := time.NewTimer(p.opts.StallFor)
		defer t.Stop()
		select {
		case <-r.Context().Done():
		case <-t.C:
		}
		reset(w)
	default:
		resp, err := p.forward(r)
		if err != nil {
			http.Error(w, "faultproxy: upstream: "+err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, vs := range resp.Header {
			w.Header()[k] = vs
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}
}

func (p *Proxy) forward(r *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, p.target+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header = r.Header.Clone()
	return p.client.Do(req)
}

// reset drops the client's connection with an RST rather than a FIN, as a
// crashed peer or a middlebox would.
func reset(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("faultproxy: connection cannot be hijacked")
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}
