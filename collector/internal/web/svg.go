package web

import (
	"fmt"
	"html/template"
	"sort"
	"strings"
	"time"

	"github.com/annexa/annexa/collector/internal/controls"
)

// Charts are inline SVG written here with numbers and fixed words only;
// the one outside string (a framework title) is escaped. Colours come from
// classes in the stylesheet, since the CSP forbids inline styles, and every
// series also differs in its dash pattern and carries a text label.

// stackedBar draws the share of controls by status as one bar.
func stackedBar(title string, counts map[controls.Status]int, total int) template.HTML {
	const w, h = 600.0, 26.0
	var b strings.Builder
	var parts []string
	for _, st := range statusOrder {
		if counts[st] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[st], strings.ToLower(statusOf(st).Label)))
		}
	}
	fmt.Fprintf(&b, `<svg class="bar" viewBox="0 0 %.0f %.0f" preserveAspectRatio="none" role="img" aria-label="%s: %s">`,
		w, h, template.HTMLEscapeString(title), template.HTMLEscapeString(strings.Join(parts, ", ")))
	if total == 0 {
		fmt.Fprintf(&b, `<rect class="seg-empty" x="0" y="0" width="%.0f" height="%.0f"/></svg>`, w, h)
		return template.HTML(b.String())
	}
	x := 0.0
	for _, st := range statusOrder {
		n := counts[st]
		if n == 0 {
			continue
		}
		sw := w * float64(n) / float64(total)
		info := statusOf(st)
		fmt.Fprintf(&b, `<rect class="seg-%s" x="%.2f" y="0" width="%.2f" height="%.0f"><title>%s: %d</title></rect>`,
			info.Class, x, sw, h, info.Label, n)
		if sw >= 28 {
			fmt.Fprintf(&b, `<text class="seg-label" x="%.2f" y="17.5">%s %d</text>`, x+5, info.Icon, n)
		}
		x += sw
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// trendPoint is one recorded pass's counts for one framework.
type trendPoint struct {
	At     time.Time
	Counts map[string]int
}

// trendSeries are the statuses drawn in the trend chart.
var trendSeries = []controls.Status{controls.Noncompliant, controls.InsufficientEvidence, controls.Compliant}

// trendChart draws how many controls were in each judged status over time,
// from the recorded evaluations, carried to now. The y axis is scaled to
// the largest count so that a change of a few controls shows.
func trendChart(title string, points []trendPoint, now time.Time) template.HTML {
	const w, h, left, right, top, bottom = 600.0, 170.0, 34.0, 120.0, 10.0, 24.0
	pw, ph := w-left-right, h-top-bottom
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="trend" viewBox="0 0 %.0f %.0f" role="img" aria-label="%s: controls by status over time">`,
		w, h, template.HTMLEscapeString(title))
	ymax := 4
	for _, p := range points {
		for _, st := range trendSeries {
			ymax = max(ymax, p.Counts[string(st)])
		}
	}
	ymax = niceCeil(ymax)
	for _, v := range []int{0, ymax / 2, ymax} {
		y := top + ph*(1-float64(v)/float64(ymax))
		fmt.Fprintf(&b, `<line class="grid" x1="%.0f" y1="%.1f" x2="%.0f" y2="%.1f"/><text class="axis" x="%.0f" y="%.1f" text-anchor="end">%d</text>`,
			left, y, left+pw, y, left-6, y+4, v)
	}
	if len(points) == 0 {
		fmt.Fprintf(&b, `<text class="axis" x="%.0f" y="%.0f">no evaluation recorded yet</text></svg>`, left+10, top+ph/2)
		return template.HTML(b.String())
	}
	t0, t1 := points[0].At, now
	if !t1.After(t0) {
		t1 = t0.Add(time.Minute)
	}
	xOf := func(t time.Time) float64 {
		return left + pw*float64(t.Sub(t0))/float64(t1.Sub(t0))
	}
	fmt.Fprintf(&b, `<text class="axis" x="%.0f" y="%.0f">%s</text><text class="axis" x="%.0f" y="%.0f" text-anchor="end">%s</text>`,
		left, h-6, t0.UTC().Format("2006-01-02 15:04"), left+pw, h-6, t1.UTC().Format("2006-01-02 15:04 UTC"))
	type label struct {
		y    float64
		text string
		cls  string
	}
	var labels []label
	for _, st := range trendSeries {
		info := statusOf(st)
		var pts []string
		var lastY float64
		last := 0
		for i, p := range points {
			last = p.Counts[string(st)]
			lastY = top + ph*(1-float64(last)/float64(ymax))
			x := xOf(p.At)
			if i > 0 {
				// A step: the count held until the next evaluation.
				pts = append(pts, fmt.Sprintf("%.1f,%s", x, strings.Split(pts[len(pts)-1], ",")[1]))
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, lastY))
		}
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", left+pw, lastY))
		fmt.Fprintf(&b, `<polyline class="line-%s" points="%s"/>`, info.Class, strings.Join(pts, " "))
		fmt.Fprintf(&b, `<circle class="dot-%s" cx="%.1f" cy="%.1f" r="3"/>`, info.Class, left+pw, lastY)
		labels = append(labels, label{lastY, fmt.Sprintf("%s %d %s", info.Icon, last, strings.ToLower(shortLabel(st))), info.Class})
	}
	// Labels at the right end, pushed apart so equal counts stay legible.
	sort.Slice(labels, func(i, j int) bool { return labels[i].y < labels[j].y })
	for i := 1; i < len(labels); i++ {
		if labels[i].y < labels[i-1].y+13 {
			labels[i].y = labels[i-1].y + 13
		}
	}
	for _, l := range labels {
		fmt.Fprintf(&b, `<text class="legend-%s" x="%.0f" y="%.1f">%s</text>`, l.cls, left+pw+8, l.y+4, l.text)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// niceCeil rounds n up to 1, 2 or 5 times a power of ten, so the axis has
// round numbers.
func niceCeil(n int) int {
	for p := 1; ; p *= 10 {
		for _, m := range []int{1, 2, 5} {
			if m*p >= n && (m*p)%2 == 0 {
				return m * p
			}
		}
	}
}

func shortLabel(st controls.Status) string {
	if st == controls.InsufficientEvidence {
		return "insufficient"
	}
	return statusOf(st).Label
}
