//go:build !linux

package sdk

import (
	"io/fs"
	"os"
)

// StatOf off Linux gives no identity: a cache then keys on size and mtime
// only, and owner and group are reported as unknown.
func StatOf(fi fs.FileInfo) StatInfo {
	return StatInfo{CtimeNs: fi.ModTime().UnixNano(), Mode: uint32(fi.Mode().Perm())}
}

// OpenNoFollow off Linux relies on the walk's lstat having seen a regular file.
func OpenNoFollow(path string) (*os.File, error) { return os.Open(path) }
