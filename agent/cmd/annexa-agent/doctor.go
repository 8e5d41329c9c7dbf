package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/annexa/annexa/agent/internal/config"
	"github.com/annexa/annexa/agent/internal/daemon"
	"github.com/annexa/annexa/agent/internal/enroll"
	"github.com/annexa/annexa/agent/internal/pluginhost"
	"github.com/annexa/annexa/agent/internal/spool"
)

// A finding of doctor: ok, warn (works, but will bite) or fail (broken).
type finding struct {
	level, area, msg string
}

type doctor struct {
	out      io.Writer
	findings []finding
	// now and procRoot are fields so tests can move them.
	now      func() time.Time
	procRoot string
}

func (d *doctor) ok(area, format string, a ...any)   { d.add("ok", area, format, a...) }
func (d *doctor) warn(area, format string, a ...any) { d.add("WARN", area, format, a...) }
func (d *doctor) fail(area, format string, a ...any) { d.add("FAIL", area, format, a...) }

func (d *doctor) add(level, area, format string, a ...any) {
	f := finding{level, area, fmt.Sprintf(format, a...)}
	d.findings = append(d.findings, f)
	fmt.Fprintf(d.out, "%-4s  %-10s %s\n", f.level, f.area, f.msg)
}

// cmdDoctor checks what a sysadmin most often gets wrong on a host and
// says, in plain words, what to do about each.
func cmdDoctor(ctx context.Context, args []string) error {
	fs, cfgPath := flagSet("doctor")
	if err := parse(fs, args); err != nil {
		return err
	}
	d := &doctor{out: os.Stdout, now: time.Now, procRoot: "/proc"}
	d.run(ctx, *cfgPath)
	var fails, warns int
	for _, f := range d.findings {
		switch f.level {
		case "FAIL":
			fails++
		case "WARN":
			warns++
		}
	}
	fmt.Printf("\n%d problems, %d warnings\n", fails, warns)
	if fails > 0 {
		return exitCode(1)
	}
	return nil
}

func (d *doctor) run(ctx context.Context, cfgPath string) {
	cfg, err := config.Load(cfgPath)
	if err != nil {
		d.fail("config", "%v", err)
		return
	}
	d.ok("config", "%s is valid (%s)", cfg.Path, pluginNames(cfg))
	if fi, err := os.Stat(cfg.Path); err == nil && fi.Mode().Perm()&0o002 != 0 {
		d.fail("config", "%s is writable by every user, who could point the agent anywhere; chmod o-w %s", cfg.Path, cfg.Path)
	}
	if os.Geteuid() == 0 {
		d.ok("user", "running as root; the packaged service runs as user annexa with CAP_DAC_READ_SEARCH, so it reads what root reads but writes only %s", cfg.StateDir)
	}

	d.plugins(cfg)
	d.pluginSettings(ctx, cfg)
	d.assets(cfg)
	d.inotify(cfg)
	d.collector(ctx, cfg)
	d.spool(ctx, cfg)
	d.stateOwnership(cfg)
}

