// Package service installs and controls annexa-agent and annexa-collector
// as system services with kardianos/service: systemd units where systemd
// runs (the packaged, hardened unit), System V init scripts elsewhere. The
// daemon itself is the program's `run`/`serve` command; this package only
// tells the service manager how to start and stop it.
package service

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	kservice "github.com/kardianos/service"

	"github.com/annexa/annexa/packaging"
)

// Actions are the verbs `<program> service ACTION` accepts.
var Actions = []string{"install", "uninstall", "start", "stop", "restart", "status"}

// Spec describes one service.
type Spec struct {
	// Name of the service (and of the unit in packaging/systemd).
	Name        string
	Unit        string
	DisplayName string
	Description string
	// Args are what the service manager passes to this executable.
	Args []string
}

// program satisfies kardianos' interface; it is never run through here.
type program struct{}

func (program) Start(kservice.Service) error { return nil }
func (program) Stop(kservice.Service) error  { return nil }

// New prepares spec for the service manager of this machine.
func New(spec Spec) (kservice.Service, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find this executable: %w", err)
	}
	if exe, err = filepath.EvalSymlinks(exe); err != nil {
		return nil, fmt.Errorf("find this executable: %w", err)
	}
	unit := spec.Unit
	if unit == "" {
		unit = spec.Name
	}
	tmpl, err := packaging.SystemdTemplate(unit)
	if err != nil {
		return nil, err
	}
	return kservice.New(program{}, &kservice.Config{
		Name: spec.Name, DisplayName: spec.DisplayName, Description: spec.Description,
		Executable: exe, Arguments: spec.Args,
		Option: kservice.KeyValue{"SystemdScript": tmpl},
	})
}

// System names the service manager kardianos chose on this machine.
func System() string { return kservice.ChosenSystem().String() }

// Control runs one action and returns a line for the operator.
func Control(s kservice.Service, name, action string) (string, error) {
	switch action {
	case "status":
		st, err := s.Status()
		if errors.Is(err, kservice.ErrNotInstalled) {
			return name + ": not installed", nil
		}
		if err != nil && System() == "unix-systemv" {
			// The init script answers "status" of a stopped service with a
			// non-zero exit, which kardianos reports as an error.
			if _, serr := os.Stat("/etc/init.d/" + name); serr == nil {
				return name + ": stopped", nil
			}
			return name + ": not installed", nil
		}
		if err != nil {
			return "", fmt.Errorf("%s status: %w", name, err)
		}
		switch st {
		case kservice.StatusRunning:
			return name + ": running", nil
		case kservice.StatusStopped:
			return name + ": stopped", nil
		}
		return name + ": unknown", nil
	case "install", "uninstall", "start", "stop", "restart":
		if err := kservice.Control(s, action); err != nil {
			return "", fmt.Errorf("%s %s (service manager %s): %w", name, action, System(), err)
		}
		if action == "uninstall" && System() == "unix-systemv" {
			removeRunlevelLinks("/etc", name)
		}
		return fmt.Sprintf("%s: %s done (%s)", name, action, System()), nil
	}
	return "", fmt.Errorf("unknown service action %q; use one of install, uninstall, start, stop, restart, status", action)
}

// removeRunlevelLinks takes away the /etc/rcN.d links that kardianos'
// System V install makes (S50name, K02name) and its uninstall leaves
// behind, dangling, for init to trip over at every boot and shutdown.
// Only links to this service's script are removed.
func removeRunlevelLinks(etc, name string) {
	script := filepath.Join(etc, "init.d", name)
	for _, level := range "0123456" {
		for _, prefix := range []string{"S50", "K02"} {
			link := filepath.Join(etc, "rc"+string(level)+".d", prefix+name)
			if target, err := os.Readlink(link); err == nil && target == script {
				_ = os.Remove(link)
			}
		}
	}
}
