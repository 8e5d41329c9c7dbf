package encryption

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/cel-go/cel"
	"go.yaml.in/yaml/v3"

	"github.com/annexa/annexa/collector/controls/catalog"
	"github.com/annexa/annexa/plugins/sdk"
)

// netTCPHeader is the first line the kernel writes in /proc/net/tcp.
const netTCPHeader = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"

// netTCPLine writes a /proc/net/tcp line as the kernel does (on this
// machine's byte order) for addr in state st.
func netTCPLine(i int, addr netip.AddrPort, st string, inode uint64) string {
	b := addr.Addr().AsSlice()
	var hexAddr strings.Builder
	for w := 0; w < len(b); w += 4 {
		// The kernel prints each 32-bit word as a host-order number.
		fmt.Fprintf(&hexAddr, "%08X", binary.NativeEndian.Uint32(b[w:w+4]))
	}
	return fmt.Sprintf("%4d: %s:%04X 00000000:0000 %s 00000000:00000000 00:00000000 00000000  1000        0 %d 1 0000000000000000 100 0 0 10 0\n",
		i, hexAddr.String(), addr.Port(), st, inode)
}

func TestParseNetTCP(t *testing.T) {
	ap := netip.MustParseAddrPort
	for _, tc := range []struct {
		name, in string
		want     []listenSocket
		err      string
		le       bool // the text is a little-endian kernel's
	}{
		{name: "empty"},
		{name: "header only", in: netTCPHeader},
		{
			name: "listeners and others",
			in: netTCPHeader +
				netTCPLine(0, ap("0.0.0.0:8000"), "0A", 101) +
				netTCPLine(1, ap("127.0.0.1:11434"), "0A", 102) +
				netTCPLine(2, ap("127.0.0.1:48000"), "01", 103) + // established
				netTCPLine(3, ap("10.1.2.3:9000"), "0A", 104) +
				netTCPLine(4, ap("127.0.0.1:7000"), "0A", 0) + // no inode: a socket being torn down
				"   5: garbage line\n" +
				"   6: 0100007F:ZZZZ 00000000:0000 0A 0 0 0 0 0 105\n" +
				"   7: 0100007:1F90 00000000:0000 0A 0 0 0 0 0 106\n",
			want: []listenSocket{{ap("0.0.0.0:8000"), 101}, {ap("127.0.0.1:11434"), 102}, {ap("10.1.2.3:9000"), 104}},
		},
		{
			name: "tcp6",
			in: netTCPHeader +
				netTCPLine(0, ap("[::]:8001"), "0A", 201) +
				netTCPLine(1, ap("[::1]:8080"), "0A", 202) +
				netTCPLine(2, ap("[::ffff:10.0.0.5]:5000"), "0A", 203) +
				netTCPLine(3, ap("[fd00::7]:3000"), "0A", 204),
			want: []listenSocket{{ap("[::]:8001"), 201}, {ap("[::1]:8080"), 202}, {ap("10.0.0.5:5000"), 203}, {ap("[fd00::7]:3000"), 204}},
		},
		{
			// As this machine's kernel wrote them (little-endian).
			name: "kernel text",
			in: "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode                                                     \n" +
				"   0: 0100007F:A0C7 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2317129 2 00000000d04e8e53 100 0 0 10 0                   \n" +
				"   1: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 627 1 000000005260c44b 100 0 0 10 0                       \n" +
				"   2: 0100007F:BF94 0100007F:B0DF 06 00000000:00000000 03:00000078 00000000     0        0 0 3 0000000043cf5218                                      \n",
			want: []listenSocket{{ap("127.0.0.1:41159"), 2317129}, {ap("0.0.0.0:2024"), 627}},
			le:   true,
		},
		{name: "line too long", in: netTCPHeader + strings.Repeat("x", maxNetTCPLine+1) + "\n", err: "line 2 is longer than 512 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.le && binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
				t.Skip("big-endian host")
			}
			got, err := parseNetTCP(strings.NewReader(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v\nwant %v", got, tc.want)
			}
		})
	}
	// Too many lines is an error, not unbounded memory.
	var b strings.Builder
	for i := 0; i <= maxNetTCPLines; i++ {
		b.WriteString("x\n")
	}
	if _, err := parseNetTCP(strings.NewReader(b.String())); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Errorf("too many lines: %v", err)
	}
}

