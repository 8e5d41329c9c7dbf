package encryption

import (
	"testing"
)

// FuzzLUKSHeader: any bytes give a header or an error, never a panic.
func FuzzLUKSHeader(f *testing.F) {
	f.Add(luks1Header("aes", "xts-plain64"))
	f.Add(luks2Header(luks2JSONDoc)[:4096])
	f.Add([]byte(luksMagic + "\x00\x02"))
	f.Add([]byte("LUKS\xba\xbe\x00\x01short"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := parseLUKSHeader(b)
		if err == nil && h.Version != 1 && h.Version != 2 {
			t.Errorf("version %d accepted", h.Version)
		}
	})
}

// FuzzLUKS2JSON: the JSON area parser on arbitrary bytes.
func FuzzLUKS2JSON(f *testing.F) {
	f.Add([]byte(luks2JSONDoc))
	f.Add([]byte(`{"segments":{"0":{"encryption":"none"}}}`))
	f.Add([]byte(`{"segments":[1]}`))
	f.Fuzz(func(t *testing.T, b []byte) { parseLUKS2JSON(b) })
}

// FuzzMountinfo: malformed lines are skipped, never a crash; every mount
// returned has an absolute mount point.
func FuzzMountinfo(f *testing.F) {
	f.Add(fixtureMountinfo)
	f.Add("1 2 3:4 / /a\\04 rw - ext4 x rw\n")
	f.Add("1 2 3:4 / / rw - \n- - - - - - - - - -")
	f.Add("/dev/sda1 / ext4 rw 0 0\n")
	f.Fuzz(func(t *testing.T, s string) {
		ms, _ := parseMountinfo(s)
		ms2, _ := parseMounts(s)
		for _, m := range append(ms, ms2...) {
			if len(m.MountPoint) == 0 {
				t.Errorf("empty mount point from %q", s)
			}
			backing(ms, "/srv/ml")
		}
	})
}
