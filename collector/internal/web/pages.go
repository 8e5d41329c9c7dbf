package web

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/annexa/annexa/collector/internal/controls"
	"github.com/annexa/annexa/collector/internal/lineage"
	"github.com/annexa/annexa/collector/internal/report"
	"github.com/annexa/annexa/collector/internal/store"
)

// Limits on what one page lists; the rest is a click away.
const (
	topFailingShown   = 10
	notReportingShown = 20
	pageSize          = 100
	timelineShown     = 50
	historyShown      = 30
	// trendPasses bounds the recorded passes one chart draws.
	trendPasses = 2000
)

// --- overview ---

type overviewData struct {
	Summary           report.Summary
	Frameworks        []frameworkView
	TopFailing        []failingCheck
	TopFailingTotal   int
	NotReporting      []*report.Host
	NotReportingTotal int
	Hosts, Assets     int
	TrendSince        time.Time
	TrendPoints       int
	// Training counts models by what lineage says of their training data.
	Training map[string]int
}

func (overviewData) title() string { return "Overview" }

type frameworkView struct {
	report.Framework
	Bar    template.HTML
	Trend  template.HTML
	Legend []legendItem
}

type legendItem struct {
	Status controls.Status
	N      int
	Pct    string
	URL    string
}

func (s *Server) handleOverview(w http.ResponseWriter, r *http.Request, p *principal) error {
	ev, err := s.eval.get(r.Context())
	if err != nil {
		return err
	}
	since := ev.at.Add(-90 * 24 * time.Hour)
	passes, err := s.store.EvaluationTrend(r.Context(), since, trendPasses)
	if err != nil {
		return err
	}
	d := overviewData{Summary: ev.rep.Summary, Hosts: ev.rep.ActiveHosts(), Assets: len(ev.rep.Assets),
		NotReportingTotal: len(ev.notReporting), TopFailingTotal: len(ev.topFailing), Training: ev.training}
	byFW := map[string][]trendPoint{}
	for _, p := range passes {
		for fw, counts := range p.Counts {
			byFW[fw] = append(byFW[fw], trendPoint{At: p.At, Counts: counts})
		}
	}
	if len(passes) > 0 {
		d.TrendSince, d.TrendPoints = passes[0].At, len(passes)
	}
	for _, f := range ev.rep.Frameworks {
		fv := frameworkView{Framework: f}
		counts := countsOf(f.Summary)
		for _, st := range statusOrder {
			fv.Legend = append(fv.Legend, legendItem{Status: st, N: counts[st], Pct: percent(counts[st], f.Total), URL: query("/controls", "framework", f.ID, "status", string(st))})
		}
		fv.Bar = stackedBar(f.Title, counts, f.Total)
		fv.Trend = trendChart(f.Title, byFW[f.ID], ev.at)
		d.Frameworks = append(d.Frameworks, fv)
	}
	d.TopFailing = ev.topFailing[:min(len(ev.topFailing), topFailingShown)]
	d.NotReporting = ev.notReporting[:min(len(ev.notReporting), notReportingShown)]
	s.render(w, r, http.StatusOK, "overview", ev, d)
	return nil
}

func percent(n, total int) string {
	if total == 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f%%", 100*float64(n)/float64(total))
}

func countsOf(s report.Summary) map[controls.Status]int {
	return map[controls.Status]int{
		controls.Compliant: s.Compliant, controls.Noncompliant: s.Noncompliant,
		controls.InsufficientEvidence: s.InsufficientEvidence, controls.Manual: s.Manual, controls.NotApplicable: s.NotApplicable,
	}
}

// --- control list ---

type controlsData struct {
	Framework, Theme, Status, Q string
	Frameworks                  []report.Framework
	Themes                      []string
	Statuses                    []controls.Status
	Rows                        []*controls.Result
	Total                       int
}

func (controlsData) title() string { return "Controls" }

