package encryption

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// DefaultDiscoverNames are the inference servers whose listening TCP
// sockets discover_endpoints probes, matched against the process's comm,
// its program or script name, a python -m module (or its top package) or
// a Java main class. Generic Python web servers are here because most
// model servers written in Python (KServe custom predictors, FastAPI
// wrappers, MLflow's scoring server) run under one of them.
var DefaultDiscoverNames = []string{
	"vllm", "sglang",
	"text-generation-launcher", "text-generation-router", "text-embeddings-router",
	"tritonserver", "tensorflow_model_server",
	"torchserve", "org.pytorch.serve.ModelServer",
	"ollama", "llama-server",
	"ray::ProxyActor", "ray::HTTPProxyActor",
	"bentoml", "mlflow",
	"uvicorn", "gunicorn", "hypercorn",
	"kserve", "sklearnserver", "xgbserver", "lgbserver", "pmmlserver", "paddleserver", "huggingfaceserver",
}

// Bounds on what discovery reads: /proc/net/tcp lines are about 150
// bytes; a host with a million sockets is past what one collection
// should walk.
const (
	maxNetTCPLines   = 1 << 20
	maxNetTCPLine    = 512
	maxProcEntries   = 1 << 20
	maxFDsPerProcess = 1 << 16
	maxCmdline       = 4096
	maxArgsLooked    = 16
	commLen          = 15 // TASK_COMM_LEN less the NUL
	tcpListen        = "0A"
)

// listenSocket is one TCP socket in the LISTEN state.
type listenSocket struct {
	Addr  netip.AddrPort
	Inode uint64
}

// parseNetTCP reads /proc/net/tcp or /proc/net/tcp6 and returns the
// listening sockets. Lines that are not socket lines are skipped; a line
// over maxNetTCPLine bytes or more than maxNetTCPLines lines is an error,
// as no kernel writes either.
func parseNetTCP(r io.Reader) ([]listenSocket, error) {
	// The kernel walks its socket table again on every read of
	// /proc/net/tcp: read it in large blocks, not line-sized ones.
	sc := bufio.NewScanner(bufio.NewReaderSize(r, 64<<10))
	sc.Buffer(make([]byte, 0, maxNetTCPLine), maxNetTCPLine)
	var out []listenSocket
	n := 0
	for sc.Scan() {
		n++
		if n > maxNetTCPLines {
			return out, fmt.Errorf("more than %d lines", maxNetTCPLines)
		}
		f := strings.Fields(sc.Text())
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
		if len(f) < 10 || f[3] != tcpListen {
			continue
		}
		addr, err := parseHexAddrPort(f[1])
		if err != nil {
			continue
		}
		inode, err := strconv.ParseUint(f[9], 10, 64)
		if err != nil || inode == 0 {
			continue
		}
		out = append(out, listenSocket{Addr: addr, Inode: inode})
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return out, fmt.Errorf("line %d is longer than %d bytes", n+1, maxNetTCPLine)
		}
		return out, err
	}
	return out, nil
}

// parseHexAddrPort decodes the kernel's "0100007F:1F90": the address is
// printed as 32-bit words in host byte order (one for IPv4, four for
// IPv6), the port as a plain hex number.
func parseHexAddrPort(s string) (netip.AddrPort, error) {
	ip, port, ok := strings.Cut(s, ":")
	if !ok || len(port) != 4 || (len(ip) != 8 && len(ip) != 32) {
		return netip.AddrPort{}, fmt.Errorf("%q is not ADDR:PORT in hex", s)
	}
	p, err := strconv.ParseUint(port, 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%q: bad port", s)
	}
	raw, err := hex.DecodeString(ip)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%q: bad address", s)
	}
	b := make([]byte, len(raw))
	for i := 0; i < len(raw); i += 4 {
		binary.NativeEndian.PutUint32(b[i:], binary.BigEndian.Uint32(raw[i:]))
	}
	a, _ := netip.AddrFromSlice(b)
	return netip.AddrPortFrom(a.Unmap(), uint16(p)), nil
}

