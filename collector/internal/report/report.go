// Package report turns a store snapshot into the collector's report: control
// verdicts next to the hosts, assets and evidence counts they rest on. The
// report is a plain value; formats (only JSON so far) are registered writers
// so that HTML, CSV and OSCAL can join without touching the callers.
package report

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/annexa/annexa/collector/internal/controls"
	"github.com/annexa/annexa/collector/internal/lineage"
	"github.com/annexa/annexa/collector/internal/store"
)

// Report is the whole document; docs/report.md describes it.
type Report struct {
	GeneratedAt    time.Time         `json:"generated_at"`
	Freshness      string            `json:"freshness"`
	CatalogVersion string            `json:"catalog_version"`
	Summary        Summary           `json:"summary"`
	Frameworks     []Framework       `json:"frameworks"`
	Controls       []controls.Result `json:"controls"`
	Hosts          []Host            `json:"hosts"`
	Assets         []Asset           `json:"assets"`
	EvidenceCounts map[string]int    `json:"evidence_counts"`
	// Lineage links the models to the datasets they name (docs/report.md,
	// "lineage"), for "which models were trained on personal data".
	Lineage *lineage.Graph `json:"lineage"`
	// Exceptions, Attestations and SoA are every recorded decision, with
	// its state as of generated_at (governance.go).
	Exceptions   []Exception      `json:"exceptions"`
	Attestations []Attestation    `json:"attestations"`
	SoA          []store.SoAEntry `json:"statement_of_applicability"`
	// UnjustifiedInclusions are the included controls whose Statement of
	// Applicability line gives no reason for including them (soa.go).
	UnjustifiedInclusions []UnjustifiedInclusion `json:"unjustified_inclusions"`
	// Records is every live record of the snapshot's non-revoked agents,
	// for the exports that
	// carry the evidence itself (the bundle's evidence.jsonl, the OSCAL
	// observations). The JSON report leaves it out: it would repeat the
	// store in every report.
	Records []Record `json:"-"`
	// CollectorVersion names the tool in the exports that credit it
	// (OSCAL, CycloneDX); "" when unknown.
	CollectorVersion string `json:"-"`
}

// Record is one live piece of current state as the store keeps it.
type Record struct {
	AgentID    string          `json:"agent_id"`
	Host       string          `json:"host"`
	Kind       string          `json:"kind"`
	Subject    string          `json:"subject"`
	Plugin     string          `json:"plugin"`
	Op         string          `json:"op"`
	Seq        uint64          `json:"seq"`
	ObservedAt time.Time       `json:"observed_at"`
	UpdatedAt  time.Time       `json:"updated_at"`
	Attributes json.RawMessage `json:"attributes"`
}

// Summary counts controls by status, next to how many of them any check
// covers: automated coverage is shown beside compliance, never hidden.
type Summary struct {
	Total                int `json:"total"`
	Compliant            int `json:"compliant"`
	Noncompliant         int `json:"noncompliant"`
	InsufficientEvidence int `json:"insufficient_evidence"`
	Manual               int `json:"manual"`
	NotApplicable        int `json:"not_applicable"`
	// Automated counts controls with at least one check; Coverage is
	// Automated / Total, 0 when there are no controls.
	Automated int     `json:"automated"`
	Coverage  float64 `json:"coverage"`
	// UnjustifiedInclusions counts the included controls that give no
	// reason for their inclusion: an incomplete Statement of
	// Applicability (soa.go).
	UnjustifiedInclusions int `json:"unjustified_inclusions"`
}

func (s *Summary) add(c *controls.Result) {
	s.Total++
	if c.Automated {
		s.Automated++
	}
	switch c.Status {
	case controls.Compliant:
		s.Compliant++
	case controls.Noncompliant:
		s.Noncompliant++
	case controls.InsufficientEvidence:
		s.InsufficientEvidence++
	case controls.Manual:
		s.Manual++
	case controls.NotApplicable:
		s.NotApplicable++
	}
	s.Coverage = float64(s.Automated) / float64(s.Total)
	if InclusionUnjustified(c) {
		s.UnjustifiedInclusions++
	}
}

// Framework is the summary of one catalog.
type Framework struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	// ControlsTotal is how many controls the catalog has.
	ControlsTotal int `json:"controls_total"`
	Summary
}

// Host is one enrolled agent and its last self-report.
type Host struct {
	AgentID      string             `json:"agent_id"`
	Host         string             `json:"host"`
	AgentVersion string             `json:"agent_version"`
	EnrolledAt   time.Time          `json:"enrolled_at"`
	LastSeenAt   *time.Time         `json:"last_seen_at"`
	RevokedAt    *time.Time         `json:"revoked_at,omitempty"`
	AckedThrough uint64             `json:"acked_through"`
	Status       *store.AgentStatus `json:"status"`
}

