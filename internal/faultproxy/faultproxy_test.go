package faultproxy

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestFaults(t *testing.T) {
	var upstream atomic.Int32
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upstream.Add(1)
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Seen", r.Header.Get("X-Test"))
		w.Write(append([]byte("echo:"), b...))
	}))
	defer up.Close()
	schedule := []Fault{Pass, Reset, ResetAfterForward, Error500, Unavailable503, TooMany429, Stall}
	p, err := New(up.URL, Options{Schedule: schedule, RetryAfter: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	client := &http.Client{Timeout: 300 * time.Millisecond}
	for _, f := range schedule {
		req, _ := http.NewRequest(http.MethodPost, p.URL()+"/v1/ingest?x=1", strings.NewReader("body"))
		req.Header.Set("X-Test", "yes")
		before := upstream.Load()
		resp, err := client.Do(req)
		forwarded := upstream.Load() - before
		switch f {
		case Pass:
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != "echo:body" || resp.Header.Get("X-Seen") != "yes" || forwarded != 1 {
				t.Fatalf("pass: %q %v %d", b, resp.Header, forwarded)
			}
		case Reset, ResetAfterForward:
			if err == nil {
				resp.Body.Close()
				t.Fatalf("%s: got %s", f, resp.Status)
			}
			if want := int32(map[Fault]int{Reset: 0, ResetAfterForward: 1}[f]); forwarded != want {
				t.Fatalf("%s: forwarded %d", f, forwarded)
			}
		case Error500, Unavailable503, TooMany429:
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			want := map[Fault]int{Error500: 500, Unavailable503: 503, TooMany429: 429}[f]
			if resp.StatusCode != want || forwarded != 0 {
				t.Fatalf("%s: %d forwarded %d", f, resp.StatusCode, forwarded)
			}
			if f != Error500 && resp.Header.Get("Retry-After") != "2" {
				t.Fatalf("%s: Retry-After %q", f, resp.Header.Get("Retry-After"))
			}
		case Stall:
			var ne interface{ Timeout() bool }
			if err == nil || !errors.As(err, &ne) || !ne.Timeout() {
				t.Fatalf("stall: %v", err)
			}
		}
	}
	if p.Requests() != len(schedule) || p.Counts()[Stall] != 1 {
		t.Fatalf("counts %v", p.Counts())
	}
}

func TestSeededDrawsRepeat(t *testing.T) {
	draw := func(seed uint64) []Fault {
		p, err := New("http://127.0.0.1:1", Options{Probability: 0.5, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		var out []Fault
		for range 50 {
			out = append(out, p.choose(nil))
		}
		return out
	}
	a, b, c := draw(7), draw(7), draw(8)
	if !equal(a, b) || equal(a, c) {
		t.Fatalf("seed 7: %v / %v; seed 8: %v", a, b, c)
	}
	if _, err := New("", Options{}); err == nil {
		t.Fatal("no target accepted")
	}
	if _, err := New("http://x", Options{Probability: 2}); err == nil {
		t.Fatal("probability 2 accepted")
	}
}

func equal(a, b []Fault) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
