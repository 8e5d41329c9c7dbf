package encryption

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const fixtureSwaps = `Filename				Type		Size		Used		Priority
/dev/dm-3                               partition	8388604		1024		-2
/srv/plain/swap\040file                 file		1048572		0		-3
/dev/zram0                              partition	4194300		0		100
/dev/sdb2                               partition	2097148		0		-4
/dev/nvme9n1p9                          partition	100		0		-5
not a swap line
`

func TestSwaps(t *testing.T) {
	r, _ := fixture(t)
	base := filepath.Dir(r.sys)
	for rel, v := range map[string]string{
		"proc/swaps":             fixtureSwaps,
		"sys/block/dm-3/dev":     "253:3\n",
		"sys/block/dm-3/dm/name": "cryptswap\n",
		"sys/block/dm-3/dm/uuid": "CRYPT-PLAIN-cryptswap\n",
		"sys/block/zram0/dev":    "252:0\n",
	} {
		os.MkdirAll(filepath.Dir(filepath.Join(base, rel)), 0o755)
		if err := os.WriteFile(filepath.Join(base, rel), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.MkdirAll(filepath.Join(r.sys, "block/dm-3/slaves/sda2"), 0o755)
	swaps, err := r.swaps()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Swap{}
	for _, s := range swaps {
		got[s.Path] = s
	}
	yes, no := boolp(true), boolp(false)
	for path, w := range map[string]struct {
		typ, scheme, device string
		encrypted           *bool
		note                string
	}{
		"/dev/dm-3":            {"partition", SchemePlain, "", yes, "plain dm-crypt"},
		"/srv/plain/swap file": {"file", SchemeNone, "/dev/sdb1", no, "swap file on /dev/sdb1"},
		"/dev/zram0":           {"partition", SchemeZram, "", nil, "RAM"},
		"/dev/sdb2":            {"partition", SchemeNone, "", no, "no dm-crypt"},
		"/dev/nvme9n1p9":       {"partition", SchemeUnknown, "", nil, "cannot tell"},
	} {
		s, ok := got[path]
		if !ok {
			t.Errorf("%s not reported: %+v", path, swaps)
			continue
		}
		if s.Type != w.typ || s.Scheme != w.scheme || s.Device != w.device || (s.Encrypted == nil) != (w.encrypted == nil) ||
			(s.Encrypted != nil && *s.Encrypted != *w.encrypted) || !strings.Contains(s.Note, w.note) ||
			!strings.HasSuffix(s.Evidence[0], "/proc/swaps") {
			t.Errorf("%s = %+v, want %+v", path, s, w)
		}
	}
	if len(swaps) != 5 {
		t.Errorf("%d swaps", len(swaps))
	}
	if s := got["/dev/dm-3"]; s.SizeKiB != 8388604 || s.UsedKiB != 1024 || s.Priority != -2 || !slices.Equal(s.Chain, []string{"dm-3", "sda2"}) {
		t.Errorf("dm-3: %+v", s)
	}
	e, skipped := parseSwaps(fixtureSwaps)
	if len(e) != 5 || skipped != 1 {
		t.Errorf("%d entries, %d skipped", len(e), skipped)
	}
	os.Remove(filepath.Join(r.proc, "swaps"))
	if _, err := r.swaps(); err == nil {
		t.Error("no /proc/swaps: no error")
	}
}

func TestExtraDevices(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "disk.img")
	os.WriteFile(img, luksFixture(t, "luks1-aes-xts.hdr"), 0o600)
	plain := filepath.Join(dir, "plain.img")
	os.WriteFile(plain, make([]byte, 8192), 0o600)
	if v := extraDevice(img); v.Scheme != SchemeLUKS1 || v.Encrypted == nil || !*v.Encrypted || v.Cipher != "aes-xts-plain64" ||
		v.KeyBits != 512 || v.LUKS.KeySlots != 1 || v.Subject != "device:"+img {
		t.Errorf("LUKS image: %+v", v)
	}
	both := luksFixture(t, "luks2-aes-xts-both.hdr")
	clear(both[:4096])
	wiped := filepath.Join(dir, "wiped.img")
	os.WriteFile(wiped, both, 0o600)
	if v := extraDevice(wiped); v.Scheme != SchemeLUKS2 || !strings.Contains(v.Note, "read from the secondary header") || v.LUKS.PrimaryDamaged == "" {
		t.Errorf("wiped primary: %+v", v)
	}
	if v := extraDevice(plain); v.Scheme != SchemeUnknown || v.Encrypted != nil || !strings.Contains(v.Note, "no LUKS header") {
		t.Errorf("plain image: %+v", v)
	}
	if v := extraDevice(filepath.Join(dir, "none")); v.Encrypted != nil || !strings.Contains(v.Note, "no such file") {
		t.Errorf("missing: %+v", v)
	}
	// Neither a directory nor a character device is opened.
	if v := extraDevice(dir); !strings.Contains(v.Note, "neither a block device nor a regular file") {
		t.Errorf("directory: %+v", v)
	}
	if v := extraDevice("/dev/null"); !strings.Contains(v.Note, "neither a block device nor a regular file") {
		t.Errorf("/dev/null: %+v", v)
	}
}
