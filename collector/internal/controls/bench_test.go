package controls

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkEvaluate judges every check over a synthetic fleet of 1,000
// hosts with 50 datasets and 10 models each.
func BenchmarkEvaluate(b *testing.B) {
	var in Input
	in.Now = now
	for h := range 1000 {
		id := fmt.Sprintf("h%d", h)
		in.Agents = append(in.Agents, agent(id, time.Minute))
		in.Records = append(in.Records, scan(id, time.Hour), health(id, "ok"), pluginScan(id, "models", time.Hour), pluginHealth(id, "models", "ok"))
		for d := range 50 {
			in.Records = append(in.Records, dataset(id, fmt.Sprintf("/srv/ml/datasets/d%d", d), d == 0))
		}
		for m := range 10 {
			in.Records = append(in.Records, anyRec(id, "model", fmt.Sprintf("model:/srv/ml/models/m%d", m), "models", time.Hour,
				`{"path":"/srv/m","format":"safetensors","unsafe":false,"license":"mit","has_model_card":true,"owner":"a","sha256":"ab","mode":"0640","source":"internal"}`))
		}
	}
	e := Default()
	b.ResetTimer()
	for b.Loop() {
		e.Evaluate(in)
	}
}
