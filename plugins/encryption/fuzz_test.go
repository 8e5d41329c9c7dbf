package encryption

import (
	"bytes"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// FuzzLUKSHeader: any bytes give a header or an error, never a panic,
// and the reader never reads past its bounds. Seeded with real headers.
func FuzzLUKSHeader(f *testing.F) {
	for _, name := range []string{"luks1-aes-xts.hdr", "luks1-aes-cbc-2slots.hdr", "luks2-aes-xts.hdr", "luks2-aes128-2slots-token.hdr", "luks2-aes-xts-both.hdr"} {
		f.Add(luksFixture(f, name))
	}
	f.Add([]byte(luksMagic + "\x00\x02"))
	f.Add([]byte("LUKS\xba\xbe\x00\x01short"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := readLUKSFrom(bytes.NewReader(b))
		if err == nil && h.Version != 1 && h.Version != 2 {
			t.Errorf("version %d accepted", h.Version)
		}
		if h.KeyBits > 8192 || h.KeySlots < 0 {
			t.Errorf("implausible %+v", h)
		}
	})
}

// FuzzLUKS2JSON: the JSON area parser on arbitrary bytes.
func FuzzLUKS2JSON(f *testing.F) {
	f.Add(luksFixture(f, "luks2-aes-xts.hdr")[4096:])
	f.Add(luksFixture(f, "luks2-aes128-2slots-token.hdr")[4096:])
	f.Add([]byte(`{"segments":{"0":{"encryption":"none"}},"keyslots":{}}`))
	f.Add([]byte(`{"segments":[1]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var h LUKSInfo
		parseLUKS2JSON(&h, b)
	})
}

// FuzzMountinfo: malformed lines are skipped, never a crash; every mount
// returned has an absolute mount point.
func FuzzMountinfo(f *testing.F) {
	f.Add(fixtureMountinfo)
	// This machine's own tables, when there are any.
	for _, p := range []string{"/proc/self/mountinfo", "/proc/mounts"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(string(b))
		}
	}
	f.Add("1 2 3:4 / /a\\04 rw - ext4 x rw\n")
	f.Add("1 2 3:4 / / rw - \n- - - - - - - - - -")
	f.Add("/dev/sda1 / ext4 rw 0 0\n")
	f.Fuzz(func(t *testing.T, s string) {
		ms, _ := parseMountinfo(s)
		ms2, _ := parseMounts(s)
		for _, m := range append(ms, ms2...) {
			if len(m.MountPoint) == 0 {
				t.Errorf("empty mount point from %q", s)
			}
			backing(ms, "/srv/ml")
		}
	})
}

// FuzzSwaps: /proc/swaps lines; every entry has an absolute path and no
// negative size.
func FuzzSwaps(f *testing.F) {
	f.Add(fixtureSwaps)
	if b, err := os.ReadFile("/proc/swaps"); err == nil {
		f.Add(string(b))
	}
	f.Add("Filename Type Size Used Priority\n/swap.img file 1 2 -2\n")
	f.Add("/a\\040b partition x 0 0\n/dev/sda2 partition 9223372036854775808 0 0")
	f.Fuzz(func(t *testing.T, s string) {
		entries, _ := parseSwaps(s)
		for _, e := range entries {
			if !strings.HasPrefix(e.Path, "/") && !strings.HasPrefix(e.Path, "\\") || e.Size < 0 || e.Used < 0 {
				t.Errorf("%+v from %q", e, s)
			}
		}
	})
}

// FuzzClassifyKey: any file head gives a type, never a panic; a type
// other than none is one of the known ones.
func FuzzClassifyKey(f *testing.F) {
	f.Add("id_ed25519", []byte("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n-----END OPENSSH PRIVATE KEY-----\n"))
	f.Add("k.pem", []byte("-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\nAAAA\n-----END RSA PRIVATE KEY-----\n"))
	f.Add("sa.json", []byte(`{"type": "service_account", "private_key": "x"}`))
	f.Add("credentials", []byte("[default]\naws_secret_access_key = x\n"))
	f.Add("x.pem", []byte("-----BEGIN -----BEGIN PRIVATE KEY"))
	f.Fuzz(func(t *testing.T, name string, head []byte) {
		typ, _, _ := classifyKey(name, head)
		switch typ {
		case KeyNone, KeyPrivate, KeySSHPrivate, KeyPKCS12, KeyAWSCredentials, KeyGCPAccount, KeyGCPUser:
		default:
			t.Errorf("type %q", typ)
		}
	})
}

// FuzzSecretScan: any bytes under any name give findings that name a
// known rule, a line of the input, a 128-bit fingerprint and at most a
// documented prefix as hint, never a panic. Seeded with the files of the
// secret-scan test tree (a .env, a notebook with a PNG output, scripts,
// YAML, JSON, .netrc).
func FuzzSecretScan(f *testing.F) {
	root, _ := secretTree(f, makeSecrets(9))
	// Large seeds (the notebooks with 77 KB images) make the fuzzer spend
	// its time minimising; they run in TestSecretScanTree. A small
	// notebook stands in for them.
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if b, _ := os.ReadFile(path); len(b) <= 16<<10 {
				f.Add(d.Name(), b)
			}
		}
		return nil
	})
	sec := makeSecrets(10)
	f.Add("small.ipynb", notebook(f, []map[string]any{
		codeCell("a", "login(token=\""+sec[RuleHuggingFace]+"\")\n", pngOutputSized(f, 1, 8, 8)),
		codeCell("b", "k = \"-----BEGIN PRIVATE KEY-----\\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\\n-----END PRIVATE KEY-----\\n\"\n", streamOutput(sec[RuleGitHub]+"\n")),
	}))
	f.Add("a.ipynb", []byte("{\n \"cells\": [\n  {\n   \"cell_type\": \"code\",\n   \"source\": [\"-----BEGIN PRIVATE KEY-----\\\\n\"]\n"))
	f.Add("x.py", []byte("-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\\\\\\"))
	s := newSecretScanner(make([]byte, 32))
	slow := &secretScanner{key: s.key, everyLine: true}
	f.Fuzz(func(t *testing.T, name string, b []byte) {
		res, err := s.scan(bytes.NewReader(b), name, 1<<20, nil)
		if err != nil {
			t.Fatal(err)
		}
		// The block prefilter only skips lines no rule can match.
		if ref, _ := slow.scan(bytes.NewReader(b), name, 1<<20, nil); !reflect.DeepEqual(ref, res) {
			t.Errorf("prefilter changed the result:\n%+v\n%+v", res, ref)
		}
		lines := bytes.Count(b, []byte("\n")) + 1
		if res.Total < len(res.Secrets) || len(res.Secrets) > maxSecretsPerFile || res.Bytes != int64(min(len(b), 1<<20)) {
			t.Errorf("total %d, %d secrets, %d bytes of %d", res.Total, len(res.Secrets), res.Bytes, len(b))
		}
		for _, f := range res.Secrets {
			r := secretRuleByID(f.Rule)
			if r == nil || f.Severity != r.Severity || f.Line < 1 || f.Line > lines || len(f.Fingerprint) != 32 {
				t.Errorf("finding %+v", f)
				continue
			}
			if f.Hint != "" && !slices.ContainsFunc(r.prefixes, func(p string) bool { return f.Hint == p+"…" }) {
				t.Errorf("hint %q is not a documented prefix of %s", f.Hint, f.Rule)
			}
			if f.Cell != nil && !strings.HasSuffix(strings.ToLower(name), ".ipynb") {
				t.Errorf("cell outside a notebook: %+v", f)
			}
		}
	})
}

// FuzzNetTCP: /proc/net/tcp{,6} text; never a panic, every socket
// returned has a valid address and an inode, and a proc name matcher on
// arbitrary comm and cmdline bytes stays within its names. Seeded with
// this machine's own tables, read when the test runs, and written lines.
func FuzzNetTCP(f *testing.F) {
	for _, p := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(string(b), "python3", "python3\x00-m\x00vllm.entrypoints.openai.api_server\x00")
		}
	}
	f.Add(netTCPHeader+netTCPLine(0, netip.MustParseAddrPort("0.0.0.0:8000"), "0A", 7)+
		netTCPLine(1, netip.MustParseAddrPort("[::ffff:10.0.0.1]:443"), "0A", 8), "gunicorn: maste", "gunicorn: master [app]\x00")
	f.Add("   0: 00000000000000000000000000000000:1F90 0 0A 0 0 0 0 0 1\n", "java", "java\x00-cp\x00x\x00org.pytorch.serve.ModelServer\x00")
	f.Add("0: :: 0A 0 0 0 0 0 0 18446744073709551616\n", "", "\x00\x00")
	names := map[string]bool{}
	for _, n := range DefaultDiscoverNames {
		names[n] = true
	}
	f.Fuzz(func(t *testing.T, table, comm, cmdline string) {
		socks, _ := parseNetTCP(strings.NewReader(table))
		for _, s := range socks {
			if !s.Addr.IsValid() || s.Inode == 0 || s.Addr.Addr().Is4In6() {
				t.Errorf("%+v from %q", s, table)
			}
			if p := probeAddr(s.Addr); p.Addr().IsUnspecified() || p.Port() != s.Addr.Port() {
				t.Errorf("probe %v for %v", p, s.Addr)
			}
		}
		argv := strings.Split(strings.TrimRight(cmdline, "\x00"), "\x00")
		if n, ok := matchName(comm, argv, names); ok != names[n] {
			t.Errorf("%q %q matched %q, not a listed name", comm, argv, n)
		}
	})
}
