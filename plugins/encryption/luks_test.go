package encryption

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The fixtures are headers written by cryptsetup luksFormat
// (testdata/make-luks.sh); the wanted values are the options it was given.
func TestLUKSFixtures(t *testing.T) {
	for _, c := range []struct {
		file string
		want LUKSInfo
	}{
		{"luks1-aes-xts.hdr", LUKSInfo{Version: 1, UUID: "6f0bd8b4-2a3c-4b52-9a31-5b0b5c1e2d11", Cipher: "aes-xts-plain64",
			KeyBits: 512, Hash: "sha256", KDFs: []string{"pbkdf2"}, KeySlots: 1}},
		{"luks1-aes-cbc-2slots.hdr", LUKSInfo{Version: 1, UUID: "0c0ffee0-1111-4222-8333-944445555666", Cipher: "aes-cbc-essiv:sha256",
			KeyBits: 128, Hash: "sha1", KDFs: []string{"pbkdf2"}, KeySlots: 2}},
		{"luks2-aes-xts.hdr", LUKSInfo{Version: 2, UUID: "3b6a2c1d-0f4e-4d2a-8c7b-1a2b3c4d5e6f", Label: "datasets", Cipher: "aes-xts-plain64",
			KeyBits: 512, Hash: "sha256", KDFs: []string{"argon2id"}, KeySlots: 1, SectorSize: 4096, HdrSize: 16384, Checksum: "ok"}},
		{"luks2-aes128-2slots-token.hdr", LUKSInfo{Version: 2, UUID: "9a8b7c6d-5e4f-4321-8765-fedcba987654", Cipher: "aes-xts-plain64",
			KeyBits: 256, Hash: "sha512", KDFs: []string{"pbkdf2"}, KeySlots: 2, Tokens: []string{"annexa-test"}, SectorSize: 512, HdrSize: 16384, Checksum: "ok"}},
	} {
		h, err := readLUKS(filepath.Join("testdata", c.file))
		if err != nil {
			t.Errorf("%s: %v", c.file, err)
			continue
		}
		if h.Version != c.want.Version || h.UUID != c.want.UUID || h.Label != c.want.Label || h.Cipher != c.want.Cipher ||
			h.KeyBits != c.want.KeyBits || h.Hash != c.want.Hash || !slices.Equal(h.KDFs, c.want.KDFs) || h.KeySlots != c.want.KeySlots ||
			!slices.Equal(h.Tokens, c.want.Tokens) || h.SectorSize != c.want.SectorSize || h.HdrSize != c.want.HdrSize || h.Checksum != c.want.Checksum {
			t.Errorf("%s:\n got %+v\nwant %+v", c.file, h, c.want)
		}
	}
}

func TestLUKSDamaged(t *testing.T) {
	l1 := luksFixture(t, "luks1-aes-xts.hdr")
	l2 := luksFixture(t, "luks2-aes-xts.hdr")
	mut := func(b []byte, f func([]byte)) []byte { c := bytes.Clone(b); f(c); return c }
	for name, c := range map[string]struct {
		b    []byte
		want string
	}{
		"zeros":            {make([]byte, 4096), "no LUKS magic"},
		"short magic":      {[]byte("LUKS"), "no LUKS magic"},
		"version 9":        {mut(l1, func(b []byte) { b[7] = 9 }), "version 9"},
		"luks1 truncated":  {l1[:300], "truncated at 300"},
		"luks1 slot state": {mut(l1, func(b []byte) { binary.BigEndian.PutUint32(b[208+48*3:], 7) }), "key slot 3"},
		"luks1 key bytes":  {mut(l1, func(b []byte) { binary.BigEndian.PutUint32(b[108:], 1<<30) }), "key_bytes"},
		"luks2 hdr_size":   {mut(l2, func(b []byte) { binary.BigEndian.PutUint64(b[8:], 5000) }), "hdr_size 5000"},
		"luks2 truncated":  {l2[:100], "truncated"},
		// One changed byte in the JSON area: the checksum catches it.
		"luks2 checksum": {mut(l2, func(b []byte) { i := bytes.Index(b, []byte("aes-xts")); b[i] = 'b' }), "checksum does not match"},
		// The JSON area cut off: cryptsetup's padding is gone too.
		"luks2 json cut": {l2[:4200], "LUKS2 JSON area"},
	} {
		_, err := readLUKSFrom(bytes.NewReader(c.b))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", name, err, c.want)
		}
	}
	// The JSON area is read from the file, bounded by hdr_size.
	p := filepath.Join(t.TempDir(), "img")
	big := append(bytes.Clone(l2), bytes.Repeat([]byte("x"), 100000)...)
	os.WriteFile(p, big, 0o600)
	if h, err := readLUKS(p); err != nil || h.Cipher != "aes-xts-plain64" {
		t.Errorf("header followed by data: %+v %v", h, err)
	}
	if _, err := readLUKS(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Error("missing file: no error")
	}
}

