package datasets

import (
	"bytes"
	"compress/gzip"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func FuzzFrontMatter(f *testing.F) {
	for _, s := range []string{
		card, "---\nlicense: [mit, apache-2.0]\n---\n", "---\r\nlicense: mit\r\n...\r\n", "# no front matter",
		"---\nlicense: &a [*a]\n---\n", "---\n" + strings.Repeat("a: b\n", 100) + "---\n", "---\n\t- :\n---\n", "\xef\xbb\xbf---\nlicense: x\n---\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fm, err := ParseFrontMatter(bytes.NewReader(b), 4096)
		if err == nil && len(fm.License) > 16*maxLicenseIDLen {
			t.Errorf("license of %d bytes", len(fm.License))
		}
	})
}

func FuzzSniff(f *testing.F) {
	for _, s := range []string{
		"PAR1", "ARROW1", "\x93NUMPY", "PK\x03\x04", "\x1f\x8b", "\x89PNG\r\n\x1a\n", "\xff\xd8\xff", "GIF89a",
		"RIFF\x00\x00\x00\x00WEBP", "RIFF\x00\x00\x00\x00WAVE", "fLaC", "ID3", "\x00\x00\x00\x18ftypmp42", "\x89HDF\r\n\x1a\n",
		"{\"a\":1}\n{\"a\":2}\n", "[1,2]", "a,b\n1,2\n", "a\tb\n1\t2\n", "hello", "\x00\x01", "h\xc3", strings.Repeat("é", 600),
		string(make([]byte, 257)) + "ustar",
	} {
		f.Add([]byte(s), "x.bin")
	}
	f.Add([]byte("\x80\x04"), "a.pkl")
	f.Add([]byte("x"), "t.tfrecord-00001-of-00002")
	f.Fuzz(func(t *testing.T, b []byte, name string) {
		got := Sniff(bytes.NewReader(b), sniffLen, name)
		if got == "" || !utf8.ValidString(got) {
			t.Errorf("Sniff = %q", got)
		}
		// Only the first sniffLen bytes may matter.
		if len(b) > sniffLen {
			if again := Sniff(bytes.NewReader(b[:sniffLen]), sniffLen, name); again != got {
				t.Errorf("Sniff looked past %d bytes: %q vs %q", sniffLen, got, again)
			}
		}
	})
}

