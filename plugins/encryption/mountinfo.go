package encryption

import (
	"strconv"
	"strings"
)

// mount is one line of /proc/<pid>/mountinfo (or /proc/mounts).
type mount struct {
	MajMin     string // "253:0"; "" when read from /proc/mounts
	MountPoint string
	FSType     string
	Source     string
	Options    string // mount options plus superblock options
}

// unescape undoes the octal escapes (\040 for space, ...) of mountinfo.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// parseMountinfo parses mountinfo lines; malformed lines are counted and
// skipped. Format (proc(5)):
//
//	36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
func parseMountinfo(data string) (mounts []mount, skipped int) {
	for _, line := range strings.Split(data, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.Fields(line)
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if len(f) < 10 || sep < 0 || sep+2 >= len(f) || !strings.Contains(f[2], ":") || !strings.HasPrefix(f[4], "/") {
			skipped++
			continue
		}
		opts := f[5]
		if sep+3 < len(f) {
			opts += "," + f[sep+3]
		}
		mounts = append(mounts, mount{
			MajMin: f[2], MountPoint: unescape(f[4]), FSType: f[sep+1],
			Source: unescape(f[sep+2]), Options: opts,
		})
	}
	return mounts, skipped
}

// parseMounts parses /proc/mounts (fstab format), the fallback when
// mountinfo is absent.
func parseMounts(data string) (mounts []mount, skipped int) {
	for _, line := range strings.Split(data, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[1], "/") {
			skipped++
			continue
		}
		mounts = append(mounts, mount{Source: unescape(f[0]), MountPoint: unescape(f[1]), FSType: f[2], Options: f[3]})
	}
	return mounts, skipped
}

// backing returns the mount whose mount point is the longest prefix of
// path; the last such line wins, as later mounts hide earlier ones.
func backing(mounts []mount, path string) (mount, bool) {
	best, found := mount{}, false
	for _, m := range mounts {
		if !within(path, m.MountPoint) {
			continue
		}
		if !found || len(m.MountPoint) >= len(best.MountPoint) {
			best, found = m, true
		}
	}
	return best, found
}

func within(path, dir string) bool {
	if path == dir || dir == "/" {
		return strings.HasPrefix(path, "/")
	}
	return strings.HasPrefix(path, dir+"/")
}
