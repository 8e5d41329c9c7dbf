package encryption

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
)

// LUKS on-disk layout, as published in the LUKS1 On-Disk Format
// Specification 1.2.3 and the LUKS2 On-Disk Format Specification 1.1.
const (
	luksMagic       = "LUKS\xba\xbe"
	luksHeaderRead  = 4096           // bytes read of a binary header (LUKS1 phdr, LUKS2 binary header)
	luks2BinHdrSize = 4096           // LUKS2 binary header; the JSON area follows it
	luks2Magic2     = "SKUL\xba\xbe" // the LUKS2 secondary header's magic
	// luks2JSONMax bounds the LUKS2 JSON area we read. The format allows
	// up to 4 MiB - 4 KiB; cryptsetup writes 12 KiB by default and real
	// headers hold a few KiB of JSON, so 1 MiB is generous and bounded.
	luks2JSONMax = 1 << 20

	luks1SlotActive   = 0x00AC71F3
	luks1SlotDisabled = 0x0000DEAD
	luks1Slots        = 8
	luks1PhdrSize     = 592
)

// LUKSInfo is what a LUKS header says about a volume: never key material,
// salts or digests.
type LUKSInfo struct {
	Version int    `json:"version"`
	UUID    string `json:"uuid,omitempty"`
	Label   string `json:"label,omitempty"` // LUKS2 only
	// Cipher is cipher-mode, e.g. aes-xts-plain64 (several LUKS2
	// segments with distinct ciphers are joined with a comma).
	Cipher string `json:"cipher,omitempty"`
	// KeyBits is the volume key size; for XTS it is twice the AES key
	// (512 bits for AES-256-XTS).
	KeyBits int `json:"key_bits,omitempty"`
	// Hash is LUKS1's hash_spec or the hash of LUKS2's volume-key digest.
	Hash string `json:"hash,omitempty"`
	// KDFs are the key-derivation functions of the key slots in use
	// (pbkdf2, argon2i, argon2id), distinct, sorted.
	KDFs []string `json:"kdfs,omitempty"`
	// KeySlots is the number of key slots in use, i.e. how many
	// passphrases, key files or tokens can open the volume.
	KeySlots int `json:"keyslots"`
	// Slots describes each key slot in use: how costly its KDF makes a
	// guess at the passphrase.
	Slots []KeySlot `json:"slots,omitempty"`
	// Tokens are LUKS2 token types (systemd-tpm2, clevis, ...).
	Tokens     []string `json:"tokens,omitempty"`
	SectorSize int      `json:"sector_size,omitempty"` // LUKS2 segment sector size
	Integrity  string   `json:"integrity,omitempty"`   // LUKS2 authenticated encryption
	// HdrSize is the LUKS2 header size (binary header + JSON area).
	HdrSize uint64 `json:"-"`
	// Checksum is "ok" or "mismatch" for a LUKS2 header whose checksum
	// was verified; "" when not checked.
	Checksum string `json:"checksum,omitempty"`
	// PrimaryDamaged says why the LUKS2 primary header was not used; the
	// rest then comes from the secondary header, as cryptsetup would do.
	PrimaryDamaged string `json:"primary_damaged,omitempty"`
}

// KeySlot is one key slot in use.
type KeySlot struct {
	Slot int    `json:"slot"`
	KDF  string `json:"kdf"` // pbkdf2, argon2i, argon2id
	Hash string `json:"hash,omitempty"`
	// Iterations (pbkdf2) or Time (argon2 passes), MemoryKiB and CPUs
	// (argon2).
	Iterations int `json:"iterations,omitempty"`
	Time       int `json:"time,omitempty"`
	MemoryKiB  int `json:"memory_kib,omitempty"`
	CPUs       int `json:"cpus,omitempty"`
}

var errNotLUKS = errors.New("no LUKS magic")

// cString returns a NUL-terminated string field.
func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return strings.TrimSpace(string(bytes.ToValidUTF8(b, nil)))
}

