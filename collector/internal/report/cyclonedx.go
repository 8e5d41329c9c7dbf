package report

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/annexa/annexa/collector/internal/controls"
	"github.com/annexa/annexa/collector/internal/lineage"
)

// The cyclonedx format is a CycloneDX 1.6 ML-BOM of the fleet: every live
// model a machine-learning-model component with a model card, every
// dataset a data component with its classification and the personal data
// found in it, each with its SHA-256. Findings (unsafe pickle globals,
// failing checks) are properties, so a BOM consumer sees them beside the
// component. docs/reports.md explains the mapping.
func init() {
	RegisterFormat("cyclonedx", writeCycloneDX)
}

type cdxBOM struct {
	Schema       string         `json:"$schema"`
	BOMFormat    string         `json:"bomFormat"`
	SpecVersion  string         `json:"specVersion"`
	SerialNumber string         `json:"serialNumber"`
	Version      int            `json:"version"`
	Metadata     cdxMetadata    `json:"metadata"`
	Components   []cdxComponent `json:"components"`
	Dependencies []cdxDep       `json:"dependencies,omitempty"`
}

type cdxMetadata struct {
	Timestamp  string `json:"timestamp"`
	Lifecycles []struct {
		Phase string `json:"phase"`
	} `json:"lifecycles"`
	Tools struct {
		Components []cdxComponent `json:"components"`
	} `json:"tools"`
	Component  *cdxComponent `json:"component,omitempty"`
	Properties []cdxProp     `json:"properties,omitempty"`
}

type cdxComponent struct {
	Type        string         `json:"type"`
	BOMRef      string         `json:"bom-ref,omitempty"`
	Name        string         `json:"name"`
	Version     string         `json:"version,omitempty"`
	Description string         `json:"description,omitempty"`
	Hashes      []cdxHash      `json:"hashes,omitempty"`
	Licenses    []cdxLicense   `json:"licenses,omitempty"`
	ModelCard   *cdxModelCard  `json:"modelCard,omitempty"`
	Data        []cdxData      `json:"data,omitempty"`
	Properties  []cdxProp      `json:"properties,omitempty"`
	Components  []cdxComponent `json:"components,omitempty"`
}

type cdxHash struct {
	Alg     string `json:"alg"`
	Content string `json:"content"`
}

type cdxLicense struct {
	License struct {
		ID   string `json:"id,omitempty"`
		Name string `json:"name,omitempty"`
	} `json:"license"`
}

type cdxProp struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type cdxModelCard struct {
	ModelParameters *cdxModelParameters `json:"modelParameters,omitempty"`
	Considerations  *cdxConsiderations  `json:"considerations,omitempty"`
	Properties      []cdxProp           `json:"properties,omitempty"`
}

type cdxModelParameters struct {
	ArchitectureFamily string       `json:"architectureFamily,omitempty"`
	ModelArchitecture  string       `json:"modelArchitecture,omitempty"`
	Datasets           []cdxDataRef `json:"datasets,omitempty"`
}

type cdxDataRef struct {
	Ref string `json:"ref"`
}

type cdxConsiderations struct {
	TechnicalLimitations []string `json:"technicalLimitations,omitempty"`
}

type cdxData struct {
	Type           string   `json:"type"`
	Name           string   `json:"name,omitempty"`
	Description    string   `json:"description,omitempty"`
	Classification string   `json:"classification,omitempty"`
	SensitiveData  []string `json:"sensitiveData,omitempty"`
}

type cdxDep struct {
	Ref       string   `json:"ref"`
	DependsOn []string `json:"dependsOn"`
}

// cdxNS prefixes our property names, as CycloneDX's property taxonomy asks.
const cdxNS = "annexa:"

