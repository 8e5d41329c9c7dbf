package config

import (
	"strings"
	"testing"
)

func TestScanDatasetRoots(t *testing.T) {
	const head = "collector: {url: \"https://c.example:8443\"}\nplugins:\n"
	cfg, err := Parse("a.yaml", []byte(head+"  datasets:\n    roots: [/srv/ml/datasets, /data]\n  models:\n    roots: [/srv/ml/models]\n    scan_dataset_roots: true\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range cfg.Plugins {
		want := map[string]string{
			"datasets": `{"roots":["/srv/ml/datasets","/data"]}`,
			"models":   `{"dataset_roots":["/srv/ml/datasets","/data"],"roots":["/srv/ml/models"],"scan_dataset_roots":true}`,
		}[p.Name]
		if string(p.Settings) != want {
			t.Errorf("%s settings %s, want %s", p.Name, p.Settings, want)
		}
	}
	// Off, the settings pass through untouched.
	cfg, err = Parse("a.yaml", []byte(head+"  datasets:\n    roots: [/d]\n  models:\n    roots: [/m]\n    scan_dataset_roots: false\n"))
	if err != nil || string(cfg.Plugins[1].Settings) != `{"roots":["/m"],"scan_dataset_roots":false}` {
		t.Errorf("off: %v %s", err, cfg.Plugins[1].Settings)
	}
	for _, c := range []struct{ yaml, want string }{
		{"  models:\n    roots: [/m]\n    scan_dataset_roots: true\n", "a.yaml:5: plugins.models.scan_dataset_roots: needs the datasets plugin's roots"},
		{"  datasets:\n    roots: [/d]\n  models:\n    roots: [/m]\n    scan_dataset_roots: true\n    dataset_roots: [/x]\n", "a.yaml:8: plugins.models.dataset_roots: is filled in by the agent"},
	} {
		if _, err := Parse("a.yaml", []byte(head+c.yaml)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.yaml, err, c.want)
		}
	}
}
