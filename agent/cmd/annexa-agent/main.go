// Command annexa-agent gathers compliance evidence on an ML host with its
// plugins and ships it to the Annexa collector.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// version is set by the Makefile with -ldflags.
var version = "dev"

// exitCode lets a command ask for a status other than 1 on failure.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit %d", int(e)) }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	var code exitCode
	switch {
	case err == nil:
	case errors.As(err, &code):
		os.Exit(int(code))
	default:
		fmt.Fprintln(os.Stderr, "annexa-agent:", err)
		os.Exit(1)
	}
}

const usage = `usage: annexa-agent <command> [flags]

commands:
  run      [--once] --config F             run the agent in the foreground; --once: collect once, ship, exit
  collect  --once --config F --output -    run every plugin once, print evidence as JSON lines
  enroll   --token T [--ca FILE | --ca-fingerprint sha256:HEX] [--collector URL] [--force] --config F
                                           exchange an enrollment token for this host's credential, pinning the collector CA
  status   [--json] --config F             spool depth, last shipment, each plugin's health
  config check --config F                  validate the config, plugin pins and each plugin's settings
  doctor   --config F                      check config, permissions, plugin pins, inotify, collector, TLS, clock and spool
  service  install|uninstall|start|stop|restart|status --config F [--name N]
                                           run the agent as a system service (systemd, else System V init)
  audit-rules --config F                   print auditd watch rules for the dataset and model roots
  version                                  print the version

--config defaults to /etc/annexa/agent.yaml.
`

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return exitCode(2)
	}
	switch args[0] {
	case "run":
		return cmdRun(ctx, args[1:])
	case "collect":
		return cmdCollect(ctx, args[1:])
	case "enroll":
		return cmdEnroll(ctx, args[1:])
	case "status":
		return cmdStatus(ctx, args[1:])
	case "doctor":
		return cmdDoctor(ctx, args[1:])
	case "service":
		return cmdService(args[1:])
	case "audit-rules":
		return cmdAuditRules(args[1:])
	case "config":
		if len(args) < 2 || args[1] != "check" {
			fmt.Fprint(os.Stderr, "usage: annexa-agent config check --config F\n")
			return exitCode(2)
		}
		return cmdConfigCheck(ctx, args[2:])
	case "version", "--version", "-version":
		fmt.Println("annexa-agent", version)
		return nil
	case "help", "-h", "--help":
		fmt.Print(usage)
		return nil
	}
	fmt.Fprintf(os.Stderr, "annexa-agent: unknown command %q\n\n%s", args[0], usage)
	return exitCode(2)
}
