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

// Volumes cryptsetup opens from foreign formats.
const (
	SchemeBitLocker  = "bitlocker"
	SchemeTCrypt     = "tcrypt" // TrueCrypt / VeraCrypt
	SchemeFileVault2 = "filevault2"
)

// cryptType is the TYPE of a dm uuid CRYPT-TYPE-...
func cryptType(uuid string) string {
	t, _, _ := strings.Cut(strings.TrimPrefix(uuid, "CRYPT-"), "-")
	return t
}

// nonEncrypting are the dm layers cryptsetup and veritysetup name CRYPT-
// that do not encrypt: dm-verity and dm-integrity (their own, or a LUKS2
// volume's integrity sub-device) and cryptsetup's temporary devices.
var nonEncrypting = map[string]bool{"VERITY": true, "INTEGRITY": true, "SUBDEV": true, "TEMP": true}

// SchemeFscrypt is a root directory with an fscrypt policy; SchemeZram
// is swap on a compressed RAM disk, which never reaches a disk.
const (
	SchemeFscrypt = "fscrypt"
	SchemeZram    = "zram"
)

// Volume is the attributes of encryption.volume.
type Volume struct {
	// Subject is the record's subject: volume:<device> or fscrypt:<root>.
	Subject     string   `json:"-"`
	Device      string   `json:"device"`
	Mountpoints []string `json:"mountpoints"`
	FSType      string   `json:"fstype"`
	Covers      []string `json:"covers"`
	// Encrypted is null when the plugin could not tell.
	Encrypted *bool  `json:"encrypted"`
	Scheme    string `json:"scheme"`
	Cipher    string `json:"cipher,omitempty"`
	// KeyBits is the volume key size from the LUKS header.
	KeyBits int `json:"key_bits,omitempty"`
	// LUKS is what the LUKS header says (never key material).
	LUKS *LUKSInfo `json:"luks,omitempty"`
	// Fscrypt is the fscrypt state of each covered root.
	Fscrypt map[string]Fscrypt `json:"fscrypt,omitempty"`
	// MountOptions are a network filesystem's mount options.
	MountOptions string `json:"mount_options,omitempty"`
	// TransportEncrypted says, for a network filesystem, whether the
	// mount options encrypt the traffic (NFS sec=krb5p or xprtsec=tls,
	// SMB seal, CephFS ms_mode=secure, sshfs); null when they do not tell.
	TransportEncrypted *bool `json:"transport_encrypted,omitempty"`
	// BackingFile is the file a loop device in the chain reads from.
	BackingFile string `json:"backing_file,omitempty"`
	// Disks are the physical disks at the bottom of the chain.
	Disks []Disk `json:"disks,omitempty"`
	// Chain is the block devices from the mounted one down, e.g.
	// [dm-0, sda2]; a loop device's backing file shows as file:<path>
	// followed by the chain of the volume holding that file.
	Chain []string `json:"chain,omitempty"`
	// Evidence lists the files that told us.
	Evidence []string `json:"evidence"`
	// Note says why the scheme is unknown or how it was decided.
	Note string `json:"note,omitempty"`
}

func (v *Volume) addNote(format string, args ...any) {
	n := fmt.Sprintf(format, args...)
	if v.Note == "" {
		v.Note = n
	} else {
		v.Note += "; " + n
	}
}

// maxLoopDepth bounds how many loop devices backed by files on loop
// devices are followed.
const maxLoopDepth = 4

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
func (r roots) judge(mounts []mount, m mount, depth int) Volume {
	v := Volume{Device: m.Source, FSType: m.FSType, Scheme: SchemeUnknown}
	switch {
	case m.FSType == "ecryptfs":
		v.Encrypted, v.Scheme = boolp(true), SchemeEcryptfs
		v.Cipher = ecryptfsCipher(m.Options)
		v.Note = "eCryptfs by filesystem type in the mount table"
		return v
	case networkFS[m.FSType]:
		v.Scheme = SchemeNetworkFS
		v.MountOptions = m.Options
		var why string
		v.TransportEncrypted, why = transportEncryption(m.FSType, m.Options)
		v.Note = fmt.Sprintf("network filesystem %s (options %s); encryption at rest is the server's and is not judged here; in transit: %s", m.FSType, m.Options, why)
		return v
	}
	name, disk, ok := r.blockName(m)
	if !ok {
		v.Note = fmt.Sprintf("no block device under %s matches %s (%s); cannot tell", filepath.Join(r.sys, "block"), m.Source, m.MajMin)
		return v
	}
	r.judgeBlock(mounts, &v, name, disk, depth)
	return v
}