func (s *Server) handleControls(w http.ResponseWriter, r *http.Request, p *principal) error {
	ev, err := s.eval.get(r.Context())
	if err != nil {
		return err
	}
	q := r.URL.Query()
	d := controlsData{Framework: q.Get("framework"), Theme: q.Get("theme"), Status: q.Get("status"), Q: strings.TrimSpace(q.Get("q")),
		Frameworks: ev.rep.Frameworks, Themes: ev.themes, Statuses: statusOrder, Total: len(ev.rep.Controls)}
	for i := range ev.rep.Controls {
		c := &ev.rep.Controls[i]
		if d.Framework != "" && c.Framework != d.Framework || d.Theme != "" && c.Theme != d.Theme || d.Status != "" && string(c.Status) != d.Status {
			continue
		}
		if !matches(d.Q, c.ControlID, c.Title, c.Description, c.Theme) {
			continue
		}
		d.Rows = append(d.Rows, c)
	}
	s.render(w, r, http.StatusOK, "controls", ev, d)
	return nil
}

// --- control detail ---

type controlData struct {
	C              *controls.Result
	Checks         []checkView
	FrameworkTitle string
	History        []store.StatusChange
	Evidence       []evidenceRow
	EvidenceTotal  int
	Now            time.Time
	SoA            soaSection
}

func (d controlData) title() string { return d.C.ControlID + " " + d.C.Title }

// checkView is a check with the part of its subject list the page shows:
// a fleet can fail one check on thousands of subjects.
type checkView struct {
	*controls.CheckResult
	Shown []controls.Subject
	// All links to the check's whole list, page by page, when Shown is
	// only its start.
	All   string
	Pager pager
}

// failingShown is how many subjects of each check the control page lists
// unless one check's full list is asked for.
const failingShown = 20

type evidenceRow struct {
	controls.Evidence
	Plugin string
	Age    string
}

func (s *Server) handleControl(w http.ResponseWriter, r *http.Request, p *principal) error {
	return s.renderControl(w, r, http.StatusOK, r.PathValue("framework")+"/"+r.PathValue("id"), nil, nil)
}

// renderControl shows control key; soa and soaErr are a refused
// applicability form to show again (nil for the form as recorded).
func (s *Server) renderControl(w http.ResponseWriter, r *http.Request, status int, key string, soa *soaForm, soaErr error) error {
	ev, err := s.eval.get(r.Context())
	if err != nil {
		return err
	}
	c := ev.controls[key]
	if c == nil {
		return store.Errorf(store.ENOTFOUND, "There is no control %s in the loaded catalogs; the control list has them all.", key)
	}
	d := controlData{C: c, Now: ev.at, EvidenceTotal: len(c.Evidence)}
	want := r.URL.Query().Get("check")
	for i := range c.Checks {
		ch := &c.Checks[i]
		cv := checkView{CheckResult: ch}
		if ch.ID == want {
			cv.Pager, cv.Shown = pageOf(r, ch.Failing)
		} else {
			cv.Shown = ch.Failing[:min(len(ch.Failing), failingShown)]
			if len(ch.Failing) > failingShown {
				cv.All = query(r.URL.Path, "check", ch.ID) + "#check-" + ch.ID
			}
		}
		d.Checks = append(d.Checks, cv)
	}
	for _, f := range ev.rep.Frameworks {
		if f.ID == c.Framework {
			d.FrameworkTitle = f.Title
		}
	}
	hist, err := s.store.ControlHistory(r.Context(), key)
	if err != nil {
		return err
	}
	// Newest first, as a reader looks for the latest change.
	for i := len(hist) - 1; i >= 0 && len(d.History) < historyShown; i-- {
		d.History = append(d.History, hist[i])
	}
	evs := slices.Clone(c.Evidence)
	slices.SortFunc(evs, func(a, b controls.Evidence) int {
		return cmp.Or(b.ObservedAt.Compare(a.ObservedAt), cmp.Compare(a.Host, b.Host), cmp.Compare(a.Subject, b.Subject))
	})
	for _, e := range evs[:min(len(evs), pageSize)] {
		row := evidenceRow{Evidence: e, Age: age(ev.at, e.ObservedAt)}
		if cur := ev.current[recordKey{e.AgentID, e.Kind, e.Subject}]; cur != nil {
			row.Plugin = cur.Plugin
		}
		d.Evidence = append(d.Evidence, row)
	}
	d.SoA = soaSectionOf(ev, key, soa, soaErr)
	s.render(w, r, status, "control", ev, d)
	return nil
}

