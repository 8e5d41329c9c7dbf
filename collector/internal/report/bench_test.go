package report

import (
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/annexa/annexa/collector/internal/store"
)

// largeFleet is hosts hosts with ten datasets, ten models and the rest of
// a host's evidence each; every tenth dataset is world-readable and every
// tenth model unsafe, so failing subjects scale with the fleet.
func largeFleet(hosts int) *store.Snapshot {
	snap := &store.Snapshot{}
	for h := range hosts {
		id, host := fmt.Sprintf("a%05d", h), fmt.Sprintf("gpu%05d", h)
		snap.Agents = append(snap.Agents, store.Agent{ID: id, Host: host, AgentVersion: "0.1.0", EnrolledAt: now.Add(-time.Hour), LastSeenAt: now.Add(-time.Minute),
			Status: &store.AgentStatus{Host: host, Plugins: []store.PluginStatus{{Name: "datasets", State: "ok"}, {Name: "models", State: "ok"}}}})
		seq := uint64(0)
		add := func(kind, subject, plugin, attrs string) {
			seq++
			snap.Current = append(snap.Current, cur(id, host, kind, subject, plugin, time.Minute, seq, attrs))
		}
		add("host", "host:"+host, "agent", `{"hostname":"`+host+`"}`)
		for _, p := range []string{"datasets", "models", "access", "encryption"} {
			add("plugin.health", "plugin:"+p, "agent", `{"plugin":"`+p+`","state":"ok"}`)
			add("scan.complete", "scan:"+p, "agent", `{"plugin":"`+p+`","kinds":[],"roots":["/srv/ml"],"started_at":"2026-03-01T11:58:00Z"}`)
		}
		for i := range 10 {
			p := fmt.Sprintf("/srv/ml/datasets/d%d", i)
			add("dataset", "dataset:"+p, "datasets", fmt.Sprintf(`{"path":%q,"mode":"0750","world_readable":%v,"license":"CC-BY-4.0","has_datasheet":true,"sha256":"%064x","pii":{"email":3},"classification":"internal","size_bytes":1000,"file_count":3}`, p, i == 0, i))
			m := fmt.Sprintf("/srv/ml/models/m%d.safetensors", i)
			add("model", "model:"+m, "models", fmt.Sprintf(`{"path":%q,"format":"safetensors","sha256":"%064x","parameters":1000,"license":"mit","unsafe":%v,"findings":[]}`, m, i, i == 0))
		}
		add("encryption.volume", "volume:/dev/nvme0n1p2", "encryption", `{"device":"/dev/nvme0n1p2","encrypted":true,"scheme":"luks2","covers":["/srv/ml"]}`)
		add("encryption.endpoint", "endpoint:127.0.0.1:8443", "encryption", `{"address":"127.0.0.1:8443","tls_version":"TLS1.3","verified":true}`)
		add("access.summary", "access-summary:auth.log:/var/log/auth.log", "access", `{"source":"auth.log","anomalies":[]}`)
		for i := range 20 {
			add("access.event", fmt.Sprintf("access:1:2:%d", i), "access", `{"source":"auth.log","actor":"ml","action":"login","result":"success"}`)
		}
	}
	return snap
}

// BenchmarkExports renders every format for a 1,000-host fleet (52,000
// records). Run by make bench; docs/performance.md has the numbers.
func BenchmarkExports(b *testing.B) {
	r := Build(largeFleet(1000), now, Options{})
	for _, f := range Formats() {
		b.Run(f, func(b *testing.B) {
			var n countWriter
			for b.Loop() {
				n = 0
				if err := Write(&n, f, r); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)/1e6, "MB")
		})
	}
}

type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) { *c += countWriter(len(p)); return len(p), nil }

var _ io.Writer = (*countWriter)(nil)
