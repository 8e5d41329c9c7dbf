package access

import (
	"encoding/json"
	"io"
	"net/url"
	"path"
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
	parse := httpParser(format)
	return scanAll(r, opt.MaxLineBytes, func(b []byte) (Event, lineResult) {
		ev, res := parse(b)
		if res == lineEvent && ev.Action == ActionHTTPRequest {
			return Event{}, lineSkipped
		}
		return ev, res
	}, fn)
}

// httpAssetPath maps a request path to a file under an asset folder by
// the longest matching URL prefix; "" when none matches or the path
// would leave the folder ("..").
func httpAssetPath(assets map[string]string, reqPath string) string {
	p, _, _ := strings.Cut(reqPath, "?")
	if u, err := url.PathUnescape(p); err == nil {
		p = u
	}
	best := ""
	for prefix := range assets {
		if strings.HasPrefix(p, prefix) && len(prefix) > len(best) {
			best = prefix
		}
	}
	if best == "" {
		return ""
	}
	dir := assets[best]
	fsPath := path.Clean(dir + "/" + strings.TrimPrefix(p, best))
	if !under(fsPath, dir) {
		return ""
	}
	return fsPath
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
	// Other statuses are kept only for a request to an asset (see read).
	action, result := ActionHTTPRequest, ResultSuccess
	switch {
	case status == 401:
		action, result = ActionHTTPUnauthorized, ResultFailure
	case status == 403:
		action, result = ActionHTTPForbidden, ResultFailure
	case status >= 400:
		result = ResultFailure
	}
	return Event{
		Source: SourceHTTP, Actor: user, Action: action, Object: path, Result: result,
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
