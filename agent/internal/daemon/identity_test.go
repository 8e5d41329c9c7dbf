package daemon

import (
	"errors"
	"strings"
	"testing"
)

// TestNotEnrolledSaysHowToEnroll: the first thing a new host prints must
// lead to an enrollment that works, and over TLS to a collector with its
// own CA that needs the CA's fingerprint: a hint without it ends in
// "certificate signed by unknown authority".
func TestNotEnrolledSaysHowToEnroll(t *testing.T) {
	dir := t.TempDir()
	_, err := LoadCredentials(dir)
	if !errors.Is(err, ErrNotEnrolled) {
		t.Fatalf("LoadCredentials(empty) = %v, want ErrNotEnrolled", err)
	}
	for _, want := range []string{dir, "annexa-agent enroll --token TOKEN --ca-fingerprint sha256:HEX", "annexa-collector token create", "annexa-collector init"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %q", err, want)
		}
	}
}
