package models

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzVerifySignature: reading and verifying a bundle, with keys and a CA
// configured, stays bounded whatever the bundle holds.
func FuzzVerifySignature(f *testing.F) {
	for _, d := range []string{"signed", "signed-key", "signed-cert", "signed-keyless"} {
		if b, err := os.ReadFile(filepath.Join("testdata", d, "model.sig")); err == nil {
			f.Add(b)
		}
	}
	up, _ := filepath.Glob(filepath.Join("testdata", "upstream", "*.sig"))
	for _, p := range up {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	key, _ := filepath.Abs(filepath.Join("testdata", "trust", "model-signing.pub"))
	ca, _ := filepath.Abs(filepath.Join("testdata", "trust", "ca.pem"))
	kca, _ := filepath.Abs(filepath.Join("testdata", "trust", "keyless-ca.pem"))
	rekor, _ := filepath.Abs(filepath.Join("testdata", "trust", "keyless-rekor.pub"))
	tr, fe := loadTrust(&Settings{SigningKeys: []string{key}, SigningCACerts: []string{ca, kca}, RekorKeys: []string{rekor},
		SigningIdentities: []string{"ml-release@example.org"}})
	if len(fe) > 0 {
		f.Fatal(fe)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		bounded(t, b, func() {
			v := parseSignature(b, "/m/model.sig", "/m")
			v.verify(tr)
			if v.Verified && v.VerifiedBy == "" {
				t.Error("verified by nobody")
			}
		})
	})
}

func FuzzPins(f *testing.F) {
	f.Add([]byte("# approved\n" + sum([]byte("x")) + "  model.safetensors\n\\" + sum([]byte("y")) + " *a\\\\b\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		bounded(t, b, func() {
			pins, err := parsePins(b, "/etc/annexa/approved-models.txt")
			for d := range pins {
				if len(d) != 64 || err != nil {
					t.Errorf("pin %q with error %v", d, err)
				}
			}
		})
	})
}

func FuzzGitConfig(f *testing.F) {
	f.Add([]byte("[core]\n\tbare = false\n[remote \"origin\"]\n\turl = https://u:tok@huggingface.co/org/m\n"))
	f.Add([]byte("[remote \"up\"]\nurl=git@gitlab.example.org:ml/m.git\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		bounded(t, b, func() {
			r := parseGitRemote(b)
			hubURL(r)
			if len(r) > 520 {
				t.Errorf("remote of %d bytes", len(r))
			}
		})
	})
}
