package main

import (
	"io"
	"log/slog"
	"os"
)

// logTo writes text for a person at a terminal and JSON lines for
// journald, files and log shippers everywhere else.
func logTo(w io.Writer, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			return slog.New(slog.NewTextHandler(w, opts))
		}
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
