package main

import (
	"strconv"
	"strings"
)

// parseVersion reads v1.2.3 (or 1.2, with any -pre or +build suffix
// ignored) as three numbers; ok is false for what is not a release
// version, such as a development build's commit hash. A bare number
// without the v is not a version: a short commit hash can be all digits.
func parseVersion(v string) (n [3]int, ok bool) {
	v = strings.TrimSpace(v)
	prefixed := strings.HasPrefix(v, "v")
	v = strings.TrimPrefix(v, "v")
	if i := strings.IndexAny(v, "-+~"); i >= 0 {
		v = v[:i]
	}
	if !prefixed && !strings.Contains(v, ".") {
		return n, false
	}
	parts := strings.Split(v, ".")
	if len(parts) == 0 || len(parts) > 3 {
		return n, false
	}
	for i, p := range parts {
		x, err := strconv.Atoi(p)
		if err != nil || x < 0 {
			return n, false
		}
		n[i] = x
	}
	return n, true
}

// versionStatus says how an agent's version compares with the minimum.
func versionStatus(agent, minimum string) string {
	want, ok := parseVersion(minimum)
	if !ok || minimum == "" {
		return ""
	}
	got, ok := parseVersion(agent)
	if !ok {
		return "unknown version"
	}
	for i := range got {
		if got[i] != want[i] {
			if got[i] < want[i] {
				return "below minimum"
			}
			return "ok"
		}
	}
	return "ok"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
