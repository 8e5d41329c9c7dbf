package access

import (
	"path/filepath"
	"regexp"
	"strings"
)

// maxGlobMatches bounds the logs one pattern may name.
const maxGlobMatches = 256

// isGlob says whether a configured log path is a pattern.
func isGlob(p string) bool { return strings.ContainsAny(p, "*?[") }

// rotatedName matches the names rotation gives old logs: auth.log.1,
// audit.log.4, syslog.2.gz, and dateext's auth.log-20250303,
// secure-2025030312, secure-2025-03-03 and secure-20250303-1741000000
// (the formats rotatedChain follows), compressed ones, and logrotate's
// renamecopy name (auth.log.tmp) while it copies one. They are read
// as the rotated copies of their live log, never as logs of their own,
// or their lines would be reported twice.
var rotatedName = regexp.MustCompile(`(\.[0-9]+|-[0-9]{8,10}(-[0-9]+)?|-[0-9]{4}-[0-9]{2}-[0-9]{2}(-[0-9]+)?|\.gz|\.xz|\.zst|\.bz2|\.old|\.tmp)$`)

// expand turns the configured paths into the logs to read now: literal
// paths as they are, patterns into the live logs they match (rotated
// names left out) plus the matching paths the checkpoint still follows,
// so a log renamed away is finished from where rotation put it. claimed
// drops a log already read under another entry.
func (p *Plugin) expand(configured []string, cp *checkpoint, claimed map[string]bool) []string {
	var out []string
	add := func(path string) {
		if !claimed[path] {
			claimed[path] = true
			out = append(out, path)
		}
	}
	for _, pattern := range configured {
		if !isGlob(pattern) {
			add(pattern)
			continue
		}
		matches, _ := filepath.Glob(pattern) // validated at Configure
		n := 0
		for _, m := range matches {
			if rotatedName.MatchString(m) {
				continue
			}
			if n++; n > maxGlobMatches {
				p.log.Warn("a log pattern matches too many files; the rest are not read", "pattern", pattern, "max", maxGlobMatches)
				break
			}
			add(m)
		}
		for path, st := range cp.Logs {
			if ok, _ := filepath.Match(pattern, path); ok && st.Tracking {
				add(path)
			}
		}
	}
	return out
}

// prune forgets the checkpoint state of logs no configured path or
// pattern names any more, and of pattern matches that are gone and
// finished, so the checkpoint does not grow with every log a pattern
// ever matched.
func (p *Plugin) prune(cp *checkpoint, read map[string]bool) {
	for path, st := range cp.Logs {
		if read[path] || path == journalKey || path == p.set.JournalDirectory {
			continue
		}
		if st.Tracking && p.matchesAny(path) {
			continue
		}
		delete(cp.Logs, path)
	}
}

func (p *Plugin) matchesAny(path string) bool {
	for _, pattern := range append(append([]string(nil), p.set.AuthLogs...), p.set.AuditLogs...) {
		if ok, _ := filepath.Match(pattern, path); ok {
			return true
		}
	}
	return false
}
