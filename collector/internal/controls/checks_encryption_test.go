package controls

import (
	"strings"
	"testing"
	"time"
)

// Table cases for the encryption checks appended to checks.yaml; kept in
// their own file so the shared table need not change.
func init() {
	subjectCases["swap.encrypted"] = struct {
		good, bad           string
		goodExtra, badExtra []Record
	}{good: `{"path":"/dev/dm-1","scheme":"plain-dm-crypt","encrypted":true}`, bad: `{"path":"/swap.img","scheme":"none","encrypted":false}`}
	subjectCases["keys.not_readable_by_others"] = struct {
		good, bad           string
		goodExtra, badExtra []Record
	}{good: `{"path":"/srv/ml/tls/k.pem","type":"private_key","mode":"0600","owner":"svc","world_readable":false,"group_readable":false}`,
		bad: `{"path":"/srv/ml/tls/k.pem","type":"private_key","mode":"0644","owner":"svc","world_readable":true,"group_readable":true}`}
	subjectCases["endpoints.key_strength"] = struct {
		good, bad           string
		goodExtra, badExtra []Record
	}{good: `{"key_type":"ECDSA","key_bits":256}`, bad: `{"key_type":"RSA","key_bits":1024}`}
	subjectCases["endpoints.no_legacy_tls"] = struct {
		good, bad           string
		goodExtra, badExtra []Record
	}{good: `{"accepts_legacy_tls":false}`, bad: `{"accepts_legacy_tls":true,"legacy_versions":["TLS1.0"]}`}
	subjectCases["volumes.luks_kdf_strength"] = struct {
		good, bad           string
		goodExtra, badExtra []Record
	}{good: `{"device":"/dev/sda2","luks":{"version":2,"slots":[{"slot":0,"kdf":"argon2id","time":4,"memory_kib":1048576},{"slot":1,"kdf":"pbkdf2","iterations":2000000}]}}`,
		bad: `{"device":"/dev/sda2","luks":{"version":1,"slots":[{"slot":0,"kdf":"pbkdf2","iterations":1000}]}}`}
	subjectCases["volumes.luks_header_intact"] = struct {
		good, bad           string
		goodExtra, badExtra []Record
	}{good: `{"device":"/dev/sda2","luks":{"version":2,"checksum":"ok"}}`,
		bad: `{"device":"/dev/sda2","luks":{"version":2,"checksum":"ok","primary_damaged":"LUKS2 header checksum does not match"}}`}
}

// Swap in RAM is not judged; swap the plugin could not judge is
// insufficient evidence, never a pass or a failure; a key file holding no
// key is not judged.
func TestEncryptionChecksNotApplicable(t *testing.T) {
	in := func(kind, attrs string) Input {
		return Input{Agents: []Agent{agent("a", time.Minute)}, Now: now,
			Records: []Record{pluginScan("a", "encryption", time.Hour), anyRec("a", kind, "x:1", "encryption", time.Hour, attrs)}}
	}
	if r := checkResult(t, Default(), "swap.encrypted", in("encryption.swap", `{"path":"/dev/zram0","scheme":"zram","encrypted":null}`)); r.Status == Noncompliant || len(r.Failing) != 0 {
		t.Errorf("zram: %s %v", r.Status, r.Failing)
	}
	r := checkResult(t, Default(), "swap.encrypted", in("encryption.swap", `{"path":"/dev/sdz","scheme":"unknown","encrypted":null}`))
	if r.Status != InsufficientEvidence || len(r.Errors) != 1 || !strings.Contains(r.Errors[0], "encryption_undetermined") {
		t.Errorf("undetermined swap: %s %v %v", r.Status, r.Failing, r.Errors)
	}
	if r := checkResult(t, Default(), "keys.not_readable_by_others", in("encryption.key", `{"path":"/k","type":"none","world_readable":true,"group_readable":true}`)); len(r.Failing) != 0 {
		t.Errorf("no key: %s %v", r.Status, r.Failing)
	}
}
