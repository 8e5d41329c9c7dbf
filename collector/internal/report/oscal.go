package report

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/annexa/annexa/collector/internal/controls"
	"github.com/annexa/annexa/collector/internal/lineage"
)

// The oscal format is an OSCAL 1.1.3 assessment-results document: one
// result whose findings are the control verdicts and whose observations are
// the check outcomes and failing subjects, each pointing at the evidence
// records it rests on. docs/reports.md explains the mapping.
func init() {
	RegisterFormat("oscal", writeOSCAL)
}

// OSCALVersion is the OSCAL release the document follows.
const OSCALVersion = "1.1.3"

// oscalNS is the namespace of our own props, so they cannot be mistaken
// for NIST's.
const oscalNS = "https://github.com/annexa/annexa/ns/oscal"

// EvidenceFile is the name of the evidence in the bundle; OSCAL
// relevant-evidence and the CSV refer to records in it.
const EvidenceFile = "evidence.jsonl"

// uuidNS is the namespace of every UUID we derive (version 5, SHA-1): the
// same thing always gets the same UUID, in every report of every
// collector, so a consumer can follow a host or an asset across reports.
var uuidNS = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://github.com/annexa/annexa"))

func stableUUID(parts ...string) string {
	return uuid.NewSHA1(uuidNS, []byte(strings.Join(parts, "\x00"))).String()
}

type oscalDoc struct {
	AssessmentResults oscalAR `json:"assessment-results"`
}

type oscalAR struct {
	UUID       string           `json:"uuid"`
	Metadata   oscalMetadata    `json:"metadata"`
	ImportAP   oscalImportAP    `json:"import-ap"`
	Results    []oscalResult    `json:"results"`
	BackMatter *oscalBackMatter `json:"back-matter,omitempty"`
}

type oscalMetadata struct {
	Title        string      `json:"title"`
	LastModified string      `json:"last-modified"`
	Version      string      `json:"version"`
	OSCALVersion string      `json:"oscal-version"`
	Props        []oscalProp `json:"props,omitempty"`
	Remarks      string      `json:"remarks,omitempty"`
}

type oscalProp struct {
	Name    string `json:"name"`
	Value   string `json:"value"`
	NS      string `json:"ns,omitempty"`
	Class   string `json:"class,omitempty"`
	Remarks string `json:"remarks,omitempty"`
}

type oscalImportAP struct {
	Href    string `json:"href"`
	Remarks string `json:"remarks,omitempty"`
}

type oscalResult struct {
	UUID             string                 `json:"uuid"`
	Title            string                 `json:"title"`
	Description      string                 `json:"description"`
	Start            string                 `json:"start"`
	End              string                 `json:"end,omitempty"`
	Props            []oscalProp            `json:"props,omitempty"`
	LocalDefinitions *oscalLocalDefinitions `json:"local-definitions,omitempty"`
	ReviewedControls oscalReviewedControls  `json:"reviewed-controls"`
	Observations     []oscalObservation     `json:"observations,omitempty"`
	Findings         []oscalFinding         `json:"findings,omitempty"`
	Remarks          string                 `json:"remarks,omitempty"`
}

type oscalLocalDefinitions struct {
	Components       []oscalComponent      `json:"components,omitempty"`
	InventoryItems   []oscalInventoryItem  `json:"inventory-items,omitempty"`
	AssessmentAssets *oscalAssessmentAsset `json:"assessment-assets,omitempty"`
}

type oscalComponent struct {
	UUID        string      `json:"uuid"`
	Type        string      `json:"type"`
	Title       string      `json:"title"`
	Description string      `json:"description"`
	Props       []oscalProp `json:"props,omitempty"`
	Status      struct {
		State string `json:"state"`
	} `json:"status"`
}

type oscalInventoryItem struct {
	UUID                  string              `json:"uuid"`
	Description           string              `json:"description"`
	Props                 []oscalProp         `json:"props,omitempty"`
	ImplementedComponents []oscalComponentRef `json:"implemented-components,omitempty"`
}

