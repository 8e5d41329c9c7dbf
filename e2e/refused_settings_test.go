package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestRefusedSettingsInStatus: a plugin that refuses its settings is
// reported, in `annexa-agent status` and in the plugin.health evidence the
// collector stores, as degraded with an error that says it refused its
// settings and names the field, not as crashed with a bare field path.
func TestRefusedSettingsInStatus(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	c := newCollector(t, "")
	c.start()
	p := datasetsPlugin(datasetTree(t))
	p.yaml += "\nno_such_setting: 1"
	a := newAgent(t, c.url, p)
	a.enroll(c)
	a.start()
	const want = "plugin datasets refused its settings, so it collects nothing: plugins.datasets.no_such_setting: is not a setting of this plugin"
	var out string
	waitFor(t, "status to show the refused settings", 30*time.Second, func() bool {
		out, _ = a.exec("status", "--config", a.config)
		return strings.Contains(out, "plugin datasets   degraded: "+want)
	})
	waitFor(t, "the collector to store the plugin's health", 30*time.Second, func() bool {
		return c.tryCount(`SELECT count(*) FROM current WHERE kind = 'plugin.health' AND subject = 'plugin:datasets' AND attributes LIKE '%refused its settings%no_such_setting%'`) == 1
	})
	a.stop()
}
