package access

import (
	"bytes"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
)

// needTool skips a test when a compressor is not installed (.ci/run
// installs them).
func needTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		pkg := map[string]string{"xz": "xz-utils", "unxz": "xz-utils", "unzstd": "zstd"}[name]
		if pkg == "" {
			pkg = name
		}
		t.Skipf("%s not installed (apt-get install %s)", name, pkg)
	}
	return p
}

// compressWith runs a real compressor on in and returns its output.
func compressWith(t testing.TB, in []byte, tool string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(needTool(t, tool), args...)
	cmd.Stdin = bytes.NewReader(in)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %v: %v: %s", tool, args, err, stderr.String())
	}
	return out.Bytes()
}

// realCompressed are the same text as written by the real tools in the
// ways logrotate and people call them: xz's block, stream and check
// variants (multi-threaded xz writes several blocks), zstd with and
// without a checksum and in several frames, gzip and bzip2.
func realCompressed(t testing.TB, text []byte) map[string]struct {
	kind string
	data []byte
} {
	t.Helper()
	half := len(text) / 2
	cat := func(a, b []byte) []byte { return append(append([]byte(nil), a...), b...) }
	type c = struct {
		kind string
		data []byte
	}
	return map[string]c{
		"xz":               {"xz", compressWith(t, text, "xz", "-c")},
		"xz-9e":            {"xz", compressWith(t, text, "xz", "-c", "-9e")},
		"xz-blocks-crc32":  {"xz", compressWith(t, text, "xz", "-c", "-T2", "--block-size=20000", "--check=crc32")},
		"xz-sha256":        {"xz", compressWith(t, text, "xz", "-c", "--check=sha256")},
		"xz-none":          {"xz", compressWith(t, text, "xz", "-c", "--check=none")},
		"xz-two-streams":   {"xz", cat(compressWith(t, text[:half], "xz", "-c"), compressWith(t, text[half:], "xz", "-c"))},
		"zstd":             {"zstd", compressWith(t, text, "zstd", "-c", "-q")},
		"zstd-19-checksum": {"zstd", compressWith(t, text, "zstd", "-c", "-q", "-19", "--check")},
		"zstd-two-frames":  {"zstd", cat(compressWith(t, text[:half], "zstd", "-c", "-q"), compressWith(t, text[half:], "zstd", "-c", "-q"))},
		"gzip":             {"gzip", compressWith(t, text, "gzip", "-c")},
		"bzip2":            {"bzip2", compressWith(t, text, "bzip2", "-c")},
	}
}

func decompressAll(kind string, data []byte, fileCap, budget int64) ([]byte, *capReader, error) {
	d, closeFn, err := decompressor(kind, bytes.NewReader(data))
	if err != nil {
		return nil, nil, err
	}
	defer closeFn()
	z := &capReader{r: d, fileCap: fileCap, budget: &budget}
	out, err := io.ReadAll(z)
	return out, z, err
}

func TestDecompressRealFiles(t *testing.T) {
	text := []byte(sshLines(0, 3000))
	for name, c := range realCompressed(t, text) {
		t.Run(name, func(t *testing.T) {
			if got := compressionOf("auth.log.2." + map[string]string{"xz": "xz", "zstd": "zst", "gzip": "gz", "bzip2": "bz2"}[c.kind]); got != c.kind {
				t.Fatalf("compressionOf: %q", got)
			}
			out, z, err := decompressAll(c.kind, c.data, 1<<30, 1<<30)
			if err != nil || z.err != nil || z.capped != "" {
				t.Fatalf("err %v, decoder %v, capped %q", err, z.err, z.capped)
			}
			if !bytes.Equal(out, text) {
				t.Fatalf("decompressed %d bytes, want the %d written", len(out), len(text))
			}
		})
	}
}

// TestDecompressCorrupt: a flipped byte or a cut file ends the file with
// the decoder's error kept, never a wrong text passed as whole.
func TestDecompressCorrupt(t *testing.T) {
	text := []byte(sshLines(0, 3000))
	for name, c := range realCompressed(t, text) {
		if strings.HasSuffix(name, "-none") {
			continue // no check to catch a flipped byte
		}
		t.Run(name, func(t *testing.T) {
			flipped := bytes.Clone(c.data)
			flipped[len(flipped)/2] ^= 0x55
			cut := c.data[:len(c.data)*2/3]
			for what, data := range map[string][]byte{"flipped": flipped, "cut": cut} {
				out, z, err := decompressAll(c.kind, data, 1<<30, 1<<30)
				if err == nil && z.err == nil {
					t.Errorf("%s: no error; %d bytes out", what, len(out))
				}
			}
		})
	}
}

// TestDecompressBomb: 64 MiB of zeros, compressed by the real tools to
// a few hundred KiB, stop at the file cap and the collection budget.
func TestDecompressBomb(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	zeros := make([]byte, 64<<20)
	for _, c := range []struct{ kind, tool string }{{"xz", "xz"}, {"zstd", "zstd"}, {"gzip", "gzip"}} {
		data := compressWith(t, zeros, c.tool, "-c", "-1")
		t.Logf("%s bomb: %d bytes → %d", c.kind, len(data), len(zeros))
		out, z, err := decompressAll(c.kind, data, 1<<20, 8<<20)
		if !errors.Is(err, errCapped) || len(out) != 1<<20 || z.capped != "file" {
			t.Errorf("%s: file cap 1 MiB: got %d bytes, capped %q, err %v", c.kind, len(out), z.capped, err)
		}
		_, z, err = decompressAll(c.kind, data, 1<<30, 3<<20)
		if !errors.Is(err, errDeferred) || z.pos != 3<<20 || z.capped != "collection" {
			t.Errorf("%s: budget 3 MiB: read %d, capped %q, err %v", c.kind, z.pos, z.capped, err)
		}
	}
}

// TestXZDictionaryLimit: a block asking for a dictionary over the limit
// is refused before the decoder allocates it.
func TestXZDictionaryLimit(t *testing.T) {
	data := compressWith(t, []byte(sshLines(0, 10)), "xz", "-c", "--lzma2=dict=256MiB")
	out, z, err := decompressAll("xz", data, 1<<30, 1<<30)
	if err != nil || len(out) != 0 || z.err == nil || !strings.Contains(z.err.Error(), "256 MiB dictionary, over the 64 MiB limit") {
		t.Fatalf("got %d bytes, err %v, decoder error %v", len(out), err, z.err)
	}
	// The same through zstd: a frame whose window is over the limit.
	big := compressWith(t, []byte(sshLines(0, 10)), "zstd", "-c", "-q", "--long=30")
	if _, z, err := decompressAll("zstd", big, 1<<30, 1<<30); err == nil && z.err == nil {
		t.Fatalf("zstd window 1 GiB read without error")
	}
}