// blockNode is one device of a stack, as sysfs describes it.
type blockNode struct {
	dir      string
	uuid     string // dm uuid, "" for a disk or partition
	slaves   []string
	loopFile string // loop devices: the backing file
}

func (b blockNode) encrypts() bool {
	return strings.HasPrefix(b.uuid, "CRYPT-") && !nonEncrypting[cryptType(b.uuid)]
}

// judgeBlock walks from a block device down its slaves. The volume is
// encrypted when every path down to a disk passes through a dm-crypt
// layer; a loop device reached without one is as encrypted as the volume
// holding its backing file.
func (r roots) judgeBlock(mounts []mount, v *Volume, name, disk string, depth int) {
	nodes := map[string]blockNode{}
	queue := []string{name}
	diskOf := map[string]string{name: disk}
	for len(queue) > 0 && len(nodes) < 64 {
		n := queue[0]
		queue = queue[1:]
		if _, ok := nodes[n]; ok {
			continue
		}
		v.Chain = append(v.Chain, n)
		b := blockNode{dir: filepath.Join(r.sys, "block", diskOf[n])}
		if diskOf[n] != n {
			b.dir = filepath.Join(b.dir, n)
		}
		uuidPath := filepath.Join(b.dir, "dm", "uuid")
		if uuid, err := readTrim(uuidPath); err == nil {
			v.Evidence = append(v.Evidence, uuidPath)
			b.uuid = uuid
		}
		bfPath := filepath.Join(b.dir, "loop", "backing_file")
		if bf, err := readTrim(bfPath); err == nil {
			v.Evidence = append(v.Evidence, bfPath)
			b.loopFile = bf
		}
		slaves, _ := os.ReadDir(filepath.Join(b.dir, "slaves"))
		for _, s := range slaves {
			b.slaves = append(b.slaves, s.Name())
			queue = append(queue, s.Name())
			if _, ok := diskOf[s.Name()]; !ok {
				diskOf[s.Name()] = r.diskOf(s.Name())
			}
		}
		// A device with nothing under it lies on a physical disk (or
		// a loop device's file, followed below).
		if len(slaves) == 0 && b.loopFile == "" && !strings.HasPrefix(n, "loop") {
			v.Disks = append(v.Disks, r.disk(diskOf[n]))
		}
		nodes[n] = b
	}
	// exposed: the bottom devices reached from the top without passing a
	// crypt layer; crypt: the first crypt layer in walk order.
	var exposed []string
	var crypt string
	visited := map[string]bool{}
	var walk func(n string)
	walk = func(n string) {
		if visited[n] {
			return
		}
		visited[n] = true
		b, ok := nodes[n]
		switch {
		case !ok:
			exposed = append(exposed, n) // beyond the walk's bound
		case b.encrypts():
			if crypt == "" {
				crypt = n
			}
		case len(b.slaves) == 0:
			exposed = append(exposed, n)
		default:
			for _, s := range b.slaves {
				walk(s)
			}
		}
	}
	walk(name)
	var loops, plain []string
	for _, n := range exposed {
		if nodes[n].loopFile != "" {
			loops = append(loops, n)
		} else {
			plain = append(plain, n)
		}
	}
	for _, n := range v.Chain {
		if f := nodes[n].loopFile; f != "" {
			v.BackingFile = f // a LUKS image on a loop device, too
			break
		}
	}
	switch {
	case len(exposed) == 0 && crypt != "":
		r.judgeCrypt(v, crypt, nodes[crypt].uuid, nodes[crypt].dir)
	case len(plain) > 0 && crypt != "":
		v.Encrypted, v.Scheme = boolp(false), SchemeNone
		v.addNote("only part of the stack is encrypted: %s is under no dm-crypt layer, %s is one", strings.Join(plain, ", "), crypt)
	case len(plain) > 0:
		v.Encrypted, v.Scheme = boolp(false), SchemeNone
		v.addNote("no dm-crypt layer between the filesystem and the disk")
	case len(loops) == 1 && crypt == "":
		r.judgeLoop(mounts, v, loops[0], nodes[loops[0]].loopFile, depth)
	default:
		// Several loop devices, or loop devices beside crypt layers:
		// rare enough to say so rather than guess.
		v.Scheme = SchemeUnknown
		v.addNote("the stack mixes %d loop devices (%s) and crypt layer %q; not judged", len(loops), strings.Join(loops, ", "), crypt)
	}
}