// parseLUKSHeader parses the first bytes of a device (at most
// luksHeaderRead are looked at). For LUKS2 the cipher and key slots are not
// in the binary header; parseLUKS2JSON reads them from the JSON area.
func parseLUKSHeader(b []byte) (LUKSInfo, error) { return parseLUKSHeaderMagic(b, luksMagic) }

func parseLUKSHeaderMagic(b []byte, magic string) (LUKSInfo, error) {
	if len(b) > luksHeaderRead {
		b = b[:luksHeaderRead]
	}
	if len(b) < 8 || string(b[:6]) != magic {
		return LUKSInfo{}, errNotLUKS
	}
	h := LUKSInfo{Version: int(binary.BigEndian.Uint16(b[6:8]))}
	switch h.Version {
	case 1:
		if len(b) < luks1PhdrSize {
			return h, fmt.Errorf("LUKS1 header truncated at %d of %d bytes", len(b), luks1PhdrSize)
		}
		// cipher_name@8, cipher_mode@40, hash_spec@72 (char[32] each),
		// key_bytes@108, uuid@168 (char[40]), 8 key slots of 48 bytes @208.
		name, mode := cString(b[8:40]), cString(b[40:72])
		h.Cipher = name
		if name != "" && mode != "" {
			h.Cipher = name + "-" + mode
		} else if mode != "" {
			h.Cipher = mode
		}
		h.Hash = cString(b[72:104])
		if kb := binary.BigEndian.Uint32(b[108:112]); kb <= 1024 {
			h.KeyBits = int(kb) * 8
		} else {
			return h, fmt.Errorf("LUKS1 key_bytes %d is implausible", kb)
		}
		h.UUID = cString(b[168:208])
		for i := range luks1Slots {
			switch binary.BigEndian.Uint32(b[208+48*i:]) {
			case luks1SlotActive:
				h.KeySlots++
				// iterations u32 follows the state; LUKS1 slots use the
				// header's hash_spec with PBKDF2.
				h.Slots = append(h.Slots, KeySlot{Slot: i, KDF: "pbkdf2", Hash: h.Hash,
					Iterations: int(binary.BigEndian.Uint32(b[208+48*i+4:]) & 0x7fffffff)})
			case luks1SlotDisabled:
			default:
				return h, fmt.Errorf("LUKS1 key slot %d has an invalid state", i)
			}
		}
		if h.KeySlots > 0 {
			h.KDFs = []string{"pbkdf2"}
		}
	case 2:
		if len(b) < 256 {
			return h, fmt.Errorf("LUKS2 header truncated at %d bytes", len(b))
		}
		// hdr_size@8 (u64), label@24 (char[48]), uuid@168 (char[40]).
		h.HdrSize = binary.BigEndian.Uint64(b[8:16])
		h.Label = cString(b[24:72])
		h.UUID = cString(b[168:208])
		if h.HdrSize < 16384 || h.HdrSize > 4<<20 || h.HdrSize&(h.HdrSize-1) != 0 {
			return h, fmt.Errorf("LUKS2 hdr_size %d is not a power of two from 16 KiB to 4 MiB", h.HdrSize)
		}
	default:
		return h, fmt.Errorf("LUKS header version %d is not known", h.Version)
	}
	return h, nil
}

// luks2Size is a LUKS2 JSON size: the format writes sizes and offsets as
// strings of decimal digits; be lenient with numbers too.
type luks2Size json.RawMessage

func (s *luks2Size) UnmarshalJSON(b []byte) error { *s = append((*s)[:0], b...); return nil }

func (s luks2Size) int() (int, bool) {
	v := strings.Trim(string(s), `"`)
	n, err := strconv.Atoi(v)
	return n, err == nil && n >= 0
}

