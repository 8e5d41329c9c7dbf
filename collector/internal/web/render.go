package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/annexa/annexa/collector/internal/controls"
)

// layout is the data every page template gets.
type layout struct {
	Title string
	Nav   string
	User  *principal
	// EvaluatedAt and Age say how current the numbers on the page are.
	EvaluatedAt time.Time
	Age         string
	Freshness   string
	Now         time.Time
	// Path is the page's own URL, for forms that come back to it.
	Path string
	Page any
}

// statusInfo is how a status is shown: colour (class), a shape that does
// not depend on colour, and words.
type statusInfo struct {
	Class, Icon, Label string
}

var statuses = map[controls.Status]statusInfo{
	controls.Compliant:            {"ok", "✓", "Compliant"},
	controls.Noncompliant:         {"fail", "✗", "Noncompliant"},
	controls.InsufficientEvidence: {"insufficient", "?", "Insufficient evidence"},
	controls.Manual:               {"manual", "✎", "Manual (needs attestation)"},
	controls.NotApplicable:        {"na", "–", "Not applicable"},
}

// statusOrder is the order statuses are listed and stacked in.
var statusOrder = []controls.Status{controls.Noncompliant, controls.InsufficientEvidence, controls.Manual, controls.Compliant, controls.NotApplicable}

func statusOf(s any) statusInfo {
	var st controls.Status
	switch v := s.(type) {
	case controls.Status:
		st = v
	case string:
		st = controls.Status(v)
	}
	if i, ok := statuses[st]; ok {
		return i
	}
	return statusInfo{"unknown", "·", string(st)}
}

var funcs = template.FuncMap{
	"status": statusOf,
	"when":   func(t time.Time) string { return fmtTime(t) },
	"whenp": func(t *time.Time) string {
		if t == nil {
			return "never"
		}
		return fmtTime(*t)
	},
	"iso":        func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"pct":        percent,
	"pctf":       func(f float64) string { return fmt.Sprintf("%.0f%%", 100*f) },
	"controlURL": controlURL,
	"hostURL":    func(agent string) string { return "/hosts/" + url.PathEscape(agent) },
	"assetURL":   assetURL,
	"isAsset":    func(kind string) bool { return kind == "dataset" || kind == "model" },
	"value":      showValue,
	"join":       strings.Join,
	"hasPrefix":  strings.HasPrefix,
	"plural": func(n int, one, many string) string {
		if n == 1 {
			return "1 " + one
		}
		return fmt.Sprintf("%d %s", n, many)
	},
	"findingsOf": func(rows []finding, subject bool) findingsTable {
		return findingsTable{Rows: rows, Subject: subject}
	},
	"query": query,
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// fmtDuration writes whole hours and minutes as people do (24 h, 90 min).
func fmtDuration(d time.Duration) string {
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return fmt.Sprintf("%d h", d/time.Hour)
	case d >= time.Minute && d%time.Minute == 0:
		return fmt.Sprintf("%d min", d/time.Minute)
	}
	return d.String()
}

// age says how long ago t was, in one unit.
func age(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return "in the future"
	case d < time.Minute:
		return fmt.Sprintf("%d s ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d.Hours()))
	}
	return fmt.Sprintf("%d days ago", int(d.Hours()/24))
}

func controlURL(controlID string) string {
	fw, id, _ := strings.Cut(controlID, "/")
	return "/controls/" + url.PathEscape(fw) + "/" + url.PathEscape(id)
}

func assetURL(agent, kind, subject string) string {
	return "/asset?" + url.Values{"agent": {agent}, "kind": {kind}, "subject": {subject}}.Encode()
}

// query builds a URL from a path and key/value pairs, skipping empty values.
func query(p string, kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			v.Set(kv[i], kv[i+1])
		}
	}
	if len(v) == 0 {
		return p
	}
	return p + "?" + v.Encode()
}

// showValue renders an attribute value as text: scalars as they are,
// anything else as compact JSON. html/template escapes the result.
func showValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "—"
	case string:
		return x
	case bool:
		if x {
			return "yes"
		}
		return "no"
	case float64:
		if x == float64(int64(x)) {
			return fmt.Sprintf("%d", int64(x))
		}
		return fmt.Sprintf("%g", x)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = showValue(e)
		}
		return strings.Join(parts, "; ")
	case map[string]any:
		parts := make([]string, 0, len(x))
		for _, a := range sortedAttrs(x) {
			parts = append(parts, a.Key+": "+showValue(a.Value))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// findingsTable is a list of findings and whether to show their subject
// (not on the subject's own page).
type findingsTable struct {
	Rows    []finding
	Subject bool
}

// attr is one attribute, for tables.
type attr struct {
	Key   string
	Value any
}

func sortedAttrs(m map[string]any) []attr {
	out := make([]attr, 0, len(m))
	for k, v := range m {
		out = append(out, attr{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func parseTemplates() (map[string]*template.Template, error) {
	base, err := template.New("base").Funcs(funcs).ParseFS(templateFS, "templates/base.html", "templates/partials.html")
	if err != nil {
		return nil, fmt.Errorf("web templates: %w", err)
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		name := strings.TrimSuffix(path.Base(n), ".html")
		if name == "base" || name == "partials" {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(templateFS, n)
		if err != nil {
			return nil, fmt.Errorf("web template %s: %w", n, err)
		}
		pages[name] = t
	}
	return pages, nil
}

// render executes a page into a buffer first, so a template error becomes
// an error page instead of half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, ev *evaluation, d any) {
	t := s.pages[name]
	now := s.opts.Now()
	l := layout{Nav: name, Page: d, Now: now, Freshness: fmtDuration(s.opts.Freshness), Path: r.URL.RequestURI()}
	if p, ok := r.Context().Value(principalKey{}).(*principal); ok {
		l.User = p
	}
	if ev != nil {
		l.EvaluatedAt, l.Age = ev.at, age(now, ev.at)
	}
	if tp, ok := d.(interface{ title() string }); ok {
		l.Title = tp.title()
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "base", l); err != nil {
		s.log.Error("render page", "page", name, "err", err)
		http.Error(w, "the collector failed to render this page; its log has the details", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

type principalKey struct{}

type errorData struct {
	Status  int
	Message string
}

func (d errorData) title() string { return http.StatusText(d.Status) }

func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, status int, msg string) {
	s.render(w, r, status, "error", nil, errorData{Status: status, Message: msg})
}
