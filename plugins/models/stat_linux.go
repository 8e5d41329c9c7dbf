package models

import (
	"io/fs"
	"os"
	"syscall"
)

// statInfo is what the scan needs from stat(2) beyond fs.FileInfo.
type statInfo struct {
	dev, ino uint64
	uid, gid uint32
	ctimeNs  int64
	// mode carries the setuid, setgid and sticky bits as stat reports them.
	mode uint32
	ok   bool
}

func sysStat(fi fs.FileInfo) statInfo {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return statInfo{}
	}
	return statInfo{
		dev: uint64(st.Dev), ino: st.Ino, uid: st.Uid, gid: st.Gid,
		ctimeNs: st.Ctim.Sec*1e9 + st.Ctim.Nsec, mode: st.Mode & 0o7777, ok: true,
	}
}

// openNoFollow opens path for reading but refuses a final symlink.
func openNoFollow(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
}