// --- hosts ---

type hostsData struct {
	Q, Reporting string
	Rows         []hostRow
	Total        int
	Pager        pager
}

func (hostsData) title() string { return "Hosts" }

type hostRow struct {
	*report.Host
	Reporting bool
	Age       string
	Assets    int
	Findings  int
}

func (s *Server) hostRow(ev *evaluation, h *report.Host) hostRow {
	row := hostRow{Host: h, Reporting: h.LastSeenAt != nil && ev.at.Sub(*h.LastSeenAt) <= s.opts.Freshness, Findings: len(ev.findingsByAgent[h.AgentID])}
	if h.LastSeenAt != nil {
		row.Age = age(ev.at, *h.LastSeenAt)
	}
	for _, c := range ev.byAgent[h.AgentID] {
		if c.Kind == "dataset" || c.Kind == "model" {
			row.Assets++
		}
	}
	return row
}

func (s *Server) handleHosts(w http.ResponseWriter, r *http.Request, p *principal) error {
	ev, err := s.eval.get(r.Context())
	if err != nil {
		return err
	}
	q := r.URL.Query()
	d := hostsData{Q: strings.TrimSpace(q.Get("q")), Reporting: q.Get("reporting"), Total: len(ev.rep.Hosts)}
	var match []*report.Host
	for i := range ev.rep.Hosts {
		h := &ev.rep.Hosts[i]
		reporting := h.LastSeenAt != nil && ev.at.Sub(*h.LastSeenAt) <= s.opts.Freshness
		if d.Reporting == "no" && (reporting || h.RevokedAt != nil) || d.Reporting == "yes" && !reporting {
			continue
		}
		if !matches(d.Q, h.Host, h.AgentID) {
			continue
		}
		match = append(match, h)
	}
	slices.SortFunc(match, func(a, b *report.Host) int {
		return cmp.Or(cmp.Compare(a.Host, b.Host), cmp.Compare(a.AgentID, b.AgentID))
	})
	var shown []*report.Host
	d.Pager, shown = pageOf(r, match)
	for _, h := range shown {
		d.Rows = append(d.Rows, s.hostRow(ev, h))
	}
	s.render(w, r, http.StatusOK, "hosts", ev, d)
	return nil
}

type hostData struct {
	H        hostRow
	Plugins  []pluginRow
	Assets   []*store.Current
	Findings []finding
	Kinds    []kindCount
}

func (d hostData) title() string { return "Host " + d.H.Host.Host }

type pluginRow struct {
	Name, State, Error string
	HealthAt, ScanAt   time.Time
	ScanAge            string
	Healthy            bool
}

type kindCount struct {
	Kind string
	N    int
}

