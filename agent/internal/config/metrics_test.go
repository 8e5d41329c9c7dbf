package config

import (
	"strings"
	"testing"
)

func TestMetricsListen(t *testing.T) {
	base := "collector: {url: http://127.0.0.1:8080}\nplugins: {datasets: {}}\n"
	for _, tc := range []struct {
		line, want, err string
	}{
		{"", "127.0.0.1:9465", ""},
		{"metrics_listen: off\n", "", ""},
		{"metrics_listen: \"\"\n", "", ""},
		{"metrics_listen: \"[::1]:9100\"\n", "[::1]:9100", ""},
		{"metrics_listen: 9465\n", "", "metrics_listen: must be a string"},
		{"metrics_listen: localhost\n", "", `agent.yaml:3: metrics_listen: "localhost" is not host:port`},
	} {
		cfg, err := Parse("agent.yaml", []byte(base+tc.line))
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want %q", tc.line, err, tc.err)
			}
		case err != nil:
			t.Errorf("%q: %v", tc.line, err)
		case cfg.MetricsListen != tc.want:
			t.Errorf("%q: metrics_listen %q, want %q", tc.line, cfg.MetricsListen, tc.want)
		}
	}
}