// procNames is what a process is known by: its comm, its program name,
// and for interpreters the script, module or main class it runs.
func procNames(comm string, argv []string) []string {
	// A process title set by setproctitle ("gunicorn: master [app]")
	// replaces argv[0] and comm with text whose first word is the name.
	word := func(s string) string {
		s, _, _ = strings.Cut(strings.TrimSpace(s), " ")
		s = strings.TrimSuffix(s, ":")
		return s[strings.LastIndexByte(s, '/')+1:]
	}
	names := []string{word(comm)}
	if len(argv) == 0 {
		return names
	}
	prog := word(argv[0])
	names = append(names, prog)
	python := strings.HasPrefix(prog, "python") || strings.HasPrefix(prog, "pypy")
	java := prog == "java"
	if !python && !java {
		return names
	}
	args := argv[1:min(len(argv), maxArgsLooked)]
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case python && a == "-m" && i+1 < len(args):
			mod := args[i+1]
			top, _, _ := strings.Cut(mod, ".")
			return append(names, mod, top)
		case python && (a == "-c" || a == "-"):
			return names
		case java && (a == "-cp" || a == "-classpath" || a == "--class-path" || a == "-jar"):
			i++ // the next argument is a path, not the main class
		case strings.HasPrefix(a, "-"):
		default:
			// The script (python) or the main class (java).
			s := filepath.Base(a)
			return append(names, s, strings.TrimSuffix(s, ".py"))
		}
	}
	return names
}

// matchName says which listed name a process is. A comm is cut to 15
// bytes by the kernel, so, when no name matches whole, a 15-byte comm is
// compared with the names' first 15 (the first such name in order).
func matchName(comm string, argv []string, names map[string]bool) (string, bool) {
	cands := procNames(comm, argv)
	for _, n := range cands {
		if n != "" && names[n] {
			return n, true
		}
	}
	if c := cands[0]; len(c) == commLen {
		best := ""
		for want := range names {
			if len(want) > commLen && want[:commLen] == c && (best == "" || want < best) {
				best = want
			}
		}
		if best != "" {
			return best, true
		}
	}
	return "", false
}

// discovered is one endpoint found listening.
type discovered struct {
	Probe   netip.AddrPort // where to probe it
	Listen  netip.AddrPort // what the socket is bound to
	Process string         // comm
	Name    string         // the listed name it matched
}

// discoveryStats says how much of the host discovery saw, for the log.
type discoveryStats struct {
	Listening  int // sockets in LISTEN state
	Processes  int // processes looked at
	Unreadable int // processes whose comm or cmdline could not be read
	Servers    int // processes that are inference servers
	// ServersUnreadable are inference servers whose sockets could not
	// be listed: another user's /proc/<pid>/fd needs root or
	// CAP_SYS_PTRACE.
	ServersUnreadable int
	Truncated         bool // more than maxProcEntries processes
}

// readBounded reads at most limit bytes of a /proc file.
func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, limit))
}

