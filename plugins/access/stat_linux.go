package access

import (
	"io/fs"
	"syscall"
	"time"
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

// changeTime is when a file's inode last changed: a rename sets it,
// while its modification time stays that of the last line written.
func changeTime(fi fs.FileInfo) time.Time {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return time.Unix(int64(st.Ctim.Sec), int64(st.Ctim.Nsec)) //nolint:unconvert // int32 on some arches
	}
	return fi.ModTime()
}
