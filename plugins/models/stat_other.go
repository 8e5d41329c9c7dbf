//go:build !linux

package models

import (
	"io/fs"
	"os"
)

// statInfo is what the scan needs from stat(2) beyond fs.FileInfo. Off
// Linux we do not read it: the cache then keys on size and mtime only,
// and owner and group are reported as unknown.
type statInfo struct {
	dev, ino uint64
	uid, gid uint32
	ctimeNs  int64
	mode     uint32
	ok       bool
}

func sysStat(fi fs.FileInfo) statInfo {
	return statInfo{ctimeNs: fi.ModTime().UnixNano(), mode: uint32(fi.Mode().Perm())}
}

// openNoFollow opens path for reading; off Linux we rely on the walk's
// lstat having seen a regular file.
func openNoFollow(path string) (*os.File, error) { return os.Open(path) }
