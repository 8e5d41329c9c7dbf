package datasets

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"io"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// sniffLen is how much of a file the format sniffer may read. Every magic
// number we know sits in the first 512 bytes (tar's is at 257); text
// formats are judged on the first KiB.
const (
	sniffLen     = 4096
	textSniffLen = 1024
)

// sniffVersion changes whenever Sniff could answer differently for the
// same bytes, so cached formats from an older plugin are not trusted.
const sniffVersion = 3

// Sniff names the format of a file from at most limit bytes of its
// content (capped at sniffLen), falling back to the name only where the
// content carries no signature (tfrecord) or a container needs telling
// apart (npz vs zip). The name is the base name or path of the file.
func Sniff(r io.Reader, limit int64, name string) string {
	if limit <= 0 || limit > sniffLen {
		limit = sniffLen
	}
	buf := make([]byte, limit)
	n, _ := io.ReadFull(r, buf)
	return sniffBytes(buf[:n], name)
}

func sniffBytes(b []byte, name string) string {
	ext := strings.ToLower(filepath.Ext(name))
	base := strings.ToLower(filepath.Base(name))
	has := func(off int, magic string) bool {
		return len(b) >= off+len(magic) && string(b[off:off+len(magic)]) == magic
	}
	switch {
	case has(0, "PAR1"), has(0, "PARE"):
		// PARE: Parquet with an encrypted footer.
		return "parquet"
	case has(0, "ARROW1"):
		return "arrow"
	case has(0, "\xff\xff\xff\xff") && (ext == ".arrow" || ext == ".feather"):
		// Arrow IPC streams (what Hugging Face save_to_disk writes) open
		// with a continuation marker rather than the file magic.
		return "arrow"
	case has(0, "\x93NUMPY"):
		return "npy"
	case has(0, "PK\x03\x04") || has(0, "PK\x05\x06"):
		if ext == ".npz" {
			return "npz"
		}
		return "zip"
	case has(0, "\x1f\x8b"):
		return "gzip"
	case has(0, "\x28\xb5\x2f\xfd"):
		return "zstd"
	case has(0, "BZh"):
		return "bzip2"
	case has(0, "\xfd7zXZ\x00"):
		return "xz"
	case has(257, "ustar"):
		return "tar"
	case has(0, "\x89PNG\r\n\x1a\n"):
		return "png"
	case has(0, "\xff\xd8\xff"):
		return "jpeg"
	case has(0, "GIF87a") || has(0, "GIF89a"):
		return "gif"
	case has(0, "RIFF") && has(8, "WEBP"):
		return "webp"
	case has(0, "RIFF") && has(8, "WAVE"):
		return "wav"
	case has(0, "RIFF"):
		return "riff"
	case has(0, "fLaC"):
		return "flac"
	case has(0, "ID3"), len(b) >= 2 && b[0] == 0xff && b[1]&0xe0 == 0xe0 && (ext == ".mp3" || ext == ".mpga"):
		return "mp3"
	case has(4, "ftyp"):
		return "mp4"
	case has(0, "\x89HDF\r\n\x1a\n"):
		return "hdf5"
	case tfrecordHeader(b), ext == ".tfrecord" || ext == ".tfrecords" || strings.Contains(base, ".tfrecord-"):
		return "tfrecord"
	case len(b) >= 2 && b[0] == 0x80 && b[1] >= 2 && b[1] <= 5 && (ext == ".pkl" || ext == ".pickle"):
		return "pickle"
	}
	return sniffText(b, ext)
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// maskedCRC is TFRecord's masked CRC-32C.
func maskedCRC(b []byte) uint32 {
	c := crc32.Checksum(b, castagnoli)
	return (c>>15 | c<<17) + 0xa282ead8
}

// tfrecordHeader: a TFRecord file opens with a record's 8-byte length and
// the masked CRC-32C of those 8 bytes, which random data matches once in
// four billion.
func tfrecordHeader(b []byte) bool {
	return len(b) >= 12 && binary.LittleEndian.Uint32(b[8:12]) == maskedCRC(b[:8])
}

// sniffText tells JSON, JSON Lines, CSV, TSV and plain text apart from the
// first KiB. Anything with a NUL or invalid UTF-8 is binary ("other").
func sniffText(b []byte, ext string) string {
	if len(b) > textSniffLen {
		b = b[:textSniffLen]
	}
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	if len(b) == 0 || bytes.IndexByte(b, 0) >= 0 {
		return "other"
	}
	// A multi-byte rune cut by the sniff window is not a sign of binary.
	for i := 0; i < utf8.UTFMax && !utf8.Valid(b) && len(b) > 0; i++ {
		b = b[:len(b)-1]
	}
	if len(b) == 0 {
		return "other"
	}
	if !utf8.Valid(b) {
		// Text in a legacy encoding (Latin-1 CSV exports) has no NUL and
		// few control bytes; its name then says what it is, and the
		// sampler reports the encoding problem.
		if f, ok := textExt[ext]; ok && controlBytes(b)*20 < len(b) {
			return f
		}
		return "other"
	}
	trimmed := bytes.TrimLeft(b, " \t\r\n")
	if len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[') {
		if ext == ".jsonl" || ext == ".ndjson" {
			return "jsonl"
		}
		first, rest, ok := bytes.Cut(trimmed, []byte("\n"))
		rest = bytes.TrimLeft(rest, " \t\r\n")
		if ok && json.Valid(bytes.TrimSpace(first)) && len(rest) > 0 && rest[0] == '{' {
			return "jsonl"
		}
		return "json"
	}
	lines := completeLines(b)
	if len(lines) >= 2 {
		if sep := delimiter(lines); sep == ',' {
			return "csv"
		} else if sep == '\t' {
			return "tsv"
		}
	}
	// Quoted fields make counts uneven; the name settles what the bytes cannot.
	if ext == ".csv" || ext == ".tsv" {
		return ext[1:]
	}
	return "text"
}

var textExt = map[string]string{".csv": "csv", ".tsv": "tsv", ".txt": "text", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json"}

func controlBytes(b []byte) int {
	n := 0
	for _, c := range b {
		if c < 0x20 && c != '\n' && c != '\r' && c != '\t' {
			n++
		}
	}
	return n
}

// completeLines drops the last line when the sniff window cut it short.
func completeLines(b []byte) [][]byte {
	lines := bytes.Split(bytes.TrimRight(b, "\r\n"), []byte("\n"))
	if len(b) >= textSniffLen && len(lines) > 1 {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// delimiter returns ',' or '\t' when every line has the same non-zero
// count of it, which is what a header plus rows looks like.
func delimiter(lines [][]byte) byte {
	for _, sep := range []byte{'\t', ','} {
		want := bytes.Count(lines[0], []byte{sep})
		if want == 0 {
			continue
		}
		same := true
		for _, l := range lines[1:] {
			if bytes.Count(l, []byte{sep}) != want {
				same = false
				break
			}
		}
		if same {
			return sep
		}
	}
	return 0
}
