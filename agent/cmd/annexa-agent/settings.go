package main

import (
	"context"
	"errors"
	"log/slog"
	"os"

	"github.com/annexa/annexa/agent/internal/config"
	"github.com/annexa/annexa/agent/internal/daemon"
	"github.com/annexa/annexa/agent/internal/pluginhost"
)

// pluginCheck is what one plugin said about its settings.
type pluginCheck struct {
	name string
	err  error // nil: it accepted them
}

// checkPlugins starts every enabled plugin the way the daemon does
// (pinned, AutoMTLS) and hands it its settings, so that a setting only the
// plugin knows to be wrong is found by `config check` and `doctor`, not at
// the first collection. Plugins get a scratch state folder: a check leaves
// nothing behind in state_dir. The error is about pins or the scratch
// folder; a plugin's own complaints are in its pluginCheck, located in the
// config file.
func checkPlugins(ctx context.Context, cfg *config.Config) ([]pluginCheck, error) {
	scratch, err := os.MkdirTemp("", "annexa-check-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(scratch)
	sups, pinErr := daemon.Supervisors(cfg, scratch, slog.New(slog.DiscardHandler))
	var out []pluginCheck
	for _, s := range sups {
		_, err := s.Start(ctx)
		s.Stop()
		out = append(out, pluginCheck{name: s.Name(), err: locateSettingErrors(cfg, err)})
	}
	return out, pinErr
}

// locateSettingErrors turns a plugin's field errors into config errors
// with the file and line of each setting.
func locateSettingErrors(cfg *config.Config, err error) error {
	var ce *pluginhost.ConfigError
	if !errors.As(err, &ce) {
		return err
	}
	var p config.Plugin
	for _, q := range cfg.Plugins {
		if q.Name == ce.Plugin {
			p = q
		}
	}
	var errs config.Errors
	for _, fe := range ce.Errors {
		field := "plugins." + ce.Plugin
		if fe.Field != "" {
			field += "." + fe.Field
		}
		errs = append(errs, &config.Error{File: cfg.Path, Line: p.SettingLine(fe.Field), Field: field, Msg: fe.Message})
	}
	return errs
}

// pluginSettings is doctor's view of checkPlugins: pin problems are
// reported by plugins() already, so only the plugins that ran are listed.
func (d *doctor) pluginSettings(ctx context.Context, cfg *config.Config) {
	checks, _ := checkPlugins(ctx, cfg)
	for _, c := range checks {
		var located config.Errors
		switch {
		case errors.As(c.err, &located):
			d.fail("settings", "plugin %s refuses its settings, so it collects nothing: %v", c.name, c.err)
			continue
		case c.err != nil:
			d.fail("settings", "plugin %s does not start, so its settings could not be checked: %v", c.name, c.err)
			continue
		}
		d.ok("settings", "plugin %s accepts its settings", c.name)
	}
}
