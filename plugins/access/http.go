package access

import (
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"time"
)

// HTTP log formats.
const (
	FormatCombined = "combined"
	FormatCommon   = "common"
	FormatJSON     = "json"
)

// ParseHTTPLog reads an HTTP access log in the given format to its end and
// calls fn for each refused request (401 and 403).
func ParseHTTPLog(r io.Reader, format string, opt ParseOptions, fn func(Event) error) (Stats, error) {
	return scanAll(r, opt.MaxLineBytes, httpParser(format), fn)
}

func httpParser(format string) func([]byte) (Event, lineResult) {
	if format == FormatJSON {
		return parseHTTPJSON
	}
	return parseHTTPCLF
}

// parseHTTPCLF reads the common and combined formats:
// 127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /a.gif HTTP/1.0" 401 2326 "ref" "agent"
func parseHTTPCLF(b []byte) (Event, lineResult) {
	line := string(b)
	remote, rest, ok := strings.Cut(line, " ")
	if !ok {
		return Event{}, lineMalformed
	}
	_, rest, ok = strings.Cut(rest, " ") // identd
	if !ok {
		return Event{}, lineMalformed
	}
	user, rest, ok := strings.Cut(rest, " [")
	if !ok {
		return Event{}, lineMalformed
	}
	stamp, rest, ok := strings.Cut(rest, "] \"")
	if !ok {
		return Event{}, lineMalformed
	}
	// The request line ends at the first quote not escaped by a backslash.
	end := -1
	for i := 0; i < len(rest); i++ {
		if rest[i] == '\\' {
			i++
			continue
		}
		if rest[i] == '"' {
			end = i
			break
		}
	}
	if end < 0 || len(rest) < end+5 || rest[end+1] != ' ' {
		return Event{}, lineMalformed
	}
	request := rest[:end]
	status, err := strconv.Atoi(rest[end+2 : end+5])
	if err != nil {
		return Event{}, lineMalformed
	}
	t, err := time.Parse("02/Jan/2006:15:04:05 -0700", stamp)
	if err != nil {
		return Event{}, lineMalformed
	}
	if !saneTime(t) {
		return Event{}, lineMalformed
	}
	if status != 401 && status != 403 {
		return Event{}, lineSkipped
	}
	method, path := splitRequest(request)
	return httpEvent(remote, user, method, path, status, t, line), lineEvent
}

func splitRequest(req string) (method, path string) {
	method, rest, _ := strings.Cut(req, " ")
	path, _, _ = strings.Cut(rest, " ")
	return method, path
}

func httpEvent(remote, user, method, path string, status int, t time.Time, line string) Event {
	if user == "-" {
		user = ""
	}
	action := ActionHTTPUnauthorized
	if status == 403 {
		action = ActionHTTPForbidden
	}
	return Event{
		Source: SourceHTTP, Actor: user, Action: action, Object: path, Result: ResultFailure,
		Remote: remote, At: t.UTC().Format(time.RFC3339), Time: t, Status: status, HTTPMethod: method,
		Line: clip(line, maxRawLine),
	}
}

// parseHTTPJSON reads one JSON object per line, with the field names of
// nginx/caddy/uvicorn-style JSON logs (first match wins).
func parseHTTPJSON(b []byte) (Event, lineResult) {
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return Event{}, lineMalformed
	}
	status := 0
	switch v := first(m, "status", "status_code", "code").(type) {
	case float64:
		status = int(v)
	case string:
		status, _ = strconv.Atoi(v)
	}
	if status == 0 {
		return Event{}, lineMalformed
	}
	var t time.Time
	switch v := first(m, "time", "timestamp", "ts", "time_iso8601", "time_local", "@timestamp").(type) {
	case string:
		var err error
		if t, err = time.Parse(time.RFC3339Nano, v); err != nil {
			if t, err = time.Parse("02/Jan/2006:15:04:05 -0700", v); err != nil {
				return Event{}, lineMalformed
			}
		}
	case float64:
		if v < 0 || v > 253402300799 { // 9999-12-31
			return Event{}, lineMalformed
		}
		sec := int64(v)
		t = time.Unix(sec, int64((v-float64(sec))*1e9)).UTC()
	default:
		return Event{}, lineMalformed
	}
	if !saneTime(t) {
		return Event{}, lineMalformed
	}
	if status != 401 && status != 403 {
		return Event{}, lineSkipped
	}
	remote := str(first(m, "remote_addr", "remote_ip", "client_ip", "client", "remote", "ip"))
	user := str(first(m, "remote_user", "user", "username"))
	method := str(first(m, "method", "request_method"))
	path := str(first(m, "request_uri", "uri", "path", "url"))
	if path == "" {
		if req := str(m["request"]); req != "" {
			method, path = splitRequest(req)
		}
	}
	return httpEvent(remote, user, method, path, status, t, string(b)), lineEvent
}

func first(m map[string]any, keys ...string) any {
	for _, k := range keys {
		if v, ok := m[k]; ok && v != nil {
			return v
		}
	}
	return nil
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