// judgeLoop: the data of a loop device without a crypt layer above it
// lies, as written, in its backing file, so the file's volume decides.
func (r roots) judgeLoop(mounts []mount, v *Volume, loop, file string, depth int) {
	v.Scheme = SchemeUnknown
	switch {
	case strings.HasSuffix(file, " (deleted)"):
		v.addNote("%s is backed by a deleted file, %s; cannot tell", loop, file)
		return
	case !filepath.IsAbs(file):
		v.addNote("%s has backing file %q, not an absolute path; cannot tell", loop, file)
		return
	case depth >= maxLoopDepth:
		v.addNote("%s: more than %d loop devices stacked; not followed further", loop, maxLoopDepth)
		return
	}
	m, ok := backing(mounts, file)
	if !ok {
		v.addNote("%s is backed by %s, which no mount holds; cannot tell", loop, file)
		return
	}
	inner := r.judge(mounts, m, depth+1)
	v.Chain = append(v.Chain, "file:"+file)
	v.Chain = append(v.Chain, inner.Chain...)
	v.Evidence = append(v.Evidence, inner.Evidence...)
	v.Encrypted, v.Scheme, v.Cipher, v.KeyBits, v.LUKS = inner.Encrypted, inner.Scheme, inner.Cipher, inner.KeyBits, inner.LUKS
	v.Disks = append(v.Disks, inner.Disks...)
	v.addNote("%s is backed by file %s on %s (%s)", loop, file, m.Source, inner.Scheme)
	if inner.Note != "" {
		v.addNote("%s", inner.Note)
	}
}

// judgeCrypt decides the scheme from a dm-crypt layer's uuid and reads the
// LUKS header from the device under it.
func (r roots) judgeCrypt(v *Volume, crypt, cryptUUID, cryptOn string) {
	v.Encrypted = boolp(true)
	switch t := cryptType(cryptUUID); t {
	case "LUKS1":
		v.Scheme = SchemeLUKS1
	case "LUKS2":
		v.Scheme = SchemeLUKS2
	case "PLAIN":
		v.Scheme = SchemePlain
		v.addNote("plain dm-crypt: no header; the cipher is only in the dm table")
		return
	case "BITLK", "TCRYPT", "FVAULT2":
		v.Scheme = map[string]string{"BITLK": SchemeBitLocker, "TCRYPT": SchemeTCrypt, "FVAULT2": SchemeFileVault2}[t]
		v.addNote("%s opened by cryptsetup (dm uuid %s); its header is not read", v.Scheme, cryptUUID)
		return
	default:
		v.Encrypted, v.Scheme = nil, SchemeUnknown
		v.addNote("dm-crypt device %s with uuid %q of a type this plugin does not know; cannot tell", crypt, cryptUUID)
		return
	}
	slaves, _ := os.ReadDir(filepath.Join(cryptOn, "slaves"))
	if len(slaves) == 0 {
		v.addNote("decided from %s/dm/uuid alone: it lists no slave to read the header from", crypt)
		return
	}
	under := slaves[0].Name()
	// LUKS2 with integrity: the crypt layer sits on a dm-integrity
	// sub-device; the header is on the device under that.
	for range 4 {
		uuid, _ := readTrim(filepath.Join(r.sys, "block", under, "dm", "uuid"))
		sub, _ := os.ReadDir(filepath.Join(r.sys, "block", under, "slaves"))
		if cryptType(uuid) != "SUBDEV" || len(sub) == 0 {
			break
		}
		under = sub[0].Name()
	}
	dev := filepath.Join(r.dev, under)
	h, err := readLUKS(dev)
	if err != nil && (h.Version == 0 || errors.Is(err, errNotLUKS)) {
		v.addNote("decided from %s/dm/uuid alone: header on %s not read (%v)", crypt, dev, err)
		return
	}
	v.Evidence = append(v.Evidence, dev)
	if want := map[string]int{SchemeLUKS1: 1, SchemeLUKS2: 2}[v.Scheme]; h.Version != want {
		v.addNote("dm uuid says %s but the header on %s is LUKS%d", v.Scheme, dev, h.Version)
	}
	// The dm uuid is CRYPT-LUKSn-<header uuid without dashes>-<name>.
	if id := strings.ReplaceAll(h.UUID, "-", ""); id != "" && !strings.HasPrefix(cryptUUID, fmt.Sprintf("CRYPT-LUKS%d-%s", h.Version, id)) {
		v.addNote("the header on %s has uuid %s, not the one in %s/dm/uuid (%s): the header read may not be this volume's", dev, h.UUID, crypt, cryptUUID)
	}
	v.Cipher, v.KeyBits = h.Cipher, h.KeyBits
	v.LUKS = &h
	if err != nil {
		v.addNote("header: %v", err)
	}
	if h.PrimaryDamaged != "" {
		v.addNote("the primary LUKS2 header on %s is damaged (%s); read from the secondary header", dev, h.PrimaryDamaged)
	}
}