// parseLUKS2JSON fills h from a LUKS2 JSON area: segments (cipher, sector
// size, integrity), keyslots (count, key size, KDF), digests (hash) and
// tokens (types). Anything else is ignored.
func parseLUKS2JSON(h *LUKSInfo, area []byte) error {
	if len(area) > luks2JSONMax {
		area = area[:luks2JSONMax]
	}
	if i := bytes.IndexByte(area, 0); i >= 0 {
		area = area[:i]
	}
	var doc struct {
		Keyslots map[string]struct {
			Type    string    `json:"type"`
			KeySize luks2Size `json:"key_size"`
			KDF     struct {
				Type       string    `json:"type"`
				Hash       string    `json:"hash"`
				Iterations luks2Size `json:"iterations"`
				Time       luks2Size `json:"time"`
				Memory     luks2Size `json:"memory"`
				CPUs       luks2Size `json:"cpus"`
			} `json:"kdf"`
		} `json:"keyslots"`
		Segments map[string]struct {
			Type       string    `json:"type"`
			Encryption string    `json:"encryption"`
			SectorSize luks2Size `json:"sector_size"`
			Integrity  *struct {
				Type string `json:"type"`
			} `json:"integrity"`
		} `json:"segments"`
		Digests map[string]struct {
			Hash string `json:"hash"`
		} `json:"digests"`
		Tokens map[string]struct {
			Type string `json:"type"`
		} `json:"tokens"`
	}
	if err := json.Unmarshal(area, &doc); err != nil {
		return fmt.Errorf("LUKS2 JSON area: %w", err)
	}
	if doc.Segments == nil || doc.Keyslots == nil {
		return fmt.Errorf("LUKS2 JSON area has no segments or keyslots object")
	}
	var ciphers, kdfs, hashes, tokens, integ []string
	for _, k := range sortedKeys(doc.Segments) {
		s := doc.Segments[k]
		if c := s.Encryption; c != "" && c != "none" && !contains(ciphers, c) {
			ciphers = append(ciphers, c)
		}
		if n, ok := s.SectorSize.int(); ok && h.SectorSize == 0 {
			h.SectorSize = n
		}
		if s.Integrity != nil && s.Integrity.Type != "" && !contains(integ, s.Integrity.Type) {
			integ = append(integ, s.Integrity.Type)
		}
	}
	for _, k := range sortedKeys(doc.Keyslots) {
		ks := doc.Keyslots[k]
		h.KeySlots++
		if n, ok := ks.KeySize.int(); ok && n <= 1024 && n*8 > h.KeyBits {
			h.KeyBits = n * 8
		}
		if t := ks.KDF.Type; t != "" && !contains(kdfs, t) {
			kdfs = append(kdfs, t)
		}
		slot := KeySlot{KDF: ks.KDF.Type, Hash: ks.KDF.Hash}
		slot.Slot, _ = luks2Size(k).int()
		slot.Iterations, _ = ks.KDF.Iterations.int()
		slot.Time, _ = ks.KDF.Time.int()
		slot.MemoryKiB, _ = ks.KDF.Memory.int()
		slot.CPUs, _ = ks.KDF.CPUs.int()
		h.Slots = append(h.Slots, slot)
	}
	for _, k := range sortedKeys(doc.Digests) {
		if d := doc.Digests[k].Hash; d != "" && !contains(hashes, d) {
			hashes = append(hashes, d)
		}
	}
	for _, k := range sortedKeys(doc.Tokens) {
		if t := doc.Tokens[k].Type; t != "" && !contains(tokens, t) {
			tokens = append(tokens, t)
		}
	}
	sort.Strings(kdfs)
	sort.Strings(tokens)
	h.Cipher = strings.Join(ciphers, ",")
	h.Hash = strings.Join(hashes, ",")
	h.Integrity = strings.Join(integ, ",")
	h.KDFs, h.Tokens = kdfs, tokens
	return nil
}

