package encryption

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestVolumes(t *testing.T) {
	r, assets := fixture(t)
	vols, err := r.volumes(assets)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Volume{}
	for _, v := range vols {
		got[v.Device] = v
	}
	type want struct {
		scheme, cipher string
		encrypted      *bool
		covers         []string
		note           string
	}
	yes, no := boolp(true), boolp(false)
	for dev, w := range map[string]want{
		"/dev/mapper/data":   {SchemeLUKS2, "aes-xts-plain64", yes, []string{"/srv/ml/datasets", "/srv/ml/models"}, ""},
		"/dev/mapper/old":    {SchemeLUKS1, "aes-cbc-essiv:sha256", yes, []string{"/srv/old/models"}, ""},
		"/dev/mapper/locked": {SchemeLUKS2, "", yes, []string{"/srv/locked/x"}, "dm/uuid alone"},
		"/dev/sdb1":          {SchemeNone, "", no, []string{"/srv/plain/corpus"}, ""},
		"/dev/sda1":          {SchemeNone, "", no, []string{"/home/u/data"}, ""},
		"server:/export":     {SchemeNetworkFS, "", nil, []string{"/srv/nfs/shared"}, "sec=krb5p"},
		"/home/.secret":      {SchemeEcryptfs, "aes-16bytes", yes, []string{"/srv/secret/pii"}, ""},
		"/dev/sdc1":          {SchemeUnknown, "", nil, []string{"/srv/my space/a"}, "cannot tell"},
	} {
		v, ok := got[dev]
		if !ok {
			t.Errorf("%s not reported; got %v", dev, vols)
			continue
		}
		if v.Scheme != w.scheme || v.Cipher != w.cipher || !slices.Equal(v.Covers, w.covers) ||
			(v.Encrypted == nil) != (w.encrypted == nil) || (v.Encrypted != nil && *v.Encrypted != *w.encrypted) ||
			!strings.Contains(v.Note, w.note) {
			t.Errorf("%s = %+v (encrypted %v), want %+v", dev, v, v.Encrypted, w)
		}
	}
	if len(vols) != 8 {
		t.Errorf("%d volumes, want 8", len(vols))
	}
	if n := got["server:/export"]; n.TransportEncrypted == nil || !*n.TransportEncrypted || !strings.Contains(n.MountOptions, "sec=krb5p") {
		t.Errorf("nfs krb5p: %+v", n)
	}
	if f := got["server:/export"].Fscrypt["/srv/nfs/shared"]; f.State != "unsupported" || !strings.Contains(f.Detail, "network") {
		t.Errorf("fscrypt asked on NFS: %+v", f)
	}
	data := got["/dev/mapper/data"]
	if !slices.Equal(data.Mountpoints, []string{"/mnt/ml-again", "/srv/ml"}) || !slices.Equal(data.Chain, []string{"dm-0", "sda2"}) || data.FSType != "ext4" {
		t.Errorf("data: %+v", data)
	}
	if len(data.Disks) != 1 || data.Disks[0] != (Disk{Name: "sda", Model: "Samsung SSD 980"}) {
		t.Errorf("data disks %+v", data.Disks)
	}
	if d := got["/dev/sdb1"].Disks; len(d) != 1 || d[0].Name != "sdb" || !d[0].Removable {
		t.Errorf("removable sdb: %+v", d)
	}
	if data.KeyBits != 512 || data.LUKS == nil || data.LUKS.KeySlots != 1 || data.LUKS.Label != "datasets" || strings.Contains(data.Note, "uuid") {
		t.Errorf("data LUKS: %+v %+v", data.LUKS, data)
	}
	if old := got["/dev/mapper/old"]; old.KeyBits != 128 || old.LUKS == nil || old.LUKS.KeySlots != 2 || old.LUKS.Hash != "sha1" {
		t.Errorf("old LUKS: %+v", old.LUKS)
	}
	if !slices.ContainsFunc(data.Evidence, func(s string) bool { return strings.HasSuffix(s, "/dev/sda2") }) ||
		!slices.ContainsFunc(data.Evidence, func(s string) bool { return strings.HasSuffix(s, "dm-0/dm/uuid") }) {
		t.Errorf("data evidence %v", data.Evidence)
	}
}

