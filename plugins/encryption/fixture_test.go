package encryption

import (
	"os"
	"path/filepath"
	"testing"
)

// luksFixture returns a header written by cryptsetup luksFormat
// (testdata/make-luks.sh).
func luksFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const fixtureMountinfo = `22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro
40 22 253:0 / /srv/ml rw,relatime shared:2 - ext4 /dev/mapper/data rw
41 22 8:17 / /srv/plain rw,relatime shared:3 - ext4 /dev/sdb1 rw
42 22 253:1 / /srv/old rw,relatime shared:4 - xfs /dev/mapper/old rw,attr2
43 22 0:50 / /srv/nfs rw,relatime shared:5 - nfs4 server:/export rw,vers=4.2,sec=krb5p
44 22 0:51 / /srv/secret rw,relatime shared:6 - ecryptfs /home/.secret rw,ecryptfs_cipher=aes,ecryptfs_key_bytes=16
45 22 253:2 / /srv/locked rw,relatime shared:7 - ext4 /dev/mapper/locked rw
46 22 8:33 / /srv/my\040space rw,relatime shared:8 - ext4 /dev/sdc1 rw
47 22 253:0 /ml /mnt/ml-again rw,relatime shared:9 - ext4 /dev/mapper/data rw
this line is not mountinfo
`

// fixture builds proc, sys and dev trees and returns their roots and the
// asset roots to judge.
func fixture(t testing.TB) (r roots, assets []string) {
	t.Helper()
	base := t.TempDir()
	r = roots{proc: filepath.Join(base, "proc"), sys: filepath.Join(base, "sys"), dev: filepath.Join(base, "dev")}
	write := func(rel string, data []byte) {
		p := filepath.Join(base, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mkdir := func(rel string) {
		if err := os.MkdirAll(filepath.Join(base, rel), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write("proc/self/mountinfo", []byte(fixtureMountinfo))
	for rel, v := range map[string]string{
		"sys/block/sda/dev":          "8:0",
		"sys/block/sda/removable":    "0",
		"sys/block/sda/device/model": "Samsung SSD 980",
		"sys/block/sdb/removable":    "1",
		"sys/block/sda/sda1/dev":     "8:1",
		"sys/block/sda/sda2/dev":     "8:2",
		"sys/block/sdb/dev":          "8:16",
		"sys/block/sdb/sdb1/dev":     "8:17",
		"sys/block/sdb/sdb2/dev":     "8:18",
		"sys/block/sdc/dev":          "8:32",
		"sys/block/sdc/sdc3/dev":     "8:35",
		"sys/block/dm-0/dev":         "253:0",
		"sys/block/dm-0/dm/name":     "data",
		"sys/block/dm-0/dm/uuid":     "CRYPT-LUKS2-3b6a2c1d0f4e4d2a8c7b1a2b3c4d5e6f-data",
		"sys/block/dm-1/dev":         "253:1",
		"sys/block/dm-1/dm/name":     "old",
		"sys/block/dm-1/dm/uuid":     "CRYPT-LUKS1-0c0ffee0111142228333944445555666-old",
		"sys/block/dm-2/dev":         "253:2",
		"sys/block/dm-2/dm/name":     "locked",
		"sys/block/dm-2/dm/uuid":     "CRYPT-LUKS2-aaaabbbbccccddddeeeeffff00001111-locked",
	} {
		write(rel, []byte(v+"\n"))
	}
	mkdir("sys/block/dm-0/slaves/sda2")
	mkdir("sys/block/dm-1/slaves/sdb2")
	mkdir("sys/block/dm-2/slaves/sdc3") // no dev/sdc3: header unreadable
	write("dev/sda2", luksFixture(t, "luks2-aes-xts.hdr"))
	write("dev/sdb2", luksFixture(t, "luks1-aes-cbc-2slots.hdr"))
	assets = []string{
		"/srv/ml/datasets", "/srv/ml/models", "/srv/plain/corpus", "/srv/old/models",
		"/srv/nfs/shared", "/srv/secret/pii", "/srv/locked/x", "/srv/my space/a", "/home/u/data",
	}
	return r, assets
}
