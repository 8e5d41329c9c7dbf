package encryption

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// LUKS on-disk layout, as published in the LUKS1 On-Disk Format
// Specification 1.2.3 and the LUKS2 On-Disk Format Specification 1.1.
const (
	luksMagic       = "LUKS\xba\xbe"
	luksHeaderRead  = 4096      // bytes read from a device for the header: never more
	luks2BinHdrSize = 4096      // LUKS2 binary header; the JSON area follows it
	luks2JSONMax    = 60 * 1024 // bound on the LUKS2 JSON area we read
)

// luksHeader is what we take from a LUKS header.
type luksHeader struct {
	Version int    // 1 or 2
	Cipher  string // e.g. aes-xts-plain64; "" when the header does not say
	// HdrSize is the LUKS2 header size (binary header + JSON area).
	HdrSize uint64
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
// luksHeaderRead are looked at). For LUKS2 the cipher is not in the binary
// header; parseLUKS2JSON reads it from the JSON area.
func parseLUKSHeader(b []byte) (luksHeader, error) {
	if len(b) > luksHeaderRead {
		b = b[:luksHeaderRead]
	}
	if len(b) < 8 || string(b[:6]) != luksMagic {
		return luksHeader{}, errNotLUKS
	}
	h := luksHeader{Version: int(binary.BigEndian.Uint16(b[6:8]))}
	switch h.Version {
	case 1:
		// cipher_name char[32] at 8, cipher_mode char[32] at 40.
		if len(b) < 72 {
			return h, fmt.Errorf("LUKS1 header truncated at %d bytes", len(b))
		}
		name, mode := cString(b[8:40]), cString(b[40:72])
		switch {
		case name != "" && mode != "":
			h.Cipher = name + "-" + mode
		default:
			h.Cipher = name + mode
		}
	case 2:
		// hdr_size uint64 at 8 (binary header plus JSON area).
		if len(b) < 16 {
			return h, fmt.Errorf("LUKS2 header truncated at %d bytes", len(b))
		}
		h.HdrSize = binary.BigEndian.Uint64(b[8:16])
	default:
		return h, fmt.Errorf("LUKS header version %d is not known", h.Version)
	}
	return h, nil
}

// parseLUKS2JSON reads the ciphers of a LUKS2 JSON area: only
// segments.*.encryption is looked at. Several segments with distinct
// ciphers are joined with a comma, in segment order.
func parseLUKS2JSON(area []byte) (string, error) {
	if i := bytes.IndexByte(area, 0); i >= 0 {
		area = area[:i]
	}
	var doc struct {
		Segments map[string]struct {
			Encryption string `json:"encryption"`
		} `json:"segments"`
	}
	if err := json.Unmarshal(area, &doc); err != nil {
		return "", fmt.Errorf("LUKS2 JSON area: %w", err)
	}
	keys := make([]string, 0, len(doc.Segments))
	for k := range doc.Segments {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var ciphers []string
	for _, k := range keys {
		c := doc.Segments[k].Encryption
		if c != "" && c != "none" && !contains(ciphers, c) {
			ciphers = append(ciphers, c)
		}
	}
	return strings.Join(ciphers, ","), nil
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// readLUKS reads a LUKS header from a device or image file: 4 KiB, plus,
// for LUKS2, the JSON area (bounded by luks2JSONMax).
func readLUKS(path string) (luksHeader, error) {
	f, err := os.Open(path)
	if err != nil {
		return luksHeader{}, err
	}
	defer f.Close()
	buf := make([]byte, luksHeaderRead)
	n, err := io.ReadFull(f, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return luksHeader{}, err
	}
	h, err := parseLUKSHeader(buf[:n])
	if err != nil || h.Version != 2 {
		return h, err
	}
	size := uint64(luks2JSONMax)
	if h.HdrSize > luks2BinHdrSize && h.HdrSize-luks2BinHdrSize < size {
		size = h.HdrSize - luks2BinHdrSize
	}
	area := make([]byte, size)
	n, err = f.ReadAt(area, luks2BinHdrSize)
	if err != nil && !errors.Is(err, io.EOF) {
		return h, fmt.Errorf("read LUKS2 JSON area: %w", err)
	}
	h.Cipher, err = parseLUKS2JSON(area[:n])
	return h, err
}
