package lineage

import (
	"fmt"
	"testing"
)

// BenchmarkJoin joins a 10,000-host fleet: 10 datasets and 10 models per
// host (200,000 assets). Every model names its host's own dataset, a hub
// dataset cached on every host, and one no host holds; a tenth of the
// datasets hold personal data. Run by make bench; docs/performance.md has
// the figures.
func BenchmarkJoin(b *testing.B) {
	var assets []Asset
	for h := range 10_000 {
		agent, host := fmt.Sprintf("a%05d", h), fmt.Sprintf("gpu%05d", h)
		assets = append(assets, ds(agent, host, "/hub/common", `{"path":"/hub/common","name":"org/common","names":["org/common"],"personal_data":false,"classification":"public"}`))
		for i := range 9 {
			dir := fmt.Sprintf("/srv/ml/datasets/d%d", i)
			assets = append(assets, ds(agent, host, dir, fmt.Sprintf(`{"path":%q,"name":"d%d","names":["d%d"],"personal_data":%v,"pii":{"email":%d},"classification":"internal"}`,
				dir, i, i, i == 0, map[bool]int{true: 3}[i == 0])))
		}
		for i := range 10 {
			assets = append(assets, model(agent, host, fmt.Sprintf("/srv/ml/models/m%d.safetensors", i), fmt.Sprintf("d%d", i%9), "hf://datasets/org/common", "org/nowhere"))
		}
	}
	b.ResetTimer()
	for b.Loop() {
		g := Join(assets)
		if len(g.Models) != 100_000 || len(g.TrainedOnPersonalData()) == 0 {
			b.Fatalf("%d models", len(g.Models))
		}
	}
	b.ReportMetric(float64(len(assets)), "assets")
}
