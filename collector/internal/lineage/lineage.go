// Package lineage joins the two halves of dataset ↔ model lineage that
// the plugins emit separately: a `model` record names the datasets it was
// trained on (attribute `datasets`, as written in its card or GGUF
// metadata), a `dataset` record carries the names it is known by (`names`)
// and its folder (`path`). Neither plugin reads the other's evidence; the
// link is made here, once, for the JSON report, the web UI and the
// CycloneDX export alike. The rule is the contract of docs/evidence.md
// ("Lineage contract"). The package is pure: records in, graph out.
package lineage

import (
	"bytes"
	"cmp"
	"encoding/json"
	"path"
	"slices"
	"strings"
	"unicode"

	"github.com/annexa/annexa/collector/internal/attrjson"
)

// Asset is a live `model` or `dataset` record as the join needs it.
// Records of other kinds are ignored.
type Asset struct {
	AgentID    string
	Host       string
	Kind       string
	Subject    string
	Attributes json.RawMessage
}

// Key identifies one asset in the fleet.
type Key struct {
	AgentID string `json:"agent_id"`
	Host    string `json:"host"`
	Subject string `json:"subject"`
}

// Match ways: a model's entry equal to one of the dataset's names, or an
// absolute path equal to or inside the dataset's folder (same host only).
const (
	ByName = "name"
	ByPath = "path"
)

// Dataset is what the join knows of one dataset: who it is and how
// sensitive its contents are, for the models that name it.
type Dataset struct {
	Key
	Name  string   `json:"name"`
	Names []string `json:"names"`
	Path  string   `json:"path"`
	// PersonalData is the dataset's `personal_data`, or true when its
	// `pii` counts any entity; nil when the record does not say (an older
	// plugin) or says false with `pii_sampled_fraction` 0 (nothing could
	// be sampled): not known, never assumed false.
	PersonalData   *bool    `json:"personal_data"`
	PII            []string `json:"pii"`
	Classification string   `json:"classification"`
	// Models are the models that name this dataset, sorted by host and
	// subject.
	Models []Key `json:"models"`
}

// DatasetRef is a dataset one of a model's entries matched, and how.
type DatasetRef struct {
	Key
	Match          string   `json:"match"`
	PersonalData   *bool    `json:"personal_data"`
	PII            []string `json:"pii"`
	Classification string   `json:"classification"`
}

// Entry is one name of a model's `datasets` attribute, with the
// datasets it matched (none: the name is unmatched).
type Entry struct {
	Name       string       `json:"name"`
	Normalised string       `json:"normalised"`
	Matched    []DatasetRef `json:"matched"`
	// MatchedTotal is how many datasets matched; Matched lists the first
	// MaxMatched of them by host and subject.
	MatchedTotal int `json:"matched_total"`
}

// MaxMatched bounds the datasets listed for one name (and the personal
// data datasets of one model), so that a model naming a dataset cached on
// every host of a large fleet stays one screen; the verdicts still rest on
// every match.
const MaxMatched = 50

// Model is one model that names at least one dataset.
type Model struct {
	Key
	Datasets []Entry `json:"datasets"`
	// Unmatched are the entries no dataset of the fleet matched, as
	// written.
	Unmatched []string `json:"unmatched"`
	// TrainedOnPersonalData is true when a matched dataset holds personal
	// data; false only when every entry matched and every matched dataset
	// is known to hold none; nil (unknown) otherwise.
	TrainedOnPersonalData *bool `json:"trained_on_personal_data"`
	// PersonalData lists the matched datasets that hold personal data.
	PersonalData []DatasetRef `json:"personal_data_datasets"`
	// Classification is the most sensitive classification among the
	// matched datasets ("" when none says).
	Classification string `json:"training_data_classification"`
}

// Graph is the lineage of a fleet.
type Graph struct {
	// Models name at least one dataset; sorted by host and subject.
	Models []Model `json:"models"`
	// Datasets are the datasets at least one model names; sorted by host
	// and subject.
	Datasets []Dataset `json:"datasets"`
	// ModelsWithoutDatasets counts the models that name no dataset: their
	// lineage is undocumented.
	ModelsWithoutDatasets int `json:"models_without_datasets"`

	models   map[[2]string]int // (agent, subject) → index in Models
	datasets map[[2]string]int // (agent, subject) → index in Datasets
}

