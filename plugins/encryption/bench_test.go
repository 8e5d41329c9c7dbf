package encryption

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/annexa/annexa/plugins/sdk"
)

// BenchmarkReadLUKS reads and parses a real LUKS2 header (binary header,
// checksum, JSON area) from memory: the per-volume cost of a collection.
func BenchmarkReadLUKS(b *testing.B) {
	for _, name := range []string{"luks1-aes-xts.hdr", "luks2-aes-xts.hdr"} {
		hdr := luksFixture(b, name)
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(hdr)))
			for b.Loop() {
				if _, err := readLUKSFrom(bytes.NewReader(hdr)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkScanKeys walks a dataset-like tree of 10,000 files in 100
// folders, a few of them keys: the key scan's cost per root.
func BenchmarkScanKeys(b *testing.B) {
	root := b.TempDir()
	for d := range 100 {
		dir := filepath.Join(root, fmt.Sprintf("ds%d", d))
		os.MkdirAll(dir, 0o755)
		for f := range 100 {
			os.WriteFile(filepath.Join(dir, fmt.Sprintf("part-%d.bin", f)), []byte("x"), 0o644)
		}
	}
	os.WriteFile(filepath.Join(root, "ds1", "tls.key"), []byte("-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n"), 0o644)
	owners := sdk.NewOwners()
	for b.Loop() {
		keys, sum, err := scanKeys(context.Background(), root, 1<<20, owners)
		if err != nil || len(keys) != 1 || sum.Files != 10001 {
			b.Fatal(len(keys), sum, err)
		}
	}
	b.ReportMetric(float64(10001*b.N)/b.Elapsed().Seconds(), "files/s")
}

// secretBenchTree writes an ML project tree of the kind the content scan
// reads: 300 Python scripts (8 KiB), 300 YAML configs (2 KiB), 40 saved
// notebooks with PNG outputs (~90 KiB each), 6,000 data files it does
// not read, and one leaked token in a few files. It returns the bytes of
// the files the scan reads.
func secretBenchTree(b *testing.B) (string, int64) {
	root := b.TempDir()
	sec := makeSecrets(11)
	var read int64
	write := func(rel string, content []byte, counted bool) {
		p := filepath.Join(root, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, content, 0o644); err != nil {
			b.Fatal(err)
		}
		if counted {
			read += int64(len(content))
		}
	}
	code := "import torch\nfrom transformers import AutoModelForCausalLM, AutoTokenizer\n\n" +
		"def train(cfg, step):\n    tokenizer = AutoTokenizer.from_pretrained(cfg.model, token=os.environ.get(\"HF_TOKEN\"))\n" +
		"    loss = model(**batch).loss  # sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n" +
		"    optimizer.step(); scheduler.step(); optimizer.zero_grad(set_to_none=True)\n    if step % cfg.log_every == 0:\n" +
		"        wandb.log({\"loss\": loss.item(), \"lr\": scheduler.get_last_lr()[0]}, step=step)\n\n"
	yaml := "model: meta-llama/Llama-3-8B\npad_token: \"<pad>\"\nmax_tokens: 2048\nlr: 3.0e-4\nwarmup_steps: 500\n" +
		"dataset:\n  path: /srv/ml/datasets/corpus\n  shards: 512\n  password: ${DB_PASSWORD}\n"
	for i := range 300 {
		body := strings.Repeat(code, 8<<10/len(code))
		if i%100 == 7 {
			body += "HF = \"" + sec[RuleHuggingFace] + "\"\n"
		}
		write(fmt.Sprintf("src/pkg%d/mod%d.py", i/30, i), []byte(body), true)
		write(fmt.Sprintf("configs/exp%d/train.yaml", i), []byte(strings.Repeat(yaml, 2<<10/len(yaml))), true)
	}
	for i := range 40 {
		cells := []map[string]any{codeCell("a", code, pngOutput(b, uint64(i))), codeCell("b", "df.describe()\n", streamOutput(strings.Repeat("count 1000 mean 0.5\n", 50)))}
		if i == 3 {
			cells = append(cells, codeCell("c", "login(token=\""+sec[RuleHuggingFace]+"\")\n"))
		}
		write(fmt.Sprintf("notebooks/n%d.ipynb", i), notebook(b, cells), true)
	}
	for i := range 6000 {
		write(fmt.Sprintf("data/shard%02d/part-%05d.parquet", i/500, i), []byte("PAR1"), false)
	}
	return root, read
}

// grepPatterns are the content scan's rules written for grep -E, split
// as a user would have to: case-sensitive token shapes, then the
// case-insensitive assignments in a second grep -i.
var grepPatterns = []string{
	`(hf_|api_org_)[A-Za-z]{34}`, `sk-ant-[a-z]{3,5}[0-9]{2}-[A-Za-z0-9_-]{32,}`,
	`sk-(proj|svcacct|admin)-[A-Za-z0-9_-]{40,}`, `sk-[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}`,
	`(AKIA|ASIA)[A-Z2-7]{16}`, `gh[pousr]_[A-Za-z0-9]{36,}`, `github_pat_[A-Za-z0-9_]{82}`,
	`(glpat|gldt|glrt|glptt)-[A-Za-z0-9_.-]{20,}`, `xox[baprs]-[0-9]{6,20}-[0-9A-Za-z-]{8,}`,
	`https://hooks\.slack\.com/(services|workflows|triggers)/T[A-Z0-9]{6,}/[A-Z0-9]{6,}/[A-Za-z0-9]{16,}`,
	`AIza[0-9A-Za-z_-]{35}`, `(sk|rk)_live_[0-9A-Za-z]{20,}`,
	`-----BEGIN ((RSA|DSA|EC|OPENSSH|PGP|ENCRYPTED) )?PRIVATE KEY( BLOCK)?-----`,
	`[A-Za-z][A-Za-z0-9+.-]{1,20}://[^[:space:]:/@"'<>]{1,64}:[^[:space:]:/@"'<>]{6,128}@`,
}

var grepFoldPatterns = []string{
	`(secret_?access_?key|aws_secret_key)["']?[[:space:]]*[:=][[:space:]]*["']?[A-Za-z0-9/+]{40}`,
	`wandb_api_key["']?[[:space:]]*[:=][[:space:]]*["']?[A-Za-z0-9_-]{40,}`, `password[[:space:]]+[^[:space:]]{4,}`,
	`(password|passwd|pwd|secret|api_?key|api-key|token)["']?[[:space:]]*[:=][[:space:]]*["']?[^[:space:]"',;#]{8,}`,
}

// BenchmarkSecretScan: the content scan over secretBenchTree against
// grep -rEc with the same patterns, the same file names and the same
// excluded folders (two greps: one case-sensitive, one -i), LC_ALL=C.
// Compare the ns/op of the two sub-benchmarks.
func BenchmarkSecretScan(b *testing.B) {
	root, read := secretBenchTree(b)
	key := make([]byte, 32)
	b.Run("annexa", func(b *testing.B) {
		o := &secretOpts{scanner: newSecretScanner(key), scope: "host", exclude: DefaultSecretScanExclude, maxFileBytes: defaultSecretMaxFileBytes,
			maxFiles: defaultSecretMaxFiles, maxBytes: defaultSecretMaxBytes, timeout: time.Hour}
		b.SetBytes(read)
		for b.Loop() {
			keys, sum, err := scanRoot(context.Background(), root, scanOpts{maxFiles: 1 << 20, secrets: o}, sdk.NewOwners())
			if err != nil || len(keys) != 4 || sum.SecretScan.Files != 640 {
				b.Fatal(len(keys), sum.SecretScan, err)
			}
		}
	})
	// A later collection of the unchanged tree: every file is found in
	// the cache (one stat each, already paid by the walk).
	b.Run("annexa-unchanged", func(b *testing.B) {
		state := b.TempDir()
		o := &secretOpts{scanner: newSecretScanner(key), scope: "host", exclude: DefaultSecretScanExclude, maxFileBytes: defaultSecretMaxFileBytes,
			maxFiles: defaultSecretMaxFiles, maxBytes: defaultSecretMaxBytes, timeout: time.Hour}
		scan := func() *SecretScan {
			o.cache, _ = loadSecretCache(state, key)
			keys, sum, err := scanRoot(context.Background(), root, scanOpts{maxFiles: 1 << 20, secrets: o}, sdk.NewOwners())
			if err != nil || len(keys) != 4 {
				b.Fatal(len(keys), err)
			}
			if err := o.cache.save(state); err != nil {
				b.Fatal(err)
			}
			return sum.SecretScan
		}
		scan()
		b.SetBytes(read)
		for b.Loop() {
			if s := scan(); s.Read != 0 || s.Files != 640 {
				b.Fatal(s)
			}
		}
	})
	b.Run("grep", func(b *testing.B) {
		grep, err := exec.LookPath("grep")
		if err != nil {
			b.Skip("no grep")
		}
		args := func(fold bool, pats []string) []string {
			a := []string{"-rIEc"}
			if fold {
				a = append(a, "-i")
			}
			for _, p := range pats {
				a = append(a, "-e", p)
			}
			for _, g := range []string{"*.py", "*.ipynb", "*.yaml", "*.yml", "*.env", ".env", "*.sh", "*.toml", "*.ini", "*.cfg", "*.conf", "*.json"} {
				a = append(a, "--include="+g)
			}
			for _, d := range DefaultSecretScanExclude {
				a = append(a, "--exclude-dir="+d)
			}
			return append(a, root)
		}
		b.SetBytes(read)
		for b.Loop() {
			for _, c := range [][]string{args(false, grepPatterns), args(true, grepFoldPatterns)} {
				cmd := exec.Command(grep, c...)
				cmd.Env = append(os.Environ(), "LC_ALL=C")
				out, err := cmd.Output()
				if err != nil && len(out) == 0 {
					b.Fatal(err)
				}
			}
		}
	})
}

// BenchmarkDiscoverEndpoints finds this process's own listener in the
// machine's real /proc (the benchmark binary named in the names, as
// discover_names would), side by side with `ss -ltnp`, which a sysadmin
// would run to answer the same question (it reads every process's fds).
func BenchmarkDiscoverEndpoints(b *testing.B) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	comm, _ := os.ReadFile("/proc/self/comm")
	names := map[string]bool{strings.TrimSpace(string(comm)): true}
	r := roots{proc: "/proc"}
	var st discoveryStats
	b.Run("annexa", func(b *testing.B) {
		for b.Loop() {
			found, s, err := r.discoverEndpoints(names)
			if err != nil || len(found) == 0 {
				b.Fatal(found, err)
			}
			st = s
		}
		b.ReportMetric(float64(st.Processes), "processes")
	})
	ss, err := exec.LookPath("ss")
	if err != nil {
		b.Skip("no ss (iproute2) to compare with")
	}
	b.Run("ss-ltnp", func(b *testing.B) {
		for b.Loop() {
			if out, err := exec.Command(ss, "-ltnpH").Output(); err != nil || len(out) == 0 {
				b.Fatal(err)
			}
		}
	})
}