// TestListeningThisHost reads this machine's own /proc/net/tcp and
// /proc/<pid>/fd: the listeners the test opens are found, with inodes
// that its own fds point at.
func TestListeningThisHost(t *testing.T) {
	if _, err := os.Stat("/proc/net/tcp"); err != nil {
		t.Skip("no /proc/net/tcp:", err)
	}
	var want []netip.AddrPort
	for _, a := range []string{"127.0.0.1:0", "[::1]:0"} {
		l, err := net.Listen("tcp", a)
		if err != nil {
			t.Logf("%s: %v (IPv6 off?)", a, err)
			continue
		}
		defer l.Close()
		want = append(want, l.Addr().(*net.TCPAddr).AddrPort())
	}
	r := roots{proc: "/proc"}
	socks, err := r.listening()
	if err != nil {
		t.Fatal(err)
	}
	mine, err := socketInodes(filepath.Join("/proc", fmt.Sprint(os.Getpid())))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range want {
		i := slices.IndexFunc(socks, func(s listenSocket) bool { return s.Addr == w })
		if i < 0 {
			t.Errorf("%s not among this host's listeners %v", w, socks)
			continue
		}
		if !mine[socks[i].Inode] {
			t.Errorf("%s inode %d not among this process's sockets", w, socks[i].Inode)
		}
	}
}

func TestMatchName(t *testing.T) {
	names := map[string]bool{}
	for _, n := range DefaultDiscoverNames {
		names[n] = true
	}
	for _, tc := range []struct {
		comm string
		argv []string
		want string // "" = not an inference server
	}{
		{"vllm", []string{"/usr/bin/python3", "/usr/local/bin/vllm", "serve", "meta-llama/Llama-3.1-8B"}, "vllm"},
		{"python3", []string{"python3", "-m", "vllm.entrypoints.openai.api_server", "--model", "x"}, "vllm"},
		{"python3", []string{"/opt/venv/bin/python3.11", "-u", "-m", "sglang.launch_server"}, "sglang"},
		{"text-generation", []string{"text-generation-launcher", "--model-id", "x"}, "text-generation-launcher"},
		{"text-generation", nil, "text-generation-launcher"}, // argv unreadable: the cut comm decides
		{"text-generation", []string{"/usr/local/bin/text-generation-router", "--port", "80"}, "text-generation-router"},
		{"tritonserver", []string{"/opt/tritonserver/bin/tritonserver", "--model-repository=/models"}, "tritonserver"},
		{"java", []string{"java", "-Dmodel_server_home=/x", "-cp", "/ts/frontend/model-server.jar:.", "org.pytorch.serve.ModelServer"}, "org.pytorch.serve.ModelServer"},
		{"ollama", []string{"/usr/local/bin/ollama", "serve"}, "ollama"},
		{"llama-server", []string{"./llama-server", "-m", "model.gguf", "--host", "0.0.0.0"}, "llama-server"},
		{"ray::ProxyActor", []string{"ray::ProxyActor"}, "ray::ProxyActor"},
		{"bentoml", []string{"/usr/bin/python3", "/usr/local/bin/bentoml", "serve", "service:svc"}, "bentoml"},
		{"mlflow", []string{"/usr/bin/python3", "/usr/local/bin/mlflow", "models", "serve", "-m", "runs:/x/model"}, "mlflow"},
		{"gunicorn: maste", []string{"gunicorn: master [app:app]"}, "gunicorn"},
		{"python", []string{"python", "-m", "uvicorn", "app:app", "--host", "0.0.0.0"}, "uvicorn"},
		{"hypercorn", []string{"/venv/bin/python", "/venv/bin/hypercorn", "app:app"}, "hypercorn"},
		{"python", []string{"python", "-m", "sklearnserver", "--model_dir", "/mnt/models"}, "sklearnserver"},
		{"tensorflow_mode", []string{"tensorflow_model_server", "--port=8500"}, "tensorflow_model_server"},
		// Not inference servers.
		{"sshd", []string{"sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups"}, ""},
		{"postgres", []string{"/usr/lib/postgresql/16/bin/postgres", "-D", "/var/lib/postgresql/16/main"}, ""},
		{"python3", []string{"python3", "-c", "import vllm"}, ""},
		{"python3", []string{"python3", "train.py", "--vllm"}, ""},
		{"java", []string{"java", "-jar", "vllm", "com.example.Main"}, ""},
		{"nginx", []string{"nginx: master process /usr/sbin/nginx"}, ""},
		{"kworker/0:1", nil, ""},
		{"", nil, ""},
	} {
		got, ok := matchName(tc.comm, tc.argv, names)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("%q %q: got %q %v, want %q", tc.comm, tc.argv, got, ok, tc.want)
		}
	}
	// A name added by the settings.
	names["my-model-server"] = true
	if got, ok := matchName("my-model-serve", []string{"/opt/bin/my-model-server"}, names); !ok || got != "my-model-server" {
		t.Errorf("added name: %q %v", got, ok)
	}
}