// Model returns the lineage of one model, or nil when it names no dataset.
func (g *Graph) Model(agentID, subject string) *Model {
	if i, ok := g.models[[2]string{agentID, subject}]; ok {
		return &g.Models[i]
	}
	return nil
}

// Dataset returns one dataset with the models that name it, or nil when
// no model does.
func (g *Graph) Dataset(agentID, subject string) *Dataset {
	if i, ok := g.datasets[[2]string{agentID, subject}]; ok {
		return &g.Datasets[i]
	}
	return nil
}

// TrainedOnPersonalData lists the models known to be trained on personal
// data.
func (g *Graph) TrainedOnPersonalData() []*Model {
	var out []*Model
	for i := range g.Models {
		if m := &g.Models[i]; m.TrainedOnPersonalData != nil && *m.TrainedOnPersonalData {
			out = append(out, m)
		}
	}
	return out
}

// hfPrefixes are the spellings of a Hugging Face dataset reference that
// Normalise strips, longest first.
var hfPrefixes = []string{"https://huggingface.co/datasets/", "hf://datasets/", "datasets/"}

// Normalise brings a dataset name to the form both sides are compared in:
// trimmed, lower case, without a leading hf://datasets/,
// https://huggingface.co/datasets/ or datasets/, a trailing / or an
// @revision. An absolute path is only trimmed and cleaned: paths are case
// sensitive, and an @ is a legal character in a folder name.
func Normalise(s string) string {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "/") {
		for {
			c := strings.TrimSpace(path.Clean(s))
			if c == s {
				return s
			}
			s = c
		}
	}
	s = strings.ToLower(s)
	// Until nothing changes, so that normalising twice is normalising once
	// (`datasets/hf://datasets/x/ @main` included).
	for {
		prev := s
		for _, p := range hfPrefixes {
			if strings.HasPrefix(s, p) {
				s = s[len(p):]
				break
			}
		}
		// A revision may hold slashes (refs/pr/1): everything from the @ goes.
		if i := strings.IndexByte(s, '@'); i >= 0 {
			s = s[:i]
		}
		s = strings.TrimFunc(s, func(r rune) bool { return r == '/' || unicode.IsSpace(r) })
		if s == prev {
			return s
		}
	}
}

// levels ranks classifications, least sensitive first.
var levels = []string{"public", "internal", "confidential", "restricted"}

// MoreSensitive reports whether classification a ranks above b; an
// unknown level ranks below public.
func MoreSensitive(a, b string) bool {
	return slices.Index(levels, strings.ToLower(a)) > slices.Index(levels, strings.ToLower(b))
}

type datasetAttrs struct {
	Name            string                     `json:"name"`
	Names           []string                   `json:"names"`
	Path            string                     `json:"path"`
	PersonalData    *bool                      `json:"personal_data"`
	PII             map[string]json.RawMessage `json:"pii"`
	SampledFraction *float64                   `json:"pii_sampled_fraction"`
	Classification  string                     `json:"classification"`
}

type modelAttrs struct {
	Datasets []string `json:"datasets"`
}

// datasetFields and modelFields are the JSON names of datasetAttrs' and
// modelAttrs' fields.
var (
	datasetFields = []string{"name", "names", "path", "personal_data", "pii", "pii_sampled_fraction", "classification"}
	modelFields   = []string{"datasets"}
)

// pick returns the attributes of raw that may fill one of fields, so that
// encoding/json decodes those instead of scanning every attribute of a
// dataset (half the cost of a report's join at 10,000 hosts); raw itself
// when it is not plain input (attrjson). A key is kept when it equals a
// field in any case, as encoding/json matches them: the result decodes to
// the same struct, with the same error or none (FuzzPick).
func pick(raw []byte, fields []string) []byte {
	p, ok := attrjson.Pick(raw, func(key []byte) bool {
		for _, f := range fields {
			if bytes.EqualFold(key, []byte(f)) {
				return true
			}
		}
		return false
	})
	if !ok {
		return raw
	}
	return p
}