// Asset is one live dataset or model.
type Asset struct {
	Kind       string          `json:"kind"`
	Subject    string          `json:"subject"`
	Host       string          `json:"host"`
	AgentID    string          `json:"agent_id"`
	Plugin     string          `json:"plugin"`
	ObservedAt time.Time       `json:"observed_at"`
	Attributes json.RawMessage `json:"attributes"`
}

// Options tune a report.
type Options struct {
	Freshness time.Duration
	// Engine judges the controls; nil means the embedded catalogs.
	Engine *controls.Engine
	// Governance holds the exceptions, attestations and SoA; nil for none.
	Governance *Governance
	// Cache keeps decoded attributes from one Build to the next; nil for
	// none. It must not be shared by concurrent Builds.
	Cache *DecodeCache
	// Since holds each control's last recorded status and since when; a
	// control whose status differs (or that has none) is given
	// generated_at. Nil leaves since null.
	Since map[string]store.StatusChange
	// CollectorVersion is the collector's build version, for the exports
	// that name their tool.
	CollectorVersion string
	// results are the verdicts of a kept evaluation (Kept.Report) over
	// the same snapshot; nil evaluates.
	results []controls.Result
}

// assetKinds are the kinds listed under assets.
var assetKinds = map[string]bool{"dataset": true, "model": true}

// Build evaluates the controls over snap as of now.
func Build(snap *store.Snapshot, now time.Time, opts Options) *Report {
	if opts.Freshness <= 0 {
		opts.Freshness = controls.DefaultFreshness
	}
	if opts.Engine == nil {
		opts.Engine = controls.Default()
	}
	r := &Report{GeneratedAt: now.UTC(), Freshness: opts.Freshness.String(), CatalogVersion: opts.Engine.Version,
		Frameworks: []Framework{}, Hosts: []Host{}, Assets: []Asset{}, EvidenceCounts: map[string]int{}, Records: []Record{}, CollectorVersion: opts.CollectorVersion}

	in := controls.Input{Now: now, Options: controls.Options{Freshness: opts.Freshness}}
	r.addGovernance(&in, opts.Governance, now)
	// A revoked agent's evidence is history, not current inventory: the
	// checks already skip it, and so do the assets, the evidence counts,
	// the records and the lineage, so that a host that enrolled again is
	// not listed twice. The agent itself stays in Hosts, revoked.
	revoked := map[string]bool{}
	for _, a := range snap.Agents {
		if a.Revoked() {
			revoked[a.ID] = true
		}
		in.Agents = append(in.Agents, controls.Agent{ID: a.ID, Host: a.Host, Revoked: a.Revoked(), LastSeen: a.LastSeenAt})
		h := Host{AgentID: a.ID, Host: a.Host, AgentVersion: a.AgentVersion, EnrolledAt: a.EnrolledAt.UTC(),
			LastSeenAt: timePtr(a.LastSeenAt), RevokedAt: timePtr(a.RevokedAt), AckedThrough: a.AckedThrough, Status: a.Status}
		r.Hosts = append(r.Hosts, h)
	}
	in.Records = make([]controls.Record, 0, len(snap.Current))
	for i := range snap.Current {
		c := &snap.Current[i]
		in.Records = append(in.Records, controls.Record{AgentID: c.AgentID, Host: c.Host, Kind: c.Kind, Subject: c.Subject,
			Plugin: c.Plugin, Seq: c.Seq, ObservedAt: c.ObservedAt.UTC(), Attributes: c.Attributes, Decoded: opts.Cache.get(c)})
	}
	// The inventory (records, assets, lineage) shares nothing with the
	// evaluation but the snapshot, which both only read: it is built
	// beside it, so that its single-threaded join and sorts take no time
	// of their own at 10,000 hosts.
	inventory := make(chan struct{})
	go func() {
		defer close(inventory)
		r.inventory(snap, revoked)
	}()
	if opts.results != nil {
		// Shared with the kept evaluation: Since is set on a copy.
		r.Controls = slices.Clone(opts.results)
	} else {
		r.Controls = opts.Engine.Evaluate(in)
		opts.Cache.keep(in.Records)
	}
	<-inventory
	byID := map[string]*Framework{}
	for _, f := range opts.Engine.Frameworks() {
		r.Frameworks = append(r.Frameworks, Framework{ID: f.ID, Title: f.Title, ControlsTotal: f.Controls})
	}
	for i := range r.Frameworks {
		byID[r.Frameworks[i].ID] = &r.Frameworks[i]
	}
	for i := range r.Controls {
		c := &r.Controls[i]
		if opts.Since != nil {
			since := r.GeneratedAt
			if prev, ok := opts.Since[c.ControlID]; ok && prev.Status == string(c.Status) {
				since = prev.Since.UTC()
			}
			c.Since = &since
		}
		r.Summary.add(c)
		if f := byID[c.Framework]; f != nil {
			f.Summary.add(c)
		}
	}
	r.UnjustifiedInclusions = unjustifiedInclusions(r.Controls)
	return r
}

