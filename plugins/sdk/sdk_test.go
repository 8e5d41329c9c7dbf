package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestConfigDecodeNamesTheField(t *testing.T) {
	var s struct {
		Roots []string `json:"roots"`
		Limit int      `json:"limit"`
	}
	cases := []struct {
		raw, field, msg string
	}{
		{`{"rots": ["/x"]}`, "rots", "is not a setting"},
		{`{"limit": "many"}`, "limit", "must be int"},
		{`{"roots": "/x"}`, "roots", "must be []string"},
	}
	for _, tc := range cases {
		err := Config{Raw: json.RawMessage(tc.raw)}.Decode(&s)
		var fe FieldErrors
		if !errors.As(err, &fe) || len(fe) != 1 || fe[0].Field != tc.field || !strings.Contains(fe[0].Message, tc.msg) {
			t.Errorf("%s: err = %#v", tc.raw, err)
		}
	}
	for _, empty := range []string{"", "null", "  "} {
		if err := (Config{Raw: json.RawMessage(empty)}).Decode(&s); err != nil {
			t.Errorf("empty settings %q: %v", empty, err)
		}
	}
}

func TestToEvidenceChecksWhatTheAgentWill(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))
	r, err := toEvidence(Upsert("dataset", "dataset:/a", map[string]int{"n": 1}), now)
	if err != nil {
		t.Fatal(err)
	}
	if r.ObservedAt != now.UTC() || r.ObservedAt.Location() != time.UTC || string(r.Attributes) != `{"n":1}` || r.Schema != 1 {
		t.Errorf("record = %+v", r)
	}
	if r, err := toEvidence(Delete("dataset", "dataset:/a"), now); err != nil || string(r.Attributes) != "{}" {
		t.Errorf("delete = %+v, %v", r, err)
	}
	bad := []Record{
		{Kind: "Bad Kind", Subject: "x", Op: OpUpsert},
		{Kind: "dataset", Subject: "", Op: OpUpsert},
		{Kind: "dataset", Subject: "x", Op: "merge"},
		{Kind: "dataset", Subject: "x", Op: OpUpsert, Attributes: []int{1}},
		{Kind: "dataset", Subject: "x", Op: OpUpsert, Attributes: func() {}},
	}
	for _, b := range bad {
		if _, err := toEvidence(b, now); err == nil {
			t.Errorf("accepted %+v", b)
		}
	}
}

func TestByteRate(t *testing.T) {
	ctx := context.Background()
	r := NewByteRate(1 << 20)
	start := time.Now()
	r.Wait(ctx, 1<<20) // the one-second burst
	if err := r.Wait(ctx, 512<<10); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 400*time.Millisecond {
		t.Errorf("1.5 MiB at 1 MiB/s took %v", d)
	}
	// Reads larger than the burst wait for several bursts, not fail.
	small := NewByteRate(64 << 10)
	start = time.Now()
	if err := small.Wait(ctx, 160<<10); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < time.Second {
		t.Errorf("160 KiB at 64 KiB/s after a 64 KiB burst took %v", d)
	}
	var unlimited *ByteRate = NewByteRate(0)
	if err := unlimited.Wait(ctx, 1<<40); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := r.Wait(cctx, 1); err == nil {
		t.Error("Wait ignored a cancelled context")
	}
}