// procTree writes a fixture /proc: net/tcp, net/tcp6 and, per process,
// comm, cmdline and fd links to socket:[inode] (as the kernel shows them:
// links whose targets are not paths).
type procTree struct {
	t    testing.TB
	root string
	tcp  strings.Builder
	tcp6 strings.Builder
	n    int
}

func newProcTree(t testing.TB) *procTree {
	p := &procTree{t: t, root: filepath.Join(t.TempDir(), "proc")}
	p.tcp.WriteString(netTCPHeader)
	p.tcp6.WriteString(netTCPHeader)
	p.write("sys/kernel/hostname", "inference.local\n")
	p.write("swaps", "Filename Type Size Used Priority\n")
	return p
}

func (p *procTree) write(rel, data string) {
	path := filepath.Join(p.root, rel)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		p.t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		p.t.Fatal(err)
	}
}

// socket adds a socket in state st; it returns its inode.
func (p *procTree) socket(addr string, st string) uint64 {
	p.n++
	inode := uint64(40000 + p.n)
	a := netip.MustParseAddrPort(addr)
	if a.Addr().Is4() {
		p.tcp.WriteString(netTCPLine(p.n, a, st, inode))
	} else {
		p.tcp6.WriteString(netTCPLine(p.n, a, st, inode))
	}
	return inode
}

// process adds a process holding the socket inodes (and a pipe and a
// file, as real processes do).
func (p *procTree) process(pid int, comm string, argv []string, inodes ...uint64) {
	dir := fmt.Sprint(pid)
	p.write(filepath.Join(dir, "comm"), comm+"\n")
	p.write(filepath.Join(dir, "cmdline"), strings.Join(argv, "\x00")+"\x00")
	fd := filepath.Join(p.root, dir, "fd")
	os.MkdirAll(fd, 0o755)
	targets := []string{"/dev/null", "pipe:[9]"}
	for _, i := range inodes {
		targets = append(targets, fmt.Sprintf("socket:[%d]", i))
	}
	for n, target := range targets {
		if err := os.Symlink(target, filepath.Join(fd, fmt.Sprint(n))); err != nil {
			p.t.Fatal(err)
		}
	}
}

func (p *procTree) done() string {
	p.write("net/tcp", p.tcp.String())
	p.write("net/tcp6", p.tcp6.String())
	return p.root
}

