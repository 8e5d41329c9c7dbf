package controls

import (
	"testing"
	"time"
)

// Table cases for the model checks appended to checks.yaml (models
// evidence issue); kept in their own file so the shared table need not
// change.
func init() {
	type tc = struct {
		good, bad           string
		goodExtra, badExtra []Record
	}
	subjectCases["models.signature_intact"] = tc{
		good: `{"signature":{"path":"/m/model.sig","digests_match":true,"verified":true},"findings":[]}`,
		bad: `{"signature":{"path":"/m/model.sig","digests_match":false,"verified":true},
			"findings":[{"rule":"signature.digest_mismatch","severity":"high","detail":"x"}]}`}
	subjectCases["models.lineage_recorded"] = tc{
		good: `{"base_model":["meta-llama/Llama-3.2-1B"],"source":"","datasets":["tatsu-lab/alpaca"]}`,
		bad:  `{"source":"internal:run-42"}`}
}

// TestModelCheckScope: the supplier, lineage and signature checks judge
// only the models they are about, and a valid signature that does not
// verify fails the intact check even when the digests match.
func TestModelCheckScope(t *testing.T) {
	in := func(attrs string) Input {
		return Input{Agents: []Agent{agent("a", time.Minute)}, Now: now,
			Records: []Record{pluginScan("a", "models", time.Hour), anyRec("a", "model", "model:/m/x", "models", time.Hour, attrs)}}
	}
	// skip: the check does not apply to the model (no subject judged).
	const skip Status = "skip"
	for _, c := range []struct {
		check, attrs string
		want         Status
	}{
		{"models.third_party.signed_or_pinned", `{"third_party":false,"source":"internal","pinned":false}`, skip},
		{"models.third_party.signed_or_pinned", `{"third_party":true,"source":"huggingface:org/m","signed":true,"pinned":false}`, Compliant},
		{"models.deployed.signed", `{"deployed":true,"signed":false,"pinned":true,"sha256":"ab"}`, Compliant},
		{"models.deployed.signed", `{"deployed":false,"signed":false,"pinned":false}`, skip},
		{"models.lineage_recorded", `{"source":"huggingface:org/m"}`, skip},
		{"models.lineage_recorded", `{"source":"internal","datasets":["iris"]}`, Compliant},
		{"models.signature_intact", `{"source":""}`, skip},
		{"models.signature_intact", `{"signature":{"path":"/m/model.sig","digests_match":true},"findings":[{"rule":"signature.invalid","severity":"high"}]}`, Noncompliant},
	} {
		r := checkResult(t, Default(), c.check, in(c.attrs))
		got := r.Status
		if r.Applicable == 0 && r.Status == Compliant {
			got = skip
		}
		if got != c.want || len(r.Errors) > 0 {
			t.Errorf("%s on %s: %s, %d applicable (%s, %v), want %s", c.check, c.attrs, r.Status, r.Applicable, r.Explanation, r.Errors, c.want)
		}
	}
}