func TestLUKS2JSON(t *testing.T) {
	// Only segments.*.encryption counts as the cipher, not keyslot areas;
	// segments sort numerically.
	var h LUKSInfo
	err := parseLUKS2JSON(&h, []byte(`{"keyslots":{"0":{"key_size":"64","kdf":{"type":"argon2i"},"area":{"encryption":"aes-cbc-plain"}}},`+
		`"segments":{"10":{"encryption":"serpent-xts-plain64"},"2":{"encryption":"aes-xts-plain64","sector_size":512,"integrity":{"type":"hmac(sha256)"}}},`+
		`"digests":{"0":{"hash":"sha256"}},"tokens":{"1":{"type":"systemd-tpm2"},"0":{"type":"clevis"}}}`+"\x00\x00"))
	if err != nil || h.Cipher != "aes-xts-plain64,serpent-xts-plain64" || h.KeyBits != 512 || h.SectorSize != 512 ||
		h.Integrity != "hmac(sha256)" || !slices.Equal(h.Tokens, []string{"clevis", "systemd-tpm2"}) || h.KeySlots != 1 {
		t.Errorf("%+v %v", h, err)
	}
	for _, bad := range []string{`{"segments":`, `{"segments":{}}`, `[]`, `{"segments":[1],"keyslots":{}}`} {
		if err := parseLUKS2JSON(&LUKSInfo{}, []byte(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

// Key slot KDF costs are the ones make-luks.sh gave cryptsetup; its LUKS2
// luksAddKey gave no --hash, so slot 1 has cryptsetup's default, sha256.
func TestLUKSSlots(t *testing.T) {
	for file, want := range map[string][]KeySlot{
		"luks1-aes-cbc-2slots.hdr":      {{Slot: 0, KDF: "pbkdf2", Hash: "sha1", Iterations: 1000}, {Slot: 1, KDF: "pbkdf2", Hash: "sha1", Iterations: 1000}},
		"luks2-aes-xts.hdr":             {{Slot: 0, KDF: "argon2id", Time: 4, MemoryKiB: 32, CPUs: 1}},
		"luks2-aes128-2slots-token.hdr": {{Slot: 0, KDF: "pbkdf2", Hash: "sha512", Iterations: 1000}, {Slot: 1, KDF: "pbkdf2", Hash: "sha256", Iterations: 1000}},
	} {
		h, err := readLUKS(filepath.Join("testdata", file))
		if err != nil || !slices.Equal(h.Slots, want) {
			t.Errorf("%s: %+v, want %+v (%v)", file, h.Slots, want, err)
		}
	}
}

// A damaged or wiped primary LUKS2 header: the secondary one is read, as
// cryptsetup would, and the damage is said.
func TestLUKS2Secondary(t *testing.T) {
	both := luksFixture(t, "luks2-aes-xts-both.hdr")
	if h, err := readLUKSFrom(bytes.NewReader(both)); err != nil || h.PrimaryDamaged != "" || h.Checksum != "ok" {
		t.Fatalf("intact: %+v %v", h, err)
	}
	damaged := bytes.Clone(both)
	damaged[4096+100] ^= 0x20 // inside the primary JSON area
	h, err := readLUKSFrom(bytes.NewReader(damaged))
	if err != nil || h.PrimaryDamaged == "" || h.Cipher != "aes-xts-plain64" || h.UUID != "3b6a2c1d-0f4e-4d2a-8c7b-1a2b3c4d5e6f" || h.Checksum != "ok" {
		t.Errorf("damaged primary: %+v %v", h, err)
	}
	wiped := bytes.Clone(both)
	clear(wiped[:16384])
	h, err = readLUKSFrom(bytes.NewReader(wiped))
	if err != nil || h.PrimaryDamaged != errNotLUKS.Error() || h.KeySlots != 1 {
		t.Errorf("wiped primary: %+v %v", h, err)
	}
	// Both damaged: the primary's error, naming the secondary's.
	damaged[16384+4096+100] ^= 0x20
	if _, err := readLUKSFrom(bytes.NewReader(damaged)); err == nil || !strings.Contains(err.Error(), "secondary header") {
		t.Errorf("both damaged: %v", err)
	}
}
