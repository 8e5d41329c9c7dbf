package sdk

import (
	"io/fs"
	"os"
	"syscall"
)

// StatOf reads what stat(2) knows beyond fs.FileInfo: the identity a
// cache can key on (device, inode, ctime) and the owner.
func StatOf(fi fs.FileInfo) StatInfo {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return StatInfo{}
	}
	return StatInfo{
		Dev: uint64(st.Dev), Ino: st.Ino, UID: st.Uid, GID: st.Gid, //nolint:unconvert // Dev's type differs by arch
		CtimeNs: st.Ctim.Sec*1e9 + st.Ctim.Nsec, Mode: st.Mode & 0o7777, OK: true,
	}
}

// OpenNoFollow opens path for reading but refuses a final symlink, so a
// file swapped for a link between the walk and the read is not followed.
func OpenNoFollow(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
}
