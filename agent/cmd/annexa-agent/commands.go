package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/annexa/annexa/agent/internal/config"
	"github.com/annexa/annexa/agent/internal/daemon"
	"github.com/annexa/annexa/agent/internal/enroll"
	"github.com/annexa/annexa/agent/internal/spool"
	"github.com/annexa/annexa/packaging/service"
	"github.com/annexa/annexa/plugins/sdk"
)

// flagSet builds a subcommand's flags; every command takes --config.
func flagSet(name string) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("annexa-agent "+name, flag.ContinueOnError)
	cfg := fs.String("config", config.DefaultPath, "agent config file")
	return fs, cfg
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitCode(0)
		}
		return exitCode(2)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "%s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return exitCode(2)
	}
	return nil
}

// usageErrorf reports a wrong command line: exit 2, as documented, so a
// script can tell it from a failure.
func usageErrorf(format string, args ...any) error {
	fmt.Fprintf(os.Stderr, "annexa-agent: "+format+"\n", args...)
	return exitCode(2)
}

func newLogger(level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return logTo(os.Stderr, l)
}

func cmdRun(ctx context.Context, args []string) error {
	fs, cfgPath := flagSet("run")
	once := fs.Bool("once", false, "collect once with every plugin, ship everything, and exit")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	d, err := daemon.New(cfg, daemon.Options{Version: version, Logger: newLogger(cfg.LogLevel), Once: *once})
	if err != nil {
		return err
	}
	err = d.Run(ctx)
	handBack(cfg.StateDir)
	return err
}