type oscalComponentRef struct {
	ComponentUUID string `json:"component-uuid"`
}

type oscalAssessmentAsset struct {
	Components []oscalComponent `json:"components,omitempty"`
	Platforms  []oscalPlatform  `json:"assessment-platforms"`
}

type oscalPlatform struct {
	UUID           string              `json:"uuid"`
	Title          string              `json:"title"`
	UsesComponents []oscalComponentRef `json:"uses-components"`
}

type oscalReviewedControls struct {
	ControlSelections []oscalControlSelection `json:"control-selections"`
	Remarks           string                  `json:"remarks,omitempty"`
}

type oscalControlSelection struct {
	Description     string            `json:"description,omitempty"`
	IncludeControls []oscalSelectCtrl `json:"include-controls,omitempty"`
	ExcludeControls []oscalSelectCtrl `json:"exclude-controls,omitempty"`
}

type oscalSelectCtrl struct {
	ControlID string `json:"control-id"`
}

type oscalObservation struct {
	UUID             string              `json:"uuid"`
	Title            string              `json:"title"`
	Description      string              `json:"description"`
	Props            []oscalProp         `json:"props,omitempty"`
	Methods          []string            `json:"methods"`
	Types            []string            `json:"types,omitempty"`
	Origins          []oscalOrigin       `json:"origins,omitempty"`
	Subjects         []oscalSubjectRef   `json:"subjects,omitempty"`
	RelevantEvidence []oscalEvidenceLink `json:"relevant-evidence,omitempty"`
	Collected        string              `json:"collected"`
	Remarks          string              `json:"remarks,omitempty"`
}

type oscalOrigin struct {
	Actors []oscalActor `json:"actors"`
}

type oscalActor struct {
	Type      string `json:"type"`
	ActorUUID string `json:"actor-uuid"`
}

type oscalSubjectRef struct {
	SubjectUUID string `json:"subject-uuid"`
	Type        string `json:"type"`
	Title       string `json:"title,omitempty"`
}

type oscalEvidenceLink struct {
	Href        string      `json:"href,omitempty"`
	Description string      `json:"description"`
	Props       []oscalProp `json:"props,omitempty"`
}

type oscalFinding struct {
	UUID                string           `json:"uuid"`
	Title               string           `json:"title"`
	Description         string           `json:"description"`
	Props               []oscalProp      `json:"props,omitempty"`
	Origins             []oscalOrigin    `json:"origins,omitempty"`
	Target              oscalTarget      `json:"target"`
	RelatedObservations []oscalRelatedOb `json:"related-observations,omitempty"`
	Remarks             string           `json:"remarks,omitempty"`
}

type oscalTarget struct {
	Type     string      `json:"type"`
	TargetID string      `json:"target-id"`
	Title    string      `json:"title,omitempty"`
	Props    []oscalProp `json:"props,omitempty"`
	Status   struct {
		State  string `json:"state"`
		Reason string `json:"reason,omitempty"`
	} `json:"status"`
}

type oscalRelatedOb struct {
	ObservationUUID string `json:"observation-uuid"`
}

type oscalBackMatter struct {
	Resources []oscalResource `json:"resources"`
}

type oscalResource struct {
	UUID        string      `json:"uuid"`
	Title       string      `json:"title,omitempty"`
	Description string      `json:"description,omitempty"`
	Props       []oscalProp `json:"props,omitempty"`
	Remarks     string      `json:"remarks,omitempty"`
}