func (s *Server) handleHost(w http.ResponseWriter, r *http.Request, p *principal) error {
	ev, err := s.eval.get(r.Context())
	if err != nil {
		return err
	}
	h := ev.hosts[r.PathValue("agent")]
	if h == nil {
		return store.Errorf(store.ENOTFOUND, "No agent %s is enrolled; the host list has every enrolled agent.", r.PathValue("agent"))
	}
	d := hostData{H: s.hostRow(ev, h), Findings: ev.findingsByAgent[h.AgentID]}
	plugins := map[string]*pluginRow{}
	get := func(name string) *pluginRow {
		if plugins[name] == nil {
			plugins[name] = &pluginRow{Name: name}
		}
		return plugins[name]
	}
	if h.Status != nil {
		for _, ps := range h.Status.Plugins {
			pr := get(ps.Name)
			pr.State, pr.Error = ps.State, ps.Error
		}
	}
	kinds := map[string]int{}
	for _, c := range ev.byAgent[h.AgentID] {
		kinds[c.Kind]++
		var a struct {
			Plugin string `json:"plugin"`
			State  string `json:"state"`
			Error  string `json:"error"`
		}
		switch c.Kind {
		case "dataset", "model":
			d.Assets = append(d.Assets, c)
		case "plugin.health":
			if json.Unmarshal(c.Attributes, &a) == nil {
				name := cmp.Or(a.Plugin, strings.TrimPrefix(c.Subject, "plugin:"))
				pr := get(name)
				if c.ObservedAt.After(pr.HealthAt) {
					pr.HealthAt, pr.State, pr.Error = c.ObservedAt, a.State, a.Error
				}
			}
		case "scan.complete":
			if json.Unmarshal(c.Attributes, &a) == nil && a.Plugin != "" {
				pr := get(a.Plugin)
				if c.ObservedAt.After(pr.ScanAt) {
					pr.ScanAt = c.ObservedAt
				}
			}
		}
	}
	for _, pr := range plugins {
		pr.Healthy = pr.State == "ok"
		if !pr.ScanAt.IsZero() {
			pr.ScanAge = age(ev.at, pr.ScanAt)
		}
		d.Plugins = append(d.Plugins, *pr)
	}
	slices.SortFunc(d.Plugins, func(a, b pluginRow) int { return cmp.Compare(a.Name, b.Name) })
	for k, n := range kinds {
		d.Kinds = append(d.Kinds, kindCount{k, n})
	}
	slices.SortFunc(d.Kinds, func(a, b kindCount) int { return cmp.Compare(a.Kind, b.Kind) })
	s.render(w, r, http.StatusOK, "host", ev, d)
	return nil
}

// --- assets ---

type assetsData struct {
	Kind, Q string
	// Trained filters models by what lineage says of their training
	// data: personal, unknown, none (known free of personal data) or
	// undocumented (the model names no dataset).
	Trained string
	Rows    []assetRow
	Total   int
	Pager   pager
}

// trainedFilters are the values of the assets page's training data filter.
var trainedFilters = map[string]bool{"": true, "personal": true, "unknown": true, "none": true, "undocumented": true}

// trainedOf says what lineage knows of a model's training data, as the
// filter names it.
func trainedOf(m *lineage.Model) string {
	switch {
	case m == nil:
		return "undocumented"
	case m.TrainedOnPersonalData == nil:
		return "unknown"
	case *m.TrainedOnPersonalData:
		return "personal"
	}
	return "none"
}

func (assetsData) title() string { return "Assets" }

type assetRow struct {
	*report.Asset
	Findings int
	// Training is a model's training data badge; UsedBy counts the models
	// trained on a dataset.
	Training badge
	UsedBy   int
}

func (s *Server) handleAssets(w http.ResponseWriter, r *http.Request, p *principal) error {
	ev, err := s.eval.get(r.Context())
	if err != nil {
		return err
	}
	q := r.URL.Query()
	d := assetsData{Kind: q.Get("kind"), Q: strings.TrimSpace(q.Get("q")), Trained: q.Get("trained"), Total: len(ev.rep.Assets)}
	if !trainedFilters[d.Trained] {
		return store.Errorf(store.EINVALID, "trained=%q is not a training data filter; use personal, unknown, none or undocumented", d.Trained)
	}
	g := ev.rep.Lineage
	if g == nil {
		g = &lineage.Graph{}
	}
	var match []*report.Asset
	for i := range ev.rep.Assets {
		a := &ev.rep.Assets[i]
		if d.Kind != "" && a.Kind != d.Kind {
			continue
		}
		if d.Trained != "" && (a.Kind != "model" || trainedOf(g.Model(a.AgentID, a.Subject)) != d.Trained) {
			continue
		}
		if !matches(d.Q, a.Subject, a.Host) {
			continue
		}
		match = append(match, a)
	}
	var shown []*report.Asset
	d.Pager, shown = pageOf(r, match)
	for _, a := range shown {
		row := assetRow{Asset: a, Findings: len(ev.findingsBySubject[recordKey{a.AgentID, a.Kind, a.Subject}])}
		switch a.Kind {
		case "model":
			if m := g.Model(a.AgentID, a.Subject); m == nil {
				row.Training = badge{"na", "names no dataset"}
			} else {
				row.Training = personalData(m.TrainedOnPersonalData, nil)
				if t := trainedOf(m); t == "personal" {
					row.Training.Text = "personal data"
				}
			}
		case "dataset":
			if ds := g.Dataset(a.AgentID, a.Subject); ds != nil {
				row.UsedBy = len(ds.Models)
			}
		}
		d.Rows = append(d.Rows, row)
	}
	s.render(w, r, http.StatusOK, "assets", ev, d)
	return nil
}