func FuzzDatasetInfo(f *testing.F) {
	for _, s := range []string{`{"license":"mit"}`, `{"license":""}`, `{"license":3}`, `[]`, `{"description":"` + strings.Repeat("x", 100) + `","license":"apache-2.0"}`, `{"license":"a\"b"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		di, _ := ParseDatasetInfo(bytes.NewReader(b), 64)
		if len(di.License) > maxLicenseIDLen {
			t.Errorf("license of %d bytes", len(di.License))
		}
	})
}

func FuzzSniffLicense(f *testing.F) {
	for _, s := range []string{mitText, apacheText, "Attribution-ShareAlike 4.0 International", "CC0 1.0 Universal", "GNU GENERAL PUBLIC LICENSE\nVersion 3", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := SniffLicense(bytes.NewReader(b), 1024); err != nil {
			t.Error(err)
		}
	})
}

func FuzzReadCache(f *testing.F) {
	tag := New().cacheTag()
	f.Add([]byte(cacheMagic + " 3 " + tag + " \"/d\"\nend 0 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"))
	f.Add([]byte(cacheMagic + " 3 " + tag + " \"/d\"\n\"a b\" 1 2 3 4 5 " + strings.Repeat("0", 64) + " csv {\"pii\":{\"counts\":{\"email\":3}}}\nend 1 00\n"))
	f.Add([]byte(cacheMagic + " 3 " + tag + " \"/d\"\n\"x\\n\" 1 2 3 4 5 " + strings.Repeat("f", 64) + " other\nend 1 00\n"))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := readCache(bytes.NewReader(b), "/d", tag)
		if err == nil {
			for _, e := range c.entries {
				if len(e.SHA256) != 64 || e.Path == "" {
					t.Errorf("accepted malformed entry %+v", e)
				}
			}
		}
	})
}

// fixtureFiles returns the committed format fixtures whose name ends in
// one of exts, as fuzz seeds.
func fixtureFiles(f *testing.F, exts ...string) [][]byte {
	f.Helper()
	var out [][]byte
	filepath.WalkDir(filepath.Join("testdata", "formats", "root"), func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && slices.ContainsFunc(exts, func(e string) bool { return strings.HasSuffix(path, e) }) {
			if b, err := os.ReadFile(path); err == nil {
				out = append(out, b)
			}
		}
		return nil
	})
	if len(out) == 0 {
		f.Fatalf("no fixtures ending in %v", exts)
	}
	return out
}

// fuzzInspect runs a file's bytes through the inspector the scan uses
// and checks the facts stay bounded.
func fuzzInspect(t *testing.T, b []byte, format, name string) {
	p := quiet()
	p.set.PersonalData.MaxRows = 50
	sample := b[:min(len(b), 4096)]
	fa := p.inspect(bytes.NewReader(b), int64(len(b)), format, name, sample)
	if len(fa.Columns) > maxColumnsKept || len(fa.Findings) > 20 || fa.Rows < 0 {
		t.Errorf("unbounded facts: %d columns, %d findings, %d rows", len(fa.Columns), len(fa.Findings), fa.Rows)
	}
	if fa.PII != nil && fa.PII.Rows > 50 {
		t.Errorf("sampled %d rows over the limit", fa.PII.Rows)
	}
}

func FuzzParquet(f *testing.F) {
	for _, b := range fixtureFiles(f, ".parquet") {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) { fuzzInspect(t, b, "parquet", "x.parquet") })
}

func FuzzArrow(f *testing.F) {
	for _, b := range fixtureFiles(f, ".arrow") {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := ReadArrowInfo(bytes.NewReader(b), int64(len(b)))
		if err == nil && (info.Rows < 0 || len(info.Columns) > maxColumnsKept) {
			t.Errorf("accepted %+v", info)
		}
		fuzzInspect(t, b, "arrow", "x.arrow")
	})
}

func FuzzNpy(f *testing.F) {
	for _, b := range fixtureFiles(f, ".npy") {
		f.Add(b)
	}
	f.Add([]byte("\x93NUMPY\x02\x00\xff\xff\x00\x00{'descr'"))
	f.Fuzz(func(t *testing.T, b []byte) { fuzzInspect(t, b, "npy", "x.npy") })
}

func FuzzTar(f *testing.F) {
	for _, b := range fixtureFiles(f, ".tar") {
		f.Add(b)
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		zw.Write(b)
		zw.Close()
		f.Add(gz.Bytes())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzInspect(t, b, "tar", "x.tar")
		fuzzInspect(t, b, "gzip", "x.tar.gz")
	})
}

func FuzzTextSamples(f *testing.F) {
	for _, b := range fixtureFiles(f, ".csv", ".tsv", ".jsonl", ".json", ".txt") {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, format := range []string{"csv", "tsv", "json", "jsonl", "text"} {
			fuzzInspect(t, b, format, "x."+format)
		}
	})
}

func FuzzCard(f *testing.F) {
	for _, b := range fixtureFiles(f, "README.md") {
		f.Add(b)
	}
	f.Add([]byte("# Datasheet\n## Uses\n```\n## Personal\n```\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCard(bytes.NewReader(b), 4096)
		if err == nil && (len(c.Fields) > len(datasheetFields) || len(c.PrettyName) > 200) {
			t.Errorf("card %+v", c)
		}
	})
}

func FuzzHFInfo(f *testing.F) {
	for _, b := range fixtureFiles(f, "dataset_info.json") {
		f.Add(b)
	}
	f.Add([]byte(`{"splits": ["train", "validation"]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		info, _ := ParseHFInfo(bytes.NewReader(b), 2048)
		if len(info.Features) > maxColumnsKept || len(info.Name) > 200 {
			t.Errorf("info %+v", info)
		}
		if splits, err := ParseDatasetDict(bytes.NewReader(b), 2048); err == nil && len(splits) > 64 {
			t.Errorf("%d splits", len(splits))
		}
	})
}

func FuzzNpz(f *testing.F) {
	for _, b := range fixtureFiles(f, ".npz") {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) { fuzzInspect(t, b, "npz", "x.npz") })
}

func FuzzTFRecord(f *testing.F) {
	for _, b := range fixtureFiles(f, ".tfrecord") {
		f.Add(b)
		f.Add(b[:len(b)-3])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzInspect(t, b, "tfrecord", "x.tfrecord")
		if len(b) > sniffLen {
			b = b[:sniffLen]
		}
		Sniff(bytes.NewReader(b), sniffLen, "x.bin")
	})
}