// sortedKeys orders LUKS2 object keys numerically ("10" after "9").
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, ea := strconv.Atoi(keys[i])
		b, eb := strconv.Atoi(keys[j])
		if ea == nil && eb == nil {
			return a < b
		}
		return keys[i] < keys[j]
	})
	return keys
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// luks2Checksum verifies a LUKS2 header's checksum: the hash (only sha256
// is checked; cryptsetup writes nothing else) of the binary header with its
// csum field zeroed, followed by the whole JSON area.
func luks2Checksum(hdr []byte) string {
	if cString(hdr[72:104]) != "sha256" {
		return ""
	}
	d := sha256.New()
	var zero [64]byte
	d.Write(hdr[:448])
	d.Write(zero[:])
	d.Write(hdr[512:])
	if subtle.ConstantTimeCompare(d.Sum(nil), hdr[448:448+sha256.Size]) == 1 {
		return "ok"
	}
	return "mismatch"
}

// readLUKS reads a LUKS header from a device or image file: 4 KiB, plus,
// for LUKS2, the JSON area (bounded by luks2JSONMax). errNotLUKS when the
// file does not start with the LUKS magic.
func readLUKS(path string) (LUKSInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return LUKSInfo{}, err
	}
	defer f.Close()
	return readLUKSFrom(f)
}

func readLUKSFrom(f io.ReaderAt) (LUKSInfo, error) {
	h, err := readLUKSAt(f, 0, luksMagic)
	if err == nil || (h.Version != 2 && !errors.Is(err, errNotLUKS)) {
		return h, err
	}
	// The primary header is damaged (or wiped): a LUKS2 secondary header
	// records its own offset, which is hdr_size, one of the sizes the
	// format allows, as cryptsetup looks for it.
	offsets := []uint64{16 << 10, 32 << 10, 64 << 10, 128 << 10, 256 << 10, 512 << 10, 1 << 20, 2 << 20, 4 << 20}
	if h.HdrSize >= 16<<10 && h.HdrSize <= 4<<20 && h.HdrSize&(h.HdrSize-1) == 0 {
		offsets = []uint64{h.HdrSize}
	}
	for _, off := range offsets {
		h2, err2 := readLUKSAt(f, int64(off), luks2Magic2)
		if err2 == nil {
			h2.PrimaryDamaged = err.Error()
			return h2, nil
		}
		if !errors.Is(err2, errNotLUKS) && len(offsets) == 1 {
			return h, fmt.Errorf("%w (secondary header: %v)", err, err2)
		}
	}
	return h, err
}

// readLUKSAt reads one header at off: the binary header, and for LUKS2
// the JSON area (bounded by luks2JSONMax) and its checksum.
func readLUKSAt(f io.ReaderAt, off int64, magic string) (LUKSInfo, error) {
	buf := make([]byte, luksHeaderRead)
	n, err := f.ReadAt(buf, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return LUKSInfo{}, err
	}
	h, err := parseLUKSHeaderMagic(buf[:n], magic)
	if err != nil || h.Version != 2 {
		return h, err
	}
	if at := binary.BigEndian.Uint64(buf[256:264]); at != uint64(off) {
		return h, fmt.Errorf("LUKS2 header at offset %d says it is at %d", off, at)
	}
	size := h.HdrSize - luks2BinHdrSize
	whole := size <= luks2JSONMax
	if !whole {
		size = luks2JSONMax
	}
	hdr := make([]byte, luks2BinHdrSize+size)
	copy(hdr, buf)
	n, err = f.ReadAt(hdr[luks2BinHdrSize:], off+luks2BinHdrSize)
	if err != nil && !errors.Is(err, io.EOF) {
		return h, fmt.Errorf("read LUKS2 JSON area: %w", err)
	}
	if whole && uint64(n) == size {
		h.Checksum = luks2Checksum(hdr)
	}
	if err := parseLUKS2JSON(&h, hdr[luks2BinHdrSize:luks2BinHdrSize+n]); err != nil {
		return h, err
	}
	if h.Checksum == "mismatch" {
		return h, fmt.Errorf("LUKS2 header checksum does not match (a damaged or tampered header)")
	}
	return h, nil
}
