package controls

import (
	"testing"
	"time"
)

// Files with credentials embedded in their text (the encryption plugin's
// secret scan: type embedded_secret) are judged by the key check: one
// others can read fails it, one only its owner can read passes.
func TestEmbeddedSecretsJudgedAsKeys(t *testing.T) {
	in := func(attrs string) Input {
		return Input{Agents: []Agent{agent("a", time.Minute)}, Now: now,
			Records: []Record{pluginScan("a", "encryption", time.Hour), anyRec("a", "encryption.key", "key:/srv/ml/code/.env", "encryption", time.Hour, attrs)}}
	}
	const secrets = `"secrets":[{"rule":"huggingface.token","severity":"high","line":2,"fingerprint":"00112233445566778899aabbccddeeff","hint":"hf_…"}],"secrets_total":1`
	r := checkResult(t, Default(), "keys.not_readable_by_others", in(`{"path":"/srv/ml/code/.env","type":"embedded_secret","mode":"0644","owner":"ml","world_readable":true,"group_readable":true,`+secrets+`}`))
	if r.Status != Noncompliant || len(r.Failing) != 1 {
		t.Errorf("world-readable .env with a token: %s %v", r.Status, r.Failing)
	}
	r = checkResult(t, Default(), "keys.not_readable_by_others", in(`{"path":"/srv/ml/code/.env","type":"embedded_secret","mode":"0600","owner":"ml","world_readable":false,"group_readable":false,`+secrets+`}`))
	if r.Status != Compliant || len(r.Failing) != 0 {
		t.Errorf(".env readable by its owner only: %s %v", r.Status, r.Failing)
	}
}