// TestDiscoverFixture: exactly the inference servers' listening sockets
// are found, wildcards mapped to loopback, shared sockets once.
func TestDiscoverFixture(t *testing.T) {
	p := newProcTree(t)
	vllm := p.socket("0.0.0.0:8000", "0A")
	vllmConn := p.socket("127.0.0.1:8000", "01") // an accepted connection
	ollama := p.socket("127.0.0.1:11434", "0A")
	triton := p.socket("[::]:8001", "0A")
	gunicorn := p.socket("10.1.2.3:9000", "0A")
	sshd := p.socket("0.0.0.0:22", "0A")
	pg := p.socket("127.0.0.1:5432", "0A")
	tgi := p.socket("[::1]:3000", "0A")
	p.process(101, "vllm", []string{"/usr/bin/python3", "/usr/local/bin/vllm", "serve", "m"}, vllm, vllmConn)
	p.process(102, "ollama", []string{"/usr/local/bin/ollama", "serve"}, ollama)
	p.process(103, "tritonserver", []string{"tritonserver", "--model-repository=/m"}, triton)
	p.process(104, "gunicorn: maste", []string{"gunicorn: master [app:app]"}, gunicorn)
	p.process(105, "gunicorn: worke", []string{"gunicorn: worker [app:app]"}, gunicorn) // forked worker, same socket
	p.process(106, "sshd", []string{"sshd: /usr/sbin/sshd -D"}, sshd)
	p.process(107, "postgres", []string{"/usr/lib/postgresql/16/bin/postgres"}, pg)
	p.process(108, "text-generation", []string{"text-generation-router", "--port", "3000"}, tgi)
	p.process(109, "kworker/0:1", nil)
	// An inference server whose fd folder cannot be listed (another
	// user's, without CAP_SYS_PTRACE): counted, not fatal.
	p.write("110/comm", "ollama\n")
	p.write("110/cmdline", "ollama\x00serve\x00")
	p.write("110/fd", "not a folder")
	p.write("self/comm", "x") // not a pid: ignored
	os.MkdirAll(filepath.Join(p.root, "bus"), 0o755)
	r := roots{proc: p.done()}

	names := map[string]bool{}
	for _, n := range DefaultDiscoverNames {
		names[n] = true
	}
	found, st, err := r.discoverEndpoints(names)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range found {
		got = append(got, d.Probe.String()+" "+d.Listen.String()+" "+d.Process)
	}
	want := []string{
		"10.1.2.3:9000 10.1.2.3:9000 gunicorn: maste",
		"127.0.0.1:11434 127.0.0.1:11434 ollama",
		"127.0.0.1:8000 0.0.0.0:8000 vllm",
		"[::1]:3000 [::1]:3000 text-generation",
		"[::1]:8001 [::]:8001 tritonserver",
	}
	if !slices.Equal(got, want) {
		t.Errorf("discovered\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if st.Listening != 7 || st.Processes != 10 || st.Servers != 7 || st.ServersUnreadable != 1 || st.Unreadable != 0 {
		t.Errorf("stats %+v", st)
	}
	if h := r.hostname(); h != "inference.local" {
		t.Errorf("hostname %q", h)
	}

	// Without net/tcp there is nothing to go on: an error, not "none".
	os.Remove(filepath.Join(r.proc, "net", "tcp"))
	if _, _, err := r.discoverEndpoints(names); err == nil {
		t.Error("missing net/tcp gave no error")
	}
}

// acceptCounter is a listener that only counts connections: a service
// discovery must never touch (sshd, a database).
func acceptCounter(t *testing.T) (string, *atomic.Int64) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var n atomic.Int64
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			c.Close()
		}
	}()
	return l.Addr().String(), &n
}

