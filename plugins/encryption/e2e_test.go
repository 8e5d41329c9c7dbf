package encryption

import (
	"encoding/json"
	"flag"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/annexa/annexa/plugins/plugintest"
	"github.com/annexa/annexa/plugins/sdk"
)

const pkg = "github.com/annexa/annexa/plugins/encryption/cmd/annexa-plugin-encryption"

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	plugintest.Cleanup()
	os.Exit(code)
}

// TestExecutable builds the real plugin and drives it over go-plugin, as
// the agent does: conformance, then a collection over the fixture roots.
func TestExecutable(t *testing.T) {
	exe := plugintest.Build(t, pkg)
	r, assets := fixture(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	os.WriteFile(filepath.Join(r.proc, "swaps"), []byte("Filename Type Size Used Priority\n/dev/sdb2 partition 2097148 0 -2\n"), 0o644)
	img := filepath.Join(t.TempDir(), "extra.img")
	os.WriteFile(img, luksFixture(t, "luks2-aes-xts.hdr"), 0o600)
	// A world-readable key named in key_files, and a dataset root holding
	// an AWS credentials file.
	keyFile := filepath.Join(t.TempDir(), "collector-client.key")
	os.WriteFile(keyFile, []byte("-----BEGIN EC PRIVATE KEY-----\nnot used\n-----END EC PRIVATE KEY-----\n"), 0o644)
	os.Chmod(keyFile, 0o644)
	keyRoot := filepath.Join(t.TempDir(), "datasets")
	os.MkdirAll(filepath.Join(keyRoot, ".aws"), 0o700)
	os.WriteFile(filepath.Join(keyRoot, ".aws", "credentials"), []byte("[default]\naws_secret_access_key = x\n"), 0o600)
	// A notebook-side .env with a Hugging Face token, readable by all.
	hfToken := makeSecrets(21)[RuleHuggingFace]
	envFile := filepath.Join(keyRoot, "code", ".env")
	os.MkdirAll(filepath.Dir(envFile), 0o755)
	os.WriteFile(envFile, []byte("HF_TOKEN="+hfToken+"\n"), 0o644)
	os.Chmod(envFile, 0o644)
	settingsWith := func(devices ...string) string {
		b, _ := json.Marshal(map[string]any{
			"roots": append(assets, keyRoot), "endpoints": []string{closed}, "timeout": "2s", "devices": devices,
			"key_files": []string{keyFile},
			"proc_root": r.proc, "sys_root": r.sys, "dev_root": r.dev,
		})
		return string(b)
	}
	settings := settingsWith(img)

	t.Run("conformance", func(t *testing.T) {
		plugintest.Conformance(t, exe, settings)
	})

	t.Run("collect", func(t *testing.T) {
		h := plugintest.Start(t, exe)
		state := t.TempDir()
		if _, err := h.Configure(t, settings, state); err != nil {
			t.Fatal(err)
		}
		if _, err := h.Configure(t, `{"roots":["rel"],"timeout":"x"}`, ""); err == nil || !strings.Contains(err.Error(), "roots[0]") {
			t.Errorf("bad settings: %v", err)
		}
		recs, _, err := h.Collect(t, sdk.Request{Full: true})
		if err != nil {
			t.Fatal(err)
		}
		vols, eps, swaps, keys := map[string]Volume{}, map[string]Endpoint{}, map[string]Swap{}, map[string]Key{}
		var scans []KeyScan
		for _, rec := range recs {
			switch rec.Kind {
			case KindKey:
				var k Key
				json.Unmarshal(rec.Attributes, &k)
				keys[rec.Subject] = k
			case KindKeyScan:
				var s KeyScan
				json.Unmarshal(rec.Attributes, &s)
				scans = append(scans, s)
			case KindSwap:
				var s Swap
				json.Unmarshal(rec.Attributes, &s)
				swaps[rec.Subject] = s
			case KindVolume:
				var v Volume
				json.Unmarshal(rec.Attributes, &v)
				vols[rec.Subject] = v
			case KindEndpoint:
				var e Endpoint
				json.Unmarshal(rec.Attributes, &e)
				eps[rec.Subject] = e
			}
		}
		if v := vols["volume:/dev/mapper/data"]; v.Scheme != SchemeLUKS2 || v.Cipher != "aes-xts-plain64" || len(v.Covers) != 2 {
			t.Errorf("data volume %+v", v)
		}
		if v := vols["volume:/dev/sdb1"]; v.Scheme != SchemeNone || v.Encrypted == nil || *v.Encrypted {
			t.Errorf("plain volume %+v", v)
		}
		if v := vols["device:"+img]; v.Scheme != SchemeLUKS2 || v.LUKS == nil || v.LUKS.UUID != "3b6a2c1d-0f4e-4d2a-8c7b-1a2b3c4d5e6f" {
			t.Errorf("extra device %+v", v)
		}
		if s := swaps["swap:/dev/sdb2"]; s.Scheme != SchemeNone || s.Encrypted == nil || *s.Encrypted {
			t.Errorf("swap %+v (all: %v)", s, swaps)
		}
		if k := keys["key:"+keyFile]; k.Type != KeyPrivate || k.Mode != "0644" || !slices.Equal(k.Findings, []string{"world_readable", "group_readable"}) {
			t.Errorf("key file %+v", k)
		}
		if k := keys["key:"+filepath.Join(keyRoot, ".aws", "credentials")]; k.Type != KeyAWSCredentials || len(k.Findings) != 0 || k.Source != keyRoot {
			t.Errorf("credentials %+v", k)
		}
		if len(scans) != 1 || scans[0].Root != keyRoot || scans[0].Keys != 1 || scans[0].SecretScan == nil ||
			scans[0].SecretScan.Files != 1 || scans[0].SecretScan.Secrets != 1 || scans[0].SecretScan.Fingerprints != "host" {
			t.Errorf("key scans %+v %+v", scans, scans[0].SecretScan)
		}
		if k := keys["key:"+envFile]; k.Type != KeyEmbedded || len(k.Secrets) != 1 || k.Secrets[0].Rule != RuleHuggingFace ||
			k.Secrets[0].Hint != "hf_…" || !slices.Equal(k.Findings, []string{"world_readable", "group_readable"}) {
			t.Errorf(".env %+v", k)
		}
		for _, rec := range recs {
			if strings.Contains(string(rec.Attributes), hfToken[3:15]) {
				t.Errorf("%s %s holds the token", rec.Kind, rec.Subject)
			}
		}
		if len(vols) != 9 {
			t.Errorf("%d volumes", len(vols))
		}

		// The device dropped from the settings and the swap area turned
		// off are deleted, after a restart too.
		h2 := plugintest.Start(t, exe)
		if _, err := h2.Configure(t, settingsWith(), state); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(r.proc, "swaps"), []byte("Filename Type Size Used Priority\n"), 0o644)
		recs, _, err = h2.Collect(t, sdk.Request{Full: true})
		if err != nil {
			t.Fatal(err)
		}
		deleted := map[string]bool{}
		for _, rec := range recs {
			if rec.Op == sdk.OpDelete {
				deleted[rec.Kind+" "+rec.Subject] = true
			}
		}
		if len(deleted) != 2 || !deleted[KindVolume+" device:"+img] || !deleted[KindSwap+" swap:/dev/sdb2"] {
			t.Errorf("deleted %v", deleted)
		}
		if e, ok := eps["endpoint:"+closed]; !ok || e.Error == "" || e.Address != closed {
			t.Errorf("closed endpoint %+v", e)
		}
	})
}