// spdxIDs are the licence ids plugins commonly report, in SPDX's spelling;
// cyclonedx_test.go checks each against the SPDX list of the schema.
// Anything else is given as a licence name, never as a guessed id.
var spdxIDs = func() map[string]string {
	m := map[string]string{}
	for _, id := range []string{"Apache-2.0", "MIT", "BSD-2-Clause", "BSD-3-Clause", "ISC", "Zlib", "BSL-1.0",
		"MPL-2.0", "EPL-2.0", "Artistic-2.0", "Unlicense", "WTFPL", "AFL-3.0",
		"GPL-2.0-only", "GPL-3.0-only", "LGPL-3.0-only", "AGPL-3.0-only",
		"CC0-1.0", "CC-BY-3.0", "CC-BY-4.0", "CC-BY-SA-4.0", "CC-BY-NC-4.0", "CC-BY-NC-SA-4.0",
		"ODbL-1.0", "ODC-By-1.0", "PDDL-1.0", "CDLA-Permissive-1.0", "CDLA-Permissive-2.0", "CDLA-Sharing-1.0"} {
		m[strings.ToLower(id)] = id
	}
	return m
}()

var sha256RE = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)

func cdxLicenses(ids ...string) []cdxLicense {
	for _, s := range ids {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		var l cdxLicense
		if id, ok := spdxIDs[strings.ToLower(s)]; ok {
			l.License.ID = id
		} else {
			l.License.Name = s
		}
		return []cdxLicense{l}
	}
	return nil
}

func cdxHashes(sum string) []cdxHash {
	if !sha256RE.MatchString(sum) {
		return nil // partial or missing: no placeholder digest
	}
	return []cdxHash{{Alg: "SHA-256", Content: strings.ToLower(sum)}}
}

// cdxProps builds properties from name, value pairs, leaving out empty
// values.
func cdxProps(kv ...string) []cdxProp {
	var out []cdxProp
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			out = append(out, cdxProp{Name: cdxNS + kv[i], Value: kv[i+1]})
		}
	}
	return out
}

// assetAttrs are the attributes of models and datasets that the BOM uses;
// docs/evidence.md defines them.
type assetAttrs struct {
	Path           string          `json:"path"`
	Format         string          `json:"format"`
	SizeBytes      *int64          `json:"size_bytes"`
	SHA256         string          `json:"sha256"`
	HashStatus     string          `json:"hash_status"`
	Parameters     *int64          `json:"parameters"`
	Dtypes         []string        `json:"dtypes"`
	Architecture   string          `json:"architecture"`
	License        string          `json:"license"`
	HasModelCard   *bool           `json:"has_model_card"`
	HasDatasheet   *bool           `json:"has_datasheet"`
	Signed         *bool           `json:"signed"`
	SignedBy       string          `json:"signed_by"`
	Unsafe         *bool           `json:"unsafe"`
	WorldReadable  *bool           `json:"world_readable"`
	Owner          string          `json:"owner"`
	Group          string          `json:"group"`
	Mode           string          `json:"mode"`
	ModifiedAt     string          `json:"modified_at"`
	FileCount      *int64          `json:"file_count"`
	Formats        map[string]int  `json:"formats"`
	Classification string          `json:"classification"`
	PII            json.RawMessage `json:"pii"`
	Findings       []struct {
		Rule     string `json:"rule"`
		Severity string `json:"severity"`
		Detail   string `json:"detail"`
	} `json:"findings"`
	Metadata struct {
		License string `json:"license"`
	} `json:"metadata"`
}

func cdxRef(a *Asset) string { return a.AgentID + "/" + a.Subject }

func optInt(p *int64) string {
	if p == nil {
		return ""
	}
	return strconv.FormatInt(*p, 10)
}

func optBool(p *bool) string {
	if p == nil {
		return ""
	}
	return strconv.FormatBool(*p)
}

// piiTypes reads the pii attribute: an object of entity type → count
// (DESIGN.md); a value that is itself an object may carry a count field.
// It returns the entity types found, sorted, and their counts.
func piiTypes(raw json.RawMessage) ([]string, map[string]string) {
	var m map[string]json.RawMessage
	if len(raw) == 0 || json.Unmarshal(raw, &m) != nil {
		return nil, nil
	}
	var types []string
	counts := map[string]string{}
	for k, v := range m {
		var n json.Number
		if json.Unmarshal(v, &n) != nil {
			var obj struct {
				Count json.Number `json:"count"`
			}
			if json.Unmarshal(v, &obj) != nil {
				continue
			}
			n = obj.Count
		}
		if f, err := n.Float64(); err == nil && f <= 0 {
			continue
		}
		types = append(types, k)
		counts[k] = n.String()
	}
	slices.Sort(types)
	return types, counts
}