func cmdConfigCheck(ctx context.Context, args []string) error {
	fs, cfgPath := flagSet("config check")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	// Pins and each plugin's own settings are part of a config being
	// usable: a plugin refused at start would collect nothing, so say so now.
	checks, err := checkPlugins(ctx, cfg)
	errs := []error{err}
	for _, c := range checks {
		errs = append(errs, c.err)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	fmt.Printf("%s: ok (%s)\n", cfg.Path, pluginNames(cfg))
	return nil
}

func pluginNames(cfg *config.Config) string {
	var n []string
	for _, p := range cfg.Plugins {
		s := p.Name
		if !p.Enabled {
			s += " (disabled)"
		}
		n = append(n, s)
	}
	if len(n) == 1 {
		return "1 plugin: " + n[0]
	}
	return fmt.Sprintf("%d plugins: %s", len(n), strings.Join(n, ", "))
}

func cmdEnroll(ctx context.Context, args []string) error {
	fs, cfgPath := flagSet("enroll")
	url := fs.String("collector", "", "collector base URL (default: collector.url from the config)")
	token := fs.String("token", "", "enrollment token from `annexa-collector token create`")
	force := fs.Bool("force", false, "enroll again even if this host already has a credential")
	caFile := fs.String("ca", "", "the collector's CA certificate (its DATA/tls/ca.pem) to pin")
	caFP := fs.String("ca-fingerprint", "", "pin the collector CA with this SHA-256 fingerprint, as `annexa-collector init` prints it")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *token == "" {
		return usageErrorf("--token is required; create one on the collector with `annexa-collector token create`")
	}
	if *caFile != "" && *caFP != "" {
		return usageErrorf("give --ca or --ca-fingerprint, not both")
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	if *url == "" {
		*url = cfg.Collector.URL
	}
	if strings.TrimRight(*url, "/") != strings.TrimRight(cfg.Collector.URL, "/") {
		return fmt.Errorf("--collector %s differs from collector.url %s in %s; the agent ships to the config's URL, so make them the same", *url, cfg.Collector.URL, cfg.Path)
	}
	old, err := daemon.LoadCredentials(cfg.StateDir)
	if err == nil && !*force {
		return fmt.Errorf("this host is already enrolled (%s); pass --force to enroll again", filepath.Join(cfg.StateDir, daemon.CredentialsFile))
	}
	host := daemon.Hostname(cfg)
	client, caPEM, err := pinCollectorCA(ctx, cfg, *url, *caFile, *caFP)
	if err != nil {
		return err
	}
	keyPEM, csrPEM, err := clientKey(*url, host)
	if err != nil {
		return err
	}
	resp, err := enroll.Enroll(ctx, client, *url, enroll.Request{Token: *token, Host: host, AgentVersion: version, CSR: string(csrPEM)})
	if err != nil {
		return err
	}
	if err := daemon.SaveClientCert(cfg.StateDir, keyPEM, []byte(resp.ClientCert)); err != nil {
		return err
	}
	if caPEM != nil {
		if err := daemon.SaveCA(cfg.StateDir, caPEM); err != nil {
			return err
		}
	}
	if err := daemon.SaveCredentials(cfg.StateDir, &daemon.Credentials{
		AgentID: resp.AgentID, Credential: resp.Credential, CollectorURL: *url, EnrolledAt: time.Now().UTC(),
	}); err != nil {
		return err
	}
	fmt.Printf("enrolled %s as agent %s with %s\n", host, resp.AgentID, *url)
	if old != nil && old.AgentID != resp.AgentID {
		// The collector still counts the old ID as an enrolled host, which
		// goes silent from now on: say which one to revoke.
		fmt.Printf("this replaces agent %s; revoke it on the collector: annexa-collector agents revoke --data DIR %s\n", old.AgentID, old.AgentID)
	}
	describeTrust(caPEM, resp.ClientCert)
	return nil
}

func cmdStatus(ctx context.Context, args []string) error {
	fs, cfgPath := flagSet("status")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	out := map[string]any{}
	creds, err := daemon.LoadCredentials(cfg.StateDir)
	if err != nil {
		out["enrolled"] = false
	} else {
		out["enrolled"] = true
		out["agent_id"] = creds.AgentID
	}
	spoolPath := filepath.Join(cfg.StateDir, daemon.SpoolFile)
	if fi, err := os.Stat(spoolPath); err == nil {
		sp, err := spool.Open(spoolPath, spool.Options{MaxBytes: cfg.Spool.MaxBytes})
		if err != nil {
			return err
		}
		stats, err := sp.Stats(ctx)
		sp.Close()
		keepOwner(spoolPath, fi)
		if err != nil {
			return err
		}
		out["spool"] = stats
	}
	var st daemon.Status
	if b, err := os.ReadFile(filepath.Join(cfg.StateDir, daemon.StatusFile)); err == nil && json.Unmarshal(b, &st) == nil {
		out["daemon"] = st
	}
	out["running"] = daemon.Running(cfg.StateDir)
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	fmt.Fprintf(w, "enrolled:        %v", out["enrolled"])
	if creds != nil {
		fmt.Fprintf(w, " (agent %s)", creds.AgentID)
	}
	fmt.Fprintf(w, "\nrunning:         %v\n", out["running"])
	if s, ok := out["spool"].(spool.Stats); ok {
		fmt.Fprintf(w, "spool:           %d records, %d bytes, %d quarantined", s.Records, s.Bytes, s.Quarantined)
		if s.Full {
			fmt.Fprint(w, ", FULL: collection paused")
		}
		fmt.Fprintln(w)
		if !s.OldestUnsent.IsZero() {
			fmt.Fprintf(w, "oldest unsent:   %s ago\n", time.Since(s.OldestUnsent).Round(time.Second))
		}
		if !s.LastShippedAt.IsZero() {
			fmt.Fprintf(w, "last shipment:   %s (%s ago)\n", s.LastShippedAt.UTC().Format(time.RFC3339), time.Since(s.LastShippedAt).Round(time.Second))
		} else {
			fmt.Fprintln(w, "last shipment:   never")
		}
	}
	if st.UpdatedAt.IsZero() {
		fmt.Fprintln(w, "plugins:         unknown (the daemon has not run)")
		return nil
	}
	if st.Shipper.LastError != "" {
		fmt.Fprintf(w, "shipper error:   %s\n", st.Shipper.LastError)
	}
	for _, h := range st.Plugins {
		fmt.Fprintf(w, "plugin %-10s %s", h.Plugin, h.State)
		if h.Error != "" {
			fmt.Fprintf(w, ": %s", h.Error)
		}
		fmt.Fprintln(w)
	}
	for _, c := range st.Collecting {
		fmt.Fprintln(w, collectingLine(c, st.UpdatedAt))
	}
	return nil
}

func cmdCollect(ctx context.Context, args []string) error {
	fs, cfgPath := flagSet("collect")
	once := fs.Bool("once", false, "run every plugin once (the only mode for now)")
	output := fs.String("output", "-", "where to write JSON lines; - is stdout")
	if err := parse(fs, args); err != nil {
		return err
	}
	if !*once {
		return usageErrorf("collect needs --once; the continuous mode is `annexa-agent run`")
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	var out io.Writer = os.Stdout
	if *output != "-" {
		f, err := os.Create(*output)
		if err != nil {
			return fmt.Errorf("open output: %w", err)
		}
		defer f.Close()
		out = f
	}
	bw := bufio.NewWriter(out)
	defer bw.Flush()
	return collectOnce(ctx, cfg, bw, newLogger("warn"), newProgress(*output))
}

// collectOnce runs each plugin once and prints what it sends. It never
// touches the daemon's spool or checkpoints: plugins get a scratch state
// folder and the last committed checkpoint is only read.
func collectOnce(ctx context.Context, cfg *config.Config, w *bufio.Writer, log *slog.Logger, prog *progress) error {
	scratch, err := os.MkdirTemp("", "annexa-collect-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(scratch)
	sups, pinErr := daemon.Supervisors(cfg, scratch, log)
	if pinErr != nil && len(sups) == 0 {
		return pinErr
	}
	checkpoints := readCheckpoints(ctx, cfg)
	host := daemon.Hostname(cfg)
	lines := &lineWriter{w: w}
	var failed []string
	for _, s := range sups {
		started := time.Now()
		var n int
		prog.begin(s.Name())
		// Unthrottled: a person waits, so the plugins' read-rate limits and
		// low I/O priority, meant for the daemon's unattended scans, are off.
		// The state folder is scratch, so caches need not be written; with
		// no progress line shown, no progress is asked for. Unchanged
		// confirmations are never accepted: the output lists every subject.
		req := sdk.Request{Full: true, Checkpoint: checkpoints[s.Name()], Unthrottled: true,
			ScratchState: true, Quiet: prog == nil}
		err := s.Collect(ctx, req, func(g sdk.Group) error {
			if g.Progress != nil {
				prog.update(*g.Progress)
			}
			size := 0
			for _, r := range g.Records {
				size += len(r.Attributes)
			}
			prog.add(len(g.Records), size)
			for _, r := range g.Records {
				r.Host, r.Plugin = host, s.Name()
				if err := lines.write(r); err != nil {
					return err
				}
				n++
			}
			return nil
		})
		prog.end(err)
		if err == nil {
			inst, serr := s.Start(ctx)
			if serr == nil {
				_ = lines.write(daemon.ScanComplete(host, s.Name(), inst.Info().Kinds, inst.Roots(), started, time.Now()))
			}
		} else {
			failed = append(failed, fmt.Sprintf("%s: %v", s.Name(), err))
		}
		_ = lines.write(daemon.HealthRecord(host, s.Health()))
		s.Stop()
	}
	if pinErr != nil {
		failed = append(failed, pinErr.Error())
	}
	if len(failed) > 0 {
		w.Flush()
		return errors.New(strings.Join(failed, "\n"))
	}
	return nil
}

func readCheckpoints(ctx context.Context, cfg *config.Config) map[string][]byte {
	out := map[string][]byte{}
	path := filepath.Join(cfg.StateDir, daemon.SpoolFile)
	fi, err := os.Stat(path)
	if err != nil {
		return out
	}
	sp, err := spool.Open(path, spool.Options{MaxBytes: cfg.Spool.MaxBytes})
	if err != nil {
		return out
	}
	defer func() {
		sp.Close()
		keepOwner(path, fi)
	}()
	for _, p := range cfg.Plugins {
		if cp, err := sp.Checkpoint(ctx, p.Name); err == nil {
			out[p.Name] = cp
		}
	}
	return out
}

// cmdService installs or controls `annexa-agent run --config F` as a
// system service. Install checks the config first: a service that fails
// at every start is worse than a refusal now.
func cmdService(args []string) error {
	if len(args) == 0 || !slices.Contains(service.Actions, args[0]) {
		fmt.Fprintf(os.Stderr, "usage: annexa-agent service %s --config F [--name N]\n", strings.Join(service.Actions, "|"))
		return exitCode(2)
	}
	action := args[0]
	fs, cfgPath := flagSet("service " + action)
	name := fs.String("name", "annexa-agent", "service name")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	var svcArgs []string
	if action == "install" {
		cfg, err := config.Load(*cfgPath)
		if err != nil {
			return err
		}
		abs, err := filepath.Abs(cfg.Path)
		if err != nil {
			return err
		}
		svcArgs = []string{"run", "--config", abs}
	}
	s, err := service.New(service.Spec{
		Name: *name, Unit: "annexa-agent", DisplayName: "Annexa agent",
		Description: "Gathers ISO/IEC 27001 and 42001 evidence on this ML host",
		Args:        svcArgs,
	})
	if err != nil {
		return err
	}
	msg, err := service.Control(s, *name, action)
	if err != nil {
		return err
	}
	fmt.Println(msg)
	return nil
}
