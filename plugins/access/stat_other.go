//go:build !linux

package access

import (
	"io/fs"
	"time"
)

// fileID is not read off Linux: files are then told apart by the hash of
// their first bytes alone (see README.md).
func fileID(fs.FileInfo) (dev, ino uint64) { return 0, 0 }

// changeTime is the modification time off Linux.
func changeTime(fi fs.FileInfo) time.Time { return fi.ModTime() }