func (d *doctor) plugins(cfg *config.Config) {
	if fi, err := os.Stat(cfg.PluginDir); err != nil {
		d.fail("plugins", "plugin folder %s: %v", cfg.PluginDir, err)
	} else if st := fi.Sys().(*syscall.Stat_t); st.Uid != 0 || fi.Mode().Perm()&0o022 != 0 {
		d.warn("plugins", "%s should belong to root and be writable by nobody else (it is %s, uid %d): whoever can write there chooses what the agent runs; chown root: %s && chmod go-w %s",
			cfg.PluginDir, fi.Mode().Perm(), st.Uid, cfg.PluginDir, cfg.PluginDir)
	}
	manifest, err := pluginhost.ReadManifest(cfg.PluginDir)
	if err != nil {
		d.fail("plugins", "%v", err)
		return
	}
	for _, p := range cfg.Plugins {
		if !p.Enabled {
			continue
		}
		pin, err := pluginhost.Pin(p.Name, p.Executable, p.SHA256, cfg.PluginDir, manifest)
		if err != nil {
			d.fail("plugins", "%v", err)
			continue
		}
		// The same check go-plugin makes before it starts the process,
		// made now so the answer comes before the next collection fails.
		sum, err := fileSHA256(p.Executable)
		switch {
		case err != nil:
			d.fail("plugins", "%s: %v", p.Name, err)
		case sum != pin:
			d.fail("plugins", "%s: %s has SHA-256 %s but is pinned to %s; it changed since it was pinned: reinstall the package, or if you replaced it on purpose, update its pin", p.Name, p.Executable, sum[:16]+"…", pin[:16]+"…")
		default:
			d.ok("plugins", "%s is pinned by SHA-256 and matches", p.Name)
		}
	}
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// assetPaths picks the folders and files out of the plugins' own settings,
// each with the plugins that name it ("datasets, encryption"), in path
// order so that doctor's output is the same from run to run.
func assetPaths(cfg *config.Config) (dirs, files map[string]string) {
	dirs, files = map[string]string{}, map[string]string{}
	add := func(m map[string]string, path, plugin string) {
		if path == "" || slices.Contains(strings.Split(m[path], ", "), plugin) {
			return
		}
		if m[path] != "" {
			plugin = m[path] + ", " + plugin
		}
		m[path] = plugin
	}
	for _, p := range cfg.Plugins {
		if !p.Enabled {
			continue
		}
		var s struct {
			Roots      []string `json:"roots"`
			AssetRoots []string `json:"asset_roots"`
			AuthLogs   []string `json:"auth_logs"`
			AuditLogs  []string `json:"audit_logs"`
			HTTPLogs   []struct {
				Path string `json:"path"`
			} `json:"http_logs"`
		}
		_ = json.Unmarshal(p.Settings, &s)
		for _, r := range append(s.Roots, s.AssetRoots...) {
			add(dirs, r, p.Name)
		}
		for _, l := range append(s.AuthLogs, s.AuditLogs...) {
			add(files, l, p.Name)
		}
		for _, l := range s.HTTPLogs {
			add(files, l.Path, p.Name)
		}
	}
	return dirs, files
}

// pluginLabel says which plugins name a path: "plugin access", "plugins
// datasets, encryption".
func pluginLabel(names string) string {
	if strings.Contains(names, ", ") {
		return "plugins " + names
	}
	return "plugin " + names
}

func (d *doctor) assets(cfg *config.Config) {
	dirs, files := assetPaths(cfg)
	for _, dir := range slices.Sorted(maps.Keys(dirs)) {
		plugin := pluginLabel(dirs[dir])
		fi, err := os.Stat(dir)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			d.fail("assets", "%s (%s) does not exist; fix the path in %s or create it", dir, plugin, cfg.Path)
		case errors.Is(err, fs.ErrPermission):
			d.fail("assets", "%s (%s) cannot be reached: a parent folder denies search permission; the service has CAP_DAC_READ_SEARCH under systemd, elsewhere add the agent's user to the owning group", dir, plugin)
		case err != nil:
			d.fail("assets", "%s (%s): %v", dir, plugin, err)
		case !fi.IsDir():
			d.fail("assets", "%s (%s) is not a folder", dir, plugin)
		default:
			f, err := os.Open(dir)
			if err == nil {
				_, err = f.Readdirnames(1)
				f.Close()
			}
			if err != nil && !errors.Is(err, io.EOF) {
				d.fail("assets", "%s (%s) cannot be listed: %v; give the agent read access (group, ACL, or CAP_DAC_READ_SEARCH as the packaged unit does)", dir, plugin, err)
			} else {
				d.ok("assets", "%s (%s) is readable", dir, plugin)
			}
		}
	}
	var logs []string
	for _, pattern := range slices.Sorted(maps.Keys(files)) {
		// A log may be a glob (/var/log/auth*.log): check what it matches.
		matches, err := filepath.Glob(pattern)
		if err != nil || len(matches) == 0 || matches[0] == pattern {
			logs = append(logs, pattern)
			continue
		}
		for _, m := range matches {
			if files[m] == "" {
				files[m] = files[pattern]
				logs = append(logs, m)
			}
		}
	}
	for _, file := range logs {
		plugin := pluginLabel(files[file])
		f, err := os.Open(file)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			d.warn("logs", "%s (%s) does not exist yet; it is read once it appears", file, plugin)
		case err != nil:
			d.fail("logs", "%s (%s) cannot be read: %v; add the agent's user to the log's group (often adm) or keep CAP_DAC_READ_SEARCH", file, plugin, err)
		default:
			f.Close()
			d.ok("logs", "%s (%s) is readable", file, plugin)
		}
	}
}

// inotify compares the folders under the watched roots with the kernel's
// watch limit; the agent uses at most half and polls the rest.
func (d *doctor) inotify(cfg *config.Config) {
	b, err := os.ReadFile(filepath.Join(d.procRoot, "sys/fs/inotify/max_user_watches"))
	if err != nil {
		d.warn("inotify", "cannot read the inotify watch limit (%v); changes may be seen only at the next poll", err)
		return
	}
	limit, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		d.warn("inotify", "the inotify watch limit %q is not a number", strings.TrimSpace(string(b)))
		return
	}
	budget := limit / 2
	dirs, _ := assetPaths(cfg)
	count := 0
	for root := range dirs {
		_ = filepath.WalkDir(root, func(_ string, e fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if e.IsDir() {
				count++
				if count > budget {
					return filepath.SkipAll
				}
			}
			return nil
		})
	}
	if count > budget {
		d.warn("inotify", "more than %d folders under the asset roots, over half of fs.inotify.max_user_watches=%d: the rest are polled every watch.poll_interval; raise it with: sysctl -w fs.inotify.max_user_watches=%d (and in /etc/sysctl.d/ to keep it)", budget, limit, max(4*count, 1048576))
		return
	}
	d.ok("inotify", "%d folders to watch, within half of fs.inotify.max_user_watches=%d", count, limit)
}

func (d *doctor) collector(ctx context.Context, cfg *config.Config) {
	creds, err := daemon.LoadCredentials(cfg.StateDir)
	if err != nil {
		d.fail("enrollment", "%v", err)
	} else {
		d.ok("enrollment", "enrolled as agent %s on %s", creds.AgentID, creds.EnrolledAt.UTC().Format(time.DateOnly))
		if strings.TrimRight(creds.CollectorURL, "/") != strings.TrimRight(cfg.Collector.URL, "/") {
			d.warn("enrollment", "enrolled with %s but collector.url is %s; if the collector moved, keep its certificate's CA or enroll again", creds.CollectorURL, cfg.Collector.URL)
		}
	}
	d.pinnedCAs(cfg)
	client, err := daemon.CollectorClient(cfg.StateDir, 15*time.Second)
	if err != nil {
		d.fail("collector", "%v", err)
		return
	}
	if strings.HasPrefix(cfg.Collector.URL, "http://") {
		d.warn("collector", "%s is plain http: evidence and the credential travel unencrypted; fine on loopback, otherwise use the collector's https address", cfg.Collector.URL)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(cfg.Collector.URL, "/")+"/v1/healthz", nil)
	sent := d.now()
	resp, err := client.Do(req)
	if err != nil {
		var unknown x509.UnknownAuthorityError
		var invalid x509.CertificateInvalidError
		var host x509.HostnameError
		var untrusted *enroll.UntrustedCollectorError
		switch {
		case errors.As(err, &untrusted):
			d.fail("collector", "%v", untrusted)
		case errors.As(err, &unknown):
			d.fail("collector", "%s presents a certificate not signed by the pinned CA (%s): either this is not your collector, or its CA changed; enroll again with --ca or --ca-fingerprint", cfg.Collector.URL, filepath.Join(cfg.StateDir, daemon.CAFile))
		case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
			d.fail("collector", "the collector's certificate has expired; on the collector run `annexa-collector init --renew --name HOST` (agents keep trusting the same CA)")
		case errors.As(err, &host):
			d.fail("collector", "the collector's certificate is not valid for %q (%v); add that name with `annexa-collector init --renew --name ...`, or use a name it has in collector.url", req.URL.Hostname(), host)
		default:
			d.fail("collector", "cannot reach %s: %v; check the URL, DNS, firewalls and that the collector runs", cfg.Collector.URL, err)
		}
		return
	}
	resp.Body.Close()
	rtt := d.now().Sub(sent)
	if resp.StatusCode != http.StatusOK {
		d.fail("collector", "%s answered %s to its health check; is this an Annexa collector?", cfg.Collector.URL, resp.Status)
		return
	}
	d.ok("collector", "%s answers in %s", cfg.Collector.URL, rtt.Round(time.Millisecond))
	if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
		leaf := resp.TLS.PeerCertificates[0]
		left := leaf.NotAfter.Sub(d.now())
		if left < 30*24*time.Hour {
			d.warn("certificate", "the collector's certificate expires on %s (in %d days); %s", leaf.NotAfter.UTC().Format(time.DateOnly), int(left.Hours()/24), renewAdvice(leaf))
		} else {
			d.ok("certificate", "the collector's certificate is valid until %s", leaf.NotAfter.UTC().Format(time.DateOnly))
		}
	}
	d.clientCert(cfg)
	if date, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
		// The Date header has whole seconds and was stamped during the
		// round trip: allow both before calling it skew.
		skew := d.now().Sub(date)
		slack := time.Second + rtt
		switch a := skew.Abs(); {
		case a > 5*time.Minute:
			d.fail("clock", "this host's clock is %s off the collector's: evidence times and certificate checks go wrong; enable NTP (timedatectl set-ntp true)", skew.Round(time.Second))
		case a > 30*time.Second+slack:
			d.warn("clock", "this host's clock is %s off the collector's; enable NTP (timedatectl set-ntp true)", skew.Round(time.Second))
		default:
			d.ok("clock", "within %s of the collector's", max(a, slack).Round(time.Second))
		}
	}
}

func (d *doctor) spool(ctx context.Context, cfg *config.Config) {
	path := filepath.Join(cfg.StateDir, daemon.SpoolFile)
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		d.ok("spool", "no spool yet at %s (the agent has not run)", path)
		return
	}
	if err != nil {
		d.fail("spool", "%s: %v", path, err)
		return
	}
	sp, err := spool.Open(path, spool.Options{MaxBytes: cfg.Spool.MaxBytes})
	if err != nil {
		d.fail("spool", "%v", err)
		return
	}
	st, err := sp.Stats(ctx)
	sp.Close()
	keepOwner(path, fi)
	if err != nil {
		d.fail("spool", "%v", err)
		return
	}
	switch {
	case st.Full:
		d.fail("spool", "the spool is full (%d records, %d bytes, cap spool.max_bytes=%d): collection is paused until the collector takes the backlog", st.Records, st.Bytes, cfg.Spool.MaxBytes)
	case !st.OldestUnsent.IsZero() && d.now().Sub(st.OldestUnsent) > time.Hour:
		d.warn("spool", "the oldest unsent record is %s old (%d waiting): shipping is stuck; see `annexa-agent status` for the last error", d.now().Sub(st.OldestUnsent).Round(time.Minute), st.Records)
	default:
		d.ok("spool", "%d records waiting, %d bytes of %d", st.Records, st.Bytes, cfg.Spool.MaxBytes)
	}
	if st.Quarantined > 0 {
		d.warn("spool", "%d records were refused by the collector and kept aside; `annexa-agent status` shows why", st.Quarantined)
	}
	if owner, err := user.LookupId(strconv.Itoa(int(fi.Sys().(*syscall.Stat_t).Uid))); err == nil && os.Geteuid() == 0 && owner.Username != "root" {
		d.ok("spool", "owned by %s, the service's user", owner.Username)
	}
}

