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

// benchFleet is BenchmarkEvaluate's fleet: hosts hosts with 50 datasets and
// 10 models each.
func benchFleet(hosts int) Input {
	var in Input
	in.Now = now
	for h := range hosts {
		id := fmt.Sprintf("h%05d", h)
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
	return in
}

// BenchmarkStateNew builds a kept State over BenchmarkEvaluate's fleet: the
// full pass of serve.
func BenchmarkStateNew(b *testing.B) {
	in := benchFleet(1000)
	e := Default()
	for b.Loop() {
		e.NewState(in)
	}
}

// BenchmarkStateUpdate applies a batch of 1,000 changed datasets from one
// host to a kept State of 1,000 hosts.
func BenchmarkStateUpdate(b *testing.B) {
	in := benchFleet(1000)
	st := Default().NewState(in)
	seq := uint64(1)
	for b.Loop() {
		var d Delta
		for i := range 1000 {
			seq++
			r := dataset("h00000", fmt.Sprintf("/srv/ml/datasets/n%d", i), i%10 == 0)
			r.Seq = seq
			d.Upserts = append(d.Upserts, r)
		}
		st.Update(d, now)
	}
}

// BenchmarkStateResults builds a State and its full results: what a report
// from a kept evaluation costs, next to BenchmarkEvaluate.
func BenchmarkStateResults(b *testing.B) {
	in := benchFleet(1000)
	e := Default()
	for b.Loop() {
		e.NewState(in).Results()
	}
}
