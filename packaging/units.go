package packaging

import (
	"embed"
	"fmt"
	"strings"
)

//go:embed systemd/*.service
var units embed.FS

// SystemdTemplate is the named unit as a kardianos/service template: the
// same file the packages install, with ExecStart rendered from the
// executable and arguments `service install` was given, so `--config`
// and friends are honoured.
func SystemdTemplate(name string) (string, error) {
	b, err := units.ReadFile("systemd/" + name + ".service")
	if err != nil {
		return "", fmt.Errorf("no unit for %s: %w", name, err)
	}
	var out []string
	found := false
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "ExecStart=") {
			line = "ExecStart={{Path | cmdEscape}}{{range Arguments}} {{. | cmd}}{{end}}"
			found = true
		}
		out = append(out, line)
	}
	if !found {
		return "", fmt.Errorf("unit %s has no ExecStart", name)
	}
	return strings.Join(out, "\n"), nil
}