// listening reads <proc>/net/tcp and tcp6. tcp6 is absent when IPv6 is
// off, which is no error.
func (r roots) listening() ([]listenSocket, error) {
	var all []listenSocket
	for _, name := range []string{"tcp", "tcp6"} {
		p := filepath.Join(r.proc, "net", name)
		f, err := os.Open(p)
		if err != nil {
			if name == "tcp6" && errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return nil, err
		}
		socks, err := parseNetTCP(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		all = append(all, socks...)
	}
	return all, nil
}

// socketInodes lists the socket inodes a process holds, from the
// socket:[N] targets of its fd links. Nothing is opened through them.
func socketInodes(dir string) (map[uint64]bool, error) {
	d, err := os.Open(filepath.Join(dir, "fd"))
	if err != nil {
		return nil, err
	}
	defer d.Close()
	inodes := map[uint64]bool{}
	seen := 0
	for seen < maxFDsPerProcess {
		ents, err := d.ReadDir(1024)
		for _, e := range ents {
			seen++
			t, err := os.Readlink(filepath.Join(dir, "fd", e.Name()))
			if err != nil {
				continue // closed meanwhile
			}
			if n, ok := strings.CutPrefix(t, "socket:["); ok {
				if v, err := strconv.ParseUint(strings.TrimSuffix(n, "]"), 10, 64); err == nil {
					inodes[v] = true
				}
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return inodes, err
		}
		if len(ents) == 0 {
			break
		}
	}
	return inodes, nil
}

// discoverEndpoints finds the TCP sockets inference servers listen on.
// Only processes whose name is listed have their fds looked at; every
// other socket (sshd, databases) is left alone.
func (r roots) discoverEndpoints(names map[string]bool) ([]discovered, discoveryStats, error) {
	var st discoveryStats
	socks, err := r.listening()
	if err != nil {
		return nil, st, err
	}
	st.Listening = len(socks)
	if len(socks) == 0 {
		return nil, st, nil
	}
	byInode := make(map[uint64][]netip.AddrPort, len(socks))
	for _, s := range socks {
		byInode[s.Inode] = append(byInode[s.Inode], s.Addr)
	}
	d, err := os.Open(r.proc)
	if err != nil {
		return nil, st, err
	}
	defer d.Close()
	var found []discovered
	taken := map[uint64]bool{}
	for st.Processes < maxProcEntries {
		ents, rerr := d.ReadDir(4096)
		for _, e := range ents {
			pid := e.Name()
			if !e.IsDir() || pid == "" || strings.TrimLeft(pid, "0123456789") != "" {
				continue
			}
			st.Processes++
			dir := filepath.Join(r.proc, pid)
			comm, err := readBounded(filepath.Join(dir, "comm"), 64)
			if err != nil {
				if !errors.Is(err, fs.ErrNotExist) { // not a process that exited
					st.Unreadable++
				}
				continue
			}
			cmd, err := readBounded(filepath.Join(dir, "cmdline"), maxCmdline)
			if err != nil {
				if !errors.Is(err, fs.ErrNotExist) {
					st.Unreadable++
				}
				continue
			}
			var argv []string
			for a := range bytes.SplitSeq(bytes.TrimRight(cmd, "\x00"), []byte{0}) {
				argv = append(argv, string(a))
			}
			if len(cmd) == 0 {
				argv = nil // a kernel thread or a zombie
			}
			c := strings.TrimSpace(string(comm))
			name, ok := matchName(c, argv, names)
			if !ok {
				continue
			}
			st.Servers++
			inodes, err := socketInodes(dir)
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				st.ServersUnreadable++
				continue
			}
			for ino := range inodes {
				// A listening socket is shared by forked workers
				// (gunicorn, uvicorn --workers): report it once.
				if taken[ino] {
					continue
				}
				for _, a := range byInode[ino] {
					taken[ino] = true
					found = append(found, discovered{Probe: probeAddr(a), Listen: a, Process: c, Name: name})
				}
			}
		}
		if rerr != nil {
			if errors.Is(rerr, io.EOF) {
				break
			}
			return nil, st, rerr
		}
		if len(ents) == 0 {
			break
		}
	}
	if st.Processes >= maxProcEntries {
		st.Truncated = true
	}
	slices.SortFunc(found, func(a, b discovered) int {
		if c := strings.Compare(a.Probe.String(), b.Probe.String()); c != 0 {
			return c
		}
		return strings.Compare(a.Process, b.Process)
	})
	found = slices.CompactFunc(found, func(a, b discovered) bool { return a.Probe == b.Probe })
	return found, st, nil
}

// probeAddr is where a listening socket is reached from this host: a
// wildcard bind on loopback, anything else on its own address.
func probeAddr(a netip.AddrPort) netip.AddrPort {
	switch {
	case a.Addr() == netip.IPv4Unspecified():
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), a.Port())
	case a.Addr() == netip.IPv6Unspecified():
		return netip.AddrPortFrom(netip.IPv6Loopback(), a.Port())
	}
	return a
}

// hostname is the name a discovered endpoint bound to every address is
// verified against, as clients elsewhere reach it by the host's name,
// not by 127.0.0.1; "" when unknown.
func (r roots) hostname() string {
	b, err := readBounded(filepath.Join(r.proc, "sys", "kernel", "hostname"), 256)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
