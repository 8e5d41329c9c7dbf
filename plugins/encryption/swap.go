package encryption

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Swap is the attributes of encryption.swap: pages of any process,
// decrypted dataset records and model weights included, can land there.
type Swap struct {
	Path     string `json:"path"`
	Type     string `json:"type"` // partition or file
	SizeKiB  int64  `json:"size_kib"`
	UsedKiB  int64  `json:"used_kib"`
	Priority int    `json:"priority"`
	// Encrypted is null when the plugin could not tell.
	Encrypted *bool  `json:"encrypted"`
	Scheme    string `json:"scheme"`
	Cipher    string `json:"cipher,omitempty"`
	KeyBits   int    `json:"key_bits,omitempty"`
	// Device is, for a swap file, the volume holding it.
	Device   string   `json:"device,omitempty"`
	Chain    []string `json:"chain,omitempty"`
	Disks    []Disk   `json:"disks,omitempty"`
	Evidence []string `json:"evidence"`
	Note     string   `json:"note,omitempty"`
}

// swapEntry is one line of /proc/swaps.
type swapEntry struct {
	Path             string
	Type             string
	Size, Used, Prio int64
}

// parseSwaps parses /proc/swaps: a header line, then
// "Filename Type Size Used Priority" with octal escapes in the file name
// (as in mountinfo). Malformed lines are counted and skipped.
func parseSwaps(data string) (out []swapEntry, skipped int) {
	for i, line := range strings.Split(data, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || (i == 0 && f[0] == "Filename") {
			continue
		}
		if len(f) != 5 || !strings.HasPrefix(f[0], "/") {
			skipped++
			continue
		}
		size, e1 := strconv.ParseInt(f[2], 10, 64)
		used, e2 := strconv.ParseInt(f[3], 10, 64)
		prio, e3 := strconv.ParseInt(f[4], 10, 32)
		if e1 != nil || e2 != nil || e3 != nil || size < 0 || used < 0 {
			skipped++
			continue
		}
		out = append(out, swapEntry{Path: unescape(f[0]), Type: f[1], Size: size, Used: used, Prio: prio})
	}
	return out, skipped
}

// swaps judges every active swap area. No swap at all is no record.
func (r roots) swaps() ([]Swap, error) {
	src := filepath.Join(r.proc, "swaps")
	b, err := os.ReadFile(src)
	if err != nil {
		return nil, err
	}
	entries, _ := parseSwaps(string(b))
	mounts, msrc, _, err := r.readMounts()
	if err != nil {
		return nil, err
	}
	out := make([]Swap, 0, len(entries))
	for _, e := range entries {
		s := Swap{Path: e.Path, Type: e.Type, SizeKiB: e.Size, UsedKiB: e.Used, Priority: int(e.Prio)}
		var v Volume
		switch {
		case e.Type == "file":
			m, ok := backing(mounts, e.Path)
			if !ok {
				v = Volume{Scheme: SchemeUnknown, Note: "no mount holds the swap file; cannot tell"}
				break
			}
			v = r.judge(mounts, m, 0)
			v.Evidence = append([]string{msrc}, v.Evidence...)
			s.Device = m.Source
			v.addNote("swap file on %s", m.Source)
		case strings.HasPrefix(filepath.Base(e.Path), "zram"):
			v = Volume{Scheme: SchemeZram, Note: "compressed swap in RAM (zram): never written to a disk unless a writeback device is set"}
		default:
			name, disk, ok := r.blockName(mount{Source: e.Path})
			if !ok {
				v = Volume{Scheme: SchemeUnknown, Note: fmt.Sprintf("no block device under %s matches %s; cannot tell", filepath.Join(r.sys, "block"), e.Path)}
				break
			}
			v.Scheme = SchemeUnknown
			r.judgeBlock(mounts, &v, name, disk, 0)
		}
		s.Encrypted, s.Scheme, s.Cipher, s.KeyBits = v.Encrypted, v.Scheme, v.Cipher, v.KeyBits
		s.Chain, s.Disks, s.Note = v.Chain, v.Disks, v.Note
		s.Evidence = append([]string{src}, v.Evidence...)
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// extraDevice reads the LUKS header of a configured block device or image
// file. Anything but a regular file or a block device is refused before
// it is opened (a FIFO would block the read).
func extraDevice(path string) Volume {
	v := Volume{Subject: "device:" + path, Device: path, Covers: []string{}, Scheme: SchemeUnknown,
		Evidence: []string{path}}
	st, err := os.Stat(path)
	if err != nil {
		v.Note = err.Error()
		return v
	}
	if !st.Mode().IsRegular() && st.Mode()&fs.ModeDevice == 0 || st.Mode()&fs.ModeCharDevice != 0 {
		v.Note = fmt.Sprintf("%s is neither a block device nor a regular file (%s); not read", path, st.Mode().Type())
		return v
	}
	h, err := readLUKS(path)
	switch {
	case err == errNotLUKS:
		v.Note = "no LUKS header: unencrypted, or plain dm-crypt, which has no header; the two look alike from outside"
	case h.Version == 0:
		v.Note = "header not read: " + err.Error()
	default:
		v.Encrypted = boolp(true)
		v.Scheme = map[int]string{1: SchemeLUKS1, 2: SchemeLUKS2}[h.Version]
		v.Cipher, v.KeyBits, v.LUKS = h.Cipher, h.KeyBits, &h
		if err != nil {
			v.addNote("header: %v", err)
		}
		if h.PrimaryDamaged != "" {
			v.addNote("the primary LUKS2 header is damaged (%s); read from the secondary header", h.PrimaryDamaged)
		}
	}
	return v
}
