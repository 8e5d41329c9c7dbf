package report

import (
	"bytes"
	"strings"
	"testing"

	"github.com/annexa/annexa/collector/internal/controls"
)

// TestFailuresUnderTheirCheck: a control failed by two checks about
// different kinds lists each check's failures under that check's own
// explanation, the worst check (the control's explanation) first.
func TestFailuresUnderTheirCheck(t *testing.T) {
	datasets := controls.CheckResult{ID: "datasets.licensed", Status: controls.Noncompliant,
		Explanation: "2 of 3 dataset records fail: every dataset has a known licence.",
		Failing:     []controls.Subject{{Subject: "dataset:/a", Host: "gpu1"}, {Subject: "dataset:/b", Host: "gpu1"}}}
	models := controls.CheckResult{ID: "models.licensed", Status: controls.Noncompliant,
		Explanation: "1 of 4 model records fail: every model has a known licence.",
		Failing:     []controls.Subject{{Subject: "model:/m.pt", Host: "gpu1"}}}
	stale := controls.CheckResult{ID: "volumes.encrypted", Status: controls.InsufficientEvidence,
		Explanation: "No host completed a scan with a healthy encryption plugin within 24h0m0s, so this cannot be judged."}
	passing := controls.CheckResult{ID: "keys.ok", Status: controls.Compliant, Explanation: "All 2 encryption.key records pass."}
	c := controls.Result{ControlID: "iso27001-2022/5.32", Status: controls.Noncompliant,
		Explanation: datasets.Explanation, Checks: []controls.CheckResult{models, passing, datasets, stale}}
	var buf bytes.Buffer
	writeCheckFailures(&buf, c)
	want := strings.Join([]string{
		"\t\t  fails: dataset:/a on gpu1 (datasets.licensed)",
		"\t\t  fails: dataset:/b on gpu1 (datasets.licensed)",
		"\t\t1 of 4 model records fail: every model has a known licence. (models.licensed)",
		"\t\t  fails: model:/m.pt on gpu1 (models.licensed)",
		"\t\tNo host completed a scan with a healthy encryption plugin within 24h0m0s, so this cannot be judged. (volumes.encrypted)",
	}, "\n") + "\n"
	if buf.String() != want {
		t.Errorf("got\n%s\nwant\n%s", buf.String(), want)
	}
}
