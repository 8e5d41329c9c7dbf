//go:build linux

package models

import (
	"os"

	"golang.org/x/sys/unix"

	"github.com/annexa/annexa/plugins/sdk"
)

// openDir opens a folder for statAt.
func openDir(path string) (*os.File, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// statAt stats name in the open folder without following a symlink.
// Relative to the folder, the kernel resolves one name instead of the
// whole path: on a rescan this is most of the work per file.
func statAt(dir *os.File, name string) (fileStat, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(int(dir.Fd()), name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fileStat{}, &os.PathError{Op: "stat", Path: name, Err: err}
	}
	ctime := st.Ctim.Sec*1e9 + st.Ctim.Nsec
	return fileStat{
		Key: fileKey{Dev: uint64(st.Dev), Ino: st.Ino, Size: st.Size, MtimeNs: st.Mtim.Sec*1e9 + st.Mtim.Nsec, CtimeNs: ctime}, //nolint:unconvert // Dev's type differs by arch
		Info: sdk.StatInfo{Dev: uint64(st.Dev), Ino: st.Ino, UID: st.Uid, GID: st.Gid, CtimeNs: ctime, //nolint:unconvert
			Mode: st.Mode & 0o7777, OK: true},
		regular: st.Mode&unix.S_IFMT == unix.S_IFREG,
	}, nil
}
