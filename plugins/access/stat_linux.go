package access

import (
	"io/fs"
	"syscall"
)

// fileID is the device and inode of a file: what identifies a log across
// a rename, and tells a rotated file from its successor.
func fileID(fi fs.FileInfo) (dev, ino uint64) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0
	}
	return uint64(st.Dev), st.Ino //nolint:unconvert // Dev is int32 or uint64 by arch
}
