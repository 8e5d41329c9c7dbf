package encryption

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Schemes reported in encryption.volume.
const (
	SchemeLUKS1     = "luks1"
	SchemeLUKS2     = "luks2"
	SchemePlain     = "plain-dm-crypt"
	SchemeEcryptfs  = "ecryptfs"
	SchemeNone      = "none"
	SchemeUnknown   = "unknown"
	SchemeNetworkFS = "network"
)

// Volume is the attributes of encryption.volume.
type Volume struct {
	Device      string   `json:"device"`
	Mountpoints []string `json:"mountpoints"`
	FSType      string   `json:"fstype"`
	Covers      []string `json:"covers"`
	// Encrypted is null when the plugin could not tell.
	Encrypted *bool  `json:"encrypted"`
	Scheme    string `json:"scheme"`
	Cipher    string `json:"cipher,omitempty"`
	// Chain is the block devices from the mounted one down, e.g.
	// [dm-0, sda2].
	Chain []string `json:"chain,omitempty"`
	// Evidence lists the files that told us.
	Evidence []string `json:"evidence"`
	// Note says why the scheme is unknown or how it was decided.
	Note string `json:"note,omitempty"`
}

var networkFS = map[string]bool{
	"nfs": true, "nfs4": true, "cifs": true, "smb3": true, "smbfs": true,
	"ceph": true, "glusterfs": true, "9p": true, "fuse.sshfs": true, "lustre": true,
}

// roots are the fixture-able filesystem roots.
type roots struct{ proc, sys, dev string }

// readMounts reads <proc>/self/mountinfo, falling back to <proc>/mounts.
func (r roots) readMounts() ([]mount, string, int, error) {
	p := filepath.Join(r.proc, "self", "mountinfo")
	if b, err := os.ReadFile(p); err == nil {
		m, skipped := parseMountinfo(string(b))
		return m, p, skipped, nil
	}
	p2 := filepath.Join(r.proc, "mounts")
	b, err := os.ReadFile(p2)
	if err != nil {
		return nil, "", 0, fmt.Errorf("read %s or %s: %w", p, p2, err)
	}
	m, skipped := parseMounts(string(b))
	return m, p2, skipped, nil
}

func readTrim(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	if len(b) > 4096 {
		b = b[:4096]
	}
	return strings.TrimSpace(string(b)), nil
}

// blockName finds the /sys/block name of a mount's device: by major:minor
// (sys/block/*/dev and partitions sys/block/*/*/dev), then by device-mapper
// name (/dev/mapper/X ↔ sys/block/dm-N/dm/name), then by the basename.
func (r roots) blockName(m mount) (name string, disk string, ok bool) {
	base := filepath.Join(r.sys, "block")
	disks, _ := os.ReadDir(base)
	if m.MajMin != "" {
		for _, d := range disks {
			if v, err := readTrim(filepath.Join(base, d.Name(), "dev")); err == nil && v == m.MajMin {
				return d.Name(), d.Name(), true
			}
			parts, _ := os.ReadDir(filepath.Join(base, d.Name()))
			for _, p := range parts {
				if !strings.HasPrefix(p.Name(), d.Name()) {
					continue
				}
				if v, err := readTrim(filepath.Join(base, d.Name(), p.Name(), "dev")); err == nil && v == m.MajMin {
					return p.Name(), d.Name(), true
				}
			}
		}
	}
	if mapped, ok := strings.CutPrefix(m.Source, "/dev/mapper/"); ok {
		for _, d := range disks {
			if v, err := readTrim(filepath.Join(base, d.Name(), "dm", "name")); err == nil && v == mapped {
				return d.Name(), d.Name(), true
			}
		}
	}
	if b, ok := strings.CutPrefix(m.Source, "/dev/"); ok && !strings.Contains(b, "/") {
		for _, d := range disks {
			if d.Name() == b {
				return b, b, true
			}
			if _, err := os.Stat(filepath.Join(base, d.Name(), b)); err == nil {
				return b, d.Name(), true
			}
		}
	}
	return "", "", false
}

func boolp(b bool) *bool { return &b }