// A header whose uuid is not the dm device's is reported, not trusted
// silently.
func TestVolumeHeaderUUIDMismatch(t *testing.T) {
	r, _ := fixture(t)
	os.WriteFile(filepath.Join(r.sys, "block/dm-0/dm/uuid"), []byte("CRYPT-LUKS2-00000000000000000000000000000000-data\n"), 0o644)
	vols, err := r.volumes([]string{"/srv/ml"})
	if err != nil || len(vols) != 1 {
		t.Fatal(vols, err)
	}
	if v := vols[0]; v.Scheme != SchemeLUKS2 || !strings.Contains(v.Note, "may not be this volume's") {
		t.Errorf("%+v", v)
	}
}

// A crypt device stacked under LVM is found through the slaves.
func TestVolumeThroughLVM(t *testing.T) {
	r, _ := fixture(t)
	w := func(rel, s string) {
		p := filepath.Join(filepath.Dir(r.sys), rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	w("sys/block/dm-3/dev", "253:3\n")
	w("sys/block/dm-3/dm/uuid", "LVM-abcdef\n")
	os.MkdirAll(filepath.Join(r.sys, "block/dm-3/slaves/dm-0"), 0o755)
	w("proc/self/mountinfo", "50 1 253:3 / /srv rw - ext4 /dev/mapper/vg-lv rw\n")
	vols, err := r.volumes([]string{"/srv/ml"})
	if err != nil || len(vols) != 1 {
		t.Fatal(vols, err)
	}
	v := vols[0]
	if v.Scheme != SchemeLUKS2 || v.Cipher != "aes-xts-plain64" || !slices.Equal(v.Chain, []string{"dm-3", "dm-0", "sda2"}) {
		t.Errorf("%+v", v)
	}
}

// Without mountinfo, /proc/mounts is read; a plain dm-crypt device has no
// header to read.
func TestMountsFallbackAndPlain(t *testing.T) {
	r, _ := fixture(t)
	os.Remove(filepath.Join(r.proc, "self", "mountinfo"))
	os.WriteFile(filepath.Join(r.proc, "mounts"), []byte("/dev/mapper/data /srv/ml ext4 rw 0 0\n"), 0o644)
	os.WriteFile(filepath.Join(r.sys, "block/dm-0/dm/uuid"), []byte("CRYPT-PLAIN-data\n"), 0o644)
	vols, err := r.volumes([]string{"/srv/ml/x", "/elsewhere"})
	if err != nil || len(vols) != 1 {
		t.Fatal(vols, err)
	}
	if v := vols[0]; v.Scheme != SchemePlain || v.Encrypted == nil || !*v.Encrypted || !strings.HasSuffix(v.Evidence[0], "/proc/mounts") {
		t.Errorf("%+v", v)
	}
	os.Remove(filepath.Join(r.proc, "mounts"))
	if _, err := r.volumes([]string{"/x"}); err == nil {
		t.Error("no mount table: no error")
	}
}

func TestParseMountinfo(t *testing.T) {
	m, skipped := parseMountinfo(fixtureMountinfo)
	if len(m) != 9 || skipped != 1 {
		t.Fatalf("%d mounts, %d skipped", len(m), skipped)
	}
	if m[7].MountPoint != "/srv/my space" || m[4].FSType != "nfs4" || !strings.Contains(m[4].Options, "sec=krb5p") {
		t.Errorf("%+v %+v", m[7], m[4])
	}
	if b, ok := backing(m, "/srv/mlx"); !ok || b.MountPoint != "/" {
		t.Errorf("/srv/mlx backed by %+v", b)
	}
}

// A loop device with no crypt layer above it is as encrypted as the
// volume holding its backing file; a deleted backing file cannot be judged.
func TestVolumeThroughLoop(t *testing.T) {
	r, _ := fixture(t)
	base := filepath.Dir(r.sys)
	w := func(rel, s string) {
		p := filepath.Join(base, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	w("sys/block/loop0/dev", "7:0\n")
	w("sys/block/loop0/loop/backing_file", "/srv/ml/images/datasets.img\n")
	w("sys/block/loop1/dev", "7:1\n")
	w("sys/block/loop1/loop/backing_file", "/srv/plain/disk.img\n")
	w("sys/block/loop2/dev", "7:2\n")
	w("sys/block/loop2/loop/backing_file", "/srv/ml/gone.img (deleted)\n")
	w("proc/self/mountinfo", fixtureMountinfo+
		"60 22 7:0 / /srv/img rw - ext4 /dev/loop0 rw\n"+
		"61 22 7:1 / /srv/img2 rw - ext4 /dev/loop1 rw\n"+
		"62 22 7:2 / /srv/img3 rw - ext4 /dev/loop2 rw\n")
	vols, err := r.volumes([]string{"/srv/img/a", "/srv/img2/b", "/srv/img3/c"})
	if err != nil || len(vols) != 3 {
		t.Fatal(vols, err)
	}
	enc, plain, gone := vols[0], vols[1], vols[2]
	if enc.Scheme != SchemeLUKS2 || enc.Encrypted == nil || !*enc.Encrypted || enc.Cipher != "aes-xts-plain64" ||
		enc.BackingFile != "/srv/ml/images/datasets.img" ||
		!slices.Equal(enc.Chain, []string{"loop0", "file:/srv/ml/images/datasets.img", "dm-0", "sda2"}) ||
		len(enc.Disks) != 1 || enc.Disks[0].Name != "sda" {
		t.Errorf("loop on LUKS: %+v", enc)
	}
	if plain.Scheme != SchemeNone || plain.Encrypted == nil || *plain.Encrypted || !strings.Contains(plain.Note, "on /dev/sdb1 (none)") {
		t.Errorf("loop on plain: %+v", plain)
	}
	if gone.Scheme != SchemeUnknown || gone.Encrypted != nil || !strings.Contains(gone.Note, "deleted") {
		t.Errorf("loop on deleted file: %+v", gone)
	}
}

func TestTransportEncryption(t *testing.T) {
	yes, no := boolp(true), boolp(false)
	for _, c := range []struct {
		fstype, opts string
		want         *bool
	}{
		{"nfs4", "rw,vers=4.2,sec=krb5p", yes},
		{"nfs4", "rw,vers=4.2,sec=krb5i", no},
		{"nfs4", "rw,vers=4.2,xprtsec=mtls,sec=sys", yes},
		{"nfs", "rw,vers=3", no},
		{"cifs", "rw,vers=3.1.1,seal", yes},
		{"cifs", "rw,vers=3.1.1", nil},
		{"ceph", "rw,ms_mode=secure", yes},
		{"ceph", "rw,ms_mode=prefer-crc", no},
		{"ceph", "rw,ms_mode=prefer-secure", nil},
		{"fuse.sshfs", "rw", yes},
		{"glusterfs", "rw", nil},
	} {
		got, why := transportEncryption(c.fstype, c.opts)
		if (got == nil) != (c.want == nil) || (got != nil && *got != *c.want) || why == "" {
			t.Errorf("%s %s: %v (%s), want %v", c.fstype, c.opts, got, why, c.want)
		}
	}
}

// dm-verity and dm-integrity are named CRYPT- too but encrypt nothing; a
// LUKS2 volume with integrity has its crypt layer above an integrity
// sub-device; BitLocker opened by cryptsetup is encrypted; an unknown
// CRYPT- type cannot be judged.
func TestCryptTypes(t *testing.T) {
	for uuid, want := range map[string]struct {
		scheme    string
		encrypted *bool
	}{
		"CRYPT-VERITY-0f1e2d3c4b5a69788796a5b4c3d2e1f0-root":   {SchemeNone, boolp(false)},
		"CRYPT-INTEGRITY-data":                                 {SchemeNone, boolp(false)},
		"CRYPT-BITLK-1a2b3c4d-5e6f-7081-92a3-b4c5d6e7f809-usb": {SchemeBitLocker, boolp(true)},
		"CRYPT-TCRYPT-vc":                                      {SchemeTCrypt, boolp(true)},
		"CRYPT-NEWTHING-x":                                     {SchemeUnknown, nil},
	} {
		r, _ := fixture(t)
		os.WriteFile(filepath.Join(r.sys, "block/dm-0/dm/uuid"), []byte(uuid+"\n"), 0o644)
		vols, err := r.volumes([]string{"/srv/ml"})
		if err != nil || len(vols) != 1 {
			t.Fatal(vols, err)
		}
		v := vols[0]
		if v.Scheme != want.scheme || (v.Encrypted == nil) != (want.encrypted == nil) || (v.Encrypted != nil && *v.Encrypted != *want.encrypted) {
			t.Errorf("%s: %s %v (%s)", uuid, v.Scheme, v.Encrypted, v.Note)
		}
	}
	// LUKS2 with integrity: CRYPT-LUKS2 on top of CRYPT-SUBDEV.
	r, _ := fixture(t)
	w := func(rel, s string) {
		p := filepath.Join(filepath.Dir(r.sys), rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(s), 0o644)
	}
	w("sys/block/dm-5/dev", "253:5\n")
	w("sys/block/dm-5/dm/uuid", "CRYPT-SUBDEV-3b6a2c1d0f4e4d2a8c7b1a2b3c4d5e6f-data_dif\n")
	os.RemoveAll(filepath.Join(r.sys, "block/dm-0/slaves/sda2"))
	os.MkdirAll(filepath.Join(r.sys, "block/dm-0/slaves/dm-5"), 0o755)
	os.MkdirAll(filepath.Join(r.sys, "block/dm-5/slaves/sda2"), 0o755)
	vols, err := r.volumes([]string{"/srv/ml"})
	if err != nil || len(vols) != 1 || vols[0].Scheme != SchemeLUKS2 || !slices.Equal(vols[0].Chain, []string{"dm-0", "dm-5", "sda2"}) ||
		vols[0].Cipher != "aes-xts-plain64" || vols[0].LUKS == nil {
		t.Errorf("LUKS2 over integrity: %+v %v", vols, err)
	}
}

// Every path down to a disk must pass a crypt layer: an LVM volume group
// spanning a LUKS device and a plain partition is not encrypted; a RAID
// over two LUKS devices is.
func TestPartlyEncryptedStacks(t *testing.T) {
	r, _ := fixture(t)
	base := filepath.Dir(r.sys)
	w := func(rel, s string) {
		p := filepath.Join(base, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(s), 0o644)
	}
	w("sys/block/dm-6/dev", "253:6\n")
	w("sys/block/dm-6/dm/uuid", "LVM-span\n")
	os.MkdirAll(filepath.Join(r.sys, "block/dm-6/slaves/dm-0"), 0o755)
	os.MkdirAll(filepath.Join(r.sys, "block/dm-6/slaves/sdb2"), 0o755)
	w("sys/block/md0/dev", "9:0\n")
	os.MkdirAll(filepath.Join(r.sys, "block/md0/slaves/dm-0"), 0o755)
	os.MkdirAll(filepath.Join(r.sys, "block/md0/slaves/dm-1"), 0o755)
	w("proc/self/mountinfo", "50 1 253:6 / /srv/span rw - ext4 /dev/mapper/vg-span rw\n51 1 9:0 / /srv/raid rw - xfs /dev/md0 rw\n")
	vols, err := r.volumes([]string{"/srv/span", "/srv/raid"})
	if err != nil || len(vols) != 2 {
		t.Fatal(vols, err)
	}
	span, raid := vols[0], vols[1] // sorted: mapper < md0
	if span.Encrypted == nil || *span.Encrypted || span.Scheme != SchemeNone || !strings.Contains(span.Note, "only part of the stack is encrypted: sdb2") {
		t.Errorf("span: %+v", span)
	}
	if raid.Encrypted == nil || !*raid.Encrypted || raid.Scheme != SchemeLUKS2 || !slices.Equal(raid.Chain, []string{"md0", "dm-0", "dm-1", "sda2", "sdb2"}) {
		t.Errorf("raid: %+v", raid)
	}
}