// piiKinds lists the entity kinds counted above zero, sorted. A count may
// be a number or an object with a count (as the CycloneDX export reads it).
func piiKinds(m map[string]json.RawMessage) []string {
	out := []string{}
	for k, v := range m {
		var n float64
		if json.Unmarshal(v, &n) != nil {
			var obj struct {
				Count float64 `json:"count"`
			}
			if json.Unmarshal(v, &obj) != nil {
				continue
			}
			n = obj.Count
		}
		if n > 0 {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

func compareKeys(a, b Key) int {
	return cmp.Or(cmp.Compare(a.Host, b.Host), cmp.Compare(a.Subject, b.Subject), cmp.Compare(a.AgentID, b.AgentID))
}

// Join links every model to the datasets it names. A malformed record
// takes no part (its own page still shows it as it is).
func Join(assets []Asset) *Graph {
	g := &Graph{Models: []Model{}, Datasets: []Dataset{}, models: map[[2]string]int{}, datasets: map[[2]string]int{}}
	var all []Dataset
	byName := map[string][]int{}      // normalised name → index in all
	byNameOn := map[[2]string][]int{} // (normalised name, agent) → index in all
	byAgent := map[string][]int{}     // agent → index in all, for the path rule
	for i := range assets {
		a := &assets[i]
		if a.Kind != "dataset" {
			continue
		}
		var at datasetAttrs
		if json.Unmarshal(pick(a.Attributes, datasetFields), &at) != nil {
			continue
		}
		d := Dataset{Key: Key{a.AgentID, a.Host, a.Subject}, Name: at.Name, Names: at.Names, Path: at.Path,
			PersonalData: at.PersonalData, PII: piiKinds(at.PII), Classification: at.Classification, Models: []Key{}}
		if d.Names == nil && d.Name != "" {
			d.Names = []string{d.Name}
		}
		switch {
		case len(d.PII) > 0:
			d.PersonalData = ptr(true)
		case d.PersonalData != nil && !*d.PersonalData && at.SampledFraction != nil && *at.SampledFraction <= 0:
			// Nothing was sampled (images, encrypted files): "none found"
			// would be a pass on no evidence.
			d.PersonalData = nil
		}
		idx := len(all)
		all = append(all, d)
		seen := map[string]bool{}
		for _, n := range d.Names {
			if k := Normalise(n); k != "" && !strings.HasPrefix(k, "/") && !seen[k] {
				seen[k] = true
				byName[k] = append(byName[k], idx)
				byNameOn[[2]string{k, a.AgentID}] = append(byNameOn[[2]string{k, a.AgentID}], idx)
			}
		}
		if strings.HasPrefix(d.Path, "/") {
			byAgent[a.AgentID] = append(byAgent[a.AgentID], idx)
		}
	}

	for _, idx := range byName {
		slices.SortFunc(idx, func(x, y int) int { return compareKeys(all[x].Key, all[y].Key) })
	}
	for _, idx := range byNameOn {
		slices.SortFunc(idx, func(x, y int) int { return compareKeys(all[x].Key, all[y].Key) })
	}
	// rollups caches what a fleet-wide name match says about personal
	// data and classification, so that many models naming one popular
	// dataset cost one pass over its copies, not one each.
	rollups := map[string]*rollup{}

	used := map[int][]Key{}
	for i := range assets {
		a := &assets[i]
		if a.Kind != "model" {
			continue
		}
		var at modelAttrs
		if json.Unmarshal(pick(a.Attributes, modelFields), &at) != nil || len(at.Datasets) == 0 {
			g.ModelsWithoutDatasets++
			continue
		}
		m := Model{Key: Key{a.AgentID, a.Host, a.Subject}, Datasets: []Entry{}, Unmatched: []string{}, PersonalData: []DatasetRef{}}
		allKnownClean := true
		linked := map[int]bool{}
		pdListed := map[int]bool{}
		for _, name := range at.Datasets {
			e := Entry{Name: name, Normalised: Normalise(name), Matched: []DatasetRef{}}
			var hits []int
			how := ByName
			if strings.HasPrefix(e.Normalised, "/") {
				how = ByPath
				// The deepest folder holding the path is the dataset: a
				// dataset nested in another is its own.
				deepest := -1
				for _, j := range byAgent[a.AgentID] {
					dir := path.Clean(all[j].Path)
					if !within(e.Normalised, dir) || len(dir) < deepest {
						continue
					}
					if len(dir) > deepest {
						deepest, hits = len(dir), hits[:0]
					}
					hits = append(hits, j)
				}
			} else if e.Normalised != "" {
				// A copy on the model's own host is the one it was
				// trained on; copies elsewhere count only without one.
				if hits = byNameOn[[2]string{e.Normalised, a.AgentID}]; len(hits) == 0 {
					hits = byName[e.Normalised]
				}
			}
			e.MatchedTotal = len(hits)
			var r *rollup
			if how == ByName && len(hits) > MaxMatched && len(hits) == len(byName[e.Normalised]) {
				if r = rollups[e.Normalised]; r == nil {
					r = rollUp(all, hits)
					rollups[e.Normalised] = r
				}
			} else {
				r = rollUp(all, hits)
			}
			for _, j := range hits[:min(len(hits), MaxMatched)] {
				d := &all[j]
				e.Matched = append(e.Matched, DatasetRef{Key: d.Key, Match: how, PersonalData: d.PersonalData, PII: d.PII, Classification: d.Classification})
				if !linked[j] {
					linked[j] = true
					used[j] = append(used[j], m.Key)
				}
			}
			for _, j := range r.personal {
				if !pdListed[j] && len(m.PersonalData) < MaxMatched {
					pdListed[j] = true
					if !linked[j] {
						linked[j] = true
						used[j] = append(used[j], m.Key)
					}
					d := &all[j]
					m.PersonalData = append(m.PersonalData, DatasetRef{Key: d.Key, Match: how, PersonalData: d.PersonalData, PII: d.PII, Classification: d.Classification})
				}
			}
			if r.anyPersonal {
				m.TrainedOnPersonalData = ptr(true)
			}
			if MoreSensitive(r.classification, m.Classification) {
				m.Classification = r.classification
			}
			if r.unknown || len(hits) == 0 {
				allKnownClean = false
			}
			if len(hits) == 0 {
				m.Unmatched = append(m.Unmatched, name)
			}
			m.Datasets = append(m.Datasets, e)
		}
		if m.TrainedOnPersonalData == nil && allKnownClean {
			m.TrainedOnPersonalData = ptr(false)
		}
		slices.SortFunc(m.PersonalData, func(a, b DatasetRef) int { return compareKeys(a.Key, b.Key) })
		g.Models = append(g.Models, m)
	}
	slices.SortFunc(g.Models, func(a, b Model) int { return compareKeys(a.Key, b.Key) })
	for i := range g.Models {
		g.models[[2]string{g.Models[i].AgentID, g.Models[i].Subject}] = i
	}
	for j, ms := range used {
		d := all[j]
		d.Models = ms
		slices.SortFunc(d.Models, compareKeys)
		g.Datasets = append(g.Datasets, d)
	}
	slices.SortFunc(g.Datasets, func(a, b Dataset) int { return compareKeys(a.Key, b.Key) })
	for i := range g.Datasets {
		g.datasets[[2]string{g.Datasets[i].AgentID, g.Datasets[i].Subject}] = i
	}
	return g
}

// rollup is what a set of matched datasets says about personal data.
type rollup struct {
	anyPersonal bool
	// personal are the first MaxMatched datasets with personal data.
	personal       []int
	classification string
	// unknown: some dataset does not say whether it holds personal data.
	unknown bool
}

func rollUp(all []Dataset, hits []int) *rollup {
	r := &rollup{}
	for _, j := range hits {
		d := &all[j]
		switch {
		case d.PersonalData == nil:
			r.unknown = true
		case *d.PersonalData:
			r.anyPersonal = true
			if len(r.personal) < MaxMatched {
				r.personal = append(r.personal, j)
			}
		}
		if MoreSensitive(d.Classification, r.classification) {
			r.classification = d.Classification
		}
	}
	return r
}

// within reports whether p is dir or inside it.
func within(p, dir string) bool {
	if dir == "/" {
		return true
	}
	return p == dir || strings.HasPrefix(p, dir+"/")
}

func ptr(b bool) *bool { return &b }
