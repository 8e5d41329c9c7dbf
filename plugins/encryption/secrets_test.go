package encryption

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/annexa/annexa/plugins/sdk"
)

// Test secrets are made at run time from a fixed seed, in each vendor's
// documented shape, so no token-shaped string sits in the source.
const (
	alnum   = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	b32     = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	digits  = "0123456789"
	hexdig  = "0123456789abcdef"
	b64     = alnum + "+/"
	urlsafe = alnum + "_-"
)

type fakeGen struct{ r *mrand.Rand }

func newFake(seed uint64) *fakeGen { return &fakeGen{r: mrand.New(mrand.NewPCG(seed, 42))} }

func (g *fakeGen) s(alphabet string, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[g.r.IntN(len(alphabet))]
	}
	return string(b)
}

// mixed makes n characters holding a lower-case letter, an upper-case
// letter and a digit, as random keys of that length nearly always do.
func (g *fakeGen) mixed(alphabet string, n int) string {
	return "aZ7" + g.s(alphabet, n-3)
}

// testSecrets are one true positive per token rule, by rule id.
type testSecrets map[string]string

func makeSecrets(seed uint64) testSecrets {
	g := newFake(seed)
	return testSecrets{
		RuleHuggingFace:             "hf_" + g.s(letters, 34),
		RuleOpenAI:                  "sk-proj-" + g.s(urlsafe, 60) + "T3BlbkFJ" + g.s(urlsafe, 60),
		RuleOpenAI + "/legacy":      "sk-" + g.s(alnum, 20) + "T3BlbkFJ" + g.s(alnum, 20),
		RuleAnthropic:               "sk-ant-api03-" + g.s(urlsafe, 93) + "AA",
		RuleAWSKeyID:                "AKIA" + g.s(b32, 16),
		RuleAWSSecret:               g.mixed(b64, 40),
		RuleAWSSecret + "/near":     g.mixed(b64, 40),
		RuleGitHub:                  "ghp_" + g.s(alnum, 36),
		RuleGitHub + "/fine":        "github_pat_" + g.s(alnum, 22) + "_" + g.s(alnum, 59),
		RuleGitLab:                  "glpat-" + g.s(urlsafe, 20),
		RuleSlackToken:              "xoxb-" + g.s(digits, 12) + "-" + g.s(digits, 13) + "-" + g.s(alnum, 24),
		RuleSlackWebhook:            "https://hooks.slack.com/services/T" + g.s(b32, 8) + "/B" + g.s(b32, 10) + "/" + g.s(alnum, 24),
		RuleGoogleAPIKey:            "AIza" + g.s(urlsafe, 35),
		RuleStripe:                  "sk_live_" + g.s(alnum, 24),
		RuleWandB:                   g.s(hexdig, 40),
		RuleNetrc:                   g.mixed(alnum, 20),
		RuleURLCredentials:          g.mixed(alnum, 16),
		RuleGenericAssign:           g.mixed(alnum, 12) + "!",
		RuleGenericAssign + "/yaml": g.mixed(alnum, 24),
		RuleGenericAssign + "/py":   g.mixed(alnum, 10) + "#x",
	}
}

// pemKey is a real EC private key in PEM, as Go writes it.
func pemKey(t testing.TB) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// pemBodyStart is what the scanner fingerprints of a PEM block.
func pemBodyStart(block string) string {
	var body strings.Builder
	for _, l := range strings.Split(block, "\n")[1:] {
		if strings.Contains(l, "-----") || strings.Contains(l, ":") {
			continue
		}
		body.WriteString(strings.TrimSpace(l))
	}
	return body.String()[:min(body.Len(), pemBodyFingerprint)]
}

