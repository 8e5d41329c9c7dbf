package e2e

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// The encryption plugin's evidence, through a real agent and collector,
// decides the encryption checks: a root on LUKS2 passes, a root on a
// plain disk, swap without dm-crypt, a world-readable SSH key, a
// plaintext endpoint and a self-signed one fail, each naming its subject.
// /proc, /sys and /dev are fixture trees; the LUKS2 header is the one
// cryptsetup wrote (plugins/encryption/testdata).
func TestEncryptionChecks(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	base := t.TempDir()
	enc, plain := filepath.Join(base, "enc"), filepath.Join(base, "plain")
	w := func(rel string, data []byte, mode os.FileMode) {
		p := filepath.Join(base, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, data, mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
	}
	hdr, err := os.ReadFile(filepath.Join("..", "plugins", "encryption", "testdata", "luks2-aes-xts.hdr"))
	if err != nil {
		t.Fatal(err)
	}
	w("proc/self/mountinfo", []byte("22 1 8:1 / / rw - ext4 /dev/sda1 rw\n"+
		"40 22 253:0 / "+enc+" rw - ext4 /dev/mapper/data rw\n"+
		"41 22 8:17 / "+plain+" rw - ext4 /dev/sdb1 rw\n"), 0o644)
	w("proc/swaps", []byte("Filename Type Size Used Priority\n/dev/sdb2 partition 2097148 0 -2\n"), 0o644)
	for rel, v := range map[string]string{
		"sys/block/sda/dev": "8:0", "sys/block/sda/sda1/dev": "8:1", "sys/block/sda/sda2/dev": "8:2",
		"sys/block/sdb/dev": "8:16", "sys/block/sdb/sdb1/dev": "8:17", "sys/block/sdb/sdb2/dev": "8:18",
		"sys/block/dm-0/dev": "253:0", "sys/block/dm-0/dm/name": "data",
		"sys/block/dm-0/dm/uuid": "CRYPT-LUKS2-3b6a2c1d0f4e4d2a8c7b1a2b3c4d5e6f-data",
	} {
		w(rel, []byte(v+"\n"), 0o644)
	}
	os.MkdirAll(filepath.Join(base, "sys/block/dm-0/slaves/sda2"), 0o755)
	w("dev/sda2", hdr, 0o600)
	w("enc/iris.csv", []byte("a,b\n1,2\n"), 0o640)
	w("plain/.ssh/id_rsa", []byte("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ==\n-----END OPENSSH PRIVATE KEY-----\n"), 0o644)

	tlsSrv := httptest.NewUnstartedServer(http.NotFoundHandler())
	tlsSrv.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	tlsSrv.StartTLS()
	defer tlsSrv.Close()
	plainSrv := httptest.NewServer(http.NotFoundHandler())
	defer plainSrv.Close()
	selfSigned, plaintext := tlsSrv.Listener.Addr().String(), plainSrv.Listener.Addr().String()
	if _, _, err := net.SplitHostPort(selfSigned); err != nil {
		t.Fatal(err)
	}

	c := newCollector(t, "")
	c.start()
	a := newAgent(t, c.url, pluginConf{name: "encryption", exe: "annexa-plugin-encryption", yaml: strings.Join([]string{
		"roots: [" + enc + ", " + plain + "]",
		"endpoints: [" + selfSigned + ", " + plaintext + "]",
		"timeout: 5s",
		"proc_root: " + filepath.Join(base, "proc"),
		"sys_root: " + filepath.Join(base, "sys"),
		"dev_root: " + filepath.Join(base, "dev"),
		"interval: 1h",
	}, "\n")})
	a.enroll(c)
	a.start()
	waitFor(t, "the encryption scan at the collector", 60*time.Second, func() bool {
		return c.tryCount(`SELECT count(*) FROM current WHERE kind='scan.complete' AND subject='scan:encryption'`) == 1
	})
	if !a.alive() {
		t.Fatalf("agent died:\n%s", a.logTail())
	}
	a.stop()

	failing := map[string][]string{}
	for _, ctl := range c.report().Controls {
		for _, ch := range ctl.Checks {
			for _, f := range ch.Failing {
				if !hasString(failing[ch.ID], f.Subject) {
					failing[ch.ID] = append(failing[ch.ID], f.Subject)
				}
			}
		}
	}
	for id, want := range map[string][]string{
		"volumes.encrypted":           {"volume:/dev/sdb1"},
		"swap.encrypted":              {"swap:/dev/sdb2"},
		"keys.not_readable_by_others": {"key:" + filepath.Join(plain, ".ssh", "id_rsa")},
		"endpoints.not_plaintext":     {"endpoint:" + plaintext},
		"endpoints.certificate_valid": {"endpoint:" + selfSigned},
	} {
		got := failing[id]
		sort.Strings(got)
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s fails %v, want %v", id, got, want)
		}
	}
	// The LUKS2 volume is encrypted, with the cipher from its header.
	if n := c.count(`SELECT count(*) FROM current WHERE kind='encryption.volume' AND subject='volume:/dev/mapper/data'
		AND json_extract(attributes, '$.encrypted') = 1 AND json_extract(attributes, '$.cipher') = 'aes-xts-plain64'`); n != 1 {
		t.Errorf("LUKS2 volume not reported encrypted with its cipher")
	}
}

// hasString is local to this file so that merges add no duplicate helper.
func hasString(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