type assetData struct {
	C          *store.Current
	HostName   string
	Age        string
	Attrs      []attr
	ModelFinds []modelFinding
	PII        []attr
	Findings   []finding
	// Lineage (collector/internal/lineage): for a model, one row per
	// dataset each name it gives matched (unmatched names as text); for a
	// dataset, the models trained on it.
	Trained  *lineage.Model
	TrainPD  badge
	Lineage  []lineageRow
	UsedBy   []lineage.Key
	Timeline []timelineRow
}

// badge is a status word with its class; the word carries the meaning, the
// class only colours it.
type badge struct{ Class, Text string }

// lineageRow is one name a model gives and one dataset it matched, or
// none (Dataset nil).
type lineageRow struct {
	Name    string
	Dataset *lineage.DatasetRef
	PD      badge
	// Missing says why nothing matched.
	Missing string
}

// personalData says what is known of personal data in training data.
func personalData(known *bool, pii []string) badge {
	switch {
	case known == nil:
		return badge{"insufficient", "not known"}
	case *known && len(pii) > 0:
		return badge{"fail", "personal data: " + strings.Join(pii, ", ")}
	case *known:
		return badge{"fail", "personal data"}
	}
	return badge{"ok", "none found"}
}

func (d assetData) title() string { return d.C.Kind + " " + d.C.Subject }

type modelFinding struct {
	Rule, Severity, Detail string
}

type timelineRow struct {
	store.HistoryEntry
	Changed []string
}

func (s *Server) handleAsset(w http.ResponseWriter, r *http.Request, p *principal) error {
	ev, err := s.eval.get(r.Context())
	if err != nil {
		return err
	}
	q := r.URL.Query()
	key := recordKey{q.Get("agent"), q.Get("kind"), q.Get("subject")}
	c := ev.current[key]
	if c == nil {
		return store.Errorf(store.ENOTFOUND, "No live %s %q on agent %s: it may have been deleted since the link was made. The host page lists its current assets.", key.kind, key.subject, key.agent)
	}
	d := assetData{C: c, HostName: c.Host, Age: age(ev.at, c.ObservedAt), Findings: ev.findingsBySubject[key]}
	var attrs map[string]any
	if err := json.Unmarshal(c.Attributes, &attrs); err != nil {
		// The API accepts only objects; a store written otherwise still
		// gets its page, with the value shown as it is.
		d.Attrs = []attr{{Key: "(not an object)", Value: string(c.Attributes)}}
	} else {
		d.Attrs = sortedAttrs(attrs)
	}
	if fs, ok := attrs["findings"].([]any); ok {
		for _, f := range fs {
			if m, ok := f.(map[string]any); ok {
				d.ModelFinds = append(d.ModelFinds, modelFinding{Rule: showValue(m["rule"]), Severity: showValue(m["severity"]), Detail: showValue(m["detail"])})
			}
		}
	}
	if pii, ok := attrs["pii"].(map[string]any); ok {
		d.PII = sortedAttrs(pii)
	}
	s.lineage(ev, c, &d)
	hist, err := s.store.SubjectHistory(r.Context(), c.AgentID, c.Kind, c.Subject, timelineShown+1)
	if err != nil {
		return err
	}
	for i, h := range hist[:min(len(hist), timelineShown)] {
		row := timelineRow{HistoryEntry: h}
		if i+1 < len(hist) {
			row.Changed = changedKeys(hist[i+1].Attributes, h.Attributes)
		}
		d.Timeline = append(d.Timeline, row)
	}
	s.render(w, r, http.StatusOK, "asset", ev, d)
	return nil
}

