package encryption

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// liveExt4 makes a real ext4 filesystem with the encrypt feature in an
// image file and loop-mounts it: the kernel's own /proc, /sys and /dev
// then describe it. It needs root and a kernel that lets this process
// mount; elsewhere the test is skipped, saying why.
func liveExt4(t *testing.T) (img, mnt string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to loop-mount an ext4 image")
	}
	mkfs, err := exec.LookPath("mkfs.ext4")
	if err != nil {
		t.Skip("mkfs.ext4 (e2fsprogs) is not installed")
	}
	dir := t.TempDir()
	img, mnt = filepath.Join(dir, "fs.img"), filepath.Join(dir, "mnt")
	os.Mkdir(mnt, 0o755)
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 8<<20); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(mkfs, "-q", "-O", "encrypt", img).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v %s", err, out)
	}
	if out, err := exec.Command("mount", "-o", "loop", img, mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot loop-mount here: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", mnt).Run() })
	return img, mnt
}

// setFscryptV2 gives dir a v2 policy (AES-256-XTS contents, AES-256-CTS
// names) with a throwaway key, as fscryptctl would.
func setFscryptV2(t *testing.T, mnt, dir string) {
	t.Helper()
	m, err := os.Open(mnt)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	// struct fscrypt_add_key_arg followed by the raw key.
	var buf struct {
		arg unix.FscryptAddKeyArg
		raw [64]byte
	}
	buf.arg.Key_spec.Type = unix.FSCRYPT_KEY_SPEC_TYPE_IDENTIFIER
	buf.arg.Raw_size = 64
	for i := range buf.raw {
		buf.raw[i] = byte(i * 7)
	}
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, m.Fd(), unix.FS_IOC_ADD_ENCRYPTION_KEY, uintptr(unsafe.Pointer(&buf))); e != 0 {
		t.Skipf("FS_IOC_ADD_ENCRYPTION_KEY: %v", e)
	}
	pol := unix.FscryptPolicyV2{Version: unix.FSCRYPT_POLICY_V2, Contents_encryption_mode: unix.FSCRYPT_MODE_AES_256_XTS,
		Filenames_encryption_mode: unix.FSCRYPT_MODE_AES_256_CTS, Flags: unix.FSCRYPT_POLICY_FLAGS_PAD_32}
	copy(pol.Master_key_identifier[:], buf.arg.Key_spec.U[:16])
	d, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, d.Fd(), unix.FS_IOC_SET_ENCRYPTION_POLICY, uintptr(unsafe.Pointer(&pol))); e != 0 {
		t.Skipf("FS_IOC_SET_ENCRYPTION_POLICY: %v", e)
	}
}

// TestLiveLoopAndFscrypt judges a real loop-mounted ext4 through the
// machine's own /proc, /sys and /dev: the loop device is followed to its
// backing file, a root with an fscrypt policy gets its own record, a
// plain root on the same filesystem says "none", and a root on a
// filesystem without fscrypt says "unsupported".
func TestLiveLoopAndFscrypt(t *testing.T) {
	img, mnt := liveExt4(t)
	enc, plain := filepath.Join(mnt, "enc"), filepath.Join(mnt, "plain")
	os.Mkdir(enc, 0o700)
	os.Mkdir(plain, 0o700)
	setFscryptV2(t, mnt, enc)
	// A root given as a symlink to a folder on the loop filesystem is
	// judged by its target's volume.
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(plain, link); err != nil {
		t.Fatal(err)
	}

	r := roots{proc: "/proc", sys: "/sys", dev: "/dev"}
	vols, err := r.volumes([]string{enc, plain, link})
	if err != nil {
		t.Fatal(err)
	}
	var fs, loop *Volume
	for i := range vols {
		switch {
		case vols[i].Subject == "fscrypt:"+enc:
			fs = &vols[i]
		case strings.HasPrefix(vols[i].Subject, "volume:/dev/loop"):
			loop = &vols[i]
		}
	}
	if fs == nil || loop == nil {
		t.Fatalf("want an fscrypt and a loop record, got %+v", vols)
	}
	if fs.Scheme != SchemeFscrypt || fs.Encrypted == nil || !*fs.Encrypted || fs.Cipher != "AES-256-XTS/AES-256-CTS" ||
		fs.Fscrypt[enc].PolicyVersion != 2 || !slices.Equal(fs.Covers, []string{enc}) {
		t.Errorf("fscrypt record %+v", fs)
	}
	if !slices.Equal(loop.Covers, []string{plain, link}) || loop.Fscrypt[plain].State != "none" || loop.Fscrypt[link].State != "none" || loop.BackingFile != img ||
		len(loop.Chain) < 2 || !strings.HasPrefix(loop.Chain[0], "loop") || loop.Chain[1] != "file:"+img ||
		!strings.Contains(loop.Note, "backed by file "+img) {
		t.Errorf("loop record %+v", loop)
	}
	// The image's own volume decides: whatever it is, the loop record
	// says the same.
	m, _ := backing(mustMounts(t, r), img)
	inner := r.judge(mustMounts(t, r), m, 1)
	if loop.Scheme != inner.Scheme || !slices.Equal(loop.Disks, inner.Disks) || (loop.Encrypted == nil) != (inner.Encrypted == nil) {
		t.Errorf("loop %s/%v, image volume %s/%v", loop.Scheme, loop.Encrypted, inner.Scheme, inner.Encrypted)
	}

	// /proc is not a filesystem fscrypt knows.
	if f := fscryptPolicy("/proc"); f.State != "unsupported" {
		t.Errorf("/proc: %+v", f)
	}
}

func mustMounts(t *testing.T, r roots) []mount {
	m, _, _, err := r.readMounts()
	if err != nil {
		t.Fatal(err)
	}
	return m
}
