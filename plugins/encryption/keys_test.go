package encryption

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/annexa/annexa/plugins/sdk"
)

// keyTree writes key and credential files made by the real tools
// (openssl, ssh-keygen) under a dataset root, with the modes an operator
// might leave them at.
func keyTree(t *testing.T) (root string, want map[string]Key) {
	t.Helper()
	root = filepath.Join(t.TempDir(), "datasets")
	run := func(name string, args ...string) {
		t.Helper()
		bin, err := exec.LookPath(name)
		if err != nil {
			t.Fatalf("%s is needed for this test", name)
		}
		if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v %s", name, args, err, out)
		}
	}
	p := func(rel string) string {
		f := filepath.Join(root, rel)
		os.MkdirAll(filepath.Dir(f), 0o755)
		return f
	}
	write := func(rel, content string) {
		if err := os.WriteFile(p(rel), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	run("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", p("tls/server.key"))
	run("openssl", "genrsa", "-traditional", "-out", p("tls/legacy.pem"), "2048")
	run("openssl", "pkcs8", "-topk8", "-v2", "aes256", "-passout", "pass:annexa", "-in", p("tls/server.key"), "-out", p("tls/protected.pem"))
	run("openssl", "req", "-x509", "-key", p("tls/server.key"), "-out", p("tls/server.crt.pem"), "-days", "1", "-subj", "/CN=x")
	run("openssl", "pkcs12", "-export", "-passout", "pass:annexa", "-inkey", p("tls/server.key"), "-in", p("tls/server.crt.pem"), "-out", p("tls/bundle.p12"))
	run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", p("home/.ssh/id_ed25519"))
	run("ssh-keygen", "-q", "-t", "ed25519", "-N", "annexa-pass", "-C", "", "-f", p("home/.ssh/id_rsa"))
	// Cloud credentials in the formats the AWS CLI and gcloud write; the
	// values are not real secrets.
	write("home/.aws/credentials", "[default]\naws_access_key_id = AKIAEXAMPLEEXAMPLE00\naws_secret_access_key = not/a/real/secret/annexa/test/value\n")
	write("gcp/project-0123456789ab.json", `{
  "type": "service_account",
  "project_id": "annexa-test",
  "private_key_id": "0000",
  "private_key": "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n",
  "client_email": "x@annexa-test.iam.gserviceaccount.com"
}`)
	write("gcp/application_default_credentials.json", `{"client_id":"x","client_secret":"y","refresh_token":"z","type":"authorized_user"}`)
	write("data/labels.json", `{"type":"dataset","rows":3}`)
	write("data/notes.key", "this is a Keynote file, not a key")
	os.Chmod(p("tls/server.key"), 0o644) // world-readable: a finding
	os.Chmod(p("tls/legacy.pem"), 0o640) // group-readable: a finding
	os.Chmod(p("home/.aws/credentials"), 0o604)
	os.Symlink(p("tls/server.key"), p("tls/link.pem")) // not followed
	no, yes := boolp(false), boolp(true)
	want = map[string]Key{
		"tls/server.key":       {Type: KeyPrivate, Format: "PRIVATE KEY", PassphraseProtected: no, Mode: "0644", Findings: []string{"world_readable", "group_readable"}},
		"tls/legacy.pem":       {Type: KeyPrivate, Format: "RSA PRIVATE KEY", PassphraseProtected: no, Mode: "0640", Findings: []string{"group_readable"}},
		"tls/protected.pem":    {Type: KeyPrivate, Format: "ENCRYPTED PRIVATE KEY", PassphraseProtected: yes, Mode: "0600", Findings: []string{}},
		"tls/bundle.p12":       {Type: KeyPKCS12, Format: "PKCS12", Mode: "0600", Findings: []string{}},
		"home/.ssh/id_ed25519": {Type: KeySSHPrivate, Format: "OPENSSH PRIVATE KEY", PassphraseProtected: no, Mode: "0600", Findings: []string{}},
		"home/.ssh/id_rsa":     {Type: KeySSHPrivate, Format: "OPENSSH PRIVATE KEY", PassphraseProtected: yes, Mode: "0600", Findings: []string{}},
		"home/.aws/credentials": {Type: KeyAWSCredentials, PassphraseProtected: no, Mode: "0604",
			Findings: []string{"world_readable"}},
		"gcp/project-0123456789ab.json":            {Type: KeyGCPAccount, PassphraseProtected: no, Mode: "0600", Findings: []string{}},
		"gcp/application_default_credentials.json": {Type: KeyGCPUser, PassphraseProtected: no, Mode: "0600", Findings: []string{}},
	}
	return root, want
}

func TestScanKeys(t *testing.T) {
	root, want := keyTree(t)
	keys, sum, err := scanKeys(context.Background(), root, 1000, sdk.NewOwners())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Key{}
	for _, k := range keys {
		rel, _ := filepath.Rel(root, k.Path)
		got[rel] = k
	}
	for rel, w := range want {
		k, ok := got[rel]
		if !ok {
			t.Errorf("%s not found", rel)
			continue
		}
		if k.Type != w.Type || k.Format != w.Format || (k.PassphraseProtected == nil) != (w.PassphraseProtected == nil) ||
			(k.PassphraseProtected != nil && *k.PassphraseProtected != *w.PassphraseProtected) || k.Mode != w.Mode ||
			!slices.Equal(k.Findings, w.Findings) || k.Source != root || k.Owner == "" || k.Size == 0 || k.Error != "" {
			t.Errorf("%s = %+v, want %+v", rel, k, w)
		}
	}
	if len(keys) != len(want) {
		t.Errorf("%d keys, want %d: %v", len(keys), len(want), got)
	}
	if sum.Root != root || sum.Keys != len(want) || sum.Truncated || sum.Files < 15 {
		t.Errorf("summary %+v", sum)
	}
	// The scan stops at the bound and says so.
	_, sum, err = scanKeys(context.Background(), root, 3, sdk.NewOwners())
	if err != nil || !sum.Truncated || sum.Files != 3 {
		t.Errorf("bounded: %+v %v", sum, err)
	}
	// A root given as a symlink is walked through.
	link := filepath.Join(t.TempDir(), "link")
	os.Symlink(root, link)
	keys, sum, err = scanKeys(context.Background(), link, 1000, sdk.NewOwners())
	if err != nil || len(keys) != len(want) || sum.Root != link || keys[0].Source != link {
		t.Errorf("symlinked root: %d keys, %+v, %v", len(keys), sum, err)
	}
	if _, _, err := scanKeys(context.Background(), filepath.Join(root, "missing"), 10, sdk.NewOwners()); err == nil {
		t.Error("missing root: no error")
	}
}

// A configured key file is reported whatever its name; the record never
// carries any of the file's bytes.
func TestInspectKeyNoContent(t *testing.T) {
	root, _ := keyTree(t)
	for _, rel := range []string{"tls/server.key", "home/.aws/credentials", "gcp/project-0123456789ab.json", "home/.ssh/id_ed25519"} {
		path := filepath.Join(root, rel)
		k := inspectKey(path, "key_files", sdk.NewOwners())
		content, _ := os.ReadFile(path)
		rec := sdk.Upsert(KindKey, "key:"+path, k)
		b, err := jsonMarshal(rec.Attributes)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(content), "\n") {
			line = strings.TrimSpace(line)
			if len(line) >= 12 && !strings.HasPrefix(line, "-----") && strings.Contains(string(b), line) {
				t.Errorf("%s: record holds content %q: %s", rel, line, b)
			}
		}
	}
	k := inspectKey(filepath.Join(root, "tls/link.pem"), "key_files", sdk.NewOwners())
	if k.Error == "" || k.Type != KeyNone {
		t.Errorf("symlink followed: %+v", k)
	}
	k = inspectKey(filepath.Join(root, "data/labels.json"), "key_files", sdk.NewOwners())
	if k.Type != KeyNone || len(k.Findings) != 0 || k.Error != "" {
		t.Errorf("no key: %+v", k)
	}
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }
