package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/annexa/annexa/collector/internal/api"
	"github.com/annexa/annexa/collector/internal/auth"
	"github.com/annexa/annexa/collector/internal/controls"
	"github.com/annexa/annexa/collector/internal/report"
	"github.com/annexa/annexa/collector/internal/store"
	"github.com/annexa/annexa/collector/internal/store/sqlite"
	"github.com/annexa/annexa/collector/internal/web"
	"github.com/annexa/annexa/packaging/service"
)

// dbName is the store's file inside --data.
const dbName = "collector.db"

// env is what every command gets: where to write and how to log.
type env struct {
	stdout, stderr io.Writer
	log            *slog.Logger
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	e := &env{stdout: stdout, stderr: stderr,
		log: newLogger(stderr)}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usagef("no command given")
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "--version", "-version", "version":
		fmt.Fprintf(stdout, "annexa-collector %s\n", version)
		return nil
	case "-h", "--help", "-help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	case "serve":
		return e.serve(ctx, rest)
	case "init":
		return e.initTLS(ctx, rest)
	case "token":
		if len(rest) == 0 || rest[0] != "create" {
			return usagef("token needs a subcommand: token create")
		}
		return e.tokenCreate(ctx, rest[1:])
	case "report":
		return e.report(ctx, rest)
	case "agents":
		if len(rest) == 0 {
			return usagef("agents needs a subcommand: agents list | agents revoke ID")
		}
		switch rest[0] {
		case "list":
			return e.agentsList(ctx, rest[1:])
		case "revoke":
			return e.agentsRevoke(ctx, rest[1:])
		}
		return usagef("unknown subcommand agents %s; use agents list or agents revoke ID", rest[0])
	case "verify":
		return e.verify(ctx, rest)
	case "service":
		return e.service(rest)
	case "exceptions", "attest", "soa", "apikey", "controls":
		return e.governance(ctx, cmd, rest)
	case "users":
		return e.users(ctx, rest)
	case "ca":
		return e.ca(ctx, rest)
	default:
		return usagef("unknown command %q; commands are init, serve, token create, report, agents list, agents revoke, verify, service, exceptions, attest, soa, apikey, controls, users, ca", cmd)
	}
}

// parse parses flags anywhere among the arguments (so `revoke ID --data D`
// works as well as `revoke --data D ID`) and returns the positional ones.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, usagef("%s flags: %s", fs.Name(), flagList(fs))
			}
			return nil, usagef("%s: %v", fs.Name(), err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func flagList(fs *flag.FlagSet) string {
	var s string
	fs.VisitAll(func(f *flag.Flag) { s += fmt.Sprintf(" --%s (%s)", f.Name, f.Usage) })
	return s
}

func noArgs(cmd string, pos []string) error {
	if len(pos) > 0 {
		return usagef("%s takes no arguments, got %q", cmd, pos)
	}
	return nil
}

// dataFlag adds --data, the folder holding the store.
func dataFlag(fs *flag.FlagSet) *string {
	return fs.String("data", "", "the collector's data folder, holding "+dbName)
}

func needData(cmd, dir string) error {
	if dir == "" {
		return usagef("%s: --data DIR is required (the folder holding %s)", cmd, dbName)
	}
	return nil
}

// parseNoArgs parses the flags of a command that takes no arguments. Its
// errors name the command by its flag set's name.
func parseNoArgs(fs *flag.FlagSet, args []string) error {
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	return noArgs(fs.Name(), pos)
}

// parseWithData is parseNoArgs for a command that needs --data.
func parseWithData(fs *flag.FlagSet, data *string, args []string) error {
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	return needData(fs.Name(), *data)
}

// openForCommand parses the flags of a command that takes no arguments,
// checks --data and opens the existing store.
func (e *env) openForCommand(ctx context.Context, fs *flag.FlagSet, data *string, args []string) (*sqlite.DB, error) {
	if err := parseWithData(fs, data, args); err != nil {
		return nil, err
	}
	return e.openStore(ctx, *data, false)
}

// openForID is openForCommand for a command that takes exactly one ID; what
// names the ID in the usage error.
func (e *env) openForID(ctx context.Context, what string, fs *flag.FlagSet, data *string, args []string) (*sqlite.DB, string, error) {
	pos, err := parse(fs, args)
	if err != nil {
		return nil, "", err
	}
	if len(pos) != 1 {
		return nil, "", usagef("%s takes exactly one %s, got %d", fs.Name(), what, len(pos))
	}
	if err := needData(fs.Name(), *data); err != nil {
		return nil, "", err
	}
	st, err := e.openStore(ctx, *data, false)
	return st, pos[0], err
}

// openStore opens the store in dir. Only serve and token create may create
// it: a report of an empty, mistyped folder would look like a real one.
func (e *env) openStore(ctx context.Context, dir string, create bool) (*sqlite.DB, error) {
	path := filepath.Join(dir, dbName)
	if create {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create data folder: %w", err)
		}
	} else if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("no collector database at %s (%w); check --data or run `annexa-collector serve --data %s` first", path, err, dir)
	}
	db, err := sqlite.Open(ctx, path, e.log)
	if err == nil {
		keepDataOwner(dir, path)
	}
	return db, err
}

func (e *env) serve(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	data := dataFlag(fs)
	listen := fs.String("listen", "127.0.0.1:8080", "address to listen on (host:port; port 0 picks a free one)")
	freshness := fs.Duration("freshness", 24*time.Hour, "how old evidence may be and still count")
	catalogDir := fs.String("catalog", "", "folder of extra or replacing catalog and check YAML files")
	evalEvery := fs.Duration("evaluate-every", 5*time.Minute, "how often a full evaluation pass is made and recorded (0: only at start; batches are evaluated incrementally as they land)")
	secureCookies := fs.Bool("secure-cookies", false, "mark web UI cookies Secure on plain HTTP too (behind a TLS-terminating proxy)")
	plainHTTP := fs.Bool("plain-http", false, "serve plain HTTP, not TLS (loopback addresses only)")
	tlsCert := fs.String("tls-cert", "", "server certificate (default DATA/tls/server.pem from `init`)")
	tlsKey := fs.String("tls-key", "", "server key (default DATA/tls/server.key)")
	requireClientCert := fs.Bool("require-client-cert", false, "refuse evidence from agents without a client certificate from this collector's CA (mTLS)")
	clientCertLifetime := fs.Duration("client-cert-lifetime", 0, "lifetime of the client certificates issued to agents (default 720h); agents renew with a third left")
	if err := parseWithData(fs, data, args); err != nil {
		return err
	}
	if *freshness <= 0 {
		return usagef("serve: --freshness must be positive, got %s", *freshness)
	}
	// A broken check must stop the start, not surface at the first report.
	engine, err := loadCatalog(*catalogDir)
	if err != nil {
		return err
	}
	unlock, err := lockServe(*data)
	if err != nil {
		return err
	}
	defer unlock()
	st, err := e.openStore(ctx, *data, true)
	if err != nil {
		return err
	}
	defer st.Close()

	ln, scheme, ca, err := listenTLS(*listen, *data, *plainHTTP, *tlsCert, *tlsKey)
	if err != nil {
		return err
	}
	apiOpts := api.Options{Freshness: *freshness, Engine: engine}
	if ca != nil {
		ca.ClientLifetime = *clientCertLifetime
		ca.OnReloadError = func(err error) {
			e.log.Warn("the CA files changed but cannot be read; keeping the CAs in use", "err", err)
		}
		ca.OnReload = logCAReload(e.log)
	}
	if err := apiTLSOptions(&apiOpts, ca, *requireClientCert); err != nil {
		ln.Close()
		return err
	}
	ev := newEvaluator(st, e.log, report.Options{Freshness: *freshness, Engine: engine}, *evalEvery)
	ui, err := web.New(st, e.log, web.Options{Freshness: *freshness, Engine: engine, SecureCookies: *secureCookies, Kept: ev.kept})
	if err != nil {
		ln.Close()
		return err
	}
	ui.Prepare()
	// The API owns /v1/ and the probes; everything else is the web UI.
	mux := http.NewServeMux()
	apiOpts.AfterIngest = ev.trigger
	apiOpts.Report = func(ctx context.Context, now time.Time) (*report.Report, error) {
		rep, _, err := ev.kept.Report(ctx, now)
		return rep, err
	}
	apiServer := api.New(st, e.log, apiOpts)
	ev.observe = apiServer.ObserveEvaluation
	evCtx, stopEv := context.WithCancel(ctx)
	evDone := make(chan struct{})
	go func() { ev.run(evCtx); close(evDone) }()
	// Runs before the store closes (defers run last first).
	defer func() { stopEv(); <-evDone }()
	apiHandler := apiServer.Handler()
	mux.Handle("/v1/", apiHandler)
	mux.Handle("/healthz", apiHandler)
	mux.Handle("/metrics", apiHandler)
	mux.Handle("/", ui.Handler())
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		// Generous: a 16 MiB batch over a slow link.
		ReadTimeout:  5 * time.Minute,
		WriteTimeout: 5 * time.Minute,
		IdleTimeout:  2 * time.Minute,
		ErrorLog:     slog.NewLogLogger(e.log.Handler(), slog.LevelWarn),
	}
	// Tests and scripts wait for this exact line.
	fmt.Fprintf(e.stderr, "annexa-collector listening on %s://%s\n", scheme, ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	e.log.Info("shutting down; finishing requests in flight")
	// Requests in flight run to their commit: a batch cut off after it was
	// stored but before the answer would only be re-sent and deduplicated,
	// but finishing is cheaper.
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

func (e *env) tokenCreate(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("token create", flag.ContinueOnError)
	data := dataFlag(fs)
	ttl := fs.Duration("ttl", 24*time.Hour, "how long the token stays valid")
	uses := fs.Int("uses", 1, "how many agents may enroll with it")
	if err := parseWithData(fs, data, args); err != nil {
		return err
	}
	if *ttl <= 0 {
		return usagef("token create: --ttl must be positive, got %s", *ttl)
	}
	if *uses < 1 {
		return usagef("token create: --uses must be at least 1, got %d", *uses)
	}
	st, err := e.openStore(ctx, *data, true)
	if err != nil {
		return err
	}
	defer st.Close()
	token, hash := auth.NewToken()
	if err := st.CreateToken(ctx, hash, time.Now().Add(*ttl), *uses); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, token)
	return nil
}

func (e *env) report(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	data := dataFlag(fs)
	format := fs.String("format", "json", "report format")
	out := fs.String("out", "", "write to this file instead of stdout")
	freshness := fs.Duration("freshness", 24*time.Hour, "how old evidence may be and still count")
	catalogDir := fs.String("catalog", "", "folder of extra or replacing catalog and check YAML files")
	if err := parseWithData(fs, data, args); err != nil {
		return err
	}
	if err := report.CheckFormat(*format); err != nil {
		return usagef("report: %v", err)
	}
	if *freshness <= 0 {
		return usagef("report: --freshness must be positive, got %s", *freshness)
	}
	if *format == "bundle" && *out == "" && isTerminal(e.stdout) {
		return usagef("report: the bundle is a zip, not for a terminal; give --out FILE (or redirect standard output)")
	}
	engine, err := loadCatalog(*catalogDir)
	if err != nil {
		return err
	}
	st, err := e.openStore(ctx, *data, false)
	if err != nil {
		return err
	}
	defer st.Close()
	rep, err := report.Assemble(ctx, st, time.Now(), report.Options{Freshness: *freshness, Engine: engine, CollectorVersion: version})
	if err != nil {
		return err
	}
	// A report is a full evaluation pass: it is recorded, so "since" and
	// trends include it. A read-only copy of the store still gets its report.
	if _, err := st.RecordEvaluation(ctx, rep.Evaluation()); err != nil {
		e.log.Warn("report not recorded as an evaluation pass", "err", err)
	}
	if *out == "" {
		return report.Write(e.stdout, *format, rep)
	}
	// Write beside the target and rename, so a reader never sees half a report.
	tmp, err := os.CreateTemp(filepath.Dir(*out), ".report-*")
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := report.Write(tmp, *format, rep); err != nil {
		tmp.Close()
		return fmt.Errorf("write report %s: %w", *out, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write report %s: %w", *out, err)
	}
	if err := os.Rename(tmp.Name(), *out); err != nil {
		return fmt.Errorf("write report %s: %w", *out, err)
	}
	return nil
}

func (e *env) agentsList(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("agents list", flag.ContinueOnError)
	data := dataFlag(fs)
	minVersion := fs.String("min-version", "", "flag agents older than this release, e.g. v1.4.0")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if _, ok := parseVersion(*minVersion); *minVersion != "" && !ok {
		return usagef("agents list: --min-version %q is not a release version like v1.4.0", *minVersion)
	}
	if err := needData("agents list", *data); err != nil {
		return err
	}
	st, err := e.openStore(ctx, *data, false)
	if err != nil {
		return err
	}
	defer st.Close()
	agents, err := st.Agents(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprint(tw, "ID\tHOST\tVERSION\tENROLLED\tLAST SEEN\tACKED SEQ\tREVOKED\tTRUSTS CA\tCLIENT CERT CA")
	if *minVersion != "" {
		fmt.Fprint(tw, "\tMIN "+*minVersion)
	}
	fmt.Fprintln(tw)
	for _, a := range agents {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s", a.ID, a.Host, orDash(a.AgentVersion), showTime(a.EnrolledAt, "-"), showTime(a.LastSeenAt, "never"),
			a.AckedThrough, showTime(a.RevokedAt, "no"))
		fmt.Fprint(tw, "\t"+trustColumns(a))
		if *minVersion != "" {
			fmt.Fprint(tw, "\t"+versionStatus(a.AgentVersion, *minVersion))
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

func showTime(t time.Time, zero string) string {
	if t.IsZero() {
		return zero
	}
	return t.UTC().Format(time.RFC3339)
}

func (e *env) agentsRevoke(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("agents revoke", flag.ContinueOnError)
	data := dataFlag(fs)
	st, id, err := e.openForID(ctx, "agent ID (see `annexa-collector agents list`)", fs, data, args)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Revoke(ctx, id); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "revoked agent %s; it can no longer send evidence\n", id)
	return nil
}

func (e *env) verify(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	data := dataFlag(fs)
	st, err := e.openForCommand(ctx, fs, data, args)
	if err != nil {
		return err
	}
	defer st.Close()
	n, err := st.Verify(ctx)
	var ce *store.ChainError
	if errors.As(err, &ce) {
		return fmt.Errorf("hash chain is broken after %d good rows: %w", n, err)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "hash chains of the evidence history and the governance log intact: %d rows verified\n", n)
	return nil
}

// loadCatalog loads the embedded catalogs and checks, merged with dir when
// one is given; nil means the embedded ones alone.
func loadCatalog(dir string) (*controls.Engine, error) {
	if dir == "" {
		return nil, nil
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, usagef("--catalog %s: not a folder", dir)
	}
	e, err := controls.Load(os.DirFS(dir), controls.WithSourceName(dir))
	if err != nil {
		return nil, fmt.Errorf("load catalog %s: %w", dir, err)
	}
	return e, nil
}

// service installs or controls `annexa-collector serve` as a system
// service with the flags given here.
func (e *env) service(args []string) error {
	if len(args) == 0 || !slices.Contains(service.Actions, args[0]) {
		return usagef("service needs an action: %s", strings.Join(service.Actions, ", "))
	}
	action := args[0]
	fs := flag.NewFlagSet("service "+action, flag.ContinueOnError)
	data := dataFlag(fs)
	listen := fs.String("listen", "127.0.0.1:8080", "address the service listens on")
	name := fs.String("name", "annexa-collector", "service name (to run two collectors on one host)")
	plainHTTP := fs.Bool("plain-http", false, "serve plain HTTP (loopback --listen only)")
	if err := parseNoArgs(fs, args[1:]); err != nil {
		return err
	}
	var svcArgs []string
	if action == "install" {
		if err := needData("service install", *data); err != nil {
			return err
		}
		abs, err := filepath.Abs(*data)
		if err != nil {
			return err
		}
		svcArgs = []string{"serve", "--listen", *listen, "--data", abs}
		if *plainHTTP {
			svcArgs = append(svcArgs, "--plain-http")
		}
		// A service that fails at every start is worse than a refusal now.
		if err := checkServeTLS(*listen, abs, *plainHTTP); err != nil {
			return err
		}
	}
	s, err := service.New(service.Spec{
		Name: *name, Unit: "annexa-collector", DisplayName: "Annexa collector",
		Description: "Stores compliance evidence and computes ISO/IEC 27001 and 42001 control status",
		Args:        svcArgs,
	})
	if err != nil {
		return err
	}
	msg, err := service.Control(s, *name, action)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, msg)
	return nil
}
