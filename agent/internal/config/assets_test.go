package config

import (
	"encoding/json"
	"reflect"
	"testing"
)

// TestAccessGetsAssetRoots: the access plugin maps accessed paths with the
// datasets and models plugins' roots unless its own section names others;
// a disabled plugin lends none.
func TestAccessGetsAssetRoots(t *testing.T) {
	cases := []struct {
		name, yaml string
		want       map[string]any
	}{
		{
			name: "borrowed",
			yaml: `plugins:
  datasets: {roots: [/srv/ml/datasets, /data]}
  models: {roots: [/srv/ml/models]}
  access: {auth_logs: [/var/log/auth.log]}
`,
			want: map[string]any{"auth_logs": []any{"/var/log/auth.log"}, "dataset_roots": []any{"/srv/ml/datasets", "/data"}, "model_roots": []any{"/srv/ml/models"}},
		},
		{
			name: "own roots win",
			yaml: `plugins:
  datasets: {roots: [/srv/ml/datasets]}
  models: {roots: [/srv/ml/models]}
  access: {dataset_roots: [/mnt/only-this], model_roots: []}
`,
			want: map[string]any{"dataset_roots": []any{"/mnt/only-this"}, "model_roots": []any{}},
		},
		{
			name: "disabled lends nothing",
			yaml: `plugins:
  datasets: {roots: [/srv/ml/datasets], enabled: false}
  access: {journal: true}
`,
			want: map[string]any{"journal": true},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Parse("a.yaml", []byte("collector: {url: \"https://c.example:8443\"}\n"+c.yaml))
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range cfg.Plugins {
				if p.Name != "access" {
					continue
				}
				var got map[string]any
				if err := json.Unmarshal(p.Settings, &got); err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, c.want) {
					t.Errorf("access settings = %v, want %v", got, c.want)
				}
				return
			}
			t.Fatal("no access plugin")
		})
	}
}