// keepOwner hands files SQLite created beside the spool (its -wal and
// -shm) back to the spool's owner when a command (status, doctor, collect)
// runs as root, or the service user could not open its own spool
// afterwards.
func keepOwner(path string, spoolInfo os.FileInfo) {
	if os.Geteuid() != 0 {
		return
	}
	st := spoolInfo.Sys().(*syscall.Stat_t)
	if st.Uid == 0 {
		return
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if fi, err := os.Stat(path + suffix); err == nil && fi.Sys().(*syscall.Stat_t).Uid == 0 {
			_ = os.Chown(path+suffix, int(st.Uid), int(st.Gid))
		}
	}
}

// clientCert reports the mTLS certificate, when the agent has one.
func (d *doctor) clientCert(cfg *config.Config) {
	b, err := os.ReadFile(filepath.Join(cfg.StateDir, daemon.ClientCertFile))
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	var leaf *x509.Certificate
	if err == nil {
		var pair tls.Certificate
		pair, err = tls.X509KeyPair(b, readOr(filepath.Join(cfg.StateDir, daemon.ClientKeyFile)))
		leaf = pair.Leaf
	}
	switch {
	case err != nil:
		d.fail("client cert", "%s: %v; enroll again with --force", filepath.Join(cfg.StateDir, daemon.ClientCertFile), err)
	case d.now().After(leaf.NotAfter):
		d.warn("client cert", "expired on %s; the running agent renews it with its credential, so start it (`systemctl start annexa-agent`); a collector that requires client certificates refuses evidence until then", leaf.NotAfter.UTC().Format(time.RFC3339))
	default:
		d.ok("client cert", "valid until %s, renewed automatically with a third of its life left", leaf.NotAfter.UTC().Format(time.RFC3339))
	}
}

func readOr(path string) []byte {
	b, _ := os.ReadFile(path)
	return b
}

// caWarnBefore is how long before a pinned CA's end doctor warns: a CA
// rollover waits for every agent, and hosts may be offline for weeks.
const caWarnBefore = 180 * 24 * time.Hour

// pinnedCAs reports the collector CAs this agent trusts: one, or two
// while a CA rollover is under way.
func (d *doctor) pinnedCAs(cfg *config.Config) {
	b, err := daemon.LoadCA(cfg.StateDir)
	if err != nil {
		d.fail("trust", "%v", err)
		return
	}
	if b == nil {
		d.ok("trust", "no pinned collector CA: the system's CAs verify the collector")
		return
	}
	var cas []*x509.Certificate
	for rest := b; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if c, err := x509.ParseCertificate(blk.Bytes); err == nil {
			cas = append(cas, c)
		}
	}
	if len(cas) == 0 {
		d.fail("trust", "%s holds no certificate; enroll again with --force", filepath.Join(cfg.StateDir, daemon.CAFile))
		return
	}
	var names []string
	latest := cas[0]
	for _, c := range cas {
		names = append(names, fmt.Sprintf("%s (%s, until %s)", enroll.Fingerprint(c), c.Subject.CommonName, c.NotAfter.UTC().Format(time.DateOnly)))
		if c.NotAfter.After(latest.NotAfter) {
			latest = c
		}
	}
	if len(cas) > 1 {
		d.ok("trust", "a CA rollover is under way: this agent trusts %d collector CAs: %s", len(cas), strings.Join(names, "; "))
	} else {
		d.ok("trust", "pinned collector CA %s", names[0])
	}
	if left := latest.NotAfter.Sub(d.now()); left < caWarnBefore {
		d.warn("trust", "the collector's CA ends on %s (in %d days); on the collector, start a rollover with `annexa-collector ca rotate` (docs/operations.md, Rotating certificates)", latest.NotAfter.UTC().Format(time.DateOnly), int(left.Hours()/24))
	}
}