// judge decides whether a mount's device is encrypted.
func (r roots) judge(m mount) Volume {
	v := Volume{Device: m.Source, FSType: m.FSType, Scheme: SchemeUnknown}
	switch {
	case m.FSType == "ecryptfs":
		v.Encrypted, v.Scheme = boolp(true), SchemeEcryptfs
		v.Cipher = ecryptfsCipher(m.Options)
		v.Note = "eCryptfs by filesystem type in the mount table"
		return v
	case networkFS[m.FSType]:
		v.Scheme = SchemeNetworkFS
		v.Note = fmt.Sprintf("network filesystem %s (options %s); encryption at rest is the server's and is not judged here", m.FSType, m.Options)
		return v
	}
	name, disk, ok := r.blockName(m)
	if !ok {
		v.Note = fmt.Sprintf("no block device under %s matches %s (%s); cannot tell", filepath.Join(r.sys, "block"), m.Source, m.MajMin)
		return v
	}
	// Walk down device-mapper slaves; a CRYPT- layer anywhere encrypts.
	seen := map[string]bool{}
	queue := []string{name}
	diskOf := map[string]string{name: disk}
	var crypt, cryptUUID, cryptOn string
	for len(queue) > 0 && len(seen) < 64 {
		n := queue[0]
		queue = queue[1:]
		if seen[n] {
			continue
		}
		seen[n] = true
		v.Chain = append(v.Chain, n)
		dir := filepath.Join(r.sys, "block", diskOf[n])
		if diskOf[n] != n {
			dir = filepath.Join(dir, n)
		}
		uuidPath := filepath.Join(dir, "dm", "uuid")
		if uuid, err := readTrim(uuidPath); err == nil {
			v.Evidence = append(v.Evidence, uuidPath)
			if crypt == "" && strings.HasPrefix(uuid, "CRYPT-") {
				crypt, cryptUUID, cryptOn = n, uuid, dir
			}
		}
		if bf, err := readTrim(filepath.Join(dir, "loop", "backing_file")); err == nil {
			v.Evidence = append(v.Evidence, filepath.Join(dir, "loop", "backing_file"))
			if v.Note == "" {
				v.Note = "loop device backed by file " + bf + "; that file's volume is not followed"
			}
		}
		slaves, _ := os.ReadDir(filepath.Join(dir, "slaves"))
		for _, s := range slaves {
			queue = append(queue, s.Name())
			if _, ok := diskOf[s.Name()]; !ok {
				diskOf[s.Name()] = r.diskOf(s.Name())
			}
		}
	}
	if crypt == "" {
		if strings.HasPrefix(v.Note, "loop device") {
			return v // unknown: the data lives in a file elsewhere
		}
		v.Encrypted, v.Scheme = boolp(false), SchemeNone
		if v.Note == "" {
			v.Note = "no dm-crypt layer between the filesystem and the disk"
		}
		return v
	}
	v.Encrypted = boolp(true)
	switch {
	case strings.HasPrefix(cryptUUID, "CRYPT-LUKS1-"):
		v.Scheme = SchemeLUKS1
	case strings.HasPrefix(cryptUUID, "CRYPT-LUKS2-"):
		v.Scheme = SchemeLUKS2
	case strings.HasPrefix(cryptUUID, "CRYPT-PLAIN-"):
		v.Scheme = SchemePlain
		v.Note = "plain dm-crypt: no header; the cipher is only in the dm table"
		return v
	default:
		v.Scheme = SchemeUnknown
		v.Note = fmt.Sprintf("dm-crypt device %s with uuid %q of no known LUKS type", crypt, cryptUUID)
		return v
	}
	// Read the LUKS header from the crypt device's underlying device.
	slaves, _ := os.ReadDir(filepath.Join(cryptOn, "slaves"))
	if len(slaves) == 0 {
		v.Note = "decided from " + crypt + "/dm/uuid alone: it lists no slave to read the header from"
		return v
	}
	dev := filepath.Join(r.dev, slaves[0].Name())
	h, err := readLUKS(dev)
	switch {
	case err == nil || (h.Version != 0 && !errors.Is(err, errNotLUKS)):
		v.Evidence = append(v.Evidence, dev)
		want := map[string]int{SchemeLUKS1: 1, SchemeLUKS2: 2}[v.Scheme]
		if h.Version != want {
			v.Note = fmt.Sprintf("dm uuid says %s but the header on %s is LUKS%d", v.Scheme, dev, h.Version)
		}
		v.Cipher = h.Cipher
		if err != nil {
			v.Note = strings.TrimPrefix(v.Note+"; ", "; ") + "header: " + err.Error()
		}
	default:
		v.Note = fmt.Sprintf("decided from %s/dm/uuid alone: header on %s not read (%v)", crypt, dev, err)
	}
	return v
}

// diskOf finds the disk a block device name belongs to (itself for a
// whole disk or dm device, the parent for a partition).
func (r roots) diskOf(name string) string {
	base := filepath.Join(r.sys, "block")
	if _, err := os.Stat(filepath.Join(base, name)); err == nil {
		return name
	}
	disks, _ := os.ReadDir(base)
	for _, d := range disks {
		if _, err := os.Stat(filepath.Join(base, d.Name(), name)); err == nil {
			return d.Name()
		}
	}
	return name
}

func ecryptfsCipher(opts string) string {
	var cipher, bytes string
	for _, o := range strings.Split(opts, ",") {
		if c, ok := strings.CutPrefix(o, "ecryptfs_cipher="); ok {
			cipher = c
		}
		if b, ok := strings.CutPrefix(o, "ecryptfs_key_bytes="); ok {
			bytes = b
		}
	}
	if cipher != "" && bytes != "" {
		return cipher + "-" + bytes + "bytes"
	}
	return cipher
}

// volumes judges the volumes backing the asset roots; one Volume per
// device, sorted by device.
func (r roots) volumes(assetRoots []string) ([]Volume, error) {
	mounts, src, _, err := r.readMounts()
	if err != nil {
		return nil, err
	}
	byDev := map[string]*Volume{}
	for _, root := range assetRoots {
		m, ok := backing(mounts, root)
		if !ok {
			continue
		}
		v := byDev[m.Source]
		if v == nil {
			j := r.judge(m)
			j.Evidence = append([]string{src}, j.Evidence...)
			for _, o := range mounts {
				if o.Source == m.Source && (m.MajMin == "" || o.MajMin == m.MajMin) && !contains(j.Mountpoints, o.MountPoint) {
					j.Mountpoints = append(j.Mountpoints, o.MountPoint)
				}
			}
			sort.Strings(j.Mountpoints)
			v = &j
			byDev[m.Source] = v
		}
		v.Covers = append(v.Covers, root)
	}
	out := make([]Volume, 0, len(byDev))
	for _, v := range byDev {
		sort.Strings(v.Covers)
		out = append(out, *v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Device < out[j].Device })
	return out, nil
}
