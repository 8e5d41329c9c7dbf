// Command annexa-collector receives evidence from Annexa agents, keeps it in
// a tamper-evident store and reports compliance. main only wires signals and
// exit codes; the commands live in commands.go and run with a context.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `usage: annexa-collector <command> [flags]

commands:
  init          --data DIR --name HOST [--name IP]... | --cert F --key F | --renew --name HOST...
                create the collector's CA and TLS server certificate (or install yours)
  serve         --data DIR [--listen 127.0.0.1:8080] [--freshness 24h] [--catalog DIR] [--evaluate-every 5m]
                [--plain-http] [--tls-cert F --tls-key F] [--require-client-cert] [--client-cert-lifetime 720h]
                [--secure-cookies]
                serve the HTTPS API (agents enroll and ship evidence here) and the web UI;
                plain HTTP only on loopback
  token create  --data DIR [--ttl 24h] [--uses 1]
                print a new enrollment token for annexa-agent enroll
  report        --data DIR [--format json] [--out FILE] [--freshness 24h] [--catalog DIR]
                print the compliance report; formats: json, summary, html, csv (Statement
                of Applicability), oscal, cyclonedx, bundle (a zip: give --out)
  agents list   --data DIR [--min-version v1.4.0]
  agents revoke --data DIR ID
  users add     --data DIR [--role admin|auditor] [--password-file FILE|-] [--replace] NAME
                let NAME log in to the web UI (a password is generated unless given)
  users list    --data DIR
  verify        --data DIR
                re-check the hash chains of the evidence history and the governance log
  service       install|uninstall|start|stop|restart|status [--data DIR] [--listen ADDR] [--plain-http] [--name N]
                run serve as a system service (systemd, else System V init)
  --version     print the version
` + caUsage + governanceUsage

// usageError is a mistake on the command line: exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "annexa-collector: %v\n", err)
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprint(stderr, "run `annexa-collector --help` for usage\n")
		return 2
	}
	return 1
}
