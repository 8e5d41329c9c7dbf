//go:build linux

package models

import (
	"encoding/binary"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/annexa/annexa/plugins/sdk"
)

// openDir opens a folder the walk listed, for statAt and openAt. It
// follows a symlink as listing it did (a root may be one); the walk never
// descends into a symlink below a root.
func openDir(path string) (*os.File, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
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
	return statFrom(&st), nil
}

func statFrom(st *unix.Stat_t) fileStat {
	ctime := st.Ctim.Sec*1e9 + st.Ctim.Nsec
	return fileStat{
		Key: fileKey{Dev: uint64(st.Dev), Ino: st.Ino, Size: st.Size, MtimeNs: st.Mtim.Sec*1e9 + st.Mtim.Nsec, CtimeNs: ctime}, //nolint:unconvert // Dev's type differs by arch
		Info: sdk.StatInfo{Dev: uint64(st.Dev), Ino: st.Ino, UID: st.Uid, GID: st.Gid, CtimeNs: ctime, //nolint:unconvert
			Mode: st.Mode & 0o7777, OK: true},
		regular: st.Mode&unix.S_IFMT == unix.S_IFREG,
	}
}

// rawFile is a file read by descriptor: opening through *os.File costs a
// poller registration and two fcntl calls, which on a tree of small
// models is a third of the system calls.
type rawFile int

// openAt opens name in the open folder, refusing a symlink.
func openAt(dir *os.File, name string) (fileHandle, error) {
	fd, err := unix.Openat(int(dir.Fd()), name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	return rawFile(fd), nil
}

// openStatAt opens name in the open folder and stats the open file: on a
// first scan, where every file is read, this spares a lookup by name.
// O_NONBLOCK keeps a FIFO swapped in since the listing from blocking the
// open; a symlink is refused. A file that is not regular is closed and
// returned without a handle.
func openStatAt(dir *os.File, name string) (fileStat, fileHandle, error) {
	fd, err := unix.Openat(int(dir.Fd()), name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		if err == unix.ELOOP {
			return fileStat{}, nil, nil // a symlink: not a file here
		}
		return fileStat{}, nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return fileStat{}, nil, &os.PathError{Op: "stat", Path: name, Err: err}
	}
	fs := statFrom(&st)
	if !fs.regular {
		unix.Close(fd)
		return fs, nil, nil
	}
	return fs, rawFile(fd), nil
}

func (f rawFile) ReadAt(b []byte, off int64) (int, error) {
	n := 0
	for n < len(b) {
		m, err := unix.Pread(int(f), b[n:], off+int64(n))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return n, err
		}
		if m == 0 {
			return n, io.EOF
		}
		n += m
	}
	return n, nil
}

func (f rawFile) key() (fileKey, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f), &st); err != nil {
		return fileKey{}, err
	}
	return fileKey{Dev: uint64(st.Dev), Ino: st.Ino, Size: st.Size, MtimeNs: st.Mtim.Sec*1e9 + st.Mtim.Nsec, CtimeNs: st.Ctim.Sec*1e9 + st.Ctim.Nsec}, nil //nolint:unconvert
}

func (f rawFile) Close() error { return unix.Close(int(f)) }

var direntBufs = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// listDir lists a folder with getdents, sorted by name: os.ReadDir makes
// an interface value per entry, a third of a rescan's walk. The kernel's
// type is used; an entry of unknown type (some filesystems) is stat'ed.
func listDir(path string) ([]entry, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	bp := direntBufs.Get().(*[]byte)
	defer direntBufs.Put(bp)
	buf := *bp
	var out []entry
	for {
		n, err := unix.Getdents(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "readdirent", Path: path, Err: err}
		}
		if n <= 0 {
			break
		}
		// linux_dirent64: ino u64, off s64, reclen u16, type u8, name.
		for b := buf[:n]; len(b) >= 19; {
			reclen := int(binary.NativeEndian.Uint16(b[16:]))
			if reclen < 19 || reclen > len(b) {
				return nil, &os.PathError{Op: "readdirent", Path: path, Err: unix.EIO}
			}
			typ, name := b[18], b[19:reclen]
			if i := slices.Index(name, 0); i >= 0 {
				name = name[:i]
			}
			b = b[reclen:]
			if string(name) == "." || string(name) == ".." {
				continue
			}
			e := entry{name: string(name)}
			switch typ {
			case unix.DT_REG:
			case unix.DT_DIR:
				e.mode = fs.ModeDir
			case unix.DT_LNK:
				e.mode = fs.ModeSymlink
			case unix.DT_UNKNOWN:
				var st unix.Stat_t
				if unix.Fstatat(fd, e.name, &st, unix.AT_SYMLINK_NOFOLLOW) != nil {
					continue // gone meanwhile
				}
				switch st.Mode & unix.S_IFMT {
				case unix.S_IFREG:
				case unix.S_IFDIR:
					e.mode = fs.ModeDir
				case unix.S_IFLNK:
					e.mode = fs.ModeSymlink
				default:
					e.mode = fs.ModeIrregular
				}
			default:
				e.mode = fs.ModeIrregular
			}
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b entry) int { return strings.Compare(a.name, b.name) })
	return out, nil
}
