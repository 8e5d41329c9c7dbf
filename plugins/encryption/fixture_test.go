package encryption

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

// luks1Header builds a LUKS1 phdr per the LUKS1 On-Disk Format
// Specification 1.2.3 (all integers big-endian), padded to 4 KiB.
func luks1Header(cipherName, cipherMode string) []byte {
	b := make([]byte, 4096)
	copy(b[0:], luksMagic)
	binary.BigEndian.PutUint16(b[6:], 1)
	copy(b[8:40], cipherName)
	copy(b[40:72], cipherMode)
	copy(b[72:104], "sha256")                            // hash_spec
	binary.BigEndian.PutUint32(b[104:], 4096)            // payload_offset (sectors)
	binary.BigEndian.PutUint32(b[108:], 64)              // key_bytes
	copy(b[112:132], "0123456789abcdefghij")             // mk_digest
	copy(b[132:164], "saltsaltsaltsaltsaltsaltsaltsalt") // mk_digest_salt
	binary.BigEndian.PutUint32(b[164:], 131072)          // mk_digest_iter
	copy(b[168:208], "6f0bd8b4-2a3c-4b52-9a31-5b0b5c1e2d11")
	// key slot 0 active (0x00AC71F3), the rest disabled (0x0000DEAD).
	for i := range 8 {
		off := 208 + i*48
		state := uint32(0x0000DEAD)
		if i == 0 {
			state = 0x00AC71F3
		}
		binary.BigEndian.PutUint32(b[off:], state)
	}
	return b
}

// luks2JSONDoc is shaped like cryptsetup 2.x output.
const luks2JSONDoc = `{"keyslots":{"0":{"type":"luks2","key_size":64,"af":{"type":"luks1","stripes":4000,"hash":"sha256"},` +
	`"area":{"type":"raw","offset":"32768","size":"258048","encryption":"aes-xts-plain64","key_size":64},` +
	`"kdf":{"type":"argon2id","time":4,"memory":1048576,"cpus":4,"salt":"c2FsdA=="}}},"tokens":{},` +
	`"segments":{"0":{"type":"crypt","offset":"16777216","size":"dynamic","iv_tweak":"0","encryption":"aes-xts-plain64","sector_size":4096}},` +
	`"digests":{"0":{"type":"pbkdf2","keyslots":["0"],"segments":["0"],"hash":"sha256","iterations":100000,"salt":"c2FsdA==","digest":"ZA=="}},` +
	`"config":{"json_size":"12288","keyslots_size":"16744448"}}`

// luks2Header builds the LUKS2 binary header (LUKS2 On-Disk Format 1.1,
// 4 KiB) followed by the JSON area, 16 KiB in all.
func luks2Header(jsonDoc string) []byte {
	b := make([]byte, 16384)
	copy(b[0:], luksMagic)
	binary.BigEndian.PutUint16(b[6:], 2)
	binary.BigEndian.PutUint64(b[8:], 16384) // hdr_size
	binary.BigEndian.PutUint64(b[16:], 3)    // seqid
	copy(b[24:72], "datasets")               // label
	copy(b[72:104], "sha256")                // checksum_alg
	copy(b[168:208], "3b6a2c1d-0f4e-4d2a-8c7b-1a2b3c4d5e6f")
	binary.BigEndian.PutUint64(b[256:], 0) // hdr_offset
	copy(b[4096:], jsonDoc)
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
		"sys/block/sda/dev":      "8:0",
		"sys/block/sda/sda1/dev": "8:1",
		"sys/block/sda/sda2/dev": "8:2",
		"sys/block/sdb/dev":      "8:16",
		"sys/block/sdb/sdb1/dev": "8:17",
		"sys/block/sdb/sdb2/dev": "8:18",
		"sys/block/sdc/dev":      "8:32",
		"sys/block/sdc/sdc3/dev": "8:35",
		"sys/block/dm-0/dev":     "253:0",
		"sys/block/dm-0/dm/name": "data",
		"sys/block/dm-0/dm/uuid": "CRYPT-LUKS2-3b6a2c1d0f4e4d2a8c7b1a2b3c4d5e6f-data",
		"sys/block/dm-1/dev":     "253:1",
		"sys/block/dm-1/dm/name": "old",
		"sys/block/dm-1/dm/uuid": "CRYPT-LUKS1-6f0bd8b42a3c4b529a315b0b5c1e2d11-old",
		"sys/block/dm-2/dev":     "253:2",
		"sys/block/dm-2/dm/name": "locked",
		"sys/block/dm-2/dm/uuid": "CRYPT-LUKS2-aaaabbbbccccddddeeeeffff00001111-locked",
	} {
		write(rel, []byte(v+"\n"))
	}
	mkdir("sys/block/dm-0/slaves/sda2")
	mkdir("sys/block/dm-1/slaves/sdb2")
	mkdir("sys/block/dm-2/slaves/sdc3") // no dev/sdc3: header unreadable
	write("dev/sda2", luks2Header(luks2JSONDoc))
	write("dev/sdb2", luks1Header("aes", "cbc-essiv:sha256"))
	assets = []string{
		"/srv/ml/datasets", "/srv/ml/models", "/srv/plain/corpus", "/srv/old/models",
		"/srv/nfs/shared", "/srv/secret/pii", "/srv/locked/x", "/srv/my space/a", "/home/u/data",
	}
	return r, assets
}