// failingChecks maps (agent, subject) to "check (control, …)" for every
// noncompliant check that names the subject.
func failingChecks(r *Report) map[[2]string][]string {
	byCheck := map[string][]string{} // check → controls
	failing := map[string][]controls.Subject{}
	var order []string
	for _, c := range r.Controls {
		for _, ch := range c.Checks {
			if ch.Status != controls.Noncompliant {
				continue
			}
			if _, ok := failing[ch.ID]; !ok {
				order = append(order, ch.ID)
				failing[ch.ID] = ch.Failing
			}
			byCheck[ch.ID] = append(byCheck[ch.ID], c.ControlID)
		}
	}
	out := map[[2]string][]string{}
	for _, id := range order {
		for _, f := range failing[id] {
			k := [2]string{f.AgentID, f.Subject}
			out[k] = append(out[k], fmt.Sprintf("%s (%s)", id, strings.Join(byCheck[id], ", ")))
		}
	}
	return out
}

func writeCycloneDX(w io.Writer, r *Report) error {
	bom, err := buildCycloneDX(r)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(bom)
}

func buildCycloneDX(r *Report) (*cdxBOM, error) {
	body, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("cyclonedx: %w", err)
	}
	bom := &cdxBOM{Schema: "http://cyclonedx.org/schema/bom-1.6.schema.json", BOMFormat: "CycloneDX", SpecVersion: "1.6",
		SerialNumber: "urn:uuid:" + stableUUID("cyclonedx", contentDigest(body)), Version: 1, Components: []cdxComponent{}}
	bom.Metadata.Timestamp = oscalTime(r.GeneratedAt)
	bom.Metadata.Lifecycles = []struct {
		Phase string `json:"phase"`
	}{{Phase: "operations"}}
	bom.Metadata.Tools.Components = []cdxComponent{{Type: "application", Name: "annexa-collector", Version: r.CollectorVersion}}
	bom.Metadata.Component = &cdxComponent{Type: "platform", BOMRef: "fleet", Name: "ML fleet",
		Description: fmt.Sprintf("Models and datasets live on %d hosts as of %s.", r.ActiveHosts(), oscalTime(r.GeneratedAt))}
	bom.Metadata.Properties = cdxProps("catalog_version", r.CatalogVersion, "freshness", r.Freshness)

	fails := failingChecks(r)
	graph := r.Lineage
	if graph == nil {
		graph = &lineage.Graph{}
	}
	for i := range r.Assets {
		a := &r.Assets[i]
		var at assetAttrs
		_ = json.Unmarshal(a.Attributes, &at)
		name := path.Base(cmp.Or(at.Path, strings.TrimPrefix(a.Subject, a.Kind+":")))
		common := cdxProps("host", a.Host, "agent_id", a.AgentID, "subject", a.Subject, "path", at.Path,
			"observed_at", oscalTime(a.ObservedAt), "size_bytes", optInt(at.SizeBytes), "owner", at.Owner,
			"group", at.Group, "mode", at.Mode, "modified_at", at.ModifiedAt, "hash_status", at.HashStatus)
		for _, f := range fails[[2]string{a.AgentID, a.Subject}] {
			common = append(common, cdxProps("failing_check", f)...)
		}
		switch a.Kind {
		case "model":
			c := cdxComponent{Type: "machine-learning-model", BOMRef: cdxRef(a), Name: name,
				Description: fmt.Sprintf("%s model %s on %s", cmp.Or(at.Format, "unknown-format"), cmp.Or(at.Path, a.Subject), a.Host),
				Hashes:      cdxHashes(at.SHA256), Licenses: cdxLicenses(at.License, at.Metadata.License)}
			mc := &cdxModelCard{ModelParameters: &cdxModelParameters{ModelArchitecture: at.Architecture}}
			mc.Properties = cdxProps("format", at.Format, "parameters", optInt(at.Parameters), "dtypes", strings.Join(at.Dtypes, ","),
				"has_model_card", optBool(at.HasModelCard), "signed", optBool(at.Signed), "signed_by", at.SignedBy, "unsafe", optBool(at.Unsafe))
			// Lineage (docs/evidence.md's contract): every dataset of the
			// fleet a name matched is referenced by its bom-ref; a name
			// that matched none stays a property, as written.
			if lm := graph.Model(a.AgentID, a.Subject); lm != nil {
				for _, e := range lm.Datasets {
					for _, d := range e.Matched {
						ref := d.AgentID + "/" + d.Subject
						if !slices.Contains(mc.ModelParameters.Datasets, cdxDataRef{Ref: ref}) {
							mc.ModelParameters.Datasets = append(mc.ModelParameters.Datasets, cdxDataRef{Ref: ref})
						}
						bom.addDependency(c.BOMRef, ref)
					}
				}
				for _, n := range lm.Unmatched {
					mc.Properties = append(mc.Properties, cdxProps("dataset", n)...)
				}
				if lm.TrainedOnPersonalData != nil {
					mc.Properties = append(mc.Properties, cdxProps("trained_on_personal_data", strconv.FormatBool(*lm.TrainedOnPersonalData),
						"training_data_classification", lm.Classification)...)
				}
			}
			if mc.ModelParameters.ModelArchitecture == "" && len(mc.ModelParameters.Datasets) == 0 {
				mc.ModelParameters = nil
			}
			for _, f := range at.Findings {
				c.Properties = append(c.Properties, cdxProps("finding", fmt.Sprintf("%s %s: %s", f.Severity, f.Rule, f.Detail))...)
			}
			if optBool(at.Unsafe) == "true" {
				mc.Considerations = &cdxConsiderations{TechnicalLimitations: []string{
					"Unsafe to load: the file imports code that runs when it is deserialized (see the annexa:finding properties)."}}
			}
			c.ModelCard = mc
			c.Properties = append(c.Properties, common...)
			bom.Components = append(bom.Components, c)
		case "dataset":
			types, counts := piiTypes(at.PII)
			d := cdxData{Type: "dataset", Name: name, Classification: at.Classification, SensitiveData: types,
				Description: fmt.Sprintf("%s files at %s on %s", optInt(at.FileCount), cmp.Or(at.Path, a.Subject), a.Host)}
			if at.FileCount == nil {
				d.Description = fmt.Sprintf("dataset at %s on %s", cmp.Or(at.Path, a.Subject), a.Host)
			}
			c := cdxComponent{Type: "data", BOMRef: cdxRef(a), Name: name,
				Description: "dataset " + cmp.Or(at.Path, a.Subject) + " on " + a.Host,
				Hashes:      cdxHashes(at.SHA256), Licenses: cdxLicenses(at.License), Data: []cdxData{d}}
			// The dataset's SHA-256 is the digest of its manifest (the
			// plugin README says how to recompute it), not of one file.
			c.Properties = cdxProps("sha256_of", map[bool]string{true: "manifest"}[len(c.Hashes) > 0],
				"world_readable", optBool(at.WorldReadable), "has_datasheet", optBool(at.HasDatasheet), "file_count", optInt(at.FileCount))
			fmts := make([]string, 0, len(at.Formats))
			for f, n := range at.Formats {
				fmts = append(fmts, fmt.Sprintf("%s=%d", f, n))
			}
			slices.Sort(fmts)
			c.Properties = append(c.Properties, cdxProps("formats", strings.Join(fmts, ","))...)
			for _, t := range types {
				c.Properties = append(c.Properties, cdxProps("pii:"+t, counts[t])...)
			}
			c.Properties = append(c.Properties, common...)
			bom.Components = append(bom.Components, c)
		}
	}
	return bom, nil
}

func (b *cdxBOM) addDependency(ref, on string) {
	for i := range b.Dependencies {
		if b.Dependencies[i].Ref == ref {
			if !slices.Contains(b.Dependencies[i].DependsOn, on) {
				b.Dependencies[i].DependsOn = append(b.Dependencies[i].DependsOn, on)
			}
			return
		}
	}
	b.Dependencies = append(b.Dependencies, cdxDep{Ref: ref, DependsOn: []string{on}})
}