// inventory fills the evidence counts, records, assets and lineage from
// the live records of the agents not revoked.
func (r *Report) inventory(snap *store.Snapshot, revoked map[string]bool) {
	r.Records = make([]Record, 0, len(snap.Current))
	for i := range snap.Current {
		c := &snap.Current[i]
		if revoked[c.AgentID] {
			continue
		}
		r.EvidenceCounts[c.Kind]++
		r.Records = append(r.Records, Record{AgentID: c.AgentID, Host: c.Host, Kind: c.Kind, Subject: c.Subject, Plugin: c.Plugin,
			Op: string(c.Op), Seq: c.Seq, ObservedAt: c.ObservedAt.UTC(), UpdatedAt: c.UpdatedAt.UTC(), Attributes: c.Attributes})
		if assetKinds[c.Kind] {
			r.Assets = append(r.Assets, Asset{Kind: c.Kind, Subject: c.Subject, Host: c.Host, AgentID: c.AgentID,
				Plugin: c.Plugin, ObservedAt: c.ObservedAt.UTC(), Attributes: c.Attributes})
		}
	}
	joined := make([]lineage.Asset, len(r.Assets))
	for i, a := range r.Assets {
		joined[i] = lineage.Asset{AgentID: a.AgentID, Host: a.Host, Kind: a.Kind, Subject: a.Subject, Attributes: a.Attributes}
	}
	r.Lineage = lineage.Join(joined)
	slices.SortFunc(r.Records, func(a, b Record) int {
		return cmp.Or(cmp.Compare(a.AgentID, b.AgentID), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Subject, b.Subject))
	})
	slices.SortFunc(r.Assets, func(a, b Asset) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Host, b.Host), cmp.Compare(a.Subject, b.Subject), cmp.Compare(a.AgentID, b.AgentID))
	})
}

// ActiveHosts counts the hosts whose agent is not revoked: the fleet the
// report's inventory and verdicts describe.
func (r *Report) ActiveHosts() int {
	n := 0
	for i := range r.Hosts {
		if r.Hosts[i].RevokedAt == nil {
			n++
		}
	}
	return n
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// Writer renders a report in one format.
type Writer func(w io.Writer, r *Report) error

var formats = map[string]Writer{}

// RegisterFormat adds a format; a duplicate name is a programming error.
func RegisterFormat(name string, w Writer) {
	if _, dup := formats[name]; dup {
		panic(fmt.Sprintf("report: format %q registered twice", name))
	}
	formats[name] = w
}

// Formats lists the supported formats, sorted.
func Formats() []string {
	out := make([]string, 0, len(formats))
	for f := range formats {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

// Write renders r in format.
func Write(w io.Writer, format string, r *Report) error {
	if err := CheckFormat(format); err != nil {
		return err
	}
	return formats[format](w, r)
}

// CheckFormat returns the error Write would give for an unknown format, so
// the command line can refuse before it opens anything.
func CheckFormat(format string) error {
	if _, ok := formats[format]; !ok {
		return fmt.Errorf("format %s is not supported yet; supported: %s", format, strings.Join(Formats(), ", "))
	}
	return nil
}

func init() {
	RegisterFormat("json", writeJSON)
}

// DecodeCache keeps the decoded attributes of the records of one pass for
// the next, so that a record unchanged since (same agent, kind, subject and
// seq: any change of content comes with a new seq) is not decoded again.
// It holds the last pass's records only.
type DecodeCache struct {
	m map[cacheKey]cached
}

type cacheKey struct{ agent, kind, subject string }

type cached struct {
	seq     uint64
	decoded map[string]any
}

func (c *DecodeCache) get(cur *store.Current) map[string]any {
	if c == nil {
		return nil
	}
	if e, ok := c.m[cacheKey{cur.AgentID, cur.Kind, cur.Subject}]; ok && e.seq == cur.Seq {
		return e.decoded
	}
	return nil
}

func (c *DecodeCache) keep(recs []controls.Record) {
	if c == nil {
		return
	}
	m := make(map[cacheKey]cached, len(recs))
	for i := range recs {
		if r := &recs[i]; r.Decoded != nil {
			m[cacheKey{r.AgentID, r.Kind, r.Subject}] = cached{r.Seq, r.Decoded}
		}
	}
	c.m = m
}

// Len is the number of records cached.
func (c *DecodeCache) Len() int { return len(c.m) }