// judge evaluates a check of the real catalog (checks.yaml, as the
// collector loads it) on one record's attributes: "pass", "fail" or
// "not applicable".
func judge(t *testing.T, id string, attrs []byte) string {
	t.Helper()
	raw, err := catalog.FS.ReadFile("checks.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Checks []struct{ ID, Kind, Applies, Assert string }
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(doc.Checks, func(c struct{ ID, Kind, Applies, Assert string }) bool { return c.ID == id })
	if i < 0 {
		t.Fatalf("no check %s", id)
	}
	var m map[string]any
	if err := json.Unmarshal(attrs, &m); err != nil {
		t.Fatal(err)
	}
	env, err := cel.NewEnv(cel.Variable("attrs", cel.MapType(cel.StringType, cel.DynType)), cel.Variable("now", cel.TimestampType))
	if err != nil {
		t.Fatal(err)
	}
	eval := func(expr string) bool {
		ast, iss := env.Compile(expr)
		if iss.Err() != nil {
			t.Fatalf("%s: %v", id, iss.Err())
		}
		prg, err := env.Program(ast)
		if err != nil {
			t.Fatal(err)
		}
		out, _, err := prg.Eval(map[string]any{"attrs": m, "now": time.Now()})
		if err != nil {
			t.Fatalf("%s on %s: %v", id, attrs, err)
		}
		return out.Value() == true
	}
	if c := doc.Checks[i]; c.Applies != "" && !eval(c.Applies) {
		return "not applicable"
	} else if eval(c.Assert) {
		return "pass"
	}
	return "fail"
}

// TestDiscoverCollect: a real TLS server and a real plaintext HTTP server
// on loopback, named vllm and ollama in a fixture /proc that points at
// their real ports, are discovered, probed and judged by the catalog's
// own checks; the sshd beside them is never connected to, and a port
// listed in endpoints is probed once.
func TestDiscoverCollect(t *testing.T) {
	caPEM, leaf := caAndLeaf(t) // leaf names inference.local, the fixture's host name
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(caFile, caPEM, 0o600)
	tlsSrv := httptest.NewUnstartedServer(http.NotFoundHandler())
	tlsSrv.TLS = &tls.Config{Certificates: []tls.Certificate{leaf}}
	tlsSrv.StartTLS()
	defer tlsSrv.Close()
	plainSrv := httptest.NewServer(http.NotFoundHandler())
	defer plainSrv.Close()
	sshAddr, sshConns := acceptCounter(t)
	tlsAP := tlsSrv.Listener.Addr().(*net.TCPAddr).AddrPort()
	plainAP := plainSrv.Listener.Addr().(*net.TCPAddr).AddrPort()
	sshAP := netip.MustParseAddrPort(sshAddr)

	p := newProcTree(t)
	// The TLS server as bound to every address: probed on 127.0.0.1
	// and verified against the host name.
	tlsIno := p.socket(netip.AddrPortFrom(netip.IPv4Unspecified(), tlsAP.Port()).String(), "0A")
	plainIno := p.socket(plainAP.String(), "0A")
	sshIno := p.socket(netip.AddrPortFrom(netip.IPv4Unspecified(), sshAP.Port()).String(), "0A")
	p.process(201, "vllm", []string{"/usr/bin/python3", "/usr/local/bin/vllm", "serve", "m"}, tlsIno)
	p.process(202, "ollama", []string{"/usr/local/bin/ollama", "serve"}, plainIno)
	p.process(203, "sshd", []string{"sshd: /usr/sbin/sshd -D"}, sshIno)
	proc := p.done()

	collect := func(t *testing.T, settings map[string]any) map[string]json.RawMessage {
		t.Helper()
		settings["proc_root"], settings["ca_file"], settings["timeout"] = proc, caFile, "3s"
		raw, _ := json.Marshal(settings)
		pl := New()
		if _, err := pl.Configure(context.Background(), sdk.Config{Raw: raw, StateDir: t.TempDir()}); err != nil {
			t.Fatal(err)
		}
		var out recorder
		if err := pl.Collect(context.Background(), sdk.Request{Full: true}, &out); err != nil {
			t.Fatal(err)
		}
		eps := map[string]json.RawMessage{}
		for _, r := range out.recs {
			if r.Kind == KindEndpoint {
				b, err := json.Marshal(r.Attributes)
				if err != nil {
					t.Fatal(err)
				}
				eps[r.Subject] = b
			}
		}
		return eps
	}

	t.Run("discovered", func(t *testing.T) {
		eps := collect(t, map[string]any{"discover_endpoints": true})
		tlsSub := "endpoint:127.0.0.1:" + fmt.Sprint(tlsAP.Port())
		plainSub := "endpoint:" + plainAP.String()
		if len(eps) != 2 || eps[tlsSub] == nil || eps[plainSub] == nil {
			t.Fatalf("endpoints %v, want %s and %s", slices.Sorted(maps.Keys(eps)), tlsSub, plainSub)
		}
		var te, pe Endpoint
		json.Unmarshal(eps[tlsSub], &te)
		json.Unmarshal(eps[plainSub], &pe)
		if !te.Discovered || te.Process != "vllm" || te.Listen != "0.0.0.0:"+fmt.Sprint(tlsAP.Port()) || te.ServerName != "inference.local" ||
			te.TLSVersion != "TLS1.3" || !is(te.Verified, true) {
			t.Errorf("TLS endpoint %s", eps[tlsSub])
		}
		if !pe.Discovered || pe.Process != "ollama" || pe.Listen != plainAP.String() || pe.ServerName != "" || !pe.PlaintextHTTP {
			t.Errorf("plaintext endpoint %s", eps[plainSub])
		}
		for check, want := range map[string][2]string{
			"endpoints.not_plaintext":     {"pass", "fail"},
			"endpoints.tls_modern":        {"pass", "not applicable"},
			"endpoints.certificate_valid": {"pass", "not applicable"},
			"endpoints.no_legacy_tls":     {"pass", "not applicable"},
		} {
			if got := judge(t, check, eps[tlsSub]); got != want[0] {
				t.Errorf("%s on the TLS endpoint: %s, want %s", check, got, want[0])
			}
			if got := judge(t, check, eps[plainSub]); got != want[1] {
				t.Errorf("%s on the plaintext endpoint: %s, want %s", check, got, want[1])
			}
		}
		if n := sshConns.Load(); n != 0 {
			t.Errorf("sshd was connected to %d times", n)
		}
	})

	t.Run("listed port not probed twice", func(t *testing.T) {
		listed := "localhost:" + fmt.Sprint(plainAP.Port())
		eps := collect(t, map[string]any{"endpoints": []string{listed}})
		if len(eps) != 2 || eps["endpoint:"+listed] == nil || eps["endpoint:"+plainAP.String()] != nil {
			t.Errorf("endpoints %v", slices.Sorted(maps.Keys(eps)))
		}
		var e Endpoint
		json.Unmarshal(eps["endpoint:"+listed], &e)
		if e.Discovered || e.Process != "" {
			t.Errorf("listed endpoint marked discovered: %s", eps["endpoint:"+listed])
		}
	})

	t.Run("off", func(t *testing.T) {
		eps := collect(t, map[string]any{"discover_endpoints": false, "endpoints": []string{sshAddr}})
		if len(eps) != 1 {
			t.Errorf("discovery off, endpoints %v", slices.Sorted(maps.Keys(eps)))
		}
	})

	t.Run("added name", func(t *testing.T) {
		// sshd named in discover_names is probed like any server.
		eps := collect(t, map[string]any{"discover_endpoints": true, "discover_names": []string{"sshd"}})
		if eps["endpoint:127.0.0.1:"+fmt.Sprint(sshAP.Port())] == nil || len(eps) != 3 {
			t.Errorf("endpoints %v", slices.Sorted(maps.Keys(eps)))
		}
	})
}

func TestDiscoverSettings(t *testing.T) {
	_, err := validate(Settings{DiscoverNames: []string{"ok-name", "", "/usr/bin/x", "two words"}})
	if err == nil {
		t.Fatal("no error")
	}
	for _, f := range []string{"discover_names[1]:", "discover_names[2]:", "discover_names[3]:", "roots: is required"} {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("no %s in %v", f, err)
		}
	}
	if strings.Contains(err.Error(), "discover_names[0]") {
		t.Errorf("good name refused: %v", err)
	}
	// Discovery alone, asked for, is a valid section; on by default.
	c, err := validate(Settings{DiscoverEndpoints: boolp(true), DiscoverNames: []string{"my-server"}})
	if err != nil || !c.discoverNames["my-server"] || !c.discoverNames["vllm"] {
		t.Errorf("discovery only: %v", err)
	}
	if c, err := validate(Settings{Roots: []string{"/srv"}}); err != nil || !*c.set.DiscoverEndpoints {
		t.Errorf("default: %v", err)
	}
}
