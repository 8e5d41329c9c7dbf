package report

import (
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/annexa/annexa/collector/internal/controls"
	"github.com/annexa/annexa/collector/internal/lineage"
)

// The html format is one self-contained page for e-mail and print: inline
// CSS, no script, no external resource, and a Content-Security-Policy that
// forbids both, so the file is safe to open from a mail client. Everything
// from the evidence goes through html/template's escaping.
func init() {
	RegisterFormat("html", writeHTML)
}

//go:embed templates/report.html.tmpl
var templateFS embed.FS

// statusShape gives each status a symbol and a word, so that the status
// reads without colour (colour-blind readers, black-and-white print).
var statusShape = map[controls.Status]struct{ Symbol, Label, Class string }{
	controls.Compliant:            {"✔", "compliant", "ok"},
	controls.Noncompliant:         {"✖", "noncompliant", "bad"},
	controls.InsufficientEvidence: {"?", "insufficient evidence", "unknown"},
	controls.Manual:               {"✎", "manual", "manual"},
	controls.NotApplicable:        {"–", "not applicable", "na"},
}

// The page is for e-mail and print: on a large fleet it names the first
// failing subjects of a check and the assets that fail something, and
// says how many more there are; the JSON report and the bundle have all.
const (
	maxHTMLFailing = 25
	maxHTMLAssets  = 500
)

// assetFields are the attributes shown for an asset, in this order.
var assetFields = []string{"format", "size_bytes", "parameters", "architecture", "license", "classification", "pii",
	"file_count", "world_readable", "unsafe", "findings", "owner", "mode", "hash_status"}

var htmlTemplate = template.Must(template.New("report.html.tmpl").Funcs(template.FuncMap{
	"symbol": func(s controls.Status) string { return statusShape[s].Symbol },
	"label": func(s controls.Status) string {
		if l := statusShape[s].Label; l != "" {
			return l
		}
		return string(s)
	},
	"class": func(s controls.Status) string { return statusShape[s].Class },
	"pct":   func(f float64) string { return fmt.Sprintf("%.0f%%", 100*f) },
	"time":  func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") },
	"iso":   func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"ago": func(now time.Time, t *time.Time) string {
		if t == nil {
			return "never"
		}
		return humanAge(now.Sub(*t)) + " before the report"
	},
	"agoT": func(now, t time.Time) string { return humanAge(now.Sub(t)) },
	"val": func(v any) string {
		if s, ok := v.(string); ok && s != "" {
			return s
		}
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Sprint(v)
		}
		return string(b)
	},
	"attrs": assetAttrList,
	"first": func(fs []controls.Subject) []controls.Subject { return fs[:min(len(fs), maxHTMLFailing)] },
	"more":  func(fs []controls.Subject) int { return max(0, len(fs)-maxHTMLFailing) },
	"sub":   func(a, b int) int { return a - b },
	"join":  strings.Join,
}).ParseFS(templateFS, "templates/report.html.tmpl"))

func humanAge(d time.Duration) string {
	switch {
	case d < 0:
		return "in the future"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	default:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	}
}

// attention lists the controls a reader must act on, worst first, in
// catalog order within a status.
func attention(cs []controls.Result) []controls.Result {
	var out []controls.Result
	for _, s := range []controls.Status{controls.Noncompliant, controls.InsufficientEvidence} {
		for _, c := range cs {
			if c.Status == s {
				out = append(out, c)
			}
		}
	}
	return out
}

type attrKV struct{ Key, Value string }

// assetAttrList picks the attributes a reader needs from an asset record.
func assetAttrList(raw json.RawMessage) []attrKV {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return []attrKV{{"attributes", "not a JSON object"}}
	}
	var out []attrKV
	for _, k := range assetFields {
		v, ok := m[k]
		if !ok || string(v) == "null" || string(v) == `""` || string(v) == "[]" || string(v) == "{}" {
			continue
		}
		s := string(v)
		var str string
		if json.Unmarshal(v, &str) == nil {
			s = str
		}
		if k == "findings" {
			var fs []struct{ Rule, Severity string }
			if json.Unmarshal(v, &fs) == nil {
				var parts []string
				for _, f := range fs {
					parts = append(parts, f.Severity+" "+f.Rule)
				}
				s = strings.Join(parts, "; ")
			}
		}
		out = append(out, attrKV{k, s})
	}
	if v, ok := m["sha256"]; ok {
		var s string
		if json.Unmarshal(v, &s) == nil && s != "" {
			out = append(out, attrKV{"sha256", s})
		}
	}
	return out
}

type htmlView struct {
	*Report
	Attention []controls.Result
	Kinds     []string
	// ShownAssets are the assets listed: all of them on a small fleet,
	// else up to maxHTMLAssets, those that fail a check first.
	ShownAssets []Asset
	// TrainedOnPD are the models known to be trained on personal data;
	// PDUnknown counts the models naming datasets for which it is not
	// known.
	TrainedOnPD []*lineage.Model
	PDUnknown   int
}

func writeHTML(w io.Writer, r *Report) error {
	v := htmlView{Report: r, Attention: attention(r.Controls), ShownAssets: r.Assets}
	if len(r.Assets) > maxHTMLAssets {
		fails := failingChecks(r)
		v.ShownAssets = nil
		for _, failing := range []bool{true, false} {
			for _, a := range r.Assets {
				if len(v.ShownAssets) < maxHTMLAssets && (len(fails[[2]string{a.AgentID, a.Subject}]) > 0) == failing {
					v.ShownAssets = append(v.ShownAssets, a)
				}
			}
		}
	}
	if r.Lineage != nil {
		v.TrainedOnPD = r.Lineage.TrainedOnPersonalData()
		for _, m := range r.Lineage.Models {
			if m.TrainedOnPersonalData == nil {
				v.PDUnknown++
			}
		}
	}
	for k := range r.EvidenceCounts {
		v.Kinds = append(v.Kinds, k)
	}
	slices.Sort(v.Kinds)
	return htmlTemplate.Execute(w, v)
}