// Disk is a physical disk under a volume: removable media (USB drives,
// SD cards) are worth knowing about for storage-media controls.
type Disk struct {
	Name      string `json:"name"`
	Removable bool   `json:"removable"`
	Model     string `json:"model,omitempty"`
	Serial    string `json:"serial,omitempty"`
}

func (r roots) disk(name string) Disk {
	d := Disk{Name: name}
	base := filepath.Join(r.sys, "block", name)
	if v, err := readTrim(filepath.Join(base, "removable")); err == nil {
		d.Removable = v == "1"
	}
	d.Model, _ = readTrim(filepath.Join(base, "device", "model"))
	if d.Serial, _ = readTrim(filepath.Join(base, "device", "serial")); d.Serial == "" {
		d.Serial, _ = readTrim(filepath.Join(base, "serial"))
	}
	return d
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
// device, plus one per root with its own fscrypt policy, sorted by subject.
func (r roots) volumes(assetRoots []string) ([]Volume, error) {
	mounts, src, _, err := r.readMounts()
	if err != nil {
		return nil, err
	}
	byDev := map[string]*Volume{}
	var out []Volume
	for _, root := range assetRoots {
		// A root that is a symlink (/srv/ml/datasets → /data/ds) lies on
		// the volume of its target.
		real := root
		if p, err := filepath.EvalSymlinks(root); err == nil {
			real = p
		}
		m, ok := backing(mounts, real)
		if !ok {
			continue
		}
		v := byDev[m.Source]
		if v == nil {
			j := r.judge(mounts, m, 0)
			j.Subject = "volume:" + m.Source
			j.Covers = []string{}
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
		fs := Fscrypt{State: "unsupported", Detail: "not asked on a network filesystem (a server that does not answer would block the plugin)"}
		if !networkFS[m.FSType] {
			fs = r.fscrypt(real)
		}
		if fs.State == "encrypted" {
			// The root is encrypted whatever the volume is: it gets its
			// own record, and the volume's record does not cover it.
			cipher := fs.Contents
			if fs.Filenames != "" {
				cipher += "/" + fs.Filenames
			}
			out = append(out, Volume{
				Subject: "fscrypt:" + root, Device: m.Source, Mountpoints: []string{m.MountPoint},
				FSType: m.FSType, Covers: []string{root}, Encrypted: boolp(true), Scheme: SchemeFscrypt,
				Cipher: cipher, Fscrypt: map[string]Fscrypt{root: fs},
				Evidence: []string{src, "FS_IOC_GET_ENCRYPTION_POLICY_EX on " + root},
				Note:     fmt.Sprintf("fscrypt policy v%d on the root; the volume under it is reported as volume:%s", fs.PolicyVersion, m.Source),
			})
			continue
		}
		if v.Fscrypt == nil {
			v.Fscrypt = map[string]Fscrypt{}
		}
		v.Fscrypt[root] = fs
		v.Covers = append(v.Covers, root)
	}
	for _, v := range byDev {
		sort.Strings(v.Covers)
		out = append(out, *v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Subject < out[j].Subject })
	return out, nil
}

// fscrypt reads a root's fscrypt policy from the kernel.
func (r roots) fscrypt(root string) Fscrypt { return fscryptPolicy(root) }

// transportEncryption reads a network mount's options for encryption in
// transit.
func transportEncryption(fstype, opts string) (*bool, string) {
	o := map[string]string{}
	for _, kv := range strings.Split(opts, ",") {
		k, v, _ := strings.Cut(kv, "=")
		o[k] = v
	}
	switch fstype {
	case "nfs", "nfs4":
		switch {
		case o["xprtsec"] == "tls" || o["xprtsec"] == "mtls":
			return boolp(true), "RPC-with-TLS (xprtsec=" + o["xprtsec"] + ")"
		case strings.Contains(o["sec"], "krb5p"):
			return boolp(true), "Kerberos privacy (sec=" + o["sec"] + ")"
		case o["sec"] != "":
			return boolp(false), "sec=" + o["sec"] + " does not encrypt (only krb5p does)"
		}
		return boolp(false), "no sec=krb5p or xprtsec=tls"
	case "cifs", "smb3", "smbfs":
		if _, ok := o["seal"]; ok {
			return boolp(true), "SMB3 encryption (seal)"
		}
		return nil, "no seal option; the server may still require SMB3 encryption per share"
	case "ceph":
		switch o["ms_mode"] {
		case "secure":
			return boolp(true), "ms_mode=secure"
		case "legacy", "crc", "prefer-crc", "":
			return boolp(false), "ms_mode=" + o["ms_mode"] + " does not encrypt"
		}
		return nil, "ms_mode=" + o["ms_mode"]
	case "fuse.sshfs":
		return boolp(true), "SSH"
	}
	return nil, "not told by the mount options"
}
