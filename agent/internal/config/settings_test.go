package config

import "testing"

// A plugin's field error is located at the line that sets the field, or
// the closest setting around it, so `config check` can say where to look.
func TestSettingLine(t *testing.T) {
	const doc = `collector:
  url: http://127.0.0.1:1
plugins:
  access:
    interval: 5m
    auth_logs:
      - /var/log/auth.log
      - var/log/secure
    anomalies:
      brute_force: {failures: 5, window: soon}
    http_logs:
      - path: /var/log/nginx/access.log
        format: combined
`
	cfg, err := Parse("agent.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Plugins[0]
	for field, want := range map[string]int{
		"auth_logs":                    6,
		"auth_logs[1]":                 8,
		"anomalies.brute_force.window": 10,
		"http_logs[0].format":          13,
		"http_logs[0].assets":          12, // not in the file: the entry that lacks it
		"no_such_setting":              4,  // nothing: the plugin's section
		"":                             4,
		"interval":                     4, // the agent's key, not a plugin setting
	} {
		if got := p.SettingLine(field); got != want {
			t.Errorf("SettingLine(%q) = %d, want %d", field, got, want)
		}
	}
}
