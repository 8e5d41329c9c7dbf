package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestProgressLines(t *testing.T) {
	var buf bytes.Buffer
	clock := time.Unix(0, 0)
	p := &progress{w: &buf, now: func() time.Time { return clock }}
	p.begin("datasets")
	p.add(3, 1536)
	clock = clock.Add(1500 * time.Millisecond)
	p.mu.Lock()
	mid := p.line(false, nil)
	p.mu.Unlock()
	if !strings.Contains(mid, "3 records  1.5 KiB  2 records/s  0:01") {
		t.Errorf("running line %q", mid)
	}
	p.end(nil)
	if !strings.HasSuffix(buf.String(), "\r\033[Kdatasets     done: 3 records, 1.5 KiB of evidence in 1.5s\n") {
		t.Errorf("final output %q", buf.String())
	}
	buf.Reset()
	p.begin("models")
	p.end(errors.New("boom"))
	if !strings.Contains(buf.String(), "models       failed after 0 records in 0s: boom\n") {
		t.Errorf("failure line %q", buf.String())
	}
	// A nil progress, as piped runs get, does nothing and does not panic.
	var none *progress
	none.begin("x")
	none.add(1, 1)
	none.end(nil)
	if newProgress("-") != nil {
		t.Error("progress is on while the test's stderr is not a terminal")
	}
}
