package pickle

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// picklescanDir holds the public picklescan test files; they are read in
// place and never copied into this repository.
const picklescanDir = "../../../../shared/testdata/picklescan"

func picklescanFiles(t *testing.T) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(picklescanDir, "*"))
	if len(files) == 0 {
		t.Skipf("skipping: %s is missing (the public picklescan test files; see plugins/models/README.md)", picklescanDir)
	}
	return files
}

func scanFile(t *testing.T, path string) Result {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return Scan(bytes.NewReader(b), Limits{})
}

func TestPicklescanPlainPickles(t *testing.T) {
	for _, f := range picklescanFiles(t) {
		base := filepath.Base(f)
		ext := filepath.Ext(base)
		if ext != ".pkl" && ext != ".pickle" && base != "pytorch_magic_bypass.pt" {
			continue
		}
		t.Run(base, func(t *testing.T) {
			res := scanFile(t, f)
			worst := res.Worst()
			t.Logf("worst %q globals %v findings %v err %v", worst, res.Globals, res.Findings, res.Err)
			switch {
			case strings.HasPrefix(base, "malicious"), base == "pytorch_magic_bypass.pt", base == "sys_module_override_sploit.pkl", base == "broken_model.pkl":
				if worst != Critical && worst != High {
					t.Errorf("%s: worst %q, want critical or high", base, worst)
				}
			case strings.HasPrefix(base, "benign"):
				if worst == Critical || worst == High {
					t.Errorf("%s: worst %q, want below high", base, worst)
				}
			}
		})
	}
}

func TestOpcodes(t *testing.T) {
	cases := []struct {
		name, in string
		rule     string
		sev      Severity
	}{
		{"global v0", "cos\nsystem\n(S'ls'\ntR.", "pickle.global.os.system", Critical},
		{"py2 builtin", "c__builtin__\neval\n(S'1'\ntR.", "pickle.global.builtins.eval", Critical},
		{"inst", "(S'ls'\nios\nsystem\n.", "pickle.global.os.system", Critical},
		{"stack global", "\x80\x04\x8c\x02os\x94\x8c\x06system\x94\x93\x94.", "pickle.global.os.system", Critical},
		{"memo confusion", "\x80\x04\x8c\x02os\x94\x8c\x06system\x94\x8c\x05torch\x94\x8c\x04Size\x94h\x00h\x01\x93.", "pickle.global.os.system", Critical},
		{"stack global from non-string", "\x80\x04K\x01K\x02\x93.", "pickle.global.unknown", Critical},
		{"stack global from bytes", "\x80\x04C\x02osC\x06system\x93.", "pickle.global.unknown", Critical},
		{"ext", "\x80\x02\x82\x01.", "pickle.global.unknown", Critical},
		{"attr path", "\x80\x04\x8c\x05torch\x8c\tos.system\x93.", "pickle.global.torch.os.system", Critical},
		{"requests", "crequests\nget\n.", "pickle.global.requests.get", High},
		{"unlisted", "cfoo\nBar\n.", "pickle.global.foo.Bar", Suspicious},
		{"allowed", "ccollections\nOrderedDict\n)R.", "", ""},
		{"after stop", "N.cos\nsystem\n.", "pickle.global.os.system", Critical},
		{"truncated keeps", "cos\nsystem\n(S'ls'\nt", "pickle.global.os.system", Critical},
		{"huge length", "\x80\x04\x8d\xff\xff\xff\xff\xff\xff\xff\x7f", "pickle.parse.error", Suspicious},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := Scan(strings.NewReader(c.in), Limits{})
			if c.rule == "" {
				if len(res.Findings) != 0 {
					t.Errorf("findings %v", res.Findings)
				}
				return
			}
			for _, f := range res.Findings {
				if f.Rule == c.rule {
					if f.Severity != c.sev {
						t.Errorf("%s: severity %s, want %s", c.rule, f.Severity, c.sev)
					}
					return
				}
			}
			t.Errorf("no %s in %v (err %v)", c.rule, res.Findings, res.Err)
		})
	}
}

func TestLimits(t *testing.T) {
	deep := strings.Repeat("(", 1<<20)
	res := Scan(strings.NewReader(deep), Limits{MaxStack: 1000})
	if res.Err == nil || res.Worst() == "" {
		t.Errorf("deep marks: err %v findings %v", res.Err, res.Findings)
	}
	var memo strings.Builder
	memo.WriteString("\x80\x04N")
	for range 2000 {
		memo.WriteString("\x94")
	}
	memo.WriteString(".")
	res = Scan(strings.NewReader(memo.String()), Limits{MaxMemo: 100})
	found := false
	for _, f := range res.Findings {
		found = found || f.Rule == "pickle.limit.memo"
	}
	if !found {
		t.Errorf("memo limit not reported: %v", res.Findings)
	}
	res = Scan(strings.NewReader(strings.Repeat("N0", 1<<20)+"N."), Limits{MaxBytes: 1000})
	if res.BytesRead > 1000 || res.Err == nil {
		t.Errorf("read %d bytes past the limit, err %v", res.BytesRead, res.Err)
	}
}

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		module, name string
		want         Severity
	}{
		{"collections", "OrderedDict", Info},
		{"torch._utils", "_rebuild_tensor_v2", Info},
		{"builtins", "set", Info},
		{"builtins", "getattr", Critical},
		{"builtins", "type", Critical},
		{"posix", "system", Critical},
		{"OS", "system", Critical},
		{"importlib", "import_module", Critical},
		{"pkgutil", "resolve_name", Critical},
		{"torch", "load", Critical},
		{"torch.serialization", "load", Critical},
		{"torch", "os.system", Critical},
		{"operator", "attrgetter", Critical},
		{"functools", "partial", Critical},
		{"webbrowser", "open", Critical},
		{"requests.api", "get", High},
		{"urllib.request", "urlopen", High},
		{"io", "open", High},
		{"pathlib", "Path", High},
		{"numpy.random._pickle", "__randomstate_ctor", Suspicious},
		{"sklearn.linear_model._base", "LinearRegression", Suspicious},
		{"collections", "defaultdict", Suspicious},
		{"torch", "Tensor", Suspicious},
	} {
		if got, why := Classify(c.module, c.name); got != c.want {
			t.Errorf("%s.%s: %s (%s), want %s", c.module, c.name, got, why, c.want)
		}
	}
}