// lineage fills the asset's lineage from the report's join.
func (s *Server) lineage(ev *evaluation, c *store.Current, d *assetData) {
	g := ev.rep.Lineage
	if g == nil {
		return
	}
	switch c.Kind {
	case "model":
		m := g.Model(c.AgentID, c.Subject)
		if m == nil {
			return
		}
		d.Trained = m
		d.TrainPD = personalData(m.TrainedOnPersonalData, nil)
		if len(m.PersonalData) > 0 {
			d.TrainPD.Text = "yes"
		}
		for _, e := range m.Datasets {
			if len(e.Matched) == 0 {
				why := "no dataset of the fleet has this name"
				if strings.HasPrefix(e.Normalised, "/") {
					why = "no dataset on " + c.Host + " holds this path"
				}
				d.Lineage = append(d.Lineage, lineageRow{Name: e.Name, Missing: why})
			}
			for i := range e.Matched {
				ref := &e.Matched[i]
				d.Lineage = append(d.Lineage, lineageRow{Name: e.Name, Dataset: ref, PD: personalData(ref.PersonalData, ref.PII)})
			}
			if more := e.MatchedTotal - len(e.Matched); more > 0 {
				d.Lineage = append(d.Lineage, lineageRow{Name: e.Name, Missing: fmt.Sprintf("and %d more datasets of this name on other hosts", more)})
			}
		}
	case "dataset":
		if ds := g.Dataset(c.AgentID, c.Subject); ds != nil {
			d.UsedBy = ds.Models
		}
	}
}