// contentDigest is the hex SHA-256 of b; documents derive their identity
// from the digest of the report they render.
func contentDigest(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// oscalTime is RFC 3339 in UTC, which the OSCAL date-time pattern accepts
// (it insists on a time zone).
func oscalTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// ControlToken turns a namespaced control id into an OSCAL token: the
// schema allows letters, digits, '.', '-' and '_' only, so
// iso27001-2022/5.9 becomes iso27001-2022_5.9.
func ControlToken(id string) string { return strings.ReplaceAll(id, "/", "_") }

// propValue makes s fit OSCAL's string type (no leading or trailing
// white space, no line breaks); "" means leave the prop out.
func propValue(s string) string {
	s = strings.Map(func(r rune) rune {
		switch r {
		case '\n', '\r', '\u2028', '\u2029', '\t', '\v', '\f':
			return ' '
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}

// props builds our namespaced props from name, value pairs, leaving out
// empty values.
func props(kv ...string) []oscalProp {
	var out []oscalProp
	for i := 0; i+1 < len(kv); i += 2 {
		if v := propValue(kv[i+1]); v != "" {
			out = append(out, oscalProp{Name: kv[i], Value: v, NS: oscalNS})
		}
	}
	return out
}

// targetState maps a control status to OSCAL's two states. Only a
// compliant control is satisfied: a control that could not be judged
// (insufficient evidence, or manual without an attestation) is not shown
// as satisfied, and the exact status travels in the annexa status prop.
func targetState(s controls.Status) (state, reason string) {
	switch s {
	case controls.Compliant:
		return "satisfied", "pass"
	case controls.Noncompliant:
		return "not-satisfied", "fail"
	default:
		return "not-satisfied", "other"
	}
}

func hostComponentUUID(agentID string) string { return stableUUID("host", agentID) }

func assetUUID(agentID, kind, subject string) string {
	return stableUUID("asset", agentID, kind, subject)
}

// recordKey names one record version: the agent's seq identifies it.
type recordKey struct {
	agent string
	seq   uint64
}

func writeOSCAL(w io.Writer, r *Report) error {
	doc, err := buildOSCAL(r)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

func buildOSCAL(r *Report) (*oscalDoc, error) {
	// The document's identity follows its content: the same report gives
	// the same UUID, any change a new one, as OSCAL asks of revisions.
	body, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("oscal: %w", err)
	}
	docID := stableUUID("assessment-results", contentDigest(body))
	resultID := stableUUID("result", docID)
	toolID := stableUUID("tool", "annexa-collector")
	planID := stableUUID("assessment-plan", r.CatalogVersion)
	generated := oscalTime(r.GeneratedAt)
	tool := []oscalOrigin{{Actors: []oscalActor{{Type: "tool", ActorUUID: toolID}}}}

	ar := oscalAR{
		UUID: docID,
		Metadata: oscalMetadata{
			Title:        "Annexa assessment results for ISO/IEC 27001:2022 and ISO/IEC 42001:2023",
			LastModified: generated,
			Version:      generated,
			OSCALVersion: OSCALVersion,
			Props: props("catalog-version", r.CatalogVersion, "freshness", r.Freshness,
				"collector-version", r.CollectorVersion),
			Remarks: "Generated by annexa-collector from machine evidence. Control ids are namespaced by framework, with '/' written as '_' (iso27001-2022/5.9 is iso27001-2022_5.9).",
		},
		// There is no separate assessment-plan document: the plan is the
		// catalogs and checks of the catalog version, described in the
		// back matter this fragment points at.
		ImportAP: oscalImportAP{Href: "#" + planID,
			Remarks: "The assessment plan is the Annexa catalog and checks identified by the catalog-version prop."},
		BackMatter: &oscalBackMatter{Resources: []oscalResource{{
			UUID:        planID,
			Title:       "Annexa catalogs and checks " + r.CatalogVersion,
			Description: "The ISO/IEC 27001:2022 Annex A and ISO/IEC 42001:2023 Annex A catalogs with the CEL checks that judge machine evidence against them; the version is the SHA-256 digest of the catalog and check files.",
			Props:       props("catalog-version", r.CatalogVersion),
		}}},
	}

	res := oscalResult{
		UUID:  resultID,
		Title: "Automated assessment of " + generated,
		Description: fmt.Sprintf("%d controls judged from the evidence of %d hosts: %d compliant, %d noncompliant, %d insufficient evidence, %d manual; %d of %d controls have an automated check.",
			r.Summary.Total, r.ActiveHosts(), r.Summary.Compliant, r.Summary.Noncompliant, r.Summary.InsufficientEvidence,
			r.Summary.Manual, r.Summary.Automated, r.Summary.Total),
		Start: generated,
		End:   generated,
		Props: props("freshness", r.Freshness),
	}

	// Local definitions: the collector as the tool, every host as a
	// component, every dataset and model as an inventory item.
	ld := &oscalLocalDefinitions{}
	toolComp := oscalComponent{UUID: toolID, Type: "software", Title: "annexa-collector",
		Description: "The Annexa collector: stores the agents' evidence and judges it with the catalog's checks.",
		Props:       props("version", r.CollectorVersion)}
	toolComp.Status.State = "operational"
	ld.AssessmentAssets = &oscalAssessmentAsset{Components: []oscalComponent{toolComp},
		Platforms: []oscalPlatform{{UUID: stableUUID("platform", "annexa"), Title: "Annexa",
			UsesComponents: []oscalComponentRef{{ComponentUUID: toolID}}}}}

	knownHost := map[string]bool{}
	for _, h := range r.Hosts {
		c := oscalComponent{UUID: hostComponentUUID(h.AgentID), Type: "hardware", Title: "Host " + h.Host,
			Description: fmt.Sprintf("Host %s, observed by annexa-agent %s (agent id %s).", h.Host, cmp.Or(h.AgentVersion, "of unknown version"), h.AgentID)}
		seen := ""
		if h.LastSeenAt != nil {
			seen = oscalTime(*h.LastSeenAt)
		}
		c.Props = props("agent-id", h.AgentID, "host", h.Host, "last-seen", seen)
		c.Status.State = "operational"
		if h.RevokedAt != nil {
			c.Status.State = "disposition"
		}
		knownHost[h.AgentID] = true
		ld.Components = append(ld.Components, c)
	}
	for _, a := range r.Assets {
		if !knownHost[a.AgentID] {
			// Evidence from an agent the store no longer lists still needs
			// a component for the item to refer to.
			c := oscalComponent{UUID: hostComponentUUID(a.AgentID), Type: "hardware", Title: "Host " + a.Host,
				Description: fmt.Sprintf("Host %s (agent id %s), known only from its evidence.", a.Host, a.AgentID)}
			c.Status.State = "other"
			knownHost[a.AgentID] = true
			ld.Components = append(ld.Components, c)
		}
		var attrs struct {
			Path   string `json:"path"`
			SHA256 string `json:"sha256"`
			Format string `json:"format"`
		}
		_ = json.Unmarshal(a.Attributes, &attrs) // a malformed record only loses its props
		item := oscalInventoryItem{UUID: assetUUID(a.AgentID, a.Kind, a.Subject),
			Description: fmt.Sprintf("%s %s on %s", a.Kind, a.Subject, a.Host),
			Props:       props("kind", a.Kind, "subject", a.Subject, "path", attrs.Path, "format", attrs.Format, "sha256", attrs.SHA256)}
		item.Props = append(item.Props, lineageProps(r.Lineage, a)...)
		item.ImplementedComponents = []oscalComponentRef{{ComponentUUID: hostComponentUUID(a.AgentID)}}
		ld.InventoryItems = append(ld.InventoryItems, item)
	}
	res.LocalDefinitions = ld
	isAsset := map[string]bool{} // asset UUIDs
	for _, it := range ld.InventoryItems {
		isAsset[it.UUID] = true
	}

	records := map[recordKey]*Record{}
	bySubject := map[[2]string]*Record{}
	for i := range r.Records {
		rec := &r.Records[i]
		records[recordKey{rec.AgentID, rec.Seq}] = rec
		if k := [2]string{rec.AgentID, rec.Subject}; bySubject[k] == nil {
			bySubject[k] = rec
		}
	}
	evidenceLink := func(e controls.Evidence) oscalEvidenceLink {
		// Only the record's key is a prop: the rest is in the description,
		// and a check over every record of a large fleet repeats this.
		by := ""
		if rec := records[recordKey{e.AgentID, e.Seq}]; rec != nil && rec.Plugin != "" {
			by = " by plugin " + rec.Plugin
		}
		return oscalEvidenceLink{Href: EvidenceFile,
			Description: fmt.Sprintf("%s record %s on %s (agent %s, seq %d), observed %s%s.", e.Kind, e.Subject, e.Host, e.AgentID, e.Seq, oscalTime(e.ObservedAt), by),
			Props:       props("agent-id", e.AgentID, "seq", fmt.Sprint(e.Seq))}
	}

	// Observations: one per check (shared by every control it supports),
	// then one per failing subject of it.
	checkObs := map[string][]string{} // check id → observation UUIDs
	var ctrlSel oscalControlSelection
	var excluded []oscalSelectCtrl
	for _, c := range r.Controls {
		if c.Status == controls.NotApplicable {
			excluded = append(excluded, oscalSelectCtrl{ControlID: ControlToken(c.ControlID)})
			continue
		}
		ctrlSel.IncludeControls = append(ctrlSel.IncludeControls, oscalSelectCtrl{ControlID: ControlToken(c.ControlID)})
		for _, ch := range c.Checks {
			if _, done := checkObs[ch.ID]; done {
				continue
			}
			obID := stableUUID("observation", resultID, "check", ch.ID)
			ob := oscalObservation{UUID: obID, Title: fmt.Sprintf("Check %s: %s", ch.ID, ch.Status),
				Description: fmt.Sprintf("%s %s (%d applicable, %d passing.)", ch.Title+".", ch.Explanation, ch.Applicable, ch.Passing),
				Props:       props("check", ch.ID, "status", string(ch.Status), "severity", ch.Severity),
				Methods:     []string{"TEST"}, Origins: tool, Collected: generated, Remarks: ch.Remediation}
			ob.RelevantEvidence = checkEvidence(ch.Evidence, evidenceLink)
			if len(ch.Errors) > 0 {
				ob.Remarks = strings.TrimSpace(ob.Remarks + "\n\nErrors: " + strings.Join(ch.Errors, "; "))
			}
			ids := []string{obID}
			var evBySubject map[[2]string][]controls.Evidence
			if len(ch.Failing) > 0 {
				evBySubject = map[[2]string][]controls.Evidence{}
				for _, e := range ch.Evidence {
					k := [2]string{e.AgentID, e.Subject}
					evBySubject[k] = append(evBySubject[k], e)
				}
			}
			for _, f := range ch.Failing {
				fob := failingObservation(resultID, ch, f, generated, isAsset, knownHost)
				for _, e := range evBySubject[[2]string{f.AgentID, f.Subject}] {
					fob.RelevantEvidence = append(fob.RelevantEvidence, evidenceLink(e))
				}
				if rec := bySubject[[2]string{f.AgentID, f.Subject}]; len(fob.RelevantEvidence) == 0 && rec != nil {
					fob.RelevantEvidence = append(fob.RelevantEvidence, evidenceLink(controls.Evidence{AgentID: rec.AgentID,
						Host: rec.Host, Kind: rec.Kind, Subject: rec.Subject, Seq: rec.Seq, ObservedAt: rec.ObservedAt}))
				}
				res.Observations = append(res.Observations, fob)
				ids = append(ids, fob.UUID)
			}
			res.Observations = append(res.Observations, ob)
			checkObs[ch.ID] = ids
		}
	}
	if len(ctrlSel.IncludeControls) == 0 {
		// The schema wants a selection; with no catalog there is nothing
		// to include, which include-all would misstate.
		ctrlSel.Description = "No controls were reviewed."
		ctrlSel.IncludeControls = nil
	}
	ctrlSel.ExcludeControls = excluded
	if len(excluded) > 0 {
		ctrlSel.Description = "Controls excluded in the Statement of Applicability are listed as excluded."
	}
	res.ReviewedControls = oscalReviewedControls{ControlSelections: []oscalControlSelection{ctrlSel},
		Remarks: "Every control of the catalogs is reviewed; manual controls (no automated check) are findings with reason other until an attestation covers them."}
	if n := len(r.UnjustifiedInclusions); n > 0 {
		res.ReviewedControls.Remarks += fmt.Sprintf("\n\nThe Statement of Applicability is incomplete: %d of %d included controls give no reason for their inclusion (ISO/IEC 27001:2022 6.1.3 d); their findings carry the prop inclusion-justified false and say what to record.",
			n, len(ctrlSel.IncludeControls))
	}

	for _, c := range r.Controls {
		if c.Status == controls.NotApplicable {
			continue
		}
		f := oscalFinding{UUID: stableUUID("finding", resultID, c.ControlID),
			Title:       fmt.Sprintf("%s %s: %s", c.ControlID, c.Title, c.Status),
			Description: c.Explanation,
			Props:       props("status", string(c.Status), "framework", c.Framework, "automated", fmt.Sprint(c.Automated)),
			Origins:     tool}
		if c.Score != nil {
			f.Props = append(f.Props, props("score", fmt.Sprintf("%.4f", *c.Score))...)
		}
		// Why the control is included is part of the Statement of
		// Applicability; a missing reason is shown, not left out.
		f.Props = append(f.Props, props("inclusion-justified", fmt.Sprint(!InclusionUnjustified(&c)))...)
		if fix := InclusionToFix(&c); fix != "" {
			f.Remarks = "Statement of Applicability incomplete: " + fix + "."
		} else if a := c.Applicability; a != nil {
			f.Remarks = fmt.Sprintf("Included in the Statement of Applicability by %s: %s", a.Author, a.Justification)
		}
		f.Target = oscalTarget{Type: "objective-id", TargetID: ControlToken(c.ControlID), Title: c.Title}
		f.Target.Status.State, f.Target.Status.Reason = targetState(c.Status)
		seen := map[string]bool{}
		for _, ch := range c.Checks {
			for _, id := range checkObs[ch.ID] {
				if !seen[id] {
					seen[id] = true
					f.RelatedObservations = append(f.RelatedObservations, oscalRelatedOb{ObservationUUID: id})
				}
			}
		}
		if f.Description == "" {
			f.Description = "No explanation was given."
		}
		res.Findings = append(res.Findings, f)
	}
	slices.SortStableFunc(res.Observations, func(a, b oscalObservation) int { return cmp.Compare(a.Title, b.Title) })
	ar.Results = []oscalResult{res}
	return &oscalDoc{AssessmentResults: ar}, nil
}

// maxEvidenceLinks bounds the records a check's observation lists one by
// one. A check over every dataset of a large fleet rests on tens of
// thousands of records; past the bound the observation points at the
// evidence file with the count and kinds instead, and each failing
// subject's own observation still names its record.
const maxEvidenceLinks = 50

func checkEvidence(ev []controls.Evidence, link func(controls.Evidence) oscalEvidenceLink) []oscalEvidenceLink {
	if len(ev) <= maxEvidenceLinks {
		out := make([]oscalEvidenceLink, 0, len(ev))
		for _, e := range ev {
			out = append(out, link(e))
		}
		return out
	}
	kinds := map[string]int{}
	hosts := map[string]bool{}
	for _, e := range ev {
		kinds[e.Kind]++
		hosts[e.AgentID] = true
	}
	names := make([]string, 0, len(kinds))
	for k := range kinds {
		names = append(names, k)
	}
	slices.Sort(names)
	parts := make([]string, 0, len(names))
	for _, k := range names {
		parts = append(parts, fmt.Sprintf("%d %s", kinds[k], k))
	}
	return []oscalEvidenceLink{{Href: EvidenceFile,
		Description: fmt.Sprintf("%d records from %d hosts (%s), each a line of %s; the check's status rests on all of them.",
			len(ev), len(hosts), strings.Join(parts, ", "), EvidenceFile),
		Props: props("records", fmt.Sprint(len(ev)))}}
}

func failingObservation(resultID string, ch controls.CheckResult, f controls.Subject, collected string, isAsset, knownHost map[string]bool) oscalObservation {
	keys := make([]string, 0, len(f.Observed))
	for k := range f.Observed {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var observed []string
	for _, k := range keys {
		v, err := json.Marshal(f.Observed[k])
		if err != nil {
			v = []byte(fmt.Sprint(f.Observed[k]))
		}
		observed = append(observed, fmt.Sprintf("%s = %s", k, v))
	}
	desc := fmt.Sprintf("%s fails check %s (%s) on %s.", f.Subject, ch.ID, ch.Title, f.Host)
	if len(observed) > 0 {
		desc += " Observed: " + strings.Join(observed, ", ") + "."
	}
	// A fleet can have many failing subjects: the check's own observation
	// carries the origin and the remediation once, this one only what is
	// particular to the subject.
	ob := oscalObservation{UUID: stableUUID("observation", resultID, "failing", ch.ID, f.AgentID, f.Subject),
		Title:       fmt.Sprintf("Check %s fails on %s (%s)", ch.ID, f.Subject, f.Host),
		Description: desc,
		Props:       props("check", ch.ID),
		Methods:     []string{"TEST"}, Types: []string{"finding"}, Collected: collected}
	// The subject is the asset when it is one, else the host it was seen on.
	kind, _, _ := strings.Cut(f.Subject, ":")
	if id := assetUUID(f.AgentID, kind, f.Subject); isAsset[id] {
		ob.Subjects = append(ob.Subjects, oscalSubjectRef{SubjectUUID: id, Type: "inventory-item", Title: f.Subject})
	} else if knownHost[f.AgentID] {
		ob.Subjects = append(ob.Subjects, oscalSubjectRef{SubjectUUID: hostComponentUUID(f.AgentID), Type: "component", Title: "Host " + f.Host})
	}
	return ob
}

// lineageProps carries the report's lineage onto a model's or dataset's
// inventory item: a model's training datasets and a dataset's models as
// props whose value is the other item's UUID (the way it matched in the
// class), the names no dataset matched, and what the model's training data
// holds. OSCAL has no relation between inventory items, and a link's "#"
// fragment means a back-matter resource, so props it is.
func lineageProps(g *lineage.Graph, a Asset) []oscalProp {
	if g == nil {
		return nil
	}
	var out []oscalProp
	switch a.Kind {
	case "model":
		m := g.Model(a.AgentID, a.Subject)
		if m == nil {
			return nil
		}
		seen := map[string]bool{}
		for _, e := range m.Datasets {
			for _, d := range e.Matched {
				id := assetUUID(d.AgentID, "dataset", d.Subject)
				if seen[id] {
					continue
				}
				seen[id] = true
				out = append(out, oscalProp{Name: "training-dataset", Value: id, NS: oscalNS, Class: d.Match,
					Remarks: fmt.Sprintf("dataset %s on %s, named %q by the model", d.Subject, d.Host, e.Name)})
			}
			if e.MatchedTotal > len(e.Matched) {
				out = append(out, oscalProp{Name: "training-datasets-not-listed", Value: fmt.Sprint(e.MatchedTotal - len(e.Matched)), NS: oscalNS,
					Remarks: fmt.Sprintf("more datasets match %q than the %d listed", e.Name, len(e.Matched))})
			}
		}
		for _, n := range m.Unmatched {
			out = append(out, props("unmatched-training-dataset", n)...)
		}
		pd := "unknown"
		if m.TrainedOnPersonalData != nil {
			pd = fmt.Sprint(*m.TrainedOnPersonalData)
		}
		out = append(out, props("trained-on-personal-data", pd, "training-data-classification", m.Classification)...)
	case "dataset":
		d := g.Dataset(a.AgentID, a.Subject)
		if d == nil {
			return nil
		}
		for _, k := range d.Models {
			out = append(out, oscalProp{Name: "used-by-model", Value: assetUUID(k.AgentID, "model", k.Subject), NS: oscalNS,
				Remarks: fmt.Sprintf("model %s on %s", k.Subject, k.Host)})
		}
	}
	return out
}
