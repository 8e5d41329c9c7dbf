package store

import (
	"encoding/json"
	"testing"
	"time"
)

// FuzzException feeds API bodies to the exception decoder, validation and
// pattern matching: whatever comes in is refused with an error or matched
// without a panic.
func FuzzException(f *testing.F) {
	f.Add([]byte(`{"check_id":"datasets.not_world_readable","subject_pattern":"dataset:/srv/ml/scratch/**","owner":"o","approver":"a","reason":"r","expires_at":"2026-06-01T00:00:00Z"}`), "dataset:/srv/ml/scratch/a/b", "gpu1")
	f.Add([]byte(`{"check_id":"x","subject_pattern":"{a,b}[!c]?*","host_pattern":"gpu-{1,2}","owner":"o","approver":"a","reason":"r","expires_at":"2026-04-01T00:00:00Z"}`), "ad", "gpu-1")
	f.Add([]byte(`{"subject_pattern":"[","expires_at":"x"}`), "[", "")
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte, subject, host string) {
		var n NewException
		if json.Unmarshal(body, &n) != nil {
			return
		}
		if n.Validate(now) != nil {
			return
		}
		e := Exception{CheckID: n.CheckID, SubjectPattern: n.SubjectPattern, HostPattern: n.HostPattern, ExpiresAt: n.ExpiresAt}
		e.Matches(subject, host)
		if !e.Active(now) {
			t.Errorf("a valid exception is not active when created: expires %s", e.ExpiresAt)
		}
	})
}