// notebook writes an nbformat 4 notebook the way Jupyter does (keys
// sorted, one-space indent, sources as lists of lines), with a PNG in an
// output, like a saved training notebook.
func notebook(t testing.TB, cells []map[string]any) []byte {
	t.Helper()
	nb := map[string]any{
		"cells": cells,
		"metadata": map[string]any{
			"kernelspec":    map[string]any{"display_name": "Python 3", "language": "python", "name": "python3"},
			"language_info": map[string]any{"name": "python", "version": "3.11.4"},
		},
		"nbformat": 4, "nbformat_minor": 5,
	}
	b, err := json.MarshalIndent(nb, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

func codeCell(id string, source string, outputs ...map[string]any) map[string]any {
	var lines []string
	for _, l := range strings.SplitAfter(source, "\n") {
		if l != "" {
			lines = append(lines, l)
		}
	}
	if outputs == nil {
		outputs = []map[string]any{}
	}
	return map[string]any{"cell_type": "code", "execution_count": 1, "id": id, "metadata": map[string]any{}, "outputs": outputs, "source": lines}
}

func streamOutput(text string) map[string]any {
	return map[string]any{"name": "stdout", "output_type": "stream", "text": []string{text}}
}

// pngOutput is a display_data output holding a real PNG (noise, so its
// base64 is as varied as a plot's).
func pngOutput(t testing.TB, seed uint64) map[string]any { return pngOutputSized(t, seed, 160, 120) }

func pngOutputSized(t testing.TB, seed uint64, w, h int) map[string]any {
	t.Helper()
	r := mrand.New(mrand.NewPCG(seed, 7))
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = uint8(r.IntN(256))
	}
	img.Set(0, 0, color.Black)
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return map[string]any{"data": map[string]any{"image/png": base64.StdEncoding.EncodeToString(buf.Bytes()), "text/plain": []string{"<Figure size 640x480 with 1 Axes>"}},
		"metadata": map[string]any{}, "output_type": "display_data"}
}

// secretTree writes an ML project with leaked credentials and
// look-alikes that must not be reported. It returns the root, the
// secrets, and the findings expected per file (rule ids, in line order).
func secretTree(t testing.TB, sec testSecrets) (root string, want map[string][]string) {
	t.Helper()
	root = filepath.Join(t.TempDir(), "project")
	write := func(rel string, content []byte) {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, content, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	key := pemKey(t)
	write(".env", []byte("# training job settings\n"+
		"HF_TOKEN="+sec[RuleHuggingFace]+"\n"+
		"OPENAI_API_KEY="+sec[RuleOpenAI]+"\n"+
		"ANTHROPIC_API_KEY=\""+sec[RuleAnthropic]+"\"\n"+
		"WANDB_API_KEY="+sec[RuleWandB]+"\n"+
		"DB_PASSWORD="+sec[RuleGenericAssign]+"\n"+
		"DB_PASSWORD_FILE=/run/secrets/db\n"+
		"CUDA_VISIBLE_DEVICES=0,1\n"))
	write("train.py", []byte("import os\nimport boto3\n\n"+
		"s3 = boto3.client(\"s3\",\n    aws_access_key_id=\""+sec[RuleAWSKeyID]+"\",\n    aws_secret_access_key=\""+sec[RuleAWSSecret]+"\")\n"+
		"password = os.environ[\"DB_PASSWORD\"]\n"+
		"token = tokenizer.encode(text)\n"+
		"if line.startswith(\"-----BEGIN PRIVATE KEY-----\"):\n    pass\n"+
		"SIGNING_KEY = \"\"\"\n"+key+"\"\"\"\n"+
		"admin_password = \""+sec[RuleGenericAssign+"/py"]+"\"\n"+
		"checksum = \"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\"\n"+
		"run_id = \"3b6a2c1d-0f4e-4d2a-8c7b-1a2b3c4d5e6f\"\n"))
	write("configs/train.yaml", []byte("model: llama-3-8b\n"+
		"pad_token: \"<pad>\"\neos_token: \"</s>\"\nmax_tokens: 2048\nuse_auth_token: true\n"+
		"secret_name: model-registry-creds\n"+
		"tracking:\n  api_key: \""+sec[RuleGenericAssign+"/yaml"]+"\"\n  password: ${MLFLOW_PASSWORD}\n  db: postgres://trainer:"+sec[RuleURLCredentials]+"@db.internal:5432/runs\n"+
		"notify:\n  slack_webhook: "+sec[RuleSlackWebhook]+"\n  slack_token: "+sec[RuleSlackToken]+"\n"+
		"example_key: AKIAIOSFODNN7EXAMPLE\nstripe_test: sk_test_"+strings.Repeat("4eC39HqLyjWDarjtT1zdp7dc", 1)+"\n"))
	write("deploy.sh", []byte("#!/bin/sh\nexport GITHUB_TOKEN="+sec[RuleGitHub]+"\n"+
		"git clone https://oauth2:"+sec[RuleGitLab]+"@gitlab.example.org/ml/models.git\n"+
		"echo \"aws creds\"\n"+sec[RuleAWSKeyID]+","+sec[RuleAWSSecret+"/near"]+"\n"+
		"curl -H \"Authorization: Bearer $TOKEN\" https://api.example.org\n"))
	write("home/.netrc", []byte("machine api.wandb.ai\n  login user\n  password "+sec[RuleNetrc]+"\nmachine example.org login x password $PASS\n"))
	write("notebooks/explore.ipynb", notebook(t, []map[string]any{
		codeCell("a1", "import pandas as pd\ndf = pd.read_csv('x.csv')\n", pngOutput(t, 1)),
		codeCell("b2", "from huggingface_hub import login\nlogin(token=\""+sec[RuleHuggingFace]+"\")\n"),
		codeCell("c3", "import os\nprint(os.environ['GOOGLE_KEY'])\n", streamOutput(sec[RuleGoogleAPIKey]+"\n")),
		codeCell("d4", "sa = {\"private_key\": \""+strings.ReplaceAll(key, "\n", "\\n")+"\"}\n"),
		codeCell("e5", "# Use a risk-based approach: the sk-learn typo and task-sk-1 are prose\nclient = OpenAI(api_key=\""+sec[RuleOpenAI+"/legacy"]+"\")\n"),
	}))
	write("app/settings.json", []byte(`{"stripe": {"key": "`+sec[RuleStripe]+`"}, "github": "`+sec[RuleGitHub+"/fine"]+`"}`+"\n"))
	// A clean notebook: images, hashes and ids only.
	write("notebooks/clean.ipynb", notebook(t, []map[string]any{
		codeCell("a1", "plt.plot(x)\n", pngOutput(t, 2), pngOutput(t, 3)),
		codeCell("b2", "print(sha256(b).hexdigest())\n", streamOutput("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n3b6a2c1d-0f4e-4d2a-8c7b-1a2b3c4d5e6f\n")),
	}))
	want = map[string][]string{
		".env":                    {RuleHuggingFace, RuleOpenAI, RuleAnthropic, RuleWandB, RuleGenericAssign},
		"train.py":                {RuleAWSKeyID, RuleAWSSecret, RulePEM, RuleGenericAssign},
		"configs/train.yaml":      {RuleGenericAssign, RuleURLCredentials, RuleSlackWebhook, RuleSlackToken},
		"deploy.sh":               {RuleGitHub, RuleGitLab, RuleAWSKeyID, RuleAWSSecret},
		"home/.netrc":             {RuleNetrc},
		"notebooks/explore.ipynb": {RuleHuggingFace, RuleGoogleAPIKey, RulePEM, RuleOpenAI},
		"app/settings.json":       {RuleStripe, RuleGitHub},
	}
	return root, want
}

func testScanner(t testing.TB) *secretScanner {
	key, _, err := loadFingerprintKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return newSecretScanner(key)
}

func defaultSecretOpts(s *secretScanner) *secretOpts {
	return &secretOpts{scanner: s, scope: "host", exclude: DefaultSecretScanExclude, maxFileBytes: defaultSecretMaxFileBytes,
		maxFiles: defaultSecretMaxFiles, maxBytes: defaultSecretMaxBytes, timeout: time.Minute}
}

func rulesOf(k Key) []string {
	var out []string
	for _, s := range k.Secrets {
		out = append(out, s.Rule)
	}
	return out
}

func TestSecretScanTree(t *testing.T) {
	sec := makeSecrets(1)
	root, want := secretTree(t, sec)
	s := testScanner(t)
	keys, sum, err := scanRoot(context.Background(), root, scanOpts{keys: true, maxFiles: 1000, secrets: defaultSecretOpts(s)}, sdk.NewOwners())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Key{}
	for _, k := range keys {
		rel, _ := filepath.Rel(root, k.Path)
		got[rel] = k
	}
	for rel, rules := range want {
		k, ok := got[rel]
		if !ok {
			t.Errorf("%s: nothing found, want %v", rel, rules)
			continue
		}
		if !slices.Equal(rulesOf(k), rules) {
			t.Errorf("%s: rules %v, want %v (%+v)", rel, rulesOf(k), rules, k.Secrets)
		}
		if k.Type != KeyEmbedded || k.SecretsTotal != len(rules) || k.Mode != "0640" || !slices.Equal(k.Findings, []string{"group_readable"}) || k.Source != root {
			t.Errorf("%s: record %+v", rel, k)
		}
		for _, f := range k.Secrets {
			r := secretRuleByID(f.Rule)
			if r == nil || f.Severity != r.Severity || f.Line < 1 || len(f.Fingerprint) != 32 {
				t.Errorf("%s: finding %+v", rel, f)
			}
		}
	}
	if len(keys) != len(want) {
		t.Errorf("%d files reported, want %d: %v", len(keys), len(want), slices.Collect(mapsKeys(got)))
	}
	// Lines, hints and notebook cells.
	env := got[".env"].Secrets
	if env[0].Line != 2 || env[0].Hint != "hf_…" || env[1].Hint != "sk-proj-…" || env[2].Hint != "sk-ant-…" || env[4].Hint != "" || env[0].Cell != nil {
		t.Errorf(".env findings %+v", env)
	}
	nb := got["notebooks/explore.ipynb"].Secrets
	wantCells := []struct {
		cell int
		part string
	}{{1, "source"}, {2, "outputs"}, {3, "source"}, {4, "source"}}
	for i, w := range wantCells {
		if i >= len(nb) || nb[i].Cell == nil || *nb[i].Cell != w.cell || nb[i].Part != w.part {
			t.Errorf("notebook finding %d: %+v, want cell %d %s", i, nb, w.cell, w.part)
			break
		}
	}
	if py := got["train.py"].Secrets; len(py) == 4 && (py[0].Line != 5 || py[1].Line != 6 || py[0].Hint != "AKIA…") {
		t.Errorf("train.py findings %+v", py)
	}
	// The same token gives the same fingerprint in every file; another
	// token another one; and the fingerprint is not a bare hash of it.
	if env[0].Fingerprint != nb[0].Fingerprint {
		t.Errorf("HF token in .env and notebook: %s != %s", env[0].Fingerprint, nb[0].Fingerprint)
	}
	if got["train.py"].Secrets[2].Fingerprint != nb[2].Fingerprint {
		t.Error("the PEM key as a Python string and as an escaped JSON string: fingerprints differ")
	}
	plain := sha256.Sum256([]byte(sec[RuleHuggingFace]))
	if env[0].Fingerprint == env[1].Fingerprint || strings.HasPrefix(hex.EncodeToString(plain[:]), env[0].Fingerprint) {
		t.Errorf("fingerprints %s %s", env[0].Fingerprint, env[1].Fingerprint)
	}
	if ss := sum.SecretScan; ss == nil || ss.Files != 8 || ss.Secrets != 24 || ss.FilesWithSecrets != len(want) || ss.Truncated || ss.Fingerprints != "host" || ss.Bytes == 0 {
		t.Errorf("summary %+v", sum.SecretScan)
	}
	if sum.Keys != 0 {
		t.Errorf("keys %d: embedded secrets are counted apart", sum.Keys)
	}
}

func mapsKeys(m map[string]Key) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// Every rule has a true positive here, and near misses that must stay
// quiet, each in the file type it is typical of.
func TestSecretRules(t *testing.T) {
	sec := makeSecrets(2)
	s := testScanner(t)
	type tc struct {
		file, text string
		want       []string
	}
	key := pemKey(t)
	cases := []tc{
		{"a.env", "HF_TOKEN=" + sec[RuleHuggingFace], []string{RuleHuggingFace}},
		{"a.env", "HF_ORG=api_org_" + sec[RuleHuggingFace][3:], []string{RuleHuggingFace}},
		{"a.py", `openai.api_key = "` + sec[RuleOpenAI] + `"`, []string{RuleOpenAI}},
		{"a.py", `key = '` + sec[RuleOpenAI+"/legacy"] + `'`, []string{RuleOpenAI}},
		{"a.env", "ANTHROPIC_API_KEY=" + sec[RuleAnthropic], []string{RuleAnthropic}},
		{"a.yaml", "id: " + sec[RuleAWSKeyID], []string{RuleAWSKeyID}},
		{"credentials.ini", "aws_secret_access_key = " + sec[RuleAWSSecret], []string{RuleAWSSecret}},
		{"a.json", `{"SecretAccessKey": "` + sec[RuleAWSSecret] + `"}`, []string{RuleAWSSecret}},
		{"a.csv.sh", sec[RuleAWSKeyID] + "\n\n" + sec[RuleAWSSecret+"/near"], []string{RuleAWSKeyID, RuleAWSSecret}},
		{"a.sh", "export GH=" + sec[RuleGitHub], []string{RuleGitHub}},
		{"a.sh", "export GH=" + sec[RuleGitHub+"/fine"], []string{RuleGitHub}},
		{"a.sh", "GL=" + sec[RuleGitLab], []string{RuleGitLab}},
		{"a.yaml", "t: " + sec[RuleSlackToken], []string{RuleSlackToken}},
		{"a.yaml", "hook: " + sec[RuleSlackWebhook], []string{RuleSlackWebhook}},
		{"a.js", "const k = '" + sec[RuleGoogleAPIKey] + "';", []string{RuleGoogleAPIKey}},
		{"a.toml", "stripe = \"" + sec[RuleStripe] + "\"", []string{RuleStripe}},
		{"a.py", "K = '''" + key + "'''", []string{RulePEM}},
		{"a.py", "wandb.login(key=\"" + sec[RuleWandB] + "\")", []string{RuleWandB}},
		{"a.env", "WANDB_API_KEY=local-" + sec[RuleWandB], []string{RuleWandB}},
		{".netrc", "machine api.wandb.ai login user password " + sec[RuleNetrc], []string{RuleNetrc}},
		{"a.conf", "machine h login u password " + sec[RuleNetrc], []string{RuleNetrc}},
		{"a.yaml", "url: mysql://root:" + sec[RuleURLCredentials] + "@10.0.0.5/db", []string{RuleURLCredentials}},
		{"a.env", "SMTP_PASSWORD=" + sec[RuleGenericAssign], []string{RuleGenericAssign}},
		{"a.yaml", "client_secret: " + sec[RuleGenericAssign+"/yaml"], []string{RuleGenericAssign}},
		{"a.py", "hf_token = \"" + sec[RuleGenericAssign+"/py"] + "\"", []string{RuleGenericAssign}},
		{"a.ipynb", `    "db_password = \"` + sec[RuleGenericAssign] + `\"\n",`, []string{RuleGenericAssign}},
		// A token in a generic assignment is reported once, by its rule.
		{"a.yaml", "api_key: " + sec[RuleGoogleAPIKey], []string{RuleGoogleAPIKey}},
		// The README's examples of what the generic rule takes and leaves.
		{"a.yaml", "password: Tr0ub4dor&3", []string{RuleGenericAssign}},
		{"a.yaml", "password: correcthorsebattery", nil},
		// Near misses.
		{"a.py", "x = uuid.UUID('3b6a2c1d-0f4e-4d2a-8c7b-1a2b3c4d5e6f')", nil},
		{"a.yaml", "sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", nil},
		{"a.py", "# a risk-based task-sk-1 for sk-learn; see desk-sk-proj-x", nil},
		{"a.py", "password = os.environ['DB_PASSWORD']", nil},
		{"a.py", "password = get_password()", nil},
		{"a.yaml", "password: ${DB_PASSWORD}", nil},
		{"a.yaml", "password: \"{{ vault_db_password }}\"", nil},
		{"a.yaml", "password: changeme123", nil},
		{"a.yaml", "api_key: \"<your-api-key>\"", nil},
		{"a.yaml", "api_key: YOUR_API_KEY_HERE", nil},
		{"a.yaml", "pad_token: \"<pad>\"", nil},
		{"a.yaml", "bos_token: \"<|begin_of_text|>\"", nil},
		{"a.yaml", "eos_token_id: 128001", nil},
		{"a.yaml", "use_auth_token: true", nil},
		{"a.yaml", "secret: kubernetes-secret-name", nil},
		{"a.yaml", "password: hunter", nil},
		{"a.yaml", "password: aaaaaaaaaaaa", nil},
		{"a.yaml", "password: 1234567890", nil},
		{"a.env", "DB_PASSWORD_FILE=/run/secrets/db_password", nil},
		{"a.py", "if password == \"abc12345XY\": pass", nil},
		{"a.py", "tokenizer = AutoTokenizer.from_pretrained(name, token=hf_token)", nil},
		{"a.py", "hf_hub_download(repo_id='x', filename='y')", nil},
		{"a.yaml", "key: AKIAIOSFODNN7EXAMPLE", nil},
		{"credentials.ini", "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", nil},
		{"a.env", "STRIPE=sk_test_" + sec[RuleStripe][8:], nil},
		{"a.yaml", "slack: xoxb-your-token-here", nil},
		{"a.py", "if l.startswith('-----BEGIN RSA PRIVATE KEY-----'):", nil},
		{"a.md.sh", "echo 'the password is in the vault'", nil},
		{"a.yaml", "url: postgres://user:password@localhost/db", nil},
		{"a.yaml", "url: postgres://user:${PGPASSWORD}@localhost/db", nil},
		{"a.sh", "ghp_short=1; glpat-short", nil},
		{"a.conf", "the password is rotated daily", nil},
		{"a.py", "return f'machine {host} login {self.username} password {self.password}'", nil},
		{"a.sh", "echo \"machine $HOST login $USER password $PASS\" > ~/.netrc", nil},
		{"a.yaml", "commit: 9fceb02d0ae598e95dc970b74767f19372d61af8", nil},
		{"a.yaml", "AKIA" + strings.Repeat("A", 15), nil},
		{"a.py", "x = 'hf_" + strings.Repeat("a", 33) + "'", nil},
	}
	for i, c := range cases {
		res, err := s.scan(strings.NewReader(c.text+"\n"), c.file, 1<<20, nil)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, f := range res.Secrets {
			got = append(got, f.Rule)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("case %d (%s): %q: got %v, want %v", i, c.file, trimForLog(c.text), got, c.want)
		}
	}
	// Every rule id is exercised by a case or the tree.
	covered := map[string]bool{RulePEMEncrypted: true} // TestSecretPEMEncrypted
	for _, c := range cases {
		for _, r := range c.want {
			covered[r] = true
		}
	}
	for _, r := range SecretRules() {
		if !covered[r.ID] {
			t.Errorf("rule %s has no true positive", r.ID)
		}
		if r.Severity != sevHigh && r.Severity != sevMedium || r.Description == "" {
			t.Errorf("rule %s: severity %q, description %q", r.ID, r.Severity, r.Description)
		}
	}
}

// trimForLog keeps test failure messages short; they hold only test data.
func trimForLog(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

// Passphrase-protected keys made by openssl: PKCS#8 ENCRYPTED PRIVATE KEY
// and the legacy Proc-Type form, embedded in a YAML file.
func TestSecretPEMEncrypted(t *testing.T) {
	dir := t.TempDir()
	keyPath := filepath.Join(dir, "k.pem")
	run := func(args ...string) []byte {
		t.Helper()
		out, err := exec.Command("openssl", args...).Output()
		if err != nil {
			t.Fatalf("openssl %v: %v", args, err)
		}
		return out
	}
	run("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", keyPath)
	pkcs8 := run("pkcs8", "-topk8", "-v2", "aes256", "-passout", "pass:annexa", "-in", keyPath)
	legacy := run("ec", "-aes256", "-passout", "pass:annexa", "-in", keyPath)
	plain, _ := os.ReadFile(keyPath)
	s := testScanner(t)
	indent := func(b []byte) string {
		return "    " + strings.ReplaceAll(strings.TrimSpace(string(b)), "\n", "\n    ")
	}
	for name, c := range map[string]struct {
		text string
		want string
	}{
		"pkcs8":  {"tls:\n  key: |\n" + indent(pkcs8) + "\n", RulePEMEncrypted},
		"legacy": {"tls:\n  key: |\n" + indent(legacy) + "\n", RulePEMEncrypted},
		"plain":  {"tls:\n  key: |\n" + indent(plain) + "\n", RulePEM},
	} {
		res, err := s.scan(strings.NewReader(c.text), "values.yaml", 1<<20, nil)
		if err != nil || len(res.Secrets) != 1 || res.Secrets[0].Rule != c.want || res.Secrets[0].Line != 3 {
			t.Errorf("%s: %+v %v", name, res.Secrets, err)
		}
	}
	// OpenSSH keys of one type share their first 50 bytes (magic, cipher,
	// KDF, key type): the fingerprint must still tell two keys apart.
	fp := func(path string) string {
		t.Helper()
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", path).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v %s", err, out)
		}
		b, _ := os.ReadFile(path)
		res, _ := s.scan(strings.NewReader("deploy_key: |\n"+indent(b)+"\n"), "values.yaml", 1<<20, nil)
		if len(res.Secrets) != 1 || res.Secrets[0].Rule != RulePEM {
			t.Fatalf("OpenSSH key: %+v", res.Secrets)
		}
		return res.Secrets[0].Fingerprint
	}
	if a, b := fp(filepath.Join(dir, "id_a")), fp(filepath.Join(dir, "id_b")); a == b {
		t.Errorf("two OpenSSH keys, one fingerprint %s", a)
	}
}

// A token in a line far longer than the window is found once, wherever
// it falls against the window edges.
func TestSecretLongLines(t *testing.T) {
	sec := makeSecrets(3)
	s := testScanner(t)
	tok := sec[RuleGitHub]
	want := s.fingerprint([]byte(tok))
	filler := func(n int) string { return strings.Repeat(`{"a": 1}, `, n/10+1)[:n] }
	edge := secretWindow - secretOverlap
	for _, at := range []int{0, 100, edge - len(tok) - 1, edge - len(tok), edge - 20, edge - 1, edge, edge + 1,
		secretWindow - len(tok), secretWindow - 5, secretWindow, 2*edge - 3, 2*edge + secretOverlap - 10, 300000} {
		line := filler(at) + " " + tok + " " + filler(200000)
		res, err := s.scan(strings.NewReader("{\n"+line+"\n}\n"), "config.json", 1<<22, nil)
		if err != nil || res.Total != 1 || res.Secrets[0].Fingerprint != want || res.Secrets[0].Line != 2 {
			t.Errorf("token at %d: %+v %v", at, res.Secrets, err)
		}
	}
	// A PEM key on one minified line, its body across a window edge.
	key := pemKey(t)
	wantPEM := s.fingerprint([]byte(pemBodyStart(key)))
	for _, at := range []int{edge - 40, edge - 28, edge - 5, edge + 10} {
		line := filler(at) + `"` + strings.ReplaceAll(key, "\n", `\n`) + `"` + filler(100000)
		res, err := s.scan(strings.NewReader(line), "sa.json", 1<<22, nil)
		if err != nil || res.Total != 1 || res.Secrets[0].Fingerprint != wantPEM {
			t.Errorf("PEM at %d: %+v %v", at, res.Secrets, err)
		}
	}
	// The limit bounds what is read.
	res, _ := s.scan(strings.NewReader(filler(1<<20)+tok), "x.yaml", 1<<16, nil)
	if res.Total != 0 || res.Bytes != 1<<16 {
		t.Errorf("limit: %+v", res)
	}
}

// The walk reads only what it should: no symlink (to a file or a folder
// outside the root), no binary, nothing over the size cap, nothing in an
// excluded folder, nothing not named like configuration or code unless
// included; and it stops at its caps and says which.
func TestSecretScanBounds(t *testing.T) {
	sec := makeSecrets(4)
	tok := "HF_TOKEN=" + sec[RuleHuggingFace] + "\n"
	root := filepath.Join(t.TempDir(), "root")
	outside := t.TempDir()
	write := func(dir, rel string, b []byte) {
		p := filepath.Join(dir, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(outside, ".env", []byte(tok))
	write(outside, "sub/.env", []byte(tok))
	write(root, "ok/.env", []byte(tok))
	write(root, "bin/model.py", append([]byte("\x00\x01PK"), tok...))           // binary: NUL in the head
	write(root, "big/run.sh", []byte(strings.Repeat("#\n", 600)+tok))           // over a 1 KiB cap
	write(root, ".venv/lib/site.py", []byte(tok))                               // excluded folder
	write(root, "data/part-0001.csv", []byte(tok))                              // not read: data
	write(root, "data/labels.json", []byte(tok))                                // not read: a JSON dataset file
	write(root, "data/run.secrets", []byte(tok))                                // read only when included
	os.Symlink(filepath.Join(outside, ".env"), filepath.Join(root, "link.env")) // not followed
	os.Symlink(filepath.Join(outside, "sub"), filepath.Join(root, "linkdir"))   // not followed
	if err := exec.Command("mkfifo", filepath.Join(root, "pipe.env")).Run(); err != nil {
		t.Logf("mkfifo: %v", err)
	}
	s := testScanner(t)
	o := defaultSecretOpts(s)
	o.maxFileBytes = 1 << 10
	run := func(o *secretOpts, keys bool) ([]Key, KeyScan) {
		t.Helper()
		k, sum, err := scanRoot(context.Background(), root, scanOpts{keys: keys, maxFiles: 1000, secrets: o}, sdk.NewOwners())
		if err != nil {
			t.Fatal(err)
		}
		return k, sum
	}
	paths := func(keys []Key) []string {
		var out []string
		for _, k := range keys {
			rel, _ := filepath.Rel(root, k.Path)
			out = append(out, rel)
		}
		return out
	}
	keys, sum := run(o, true)
	if p := paths(keys); !slices.Equal(p, []string{"ok/.env"}) {
		t.Errorf("reported %v", p)
	}
	ss := sum.SecretScan
	if ss.Files != 1 || ss.SkippedBinary != 1 || ss.SkippedLarge != 1 || ss.Truncated {
		t.Errorf("summary %+v", ss)
	}
	// Without the key scan, excluded folders are not even walked.
	if _, sum := run(o, false); sum.Files >= 11 || sum.SecretScan.Files != 1 {
		t.Errorf("secret scan alone: %+v %+v", sum, sum.SecretScan)
	}
	inc := *o
	inc.include = []string{"*.secrets"}
	if keys, _ := run(&inc, true); !slices.Equal(paths(keys), []string{"data/run.secrets", "ok/.env"}) {
		t.Errorf("include: %v", paths(keys))
	}
	none := *o
	none.exclude = nil
	if keys, _ := run(&none, true); !slices.Equal(paths(keys), []string{".venv/lib/site.py", "ok/.env"}) {
		t.Errorf("no exclusions: %v", paths(keys))
	}
	// Caps: files, bytes, time.
	for name, c := range map[string]struct {
		mod func(*secretOpts)
		by  string
	}{
		"files": {func(o *secretOpts) { o.maxFiles = 1; o.include = []string{"*.secrets"} }, "max_files"},
		"bytes": {func(o *secretOpts) { o.maxBytes = 8 }, "max_bytes"},
		"time":  {func(o *secretOpts) { o.timeout = time.Nanosecond }, "timeout"},
	} {
		capped := *o
		c.mod(&capped)
		_, sum := run(&capped, true)
		if ss := sum.SecretScan; !ss.Truncated || ss.TruncatedBy != c.by {
			t.Errorf("%s cap: %+v", name, ss)
		}
	}
}

// The HMAC key is made once per host and kept: fingerprints hold across
// collections and restarts, and differ between hosts.
func TestFingerprintKey(t *testing.T) {
	dir := t.TempDir()
	k1, scope, err := loadFingerprintKey(dir)
	if err != nil || scope != "host" || len(k1) != 32 {
		t.Fatalf("%v %s %v", k1, scope, err)
	}
	fi, err := os.Stat(filepath.Join(dir, fingerprintKeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file %v %v", fi, err)
	}
	k2, _, _ := loadFingerprintKey(dir)
	k3, _, _ := loadFingerprintKey(t.TempDir())
	if !bytes.Equal(k1, k2) || bytes.Equal(k1, k3) {
		t.Error("key not kept, or the same on two hosts")
	}
	if _, scope, _ := loadFingerprintKey(""); scope != "process" {
		t.Errorf("no state folder: scope %s", scope)
	}
	os.WriteFile(filepath.Join(dir, fingerprintKeyFile), []byte("short"), 0o600)
	k4, scope, err := loadFingerprintKey(dir)
	if err == nil || scope != "host" || bytes.Equal(k4, k1) || len(k4) != 32 {
		t.Errorf("damaged key: %v %s", err, scope)
	}
}

// No secret reaches a record, a log line or an error: the plugin collects
// the tree (and a key_files .env, and an unreadable file) with its logger
// writing to a buffer, and every byte sent or logged is searched for
// every test secret and for any 12 characters of their random parts.
func TestSecretsNeverLeave(t *testing.T) {
	sec := makeSecrets(5)
	root, want := secretTree(t, sec)
	named := filepath.Join(t.TempDir(), "service.env")
	os.WriteFile(named, []byte("GITLAB="+sec[RuleGitLab]+"\n"), 0o644)
	state := t.TempDir()
	// A damaged key file makes the plugin log a warning.
	os.WriteFile(filepath.Join(state, fingerprintKeyFile), []byte(sec[RuleHuggingFace]), 0o600)
	var logs bytes.Buffer
	p := New()
	p.log = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	settings, _ := json.Marshal(map[string]any{"scan_roots": []string{root, filepath.Join(root, "..", "missing")}, "key_files": []string{named}})
	if _, err := p.Configure(context.Background(), sdk.Config{Raw: settings, StateDir: state}); err != nil {
		t.Fatal(err)
	}
	var out recorder
	if err := p.Collect(context.Background(), sdk.Request{Full: true}, &out); err != nil {
		t.Fatal(err)
	}
	sent, _ := json.Marshal(out.recs)
	var reported int
	for _, r := range out.recs {
		if r.Kind == KindKey {
			reported++
		}
	}
	if reported != len(want)+1 {
		t.Errorf("%d key records, want %d", reported, len(want)+1)
	}
	if !strings.Contains(logs.String(), "fingerprint") {
		t.Errorf("no warning about the damaged key: %s", logs.String())
	}
	// Errors: a file the scan cannot read.
	s := testScanner(t)
	_, _, err := s.scanFile(context.Background(), filepath.Join(root, "missing-"+sec[RuleGitHub]), 1<<10)
	errText := fmt.Sprint(err)
	// Everything the plugin left in its state folder (the fingerprint key
	// aside, which is random bytes) is searched too.
	var stateText strings.Builder
	entries, _ := os.ReadDir(state)
	for _, e := range entries {
		if e.Name() != fingerprintKeyFile {
			b, _ := os.ReadFile(filepath.Join(state, e.Name()))
			stateText.Write(b)
		}
	}
	if !strings.Contains(stateText.String(), `"files"`) {
		t.Errorf("no secret-scan cache in the state folder")
	}
	haystack := string(sent) + logs.String() + errText + stateText.String()
	for id, v := range sec {
		for i := 0; i+12 <= len(v); i++ {
			frag := v[i : i+12]
			if id == RuleSlackWebhook && strings.Contains("https://hooks.slack.com/services/", frag) {
				continue // the documented URL, not the secret
			}
			if strings.Contains(string(sent)+logs.String()+stateText.String(), frag) {
				t.Errorf("%s: %q of the secret found in the output", id, frag)
				break
			}
		}
	}
	// The one error here names the path, which holds a token on purpose:
	// paths are reported as they are (a token in a file NAME is not read
	// from content), so only content must never show.
	if !strings.Contains(haystack, "missing-") {
		t.Errorf("error does not name the file: %s", errText)
	}
}

type recorder struct{ recs []sdk.Record }

func (r *recorder) Emit(rec sdk.Record) error  { r.recs = append(r.recs, rec); return nil }
func (r *recorder) Checkpoint(cp []byte) error { return nil }

// Settings are checked with errors that say what to fix.
func TestSecretSettings(t *testing.T) {
	for _, c := range []struct {
		set   string
		field string
	}{
		{`{"scan_roots":["rel"]}`, "scan_roots[0]"},
		{`{"roots":["/srv/ml"],"scan_roots":["/srv/ml/code"]}`, "scan_roots[0]"},
		{`{"scan_roots":["/a"],"secret_scan_exclude":["a/b"]}`, "secret_scan_exclude[0]"},
		{`{"scan_roots":["/a"],"secret_scan_include":["/x/*.env"]}`, "secret_scan_include[0]"},
		{`{"scan_roots":["/a"],"secret_scan_max_bytes":-1}`, "secret_scan_max_bytes"},
		{`{"scan_roots":["/a"],"secret_scan_max_file_bytes":-5}`, "secret_scan_max_file_bytes"},
		{`{"scan_roots":["/a"],"secret_scan_max_files":-1}`, "secret_scan_max_files"},
		{`{"scan_roots":["/a"],"secret_scan_timeout":"1ms"}`, "secret_scan_timeout"},
	} {
		_, err := New().Configure(context.Background(), sdk.Config{Raw: json.RawMessage(c.set)})
		if err == nil || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%s: %v, want an error on %s", c.set, err, c.field)
		}
	}
	p := New()
	if _, err := p.Configure(context.Background(), sdk.Config{Raw: json.RawMessage(`{"scan_roots":["/home/ml"]}`)}); err != nil {
		t.Fatal(err)
	}
	c := p.cfg
	if !*c.set.SecretScan || !slices.Equal(c.set.SecretScanExclude, DefaultSecretScanExclude) || c.set.SecretScanMaxFiles != defaultSecretMaxFiles ||
		c.set.SecretScanMaxBytes != defaultSecretMaxBytes || c.set.SecretScanMaxFileBytes != defaultSecretMaxFileBytes || c.secretTimeout != defaultSecretTimeout {
		t.Errorf("defaults %+v", c.set)
	}
}

// The rule table in the README and in docs/evidence.md lists every rule
// with its severity.
func TestSecretRulesDocumented(t *testing.T) {
	for _, doc := range []string{"README.md", filepath.Join("..", "..", "docs", "evidence.md")} {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range SecretRules() {
			if row := fmt.Sprintf("| `%s` | %s | %s |", r.ID, r.Severity, r.Description); !strings.Contains(string(b), row) {
				t.Errorf("%s: no row %s", doc, row)
			}
		}
	}
}

// An unchanged file is not read again: its earlier findings are reused,
// and the evidence is the same. A rewrite (even with the old mtime, as
// cp -p and rsync -t leave it), a new fingerprint key or other rules make
// it read again; the cache holds no secret.
func TestSecretScanCache(t *testing.T) {
	sec := makeSecrets(6)
	root, want := secretTree(t, sec)
	state := t.TempDir()
	key, _, _ := loadFingerprintKey(state)
	run := func(key []byte) ([]Key, *SecretScan) {
		t.Helper()
		o := defaultSecretOpts(newSecretScanner(key))
		var err error
		if o.cache, err = loadSecretCache(state, key); err != nil {
			t.Fatal(err)
		}
		keys, sum, err := scanRoot(context.Background(), root, scanOpts{keys: true, maxFiles: 1000, secrets: o}, sdk.NewOwners())
		if err != nil {
			t.Fatal(err)
		}
		if err := o.cache.save(state); err != nil {
			t.Fatal(err)
		}
		return keys, sum.SecretScan
	}
	keys1, s1 := run(key)
	keys2, s2 := run(key)
	if s1.Read != 8 || s2.Read != 0 || s2.Files != s1.Files || s2.Bytes != s1.Bytes || s2.Secrets != s1.Secrets {
		t.Errorf("second scan read %d files (first %d): %+v / %+v", s2.Read, s1.Read, s2, s1)
	}
	b1, _ := json.Marshal(keys1)
	b2, _ := json.Marshal(keys2)
	if !bytes.Equal(b1, b2) || len(keys2) != len(want) {
		t.Errorf("records differ when taken from the cache:\n%s\n%s", b1, b2)
	}
	// The same size and mtime, new content: ctime tells.
	env := filepath.Join(root, ".env")
	fi, _ := os.Stat(env)
	old, _ := os.ReadFile(env)
	changed := bytes.Replace(old, []byte("HF_TOKEN=hf_"), []byte("HF_TOKEN=hx_"), 1)
	time.Sleep(10 * time.Millisecond)
	os.WriteFile(env, changed, 0o640)
	os.Chtimes(env, fi.ModTime(), fi.ModTime())
	keys3, s3 := run(key)
	if s3.Read != 1 {
		t.Errorf("rewritten .env: read %d files", s3.Read)
	}
	for _, k := range keys3 {
		// No longer a Hugging Face token (the generic rule takes it now).
		if k.Path == env && k.Secrets[0].Rule == RuleHuggingFace {
			t.Errorf(".env: the earlier findings were kept: %+v", k.Secrets)
		}
	}
	// Another key: every file is read again.
	if _, s := run(bytes.Repeat([]byte{7}, 32)); s.Read != 8 {
		t.Errorf("new key: read %d", s.Read)
	}
	// No secret in the cache file.
	b, _ := os.ReadFile(filepath.Join(state, secretCacheFile))
	for id, v := range sec {
		if strings.Contains(string(b), v[len(v)-12:]) {
			t.Errorf("cache holds %s", id)
		}
	}
	// Other rules, or a damaged file: read again, and said.
	var doc secretCacheDoc
	json.Unmarshal(b, &doc)
	doc.Rules++
	nb, _ := json.Marshal(doc)
	os.WriteFile(filepath.Join(state, secretCacheFile), nb, 0o600)
	if c, err := loadSecretCache(state, key); err != nil || len(c.old) != 0 {
		t.Errorf("other rules: %d entries kept, %v", len(c.old), err)
	}
	os.WriteFile(filepath.Join(state, secretCacheFile), []byte("{"), 0o600)
	if c, err := loadSecretCache(state, key); err == nil || len(c.old) != 0 {
		t.Errorf("damaged cache: %d entries, %v", len(c.old), err)
	}
}

// A scan cut short by a cap deletes nothing it did not look at: files
// unchanged since read are still covered from the cache, and without a
// cache what was reported under the root before stays.
func TestSecretScanCapKeepsKnown(t *testing.T) {
	root, want := secretTree(t, makeSecrets(7))
	state := t.TempDir()
	collect := func(settings string) (keys int, deletes int, ss *SecretScan) {
		t.Helper()
		p := New()
		if _, err := p.Configure(context.Background(), sdk.Config{Raw: json.RawMessage(settings), StateDir: state}); err != nil {
			t.Fatal(err)
		}
		var out recorder
		if err := p.Collect(context.Background(), sdk.Request{Full: true}, &out); err != nil {
			t.Fatal(err)
		}
		for _, r := range out.recs {
			switch {
			case r.Kind == KindKey && r.Op == sdk.OpDelete:
				deletes++
			case r.Kind == KindKey:
				keys++
			case r.Kind == KindKeyScan:
				ss = r.Attributes.(KeyScan).SecretScan
			}
		}
		return keys, deletes, ss
	}
	all := `{"scan_roots":["` + root + `"]}`
	capped := `{"scan_roots":["` + root + `"],"secret_scan_max_files":1}`
	if keys, _, _ := collect(all); keys != len(want) {
		t.Fatalf("%d files reported, want %d", keys, len(want))
	}
	// Capped, with the cache: everything unchanged is still covered.
	if keys, deletes, ss := collect(capped); keys != len(want) || deletes != 0 || ss.Truncated {
		t.Errorf("capped with cache: %d reported, %d deleted, %+v", keys, deletes, ss)
	}
	// Capped, cache lost: one file read, the rest kept, nothing deleted.
	os.Remove(filepath.Join(state, secretCacheFile))
	if keys, deletes, ss := collect(capped); keys != 1 || deletes != 0 || !ss.Truncated || ss.TruncatedBy != "max_files" {
		t.Errorf("capped without cache: %d reported, %d deleted, %+v", keys, deletes, ss)
	}
	// The walk itself cut short (key_scan_max_files): nothing deleted.
	if _, deletes, _ := collect(`{"scan_roots":["` + root + `"],"key_scan_max_files":2}`); deletes != 0 {
		t.Errorf("walk cut short: %d deleted", deletes)
	}
	// A secret removed from a file is a delete once the scan covers it.
	os.WriteFile(filepath.Join(root, "home", ".netrc"), []byte("machine example.org login x\n"), 0o600)
	if keys, deletes, _ := collect(all); keys != len(want)-1 || deletes != 1 {
		t.Errorf("after removing the .netrc password: %d reported, %d deleted", keys, deletes)
	}
}
