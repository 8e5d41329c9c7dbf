package plugintest

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// recorder keeps what a check reports instead of failing the test.
type recorder struct {
	testing.TB
	msgs []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.msgs = append(r.msgs, fmt.Sprintf(format, args...))
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	runtime.Goexit()
}
func (r *recorder) Fatal(args ...any) { r.Fatalf("%s", fmt.Sprint(args...)) }

func sampleCheck(t *testing.T, sample string, skip ...string) []string {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		SampleSettings(r, sample, "demo", `{"properties": {"roots": {}, "workers": {}, "legacy": {}}}`, skip...)
	}()
	<-done
	return r.msgs
}

func TestSampleSettings(t *testing.T) {
	full := "plugins:\n  demo:\n    roots: [/srv]\n    # workers: 2\n"
	if msgs := sampleCheck(t, full, "legacy"); len(msgs) != 0 {
		t.Errorf("a sample showing every setting: %v", msgs)
	}
	if msgs := sampleCheck(t, full); len(msgs) != 1 || !strings.Contains(msgs[0], "does not show legacy") {
		t.Errorf("a setting not shown: %v", msgs)
	}
	if msgs := sampleCheck(t, "plugins:\n  other: {}\n"); len(msgs) != 1 || !strings.Contains(msgs[0], "no plugins.demo section") {
		t.Errorf("no section: %v", msgs)
	}
	if msgs := sampleCheck(t, "plugins: [\n"); len(msgs) != 1 || !strings.Contains(msgs[0], "sample config") {
		t.Errorf("bad YAML: %v", msgs)
	}
}