// changedKeys lists the top-level attributes that differ between two
// versions, so the timeline says what changed, not only that it did.
func changedKeys(before, after json.RawMessage) []string {
	var a, b map[string]json.RawMessage
	if json.Unmarshal(before, &a) != nil || json.Unmarshal(after, &b) != nil {
		return nil
	}
	var out []string
	for k, v := range b {
		if w, ok := a[k]; !ok || !bytes.Equal(w, v) {
			out = append(out, k)
		}
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// --- exports ---

type exportsData struct {
	Formats []exportFormat
}

func (exportsData) title() string { return "Exports" }

type exportFormat struct {
	Name, File, About string
}

// formatInfo describes the formats this package knows of; a format the
// report registers later still gets a download, with a plain description.
var formatInfo = map[string]struct{ ext, mime, about string }{
	"json":      {"json", "application/json", "The full report: every control, check, host, asset and evidence count, as documented in docs/report.md."},
	"summary":   {"txt", "text/plain; charset=utf-8", "A short text summary for a terminal or an e-mail."},
	"html":      {"html", "text/html; charset=utf-8", "One self-contained HTML file to send by e-mail."},
	"csv":       {"csv", "text/csv; charset=utf-8", "Statement of Applicability as a spreadsheet."},
	"oscal":     {"json", "application/json", "OSCAL 1.1.3 assessment results."},
	"cyclonedx": {"json", "application/vnd.cyclonedx+json", "CycloneDX 1.6 ML-BOM of the fleet's models and datasets."},
	"bundle":    {"zip", "application/zip", "A zip for auditors: the reports, the evidence and a SHA-256 manifest."},
}

func exportFile(format string, at time.Time) (name, mime string) {
	ext, mime := format, "application/octet-stream"
	if fi, ok := formatInfo[format]; ok {
		ext, mime = fi.ext, fi.mime
	}
	return "annexa-" + format + "-" + at.UTC().Format("20060102T150405Z") + "." + ext, mime
}

func (s *Server) handleExports(w http.ResponseWriter, r *http.Request, p *principal) error {
	ev, err := s.eval.get(r.Context())
	if err != nil {
		return err
	}
	var d exportsData
	for _, f := range report.Formats() {
		name, _ := exportFile(f, ev.at)
		about := formatInfo[f].about
		if about == "" {
			about = "The report in the " + f + " format."
		}
		d.Formats = append(d.Formats, exportFormat{Name: f, File: name, About: about})
	}
	s.render(w, r, http.StatusOK, "exports", ev, d)
	return nil
}

func (s *Server) handleExport(w http.ResponseWriter, r *http.Request, p *principal) error {
	format := r.PathValue("format")
	if err := report.CheckFormat(format); err != nil {
		return store.Errorf(store.ENOTFOUND, "%v", err)
	}
	ev, err := s.eval.get(r.Context())
	if err != nil {
		return err
	}
	// Rendered in full first, so a failure becomes an error page and not a
	// truncated download.
	var buf bytes.Buffer
	if err := report.Write(&buf, format, ev.rep); err != nil {
		return fmt.Errorf("export %s: %w", format, err)
	}
	name, mime := exportFile(format, ev.at)
	w.Header().Set("Content-Type", mime)
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	_, err = w.Write(buf.Bytes())
	s.log.Info("export", "format", format, "user", p.User, "bytes", buf.Len())
	return err
}

// --- actions ---

type revokeData struct {
	H hostRow
}

func (d revokeData) title() string { return "Revoke " + d.H.Host.Host }

// handleRevokeConfirm asks before revoking: the pages have no script for
// a confirm dialog, and a revoked agent needs a new token to come back.
func (s *Server) handleRevokeConfirm(w http.ResponseWriter, r *http.Request, p *principal) error {
	ev, err := s.eval.get(r.Context())
	if err != nil {
		return err
	}
	h := ev.hosts[r.PathValue("agent")]
	if h == nil {
		return store.Errorf(store.ENOTFOUND, "No agent %s is enrolled; the host list has every enrolled agent.", r.PathValue("agent"))
	}
	s.render(w, r, http.StatusOK, "revoke", ev, revokeData{H: s.hostRow(ev, h)})
	return nil
}

func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request, p *principal) error {
	id := r.PathValue("agent")
	if err := s.store.Revoke(r.Context(), id); err != nil {
		return err
	}
	s.log.Info("agent revoked from the web UI", "agent_id", id, "user", p.User)
	if err := s.eval.refresh(r.Context()); err != nil {
		return err
	}
	http.Redirect(w, r, "/hosts/"+id, http.StatusSeeOther)
	return nil
}

func (s *Server) handleEvaluate(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := s.eval.refresh(r.Context()); err != nil {
		return err
	}
	next := r.PostFormValue("next")
	if !localPath(next) {
		next = "/"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
	return nil
}

// --- paging ---

type pager struct {
	Page, Pages, From, To, Total int
	Prev, Next                   string
}

// matches says whether a list page's search text q occurs, ignoring case,
// in the fields of a row taken as one space-separated text; an empty q
// matches every row.
func matches(q string, fields ...string) bool {
	return q == "" || strings.Contains(strings.ToLower(strings.Join(fields, " ")), strings.ToLower(q))
}

// pageOf cuts the page the request asks for out of rows.
func pageOf[T any](r *http.Request, rows []T) (pager, []T) {
	p := newPager(r, len(rows))
	return p, rows[p.From:p.To]
}

func newPager(r *http.Request, total int) pager {
	p := pager{Total: total, Pages: max(1, (total+pageSize-1)/pageSize)}
	p.Page, _ = strconv.Atoi(r.URL.Query().Get("page"))
	p.Page = min(max(p.Page, 1), p.Pages)
	p.From, p.To = (p.Page-1)*pageSize, min(p.Page*pageSize, total)
	link := func(n int) string {
		q := r.URL.Query()
		q.Set("page", strconv.Itoa(n))
		return r.URL.Path + "?" + q.Encode()
	}
	if p.Page > 1 {
		p.Prev = link(p.Page - 1)
	}
	if p.Page < p.Pages {
		p.Next = link(p.Page + 1)
	}
	return p
}
