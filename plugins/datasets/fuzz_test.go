package datasets

import (
	"bytes"
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
	f.Add([]byte(cacheMagic + " 2 " + tag + " \"/d\"\nend 0 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"))
	f.Add([]byte(cacheMagic + " 2 " + tag + " \"/d\"\n{\"p\":\"a\",\"h\":\"00\",\"f\":\"x\",\"x\":{\"pii\":{\"counts\":{\"email\":3}}}}\nend 1 00\n"))
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
